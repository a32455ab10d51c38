"""A server under ``valgrind --tool=callgrind``, for the *_callgrind.py
scripts: windows bracketed by ``callgrind_control --zero`` and ``--dump``
(start-up and warm-up stay outside them), and the instructions each window
counted. Callgrind follows one process: multi-process servers must run as
one (nginx's ``master_process off``)."""
import glob
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

from harness import HOST
from harness.procs import free_port, server_argv, server_env


def wait_listening(port, proc, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("the server exited")
        try:
            socket.create_connection((HOST, port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("the server never listened")


class CallgrindServer:
    """One start of one peer under callgrind, as a context manager; ``port``
    is where it listens once the ``with`` body runs."""

    def __init__(self, peer, values=None, keep=False):
        self.peer = peer
        self.values = {"python": sys.executable, **(values or {})}
        self.keep = keep      # leave the dumps for callgrind_annotate

    def __enter__(self):
        self.port = free_port()
        self.tmp = tempfile.mkdtemp(prefix="cyreactor-callgrind-")
        argv = server_argv(self.peer, self.values, self.port, self.tmp)
        argv = [a.replace("daemon off;", "daemon off; master_process off;") for a in argv]
        self.out = os.path.join(self.tmp, "callgrind.out")
        # Uncompressed names: each dump is readable alone (callgrind_annotate).
        self.proc = subprocess.Popen(["valgrind", "--tool=callgrind", "--compress-strings=no",
                                      f"--callgrind-out-file={self.out}.%p", *argv],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=server_env(),
                                     cwd=self.tmp, start_new_session=True)
        try:
            wait_listening(self.port, self.proc)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def zero(self):
        subprocess.run(["callgrind_control", "--zero", str(self.proc.pid)], capture_output=True, check=True)

    def dump(self):
        """Ends a window: the instructions counted since the last zero."""
        before = set(self._dumps())
        subprocess.run(["callgrind_control", "--dump", str(self.proc.pid)], capture_output=True, check=True)
        new = [p for p in self._dumps() if p not in before]
        if len(new) != 1:
            raise RuntimeError(f"expected one new dump in {self.tmp}, found {new}")
        self.last_dump = new[0]
        with open(new[0]) as f:
            return int(re.search(r"^summary: (\d+)", f.read(), re.M).group(1))

    def _dumps(self):
        # Dumps on request are OUT.PID.1, .2, ...; the one at exit is OUT.PID.
        return glob.glob(f"{self.out}.*.*")

    def __exit__(self, *exc):
        try:
            if self.proc.poll() is None:
                os.killpg(self.proc.pid, signal.SIGTERM)
                try:
                    self.proc.wait(60)
                except subprocess.TimeoutExpired:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                    self.proc.wait()
        finally:
            if not self.keep:
                shutil.rmtree(self.tmp, ignore_errors=True)
