"""Leaks and soak. The default run checks, in-process, that a few thousand
connections (HTTP keep-alive, HTTP close, app requests, echo) leave no
per-connection object and no traced memory behind once closed. The slow run
(``pytest -m slow``) drives scripts/soak.py with a fifth of its full counts:
the server's RSS and descriptors must not grow after warm-up."""
import gc
import os
import socket
import subprocess
import sys
import time
import tracemalloc

import pytest
from support.net import recv_exactly

import cyreactor
from cyreactor import _http, _loop
from cyreactor.http import HttpServer, Response

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GET = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"
GET_CLOSE = b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"

# Types of which every connection makes one (or more) while it lives.
TRACKED = (_loop.Connection, _http.HttpProtocol, _http.Request, _http.ResponseWriter,
           _http.Headers, cyreactor.Handler)


def live_objects():
    gc.collect()
    counts = {}
    for o in gc.get_objects():
        if isinstance(o, TRACKED):
            name = type(o).__name__
            counts[name] = counts.get(name, 0) + 1
    return counts


class Echo(cyreactor.Handler):
    def connection_made(self, conn):
        self.conn = conn

    def data_received(self, data):
        self.conn.write(data)


def read_response(sock):
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(4096)
    head, rest = data.split(b"\r\n\r\n", 1)
    length = int(next(l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length")).split(b":")[1])
    return rest + recv_exactly(sock, length - len(rest))


def drive(ports, rounds):
    demo, app, echo = ports
    for i in range(rounds):
        with socket.create_connection(("127.0.0.1", demo)) as s:       # keep-alive, then close
            for _ in range(3):
                s.sendall(GET)
                read_response(s)
            s.sendall(GET_CLOSE)
            read_response(s)
        with socket.create_connection(("127.0.0.1", app)) as s:        # app: body, headers
            s.sendall(b"POST /x?y HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nX-A: b\r\n\r\nhello")
            assert read_response(s) == b"/x hello b"
        with socket.create_connection(("127.0.0.1", echo)) as s:
            s.sendall(b"x" * (i % 5000 + 1))
            recv_exactly(s, i % 5000 + 1)


def test_no_per_connection_object_or_memory_left_after_close(running):
    def app(req):
        return Response(200, [("x", "y")], b"%s %s %s" % (req.path.encode(), req.body, req.headers["x-a"]))

    demo = HttpServer()
    appserver = HttpServer(app)
    ports = (running.call(demo.listen, running.reactor, "127.0.0.1", 0).sockname[1],
             running.call(appserver.listen, running.reactor, "127.0.0.1", 0).sockname[1],
             running.call(running.reactor.listen, "127.0.0.1", 0, Echo).sockname[1])

    def idle():
        deadline = time.monotonic() + 10
        while running.call(lambda: running.reactor.stats()["open"]) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert running.call(lambda: running.reactor.stats()["open"]) == 0

    drive(ports, 200)                         # warm-up: freelists, caches, code paths
    idle()
    with socket.create_connection(("127.0.0.1", ports[0])) as s:
        s.sendall(GET)
        read_response(s)
        # The census sees what a live connection holds (gc tracks these types).
        live = running.call(live_objects)
        assert live.get("Connection") == 1 and live.get("DemoProtocol") == 1, live
    idle()
    before_objects = running.call(live_objects)
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        drive(ports, 1500)
        idle()
        after_objects = running.call(live_objects)
        gc.collect()
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    assert after_objects == before_objects
    grown = sum(d.size_diff for d in after.compare_to(before, "filename"))
    connections = 1500 * 3
    print(f"{connections} connections: {after_objects} live objects after, traced memory {grown:+} bytes")
    # A leaked Connection + handler alone is several hundred bytes; allow
    # noise (interned strings, logging, the test's own bookkeeping).
    assert grown < connections * 16, f"{grown} bytes left behind by {connections} connections"
    stats = running.call(running.reactor.stats)
    assert stats["accepted"] == stats["closed"] == 1700 * 3 + 1


@pytest.mark.slow
def test_soak_keepalive_close_and_echo(tmp_path):
    out = tmp_path / "soak.json"
    # Under scripts/sanitize.sh, ASan's quarantine holds freed memory: RSS
    # says nothing there, the run is for the sanitizer's reports.
    slack = "100000000" if os.environ.get("CYREACTOR_SANITIZE") else "1024"
    proc = subprocess.run(
        [sys.executable, os.path.join(ROOT, "scripts", "soak.py"), "--keepalive", "200000",
         "--close", "20000", "--echo", "200000", "--echo-close", "20000", "--clients", "2", "--time-limit", "300",
         "--rss-slack", slack, "--json", str(out)],
        capture_output=True, text=True, timeout=1200)
    print(proc.stdout, proc.stderr)
    assert proc.returncode == 0, proc.stdout + proc.stderr
