"""Server processes and load-client processes, owned by PID.

A server is started in a session of its own (its process group is the one
load.py created, so leftovers of a multi-process server can be ended by
that group), pinned with taskset (which execs: Popen's PID is the
server's), and measured over its whole process tree: the CPU time of every
thread of every descendant, from /proc/PID/task/TID/schedstat (ns; the
kernel's sum_exec_runtime, which is utime + stime without the tick
rounding of /proc/PID/stat)."""
import os
import re
import signal
import socket
import select
import ssl
import subprocess
import tempfile
import time

from harness import CLIENT_CPU, HOST, PEER_BIN, PEERS, SRC

START_TIMEOUT = 20.0
STOP_TIMEOUT = 5.0


def server_env():
    """Servers import cyreactor from the work tree (an in-place build) and
    the peers' apps (asgi_hello, wsgi_hello) from bench/peers."""
    env = dict(os.environ)
    path = [SRC, PEERS] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
    env["PYTHONPATH"] = os.pathsep.join(path)
    return env


def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def descendants(pid):
    """pid and every process below it (/proc/PID/task/TID/children)."""
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        try:
            for tid in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{tid}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
        except (FileNotFoundError, ProcessLookupError):
            pass   # exited meanwhile
    return found


def cpu_ns(pid):
    """CPU time of one process so far, all threads, user + system, in ns."""
    total = 0
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return 0
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            pass   # a thread that ended between listdir and open
    if total == 0:
        # No schedstat on this kernel: clock ticks from /proc/PID/stat.
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            return 0
        total = (int(fields[11]) + int(fields[12])) * 1_000_000_000 // os.sysconf("SC_CLK_TCK")
    return total


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except FileNotFoundError:
        pass
    return 0   # exited, or a kernel thread


def render(text, values):
    """str.format-like {name} substitution that leaves unknown braces alone
    (nginx's config and Lua have braces of their own)."""
    return re.sub(r"\{(\w+)\}", lambda m: str(values.get(m.group(1), m.group(0))), text)


def client_context():
    """TLS for checks and idle connections: the certificates are made per run
    and self-signed, so nothing is verified."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def server_argv(peer, values, port, tmp):
    """The peer's command line for a start on ``port`` with ``tmp`` as its
    directory (its config template rendered there); ``values`` fills the
    other placeholders (cert, key)."""
    values = dict(values, host=HOST, port=port, tmp=tmp, bin=PEER_BIN, peers=PEERS, src=SRC)
    if peer.template:
        with open(os.path.join(PEERS, peer.template)) as f:
            text = f.read()
        extra = {k: render(v, values) for k, v in peer.template_vars.items()}
        values["config"] = os.path.join(tmp, peer.template.removesuffix(".in"))
        with open(values["config"], "w") as f:
            f.write(render(text, {**values, **extra}))
    return [render(a, values) for a in peer.argv]


class RunningServer:
    """One start of one peer. ``values`` fills the argv placeholders."""

    def __init__(self, peer, values, logdir, tag):
        self.peer = peer
        self.port = free_port()
        self.tmp = os.path.join(logdir, tag + ".d")
        os.makedirs(self.tmp)
        self.argv = server_argv(peer, values, self.port, self.tmp)
        self.log_path = os.path.join(logdir, f"{tag}.log")
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(["taskset", "-c", peer.cpus] + self.argv, stdout=self.log,
                                     stderr=subprocess.STDOUT, env=server_env(), cwd=self.tmp,
                                     start_new_session=True)
        self.pid = self.proc.pid

    def pids(self):
        return descendants(self.pid)

    def cpu_ns(self):
        return sum(cpu_ns(p) for p in self.pids())

    def rss_kib(self):
        return sum(rss_kib(p) for p in self.pids())

    def alive(self):
        return self.proc.poll() is None

    def _ready_once(self):
        kind = self.peer.ready
        sock = socket.create_connection((HOST, self.port), timeout=2)
        try:
            if kind in ("tls", "https"):
                sock = client_context().wrap_socket(sock)
            if kind in ("http", "https"):
                sock.sendall(b"GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
                if not sock.recv(64).startswith(b"HTTP/1."):
                    raise ConnectionError("no HTTP response")
        finally:
            sock.close()

    def wait_ready(self):
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if not self.alive():
                raise RuntimeError(f"exited with {self.proc.returncode} before it was ready")
            try:
                self._ready_once()
                return
            except (OSError, ssl.SSLError) as exc:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"not ready within {START_TIMEOUT:.0f} s ({exc})") from None
                time.sleep(0.05)

    def stop(self):
        """SIGTERM to the server, SIGKILL after STOP_TIMEOUT; then anything
        left in the process group load.py created for it. Returns a note
        about anything unusual, or None."""
        notes = []
        if self.proc.poll() is not None:
            notes.append(f"had exited by itself with status {self.proc.returncode}")
        else:
            os.kill(self.pid, signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                notes.append(f"ignored SIGTERM for {STOP_TIMEOUT:.0f} s; killed")
                os.kill(self.pid, signal.SIGKILL)
                self.proc.wait()
            rc = self.proc.returncode
            if rc not in (0, -signal.SIGTERM, 128 + signal.SIGTERM) and not notes:
                notes.append(f"exited with status {rc} on SIGTERM")
        try:
            os.killpg(self.pid, signal.SIGKILL)   # the group is ours (start_new_session)
        except ProcessLookupError:
            pass
        self.log.close()
        with open(self.log_path, "rb") as f:
            output = f.read().decode(errors="replace").strip()
        # A start-up banner is not news; anything that reads like trouble is.
        if re.search(r"(?i)traceback|error|exception|fatal|abort|leak", output):
            notes.append("output: " + output[-1500:])
        return "; ".join(notes) or None


class Client:
    """A load generator pinned to CLIENT_CPU, in a session of its own. Reaped
    with wait4() so its CPU time (user + system) is known. ``interactive``:
    its stdin and stdout are pipes, for a line protocol (c_echoclient --sync)."""

    def __init__(self, argv, interactive=False):
        self.err = tempfile.TemporaryFile()
        self.out = subprocess.PIPE if interactive else tempfile.TemporaryFile()
        self.proc = subprocess.Popen(["taskset", "-c", str(CLIENT_CPU)] + argv,
                                     stdin=subprocess.PIPE if interactive else subprocess.DEVNULL,
                                     stdout=self.out, stderr=self.err, start_new_session=True)
        self.pid = self.proc.pid
        self._pending = b""

    def readline(self, timeout):
        """The next line of its stdout, or "" at EOF or after ``timeout`` s."""
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self._pending:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                return ""
            chunk = os.read(fd, 65536)
            if not chunk:
                return ""
            self._pending += chunk
        line, _, self._pending = self._pending.partition(b"\n")
        return line.decode(errors="replace")

    def send(self, text):
        self.proc.stdin.write(text.encode())
        self.proc.stdin.flush()

    def finish(self, timeout):
        """Close its stdin, wait at most ``timeout`` s (then SIGKILL its
        group), reap it. Returns (returncode, stdout, stderr, cpu_s)."""
        if self.proc.stdin:
            self.proc.stdin.close()
        deadline = time.monotonic() + timeout
        while True:
            pid, status, usage = os.wait4(self.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                os.killpg(self.pid, signal.SIGKILL)
                pid, status, usage = os.wait4(self.pid, 0)
                break
            time.sleep(0.01)
        self.proc.returncode = os.waitstatus_to_exitcode(status)
        if self.out is subprocess.PIPE:
            out = self._pending + self.proc.stdout.read()
            self.proc.stdout.close()
        else:
            self.out.seek(0)
            out = self.out.read()
            self.out.close()
        self.err.seek(0)
        err = self.err.read()
        self.err.close()
        return (self.proc.returncode, out.decode(errors="replace"), err.decode(errors="replace"),
                usage.ru_utime + usage.ru_stime)
