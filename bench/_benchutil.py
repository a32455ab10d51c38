"""Helpers and fixtures shared by the pytest-benchmark files (bench/test_bench_*.py).

Not a conftest.py on purpose: tests/ has one that its tests import by name,
and two conftest modules would collide when both directories are collected.
The benchmark files import what they need from here.
"""
import asyncio
import os
import resource
import socket
import subprocess
import sys
import time

import pytest

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)
SRC = os.path.join(REPO, "src")
HOST = "127.0.0.1"
# Servers and the benchmarking client share one CPU: a round trip is then
# two context switches. Across CPUs it is two cross-CPU wake-ups, which on a
# small VM cost tens of µs and drown the difference between the loops.
BENCH_CPU = 1
LOOP_KINDS = ("cyreactor", "asyncio", "uvloop")

try:
    import cyreactor  # noqa: F401  an installed or in-place build
except ImportError:
    if SRC not in sys.path:
        sys.path.insert(0, SRC)


def raise_nofile(want=8192):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))


def pin_to_cpu(cpu):
    """Pin this process to one CPU while benchmarking."""
    if (os.cpu_count() or 1) >= 2:
        os.sched_setaffinity(0, {cpu})


def require(kind):
    """Skip the test when this loop is not available here."""
    if kind == "cyreactor":
        pytest.importorskip("cyreactor._loop", reason="cyreactor is not built")
    elif kind == "uvloop":
        pytest.importorskip("uvloop")


class Loop:
    """The same three operations over cyreactor's Reactor and asyncio loops,
    so a benchmark body is written once: schedule, run one pass, serve."""

    def __init__(self, kind):
        require(kind)
        self.kind = kind
        if kind == "cyreactor":
            import cyreactor

            self.loop = cyreactor.Reactor()
        elif kind == "uvloop":
            import uvloop

            self.loop = uvloop.new_event_loop()
        else:
            self.loop = asyncio.new_event_loop()

    def call_later(self, delay, fn, *args):
        return self.loop.call_later(delay, fn, *args)

    def call_soon(self, fn, *args):
        return self.loop.call_soon(fn, *args)

    def stop(self):
        self.loop.stop()

    def run(self):
        """Run until stop()."""
        if self.kind == "cyreactor":
            self.loop.run()
        else:
            self.loop.run_forever()

    def run_one_pass(self):
        """One loop iteration: callbacks already due run, cancelled timers go."""
        self.loop.call_soon(self.loop.stop)
        self.run()

    def run_until(self, predicate, timeout=10.0):
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise TimeoutError("the loop did not get there in time")
            self.loop.call_later(0.001, self.loop.stop)
            self.run()

    def close(self):
        self.loop.close()


def start_server(argv, cpu=BENCH_CPU):
    """Start a server subprocess on a free port, pinned to ``cpu``; returns
    (process, port) once the port accepts. argv may contain "{port}"."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        port = s.getsockname()[1]
    env = dict(os.environ)
    env["PYTHONPATH"] = SRC + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    argv = [a.replace("{port}", str(port)) for a in argv]
    if (os.cpu_count() or 1) >= 2:
        argv = ["taskset", "-c", str(cpu)] + argv
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 20
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"{argv} exited: {proc.stderr.read().decode(errors='replace')}")
        try:
            socket.create_connection((HOST, port), timeout=1).close()
            return proc, port
        except OSError:
            if time.monotonic() > deadline:
                stop_server(proc)
                raise RuntimeError(f"{argv} did not listen within 20 s")
            time.sleep(0.05)


def stop_server(proc):
    """SIGTERM by PID, SIGKILL after 5 s."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc.stderr:
        proc.stderr.close()


def recv_exactly_into(sock, buf):
    view = memoryview(buf)
    got = 0
    while got < len(buf):
        n = sock.recv_into(view[got:])
        if not n:
            raise EOFError("server closed the connection")
        got += n


@pytest.fixture(scope="session", autouse=True)
def _bench_process():
    """The benchmarking process: more fds, pinned to BENCH_CPU."""
    raise_nofile()
    before = os.sched_getaffinity(0)
    pin_to_cpu(BENCH_CPU)
    yield
    os.sched_setaffinity(0, before)
