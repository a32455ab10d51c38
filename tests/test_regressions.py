"""One named test per bug found by the hardening work (fuzzing, property and
differential tests, fault injection), each with where it was found."""
import time

import pytest
from support.http import GET, connect

from cyreactor._httpparser import HttpParseError, RequestParser, parse_requests
from cyreactor.http import Response


def refusal(data, cuts=(), **limits):
    p = RequestParser(**limits)
    last = 0
    with pytest.raises(HttpParseError) as info:
        for cut in list(cuts) + [len(data)]:
            p.feed(data[last:cut])
            last = cut
    return info.value.status, info.value.reason


def test_bare_lf_after_an_over_long_line_is_414_whole_or_split():
    # Fuzzer (fuzz/fuzz_parser.py, first minute): the memchr head scan looked
    # for a bare LF in the whole run before counting the run against the
    # limits, so the same bytes gave 400 "bare LF" whole and 414 when they
    # arrived a byte at a time.
    data = b"a" * 100 + b"\n"
    whole = refusal(data, max_request_line=64)
    assert whole == (414, "request-line too long")
    assert refusal(data, range(1, len(data)), max_request_line=64) == whole
    head = b"GET / HTTP/1.1\r\nX: " + b"v" * 300 + b"\n"
    assert refusal(head, max_head_size=256) == refusal(head, range(1, len(head)), max_head_size=256)
    assert refusal(head, max_head_size=256)[0] == 431
    # Within the limits a bare LF is still a bare LF.
    assert refusal(b"GET / HTTP/1.1\nHost: h\r\n\r\n") == (400, "bare LF")
    assert parse_requests(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")


def test_server_initiated_close_lingers_so_a_late_pipelined_request_cannot_reset_the_response(start, running):
    # tests/test_faults.py (half-closes): when the app ends a keep-alive
    # connection ("connection: close" on its response) the server closed at
    # once; the client's next request, pipelined a moment later, arrived as
    # unread input, close() answered it with a RST, and the client lost the
    # tail of a response it was still reading (RFC 9112 9.6). The server now
    # half-closes and lingers unless the client itself asked to close.
    big = bytes(range(256)) * 16384
    server = start(lambda req: Response(200, [("connection", "close")], big))
    sock, reader = connect(server.port)
    with sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        time.sleep(0.1)
        sock.sendall(GET)
        time.sleep(0.2)
        status, headers, body = reader.response()
        assert status == 200 and body == big
        assert reader.at_eof()


def test_call_later_before_run_counts_from_the_call():
    import cyreactor

    with cyreactor.Reactor() as r:
        time.sleep(0.3)                       # slow set-up before run()
        fired = []
        start = time.monotonic()
        r.call_later(0.3, lambda: fired.append(time.monotonic() - start))
        r.call_later(1.0, r.stop)
        r.run()
    assert fired and fired[0] >= 0.29, fired


def test_writes_before_a_keyboard_interrupt_in_data_received_are_delivered():
    """Bytes written in data_received() sit in the reactor's cork until the
    handler returns; a KeyboardInterrupt raised after the write used to drop
    them silently while the connection stayed open."""
    import socket

    import cyreactor

    class Interrupting(cyreactor.Handler):
        def connection_made(self, conn):
            self.conn = conn

        def data_received(self, data):
            self.conn.write(b"accepted")
            raise KeyboardInterrupt

    with cyreactor.Reactor() as reactor:
        listener = reactor.listen("127.0.0.1", 0, Interrupting)
        with socket.create_connection(listener.sockname, timeout=5) as client:
            client.sendall(b"go")
            try:
                while True:
                    reactor.run_once(1)
            except KeyboardInterrupt:
                pass
            assert client.recv(100) == b"accepted"


def test_set_timeout_late_in_a_long_batch_counts_from_the_call():
    """Deadlines used to count from the loop's cached clock (the start of the
    batch): a handler that ran 30 ms and then armed 50 ms fired 20 ms early,
    and the next one in the batch at once."""
    import socket

    import cyreactor

    early = []

    class Slow(cyreactor.Handler):
        def connection_made(self, conn):
            self.conn = conn

        def data_received(self, data):
            time.sleep(0.03)
            self.deadline = time.monotonic() + 0.05
            self.conn.set_timeout(0.05)

        def timeout_expired(self):
            early.append(self.deadline - time.monotonic())
            return False

    with cyreactor.Reactor() as r:
        port = r.listen("127.0.0.1", 0, Slow).sockname[1]
        a = socket.create_connection(("127.0.0.1", port))
        b = socket.create_connection(("127.0.0.1", port))
        while r.stats()["accepted"] < 2:
            r.run_once(0.1)
        a.send(b"x")
        b.send(b"x")
        r.call_later(0.5, r.stop)
        r.run()
        a.close()
        b.close()
    assert len(early) == 2
    assert max(early) <= 0.001, early


# ---- issue 8: the reactor (adversarial review and new-user trial) ----------------

import gc  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import textwrap  # noqa: E402
import threading  # noqa: E402
import warnings  # noqa: E402

import cyreactor  # noqa: E402
from support.net import open_fds, recv_until_eof  # noqa: E402
from support.reactor import run_until  # noqa: E402


class Keep(cyreactor.Handler):
    """Remembers its connection and what happened to it."""

    def __init__(self, sink=None):
        self.conn = None
        self.lost = []
        self.data = b""
        self.sink = sink

    def connection_made(self, conn):
        self.conn = conn
        if self.sink is not None:
            self.sink.append(self)

    def data_received(self, data):
        self.data += data

    def connection_lost(self, exc):
        self.lost.append(exc)


def accepted_pair(reactor):
    """(client socket, server-side Keep handler) over 127.0.0.1."""
    made = []
    listener = reactor.listen("127.0.0.1", 0, lambda: Keep(made))
    client = socket.create_connection(listener.sockname, timeout=5)
    run_until(reactor, lambda: made)
    return client, made[0], listener


def iterations_while_idle(reactor, seconds=0.5):
    before = reactor.stats()["iterations"]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        reactor.run_once(seconds)
    return reactor.stats()["iterations"] - before


def test_a_closed_socket_another_process_still_holds_does_not_spin_the_loop(reactor):
    # Issue 8.2: the descriptor was closed without EPOLL_CTL_DEL, so its
    # registration outlived it while a fork child held the socket, and every
    # later event carried a stale token: 1.6 M idle iterations in 2 s.
    client, handler, _ = accepted_pair(reactor)
    held = os.dup(handler.conn.fileno())       # what the fork child holds
    try:
        handler.conn.abort()
        run_until(reactor, lambda: handler.lost)
        client.sendall(b"readable now")
        assert iterations_while_idle(reactor) < 10
    finally:
        os.close(held)
        client.close()


def test_a_descriptor_closed_behind_the_reactors_back_heals_by_rebuilding_epoll(reactor, errors):
    # Issue 8.2, the self-healing half: a registration the reactor can no
    # longer remove is cleared by rebuilding the epoll set, once, and said.
    client, handler, _ = accepted_pair(reactor)
    fd = handler.conn.fileno()
    held = os.dup(fd)
    try:
        os.close(fd)                           # behind the reactor's back
        client.sendall(b"x")
        reactor.run_once(0.2)                  # the event still carries the old token
        other, handler2, _ = accepted_pair(reactor)   # may reuse fd
        errors.expect(len(errors.contexts))
        assert iterations_while_idle(reactor) < 10
        assert reactor.stats()["epoll_rebuilds"] <= 1
        other.sendall(b"still served")
        run_until(reactor, lambda: handler2.data == b"still served")
        other.close()
    finally:
        os.close(held)
        client.close()


def _drain_seconds(reactor, writes):
    """Queues ``writes`` small writes while nobody reads, then measures the
    CPU time (this process's: not what other processes take from a busy
    machine) the loop needs to hand them all to a reader that keeps up."""
    client, handler, _ = accepted_pair(reactor)
    conn = handler.conn
    # Small kernel buffers keep nearly everything in the reactor's queue.
    shared = socket.socket(fileno=os.dup(conn.fileno()))
    shared.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    shared.close()
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    for _ in range(writes):
        conn.write(b"0123456789")
    total = conn.get_write_buffer_size() + 0
    received = [0]

    def read():
        while received[0] < total:
            received[0] += len(client.recv(1 << 20))

    reader = threading.Thread(target=read)
    start = time.process_time()
    reader.start()
    while conn.get_write_buffer_size():
        reactor.run_once(0.01)
    took = time.process_time() - start
    reader.join(30)
    client.close()
    assert received[0] >= total
    return took


def test_draining_a_long_queue_of_small_writes_is_linear(reactor):
    # Issue 8.4: each 64-buffer sendmsg was followed by del wq[:64], moving
    # the whole rest of the queue: 3.2 M queued writes blocked the loop
    # 34 s. Thirty-two times the writes must cost about thirty-two times as
    # much (the quadratic drain cost over a hundred times as much here).
    small = min(_drain_seconds(reactor, 25_000) for _ in range(3))
    large = min(_drain_seconds(reactor, 800_000) for _ in range(2))
    assert large < 64 * small, (small, large)


def test_nan_delays_are_refused_and_never_hang_the_loop(reactor):
    # Issue 8.6: call_later(nan) put a NaN at the top of the timer heap and
    # epoll_wait got a negative timeout: run_once(0.5) never returned.
    with pytest.raises(ValueError):
        reactor.call_later(float("nan"), print)
    with pytest.raises(ValueError):
        reactor.call_at(float("nan"), print)
    with pytest.raises(ValueError):
        reactor.run_once(float("nan"))
    never = reactor.call_later(math.inf, print)     # asyncio accepts infinity: never fires
    start = time.monotonic()
    reactor.run_once(0.3)
    assert time.monotonic() - start < 2
    assert not never.cancelled()
    client, handler, _ = accepted_pair(reactor)
    with pytest.raises(ValueError):
        handler.conn.set_timeout(float("nan"))
    client.close()


def run_python(code, timeout=60):
    """Runs ``code`` in a fresh interpreter; the result of a crash is a
    negative return code (the signal)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=timeout, env=env)


def test_two_reactors_closed_in_creation_order_keep_signals_working():
    # Issue 8.7: closing the first reactor restored the wake-up descriptor
    # to "none" under the second one (whose SIGTERM handler then never
    # ran), its close() raised EBADF and left it open, and a later signal
    # wrote a byte into an unrelated socket that reused the descriptor.
    result = run_python("""
        import os, signal, socket, cyreactor
        r1 = cyreactor.Reactor(); r1.add_signal_handler(signal.SIGUSR1, print, "r1")
        r2 = cyreactor.Reactor(); seen = []
        r2.add_signal_handler(signal.SIGUSR1, seen.append, "r2")
        r1.close()
        os.kill(os.getpid(), signal.SIGUSR1)
        for _ in range(20):
            r2.run_once(0.1)
            if seen: break
        assert seen == ["r2"], seen
        r2.close()
        assert r1.is_closed() and r2.is_closed()
        a, b = socket.socketpair()      # may reuse the pipes' descriptors
        a.setblocking(False)
        signal.signal(signal.SIGUSR1, lambda *_: None)
        os.kill(os.getpid(), signal.SIGUSR1)
        try:
            stray = a.recv(10)
        except BlockingIOError:
            stray = b""
        assert stray == b"", stray
        assert signal.set_wakeup_fd(-1) == -1
        print("ok")
    """)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


def test_close_completes_with_an_abstract_unix_listener(reactor):
    # Issue 8.8: close() raised ValueError on "\0name" and left the reactor
    # half closed.
    reactor.listen_unix(f"\0cyreactor-test-{os.getpid()}", Keep)
    reactor.close()
    assert reactor.is_closed()


def test_close_refuses_new_work_and_reraises_keyboard_interrupt_after_finishing():
    # Issue 8.8: a connect() made from connection_lost during close() leaked
    # its descriptor and never got connection_lost; KeyboardInterrupt raised
    # there was swallowed.
    fds = open_fds()
    reactor = cyreactor.Reactor()
    errors = []
    reactor.set_exception_handler(lambda r, c: errors.append(c))

    class ConnectsWhenLost(Keep):
        def connection_lost(self, exc):
            reactor.connect("127.0.0.1", listener.sockname[1], Keep)

    class InterruptsWhenLost(Keep):
        def connection_lost(self, exc):
            raise KeyboardInterrupt

    handlers = iter([ConnectsWhenLost(), InterruptsWhenLost()])
    listener = reactor.listen("127.0.0.1", 0, lambda: next(handlers))
    clients = [socket.create_connection(listener.sockname) for _ in range(2)]
    run_until(reactor, lambda: reactor.stats()["open"] == 2)
    with pytest.raises(KeyboardInterrupt):
        reactor.close()
    assert reactor.is_closed()
    assert [type(c["exception"]) for c in errors] == [RuntimeError]
    for c in clients:
        assert recv_until_eof(c) == b""
        c.close()
    assert open_fds() == fds
    with pytest.raises(RuntimeError):
        reactor.call_later(1, print)


def test_write_eof_before_an_outbound_connection_is_established_is_kept(reactor):
    # Issue 8.9: the shutdown was lost when the connect completed.
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    for before in (b"", b"data first"):
        conn = reactor.connect("127.0.0.1", port, Keep)
        if before:
            conn.write(before)
        conn.write_eof()
        peer, _ = server.accept()
        with peer:
            peer.setblocking(False)
            got = None
            deadline = time.monotonic() + 5
            while got is None or got[-1:] != [b""]:
                assert time.monotonic() < deadline, f"no EOF after {got!r}"
                reactor.run_once(0.05)
                try:
                    got = (got or []) + [peer.recv(100)]
                except BlockingIOError:
                    pass
            assert b"".join(got) == before
    server.close()


def test_writelines_with_a_bad_item_queues_nothing(reactor):
    # Issue 8.9: the items before the bad one were queued without write
    # interest and sat unsent until some later write.
    client, handler, _ = accepted_pair(reactor)
    with pytest.raises(TypeError):
        handler.conn.writelines([b"early", 42])
    handler.conn.write(b"later")
    handler.conn.close()
    got = b""
    client.setblocking(False)
    while True:
        reactor.run_once(0.05)
        try:
            chunk = client.recv(100)
        except BlockingIOError:
            continue
        if not chunk:
            break
        got += chunk
    assert got == b"later"
    client.close()


def test_closing_the_listener_from_connection_made_reports_nothing(reactor):
    # Issue 8.10: an accept-one server got a spurious accept4() EBADF report
    # (the fixture fails the test on any report).
    class AcceptOne(Keep):
        def connection_made(self, conn):
            super().connection_made(conn)
            listener.close()

    listener = reactor.listen("127.0.0.1", 0, AcceptOne, backlog=16)
    clients = [socket.create_connection(listener.sockname) for _ in range(3)]
    for _ in range(5):
        reactor.run_once(0.05)
    assert listener.is_closed() and reactor.stats()["accepted"] == 1
    for c in clients:
        c.close()


def test_a_reactor_dropped_without_close_warns_and_closes_its_sockets():
    # Issue 8.11: its listening and connected sockets stayed open, silently.
    reactor = cyreactor.Reactor()
    client, handler, listener = accepted_pair(reactor)
    port = listener.sockname[1]
    del handler, listener
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        del reactor
        gc.collect()
    assert any(issubclass(w.category, ResourceWarning) for w in caught)
    client.settimeout(5)
    assert recv_until_eof(client) == b""
    client.close()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5)


def test_unix_socket_files_unlinked_only_if_ours_and_stale_ones_replaced(tmp_path):
    # Issue 8.11: Listener.close() deleted a newer server's socket file; a
    # stale file left by a crashed server stopped listen_unix (EADDRINUSE).
    path = str(tmp_path / "s.sock")
    with cyreactor.Reactor() as r1, cyreactor.Reactor() as r2:
        first = r1.listen_unix(path, Keep)
        os.unlink(path)
        r2.listen_unix(path, Keep)
        first.close()
        assert os.path.exists(path)            # r2's file stays
        with pytest.raises(OSError):           # and r2 is live: not stale
            r1.listen_unix(path, Keep)
    assert not os.path.exists(path)
    crashed = socket.socket(socket.AF_UNIX)
    crashed.bind(path)
    crashed.close()                            # the file stays, nobody listens
    with cyreactor.Reactor() as r:
        r.listen_unix(path, Keep)
    regular = tmp_path / "regular"
    regular.write_text("data")
    with cyreactor.Reactor() as r, pytest.raises(OSError):
        r.listen_unix(str(regular), Keep)
    assert regular.read_text() == "data"


def _unanswered_address():
    """A listener whose accept queue is full: one more connect stays in
    SYN_SENT (Linux drops the SYN) until it times out."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    fillers = []
    for _ in range(3):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(server.getsockname())
        fillers.append(s)
    time.sleep(0.1)
    return server, fillers


def test_connect_timeout_fails_the_connect_without_calling_other_methods(reactor):
    # Issue 8.17: timeout_expired() was called on a handler whose
    # connection_made() never ran.
    class Strict(Keep):
        def timeout_expired(self):
            raise AssertionError("timeout_expired before connection_made")

    server, fillers = _unanswered_address()
    try:
        handler = Strict()
        reactor.connect("127.0.0.1", server.getsockname()[1], lambda: handler, timeout=0.3)
        other = Strict()
        conn = reactor.connect("127.0.0.1", server.getsockname()[1], lambda: other)
        conn.set_timeout(0.3)
        run_until(reactor, lambda: handler.lost and other.lost)
        assert handler.conn is None and other.conn is None
        assert isinstance(handler.lost[0], TimeoutError) and isinstance(other.lost[0], TimeoutError)
    finally:
        for s in fillers + [server]:
            s.close()


def test_call_later_after_close_raises_and_stop_from_another_thread_wakes_the_loop():
    # Issue 8.18: call_later after close() was accepted silently (while
    # call_soon_threadsafe raised); stop() from a thread took 3 s.
    reactor = cyreactor.Reactor()
    reactor.call_later(30, print)
    threading.Timer(0.2, reactor.stop).start()
    start = time.monotonic()
    reactor.run()
    assert time.monotonic() - start < 2
    reactor.close()
    for call in (reactor.call_soon, reactor.call_soon_threadsafe):
        with pytest.raises(RuntimeError):
            call(print)
    for call in (reactor.call_later, reactor.call_at):
        with pytest.raises(RuntimeError):
            call(1, print)


def test_an_async_def_handler_method_is_reported_not_dropped(reactor, errors):
    # Issue 8.19: the coroutine was never awaited and the client waited
    # for ever.
    class AsyncEcho(Keep):
        async def data_received(self, data):
            self.conn.write(data)

    listener = reactor.listen("127.0.0.1", 0, AsyncEcho)
    client = socket.create_connection(listener.sockname, timeout=5)
    client.sendall(b"hello")
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)     # "never awaited"
        run_until(reactor, lambda: errors.contexts)
        gc.collect()
    errors.expect(1)
    exc = errors.contexts[0]["exception"]
    assert isinstance(exc, TypeError) and "coroutine" in str(exc) and "async def" in str(exc)
    assert recv_until_eof(client) == b""      # the connection is closed, not left hanging
    client.close()


def test_set_timeout_is_a_documented_one_shot_deadline(reactor):
    # Issue 8.20: returned an undocumented int; returning True from
    # timeout_expired() left it disarmed without saying so.
    fired = []

    class Timed(Keep):
        def connection_made(self, conn):
            super().connection_made(conn)
            assert conn.set_timeout(0.05) is None

        def timeout_expired(self):
            fired.append(time.monotonic())
            if len(fired) == 1:
                self.conn.set_timeout(0.05)     # re-armed explicitly
            return True

    listener = reactor.listen("127.0.0.1", 0, Timed)
    client = socket.create_connection(listener.sockname, timeout=5)
    run_until(reactor, lambda: len(fired) == 2)
    for _ in range(6):
        reactor.run_once(0.05)
    assert len(fired) == 2                      # kept, and disarmed after the second
    assert "one-shot" in cyreactor.Connection.set_timeout.__doc__
    client.close()


def test_input_held_after_a_bodys_last_byte_still_ends_the_request(loop):
    # tests/test_app_wsgi.py (--threads, 300 kB uploads hung): input held
    # back (here by an async on_body) right after the last byte of a body
    # was resumed from the stash only; with nothing stashed, the parser's
    # pending end of request was never reported and the response never came.
    import asyncio

    from cyreactor import http

    class Count(http.RequestHandler):
        size = 0

        async def on_body(self, chunk):
            await asyncio.sleep(0)
            self.size += len(chunk)

        def on_complete(self):
            self.response.send(http.Response(200, body=b"%d" % self.size))

    port = loop.serve(Count).port
    sock, reader = connect(port)
    for n in (1, 300000):
        sock.sendall(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % n + b"b" * n)
        assert reader.response()[2] == b"%d" % n
    sock.close()


def test_an_asgi_body_that_fills_the_buffer_while_the_app_waits_is_handed_over_once(loop):
    # tests/test_app_frameworks.py (Django's ASGI handler, 10 MiB upload:
    # InvalidStateError, the connection closed): a body piece that filled
    # the app's buffer while it waited in receive() was handed over from
    # inside the parsing, which resumed input there and then; the request's
    # end, reported by that nested parsing, resolved the same waiter first.
    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        sizes = []
        while True:
            message = await receive()
            sizes.append(len(message["body"]))
            if not message["more_body"]:
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"%d" % sum(sizes)})

    port = loop.serve(app, interface="asgi").port
    sock, reader = connect(port)
    for n in (100000, 70000):
        sock.sendall(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % n)
        time.sleep(0.1)          # the app is waiting in receive() when the body comes
        sock.sendall(b"b" * n)
        assert reader.response()[2] == b"%d" % n
    sock.close()
