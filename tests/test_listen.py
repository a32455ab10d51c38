"""Listening (IPv4, IPv6, Unix, port 0, SO_REUSEPORT) and outbound connect()."""
import os
import socket

import pytest
from support.net import has_ipv6, recv_exactly, recv_until_eof
from support.reactor import run_until

import cyreactor
from cyreactor.examples.echo import Echo


def test_port_zero_reports_the_bound_port(running):
    listener = running.call(running.reactor.listen, "127.0.0.1", 0, Echo)
    host, port = listener.sockname
    assert host == "127.0.0.1" and port > 0
    with socket.create_connection((host, port)) as s:
        s.sendall(b"ping")
        assert recv_exactly(s, 4) == b"ping"


@pytest.mark.skipif(not has_ipv6(), reason="this machine has no ::1")
def test_ipv6(running):
    listener = running.call(running.reactor.listen, "::1", 0, Echo)
    assert listener.sockname[0] == "::1"
    with socket.create_connection(("::1", listener.sockname[1])) as s:
        s.sendall(b"six")
        assert recv_exactly(s, 3) == b"six"


def test_unix_socket(running, tmp_path):
    path = str(tmp_path / "echo.sock")
    listener = running.call(running.reactor.listen_unix, path, Echo)
    assert listener.sockname == path
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(path)
        s.sendall(b"unix")
        assert recv_exactly(s, 4) == b"unix"
    running.call(listener.close)
    assert not os.path.exists(path)


def test_reuse_port_lets_two_listeners_share_a_port(running):
    first = running.call(lambda: running.reactor.listen("127.0.0.1", 0, Echo, reuse_port=True))
    port = first.sockname[1]
    second = running.call(lambda: running.reactor.listen("127.0.0.1", port, Echo, reuse_port=True))
    assert second.sockname[1] == port


def test_closed_listener_refuses_new_connections(running):
    listener = running.call(running.reactor.listen, "127.0.0.1", 0, Echo)
    addr = listener.sockname
    running.call(listener.close)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(addr, timeout=2)


def test_handler_factory_that_raises_costs_only_that_connection(running, errors):
    calls = []

    def factory():
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("factory boom")
        return Echo()

    errors.expect(1)
    listener = running.call(running.reactor.listen, "127.0.0.1", 0, factory)
    with socket.create_connection(listener.sockname) as s:
        s.settimeout(5)
        assert recv_until_eof(s) == b""
    with socket.create_connection(listener.sockname) as s:
        s.sendall(b"ok")
        assert recv_exactly(s, 2) == b"ok"
    assert isinstance(errors.contexts[0]["exception"], RuntimeError)


def test_connect_to_a_listener_on_the_same_reactor(reactor):
    """A reactor that can only serve cannot build a proxy: connect() and
    listen() on one reactor, one process, one thread."""
    replies = []

    class Client(cyreactor.Handler):
        def connection_made(self, conn):
            self.conn = conn
            self.buf = b""
            conn.write(b"hello over connect()")

        def data_received(self, data):
            self.buf += data
            if len(self.buf) == 20:
                replies.append(self.buf)
                self.conn.close()

        def connection_lost(self, exc):
            replies.append(("lost", exc))

    listener = reactor.listen("127.0.0.1", 0, Echo)
    conn = reactor.connect("127.0.0.1", listener.sockname[1], Client)
    assert isinstance(conn, cyreactor.Connection)
    run_until(reactor, lambda: len(replies) >= 2)
    assert replies == [b"hello over connect()", ("lost", None)]
    assert reactor.stats()["connected"] == 1


def test_connect_refused_reports_connection_lost_only(reactor):
    events = []

    class Client(cyreactor.Handler):
        def connection_made(self, conn):
            events.append("made")

        def connection_lost(self, exc):
            events.append(exc)

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: refused
        reactor.connect("127.0.0.1", port, Client)
        run_until(reactor, lambda: events)
    assert len(events) == 1 and isinstance(events[0], ConnectionRefusedError)


def test_write_before_connect_completes_is_sent(reactor):
    got = []

    class Sink(cyreactor.Handler):
        def data_received(self, data):
            got.append(data)

    listener = reactor.listen("127.0.0.1", 0, Sink)
    conn = reactor.connect("127.0.0.1", listener.sockname[1], cyreactor.Handler)
    conn.write(b"early")
    conn.close()
    run_until(reactor, lambda: b"".join(got) == b"early")


@pytest.mark.skipif(not has_ipv6(), reason="this machine has no ::1")
def test_connect_ipv6(reactor):
    done = []

    class Client(cyreactor.Handler):
        def connection_made(self, conn):
            done.append(conn.peername[0])
            conn.close()

    listener = reactor.listen("::1", 0, Echo)
    reactor.connect("::1", listener.sockname[1], Client)
    run_until(reactor, lambda: done)
    assert done == ["::1"]
