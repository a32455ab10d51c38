"""HTTP request parser throughput: cyreactor's strict parser against httptools.

Each benchmarked call parses a batch of 100 identical pipelined requests.

- ``c``: the C-level parser loop the server runs (``_bench_feed``: no Python
  object per request), the number to compare with llhttp;
- ``wrapper``: ``RequestParser.feed``, which builds a Python tuple per request
  (what the fuzzing/differential tests use);
- ``httptools``: ``httptools.HttpRequestParser`` with the callbacks a server
  needs (url, headers, body, message complete), if installed.

    pytest bench/test_bench_http_parser.py --benchmark-only
"""
import pytest

from _benchutil import SRC  # noqa: F401  (puts the in-place build on sys.path)

from cyreactor._httpparser import RequestParser, _bench_feed

BATCH = 100

REQUESTS = {
    "wrk_get": (b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n\r\n"),
    "browser_get": (
        b"GET /static/app.js?v=12 HTTP/1.1\r\nHost: example.com\r\n"
        b"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0\r\n"
        b"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n"
        b"Accept-Language: en-US,en;q=0.5\r\nAccept-Encoding: gzip, deflate, br\r\n"
        b"Referer: https://example.com/index.html\r\nConnection: keep-alive\r\n"
        b"Cookie: session=0123456789abcdef0123456789abcdef; theme=dark\r\n"
        b"Sec-Fetch-Dest: script\r\nSec-Fetch-Mode: no-cors\r\nSec-Fetch-Site: same-origin\r\n\r\n"
    ),
    "post_1k": (b"POST /api/items HTTP/1.1\r\nHost: example.com\r\nContent-Type: application/json\r\n"
                b"Content-Length: 1024\r\n\r\n" + b"x" * 1024),
    "chunked_4x256": (b"POST /upload HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n\r\n"
                      + b"100\r\n" + b"y" * 256 + b"\r\n" + b"100;ext=1\r\n" + b"y" * 256 + b"\r\n"
                      + b"100\r\n" + b"y" * 256 + b"\r\n" + b"100\r\n" + b"y" * 256 + b"\r\n0\r\n\r\n"),
}


@pytest.fixture(params=sorted(REQUESTS))
def batch(request):
    data = REQUESTS[request.param] * BATCH
    assert _bench_feed(data, 1) == BATCH
    return data


def test_parse_c(benchmark, batch):
    benchmark.group = "http parser"
    assert benchmark(_bench_feed, batch, 1) == BATCH


def test_parse_wrapper(benchmark, batch):
    benchmark.group = "http parser"
    assert len(benchmark(lambda: RequestParser().feed(batch))) == BATCH


def test_parse_httptools(benchmark, batch):
    httptools = pytest.importorskip("httptools")
    benchmark.group = "http parser"

    class Callbacks:
        __slots__ = ("count", "url", "headers", "body")

        def __init__(self):
            self.count = 0

        def on_url(self, url):
            self.url = url

        def on_header(self, name, value):
            pass

        def on_body(self, body):
            pass

        def on_message_complete(self):
            self.count += 1

    def run():
        cb = Callbacks()
        httptools.HttpRequestParser(cb).feed_data(batch)
        return cb.count

    assert benchmark(run) == BATCH
