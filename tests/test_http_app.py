"""The HTTP handler API: apps returning Responses, RequestHandler streaming
both ways, errors in user code, and the kvstore example."""
import email.utils
import http.client
import json
import logging
import re
import socket
import subprocess
import sys
import time

import pytest
from support.http import GET, connect, exchange
from support.net import reset
from support.reactor import wait_for

import cyreactor
from cyreactor import http as cyhttp
from cyreactor.examples.kvstore import KVStore


def test_kept_requests_read_after_later_pipelined_ones(start):
    # A Request's fields are made from its own copy of the head and header
    # slots when first read: a request kept by the app reads right after
    # the parser has moved on to later requests on the same connection, one
    # with many fields too.
    seen = []

    def app(request):
        seen.append(request)
        return cyhttp.Response(200, [("content-type", "text/plain")], b"ok")

    port = start(app).port
    many = b"".join(b"X-F%d: v%d\r\n" % (i, i) for i in range(40))
    raws = [b"GET /first?a=1 HTTP/1.1\r\nHost: one\r\nX-Only: first\r\n\r\n",
            b"POST /second HTTP/1.1\r\nHost: two\r\n" + many + b"Content-Length: 3\r\n\r\nabc",
            b"GET /third?q HTTP/1.1\r\nHost: three\r\n\r\n"]
    sock, reader = connect(port)
    with sock:
        sock.sendall(b"".join(raws))
        assert [reader.response()[2] for _ in raws] == [b"ok"] * 3
    first, second, third = seen
    assert (third.path, third.query, third.headers.items()) == ("/third", "q", [(b"host", b"three")])
    assert (second.method, second.path, second.body) == ("POST", "/second", b"abc")
    assert len(second.headers) == 42 and second.headers["x-f39"] == b"v39"
    assert second.headers.items()[0] == (b"host", b"two")
    assert (first.path, first.query, first.headers.get("x-only"), first.headers.get("x-f0")) == (
        "/first", "a=1", b"first", None)
    assert [r.raw_head for r in seen] == [raw[:raw.index(b"\r\n\r\n") + 4] for raw in raws]


def test_requests_the_app_drops_or_keeps_each_read_as_their_own(start):
    # The server reuses a Request nobody kept for the next one: what the
    # app read of one (fields made on first access, the body, the client a
    # trusted proxy names) must not show through in the next, whatever
    # their head sizes, and a request the app kept must stay as it was.
    kept = []

    def app(request):
        if "keep" in request.query:
            kept.append(request)
        seen = [request.method, request.target, request.headers["x-n"].decode(), len(request.headers),
                request.body.decode(), request.client[0], len(request.raw_head)]
        return cyhttp.Response(200, [("content-type", "application/json")], json.dumps(seen).encode())

    def expected(i, head):
        return ["POST" if i % 3 else "GET", target(i), str(i), 4 + (i % 5 == 2),
                f"body{i}" if i % 3 else "", f"10.0.0.{i}", len(head)]

    def target(i):
        return f"/r{i}?i={i}" + ("&keep" if i % 4 == 1 else "")

    port = start(app).port
    big = b"X-Big: " + b"b" * 12000 + b"\r\n"
    raws = []
    for i in range(12):
        body = b"body%d" % i if i % 3 else b""
        raws.append(b"%s %s HTTP/1.1\r\nHost: h\r\nX-N: %d\r\nX-Forwarded-For: 10.0.0.%d\r\n%s"
                    b"Content-Length: %d\r\n\r\n%s" % (b"POST" if body else b"GET", target(i).encode(), i, i,
                                                       big if i % 5 == 2 else b"", len(body), body))
    sock, reader = connect(port)
    with sock:
        for sends in ([b"".join(raws)], raws):      # pipelined, then one at a time
            got = []
            for data in sends:
                sock.sendall(data)
                got += [json.loads(reader.response()[2]) for _ in range(len(raws) // len(sends))]
            assert got == [expected(i, raw[:raw.index(b"\r\n\r\n") + 4]) for i, raw in enumerate(raws)]
    assert [(r.target, r.headers["x-n"], r.body, r.client[0]) for r in kept] == [
        (target(i), b"%d" % i, b"body%d" % i if i % 3 else b"", f"10.0.0.{i}") for i in (1, 5, 9)] * 2


def test_responses_the_app_keeps_or_shares_stay_as_made(start):
    # A Response nobody kept once sent is reused by the next Response(...):
    # one the app keeps, or returns again and again, must not change.
    shared = cyhttp.Response(201, [("x-shared", "1")], b"shared")
    kept = []

    def app(request):
        if request.path == "/shared":
            return shared
        response = cyhttp.Response(200 + len(kept), headers=[("x-path", request.path)], body=request.path.encode())
        if request.path.startswith("/keep"):
            kept.append(response)
        return response

    port = start(app).port
    paths = ["/a", "/keep1", "/shared", "/b", "/keep2", "/shared", "/c", "/shared"]
    sock, reader = connect(port)
    with sock:
        sock.sendall(b"".join(b"GET %s HTTP/1.1\r\nHost: h\r\n\r\n" % p.encode() for p in paths))
        got = [reader.response() for _ in paths]
    assert [(status, body) for status, _, body in got] == [
        (200, b"/a"), (200, b"/keep1"), (201, b"shared"), (201, b"/b"), (201, b"/keep2"), (201, b"shared"),
        (202, b"/c"), (201, b"shared")]
    assert [dict(headers).get(b"x-path", b"shared") for _, headers, _ in got] == [
        p.encode() if p != "/shared" else b"shared" for p in paths]
    assert [(r.status, r.headers, r.body, r.reason) for r in kept] == [
        (200, [("x-path", "/keep1")], b"/keep1", None), (201, [("x-path", "/keep2")], b"/keep2", None)]
    assert (shared.status, shared.headers, shared.body) == (201, [("x-shared", "1")], b"shared")


def test_response_binds_arguments_alike_on_its_fast_path_and_the_general_one():
    # Response(...) binds the usual calls itself and leaves the rest to the
    # constructor Cython generated: keywords spelled with strings that are
    # not interned take the general path. Both give the same fields, or the
    # same error.
    def spelled(name):
        return "".join(list(name))          # equal, but not the interned string

    fields = [(b"content-type", b"text/plain")]
    calls = [((), {}), ((404,), {}), ((201, fields), {}), ((200, None, b"x"), {}),
             ((), {"body": b"y"}), ((500,), {"headers": fields, "reason": "Oops"}),
             ((), {"status": 204, "headers": None, "body": "", "reason": None}),
             ((True,), {}), (("200",), {}), ((2 ** 40,), {}), ((1, 2, 3, 4), {}),
             ((200,), {"status": 201}), ((), {"colour": "red"})]

    def outcome(args, kwargs):
        try:
            r = cyhttp.Response(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - the error is what is compared
            return type(exc), str(exc)
        return r.status, r.headers, r.body, r.reason

    for args, kwargs in calls:
        general = {spelled(k): v for k, v in kwargs.items()}
        if not kwargs:
            general[spelled("reason")] = None
        assert outcome(args, kwargs) == outcome(args, general), (args, kwargs)
    assert outcome((), {}) == (200, None, b"", None)


def test_response_fields_follow_a_header_list_changed_in_place(start):
    # The head builder keeps the fields of the last list of constant tuples
    # serialized: the same list changed in place, new items, items that are
    # not tuples and framing fields all show in the next head.
    headers = [(b"content-type", b"text/plain"), ("x-a", "1")]

    def app(request):
        return cyhttp.Response(200, headers, b"ok")

    port = start(app).port

    def fields():
        status, got, body = exchange(port, GET)
        assert (status, body) == (200, b"ok")
        return [(k, v) for k, v in got if k not in (b"date", b"content-length")]

    assert fields() == fields() == [(b"content-type", b"text/plain"), (b"x-a", b"1")]
    headers.append(("x-b", "2"))
    assert fields() == [(b"content-type", b"text/plain"), (b"x-a", b"1"), (b"x-b", b"2")]
    headers[0] = (b"content-type", b"text/html")
    assert fields()[0] == (b"content-type", b"text/html")
    headers[:] = [["x-list", "one"]]
    assert fields() == [(b"x-list", b"one")]
    headers[0][1] = "two"
    assert fields() == [(b"x-list", b"two")]
    headers[:] = [("x-c", "3"), ("connection", "close")]
    assert fields() == fields() == [(b"x-c", b"3"), (b"connection", b"close")]
    headers[:] = [("date", "Mon, 01 Jan 2001 00:00:00 GMT")]
    for _ in range(2):
        got = exchange(port, GET)[1]
        assert [v for k, v in got if k == b"date"] == [b"Mon, 01 Jan 2001 00:00:00 GMT"]
    headers[:] = []
    assert fields() == []

def test_heads_alike_are_each_framed_for_their_own_response(start):
    # The server reuses the last head it built for a response with the same
    # fields (a constant list), the same status, length and client: every
    # input that frames a head must still show in it, and its Date must be
    # the current one.
    fields = [(b"content-type", b"text/plain")]
    plan = {"/a": (200, b"one", None), "/b": (200, b"three", None), "/c": (404, b"one", None),
            "/d": (204, b"", None), "/e": (200, b"one", "Fine")}

    def app(request):
        status, body, reason = plan[request.path]
        return cyhttp.Response(status, fields, body, reason=reason)

    def check(status, headers, body, path, version=b"HTTP/1.1", connection=None):
        want_status, want_body, _ = plan[path]
        h = dict(headers)
        assert (status, body) == (want_status, want_body if version else b"")
        assert h.get(b"content-length") == (None if status == 204 else b"%d" % len(want_body))
        assert h.get(b"connection") == connection
        assert h[b"content-type"] == b"text/plain"
        assert abs(email.utils.parsedate_to_datetime(h[b"date"].decode()).timestamp() - time.time()) < 2
        return h[b"date"]

    port = start(app).port
    sock, reader = connect(port)
    with sock:
        for path in ["/a", "/a", "/b", "/a", "/c", "/d", "/e", "/a", "/d"]:
            sock.sendall(b"GET %s HTTP/1.1\r\nHost: t\r\n\r\n" % path.encode())
            check(*reader.response(), path)
        sock.sendall(b"HEAD /a HTTP/1.1\r\nHost: t\r\n\r\n")
        check(*reader.response(head_request=True), "/a", version=None)
        sock.sendall(b"GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        check(*reader.response(), "/a", connection=b"keep-alive")
        sock.sendall(b"GET /a HTTP/1.1\r\nHost: t\r\n\r\n")
        first = check(*reader.response(), "/a")
        time.sleep(1.1)
        sock.sendall(b"GET /a HTTP/1.1\r\nHost: t\r\n\r\n")
        assert check(*reader.response(), "/a") != first
        sock.sendall(b"GET /a HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        check(*reader.response(), "/a", connection=b"close")
        assert reader.at_eof()
    client = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    for path, reason in [("/a", "OK"), ("/e", "Fine"), ("/e", "Fine"), ("/a", "OK")]:
        client.request("GET", path)
        response = client.getresponse()
        assert (response.reason, response.read()) == (reason, b"one")
    client.close()


def test_large_bodies_back_to_back_on_one_connection(start):
    # A body of 64 KiB or more is received in place; the read after it (the
    # next head) is a small one, and what it brings of the next body is
    # copied in: pipelined large bodies, a small one and a GET all arrive whole.
    def app(request):
        return cyhttp.Response(200, body=b"%d %d" % (len(request.body), hash(request.body) & 0xFFFF))

    port = start(app).port
    bodies = [bytes([i]) * n for i, n in enumerate((300_000, 100_000, 70_000, 10, 0))]
    raw = b"".join(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n%s" % (len(b), b) for b in bodies)
    sock, reader = connect(port)
    with sock:
        sock.sendall(raw + GET)
        got = [reader.response()[2] for _ in range(len(bodies) + 1)]
    assert got == [b"%d %d" % (len(b), hash(b) & 0xFFFF) for b in bodies + [b""]]

def test_serve_gives_freed_memory_back_once_idle(monkeypatch):
    # serve()'s malloc policy: nothing trimmed while requests complete, one
    # malloc_trim() once none has for the idle delay, none again until more
    # requests came.
    calls = []

    class FakeLibc:
        def mallopt(self, param, value):
            calls.append(("mallopt", param, value))
            return 1

        def malloc_trim(self, pad):
            calls.append(("trim",))
            return 1

    monkeypatch.setattr(cyhttp, "_glibc", FakeLibc)
    monkeypatch.setattr(cyhttp, "_IDLE_TRIM_DELAY", 0.02)
    core = type("Core", (), {"requests": 0})()
    reactor = cyreactor.Reactor()

    def run(seconds, busy=False):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            core.requests += busy
            reactor.run_once(0.005)

    try:
        cyhttp._keep_freed_memory_until_idle(type("Server", (), {"core": core})(), reactor)
        assert calls == [("mallopt", cyhttp._M_TRIM_THRESHOLD, cyhttp._TRIM_NEVER)]
        run(0.1)
        assert calls.count(("trim",)) == 0          # no request yet: nothing to give back
        run(0.2, busy=True)
        assert calls.count(("trim",)) == 0
        run(0.2)
        assert calls.count(("trim",)) == 1
        run(0.1, busy=True)
        run(0.2)
        assert calls.count(("trim",)) == 2
    finally:
        reactor.close()


def test_request_fields(start):
    seen = []

    def app(request):
        seen.append(request)
        return cyhttp.Response(200, [("content-type", "text/plain")], b"ok")

    port = start(app).port
    raw = (b"POST /a/b%20c?x=1&y=2 HTTP/1.1\r\nHost: example\r\nX-Rep: one\r\nx-rep: two\r\n"
           b"Content-Type: application/json\r\nContent-Length: 7\r\n\r\n{\"a\":1}")
    assert exchange(port, raw)[2] == b"ok"
    r = seen[0]
    assert (r.method, r.target, r.path, r.query, r.version) == ("POST", "/a/b%20c?x=1&y=2", "/a/b%20c", "x=1&y=2", "1.1")
    assert r.body == b'{"a":1}' and r.keep_alive and r.content_length == 7
    h = r.headers
    assert h.get("content-type") == h[b"Content-Type"] == b"application/json"
    assert h.getall("X-REP") == [b"one", b"two"] and "host" in h and "nope" not in h
    assert len(h) == 5 and (b"host", b"example") in list(h)
    assert r.peername[0] == "127.0.0.1"
    assert exchange(port, b"GET http://example/p/q?z HTTP/1.1\r\nHost: example\r\n\r\n")[0] == 200
    assert (seen[1].path, seen[1].query, seen[1].body) == ("/p/q", "z", b"")
    assert exchange(port, b"PURGE /x HTTP/1.0\r\n\r\n")[0] == 200
    assert (seen[2].method, seen[2].version, seen[2].keep_alive) == ("PURGE", "1.0", False)


def test_response_headers_framing_and_date(start):
    def app(request):
        if request.path == "/empty":
            return cyhttp.Response(204, [("x-a", "1")])
        return cyhttp.Response(201, [(b"X-Bytes", b"b"), ("x-str", "s"), ("content-length", "999"),
                                     ("x-int", 5)], "héllo", reason="Made")

    port = start(app).port
    status, headers, body = exchange(port, GET)
    h = dict(headers)
    assert status == 201 and body == "héllo".encode()
    assert h[b"content-length"] == b"6" and h[b"x-bytes"] == b"b" and h[b"x-str"] == b"s" and h[b"x-int"] == b"5"
    assert h[b"date"].endswith(b"GMT")
    sock, reader = connect(port)
    with sock:
        sock.sendall(b"GET /empty HTTP/1.1\r\nHost: t\r\n\r\nHEAD / HTTP/1.1\r\nHost: t\r\n\r\n" + GET)
        status, headers, body = reader.response()
        assert status == 204 and b"content-length" not in dict(headers)
        status, headers, body = reader.response(head_request=True)
        assert dict(headers)[b"content-length"] == b"6"
        assert reader.response()[2] == "héllo".encode()      # HEAD sent no body


def test_pipelined_requests_answered_in_order(start):
    port = start(lambda r: cyhttp.Response(200, body=r.path)).port
    sock, reader = connect(port)
    with sock:
        sock.sendall(b"".join(b"GET /%d HTTP/1.1\r\nHost: t\r\n\r\n" % i for i in range(100)))
        assert [reader.response()[2] for _ in range(100)] == [b"/%d" % i for i in range(100)]


def test_raising_app_answers_500_reports_and_keeps_serving(start, errors):
    def app(request):
        if request.path == "/boom":
            raise RuntimeError("kaboom")
        if request.path == "/bad-type":
            return "not a Response"
        if request.path == "/bad-header":
            return cyhttp.Response(200, [("x", "a\r\nInjected: 1")])
        return cyhttp.Response(200, body=b"fine")

    port = start(app).port
    sock, reader = connect(port)
    with sock:
        for path in (b"/boom", b"/bad-type", b"/bad-header"):
            sock.sendall(b"GET %s HTTP/1.1\r\nHost: t\r\n\r\n" % path)
            status, headers, body = reader.response()
            assert status == 500 and b"Injected" not in dict(headers)
            sock.sendall(GET)                       # same connection still works
            assert reader.response()[2] == b"fine"
    assert exchange(port, GET)[2] == b"fine"
    # Through the reactor's exception handler, with the HTTP context.
    errors.expect(3)
    assert [c["path"] for c in errors.contexts] == ["/boom", "/bad-type", "/bad-header"]
    first = errors.contexts[0]
    assert first["message"] == "Exception in the app" and str(first["exception"]) == "kaboom"
    assert first["method"] == "GET" and first["peer"][0] == "127.0.0.1" and first["connection"] is not None
    assert isinstance(errors.contexts[1]["exception"], TypeError)
    assert isinstance(errors.contexts[2]["exception"], ValueError)


def test_a_failing_exception_handler_is_reported_with_the_error_it_was_given(running, caplog):
    # The reactor logs an exception handler's own failure; the app's error
    # must come with it (chained), not be lost.
    def handler(reactor, context):
        raise LookupError("the handler failed too")

    def app(request):
        raise RuntimeError("the app failed")

    running.call(running.reactor.set_exception_handler, handler)
    server = cyhttp.HttpServer(app)
    port = running.call(server.listen, running.reactor, "127.0.0.1", 0).sockname[1]
    with caplog.at_level(logging.ERROR, logger="cyreactor"):
        assert exchange(port, GET)[0] == 500
    [record] = [r for r in caplog.records if r.name == "cyreactor"]
    failure = record.exc_info[1]
    assert isinstance(failure, LookupError)
    assert isinstance(failure.__context__, RuntimeError) and str(failure.__context__) == "the app failed"
    assert "the app failed" in caplog.text and "the handler failed too" in caplog.text


def test_streamed_response_with_a_generator(start):
    def app(request):
        def parts():
            for i in range(1000):
                yield b"part %d\n" % i
        return cyhttp.Response(200, [("content-type", "text/plain")], parts())

    port = start(app).port
    expected = b"".join(b"part %d\n" % i for i in range(1000))
    status, headers, body = exchange(port, GET)
    assert dict(headers)[b"transfer-encoding"] == b"chunked" and body == expected
    # HTTP/1.0 has no chunked coding: the close delimits the body.
    status, headers, body = exchange(port, b"GET / HTTP/1.0\r\n\r\n")
    assert b"transfer-encoding" not in dict(headers) and body == expected
    # http.client decodes it too, on a reused connection.
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    for _ in range(3):
        conn.request("GET", "/")
        assert conn.getresponse().read() == expected
    conn.close()


def test_large_streamed_response_to_a_slow_reader(start):
    chunk = b"x" * 65536

    def app(request):
        return cyhttp.Response(200, body=(chunk for _ in range(100)))     # 6.25 MiB

    port = start(app).port
    sock, reader = connect(port)
    with sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32768)
        sock.sendall(GET + GET)
        time.sleep(0.3)                          # the server fills the pipe and pauses
        assert len(reader.response()[2]) == 100 * 65536
        assert len(reader.response()[2]) == 100 * 65536


class Upload(cyhttp.RequestHandler):
    """Counts a streamed upload without keeping it."""

    def __init__(self, request, response):
        super().__init__(request, response)
        self.size = 0
        self.pieces = 0

    def on_body(self, chunk):
        self.size += len(chunk)
        self.pieces += 1

    def on_complete(self):
        self.response.start(200, [("content-type", "application/json")])
        self.response.write(json.dumps({"size": self.size}).encode())
        self.response.end(json.dumps({"pieces": self.pieces}).encode())


def test_streamed_upload(start):
    port = start(Upload).port
    body = b"u" * (5 * 1024 * 1024)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("POST", "/up", body=body)
    resp = conn.getresponse()
    assert resp.getheader("transfer-encoding") == "chunked"
    text = resp.read()
    assert text.startswith(b'{"size": 5242880}') and json.loads(text[17:])["pieces"] > 1
    conn.request("POST", "/up", body=iter([b"a" * 10, b"b" * 20]), encode_chunked=True)
    assert resp.fp is None and conn.getresponse().read().startswith(b'{"size": 30}')
    conn.close()


class Delayed(cyhttp.RequestHandler):
    """Answers 50 ms later, from a timer, in three pieces."""

    def on_complete(self):
        self.response.start(200, content_length=len(self.request.path) + 4)
        self.request.reactor.call_later(0.05, self.finish)

    def finish(self):
        self.response.write(b"<<")
        self.response.write(self.request.path)
        self.response.end(b">>")


def test_response_from_a_timer_and_pipelining_waits(start):
    port = start(Delayed).port
    sock, reader = connect(port)
    with sock:
        sock.sendall(b"GET /first HTTP/1.1\r\nHost: t\r\n\r\nGET /second HTTP/1.1\r\nHost: t\r\n\r\n")
        assert reader.response()[2] == b"<</first>>"
        assert reader.response()[2] == b"<</second>>"


class Broken(cyhttp.RequestHandler):
    def on_body(self, chunk):
        raise ValueError("bad body")


class BrokenMidStream(cyhttp.RequestHandler):
    def on_complete(self):
        def parts():
            yield b"first"
            raise KeyError("mid-stream")
        self.response.send(cyhttp.Response(200, body=parts()))


def test_errors_in_a_request_handler(start, errors):
    port = start(Broken).port
    sock, reader = connect(port)
    with sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc")
        assert reader.response()[0] == 500
        assert reader.at_eof()              # the body was not read through: close
    port = start(BrokenMidStream).port
    sock, reader = connect(port)
    with sock:
        sock.sendall(GET)
        with pytest.raises((EOFError, ConnectionResetError)):
            reader.response()               # cut short: the client sees no clean end
    errors.expect(2)
    assert [(c["message"], str(c["exception"])) for c in errors.contexts] == [
        ("Exception in on_body()", "bad body"),
        ("Exception in the response body iterator", "'mid-stream'"),
    ]


class AbortRaises(cyhttp.RequestHandler):
    def on_complete(self):
        self.response.start(200, content_length=10)
        self.response.write(b"12345")

    def on_abort(self, exc):
        raise ValueError("in on_abort")


def test_an_error_in_on_abort_is_reported(start, errors, running):
    port = start(AbortRaises).port
    sock, reader = connect(port)
    sock.sendall(GET)
    assert reader.line().startswith(b"HTTP/1.1 200")
    reset(sock)
    assert wait_for(lambda: len(errors.contexts) == 1)
    errors.expect(1)
    context = errors.contexts[0]
    assert context["message"] == "Exception in on_abort()" and context["path"] == "/"


def test_default_request_handler_answers_404(start):
    port = start(cyhttp.RequestHandler).port
    assert exchange(port, b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nhi")[0] == 404


def test_expect_continue_with_an_app(start):
    port = start(lambda r: cyhttp.Response(200, body=r.body[::-1])).port
    sock, reader = connect(port)
    with sock:
        sock.sendall(b"PUT / HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n")
        assert reader.response()[0] == 100
        sock.sendall(b"abc")
        assert reader.response()[2] == b"cba"


def test_options_are_checked():
    with pytest.raises(TypeError):
        cyhttp.HttpServer(lambda r: None, no_such_option=1)
    with pytest.raises(ValueError):
        cyhttp.HttpServer(lambda r: None, header_timeout=0)
    with pytest.raises(TypeError):
        cyhttp.HttpServer(42)
    assert cyhttp.DEFAULTS["keepalive_timeout"] == 15.0


# ---- the kvstore example -----------------------------------------------------

def call(conn, method, path, body=None):
    conn.request(method, path, body=None if body is None else json.dumps(body))
    resp = conn.getresponse()
    data = resp.read()
    return resp.status, (json.loads(data) if data else None)


def test_kvstore(start):
    port = start(KVStore()).port
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    assert call(c, "GET", "/keys") == (200, {"keys": []})
    assert call(c, "PUT", "/keys/a", {"x": [1, 2]}) == (201, {"key": "a", "value": {"x": [1, 2]}})
    assert call(c, "PUT", "/keys/a", 5)[0] == 200
    assert call(c, "PUT", "/keys/b%20c", "s")[0] == 201
    assert call(c, "GET", "/keys/a") == (200, {"key": "a", "value": 5})
    assert call(c, "GET", "/keys") == (200, {"keys": ["a", "b c"]})
    assert call(c, "DELETE", "/keys/a") == (204, None)
    assert call(c, "GET", "/keys/a")[0] == 404
    assert call(c, "DELETE", "/keys/a")[0] == 404
    c.request("PUT", "/keys/z", body=b"{not json")
    resp = c.getresponse()
    assert resp.status == 400 and b"invalid JSON" in resp.read()
    assert call(c, "POST", "/keys")[0] == 405
    assert call(c, "GET", "/nothing")[0] == 404
    assert call(c, "GET", "/")[1]["keys"] == 1
    c.close()


def test_kvstore_runs_as_a_module():
    proc = subprocess.Popen([sys.executable, "-m", "cyreactor.examples.kvstore", "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        url = re.search(r"http://\S+", proc.stdout.readline()).group(0)
        port = int(url.rsplit(":", 1)[1].strip("/"))
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        assert call(c, "PUT", "/keys/k", [1])[0] == 201
        assert call(c, "GET", "/keys/k") == (200, {"key": "k", "value": [1]})
        c.close()
        proc.terminate()
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_send_timeout_drops_a_client_that_stops_reading_but_not_a_slow_one(start):
    aborted = []
    chunk = b"s" * 65536

    class Stream(cyhttp.RequestHandler):
        def on_complete(self):
            self.response.send(cyhttp.Response(200, body=(chunk for _ in range(160))))   # 10 MiB

        def on_abort(self, exc):
            aborted.append(exc)

    server = start(Stream, send_timeout=0.5)
    # A slow reader that keeps making progress gets everything, though it
    # takes several send_timeouts.
    sock, reader = connect(server.port)
    with sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        sock.sendall(GET)
        t0 = time.monotonic()
        got = 0
        while got < 160 * 65536 + 1000:
            data = sock.recv(256 * 1024)
            if not data:
                break
            got += len(data)
            if b"0\r\n\r\n" == data[-5:]:
                break
            time.sleep(0.01)
        assert got > 160 * 65536 and time.monotonic() - t0 > 0.5
    # One that stops reading is dropped after send_timeout.
    sock, reader = connect(server.port)
    with sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.sendall(GET)
        deadline = time.monotonic() + 5
        while not aborted and time.monotonic() < deadline:
            time.sleep(0.05)
        assert aborted, "the stalled connection was not dropped"


def test_large_bodies_reach_the_app_intact(start):
    import hashlib

    port = start(lambda r: cyhttp.Response(200, body=hashlib.sha256(r.body).hexdigest())).port
    body = bytes(range(256)) * 12289           # ~3 MiB, arrives over many reads
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("POST", "/", body=body)
    assert conn.getresponse().read() == hashlib.sha256(body).hexdigest().encode()
    conn.request("POST", "/", body=iter([body[:1000], body[1000:]]), encode_chunked=True)
    assert conn.getresponse().read() == hashlib.sha256(body).hexdigest().encode()
    conn.close()


SERVE_SCRIPT = """
import sys
from cyreactor import http

def app(request):
    return http.Response(200, body=str(len(request.body)).encode())

http.serve(app, port=0, ready=lambda addr: print(addr[1], flush=True))
"""


def test_serve_does_not_page_fault_every_large_body_in_again():
    """1 MiB bodies handed to the app whole, from 8 clients at once: serve()
    keeps freed heap memory, so the server does not fault each body's 256
    pages in anew (glibc's defaults cost ~180 faults per request here)."""
    import http.client
    import signal
    import subprocess
    import sys
    import threading

    proc = subprocess.Popen([sys.executable, "-c", SERVE_SCRIPT], stdout=subprocess.PIPE, text=True)
    try:
        port = int(proc.stdout.readline())
        body = b"x" * (1 << 20)
        failures = []

        def client(count):
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                for _ in range(count):
                    conn.request("POST", "/", body=body)
                    assert conn.getresponse().read() == b"1048576"
                conn.close()
            except Exception as exc:
                failures.append(exc)

        def run(count):
            threads = [threading.Thread(target=client, args=(count,)) for _ in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
            assert not failures

        def minor_faults():
            with open(f"/proc/{proc.pid}/stat") as f:
                return int(f.read().rsplit(")", 1)[1].split()[7])

        run(3)   # warm-up: the heap grows to its working size
        before = minor_faults()
        run(10)
        per_request = (minor_faults() - before) / 80
        assert per_request < 30, f"{per_request:.0f} minor page faults per 1 MiB request"
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0


# ---- issue 8: HTTP behaviour ---------------------------------------------------

class IteratorHeaders(cyhttp.RequestHandler):
    def on_complete(self):
        if self.request.path == "/start":
            self.response.start(200, iter([("x-a", "1"), ("content-length", "2")]))
            self.response.end(b"ok")
        else:
            self.response.send(cyhttp.Response(200, (h for h in [("x-a", "2")]), iter([b"o", b"k"])))


def test_response_writer_takes_headers_as_an_iterator(start):
    # Issue 8 item 12: start()/send() went through the headers twice (once
    # for a content-length), so an iterator arrived empty at the head.
    port = start(IteratorHeaders).port
    status, headers, body = exchange(port, b"GET /start HTTP/1.1\r\nHost: t\r\n\r\n")
    h = dict(headers)
    assert (status, h[b"x-a"], h[b"content-length"], body) == (200, b"1", b"2", b"ok")
    status, headers, body = exchange(port, b"GET /send HTTP/1.1\r\nHost: t\r\n\r\n")
    assert (status, dict(headers)[b"x-a"], body) == (200, b"2", b"ok")


def test_head_does_not_iterate_a_generator_body(start):
    # Issue 8 item 14: HEAD pulled a whole generator body and threw it away.
    # The server now closes the iterable without iterating it.
    pulled, bodies = [], []

    def app(request):
        if request.path == "/small":
            return cyhttp.Response(200, body=b"small")

        def blocks():
            for i in range(1000):
                pulled.append(i)
                yield b"x" * 65536

        bodies.append(blocks())
        return cyhttp.Response(200, body=bodies[-1])

    port = start(app).port
    sock, reader = connect(port)
    with sock:
        sock.sendall(b"HEAD / HTTP/1.1\r\nHost: t\r\n\r\nGET /small HTTP/1.1\r\nHost: t\r\n\r\n")
        status, headers, body = reader.response(head_request=True)
        assert status == 200 and body == b""
        assert reader.response()[2] == b"small"
    assert pulled == [] and bodies[0].gi_frame is None     # closed, never started


class RejectAtOnce(cyhttp.RequestHandler):
    def __init__(self, request, response):
        super().__init__(request, response)
        response.send(cyhttp.Response(401, [("www-authenticate", "Basic")], b"who are you?\n"))


def test_no_100_continue_before_an_answer_from_the_handler_constructor(start):
    # Issue 8 item 15: 100 Continue went out as soon as the head arrived, so
    # a handler answering 401 from its constructor invited the body first.
    # 100 is sent only when the app is about to read the body; otherwise the
    # answer closes the connection (RFC 9110 10.1.1).
    port = start(RejectAtOnce).port
    sock, reader = connect(port)
    with sock:
        sock.sendall(b"PUT / HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
        status, headers, body = reader.response()
        assert (status, body) == (401, b"who are you?\n")
        assert dict(headers)[b"connection"] == b"close"
        assert reader.at_eof()
    port = start(Upload).port                 # a handler that reads the body gets the 100
    sock, reader = connect(port)
    with sock:
        sock.sendall(b"PUT / HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
        assert reader.response()[0] == 100
        sock.sendall(b"hello")
        assert reader.response()[2].startswith(b'{"size": 5}')


def test_shutdown_without_a_callback_stops_the_reactor_once_drained():
    # Issue 8 item 16: docs/HTTP.md's server.shutdown(reactor, timeout=...)
    # never let run() return: nothing stopped the reactor by default.
    import cyreactor

    with cyreactor.Reactor() as reactor:
        server = cyhttp.HttpServer(lambda r: cyhttp.Response(200, body=b"ok"))
        server.listen(reactor, "127.0.0.1", 0)
        reactor.call_later(0.05, server.shutdown, reactor)
        safety = reactor.call_later(5.0, reactor.stop)
        t0 = time.monotonic()
        reactor.run()
        safety.cancel()
    assert time.monotonic() - t0 < 2.0
