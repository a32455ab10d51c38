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
