"""The demo HTTP server on a reactor thread, driven by raw sockets and
http.client: framing, pipelining, hostile input, limits and timeouts.
"""
import http.client
import re
import socket
import threading
import time

import pytest
from support.http import GET, connect, exchange, flood_unread
from support.reactor import wait_for

from cyreactor.http import DEMO_BODY, Response

# ---- the demo response ---------------------------------------------------------

def test_demo_response(start):
    port = start().port
    status, headers, body = exchange(port, GET)
    h = dict(headers)
    assert status == 200 and body == DEMO_BODY == b"Hello! I am an epoll server."
    assert h[b"content-type"] == b"text/html" and h[b"content-length"] == b"28"
    assert h[b"date"].endswith(b" GMT") and len(h[b"date"]) == 29


def test_any_method_any_path_but_connect(start):
    port = start().port
    for method in (b"GET", b"POST", b"PUT", b"DELETE", b"OPTIONS", b"PATCH", b"BREW"):
        status, _, body = exchange(port, method + b" /any/path?x=1 HTTP/1.1\r\nHost: t\r\n\r\n")
        assert (status, body) == (200, DEMO_BODY)
    sock, reader = connect(port)
    with sock:
        sock.sendall(b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n")
        assert reader.response()[0] in (405, 501)
        assert reader.at_eof()


def test_keep_alive_http_client_1000_requests(start):
    port = start().port
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    for i in range(1000):
        conn.request("GET", f"/r{i}")
        resp = conn.getresponse()
        assert resp.status == 200 and resp.read() == DEMO_BODY
    sock = conn.sock
    conn.request("POST", "/last", body=b"x" * 100000)
    assert conn.getresponse().read() == DEMO_BODY
    assert conn.sock is sock          # one connection all along
    conn.close()


def test_100_pipelined_requests_in_one_send(start):
    port = start().port
    sock, reader = connect(port)
    with sock:
        sock.sendall(GET * 99 + b"GET /last HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        got = [reader.response() for _ in range(100)]
        assert all(s == 200 and b == DEMO_BODY for s, _, b in got)
        assert dict(got[-1][1])[b"connection"] == b"close"
        assert reader.at_eof()


def test_request_byte_by_byte(start):
    port = start().port
    sock, reader = connect(port)
    data = b"POST /slow HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello" + GET
    with sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(len(data)):
            sock.send(data[i:i + 1])
            time.sleep(0.001)
        assert reader.response()[2] == DEMO_BODY
        assert reader.response()[2] == DEMO_BODY


def test_http10_closes_unless_keep_alive(start):
    port = start().port
    sock, reader = connect(port)
    with sock:
        sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
        status, headers, body = reader.response()
        assert (status, body) == (200, DEMO_BODY)
        assert dict(headers)[b"connection"] == b"close"
        assert reader.at_eof()
    sock, reader = connect(port)
    with sock:
        sock.sendall(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        status, headers, _ = reader.response()
        assert dict(headers)[b"connection"] == b"keep-alive"
        sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
        assert reader.response()[2] == DEMO_BODY
        assert reader.at_eof()


def test_head_has_no_body(start):
    port = start().port
    sock, reader = connect(port)
    with sock:
        sock.sendall(b"HEAD / HTTP/1.1\r\nHost: t\r\n\r\n" + GET)
        status, headers, body = reader.response(head_request=True)
        assert status == 200 and body == b"" and dict(headers)[b"content-length"] == b"28"
        assert reader.response()[2] == DEMO_BODY      # the HEAD sent no body bytes


def test_expect_100_continue(start):
    port = start().port
    sock, reader = connect(port)
    with sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
        assert reader.response()[0] == 100         # before any body byte was sent
        sock.sendall(b"body")
        assert reader.response()[:3:2] == (200, DEMO_BODY)


def test_chunked_upload(start):
    port = start().port
    body = b"".join(b"%x;ext=1\r\n%s\r\n" % (n, b"z" * n) for n in (1, 100, 65536, 7)) + b"0\r\nT: x\r\n\r\n"
    status, _, data = exchange(port, b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n" + body)
    assert (status, data) == (200, DEMO_BODY)


HOSTILE = [
    (b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", 400),
    (b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5x\r\n\r\nhello", 400),
    (b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501),
    (b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n", 501),
    (b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nxyz\r\nabc\r\n0\r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX0\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: t\rX: y\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: t\r\nX: a\x00b\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: t\r\nX: a\x07b\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: t\r\nX: a\r\n b\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost : t\r\n\r\n", 400),
    (b"GET / HTTP/2.0\r\nHost: t\r\n\r\n", 505),
    (b"GET / HTTP/3.1\r\nHost: t\r\n\r\n", 505),
    (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: t\r\n\r\n", 414),
    (b"GET / HTTP/1.1\r\nHost: t\r\n" + b"X-Many: v\r\n" * 101 + b"\r\n", 431),
    (b"GET / HTTP/1.1\r\nHost: t\r\nBig: " + b"v" * 70000 + b"\r\n\r\n", 431),
    (b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 2000000000\r\n\r\n", 413),
]


@pytest.mark.parametrize("raw, status", HOSTILE, ids=[f"{s}-{i}" for i, (_, s) in enumerate(HOSTILE)])
def test_hostile_request_refused_and_closed(start, raw, status):
    port = start().port
    sock, reader = connect(port)
    with sock:
        # A request smuggled behind the refused one must never be answered.
        sock.sendall(raw + b"GET /smuggled HTTP/1.1\r\nHost: t\r\n\r\n")
        got, headers, body = reader.response()
        assert got == status, body
        assert dict(headers)[b"connection"] == b"close"
        assert reader.at_eof()
    assert exchange(port, GET)[:3:2] == (200, DEMO_BODY)


def test_body_limit_is_configurable(start):
    port = start(max_body_size=10).port
    assert exchange(port, b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n0123456789")[0] == 200
    assert exchange(port, b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\n")[0] == 413
    chunked = b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n12345678\r\n8\r\n"
    assert exchange(port, chunked)[0] == 413


def test_slowloris_is_cut_off_while_others_are_served(start):
    port = start(header_timeout=0.5).port
    slow, slow_reader = connect(port)
    head = b"GET / HTTP/1.1\r\nHost: t\r\nX-Slow: " + b"a" * 1000
    t0 = time.monotonic()
    served = 0
    with slow:
        cut = False
        for i in range(len(head)):
            try:
                slow.send(head[i:i + 1])
            except (BrokenPipeError, ConnectionResetError):
                cut = True
                break
            assert exchange(port, GET)[2] == DEMO_BODY
            served += 1
            slow.settimeout(0.05)
            try:
                data = slow.recv(65536)
            except socket.timeout:
                continue
            slow_reader.buf = data
            cut = True
            break
        elapsed = time.monotonic() - t0
        assert cut and served > 0
        assert 0.4 < elapsed < 3.0
        if slow_reader.buf:
            assert slow_reader.response()[0] == 408


def test_idle_keep_alive_timeout(start):
    port = start(keepalive_timeout=0.3).port
    sock, reader = connect(port)
    with sock:
        sock.sendall(GET)
        assert reader.response()[2] == DEMO_BODY
        t0 = time.monotonic()
        assert reader.at_eof(timeout=5)
        assert 0.2 < time.monotonic() - t0 < 2.0


def test_body_timeout(start):
    port = start(body_timeout=0.3).port
    sock, reader = connect(port)
    with sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc")
        assert reader.response()[0] == 408
        assert reader.at_eof()


def test_eof_mid_request_and_when_idle(start):
    port = start().port
    sock, reader = connect(port)
    with sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc")
        sock.shutdown(socket.SHUT_WR)
        assert reader.response()[0] == 400
        assert reader.at_eof()
    sock, reader = connect(port)
    with sock:
        sock.sendall(GET * 3)
        sock.shutdown(socket.SHUT_WR)          # the answers still come
        assert [reader.response()[0] for _ in range(3)] == [200] * 3
        assert reader.at_eof()


def test_connection_cap_answers_503_and_keeps_serving(start):
    server = start(max_connections=2)
    port = server.port
    a, ra = connect(port)
    b, rb = connect(port)
    with a, b:
        a.sendall(GET)
        assert ra.response()[0] == 200          # both counted now
        c, rc = connect(port)
        with c:
            status, headers, _ = rc.response()
            assert status == 503 and dict(headers)[b"connection"] == b"close"
            assert rc.at_eof()
        b.sendall(GET)
        assert rb.response()[2] == DEMO_BODY
        a.sendall(GET)
        assert ra.response()[2] == DEMO_BODY
    deadline = time.monotonic() + 5
    while server.stats()["open"] and time.monotonic() < deadline:
        time.sleep(0.01)
    assert exchange(port, GET)[0] == 200
    assert server.stats()["refused"] == 1


def test_pipelining_without_reading_pauses_input(start, running):
    server = start()
    port = server.port
    sock, reader = connect(port)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    with sock:
        sent = flood_unread(sock, GET * 4096, 1.5)
        stats = running.call(running.reactor.stats)
        assert stats["read_paused"] >= 1           # the server stopped reading
        # The server is still fine for others.
        assert exchange(port, GET)[2] == DEMO_BODY
        # Now read everything: every request sent gets its answer, in order.
        sock.setblocking(True)
        sock.settimeout(10)
        total = sent // len(GET)
        got = 0
        while got < total:
            assert reader.response()[0] == 200
            got += 1
        assert got == total > 1000


def test_shutdown_finishes_in_flight_and_refuses_new(start, running):
    server = start()
    port = server.port
    busy, rbusy = connect(port)
    idle, ridle = connect(port)
    with busy, idle:
        idle.sendall(GET)
        assert ridle.response()[0] == 200
        busy.sendall(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 6\r\n\r\nabc")
        time.sleep(0.1)
        stopped = threading.Event()
        running.call(lambda: server.shutdown(running.reactor, timeout=5.0, callback=stopped.set))
        assert ridle.at_eof()                       # idle: closed at once
        busy.sendall(b"def")                        # in flight: finished
        status, headers, body = rbusy.response()
        assert (status, body) == (200, DEMO_BODY) and dict(headers)[b"connection"] == b"close"
        assert rbusy.at_eof()
        assert stopped.wait(5)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).recv(1)


def test_access_log_only_when_asked(start, caplog):
    import logging

    quiet = start().port
    loud = start(access_log=True).port
    with caplog.at_level(logging.INFO, logger="cyreactor.http.access"):
        assert exchange(quiet, GET)[0] == 200
        assert not [r for r in caplog.records if r.name == "cyreactor.http.access"]
        sock, reader = connect(loud)
        with sock:
            # The body arrives in a later read: the logged line must not come
            # from a buffer that was reused since the head.
            sock.sendall(b"POST /logged?q=1 HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\n")
            time.sleep(0.05)
            sock.sendall(b"body")
            assert reader.response()[0] == 200
        assert exchange(loud, b"GET / HTTP/9.9\r\n\r\n")[0] == 505
    lines = [r.getMessage() for r in caplog.records if r.name == "cyreactor.http.access"]
    # Apache's combined format (tests/test_access_log.py has the others).
    stamp = r"\[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\]"
    assert re.fullmatch(rf'127\.0\.0\.1 - - {stamp} "POST /logged\?q=1 HTTP/1\.1" 200 28 "-" "-"', lines[0])
    assert re.fullmatch(rf'127\.0\.0\.1 - - {stamp} "-" 505 \d+ "-" "-"', lines[1])


# ---- deadlines: nothing a client does holds a connection for ever ---------------

def queue_a_tail(sock, server, running):
    """Sends GETs one at a time without reading until the server keeps part
    of a response in its own write buffer (the kernel's are full), below
    the reactor's high-water mark; returns the bytes queued."""

    def queued():
        return sum(c.get_write_buffer_size() for c in running.reactor.connections())

    for sent in range(1, 5000):
        sock.sendall(GET)
        wait_for(lambda: server.stats()["requests"] == sent)
        size = running.call(queued)
        if size:
            return size
    raise AssertionError("the server never queued a response")


CLOSING_PATHS = ["connection-close", "http10", "keepalive-expiry", "client-half-close", "shutdown"]


@pytest.mark.parametrize("path", CLOSING_PATHS)
def test_a_closing_connection_with_a_queued_tail_is_aborted_after_send_timeout(start, running, path):
    # Issue 8 item 1: once the server had decided to close a connection,
    # close() armed no deadline and the old idle/head deadline only called
    # close() again: a client that never read kept the descriptor, a
    # max_connections slot and its kernel buffers for ever. A closing
    # connection with data queued now keeps a send deadline.
    piece = b"q" * 8192
    server = start(lambda req: Response(200, body=piece), send_timeout=0.5,
                   keepalive_timeout=0.5 if path == "keepalive-expiry" else 30.0)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", server.port))
    with sock:
        assert 0 < queue_a_tail(sock, server, running) < 65536
        if path == "connection-close":
            sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        elif path == "http10":
            sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
        elif path == "client-half-close":
            sock.shutdown(socket.SHUT_WR)
        elif path == "shutdown":
            running.call(server.shutdown, running.reactor)
        # The client never reads: the server gives up on it.
        assert wait_for(lambda: server.stats()["open"] == 0, timeout=5)


def test_a_slow_body_is_cut_off_by_the_minimum_body_rate(start):
    # Issue 8 item 3: body_timeout restarted on every piece, so a byte every
    # body_timeout - 1 s held a connection for the whole body limit. After
    # the first body_timeout a body must average min_body_rate (default 500
    # bytes/s).
    port = start(body_timeout=0.5).port
    sock, reader = connect(port)
    with sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n")
        t0 = time.monotonic()
        sock.settimeout(0.15)
        while time.monotonic() - t0 < 4 and not reader.buf:
            try:
                sock.send(b"x")             # never silent for body_timeout
                reader.buf = sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                break
        elapsed = time.monotonic() - t0
        assert reader.buf, "the slow body was never cut off"
        sock.settimeout(5)
        assert reader.response()[0] == 408 and elapsed < 2.0, elapsed


def test_a_body_above_the_minimum_rate_is_not_cut_off(start):
    port = start(body_timeout=0.3, min_body_rate=1000).port
    sock, reader = connect(port)
    with sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 6000\r\n\r\n")
        for _ in range(60):                  # 5000 bytes/s for 1.2 s
            sock.sendall(b"y" * 100)
            time.sleep(0.02)
        assert reader.response()[:3:2] == (200, DEMO_BODY)


def test_blank_lines_before_a_request_count_against_header_timeout(start):
    # Issue 8 item 3: every byte of the empty lines allowed before a request
    # line re-armed keepalive_timeout, so 16 bytes held a connection for 16
    # keep-alive periods. They start the head: header_timeout counts.
    port = start(header_timeout=0.5, keepalive_timeout=5.0).port
    sock, reader = connect(port)
    with sock:
        sock.sendall(GET)
        assert reader.response()[0] == 200
        t0 = time.monotonic()
        sock.settimeout(0.15)
        for i in range(16):
            try:
                sock.send(b"\r\n"[i % 2:i % 2 + 1])
                reader.buf = sock.recv(65536)
                break
            except socket.timeout:
                continue
        elapsed = time.monotonic() - t0
        assert reader.buf, "blank lines kept the connection open"
        sock.settimeout(5)
        assert reader.response()[0] == 408 and elapsed < 1.2, elapsed
