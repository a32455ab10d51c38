"""An app served as a user serves it: ``python -m cyreactor MODULE:ATTR`` or
``gunicorn -k cyreactor.gunicorn.Worker MODULE:ATTR`` as a subprocess on a
free port, the apps from tests/apps; its output collected as it comes."""
import os
import pathlib
import re
import signal
import subprocess
import sys
import threading
import time

import requests
from support.demo import stop_process

import cyreactor

APPS = str(pathlib.Path(__file__).resolve().parent.parent / "apps")
KINDS = ("cli", "gunicorn")
# The cyreactor under test, whatever the child's working directory.
SRC = str(pathlib.Path(cyreactor.__file__).resolve().parent.parent)


def _environ(extra):
    path = os.environ.get("PYTHONPATH")
    return dict(os.environ, PYTHONUNBUFFERED="1", PYTHONPATH=SRC + (os.pathsep + path if path else ""),
                **(extra or {}))


class AppServer:
    """``AppServer(spec, *flags, kind="cli", env=None)``: serving once made;
    ``url`` (``https`` when the server announced it), ``port``, ``output()``
    (stdout and stderr so far), ``stop()``."""

    def __init__(self, spec, *flags, kind="cli", env=None, timeout=20.0, pattern=None, pass_fds=()):
        environ = _environ(env)
        if kind == "gunicorn":
            argv = [sys.executable, "-m", "gunicorn", "-k", "cyreactor.gunicorn.Worker", "-b", "127.0.0.1:0",
                    "--pythonpath", APPS, "--log-level", "info", *flags, spec]
            pattern = r"Listening at: (https?)://127\.0\.0\.1:(\d+)"
        else:
            argv = [sys.executable, "-m", "cyreactor", spec, "--port", "0", "--app-dir", APPS, *flags]
            pattern = pattern or r"listening on (https?)://127\.0\.0\.1:(\d+)/"
        self.kind = kind
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     env=environ, cwd=APPS, pass_fds=pass_fds)
        self._lines = []
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.port = None
        deadline = time.monotonic() + timeout
        with self._cond:
            while self.port is None:
                for line in self._lines:
                    match = re.search(pattern, line)
                    if match:
                        port = match.group(match.lastindex)
                        self.scheme = match.group(1) if match.lastindex == 2 else "http"
                        self.port = int(port) if port.isdigit() else port
                        break
                else:
                    if self.proc.poll() is not None and not self._reader.is_alive():
                        break
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._cond.wait(min(left, 0.1))
        if self.port is None:
            self.stop(signal.SIGKILL)
            raise AssertionError(f"{' '.join(argv)} did not start:\n{self.output()}")
        self.url = f"{self.scheme}://127.0.0.1:{self.port}"

    def _read(self):
        for line in self.proc.stdout:
            with self._cond:
                self._lines.append(line)
                self._cond.notify_all()

    def output(self):
        with self._cond:
            return "".join(self._lines)

    def wait_output(self, text, timeout=5.0):
        """Waits until ``text`` has been printed; returns the output."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while text not in "".join(self._lines):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{text!r} not in the output:\n{''.join(self._lines)}")
                self._cond.wait(min(left, 0.1))
            return "".join(self._lines)

    def stop(self, sig=signal.SIGTERM, timeout=15.0):
        """Stops the server; returns its exit status."""
        try:
            return stop_process(self.proc, sig, timeout)
        finally:
            self._reader.join(5)
            self.proc.stdout.close()


def events(server):
    """What the test app (tests/apps/raw_*.py) recorded: its ``/events``."""
    return requests.get(server.url + "/events", timeout=10).json()


def wait_events(server, *wanted, timeout=5.0):
    """The app's events once each of ``wanted`` is a substring of one."""
    deadline = time.monotonic() + timeout
    while True:
        seen = events(server)
        if all(any(w in e for e in seen) for w in wanted):
            return seen
        assert time.monotonic() < deadline, f"{wanted} not in {seen}"
        time.sleep(0.05)


def run_cli(*args, env=None, timeout=20.0):
    """``python -m cyreactor *args`` to its end (for the start-up errors):
    (exit status, output)."""
    proc = subprocess.run([sys.executable, "-m", "cyreactor", *args], capture_output=True, text=True,
                          env=_environ(env), cwd=APPS, timeout=timeout)
    return proc.returncode, proc.stdout + proc.stderr
