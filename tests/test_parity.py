"""Parity with asyncio: the same handler code, written once against the
asyncio.Protocol method names, sees the same callbacks in the same order on
cyreactor and on asyncio for the same client behaviour."""
import asyncio
import socket
import struct
import threading
import time

import pytest
from support.net import recv_exactly, recv_until_eof
from support.reactor import ReactorThread

import cyreactor


class Script:
    """Handler logic shared by both runtimes: echo, log every callback."""

    def __init__(self, log, keep_open_on_eof=False):
        self.log = log
        self.keep_open_on_eof = keep_open_on_eof

    def connection_made(self, transport):
        self.transport = transport
        self.log.append("made")

    def data_received(self, data):
        self.log.append(("data", bytes(data)))
        self.transport.write(data.upper())

    def eof_received(self):
        self.log.append("eof")
        if self.keep_open_on_eof:
            self.transport.write(b"bye")
            self.transport.close()
            return True
        return None

    def connection_lost(self, exc):
        self.log.append(("lost", type(exc).__name__ if exc else None))


class CyScript(Script, cyreactor.Handler):
    pass


class AsyncioScript(Script, asyncio.Protocol):
    pass


def serve_cyreactor(log_factory):
    reactor = cyreactor.Reactor()
    rt = ReactorThread(reactor).start()
    listener = rt.call(reactor.listen, "127.0.0.1", 0, log_factory(CyScript))

    def stop():
        rt.stop()
        reactor.close()

    return listener.sockname, stop


def serve_asyncio(log_factory):
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    box = {}

    async def main():
        server = await loop.create_server(log_factory(AsyncioScript), "127.0.0.1", 0)
        box["addr"] = server.sockets[0].getsockname()
        box["server"] = server
        ready.set()

    thread = threading.Thread(target=lambda: (loop.run_until_complete(main()), loop.run_forever()), daemon=True)
    thread.start()
    assert ready.wait(5)

    def stop():
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        box["server"].close()
        loop.close()

    return box["addr"], stop


RUNTIMES = {"cyreactor": serve_cyreactor, "asyncio": serve_asyncio}


def run_scenario(runtime, scenario, keep_open_on_eof=False):
    logs = []

    def log_factory(cls):
        def factory():
            logs.append([])
            return cls(logs[-1], keep_open_on_eof)
        return factory

    addr, stop = RUNTIMES[runtime](log_factory)
    try:
        result = scenario(addr)
        deadline = time.monotonic() + 5
        while not (logs and isinstance(logs[-1][-1], tuple) and logs[-1][-1][0] == "lost"):
            assert time.monotonic() < deadline, logs
            time.sleep(0.01)
    finally:
        stop()
    return result, logs[0]


def echo_then_close(addr):
    with socket.create_connection(addr) as s:
        s.sendall(b"abc")
        reply = recv_exactly(s, 3)
        s.shutdown(socket.SHUT_WR)
        return reply + recv_until_eof(s)


def reset(addr):
    s = socket.create_connection(addr)
    s.sendall(b"xyz")
    recv_exactly(s, 3)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


@pytest.mark.parametrize("keep_open", [False, True])
def test_echo_and_half_close_match_asyncio(keep_open):
    results = {rt: run_scenario(rt, echo_then_close, keep_open) for rt in RUNTIMES}
    assert results["cyreactor"] == results["asyncio"]
    reply, log = results["cyreactor"]
    assert reply == (b"ABCbye" if keep_open else b"ABC")
    assert log == ["made", ("data", b"abc"), "eof", ("lost", None)]


def test_reset_matches_asyncio():
    results = {rt: run_scenario(rt, reset) for rt in RUNTIMES}
    assert results["cyreactor"][1] == results["asyncio"][1] == [
        "made", ("data", b"xyz"), ("lost", "ConnectionResetError")]
