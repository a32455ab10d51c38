"""Behaviour checks run against every server before it is measured.

A server that answers wrongly would make its numbers meaningless (a server
that skips the body of a POST, say, looks fast), so load.py runs these once
per server and leaves the server out of the table if one fails. Also usable
alone: ``python bench/checks.py full 127.0.0.1 8080`` (or ``basic``, ``echo``;
``--tls`` for the TLS servers).
"""
import socket
import ssl
import sys

BODY = b"Hello! I am an epoll server."
TIMEOUT = 5.0


class CheckFailed(Exception):
    pass


def _connect(host, port, tls=False):
    sock = socket.create_connection((host, port), timeout=TIMEOUT)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if tls:
        # The run's certificates are self-signed: nothing to verify against.
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        sock = ctx.wrap_socket(sock)
    return sock


def _read_response(sock, buf):
    """One response off the stream; returns (status line, headers, rest)."""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise CheckFailed("connection closed before a full response head")
        buf += chunk
    head, _, buf = buf.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get(b"content-length", b"0"))
    while len(buf) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise CheckFailed("connection closed inside a response body")
        buf += chunk
    body, buf = buf[:length], buf[length:]
    # The reason phrase is optional (RFC 9112 section 4): hypercorn sends none.
    if lines[0].split(b" ")[:2] != [b"HTTP/1.1", b"200"] or body != BODY:
        raise CheckFailed(f"unexpected response {lines[0]!r} body {body!r}")
    return headers, buf


def _expect_closed(sock):
    try:
        rest = sock.recv(65536)
    except ConnectionResetError:
        return
    except socket.timeout:
        raise CheckFailed("server kept the connection open after Connection: close")
    if rest:
        raise CheckFailed(f"bytes after the last response: {rest[:60]!r}")


GET = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n"


def check_http_basic(host, port, tls=False):
    """For servers we do not own: the demo body, twice on one connection
    unless the server says it closes (a sync worker may), and a POST body
    read past."""
    with _connect(host, port, tls) as sock:
        sock.sendall(GET)
        headers, buf = _read_response(sock, b"")
        if headers.get(b"connection", b"").lower() == b"close":
            return
        body = b"x" * 300_000
        sock.sendall(b"POST / HTTP/1.1\r\nHost: bench\r\nContent-Length: %d\r\n\r\n" % len(body)
                     + body)
        _read_response(sock, buf)


def check_http(host, port, tls=False):
    get = GET
    with _connect(host, port, tls) as sock:
        # Keep-alive: several requests, one at a time, on one connection.
        buf = b""
        for _ in range(3):
            sock.sendall(get)
            _, buf = _read_response(sock, buf)
        # Pipelining: 16 requests in one write, 16 answers in order.
        sock.sendall(get * 16)
        for _ in range(16):
            _, buf = _read_response(sock, buf)
        # A body that arrives in pieces is read past, not taken for a request.
        body = b"x" * 300_000
        sock.sendall(b"POST / HTTP/1.1\r\nHost: bench\r\nContent-Length: %d\r\n\r\n" % len(body))
        sock.sendall(body[:1000])
        sock.sendall(body[1000:] + get)
        for _ in range(2):
            _, buf = _read_response(sock, buf)
        # Connection: close ends the connection after its response.
        sock.sendall(b"GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
        _, buf = _read_response(sock, buf)
        if buf:
            raise CheckFailed(f"bytes after the last response: {buf[:60]!r}")
        _expect_closed(sock)


def check_echo(host, port, tls=False):
    with _connect(host, port, tls) as sock:
        for size in (1, 1024, 65536, 200_000):
            data = bytes(i % 251 for i in range(size))
            sock.sendall(data)
            got = bytearray()
            while len(got) < size:
                chunk = sock.recv(1 << 20)
                if not chunk:
                    raise CheckFailed("echo server closed the connection")
                got += chunk
            if got != data:
                raise CheckFailed(f"echo of {size} bytes came back different")


def tls_resumes(host, port):
    """Does the server resume a TLS session (a ticket or its cache)? Then
    wrk's reconnects are abbreviated handshakes, not full ones."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    session = None
    for _ in range(2):
        with socket.create_connection((host, port), timeout=TIMEOUT) as raw, \
                ctx.wrap_socket(raw, session=session) as sock:
            # TLS 1.3 tickets arrive after the handshake: a request and its
            # answer make sure they have been read.
            sock.sendall(b"GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
            try:
                while sock.recv(65536):
                    pass
            except (OSError, ssl.SSLError):
                pass
            if sock.session_reused:
                return True
            session = sock.session
    return False


CHECKS = {"full": check_http, "basic": check_http_basic, "echo": check_echo}


def main(argv):
    tls = "--tls" in argv
    argv = [a for a in argv if a != "--tls"]
    if len(argv) != 4 or argv[1] not in CHECKS:
        print(f"usage: checks.py {'|'.join(CHECKS)} HOST PORT [--tls]", file=sys.stderr)
        return 2
    try:
        CHECKS[argv[1]](argv[2], int(argv[3]), tls)
    except (CheckFailed, OSError, ssl.SSLError) as exc:
        print(f"FAIL: {exc!r}")
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
