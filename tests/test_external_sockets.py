"""Listening sockets made outside the server (cyreactor.sockets): ``--fd``
from a parent that binds and execs, systemd socket activation (through
systemd's own ``systemd-socket-activate``), ``--uds`` with a mode, and one
inherited socket shared by ``--workers``."""
import fcntl
import os
import shutil
import socket
import stat
import subprocess
import sys
import threading
import time

import pytest
from support.haproxy import free_port
from support.http import GET, Reader, exchange

from cyreactor import sockets


def bound(port=0):
    sock = socket.create_server(("127.0.0.1", port))
    sock.set_inheritable(True)
    return sock


def test_fd_from_a_parent_that_binds_and_execs(demo):
    with bound() as sock:
        port = sock.getsockname()[1]
        d = demo("--fd", str(sock.fileno()), pass_fds=(sock.fileno(),))
    assert d.port == port                       # the socket's, not --port 0's
    assert exchange(port, GET)[0] == 200


def test_workers_share_one_inherited_socket(demo):
    with bound() as sock:
        d = demo("--fd", str(sock.fileno()), "--workers", "2", "--metrics-path", "/metrics",
                 pass_fds=(sock.fileno(),))
    assert len(d.children()) == 2
    for _ in range(20):
        assert exchange(d.port, GET)[0] == 200
    status, _, body = exchange(d.port, b"GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n")
    assert b"\ncyreactor_workers 2\n" in body
    assert b'cyreactor_http_responses_total{status_class="2xx"} 20\n' in body


def test_sharing_a_socket_with_a_worker_leaves_its_flags_alone():
    # Workers took their copy with socket.dup(), which re-applies the
    # original object's blocking mode to the one open file description all
    # share: a worker already serving then blocked in accept4() after its
    # next connection, holding it unanswered (found by
    # tests/test_deploy_files.py, now and then).
    with bound() as sock:                   # a blocking socket object
        flags = fcntl.fcntl(sock.fileno(), fcntl.F_GETFL)
        fcntl.fcntl(sock.fileno(), fcntl.F_SETFL, flags | os.O_NONBLOCK)      # a worker's reactor
        sockets.share(sock).close()
        assert fcntl.fcntl(sock.fileno(), fcntl.F_GETFL) & os.O_NONBLOCK
        sock.dup().close()
        assert not fcntl.fcntl(sock.fileno(), fcntl.F_GETFL) & os.O_NONBLOCK    # why share() exists


@pytest.fixture
def activator():
    path = shutil.which("systemd-socket-activate")
    if path is None:
        pytest.skip("systemd-socket-activate is not installed (apt-get install systemd)")
    return path


def test_systemd_socket_activation_with_two_sockets(demo, activator):
    ports = [free_port(), free_port()]
    # The activator starts the server on the first connection, as systemd
    # does for a socket unit.
    first = []

    def knock():
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                first.append(exchange(ports[1], GET)[0])
                return
            except ConnectionRefusedError:       # not bound yet
                time.sleep(0.05)

    client = threading.Thread(target=knock)
    launcher = [activator, "-l", f"127.0.0.1:{ports[0]}", "-l", f"127.0.0.1:{ports[1]}",
                "--fdname=web:admin", "-E", f"PYTHONPATH={os.environ.get('PYTHONPATH', '')}"]
    client.start()
    try:
        d = demo(launcher=launcher)
    finally:
        client.join(10)
    assert first == [200]
    assert d.port == ports[0]
    for port in ports:
        assert exchange(port, GET)[0] == 200


CHILD = """
import os, sys
from cyreactor import sockets
os.dup2(int(sys.argv[1]), sockets.SD_LISTEN_FDS_START)
env = {"LISTEN_PID": str(os.getpid() + 1), "LISTEN_FDS": "1"}
print(sockets.systemd_sockets(env), "LISTEN_FDS" in env)     # another process's
os.environ.update(LISTEN_PID=str(os.getpid()), LISTEN_FDS="1", LISTEN_FDNAMES="web")
print([(name, sock.getsockname()[0]) for name, sock in sockets.systemd_sockets()],
      "LISTEN_FDS" in os.environ)
"""


def test_systemd_variables_are_ours_only_when_the_pid_is():
    with bound() as sock:
        out = subprocess.run([sys.executable, "-c", CHILD, str(sock.fileno())], pass_fds=(sock.fileno(),),
                             capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == ["[] True", "[('web', '127.0.0.1')] False"]


def test_uds_with_a_mode_removed_at_exit(demo, tmp_path):
    path = str(tmp_path / "web.sock")
    d = demo("--uds", path, "--uds-mode", "600")
    assert d.unix == path
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(10)
        s.connect(path)
        s.sendall(GET)
        assert Reader(s).response()[0] == 200
    assert d.stop() == 0
    assert not os.path.exists(path)


def test_a_descriptor_that_is_not_a_socket_is_refused(tmp_path):
    with open(tmp_path / "f", "w") as f:
        with pytest.raises(ValueError, match="not a socket"):
            sockets.inherited(f.fileno())
