"""Shared fixtures: a reactor that fails the test if it reported an error the
test did not expect, and a helper that runs a reactor on a thread so plain
blocking clients (sockets, requests, http.client, curl) can drive it."""
import os
import socket
import threading
import time

import pytest

import cyreactor


class ErrorLog:
    """Collects what the reactor hands its exception handler."""

    def __init__(self):
        self.contexts = []
        self.expected = 0

    def __call__(self, reactor, context):
        self.contexts.append(context)

    def expect(self, count=1):
        self.expected += count


class ReactorThread:
    """Runs ``reactor.run()`` on a daemon thread; ``call(fn)`` runs fn on
    the reactor's thread and returns its result."""

    def __init__(self, reactor):
        self.reactor = reactor
        self.thread = threading.Thread(target=self._run, name="reactor", daemon=True)
        self.error = None

    def _run(self):
        try:
            self.reactor.run()
        except BaseException as exc:  # surfaced by stop()
            self.error = exc

    def start(self):
        self.thread.start()
        return self

    def call(self, fn, *args, timeout=10):
        done = threading.Event()
        box = {}

        def run():
            try:
                box["value"] = fn(*args)
            except BaseException as exc:
                box["error"] = exc
            done.set()

        self.reactor.call_soon_threadsafe(run)
        assert done.wait(timeout), "the reactor did not run the call in time"
        if "error" in box:
            raise box["error"]
        return box.get("value")

    def stop(self):
        if self.thread.is_alive():
            self.reactor.call_soon_threadsafe(self.reactor.stop)
            self.thread.join(10)
            assert not self.thread.is_alive(), "reactor thread did not stop"
        if self.error is not None:
            raise self.error


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


def wait_for(predicate, timeout=5.0):
    """Polls ``predicate`` (state a reactor thread changes) until true."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


def run_until(reactor, predicate, timeout=5.0):
    """Runs ``reactor`` on this thread until ``predicate`` is true."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        reactor.run_once(0.05)


def open_fds():
    return len(os.listdir("/proc/self/fd"))


def recv_exactly(sock, n):
    chunks = []
    while n:
        chunk = sock.recv(min(n, 1 << 20))
        if not chunk:
            raise EOFError(f"peer closed with {n} bytes missing")
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def recv_until_eof(sock):
    chunks = []
    while True:
        chunk = sock.recv(1 << 16)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def has_ipv6():
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False
