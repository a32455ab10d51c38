"""Fixtures shared by every test module. Helpers live in ``tests/support``."""
import signal

import pytest
from support.demo import Demo
from support.reactor import ErrorLog, ReactorThread

import cyreactor
from cyreactor.http import HttpServer


@pytest.fixture
def errors():
    return ErrorLog()


@pytest.fixture
def reactor(errors):
    r = cyreactor.Reactor()
    r.set_exception_handler(errors)
    yield r
    r.close()
    unexpected = len(errors.contexts) - errors.expected
    assert unexpected <= 0, f"the reactor reported unexpected errors: {errors.contexts}"


@pytest.fixture
def running(reactor):
    rt = ReactorThread(reactor).start()
    yield rt
    rt.stop()


@pytest.fixture
def start(running):
    """start(app=None, **options) -> HttpServer listening on 127.0.0.1,
    with ``.port``; runs on the test's reactor thread."""

    def start(app=None, **options):
        server = HttpServer(app, **options)
        listener = running.call(server.listen, running.reactor, "127.0.0.1", 0)
        server.port = listener.sockname[1]
        return server

    return start


@pytest.fixture
def loop(errors):
    """A cyreactor.Loop (an asyncio loop) running on a thread, with the
    same error check as ``reactor``; ``loop.serve(app, **kwargs)`` starts an
    HttpServer on it and returns it, with ``.port``."""
    lp = cyreactor.Loop()
    lp.set_exception_handler(errors)
    rt = ReactorThread(lp).start()

    def serve(app=None, **kwargs):
        server = HttpServer(app, **kwargs)
        server.port = rt.call(server.listen, lp, "127.0.0.1", 0).sockname[1]
        return server

    lp.serve = serve
    lp.thread = rt
    yield lp
    rt.stop()
    lp.close()
    unexpected = len(errors.contexts) - errors.expected
    assert unexpected <= 0, f"the loop reported unexpected errors: {errors.contexts}"


@pytest.fixture
def demo():
    servers = []

    def start(*args, **kwargs):
        servers.append(Demo(*args, **kwargs))
        return servers[-1]

    yield start
    for s in servers:
        s.stop(signal.SIGKILL)


@pytest.fixture(scope="module")
def shared_demo():
    d = Demo()
    yield d
    d.stop()
