"""cyreactor's own app API on the asyncio loop: ``async def app(request)``,
async RequestHandler methods, and one app mixing plain and streaming routes
(``http.Router``), served in-process on a running ``cyreactor.Loop``."""
import asyncio

import pytest
import requests
from support.http import connect

from cyreactor import http


class Upload(http.RequestHandler):
    """Streams: counts the body as it comes, answers at the end."""

    def __init__(self, request, response):
        super().__init__(request, response)
        self.size = 0
        self.pieces = 0

    async def on_body(self, chunk):
        await asyncio.sleep(0)
        self.size += len(chunk)
        self.pieces += 1

    async def on_complete(self):
        await asyncio.sleep(0.01)
        self.response.send(http.Response(200, body=b"%d" % self.size))


def make_router():
    router = http.Router()

    @router.route("/plain")
    def plain(request):
        return http.Response(200, body=b"plain " + request.body)

    @router.route("/async", methods=["GET"])
    async def slow(request):
        await asyncio.sleep(float(request.query or "0"))
        return http.Response(200, body=b"async " + request.query.encode())

    @router.route("/boom")
    async def boom(request):
        await asyncio.sleep(0)
        raise ValueError("async app failed")

    router.add("/upload", Upload, methods=["POST", "PUT"])
    return router


def test_async_def_app(loop):
    async def app(request):
        await asyncio.sleep(0.01)
        return http.Response(200, [("content-type", "text/plain")], b"hello " + request.body)

    server = loop.serve(app)
    assert server.needs_loop
    r = requests.post(f"http://127.0.0.1:{server.port}/", data=b"there", timeout=10)
    assert r.text == "hello there"


def test_one_app_mixes_plain_async_and_streaming_routes(loop):
    port = loop.serve(make_router()).port
    url = f"http://127.0.0.1:{port}"
    assert requests.post(url + "/plain", data=b"body", timeout=10).text == "plain body"
    assert requests.get(url + "/async?0.01", timeout=10).text == "async 0.01"
    assert requests.put(url + "/upload", data=b"u" * (5 << 20), timeout=30).text == str(5 << 20)
    assert requests.get(url + "/nowhere", timeout=10).status_code == 404
    assert requests.delete(url + "/upload", timeout=10).status_code == 405


def test_an_async_error_is_a_500_through_the_exception_handler(loop, errors):
    errors.expect()
    port = loop.serve(make_router()).port
    assert requests.get(f"http://127.0.0.1:{port}/boom", timeout=10).status_code == 500
    (context,) = errors.contexts
    assert isinstance(context["exception"], ValueError)
    assert (context["method"], context["path"]) == ("GET", "/boom")


def test_pipelined_async_requests_are_answered_in_order(loop):
    port = loop.serve(make_router()).port
    sock, reader = connect(port)
    sock.sendall(b"GET /async?0.05 HTTP/1.1\r\nHost: t\r\n\r\nGET /async?0 HTTP/1.1\r\nHost: t\r\n\r\n"
                 b"POST /plain HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\n\r\nx")
    assert [reader.response()[2] for _ in range(3)] == [b"async 0.05", b"async 0", b"plain x"]
    sock.close()


def test_a_plain_reactor_is_refused_for_an_async_app(reactor):
    async def app(request):
        return http.Response()

    with pytest.raises(TypeError, match="cyreactor.Loop"):
        http.HttpServer(app).listen(reactor, "127.0.0.1", 0)


def test_long_bodies_received_in_place_then_pipelined_requests(loop):
    def app(request):
        return http.Response(200, body=b"%d %d" % (len(request.body), request.body.count(b"z")))

    port = loop.serve(app).port
    sizes = (1 << 20, 65536, 3, 300000)
    sock, reader = connect(port)
    for piece in (b"".join(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n%s" % (n, b"z" * n)
                           for n in sizes),):
        # Sent in uneven pieces: a body's bytes arrive in many reads.
        for i in range(0, len(piece), 99991):
            sock.sendall(piece[i:i + 99991])
    for n in sizes:
        assert reader.response()[2] == b"%d %d" % (n, n)
    sock.close()
