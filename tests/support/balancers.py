"""nginx and HAProxy, run in the foreground from the files in deploy/ with
their ports rewritten, in front of cyreactor instances; and a bounded
client load through them that counts what failed."""
import http.client
import pathlib
import shutil
import threading
import time

import pytest
from support.haproxy import free_port, start_listening, stop_collecting

DEPLOY = pathlib.Path(__file__).resolve().parents[2] / "deploy"
UPSTREAMS = ("127.0.0.1:8001", "127.0.0.1:8002", "127.0.0.1:8003")


def _render(name, listen_port, upstream_ports, listen_line):
    """deploy/NAME with the test's ports, listening on 127.0.0.1 only."""
    text = (DEPLOY / name).read_text()
    for address, port in zip(UPSTREAMS, upstream_ports, strict=True):
        assert address in text, f"deploy/{name} no longer names {address}"
        text = text.replace(address, f"127.0.0.1:{port}")
    line, replacement = listen_line
    assert text.count(line) == 1, f"deploy/{name}: its listen line moved"
    return text.replace(line, replacement.format(port=listen_port))


class Balancer:
    """``with Nginx(tmp_path, ports) as lb:`` -- ``lb.port`` is where it
    listens. Skips the test when the program is not installed."""

    program = ""
    config_name = ""
    listen_line = ("", "")      # the listen line in the file, and the test's

    def __init__(self, directory, upstream_ports):
        self.binary = shutil.which(self.program) or shutil.which(f"/usr/sbin/{self.program}")
        if self.binary is None:
            pytest.skip(f"{self.program} is not installed (apt-get install {self.program})")
        self.dir = directory
        self.port = free_port()
        self.config = directory / self.config_name
        self.config.write_text(_render(self.config_name, self.port, upstream_ports, self.listen_line))
        self.proc = None
        self.output = ""

    def argv(self):
        raise NotImplementedError

    def __enter__(self):
        self.proc = start_listening(self.argv(), (self.port,), self.program)
        return self

    def __exit__(self, *exc):
        self.output = stop_collecting(self.proc)


class Nginx(Balancer):
    program = "nginx"
    config_name = "nginx.conf"
    listen_line = ("listen 8080;", "listen 127.0.0.1:{port};")

    def argv(self):
        # -p: every relative path (temp files) under the test's directory;
        # -e and -g: no log or pid file outside it.
        for sub in ("client_body_temp", "proxy_temp", "fastcgi_temp", "uwsgi_temp", "scgi_temp"):
            (self.dir / sub).mkdir(exist_ok=True)
        return [self.binary, "-p", str(self.dir), "-c", str(self.config), "-e", str(self.dir / "error.log"),
                "-g", f"daemon off; pid {self.dir}/nginx.pid;"
                      f" error_log {self.dir}/error.log warn;"]


class HAProxyHttp(Balancer):
    program = "haproxy"
    config_name = "haproxy.cfg"
    listen_line = ("bind 127.0.0.1:8080", "bind 127.0.0.1:{port}")

    def argv(self):
        return [self.binary, "-db", "-f", str(self.config)]


class Load:
    """``clients`` threads, each on one keep-alive connection to ``port``
    (reconnecting when it is closed), GET / until ``stop()``, ``total``
    requests sent or ``seconds`` passed, whichever comes first. ``sent``,
    ``failed`` (with ``errors``) and ``ok`` count them."""

    def __init__(self, port, *, total, seconds, clients=4):
        self.port, self.total, self.deadline = port, total, time.monotonic() + seconds
        self.sent = self.ok = self.failed = 0
        self.errors = []
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._client, daemon=True) for _ in range(clients)]

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def stop(self):
        self.total = 0
        self.join()

    def join(self):
        for t in self.threads:
            t.join(max(1.0, self.deadline - time.monotonic() + 10))

    def _take(self):
        with self.lock:
            if self.sent >= self.total or time.monotonic() > self.deadline:
                return False
            self.sent += 1
            return True

    def _client(self):
        conn = None
        while self._take():
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                conn.request("GET", "/")
                response = conn.getresponse()
                body = response.read()
                good = response.status == 200 and body == b"Hello! I am an epoll server."
                if response.will_close:
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException) as exc:
                good, body = False, repr(exc)
                if conn is not None:
                    conn.close()
                conn = None
            with self.lock:
                if good:
                    self.ok += 1
                else:
                    self.failed += 1
                    self.errors.append(body)
        if conn is not None:
            conn.close()
