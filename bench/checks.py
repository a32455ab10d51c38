"""Behaviour checks run against every server before it is measured.

A server that answers wrongly would make its numbers meaningless (a server
that skips the body of a POST, say, looks fast), so load.py runs these once
per server and leaves the server out of the table if one fails. Also usable
alone: ``python bench/checks.py http 127.0.0.1 8080`` or ``... echo ...``.
"""
import socket
import sys

BODY = b"Hello! I am an epoll server."
RESPONSE_HEAD = b"HTTP/1.1 200 OK\r\n"
TIMEOUT = 5.0


class CheckFailed(Exception):
    pass


def _connect(host, port):
    sock = socket.create_connection((host, port), timeout=TIMEOUT)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
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
    if not lines[0].startswith(RESPONSE_HEAD[:-2]) or body != BODY:
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


def check_http(host, port):
    get = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n"
    with _connect(host, port) as sock:
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


def check_echo(host, port):
    with _connect(host, port) as sock:
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


def main(argv):
    if len(argv) != 4 or argv[1] not in ("http", "echo"):
        print("usage: checks.py http|echo HOST PORT", file=sys.stderr)
        return 2
    check = check_http if argv[1] == "http" else check_echo
    try:
        check(argv[2], int(argv[3]))
    except (CheckFailed, OSError) as exc:
        print(f"FAIL: {exc!r}")
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
