"""Reactor dispatch: N idle and M active TCP connections into one loop.

Before each timed round, one byte is written on each of the M active client
sockets (plain blocking sockets in this process; on loopback the bytes are
queued at the receiver when send() returns); the timed part is running the
loop until its handlers have seen all M bytes. The N idle connections are
registered with the loop and never ready. Every round also pays one
run()/stop() of the loop; test_empty_pass measures that fixed cost alone
(uvloop's is the largest), to subtract when comparing small batches. Handlers
are plain Python classes on each loop's protocol API (cyreactor.Handler,
asyncio.Protocol), the way an application would write them.

    pytest bench/test_bench_dispatch.py --benchmark-only
"""
import asyncio
import socket

import pytest

from _benchutil import HOST, LOOP_KINDS, Loop, _bench_process  # noqa: F401

ROUNDS = 2000


class Counter:
    def __init__(self, loop):
        self.loop = loop
        self.accepted = 0
        self.received = 0
        self.target = 0


def handler_factory(loop, counter):
    """A handler class on the loop's own API that counts bytes and stops
    the loop once the batch is in."""
    if loop.kind == "cyreactor":
        import cyreactor

        base = cyreactor.Handler
    else:
        base = asyncio.Protocol

    class Count(base):
        def connection_made(self, conn):
            counter.accepted += 1

        def data_received(self, data):
            counter.received += len(data)
            if counter.received == counter.target:
                loop.stop()

    return Count


def listen(loop, factory):
    """Listen on a free loopback port; returns (port, closer)."""
    if loop.kind == "cyreactor":
        listener = loop.loop.listen(HOST, 0, factory)
        return listener.sockname[1], listener.close
    server = loop.loop.run_until_complete(loop.loop.create_server(factory, HOST, 0))
    return server.sockets[0].getsockname()[1], server.close


@pytest.mark.parametrize("idle,active", [(0, 10), (1000, 10), (1000, 100)],
                         ids=["idle0-active10", "idle1000-active10", "idle1000-active100"])
@pytest.mark.parametrize("kind", LOOP_KINDS)
def test_dispatch(benchmark, kind, idle, active):
    benchmark.group = f"dispatch: {idle} idle + {active} active connections"
    loop = Loop(kind)
    counter = Counter(loop)
    port, close_listener = listen(loop, handler_factory(loop, counter))
    clients = []
    try:
        # In batches that fit any listen backlog, accepted before the next.
        while len(clients) < idle + active:
            for _ in range(min(50, idle + active - len(clients))):
                clients.append(socket.create_connection((HOST, port)))
            loop.run_until(lambda: counter.accepted == len(clients))
        active_socks = clients[idle:]

        def send_batch():
            counter.target = counter.received + active
            for s in active_socks:
                s.send(b"x")

        benchmark.pedantic(loop.run, setup=send_batch, rounds=ROUNDS, warmup_rounds=50)
        assert counter.received == counter.target
    finally:
        for s in clients:
            s.close()
        close_listener()
        # Let the loop see the closes so its connections are torn down.
        loop.call_later(0.05, loop.stop)
        loop.run()
        loop.close()


@pytest.mark.parametrize("kind", LOOP_KINDS)
def test_empty_pass(benchmark, kind):
    benchmark.group = "one empty loop pass: call_soon(stop) + run()"
    loop = Loop(kind)
    try:
        benchmark(loop.run_one_pass)
    finally:
        loop.close()
