"""Faults: clients that reset mid-request, mid-body and mid-response;
half-closes both ways; a connection flood past RLIMIT_NOFILE; a handler that
raises on every call; SIGTERM during load; a --workers worker killed by
SIGKILL under load. After each, the server is still serving and holds no
connection, descriptor or error it should not."""
import os
import signal
import socket
import struct
import threading
import time

import pytest
from support.demo import Demo
from support.http import GET, connect, exchange
from support.net import open_fds, recv_until_eof, reset
from support.reactor import wait_for

import cyreactor
from cyreactor.http import DEMO_BODY, RequestHandler, Response

BIG = bytes(range(256)) * 16384          # 4 MiB: far more than the socket buffers hold


def settled(running, server):
    """Every connection is gone from both the HTTP layer and the reactor."""
    return wait_for(lambda: running.call(
        lambda: server.core.open_connections == 0 and running.reactor.stats()["open"] == 0))


# ---- resets -----------------------------------------------------------------

class Streamer(RequestHandler):
    """Streams 64 MiB in 64 KiB pieces as the client reads; records aborts.
    Far more than loopback's socket buffers can take (several MiB once
    autotuned), so the writer really does wait for the client."""
    aborted = []
    size = 16 * len(BIG)

    def on_complete(self):
        if self.request.target != "/big":
            self.response.end(b"ok")
            return
        self.offset = 0
        self.response.start(200, [("content-type", "application/octet-stream")], content_length=self.size)
        self.on_drain()

    def on_drain(self):
        while self.offset < self.size and not self.response.paused:
            start = self.offset % len(BIG)
            self.response.write(BIG[start:start + 65536])
            self.offset += 65536
        if self.offset >= self.size:
            self.response.end()

    def on_abort(self, exc):
        Streamer.aborted.append(exc)


@pytest.mark.parametrize("what", ["mid-head", "mid-body", "mid-chunked-body", "mid-response",
                                  "mid-streamed-response", "pipelined-unread"])
def test_client_reset(start, running, what):
    if what == "mid-streamed-response":
        server = start(Streamer)
        Streamer.aborted.clear()
    else:
        server = start(lambda req: Response(200, [], BIG if req.target == "/big" else b"ok"))
    for _ in range(3):
        sock, reader = connect(server.port)
        if what == "mid-head":
            sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nX-Long: aaaa")
        elif what == "mid-body":
            sock.sendall(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n" + b"x" * 5000)
        elif what == "mid-chunked-body":
            sock.sendall(b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n400\r\nabc")
        elif what in ("mid-response", "mid-streamed-response"):
            sock.sendall(b"GET /big HTTP/1.1\r\nHost: t\r\n\r\n")
            assert reader.line().startswith(b"HTTP/1.1 200")
            sock.recv(10000)                       # part of the body, then crash
        else:
            sock.sendall(b"GET /big HTTP/1.1\r\nHost: t\r\n\r\n" * 50)
        time.sleep(0.05)
        reset(sock)
        assert exchange(server.port, GET)[0] == 200
    assert settled(running, server)
    if what == "mid-streamed-response":
        assert len(Streamer.aborted) == 3


# ---- half-closes ------------------------------------------------------------

def test_client_half_close_after_its_request_gets_the_whole_response(start, running):
    server = start(lambda req: Response(200, [], BIG))
    sock, reader = connect(server.port)
    with sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        sock.shutdown(socket.SHUT_WR)
        status, headers, body = reader.response()
        assert status == 200 and body == BIG
        assert reader.at_eof()
    assert settled(running, server)


def test_client_half_close_mid_request_gets_400_and_a_close(start, running):
    server = start()
    sock, reader = connect(server.port)
    with sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc")
        sock.shutdown(socket.SHUT_WR)
        assert reader.response()[0] == 400
        assert reader.at_eof()
    assert settled(running, server)


def test_server_half_close_keeps_reading_until_the_client_closes(start, running):
    # The server ends the connection (the app's "connection: close") while
    # the client, which did not ask for it, pipelines its next request: the
    # server must half-close and drain, not reset the response in flight
    # (RFC 9112 9.6). The client then reads the whole response and an EOF.
    server = start(lambda req: Response(200, [("connection", "close")], BIG))
    sock, reader = connect(server.port)
    with sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        time.sleep(0.1)
        sock.sendall(GET * 200)
        time.sleep(0.2)
        status, headers, body = reader.response()
        assert status == 200 and body == BIG
        assert reader.at_eof()
        sock.sendall(b"late")                 # still draining: no reset
    assert settled(running, server)


def test_server_half_close_of_an_echo_keeps_the_other_direction(running):
    class HalfEcho(cyreactor.Handler):
        def connection_made(self, conn):
            self.conn = conn

        def data_received(self, data):
            if not self.conn.is_closing() and not getattr(self, "done", False):
                self.done = True
                self.conn.write(data)
                self.conn.write_eof()         # our side done; keep reading

        def eof_received(self):
            return False

    listener = running.call(running.reactor.listen, "127.0.0.1", 0, HalfEcho)
    with socket.create_connection(listener.sockname, timeout=5) as s:
        s.sendall(b"ping")
        assert recv_until_eof(s) == b"ping"       # server's FIN after the data
        s.sendall(b"more")                        # our direction still open
        s.shutdown(socket.SHUT_WR)
    assert wait_for(lambda: running.call(lambda: running.reactor.stats()["open"]) == 0)


# ---- a handler that raises on every call ----------------------------------------

def test_handler_raising_on_every_call(running, errors):
    class Broken(cyreactor.Handler):
        def connection_made(self, conn):
            raise RuntimeError("connection_made")

        def data_received(self, data):
            raise RuntimeError("data_received")

        def eof_received(self):
            raise RuntimeError("eof_received")

        def connection_lost(self, exc):
            raise RuntimeError("connection_lost")

    class Echo(cyreactor.Handler):
        def connection_made(self, conn):
            self.conn = conn

        def data_received(self, data):
            self.conn.write(data)

    broken = running.call(running.reactor.listen, "127.0.0.1", 0, Broken)
    good = running.call(running.reactor.listen, "127.0.0.1", 0, Echo)
    baseline = open_fds()
    n = 200
    with socket.create_connection(good.sockname, timeout=5) as g:
        for i in range(n):
            with socket.create_connection(broken.sockname, timeout=5) as s:
                try:
                    s.sendall(b"x")
                    s.shutdown(socket.SHUT_WR)
                    recv_until_eof(s)
                except OSError:               # reset, or closed before we got there
                    pass
            g.sendall(b"%d," % i)
        expected = "".join(f"{i}," for i in range(n)).encode()
        got = b""
        while len(got) < len(expected):
            got += g.recv(65536)
        assert got == expected
    assert wait_for(lambda: running.call(lambda: running.reactor.stats()["open"]) == 0)
    assert open_fds() <= baseline
    stats = running.call(running.reactor.stats)
    assert stats["closed"] == stats["accepted"] == n + 1
    # At least connection_made and connection_lost for each broken connection.
    assert len(errors.contexts) >= 2 * n
    errors.expect(len(errors.contexts))


def test_app_raising_on_every_call_answers_500_and_keeps_serving(start, running, errors):
    def app(req):
        raise ValueError("boom")

    server = start(app)
    sock, reader = connect(server.port)
    with sock:
        for _ in range(50):
            sock.sendall(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc")
            assert reader.response()[0] == 500     # same connection, kept alive
    assert settled(running, server)
    assert running.call(lambda: server.core.errors) == 50
    assert len(errors.contexts) == 50 and all(c["message"] == "Exception in the app" for c in errors.contexts)
    errors.expect(50)


# ---- a demo server process ----------------------------------------------------

@pytest.fixture
def server():
    procs = []

    def make(*args, **kw):
        procs.append(Demo(*args, **kw))
        return procs[-1]

    yield make
    for p in procs:
        p.stop(signal.SIGKILL)


def answered(port, timeout=5.0):
    try:
        sock, reader = connect(port, timeout)
        with sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            return reader.response()[2] == DEMO_BODY
    except OSError:
        return False


def test_connection_flood_past_rlimit_nofile(server):
    s = server("--header-timeout", "1", nofile=64)
    keep, reader = connect(s.port)
    with keep:
        keep.sendall(GET)
        assert reader.response()[2] == DEMO_BODY
        baseline = s.fds()
        flood = []
        for _ in range(300):                        # far past 64 descriptors
            flood.append(socket.create_connection(("127.0.0.1", s.port), timeout=5))
        time.sleep(0.3)
        for _ in range(5):                          # the existing client is served
            keep.sendall(GET)
            assert reader.response()[2] == DEMO_BODY
        # The flood sends nothing: header_timeout closes what was accepted,
        # freed descriptors let the backlog in, until the flood is drained.
        # Meanwhile and afterwards, new clients are answered.
        for s_ in flood:
            s_.close()
        assert wait_for(lambda: answered(s.port, 2.0), timeout=15)
        keep.sendall(GET)
        assert reader.response()[2] == DEMO_BODY
        assert wait_for(lambda: s.fds() <= baseline, timeout=10), (s.fds(), baseline)
    assert s.proc.poll() is None


class Load:
    """``threads`` clients hammering ``port``: keep-alive GETs and POSTs whose
    bodies arrive in two pieces. Every response is checked: a 200 must carry
    its whole body; a close before a response starts is clean; a close or
    reset inside a response is a truncation."""

    def __init__(self, port, threads=6, close_each=False):
        self.port = port
        self.close_each = close_each
        self.stop = threading.Event()
        self.ok = 0
        self.clean_closes = 0
        self.truncated = []
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._client, args=(i,), daemon=True) for i in range(threads)]

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join(15)

    def _one_connection(self, i):
        try:
            sock, reader = connect(self.port, 5.0)
        except OSError:
            with self.lock:
                self.clean_closes += 1
            time.sleep(0.01)
            return
        with sock:
            n = 0
            while not self.stop.is_set():
                n += 1
                started = False
                try:
                    if n % 2:
                        sock.sendall(GET)
                    else:
                        sock.sendall(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 8\r\n\r\nabcd")
                        time.sleep(0.002)
                        sock.sendall(b"efgh")
                    first = reader.line()
                    started = True
                    status = int(first.split()[1])
                    length = None
                    while True:
                        line = reader.line()
                        if not line:
                            break
                        name, _, value = line.partition(b":")
                        if name.strip().lower() == b"content-length":
                            length = int(value)
                    body = reader.exactly(length or 0)
                    if status != 200 or body != DEMO_BODY:
                        with self.lock:
                            self.truncated.append((status, body))
                        return
                    with self.lock:
                        self.ok += 1
                    if self.close_each:
                        return
                except (EOFError, ConnectionResetError, BrokenPipeError, socket.timeout) as exc:
                    with self.lock:
                        if started:
                            self.truncated.append(repr(exc))
                        else:
                            self.clean_closes += 1
                    return

    def _client(self, i):
        while not self.stop.is_set():
            self._one_connection(i)


def test_sigterm_under_load_completes_or_closes_cleanly(server):
    s = server("--shutdown-timeout", "5")
    with Load(s.port) as load:
        time.sleep(1.0)
        before = load.ok
        started = time.monotonic()
        s.proc.send_signal(signal.SIGTERM)
        code = s.proc.wait(10)
        took = time.monotonic() - started
    assert code == 0 and took < 5 + 1.0, (code, took)
    assert before > 100, f"only {before} requests before SIGTERM"
    assert not load.truncated, load.truncated[:5]


def test_sigterm_with_stalled_clients_exits_0_at_the_drain_timeout(server):
    # Clients that stop mid-body and mid-head never finish: the server waits
    # for them no longer than --shutdown-timeout, closes them, and exits 0.
    s = server("--shutdown-timeout", "1")
    body = socket.create_connection(("127.0.0.1", s.port), timeout=5)
    head = socket.create_connection(("127.0.0.1", s.port), timeout=5)
    with body, head:
        body.sendall(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nabc")
        head.sendall(b"GET / HTTP/1.1\r\nHo")
        time.sleep(0.2)
        started = time.monotonic()
        s.proc.send_signal(signal.SIGTERM)
        code = s.proc.wait(10)
        took = time.monotonic() - started
        assert code == 0 and 0.9 < took < 2.0, (code, took)
        for sock in (body, head):
            try:
                assert sock.recv(100) == b""        # closed, no partial response
            except ConnectionResetError:
                pass


def test_sigterm_under_pipelined_load_never_cuts_a_response(server):
    # Clients pipelining three requests at a time: at SIGTERM the server
    # finishes the response in progress with "connection: close" and closes;
    # a client then has whole responses and an EOF, never part of one.
    from support.http import Reader

    s = server("--shutdown-timeout", "5")
    stop = threading.Event()
    lock = threading.Lock()
    counts = {"ok": 0, "closed": 0}
    bad = []

    def client():
        while not stop.is_set():
            try:
                sock = socket.create_connection(("127.0.0.1", s.port), timeout=5)
            except OSError:
                time.sleep(0.01)
                continue
            reader = Reader(sock)
            with sock:
                while not stop.is_set():
                    try:
                        sock.sendall(GET * 3)
                        for _ in range(3):
                            status, headers, body = reader.response()
                            if status != 200 or body != DEMO_BODY:
                                bad.append((status, body))
                            with lock:
                                counts["ok"] += 1
                            if dict(headers).get(b"connection") == b"close":
                                raise EOFError
                    except (EOFError, ConnectionResetError, BrokenPipeError):
                        if reader.buf:
                            bad.append(("partial response", reader.buf[:60]))
                        with lock:
                            counts["closed"] += 1
                        break

    threads = [threading.Thread(target=client, daemon=True) for _ in range(6)]
    for t in threads:
        t.start()
    time.sleep(1.0)
    before = counts["ok"]
    s.proc.send_signal(signal.SIGTERM)
    code = s.proc.wait(10)
    stop.set()
    for t in threads:
        t.join(10)
    assert code == 0
    assert before > 100 and not bad, (before, bad[:5])


def test_killed_worker_is_restarted_and_the_port_keeps_answering(server):
    s = server("--workers", "2", "--shutdown-timeout", "5")
    assert wait_for(lambda: len(s.children()) == 2)
    assert wait_for(lambda: answered(s.port, 2.0))
    workers = s.children()
    gaps = []
    with Load(s.port, threads=4, close_each=True) as load:
        time.sleep(0.5)
        os.kill(workers[0], signal.SIGKILL)
        # A prober: the port must answer throughout, from the surviving
        # worker and then from the replacement too.
        last_ok = time.monotonic()
        deadline = last_ok + 3.0
        while time.monotonic() < deadline:
            if answered(s.port, 1.0):
                now = time.monotonic()
                gaps.append(now - last_ok)
                last_ok = now
            time.sleep(0.01)
        replaced = wait_for(lambda: len(s.children()) == 2 and workers[0] not in s.children(), 5)
    assert replaced, s.children()
    assert max(gaps) < 1.0, f"the port stopped answering for {max(gaps):.2f} s"
    # The killed worker's own clients may see resets (its process is gone);
    # no client got a wrong status or a short body from a live worker.
    assert not [t for t in load.truncated if not isinstance(t, str)], load.truncated[:5]
    assert load.ok > 100
    s.proc.send_signal(signal.SIGTERM)
    assert s.proc.wait(15) == 0


# ---- chaos: handlers closing each other, clients resetting and half-closing -----

def test_chaos_every_connection_is_lost_exactly_once(running, errors):
    # Handlers abort or close *other* connections in the middle of a batch
    # (their pending events must then resolve to nothing, even when a new
    # accept reuses the descriptor), pause and resume, write big and close,
    # half-close; clients reset, half-close or just go, mid-exchange. The
    # reactor must call connection_lost exactly once per connection, report
    # no error, and end with nothing open.
    import random

    rng = random.Random(5)
    reactor = running.reactor
    live, lost = [], {}

    class Chaos(cyreactor.Handler):
        def connection_made(self, conn):
            self.conn = conn
            self.eof_sent = False
            self.serial = len(lost)
            live.append(self)
            lost[self.serial] = 0

        def data_received(self, data):
            r = rng.random()
            if r < 0.05 and live:
                rng.choice(live).conn.abort()
            elif r < 0.10 and live:
                rng.choice(live).conn.close()
            elif self.eof_sent:
                return
            elif r < 0.15:
                self.conn.write(data * 1000)
                self.conn.close()
            elif r < 0.20:
                self.conn.pause_reading()
                reactor.call_later(0.01, self.conn.resume_reading)
            elif r < 0.25:
                self.conn.write(data)
                self.conn.write_eof()
                self.eof_sent = True
            else:
                self.conn.write(data)

        def eof_received(self):
            if rng.random() < 0.5 and not self.eof_sent:
                self.conn.write(b"bye")
                reactor.call_later(0.005, self.conn.close)
                return True
            return False

        def connection_lost(self, exc):
            lost[self.serial] += 1
            if self in live:
                live.remove(self)

    port = running.call(reactor.listen, "127.0.0.1", 0, Chaos).sockname[1]

    def client(seed):
        crng = random.Random(seed)
        for _ in range(100):
            try:
                s = socket.create_connection(("127.0.0.1", port), timeout=2)
            except OSError:
                continue
            s.setblocking(False)
            for _ in range(crng.randint(1, 8)):
                try:
                    s.send(os.urandom(crng.randint(1, 3000)))
                    time.sleep(crng.random() * 0.001)
                    s.recv(65536)
                except OSError:
                    pass
            k = crng.random()
            if k < 0.3:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            elif k < 0.5:
                try:
                    s.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
            s.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert wait_for(lambda: running.call(lambda: reactor.stats()["open"]) == 0, 10)
    stats = running.call(reactor.stats)
    assert stats["accepted"] == stats["closed"] == len(lost) > 500
    assert all(n == 1 for n in lost.values())
    assert not errors.contexts, errors.contexts[:3]
