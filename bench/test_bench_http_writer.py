"""Response head serialization: the server's C head builder against h11 and a
plain-Python join (how httptools-based servers such as uvicorn build heads,
httptools itself having no writer).

Each benchmarked call serializes the head of a typical small response 100
times.

    pytest bench/test_bench_http_writer.py --benchmark-only
"""
import pytest

from _benchutil import SRC  # noqa: F401  (puts the in-place build on sys.path)

from cyreactor._http import Response, _bench_build_head, http_date

BATCH = 100
BODY = b"Hello! I am an epoll server."
HEADERS = [(b"content-type", b"text/html"), (b"cache-control", b"no-store"), (b"x-request-id", b"42")]


def test_build_head_cyreactor(benchmark):
    benchmark.group = "response head x100"
    head = benchmark(_bench_build_head, Response(200, HEADERS, BODY), BATCH)
    assert head.startswith(b"HTTP/1.1 200 OK\r\n") and b"content-length: 28\r\n" in head


def test_build_head_python_join(benchmark):
    benchmark.group = "response head x100"

    def build():
        for _ in range(BATCH):
            parts = [b"HTTP/1.1 200 OK\r\n"]
            for name, value in HEADERS:
                parts += (name, b": ", value, b"\r\n")
            parts += (b"date: ", http_date(), b"\r\ncontent-length: ", str(len(BODY)).encode(), b"\r\n\r\n")
            head = b"".join(parts)
        return head

    assert benchmark(build).endswith(b"\r\n\r\n")


def test_build_head_h11(benchmark):
    h11 = pytest.importorskip("h11")
    benchmark.group = "response head x100"
    headers = HEADERS + [(b"date", http_date()), (b"content-length", b"28")]

    def build():
        for _ in range(BATCH):
            conn = h11.Connection(h11.SERVER)
            conn.receive_data(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            conn.next_event()
            head = conn.send(h11.Response(status_code=200, headers=headers))
        return head

    assert benchmark(build).startswith(b"HTTP/1.1 200")
