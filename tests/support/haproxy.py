"""A real HAProxy (Debian's ``haproxy`` package) in front of a test server:
``HAProxy`` runs it in the foreground on 127.0.0.1 with one frontend per
PROXY protocol flavour; ``ProxiedServer`` is a plain socket server that
records the header and the bytes after it for each connection."""
import queue
import shutil
import socket
import subprocess
import threading
import time

import pytest

from cyreactor._proxyproto import ProxyHeaderParser, ProxyProtocolError

PREAMBLE = """\
global
    maxconn 64

defaults
    mode tcp
    timeout connect 2s
    timeout client 10s
    timeout server 10s

"""

CONFIG = PREAMBLE + """\
frontend v2
    bind 127.0.0.1:{v2}
    default_backend v2

frontend v2crc
    bind 127.0.0.1:{v2crc}
    unique-id-format %{{+X}}o\\ %ci:%cp_%fi:%fp_%Ts_%rt:%pid
    default_backend v2crc

frontend v1
    bind 127.0.0.1:{v1}
    default_backend v1

backend v2
    server s 127.0.0.1:{server} send-proxy-v2 check inter 100ms

backend v2crc
    server s 127.0.0.1:{server} send-proxy-v2 proxy-v2-options crc32c,unique-id

backend v1
    server s 127.0.0.1:{server} send-proxy
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening(port):
    """Whether something listens on 127.0.0.1:port or [::1]:port (read from
    /proc, so no probe connection reaches the server behind)."""
    for table, local in (("tcp", f"0100007F:{port:04X}"), ("tcp6", f"{'0' * 24}01000000:{port:04X}")):
        with open(f"/proc/net/{table}") as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                if fields[1] == local and fields[3] == "0A":
                    return True
    return False


def start_listening(argv, ports, name):
    """Runs ``argv`` in the foreground until it listens on every one of
    ``ports``; RuntimeError with its output if it exits or 10 s pass."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 10
    while not all(listening(p) for p in ports):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{name} did not start: {stop_collecting(proc)}")
        time.sleep(0.02)
    return proc


def stop_collecting(proc):
    """Terminates ``proc`` (if running) and returns its output."""
    if proc.poll() is None:
        proc.terminate()
    return proc.communicate(timeout=10)[0].decode(errors="replace")


class HAProxy:
    """``with HAProxy(tmp_path, server_port) as h:`` -- ``h.ports`` maps the
    frontends ``v2``, ``v2crc`` (CRC32C and unique-id TLVs) and ``v1`` to
    their ports. ``config`` is another template with ``{server}`` and one
    placeholder per name in ``frontends``. Skips the test when haproxy is
    not installed."""

    def __init__(self, directory, server_port, config=CONFIG, frontends=("v2", "v2crc", "v1")):
        self.binary = shutil.which("haproxy") or shutil.which("/usr/sbin/haproxy")
        if self.binary is None:
            pytest.skip("haproxy is not installed (apt-get install haproxy)")
        self.ports = {name: free_port() for name in frontends}
        self.config = directory / "haproxy.cfg"
        self.config.write_text(config.format(server=server_port, **self.ports))
        self.proc = None

    def __enter__(self):
        self.proc = start_listening([self.binary, "-db", "-f", str(self.config)], self.ports.values(), "haproxy")
        return self

    def __exit__(self, *exc):
        self.output = stop_collecting(self.proc)


class ProxiedServer:
    """Accepts on 127.0.0.1; for each connection feeds what arrives to the
    PROXY header parser, then reads the rest to EOF and closes. Each
    connection's ``(header, rest)`` -- or ``(error, b"")`` -- is queued."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.results = queue.Queue()
        self.stopping = False
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stopping = True
        self.thread.join(10)
        self.sock.close()

    def _serve(self):
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            with conn:
                conn.settimeout(5)
                self.results.put(self._read(conn))

    @staticmethod
    def _read(conn):
        parser, rest = ProxyHeaderParser(), b""
        try:
            while True:
                data = conn.recv(4096)
                if parser.header is None:
                    if not data:
                        return None, b""
                    _, n = parser.feed(data)
                    data = data[n:]
                elif not data:
                    return parser.header, rest
                rest += data
        except ProxyProtocolError as exc:
            return exc, b""
        except OSError:                  # a health check's reset
            return parser.header, rest

    def next_connection(self, predicate, timeout=10):
        """The next ``(header, rest)`` whose header satisfies ``predicate``;
        connections before it are skipped (health checks come and go)."""
        deadline = time.monotonic() + timeout
        while True:
            header, rest = self.results.get(timeout=max(0.01, deadline - time.monotonic()))
            if isinstance(header, Exception):
                raise header
            if header is not None and predicate(header):
                return header, rest
