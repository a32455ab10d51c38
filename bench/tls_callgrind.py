"""TLS servers' user-space instructions per request, under callgrind: a
measure that other work on a shared machine does not disturb.

    python bench/tls_callgrind.py                      # every mode, every server (about 15 min)
    python bench/tls_callgrind.py https-keepalive --servers cyreactor-demo-tls,nginx-tls

Each server runs under ``valgrind --tool=callgrind`` (its own process only,
pinned nowhere); after a warm-up the load generator's window is bracketed by
``callgrind_control --zero`` and ``--dump``, so start-up, imports and the
warm-up's handshakes are outside it. The figure is the window's instructions
(``Ir``) divided by the requests (wrk) or echoed messages (c_echoclient) the
window completed. Kernel time (syscalls, the network stack) is not counted:
it is what ``load.py`` measures; this is the user-space share, where the
servers differ. ``rep movsb`` copies count one instruction per byte, which
overweights memcpy against its real cost.

The servers and their command lines are bench/peers/peers.toml's; the
certificates are made as load.py makes them (ECDSA P-256, RSA 2048).
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

BENCH = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, BENCH)

from harness import registry  # noqa: E402
from harness.callgrind import CallgrindServer  # noqa: E402
from harness.tls import make_certs  # noqa: E402

MODES = {
    # mode: (what the server serves, the load, the certificate)
    "https-keepalive": ("https", "keepalive", "ecdsa"),
    "https-close-ecdsa": ("https", "close", "ecdsa"),
    "https-close-rsa": ("https", "close", "rsa"),
    "tls-echo-1K": ("tls-echo", 1024, "ecdsa"),
    "tls-echo-64K": ("tls-echo", 65536, "ecdsa"),
}
SERVERS = ["nginx-tls", "uvicorn-uvloop-tls", "cyreactor-demo-tls", "c-tls-echo", "cyreactor-tls-echo"]
CONNECTIONS = 10


def load(kind, port, seconds):
    """Runs the load for ``seconds``; returns the operations it completed."""
    if kind in ("keepalive", "close"):
        extra = ["-H", "Connection: close"] if kind == "close" else []
        out = subprocess.run(["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{seconds}s", *extra,
                              f"https://127.0.0.1:{port}/"], capture_output=True, text=True, check=True).stdout
        return int(re.search(r"(\d+) requests in", out).group(1))
    out = subprocess.run([os.path.join(BENCH, "peers", "bin", "c_echoclient"), "--host", "127.0.0.1",
                          "--port", str(port), "--tls", "--size", str(kind), "--conns", str(CONNECTIONS),
                          "--duration", str(seconds)], capture_output=True, text=True, check=True).stdout
    return float(re.search(r'"messages":\s*([\d.]+)', out).group(1))


def measure(peer, mode, certs, seconds):
    serves, kind, cert = MODES[mode]
    with CallgrindServer(peer, certs[cert]) as server:
        load(kind, server.port, 1)                              # warm-up
        server.zero()
        ops = load(kind, server.port, seconds)
        return server.dump() / ops, ops


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modes", nargs="*", default=list(MODES), help=f"from {', '.join(MODES)}")
    parser.add_argument("--servers", default=",".join(SERVERS), help="peers from bench/peers/peers.toml")
    parser.add_argument("--seconds", type=int, default=5, help="the window, under callgrind (default 5)")
    args = parser.parse_args(argv)
    peers, _ = registry.load()
    with tempfile.TemporaryDirectory() as certdir:
        certs = make_certs(certdir)
        print(f"{'mode':18} {'server':20} {'ops':>8} {'instructions/op':>16}")
        for mode in args.modes:
            for name in args.servers.split(","):
                peer = peers[name]
                if peer.serves != MODES[mode][0]:
                    continue
                per_op, ops = measure(peer, mode, certs, args.seconds)
                print(f"{mode:18} {name:20} {ops:8.0f} {per_op:16,.0f}", flush=True)


if __name__ == "__main__":
    main()
