"""What each mode measures. A mode expands into cases (the echo modes into
the size x connections x pattern sweep); a case is one row of one table
and one measurement per peer per round. Cases with the same ``batch`` run
one after another on one server start."""
from dataclasses import dataclass

ECHO_SIZES = (64, 256, 1024, 4096, 16384, 65536, 262144, 1048576)
ECHO_CONNS = (1, 10, 100)
ECHO_PATTERNS = ("pingpong", "stream")
QUICK_SIZES = (1024, 65536, 1048576)
QUICK_CONNS = (10,)
WRK_CONNECTIONS = 100
IDLE_CONNECTIONS = 10_000

# mode: (the peers' `serves`, the load generator, its parameters)
MODES = {
    "keepalive": ("http", "wrk", {"wrk": "keepalive"}),
    "close": ("http", "wrk", {"wrk": "close"}),
    "pipeline16": ("http", "wrk", {"wrk": "pipeline16"}),
    "post1m": ("http", "wrk", {"wrk": "post1m"}),
    "https-keepalive": ("https", "wrk", {"wrk": "keepalive", "cert": "ecdsa"}),
    "https-close-ecdsa": ("https", "wrk", {"wrk": "close", "cert": "ecdsa"}),
    "https-close-rsa": ("https", "wrk", {"wrk": "close", "cert": "rsa"}),
    "echo": ("echo", "echo", {}),
    "tls-echo": ("tls-echo", "echo", {"cert": "ecdsa"}),
    "idle10k": ("http", "idle", {}),
    "tls-idle10k": ("https", "idle", {"cert": "ecdsa"}),
}
DESCRIPTIONS = {
    "keepalive": f"wrk -t1 -c{WRK_CONNECTIONS}, keep-alive GETs",
    "close": "the same with `Connection: close`: a new connection per request",
    "pipeline16": "16 GETs per write (wrk/pipeline16.lua)",
    "post1m": "POST with a 1 MiB body (wrk/post1m.lua)",
    "https-keepalive": "keepalive over TLS (ECDSA P-256 certificate)",
    "https-close-ecdsa": "close over TLS: a full handshake per request, ECDSA P-256",
    "https-close-rsa": "the same with an RSA 2048 certificate",
    "echo": "c_echoclient: message size x connections x pattern (pingpong, stream)",
    "tls-echo": "the echo sweep over TLS (ECDSA P-256)",
    "idle10k": f"{IDLE_CONNECTIONS:,} idle keep-alive connections: the server's RSS growth",
    "tls-idle10k": f"{IDLE_CONNECTIONS:,} idle TLS keep-alive connections: RSS growth",
}


@dataclass(frozen=True)
class Case:
    key: str            # unique: the JSON key and the table row
    mode: str
    serves: str
    load: str           # wrk | echo | idle
    batch: str          # cases sharing a server start
    cert: str = ""      # ecdsa | rsa | "" (no TLS)
    wrk: str = ""       # keepalive | close | pipeline16 | post1m
    size: int = 0       # echo
    conns: int = 0
    pattern: str = ""

    @property
    def unit(self):
        """What one operation is: the denominator of CPU per operation."""
        return {"wrk": "request", "echo": "message", "idle": "connection"}[self.load]


def size_label(size):
    for unit, scale in (("M", 1 << 20), ("K", 1 << 10)):
        if size >= scale and size % scale == 0:
            return f"{size // scale}{unit}"
    return str(size)


def expand(mode, sizes, conns, patterns):
    serves, load, params = MODES[mode]
    if load != "echo":
        return [Case(key=mode, mode=mode, serves=serves, load=load, batch=mode, **params)]
    return [Case(key=f"{mode}/{p}/c{c}/{size_label(s)}", mode=mode, serves=serves, load=load,
                 batch=f"{mode}/{p}/c{c}", size=s, conns=c, pattern=p, **params)
            for p in patterns for c in conns for s in sizes]
