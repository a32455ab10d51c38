"""A minimal HTTP/1.1 client over raw sockets, for tests that need to see
exactly what the server sends (framing, pipelining, closes)."""
import socket
import time

GET = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"


class Reader:
    """Reads HTTP responses off a socket."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def _fill(self):
        chunk = self.sock.recv(1 << 16)
        if not chunk:
            raise EOFError("connection closed")
        self.buf += chunk

    def line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def exactly(self, n):
        while len(self.buf) < n:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def response(self, head_request=False):
        """(status, headers as a list of lower-case (name, value), body)."""
        status = int(self.line().split(b" ", 2)[1])
        headers = []
        while True:
            line = self.line()
            if not line:
                break
            name, value = line.split(b":", 1)
            headers.append((name.strip().lower(), value.strip()))
        h = dict(headers)
        if head_request or status in (100, 204, 304):
            return status, headers, b""
        if b"content-length" in h:
            return status, headers, self.exactly(int(h[b"content-length"]))
        if h.get(b"transfer-encoding") == b"chunked":
            body = b""
            while True:
                size = int(self.line().split(b";")[0], 16)
                if size == 0:
                    while self.line():
                        pass
                    return status, headers, body
                body += self.exactly(size)
                assert self.exactly(2) == b"\r\n"
        body = self.buf
        self.buf = b""
        while True:
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                return status, headers, body
            body += chunk

    def at_eof(self, timeout=5.0):
        """True if the peer closes with nothing more to read."""
        self.sock.settimeout(timeout)
        if self.buf:
            return False
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True


def connect(port, timeout=10.0):
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    return sock, Reader(sock)


def exchange(port, data, head_request=False):
    sock, reader = connect(port)
    with sock:
        sock.sendall(data)
        return reader.response(head_request)


def flood_unread(sock, burst, seconds):
    """Pipelines ``burst`` over and over for ``seconds`` without reading a
    response; returns the bytes the server took."""
    sock.setblocking(False)
    sent = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            sent += sock.send(burst[sent % len(burst):])
        except BlockingIOError:
            time.sleep(0.005)
    return sent
