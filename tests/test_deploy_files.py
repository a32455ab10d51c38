"""The files in deploy/ that are not run by tests/test_behind_proxies.py:
the systemd units are run (the service's command line under
systemd-socket-activate with the socket unit's address), the Kubernetes
manifest is checked against the server's flags."""
import configparser
import os
import pathlib
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest
from support.haproxy import free_port
from support.http import exchange

from cyreactor.__main__ import build_parser

DEPLOY = pathlib.Path(__file__).resolve().parents[1] / "deploy"
SUPERVISOR_SLACK = 5.0          # cyreactor.runner: stop_timeout = drain + shutdown + 5


def unit(name):
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str
    parser.read_string((DEPLOY / name).read_text())
    return parser


def server_args(argv):
    assert argv[:2] == ["-m", "cyreactor"] or argv[1:3] == ["-m", "cyreactor"], argv
    return build_parser().parse_args(argv[argv.index("cyreactor") + 1:])


def test_the_kubernetes_manifest_agrees_with_the_flags():
    yaml = pytest.importorskip("yaml")
    deployment, service = yaml.safe_load_all((DEPLOY / "kubernetes.yaml").read_text())
    pod = deployment["spec"]["template"]["spec"]
    container, = pod["containers"]
    args = server_args(container["command"] + container["args"])
    assert container["readinessProbe"]["httpGet"]["path"] == args.health_path
    assert container["ports"][0]["containerPort"] == args.port
    assert deployment["spec"]["template"]["metadata"]["annotations"]["prometheus.io/path"] == args.metrics_path
    assert pod["terminationGracePeriodSeconds"] >= args.drain_delay + args.shutdown_timeout + SUPERVISOR_SLACK
    assert args.keepalive_timeout > 60          # above the usual balancers' idle timeouts
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]


def test_the_systemd_units_serve_and_stop_in_time():
    activator = shutil.which("systemd-socket-activate")
    if activator is None:
        pytest.skip("systemd-socket-activate is not installed (apt-get install systemd)")
    sock_unit, service = unit("cyreactor.socket"), unit("cyreactor.service")
    listen = sock_unit["Socket"]["ListenStream"]
    assert listen.startswith("127.0.0.1:")
    argv = shlex.split(service["Service"]["ExecStart"])
    args = server_args(argv)
    assert float(service["Service"]["TimeoutStopSec"]) >= args.drain_delay + args.shutdown_timeout + SUPERVISOR_SLACK
    port = free_port()
    env = f"PYTHONPATH={os.environ.get('PYTHONPATH', '')}"
    proc = subprocess.Popen([activator, "-l", f"127.0.0.1:{port}",
                             f"--fdname={sock_unit['Socket']['FileDescriptorName']}", "-E", env,
                             sys.executable, *argv[1:]],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 10
        while True:                         # the first connection starts the service
            try:
                status = exchange(port, f"GET {args.health_path} HTTP/1.1\r\nHost: t\r\n\r\n".encode())[0]
                break
            except ConnectionRefusedError:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        assert status == 200
        body = exchange(port, f"GET {args.metrics_path} HTTP/1.1\r\nHost: t\r\n\r\n".encode())[2]
        assert b"\ncyreactor_workers 2\n" in body
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)            # KillMode=mixed: the main process only
        assert proc.wait(float(service["Service"]["TimeoutStopSec"])) == 0
        assert args.drain_delay <= time.monotonic() - t0
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=1).recv(1)
    except BaseException:
        proc.kill()
        raise AssertionError(f"the service said: {proc.communicate(timeout=30)[1][-3000:]}")
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=30)
