"""listen(..., proxy_protocol=True): every connection starts with a PROXY
protocol header (HAProxy's proxy-protocol.txt), whose client address is the
connection's peername from then on; anything else closes it quietly. With
raw sockets sending headers of every kind, in pieces, before TLS; and a real
HAProxy (send-proxy, send-proxy-v2, LOCAL health checks) in front of the
HTTP server."""
import logging
import re
import socket
import subprocess
import sys
import time

import pytest
from support.haproxy import PREAMBLE, HAProxy
from support.net import has_ipv6, recv_until_eof
from support.proxyproto import inet_block, unix_block, v1, v2
from support.reactor import wait_for
from support.tls import Certs, engine, handshake_over, line_over

import cyreactor
from cyreactor import http


class Peer(cyreactor.Handler):
    """Records the peer it was told of and what it received; answers each
    read with its peername."""

    def __init__(self, made):
        self.made = made
        self.received = b""
        self.events = []

    def connection_made(self, conn):
        self.conn = conn
        self.peername = conn.peername
        self.extra = conn.get_extra_info("peername")
        self.events.append("made")
        self.made.append(self)

    def data_received(self, data):
        self.received += data
        self.conn.write(repr(self.conn.peername).encode() + b"\n")

    def connection_lost(self, exc):
        self.events.append(("lost", exc))


def peers(cls=Peer):
    made, built = [], []

    def factory():
        built.append(cls(made))
        return built[-1]

    factory.built = built
    return factory, made


def proxied(running, factory, **kwargs):
    listener = running.call(running.reactor.listen, "127.0.0.1", 0, factory, proxy_protocol=True, **kwargs)
    return listener.sockname[1]


V4 = v2(fam=0x11, block=inet_block("203.0.113.7", "198.51.100.1", 51000, 443))
V6 = v2(fam=0x21, block=inet_block("2001:db8::7", "2001:db8::1", 52000, 443))
HEADERS = {
    "v1 TCP4": (v1("TCP4", "203.0.113.7", "198.51.100.1", 51000, 443), ("203.0.113.7", 51000)),
    "v1 TCP6": (v1("TCP6", "2001:db8::7", "2001:db8::1", 52000, 443), ("2001:db8::7", 52000, 0, 0)),
    "v2 INET": (V4, ("203.0.113.7", 51000)),
    "v2 INET6": (V6, ("2001:db8::7", 52000, 0, 0)),
    "v2 INET with TLVs": (v2(fam=0x11, block=inet_block("203.0.113.7", "198.51.100.1", 51000, 443),
                             tlvs=b"\x04\x00\x03abc", crc=True), ("203.0.113.7", 51000)),
    "v2 UNIX": (v2(fam=0x31, block=unix_block(b"/run/client.sock", b"/run/server.sock")), "/run/client.sock"),
    "v2 LOCAL": (v2(command=0), None),
    "v1 UNKNOWN": (v1("UNKNOWN"), None),
}


@pytest.mark.parametrize("name", HEADERS)
def test_the_header_names_the_peer(running, name):
    header, expected = HEADERS[name]
    factory, made = peers()
    port = proxied(running, factory)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(header + b"hello")           # the application's bytes in the same read
        reply = sock.recv(1000)
        real = sock.getsockname()
    wait_for(lambda: made and ("lost", None) in made[0].events)
    expected = expected if expected is not None else real
    assert made[0].peername == made[0].extra == expected
    assert made[0].received == b"hello"
    assert reply == repr(expected).encode() + b"\n"


def test_a_header_in_pieces(running):
    factory, made = peers()
    port = proxied(running, factory)
    header = v2(fam=0x11, block=inet_block("203.0.113.7", "198.51.100.1", 51000, 443), tlvs=b"\x04\x00\x40" + bytes(64))
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(len(header) - 1):
            sock.sendall(header[i:i + 1])
            time.sleep(0.002)
        assert not made
        sock.sendall(header[-1:])
        wait_for(lambda: made)
        sock.sendall(b"after")
        assert sock.recv(100) == b"('203.0.113.7', 51000)\n"
    assert made[0].received == b"after"


# What a connection sends instead of a header, and whether the parser waits
# for more (until EOF or the handshake timeout) or refuses it at once.
NOT_A_HEADER = {
    "plain HTTP": (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", False),
    "bare LF": (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", False),
    "bad v2 version": (V4[:12] + b"\x11" + V4[13:], False),
    "incomplete v1": (b"PROXY TCP4 1.2.3.4", True),
    "incomplete v2": (V4[:20], True),
    "nothing": (b"", True),
}


@pytest.mark.parametrize("then", ["eof", "stall"])
@pytest.mark.parametrize("name", NOT_A_HEADER)
def test_no_valid_header_closes_quietly(running, name, then, caplog):
    data, waits = NOT_A_HEADER[name]
    factory, made = peers()
    port = proxied(running, factory, handshake_timeout=0.3)
    with caplog.at_level(logging.DEBUG, "cyreactor"), \
            socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        if then == "eof":
            sock.shutdown(socket.SHUT_WR)
        started = time.monotonic()
        assert recv_until_eof(sock) == b""
        took = time.monotonic() - started
    if then == "stall" and waits:
        assert 0.25 < took < 5                    # the handshake timeout
    wait_for(lambda: running.reactor.stats()["handshake_failures"] == 1)
    assert made == [] and factory.built[0].events == []
    messages = [r.getMessage() for r in caplog.records]
    assert any("PROXY protocol header" in m for m in messages), messages
    assert all(r.levelno == logging.DEBUG for r in caplog.records)


def test_proxy_header_then_tls(running):
    certs = Certs()
    factory, made = peers()
    port = proxied(running, factory, ssl=certs.server_context())
    client = engine(certs.client_context(), False, "localhost")
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        handshake_over(sock, client, before=V4)      # the header and the ClientHello in one write
        got = line_over(sock, client, b"secret")
    assert got == b"('203.0.113.7', 51000)\n"
    assert made[0].received == b"secret"


class Buffered(Peer):
    def __init__(self, made):
        super().__init__(made)
        self.buf = bytearray(3)

    def get_buffer(self, sizehint):
        return self.buf

    def buffer_updated(self, nbytes):
        self.received += bytes(self.buf[:nbytes])


class PausedAtFirst(Peer):
    def connection_made(self, conn):
        super().connection_made(conn)
        conn.pause_reading()


@pytest.mark.parametrize("cls", [Buffered, PausedAtFirst])
def test_the_bytes_after_the_header_reach_any_handler(running, cls):
    factory, made = peers(cls)
    port = proxied(running, factory)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(V4 + b"0123456789")
        wait_for(lambda: made)
        if cls is PausedAtFirst:
            time.sleep(0.1)
            assert made[0].received == b""
            running.call(made[0].conn.resume_reading)
        wait_for(lambda: made[0].received == b"0123456789")


def test_unix_and_inherited_listeners(running, tmp_path):
    factory, made = peers()
    path = str(tmp_path / "s")
    running.call(running.reactor.listen_unix, path, factory, proxy_protocol=True)
    inherited = socket.create_server(("127.0.0.1", 0))
    port = inherited.getsockname()[1]
    running.call(running.reactor.listen_socket, inherited, factory, proxy_protocol=True)
    with socket.socket(socket.AF_UNIX) as sock:
        sock.connect(path)
        sock.sendall(V6 + b"x")
        assert sock.recv(100) == b"('2001:db8::7', 52000, 0, 0)\n"
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(V4 + b"x")
        assert sock.recv(100) == b"('203.0.113.7', 51000)\n"
        sock.sendall(b"no header for a second one")
    with socket.socket(socket.AF_UNIX) as sock:
        sock.connect(path)
        sock.sendall(b"no header")
        assert recv_until_eof(sock) == b""
    assert len(made) == 2


def app(request):
    # The header's client is the connection's peer, and so the request's
    # client (no forwarding header from a trusted proxy overrides it).
    assert request.client == request.peername[:2]
    return http.Response(200, [("content-type", "text/plain")], f"{request.peername!r} {request.path}\n")


def test_http_request_and_access_log_report_the_client(running, caplog):
    server = http.HttpServer(app, proxy_protocol=True, access_log=True)
    port = running.call(server.listen, running.reactor, "127.0.0.1", 0).sockname[1]
    with caplog.at_level(logging.INFO, "cyreactor.http.access"), \
            socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(V4 + b"GET /who HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        reply = recv_until_eof(sock)
    assert reply.endswith(b"('203.0.113.7', 51000) /who\n")
    wait_for(lambda: caplog.records)
    line = caplog.records[0].getMessage()
    assert line.startswith("203.0.113.7 ") and '"GET /who HTTP/1.1" 200' in line


def test_cli_flag(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "cyreactor", "--port", "0", "--proxy-protocol"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        port = int(re.search(r":(\d+)/", proc.stdout.readline()).group(1))
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert recv_until_eof(sock) == b""
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(V4 + b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert recv_until_eof(sock).endswith(http.DEMO_BODY)
    finally:
        proc.terminate()
        proc.communicate(timeout=10)


# ---- a real HAProxy in front -----------------------------------------------------------

HAPROXY = PREAMBLE + """\
frontend v2
    bind 127.0.0.1:{v2}
    {v6bind}
    default_backend v2

frontend v1
    bind 127.0.0.1:{v1}
    default_backend v1

frontend none
    bind 127.0.0.1:{none}
    default_backend none

backend v2
    option httpchk GET /health
    server s 127.0.0.1:{server} send-proxy-v2 check check-send-proxy inter 100ms

backend v1
    server s 127.0.0.1:{server} send-proxy

backend none
    server s 127.0.0.1:{server}
"""


def test_behind_haproxy(running, tmp_path):
    checks = []

    def who(request):
        if request.path == "/health":
            checks.append(request.peername)
        return app(request)

    server = http.HttpServer(who, proxy_protocol=True)
    port = running.call(server.listen, running.reactor, "127.0.0.1", 0).sockname[1]
    ipv6 = has_ipv6()
    config = HAPROXY.replace("{v6bind}", "bind [::1]:{v6}" if ipv6 else "")
    with HAProxy(tmp_path, port, config, ("v2", "v1", "v6", "none")) as proxy:
        for name in ("v2", "v1", "v6") if ipv6 else ("v2", "v1"):
            family, host = (socket.AF_INET6, "::1") if name == "v6" else (socket.AF_INET, "127.0.0.1")
            with socket.socket(family) as sock:
                sock.settimeout(10)
                sock.connect((host, proxy.ports[name]))
                me = sock.getsockname()
                sock.sendall(b"GET /me HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                reply = recv_until_eof(sock)
            assert reply.endswith(f"{me!r} /me\n".encode()), (name, reply)
        # Health checks: PROXY v2 LOCAL, answered with the real peer (HAProxy).
        wait_for(lambda: len(checks) >= 2)
        assert running.reactor.stats()["handshake_failures"] == 0
        # A backend that sends no header is refused.
        with socket.create_connection(("127.0.0.1", proxy.ports["none"]), timeout=10) as sock:
            sock.sendall(b"GET /me HTTP/1.1\r\nHost: x\r\n\r\n")
            assert recv_until_eof(sock) == b""
        wait_for(lambda: running.reactor.stats()["handshake_failures"] == 1)
    assert all(peer[0] == "127.0.0.1" for peer in checks)
