"""Soak: drive a cyreactor server for a long time and watch its RSS and open
descriptors. After warm-up neither may grow.

    python scripts/soak.py                       # the full run (issue 5 figures)
    python scripts/soak.py --keepalive 100000 --close 10000 --echo 20000

Phases, each against a fresh server process on 127.0.0.1:

- keepalive: the demo HTTP server (``python -m cyreactor``); ``--clients``
  processes each hold one keep-alive connection and send GETs one at a time,
  checking every response, until ``--keepalive`` requests in total;
- close: the same server, one connection per request
  (``Connection: close``), ``--close`` cycles;
- echo: the echo example (``python -m cyreactor.examples.echo``); each client
  sends random payloads of 1 B..64 KiB and checks the echo, reconnecting every
  100 messages, ``--echo`` messages in total;
- echo-close: the echo example, one connection per random payload,
  ``--echo-close`` cycles.

While a phase runs, the server's VmRSS and descriptor count are sampled every
``--interval`` seconds. The warm-up sample is the first one after 10% of the
phase's work; the final one is taken once the clients have closed and the
server's descriptor count has settled. The phase fails if the final RSS
exceeds the warm-up RSS by more than ``--rss-slack`` KiB, or the final
descriptor count exceeds the warm-up one (with the clients gone it should be
lower: only the listener and the reactor's own descriptors remain). Every
phase is bounded by ``--time-limit`` seconds: it stops there and reports what
it drove. Exit status 0 if every phase passed.
"""
import argparse
import json
import multiprocessing
import multiprocessing.connection
import os
import random
import re
import signal
import socket
import subprocess
import sys
import time

try:
    import cyreactor
except ImportError:                      # run from a checkout with an in-place build
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))
    import cyreactor

# The servers run the same cyreactor this script imports.
CHILD_ENV = dict(os.environ, PYTHONPATH=os.pathsep.join(
    [os.path.dirname(os.path.dirname(os.path.abspath(cyreactor.__file__)))]
    + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))

GET = b"GET /soak HTTP/1.1\r\nHost: soak\r\n\r\n"
GET_CLOSE = b"GET /soak HTTP/1.1\r\nHost: soak\r\nConnection: close\r\n\r\n"
BODY = b"Hello! I am an epoll server."


# ---- the server ---------------------------------------------------------------

class Server:
    def __init__(self, argv, pattern):
        self.proc = subprocess.Popen([sys.executable, *argv], stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True, env=CHILD_ENV)
        line = self.proc.stdout.readline()
        match = re.search(pattern, line)
        if not match:
            self.stop()
            raise RuntimeError(f"server did not start: {line!r}")
        self.port = int(match.group(1))

    def rss_kib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))

    def fds(self):
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        return self.proc.returncode


def http_server(*extra):
    return Server(["-m", "cyreactor", "--port", "0", *extra], r"http://127\.0\.0\.1:(\d+)/")


def echo_server():
    return Server(["-m", "cyreactor.examples.echo", "--port", "0"], r"echo server on [\d.]+:(\d+)")


# ---- the clients (one process each) ----------------------------------------------

def recv_exactly(sock, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError(f"closed with {n - len(buf)} bytes missing")
        buf += chunk
    return bytes(buf)


class Tally:
    """Adds completed operations to the shared counter in batches (a lock per
    operation would cost more than the operation); ``add()`` is false once
    the deadline has passed at a batch boundary."""

    def __init__(self, done, deadline, every):
        self.done, self.deadline, self.every, self.pending = done, deadline, every, 0

    def add(self):
        self.pending += 1
        if self.pending < self.every:
            return True
        self.flush()
        return time.monotonic() <= self.deadline

    def flush(self):
        with self.done.get_lock():
            self.done.value += self.pending
        self.pending = 0


def response_size(port):
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(GET)
        data = b""
        while not data.endswith(BODY):
            data += s.recv(4096)
        return len(data)


def keepalive_client(port, count, done, deadline, errors):
    size = response_size(port)
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    tally = Tally(done, deadline, 1000)
    try:
        for _ in range(count):
            sock.sendall(GET)
            if not recv_exactly(sock, size).endswith(BODY):
                errors.value += 1
            if not tally.add():
                break
    finally:
        tally.flush()
        sock.close()


def close_client(port, count, done, deadline, errors):
    tally = Tally(done, deadline, 100)
    for _ in range(count):
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.sendall(GET_CLOSE)
            data = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
            if not data.endswith(BODY):
                errors.value += 1
        if not tally.add():
            break
    tally.flush()


def random_payload(rng, pool):
    """1 byte to 64 KiB of random bytes, a slice of a shared random pool."""
    n = rng.randint(1, 65536)
    off = rng.randint(0, len(pool) - n)
    return pool[off:off + n]


def echo_client(port, count, done, deadline, errors):
    rng = random.Random(os.getpid())
    pool = os.urandom(1 << 17)
    sent = 0
    while sent < count and time.monotonic() < deadline:
        batch = min(100, count - sent)
        with socket.create_connection(("127.0.0.1", port)) as s:
            for _ in range(batch):
                payload = random_payload(rng, pool)
                n = len(payload)
                s.sendall(payload)
                if recv_exactly(s, n) != payload:
                    errors.value += 1
        sent += batch
        with done.get_lock():
            done.value += batch


def echo_close_client(port, count, done, deadline, errors):
    rng = random.Random(os.getpid())
    pool = os.urandom(1 << 17)
    tally = Tally(done, deadline, 100)
    for _ in range(count):
        payload = random_payload(rng, pool)
        n = len(payload)
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.sendall(payload)
            if recv_exactly(s, n) != payload:
                errors.value += 1
        if not tally.add():
            break
    tally.flush()


# ---- one phase ----------------------------------------------------------------------

def run_phase(name, server, client, total, clients, time_limit, interval, rss_slack):
    done = multiprocessing.Value("q", 0)
    errors = multiprocessing.Value("q", 0)
    deadline = time.monotonic() + time_limit
    share = [total // clients + (1 if i < total % clients else 0) for i in range(clients)]
    procs = [multiprocessing.Process(target=client, args=(server.port, n, done, deadline, errors))
             for n in share]
    start = time.monotonic()
    first = (server.rss_kib(), server.fds())
    samples, warm = [], None
    for p in procs:
        p.start()
    while any(p.is_alive() for p in procs):
        # Wake at the interval, or as soon as the last client ends.
        multiprocessing.connection.wait([p.sentinel for p in procs if p.is_alive()], interval)
        sample = (round(time.monotonic() - start, 1), done.value, server.rss_kib(), server.fds())
        samples.append(sample)
        if warm is None and done.value >= total // 10:
            warm = sample
    for p in procs:
        p.join()
    elapsed = time.monotonic() - start
    # Settle: the clients are gone; their connections close on the server.
    settle = time.monotonic() + 5
    while server.fds() > first[1] and time.monotonic() < settle:
        time.sleep(0.05)
    final = (round(time.monotonic() - start, 1), done.value, server.rss_kib(), server.fds())
    if warm is None:
        warm = samples[0] if samples else final
    peak = max([s[2] for s in samples] + [final[2]])
    result = {
        "phase": name,
        "driven": done.value,
        "target": total,
        "errors": errors.value,
        "seconds": round(elapsed, 1),
        "rate_per_s": round(done.value / elapsed) if elapsed else 0,
        "rss_kib": {"start": first[0], "warm": warm[2], "peak": peak, "final": final[2]},
        "fds": {"start": first[1], "warm": warm[3], "peak": max([s[3] for s in samples] + [final[3]]),
                "final": final[3]},
        "client_exit_codes": [p.exitcode for p in procs],
        "samples": samples,
    }
    growth = final[2] - warm[2]
    result["rss_growth_after_warmup_kib"] = growth
    result["ok"] = (growth <= rss_slack and final[3] <= max(warm[3], first[1]) and errors.value == 0
                    and all(c == 0 for c in result["client_exit_codes"]))
    return result


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keepalive", type=int, default=1_000_000, help="keep-alive requests (0 skips)")
    ap.add_argument("--close", type=int, default=100_000, help="connection-per-request cycles (0 skips)")
    ap.add_argument("--echo", type=int, default=1_000_000, help="echo messages (0 skips)")
    ap.add_argument("--echo-close", type=int, default=100_000,
                    help="echo connection-per-message cycles (0 skips)")
    ap.add_argument("--clients", type=int, default=4, help="client processes per phase")
    ap.add_argument("--time-limit", type=float, default=900.0, help="seconds per phase at most")
    ap.add_argument("--interval", type=float, default=0.5, help="sampling interval, seconds")
    ap.add_argument("--rss-slack", type=int, default=1024, help="KiB of RSS growth tolerated after warm-up")
    ap.add_argument("--json", help="write the results (with every sample) here")
    args = ap.parse_args(argv)

    phases = [("keepalive", http_server, keepalive_client, args.keepalive),
              ("close", http_server, close_client, args.close),
              ("echo", echo_server, echo_client, args.echo),
              ("echo-close", echo_server, echo_close_client, args.echo_close)]
    results = []
    for name, make_server, client, total in phases:
        if total <= 0:
            continue
        server = make_server()
        try:
            r = run_phase(name, server, client, total, args.clients, args.time_limit,
                          args.interval, args.rss_slack)
        finally:
            r_exit = server.stop()
        r["server_exit"] = r_exit
        r["ok"] = r["ok"] and r_exit == 0
        results.append(r)
        rss, fds = r["rss_kib"], r["fds"]
        print(f"{name:10} {r['driven']:>9,} of {r['target']:,} in {r['seconds']} s ({r['rate_per_s']:,}/s), "
              f"errors {r['errors']}; RSS KiB start {rss['start']} warm {rss['warm']} peak {rss['peak']} "
              f"final {rss['final']} (growth {r['rss_growth_after_warmup_kib']:+}); fds start {fds['start']} "
              f"warm {fds['warm']} peak {fds['peak']} final {fds['final']}; exit {r_exit}; "
              f"{'ok' if r['ok'] else 'FAILED'}", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0 if all(r["ok"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
