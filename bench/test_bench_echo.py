"""Loopback echo round trip: cyreactor's echo example against asyncio and
uvloop echo servers, each in its own process, driven by the same blocking
client socket; server and client share one CPU (see _benchutil.BENCH_CPU).
One table per payload size.

    pytest bench/test_bench_echo.py --benchmark-only
"""
import os
import socket
import sys

import pytest

from _benchutil import BENCH, HOST, LOOP_KINDS, _bench_process, require, recv_exactly_into, start_server, stop_server  # noqa: F401

SERVERS = {
    "cyreactor": [sys.executable, "-m", "cyreactor.examples.echo", "--host", HOST, "--port", "{port}"],
    "cyreactor-buffered": [sys.executable, "-m", "cyreactor.examples.echo", "--buffered", "--host", HOST,
                           "--port", "{port}"],
    "asyncio": [sys.executable, os.path.join(BENCH, "peers", "py_echo.py"), "--loop", "asyncio",
                "--host", HOST, "--port", "{port}"],
    "uvloop": [sys.executable, os.path.join(BENCH, "peers", "py_echo.py"), "--loop", "uvloop",
               "--host", HOST, "--port", "{port}"],
}


@pytest.fixture(scope="module", params=(*LOOP_KINDS, "cyreactor-buffered"))
def echo_port(request):
    require(request.param.split("-")[0])
    proc, port = start_server(SERVERS[request.param])
    yield port
    stop_server(proc)


@pytest.mark.parametrize("size", [1024, 65536], ids=["1KiB", "64KiB"])
def test_echo_round_trip(benchmark, echo_port, size):
    benchmark.group = f"echo round trip, {size // 1024} KiB"
    payload = bytes(i % 251 for i in range(size))
    reply = bytearray(size)
    with socket.create_connection((HOST, echo_port)) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def round_trip():
            sock.sendall(payload)
            recv_exactly_into(sock, reply)

        benchmark(round_trip)
    assert reply == payload
