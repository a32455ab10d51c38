"""A server's life as load balancers and supervisors see it: the health
path, the drain delay before a graceful stop, the stop itself (idle
connections closed at once, the request in flight answered with
``connection: close``, a hard deadline)."""
import signal
import socket
import time

import pytest
from support.http import GET, connect, exchange
from support.reactor import wait_for

from cyreactor import http

HEALTH = b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"


def test_the_health_path_is_answered_by_the_server_for_any_app(start):
    calls = []

    def app(request):
        calls.append(request.path)
        return http.Response(200, body=b"app")

    for server in (start(app, health_path="/healthz"), start(None, health_path="/healthz")):
        status, headers, body = exchange(server.port, HEALTH)
        assert (status, body) == (200, b"ok\n")
        assert exchange(server.port, b"HEAD /healthz?probe=1 HTTP/1.1\r\nHost: t\r\n\r\n", True)[0] == 200
        assert exchange(server.port, b"POST /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n")[0] == 200
    assert calls == ["/healthz"]        # POST is the app's; GET and HEAD are not


def test_draining_fails_the_health_check_and_serves_the_rest(start, running):
    server = start(None, health_path="/healthz", drain_delay=0.5)
    running.call(lambda: server.shutdown(running.reactor, stop_reactor=False))
    status, _, body = exchange(server.port, HEALTH)
    assert (status, body) == (503, b"draining\n")
    status, headers, _ = exchange(server.port, GET)
    assert status == 200 and (b"connection", b"close") not in headers
    # After the delay: no longer accepting.
    wait_for(lambda: not server.listeners, timeout=5)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", server.port), timeout=2).recv(1)


def test_the_stop_closes_idle_connections_and_ends_the_busy_one(start, running):
    pending = []

    class Slow(http.RequestHandler):
        def on_complete(self):
            pending.append(self.response)

    server = start(Slow)
    idle, idle_reader = connect(server.port)
    busy, busy_reader = connect(server.port)
    with idle, busy:
        idle.sendall(GET)
        wait_for(lambda: pending)
        running.call(pending.pop().send, http.Response(200, body=b"first"))
        assert idle_reader.response()[0] == 200
        busy.sendall(GET)
        wait_for(lambda: pending)
        running.call(lambda: server.shutdown(running.reactor, stop_reactor=False))
        assert idle_reader.at_eof()                   # idle: closed at once
        running.call(pending[0].send, http.Response(200, body=b"late"))
        status, headers, body = busy_reader.response()
        assert (status, body) == (200, b"late") and (b"connection", b"close") in headers
        assert busy_reader.at_eof()


def test_the_demo_drains_on_sigterm(demo):
    d = demo("--health-path", "/healthz", "--drain-delay", "1")
    d.proc.send_signal(signal.SIGTERM)
    t0 = time.monotonic()
    wait_for(lambda: exchange(d.port, HEALTH)[0] == 503, timeout=5)
    assert exchange(d.port, GET)[0] == 200
    assert d.proc.wait(10) == 0
    assert time.monotonic() - t0 >= 0.9


def test_a_connection_accepted_just_before_the_stop_gets_its_answer(start, running):
    # It used to count as idle and was closed at once: its client, which
    # had not sent its request yet, saw the connection end (one failed GET
    # in a few thousand during a SIGHUP reload, tests/test_workers.py).
    server = start(None)
    sock, reader = connect(server.port)
    with sock:
        wait_for(lambda: server.core.open_connections == 1)
        running.call(lambda: server.shutdown(running.reactor, stop_reactor=False))
        sock.sendall(GET)
        status, headers, _ = reader.response()
        assert status == 200 and (b"connection", b"close") in headers
