"""--workers under the supervisor as operators meet it: a worker that stops
answering is killed and replaced (a stopped process keeps its SO_REUSEPORT
share of new connections until it dies), workers recycled after
--max-requests, a zero-downtime reload on SIGHUP, counters added up across
workers and kept when one dies."""
import os
import signal
import socket
import threading
import time

from support.http import GET, exchange
from support.reactor import wait_for

METRICS = b"GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n"


def fresh_connections(port, count, timeout=2.0):
    """How many of ``count`` new connections got a 200 within ``timeout``."""
    ok = 0
    for _ in range(count):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
                s.settimeout(timeout)
                s.sendall(GET)
                ok += s.recv(12) == b"HTTP/1.1 200"
        except OSError:
            pass
    return ok


def counter(port, line):
    body = exchange(port, METRICS)[2].decode()
    return next(float(x.rsplit(" ", 1)[1]) for x in body.splitlines() if x.startswith(line + " "))


class Load(threading.Thread):
    """New-connection GETs in a loop until stopped: counts sent and failed."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port, self.sent, self.failed, self.stopping = port, 0, 0, False

    def run(self):
        deadline = time.monotonic() + 60          # bounded, whatever happens
        while not self.stopping and time.monotonic() < deadline:
            self.sent += 1
            self.failed += fresh_connections(self.port, 1, timeout=5.0) != 1


def test_a_stopped_worker_is_killed_and_replaced(demo):
    # --reuse-port: the stopped worker's own listening socket keeps its share
    # of new connections until it dies (with the shared socket the others
    # take them; its accepted ones are stuck all the same).
    d = demo("--workers", "2", "--reuse-port", "--heartbeat-timeout", "1")
    stopped = d.children()[0]
    t0 = time.monotonic()
    os.kill(stopped, signal.SIGSTOP)
    try:
        wait_for(lambda: stopped not in d.children() and len(d.children()) == 2, timeout=10)
    finally:
        if stopped in d.children():
            os.kill(stopped, signal.SIGCONT)
    assert time.monotonic() - t0 < 5
    # Before the heartbeat, 9 of 20 timed out in the stopped worker's queue.
    assert fresh_connections(d.port, 20) == 20
    d.proc.send_signal(signal.SIGTERM)
    assert "missed its heartbeat" in d.proc.communicate(timeout=20)[1]


def test_workers_are_recycled_after_max_requests(demo):
    d = demo("--workers", "1", "--max-requests", "5", "--max-requests-jitter", "2")
    seen = set(d.children())
    load = Load(d.port)
    load.start()

    def recycled_twice():
        seen.update(d.children())
        return len(seen) >= 3

    wait_for(recycled_twice, timeout=30)
    load.stopping = True
    load.join(10)
    assert load.failed == 0, f"{load.failed} of {load.sent} failed"
    wait_for(lambda: len(d.children()) == 1, timeout=15)     # the last one left drains and exits


def test_sighup_replaces_every_worker_with_no_failed_request(demo):
    d = demo("--workers", "2")
    before = set(d.children())
    load = Load(d.port)
    load.start()
    wait_for(lambda: load.sent >= 5)
    d.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: len(d.children()) == 2 and not set(d.children()) & before, timeout=20)
    sent = load.sent
    wait_for(lambda: load.sent >= sent + 20)
    load.stopping = True
    load.join(10)
    assert load.failed == 0, f"{load.failed} of {load.sent} failed"


def test_counters_add_up_across_workers_and_survive_a_death(demo):
    d = demo("--workers", "2", "--metrics-path", "/metrics")
    for _ in range(30):
        assert exchange(d.port, GET)[0] == 200
    ok = 'cyreactor_http_responses_total{status_class="2xx"}'
    before = counter(d.port, ok)
    assert before >= 30
    assert counter(d.port, "cyreactor_workers") == 2
    os.kill(d.children()[0], signal.SIGKILL)
    assert counter(d.port, ok) >= before + 1           # the dead worker's counts are kept
    # Replaced (after a back-off: it died within a second of its start).
    wait_for(lambda: counter(d.port, "cyreactor_workers") == 2, timeout=10)
    assert counter(d.port, ok) >= before + 2


def sockets_of(pid):
    links = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            links.add(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except FileNotFoundError:
            pass                # closed since the listing (a connection ending)
    return {link for link in links if link.startswith("socket:")}


def test_workers_share_one_socket_unless_reuse_port(demo):
    shared = demo("--workers", "2")
    a, b = (sockets_of(pid) for pid in shared.children())
    assert a & b                                    # the supervisor's listening socket
    own = demo("--workers", "2", "--reuse-port")
    for _ in range(10):
        assert exchange(own.port, GET)[0] == 200
    a, b = (sockets_of(pid) for pid in own.children())
    assert a and b and not a & b                    # each bound its own
