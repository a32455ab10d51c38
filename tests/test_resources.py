"""Descriptor accounting: no leaks over many connections, EMFILE survival,
and user callbacks that raise costing only their own connection."""
import os
import socket
import subprocess
import sys
import textwrap
import time

from support.net import open_fds, recv_exactly, recv_until_eof
from support.reactor import wait_for

import cyreactor
from cyreactor.examples.echo import Echo


def test_no_descriptor_leak_after_10000_connect_close_cycles(running):
    listener = running.call(running.reactor.listen, "127.0.0.1", 0, Echo)
    addr = listener.sockname
    baseline = open_fds()
    for i in range(10_000):
        with socket.create_connection(addr) as s:
            if i % 2:
                s.sendall(b"x")
                assert s.recv(1) == b"x"
    deadline = time.monotonic() + 10
    while running.call(lambda: running.reactor.stats()["open"]) and time.monotonic() < deadline:
        time.sleep(0.05)
    stats = running.call(running.reactor.stats)
    assert stats["accepted"] == 10_000
    assert stats["closed"] == 10_000 and stats["open"] == 0
    assert open_fds() <= baseline


def test_raising_data_received_closes_only_its_connection(running, errors, caplog):
    class Fragile(Echo):
        def data_received(self, data):
            if data == b"boom":
                raise ValueError("handler boom")
            super().data_received(data)

    errors.expect(1)
    listener = running.call(running.reactor.listen, "127.0.0.1", 0, Fragile)
    with socket.create_connection(listener.sockname) as good, \
            socket.create_connection(listener.sockname) as bad:
        good.sendall(b"a")
        assert recv_exactly(good, 1) == b"a"
        bad.sendall(b"boom")
        bad.settimeout(5)
        assert recv_until_eof(bad) == b""
        good.sendall(b"still fine")
        assert recv_exactly(good, 10) == b"still fine"
    assert isinstance(errors.contexts[0]["exception"], ValueError)
    assert errors.contexts[0]["connection"] is not None
    assert running.call(running.reactor.stats)["callback_errors"] == 1


def test_raising_connection_lost_is_reported_once(running, errors):
    class Bad(cyreactor.Handler):
        def connection_lost(self, exc):
            raise RuntimeError("lost boom")

    errors.expect(1)
    listener = running.call(running.reactor.listen, "127.0.0.1", 0, Bad)
    with socket.create_connection(listener.sockname):
        pass
    wait_for(lambda: errors.contexts)
    time.sleep(0.05)
    assert len(errors.contexts) == 1


EMFILE_SERVER = textwrap.dedent("""
    import resource, sys, time, cyreactor

    class Echo(cyreactor.Handler):
        def connection_made(self, conn):
            self.conn = conn
        def data_received(self, data):
            self.conn.write(data)

    resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
    r = cyreactor.Reactor()
    listener = r.listen("127.0.0.1", 0, Echo, backlog=512)
    print(listener.sockname[1], flush=True)
    def report():
        s = r.stats()
        print(s["open"], s["emfile"], s["accepted"], flush=True)
    r.add_signal_handler(15, r.stop)
    import signal
    r.add_signal_handler(signal.SIGUSR1, report)
    r.run()
""")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_emfile_neither_spins_nor_crashes_and_recovers():
    import signal
    proc = subprocess.Popen([sys.executable, "-c", EMFILE_SERVER], stdout=subprocess.PIPE, text=True)
    try:
        port = int(proc.stdout.readline())
        addr = ("127.0.0.1", port)
        first = socket.create_connection(addr)
        first.sendall(b"a")
        assert recv_exactly(first, 1) == b"a"
        flood = []
        for _ in range(200):  # far past the 64-descriptor limit
            flood.append(socket.create_connection(addr, timeout=5))
        time.sleep(0.3)
        cpu_before = cpu_seconds(proc.pid)
        time.sleep(1.0)
        cpu_used = cpu_seconds(proc.pid) - cpu_before
        assert cpu_used < 0.3, f"the server spun at EMFILE ({cpu_used:.2f} s CPU in 1 s)"
        # Existing connections are still served.
        first.sendall(b"b")
        first.settimeout(5)
        assert recv_exactly(first, 1) == b"b"
        proc.send_signal(signal.SIGUSR1)
        open_count, emfile, accepted = map(int, proc.stdout.readline().split())
        assert emfile >= 1 and open_count < 64
        # Free descriptors: the backlog drains and the newest clients are served.
        for s in flood[:150]:
            s.close()
        for s in flood[150:]:
            s.sendall(b"c")
            s.settimeout(10)
            assert recv_exactly(s, 1) == b"c"
        fresh = socket.create_connection(addr, timeout=5)
        fresh.sendall(b"d")
        assert recv_exactly(fresh, 1) == b"d"
        fresh.close()
        for s in flood[150:]:
            s.close()
        first.close()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
