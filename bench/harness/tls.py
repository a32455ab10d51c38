"""The certificates of a run: made fresh (openssl req, self-signed for
127.0.0.1, PKCS#8 keys), one ECDSA P-256 and one RSA 2048, shared by every
TLS server of the run so all of them negotiate with the same key."""
import os
import subprocess

KEYS = {
    "ecdsa": ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
    "rsa": ["-newkey", "rsa:2048"],
}


def make_certs(directory):
    """{"ecdsa": {"cert": path, "key": path}, "rsa": {...}}."""
    certs = {}
    for kind, newkey in KEYS.items():
        cert, key = (os.path.join(directory, f"{kind}-{part}.pem") for part in ("cert", "key"))
        subprocess.run(["openssl", "req", "-x509", *newkey, "-nodes", "-days", "2",
                        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                        "-keyout", key, "-out", cert],
                       check=True, capture_output=True)
        certs[kind] = {"cert": cert, "key": key}
    return certs
