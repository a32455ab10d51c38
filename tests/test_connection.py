"""Connection behaviour over real loopback sockets: integrity, flow control,
half-close, resets, close/abort semantics, per-connection timeouts."""
import hashlib
import os
import random
import socket
import struct
import threading
import time

import pytest
from support.net import recv_exactly, recv_until_eof
from support.reactor import ReactorThread, run_until, wait_for

import cyreactor
from cyreactor.examples.echo import BufferedEcho, Echo


class Recorder(cyreactor.Handler):
    """Records every callback; echoes if asked."""

    def __init__(self, echo=False, keep_open_on_eof=False):
        self.echo = echo
        self.keep_open_on_eof = keep_open_on_eof
        self.events = []
        self.data = bytearray()
        self.conn = None
        self.lost = threading.Event()

    def connection_made(self, conn):
        self.conn = conn
        self.events.append("made")

    def data_received(self, data):
        assert isinstance(data, bytes)
        self.data += data
        if self.echo:
            self.conn.write(data)

    def eof_received(self):
        self.events.append("eof")
        return self.keep_open_on_eof

    def pause_writing(self):
        self.events.append("pause")

    def resume_writing(self):
        self.events.append("resume")

    def connection_lost(self, exc):
        self.events.append(("lost", exc))
        self.lost.set()


def serve(running, factory, host="127.0.0.1"):
    listener = running.call(running.reactor.listen, host, 0, factory)
    return listener.sockname[:2]


@pytest.mark.parametrize("handler", [Echo, BufferedEcho])
def test_echo_integrity_100_concurrent_connections(running, handler):
    # BufferedEcho shares one receive buffer among all connections: what one
    # connection could not send at once must have been copied out of it.
    addr = serve(running, handler)
    rng = random.Random(1234)
    sizes = [1, 2, 7, 100, 1024, 4096, 65535, 65536, 65537, 300_000, 1 << 20, 3 * (1 << 20) + 17]
    payloads = [rng.randbytes(sizes[i % len(sizes)]) for i in range(100)]
    failures = []

    def client(payload):
        try:
            with socket.create_connection(addr, timeout=30) as s:
                sender = threading.Thread(target=s.sendall, args=(payload,))
                sender.start()
                got = recv_exactly(s, len(payload))
                sender.join()
                if hashlib.sha256(got).digest() != hashlib.sha256(payload).digest():
                    failures.append(len(payload))
        except Exception as exc:  # reported below
            failures.append(repr(exc))

    threads = [threading.Thread(target=client, args=(p,)) for p in payloads]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not failures
    stats = running.call(running.reactor.stats)
    assert stats["accepted"] == 100
    assert stats["bytes_in"] == stats["bytes_out"] == sum(map(len, payloads))


def test_large_write_to_slow_reader_pauses_and_resumes_without_loss(running):
    """write() far beyond the socket buffer: the rest queues, pause_writing
    fires, and once the peer reads, resume_writing fires and every byte
    arrives in order."""
    handlers = []
    payload = b"".join(struct.pack(">I", i) for i in range(4_000_000))  # 16 MB, ordered

    def factory():
        h = Recorder()
        handlers.append(h)
        return h

    addr = serve(running, factory)
    with socket.create_connection(addr) as s:
        wait_for(lambda: handlers and handlers[0].conn is not None)
        h = handlers[0]
        # Written in pieces so the queue holds many buffers (exercises sendmsg).
        running.call(lambda: [h.conn.write(payload[i:i + 200_000]) for i in range(0, len(payload), 200_000)])
        queued = running.call(h.conn.get_write_buffer_size)
        assert queued > 1_000_000
        assert "pause" in h.events
        time.sleep(0.2)  # a slow reader
        got = recv_exactly(s, len(payload))
        assert got == payload
        wait_for(lambda: "resume" in h.events)
        assert running.call(h.conn.get_write_buffer_size) == 0
    assert h.events.index("pause") < h.events.index("resume")


def test_writelines_sends_everything_in_order(running):
    class Writer(cyreactor.Handler):
        def connection_made(self, conn):
            conn.writelines([b"a" * 10, bytearray(b"b" * 70000), memoryview(b"c" * 5), b""])
            conn.write_eof()

    with socket.create_connection(serve(running, Writer)) as s:
        assert recv_until_eof(s) == b"a" * 10 + b"b" * 70000 + b"c" * 5


def test_bulk_reads_reach_data_received_whole_each_in_a_bytes_of_its_own(errors):
    # A read that fills the reactor's buffer switches the connection to
    # receiving straight into the bytes objects data_received() gets: each
    # must hold its own piece of the stream (kept pieces do not change),
    # through short reads, a small message after a bulk one, and EOF.
    reactor = cyreactor.Reactor(read_buffer_size=4096)
    reactor.set_exception_handler(errors)
    rt = ReactorThread(reactor).start()
    pieces = []

    class Keeper(Recorder):
        def data_received(self, data):
            pieces.append(data)
            super().data_received(data)

    h = Keeper()
    try:
        addr = serve(rt, lambda: h)
        bulk = random.Random(7).randbytes((1 << 20) + 4097)
        with socket.create_connection(addr) as s:
            s.sendall(bulk)
            wait_for(lambda: len(h.data) == len(bulk))
            s.sendall(b"tail")
            wait_for(lambda: len(h.data) == len(bulk) + 4)
            s.sendall(bulk[:5000])
            s.shutdown(socket.SHUT_WR)
            assert h.lost.wait(5)
    finally:
        rt.stop()
        reactor.close()
    assert all(type(p) is bytes for p in pieces) and max(map(len, pieces)) == 4096
    assert b"".join(pieces) == bytes(h.data) == bulk + b"tail" + bulk[:5000]
    assert h.events == ["made", "eof", ("lost", None)]


def test_peer_half_close_then_server_replies_and_closes(running):
    h = Recorder(keep_open_on_eof=True)
    addr = serve(running, lambda: h)
    with socket.create_connection(addr) as s:
        s.sendall(b"request")
        s.shutdown(socket.SHUT_WR)
        wait_for(lambda: "eof" in h.events)
        # The connection stays open for writing after EOF because
        # eof_received() returned True.
        running.call(h.conn.write, b"reply")
        running.call(h.conn.close)
        assert recv_until_eof(s) == b"reply"
    assert h.lost.wait(5)
    assert h.events == ["made", "eof", ("lost", None)]
    assert bytes(h.data) == b"request"


def test_peer_eof_closes_by_default(running):
    h = Recorder()
    addr = serve(running, lambda: h)
    with socket.create_connection(addr) as s:
        s.sendall(b"x")
        s.shutdown(socket.SHUT_WR)
        assert recv_until_eof(s) == b""
    assert h.lost.wait(5)
    assert h.events == ["made", "eof", ("lost", None)]


def test_server_write_eof_half_closes(running):
    class Greeter(Recorder):
        def connection_made(self, conn):
            super().connection_made(conn)
            conn.write(b"hello")
            conn.write_eof()

    h = Greeter(echo=False, keep_open_on_eof=False)
    addr = serve(running, lambda: h)
    with socket.create_connection(addr) as s:
        assert recv_until_eof(s) == b"hello"   # server's side is shut
        s.sendall(b"still listening")          # ours is still open
        s.shutdown(socket.SHUT_WR)
        assert h.lost.wait(5)
    assert bytes(h.data) == b"still listening"
    assert h.events[-1] == ("lost", None)


def test_peer_reset_reports_connection_lost_once(running):
    h = Recorder()
    addr = serve(running, lambda: h)
    s = socket.create_connection(addr)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.sendall(b"data")
    wait_for(lambda: h.data)
    s.close()  # RST
    assert h.lost.wait(5)
    time.sleep(0.1)
    lost = [e for e in h.events if isinstance(e, tuple)]
    assert len(lost) == 1
    assert isinstance(lost[0][1], ConnectionResetError)


def test_write_to_reset_peer_reports_loss(running):
    h = Recorder()
    addr = serve(running, lambda: h)
    s = socket.create_connection(addr)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    wait_for(lambda: h.conn is not None)
    s.close()
    time.sleep(0.1)

    def write_a_lot():
        for _ in range(20):
            h.conn.write(b"x" * 100_000)

    running.call(write_a_lot)
    assert h.lost.wait(5)
    lost = [e for e in h.events if isinstance(e, tuple)]
    assert len(lost) == 1 and isinstance(lost[0][1], (ConnectionResetError, BrokenPipeError))


def test_close_flushes_queued_data_then_closes(running):
    # As in asyncio: what is written after close() but before the close
    # completes still goes out, in order; after the close, nothing does.
    payload = os.urandom(5_000_000)

    class Sender(Recorder):
        def connection_made(self, conn):
            super().connection_made(conn)
            conn.write(payload)
            conn.close()
            assert conn.is_closing()
            conn.write(b"written while closing")

        def connection_lost(self, exc):
            self.conn.write(b"ignored once closed")
            super().connection_lost(exc)

    h = Sender()
    addr = serve(running, lambda: h)
    with socket.create_connection(addr) as s:
        time.sleep(0.2)
        assert recv_until_eof(s) == payload + b"written while closing"
    assert h.lost.wait(5)
    assert h.events[-1] == ("lost", None)


def test_abort_drops_queue_and_closes_now(running):
    class Aborter(Recorder):
        def connection_made(self, conn):
            super().connection_made(conn)
            conn.write(b"x" * 10_000_000)
            conn.abort()

    h = Aborter()
    addr = serve(running, lambda: h)
    with socket.create_connection(addr) as s:
        s.settimeout(5)
        received = 0
        try:
            while True:
                chunk = s.recv(1 << 20)
                if not chunk:
                    break
                received += len(chunk)
        except ConnectionResetError:
            pass
        assert received < 10_000_000
    assert h.lost.wait(5)
    assert h.events == ["made", "pause", ("lost", None)]


def test_connection_lost_not_called_inside_the_closing_callback(running):
    order = []

    class Closer(cyreactor.Handler):
        def connection_made(self, conn):
            self.conn = conn

        def data_received(self, data):
            self.conn.close()
            order.append("after close")

        def connection_lost(self, exc):
            order.append("lost")

    addr = serve(running, Closer)
    with socket.create_connection(addr) as s:
        s.sendall(b"x")
        assert recv_until_eof(s) == b""
    wait_for(lambda: len(order) >= 2)
    assert order == ["after close", "lost"]


def test_pause_and_resume_reading(running):
    h = Recorder()
    addr = serve(running, lambda: h)
    with socket.create_connection(addr) as s:
        wait_for(lambda: h.conn is not None)
        running.call(h.conn.pause_reading)
        assert not running.call(h.conn.is_reading)
        s.sendall(b"while paused")
        time.sleep(0.2)
        assert h.data == b""
        running.call(h.conn.resume_reading)
        wait_for(lambda: h.data == b"while paused")


def test_paused_connection_whose_peer_vanishes_does_not_spin(running):
    h = Recorder()
    addr = serve(running, lambda: h)
    s = socket.create_connection(addr)
    wait_for(lambda: h.conn is not None)
    running.call(h.conn.pause_reading)
    s.close()
    before = running.call(running.reactor.stats)["iterations"]
    time.sleep(0.3)
    after = running.call(running.reactor.stats)["iterations"]
    assert after - before < 20, "the reactor spun on a paused, hung-up connection"
    running.call(h.conn.resume_reading)
    assert h.lost.wait(5)


def test_set_timeout_expires_idle_connection(running):
    class Idle(Recorder):
        def connection_made(self, conn):
            super().connection_made(conn)
            conn.set_timeout(0.2)

        def data_received(self, data):
            super().data_received(data)
            self.conn.set_timeout(0.2)

    handlers = []

    def factory():
        handlers.append(Idle())
        return handlers[-1]

    addr = serve(running, factory)
    with socket.create_connection(addr) as busy, socket.create_connection(addr) as idle:
        start = time.monotonic()
        for _ in range(6):  # keeps the busy one alive past several timeouts
            busy.sendall(b"ping")
            time.sleep(0.1)
        assert recv_until_eof(idle) == b""
        assert time.monotonic() - start >= 0.19
        busy_handler = next(h for h in handlers if h.data)
        assert not busy_handler.lost.is_set()
    idle_handler = next(h for h in handlers if not h.data)
    assert idle_handler.lost.wait(5)
    assert isinstance(idle_handler.events[-1][1], TimeoutError)
    assert running.call(running.reactor.stats)["timeouts"] >= 1


def test_timeout_expired_returning_true_keeps_connection(running):
    class Patient(Recorder):
        fired = 0

        def connection_made(self, conn):
            super().connection_made(conn)
            conn.set_timeout(0.05)

        def timeout_expired(self):
            self.fired += 1
            self.conn.write(b"still here")
            return True

    h = Patient()
    addr = serve(running, lambda: h)
    with socket.create_connection(addr) as s:
        assert recv_exactly(s, 10) == b"still here"
        time.sleep(0.15)
        assert h.fired == 1 and not h.lost.is_set()


def test_peername_sockname_fileno(running):
    h = Recorder()
    addr = serve(running, lambda: h)
    with socket.create_connection(addr) as s:
        wait_for(lambda: h.conn is not None)
        assert running.call(lambda: h.conn.peername) == s.getsockname()
        assert running.call(lambda: h.conn.sockname) == s.getpeername()
        assert running.call(h.conn.fileno) > 2
        assert running.call(lambda: h.conn.get_extra_info("peername")) == s.getsockname()


def test_write_rejects_non_bytes(running):
    h = Recorder()
    addr = serve(running, lambda: h)
    with socket.create_connection(addr):
        wait_for(lambda: h.conn is not None)
        with pytest.raises(TypeError):
            running.call(h.conn.write, "text is not bytes")
        with pytest.raises(TypeError):
            running.call(h.conn.write, 12)


def test_many_distinct_timeout_durations_stay_correct(running):
    """Each connection with its own duration: every one expires in order."""
    handlers = []

    class Timed(Recorder):
        def connection_made(self, conn):
            super().connection_made(conn)
            conn.set_timeout(0.05 + 0.005 * len(handlers))

    def factory():
        handlers.append(Timed())
        return handlers[-1]

    listener = running.call(running.reactor.listen, "127.0.0.1", 0, factory)
    clients = [socket.create_connection(listener.sockname) for _ in range(40)]
    try:
        deadline = time.monotonic() + 10
        while len(handlers) < 40 or not all(h.lost.is_set() for h in handlers):
            assert time.monotonic() < deadline, "some timeouts never fired"
            time.sleep(0.02)
        assert all(isinstance(h.events[-1][1], TimeoutError) for h in handlers)
    finally:
        for c in clients:
            c.close()


def test_writes_from_callbacks_keep_their_order_across_sizes_and_end_with_close(reactor):
    # Small writes made outside the connection's own read event are
    # coalesced until the end of the loop iteration (one sendmsg); large
    # ones go out at once after them. Order, completeness and close() must
    # not notice.
    made = []

    class Keep(cyreactor.Handler):
        def connection_made(self, conn):
            made.append(conn)

    listener = reactor.listen("127.0.0.1", 0, Keep)
    client = socket.create_connection(listener.sockname, timeout=5)
    run_until(reactor, lambda: made)
    conn = made[0]
    pieces = [os.urandom(n) for n in (10, 9000, 3, 70000, 1, 8192, 8193, 5)]

    def write_all():
        for piece in pieces:
            conn.write(piece)
        conn.write_eof()
        conn.close()

    reactor.call_soon(write_all)
    got = []

    def drain():
        try:
            chunk = client.recv(1 << 20)
        except BlockingIOError:
            return False
        got.append(chunk)
        return chunk == b""

    client.setblocking(False)
    deadline = time.monotonic() + 10
    while not (got and got[-1] == b""):
        assert time.monotonic() < deadline
        reactor.run_once(0.01)
        drain()
    assert b"".join(got) == b"".join(pieces)
    client.close()
