"""``python -m cyreactor`` as a subprocess: its URL, descriptors, children
and memory, and a stop that never leaves it running."""
import os
import re
import resource
import signal
import subprocess
import sys


class Demo:
    """A demo server process; ``url``/``port`` read from its first line
    (``unix`` instead, for a Unix socket); ``nofile`` caps its descriptors;
    ``launcher``: argv run in front of the server (a socket activator);
    ``pass_fds``: descriptors it inherits."""

    def __init__(self, *args, nofile=None, launcher=(), pass_fds=()):
        def limit():
            if nofile:
                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

        self.proc = subprocess.Popen([*launcher, sys.executable, "-m", "cyreactor", "--port", "0", *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     preexec_fn=limit, pass_fds=pass_fds)
        self.line = line = self.proc.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        unix = re.search(r"unix:(\S+)", line)
        if not match and not unix:
            self.proc.kill()
            raise AssertionError(f"no URL in {line!r}: {self.proc.stderr.read()}")
        self.url = match.group(0) if match else None
        self.port = int(match.group(1)) if match else None
        self.unix = unix.group(1) if unix else None

    def fds(self):
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    def children(self):
        return children_of(self.proc.pid)

    def rss_kib(self, pid=None):
        with open(f"/proc/{pid or self.proc.pid}/status") as f:
            return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))

    def stop(self, sig=signal.SIGTERM, timeout=10):
        try:
            return stop_process(self.proc, sig, timeout)
        finally:
            self.proc.stdout.close()
            self.proc.stderr.close()


def stop_process(proc, sig=signal.SIGTERM, timeout=10):
    """Sends ``sig`` unless ``proc`` has exited and returns its exit status;
    killed if it outlives ``timeout`` (the wait then raises)."""
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        return proc.wait(timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def children_of(pid):
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return [int(x) for x in f.read().split()]
