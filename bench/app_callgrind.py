"""HTTP servers' user-space instructions per request, under callgrind: the
function app (cy_app.py), the demo server and the C reference, counted so
that other work on a shared machine does not disturb the figure.

    python bench/app_callgrind.py                          # every shape, every server (about 5 min)
    python bench/app_callgrind.py post1m --servers cy-app,c-http --keep

Each server runs under ``valgrind --tool=callgrind``. After a warm-up, one
client connection sends a fixed number of requests in one shape, in two
windows (``callgrind_control --zero`` .. ``--dump``) of N and 3N requests;
the figure is the difference of the two windows' instructions divided by
the difference of their requests, so whatever a window costs besides its
requests (idle wake-ups, the dump itself) cancels. One connection, each
batch answered before the next is sent: every request (or pipelined batch)
is one wake-up, a deterministic load.

Kernel time (syscalls, the network stack) is not counted; it is about the
same for every server, so the ratio to C here is an upper bound on the
ratio of total CPU that load.py measures. ``rep movsb`` copies count one
instruction per byte, which overweights memcpy against its real cost.
"""
import argparse
import os
import re
import socket
import sys

BENCH = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, BENCH)

from harness import HOST, registry  # noqa: E402
from harness.callgrind import CallgrindServer  # noqa: E402

POST_BODY = b"x" * (1 << 20)


def get(port):
    return f"GET / HTTP/1.1\r\nHost: {HOST}:{port}\r\n\r\n".encode()


def post(port):
    return (f"POST / HTTP/1.1\r\nHost: {HOST}:{port}\r\nContent-Type: application/octet-stream\r\n"
            f"Content-Length: {len(POST_BODY)}\r\n\r\n").encode() + POST_BODY


# shape: (the bytes of one batch for a port, the requests in a batch, batches in the short window)
SHAPES = {
    "keepalive": (get, 1, 2000),
    "pipeline16": (lambda port: get(port) * 16, 16, 200),
    "post1m": (post, 1, 40),
}
SERVERS = ["c-http", "cy-app", "cyreactor-demo"]
CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:\s*(\d+)", re.I)


class Client:
    """One keep-alive connection that sends a batch and reads its responses."""

    def __init__(self, port):
        self.sock = socket.create_connection((HOST, port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.pending = b""

    def batch(self, data, responses):
        self.sock.sendall(data)
        for _ in range(responses):
            while (end := self.pending.find(b"\r\n\r\n")) < 0:
                self._recv()
            head = self.pending[:end]
            if not head.startswith(b"HTTP/1.1 200"):
                raise RuntimeError(f"unexpected response: {head[:200]!r}")
            size = end + 4 + int(CONTENT_LENGTH.search(head).group(1))
            while len(self.pending) < size:
                self._recv()
            self.pending = self.pending[size:]

    def _recv(self):
        chunk = self.sock.recv(1 << 16)
        if not chunk:
            raise RuntimeError("the server closed the connection")
        self.pending += chunk

    def close(self):
        self.sock.close()


def measure(peer, shape, keep=False):
    """(instructions per request, the long window's dump path or None)."""
    make, per_batch, batches = SHAPES[shape]
    with CallgrindServer(peer, keep=keep) as server:
        data = make(server.port)
        client = Client(server.port)
        try:
            for _ in range(max(batches // 10, 2)):              # warm-up
                client.batch(data, per_batch)
            counts = []
            for n in (batches, 3 * batches):
                server.zero()
                for _ in range(n):
                    client.batch(data, per_batch)
                counts.append(server.dump())
        finally:
            client.close()
        return (counts[1] - counts[0]) / (2 * batches * per_batch), server.last_dump if keep else None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("shapes", nargs="*", default=list(SHAPES), help=f"from {', '.join(SHAPES)}")
    parser.add_argument("--servers", default=",".join(SERVERS), help="peers from bench/peers/peers.toml")
    parser.add_argument("--keep", action="store_true", help="keep the long window's dump, for callgrind_annotate")
    args = parser.parse_args(argv)
    peers, _ = registry.load()
    names = args.servers.split(",")
    print("user-space instructions per request (callgrind; kernel time not counted)")
    print(f"{'shape':12} {'server':16} {'instructions/request':>21} {'x c-http':>9}")
    for shape in args.shapes:
        reference = None
        for name in names:
            per_request, dump = measure(peers[name], shape, args.keep)
            reference = per_request if name == "c-http" else reference
            ratio = f"{per_request / reference:8.2f}x" if reference else f"{'':9}"
            print(f"{shape:12} {name:16} {per_request:21,.0f} {ratio}" + (f"  {dump}" if dump else ""), flush=True)


if __name__ == "__main__":
    main()
