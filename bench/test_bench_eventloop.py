"""The asyncio event loop's own operations on cyreactor's loop against the
stock asyncio loop and uvloop: call_soon throughput, timer schedule and
cancel, create_task + await of a ready future, and a sock_recv/sock_sendall
ping-pong over a socket pair. Compare within a group, never across runs.

    pytest bench/test_bench_eventloop.py --benchmark-only
"""
import asyncio
import socket

import pytest

from _benchutil import _bench_process, require  # noqa: F401

KINDS = ("cyreactor", "asyncio", "uvloop")
COUNT = 10_000
ROUNDS = 1_000


def new_loop(kind):
    require("cyreactor" if kind == "cyreactor" else kind)
    if kind == "cyreactor":
        import cyreactor
        return cyreactor.new_event_loop()
    if kind == "uvloop":
        import uvloop
        return uvloop.new_event_loop()
    return asyncio.new_event_loop()


@pytest.fixture(params=KINDS)
def loop(request):
    lp = new_loop(request.param)
    yield lp
    lp.close()


def noop():
    pass


def test_call_soon(benchmark, loop):
    benchmark.group = f"asyncio loop: call_soon x{COUNT:,} and run them"

    def run():
        done = loop.create_future()
        for _ in range(COUNT - 1):
            loop.call_soon(noop)
        loop.call_soon(done.set_result, None)
        loop.run_until_complete(done)

    benchmark(run)


def test_call_later_cancel(benchmark, loop):
    benchmark.group = f"asyncio loop: call_later + cancel x{COUNT:,}"
    delays = [60.0 + i * 1e-4 for i in range(COUNT)]

    def run():
        handles = [loop.call_later(d, noop) for d in delays]
        for h in handles:
            h.cancel()
        done = loop.create_future()
        loop.call_soon(done.set_result, None)
        loop.run_until_complete(done)

    benchmark(run)


def test_create_task_await_ready_future(benchmark, loop):
    benchmark.group = f"asyncio loop: create_task + await a ready future x{COUNT:,}"

    async def child(fut):
        return await fut

    async def main():
        for _ in range(COUNT):
            fut = loop.create_future()
            fut.set_result(1)
            await loop.create_task(child(fut))

    benchmark(lambda: loop.run_until_complete(main()))


def test_sock_recv_ping_pong(benchmark, loop):
    benchmark.group = f"asyncio loop: sock_recv/sock_sendall ping-pong x{ROUNDS:,}"
    a, b = socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)

    async def echo():
        for _ in range(ROUNDS):
            data = await loop.sock_recv(b, 1024)
            await loop.sock_sendall(b, data)

    async def main():
        server = loop.create_task(echo())
        for _ in range(ROUNDS):
            await loop.sock_sendall(a, b"x" * 100)
            await loop.sock_recv(a, 1024)
        await server

    try:
        benchmark(lambda: loop.run_until_complete(main()))
    finally:
        a.close()
        b.close()
