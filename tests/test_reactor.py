"""Reactor lifecycle, descriptor ownership, signals and counters."""
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from support.net import open_fds

import cyreactor


def fds():
    # listdir's own directory descriptor shows in the listing; drop it.
    return {int(n) for n in os.listdir("/proc/self/fd") if os.path.exists(f"/proc/self/fd/{n}")}


def fd_flags(fd):
    with open(f"/proc/self/fdinfo/{fd}") as f:
        for line in f:
            if line.startswith("flags:"):
                return int(line.split()[1], 8)
    raise AssertionError("no flags line")


def test_descriptors_are_close_on_exec_and_closed_once():
    before = fds()
    reactor = cyreactor.Reactor()
    listener = reactor.listen("127.0.0.1", 0, cyreactor.Handler)
    reactor.add_signal_handler(signal.SIGUSR2, lambda: None)
    new = fds() - before
    assert len(new) >= 5  # epoll, eventfd, listener, signal pipe (2)
    for fd in new:
        assert fd_flags(fd) & os.O_CLOEXEC, f"fd {fd} is not close-on-exec"
    assert listener.fileno() in new
    reactor.close()
    reactor.close()  # idempotent
    assert fds() == before
    assert reactor.is_closed() and listener.is_closed()
    assert signal.getsignal(signal.SIGUSR2) == signal.SIG_DFL


def test_context_manager_closes_connections_and_reports_them_lost():
    lost = []

    class H(cyreactor.Handler):
        def connection_lost(self, exc):
            lost.append(exc)

    import socket
    before = open_fds()
    with cyreactor.Reactor() as reactor:
        listener = reactor.listen("127.0.0.1", 0, H)
        clients = [socket.create_connection(listener.sockname) for _ in range(3)]
        while reactor.stats()["open"] < 3:
            reactor.run_once(0.1)
    assert lost == [None, None, None]
    for c in clients:
        c.settimeout(2)
        assert c.recv(1) == b""
        c.close()
    assert open_fds() == before


def test_closed_reactor_refuses_work():
    reactor = cyreactor.Reactor()
    reactor.close()
    with pytest.raises(RuntimeError):
        reactor.run()
    with pytest.raises(RuntimeError):
        reactor.listen("127.0.0.1", 0, cyreactor.Handler)
    with pytest.raises(RuntimeError):
        reactor.call_soon_threadsafe(print)


def test_run_once_honours_timeout(reactor):
    start = time.monotonic()
    reactor.run_once(0.1)
    elapsed = time.monotonic() - start
    assert 0.09 <= elapsed < 1.0


def test_listen_errors_are_oserrors_with_errno(reactor):
    listener = reactor.listen("127.0.0.1", 0, cyreactor.Handler)
    with pytest.raises(OSError) as info:
        reactor.listen("127.0.0.1", listener.sockname[1], cyreactor.Handler)
    import errno
    assert info.value.errno == errno.EADDRINUSE


def test_signal_handler_runs_on_the_reactor(reactor):
    fired = []
    reactor.add_signal_handler(signal.SIGUSR1, fired.append, "usr1")
    reactor.call_later(0.05, os.kill, os.getpid(), signal.SIGUSR1)
    deadline = time.monotonic() + 5
    while not fired:
        assert time.monotonic() < deadline
        reactor.run_once(0.5)
    assert fired == ["usr1"]
    assert reactor.remove_signal_handler(signal.SIGUSR1)
    assert not reactor.remove_signal_handler(signal.SIGUSR1)


def test_sigterm_stops_run_cleanly_in_a_process():
    script = textwrap.dedent("""
        import signal, sys, cyreactor
        r = cyreactor.Reactor()
        r.add_signal_handler(signal.SIGTERM, r.stop)
        r.add_signal_handler(signal.SIGINT, r.stop)
        print("ready", flush=True)
        r.run()
        r.close()
        print("stopped", flush=True)
    """)
    for signum in (signal.SIGTERM, signal.SIGINT):
        proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "ready"
        proc.send_signal(signum)
        out, _ = proc.communicate(timeout=10)
        assert proc.returncode == 0
        assert out.strip() == "stopped"


def test_ctrl_c_without_handler_raises_keyboard_interrupt_from_run():
    script = textwrap.dedent("""
        import cyreactor
        r = cyreactor.Reactor()
        print("ready", flush=True)
        try:
            r.run()
        except KeyboardInterrupt:
            print("interrupted", flush=True)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=10)
    assert out.strip() == "interrupted"


def test_stats_keys(reactor):
    stats = reactor.stats()
    for key in ("iterations", "events", "events_per_wait", "accepted", "open", "closed",
                "accept_errors", "emfile", "read_paused", "write_paused", "bytes_in",
                "bytes_out", "callback_errors"):
        assert key in stats
