"""cyreactor.supervisor on its own, with workers that are plain functions (the
demo's --workers runs through it too: tests/test_http_demo.py): readiness,
restart with back-off, a graceful stop."""
import signal
import subprocess
import sys
import time

SCRIPT = r"""
import os, sys, time
from cyreactor.supervisor import Supervisor

def worker(ready):
    print("start", os.getpid(), flush=True)
    time.sleep(0.1)                 # the supervisor waits for ready()
    ready()
    if sys.argv[1] == "crash":
        return 3                    # dies young, over and over
    time.sleep(60)

sys.exit(Supervisor(worker, 2, stop_timeout=5).run(
    started=lambda pids: print("started", *sorted(pids), flush=True)))
"""


def supervise(mode):
    return subprocess.Popen([sys.executable, "-c", SCRIPT, mode], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def read_lines(proc, until):
    lines = []
    while True:
        line = proc.stdout.readline()
        assert line, f"exited early: {lines} {proc.stderr.read()}"
        lines.append(line.split())
        if until(lines):
            return lines


def test_started_once_every_worker_is_ready_and_a_graceful_stop():
    proc = supervise("serve")
    try:
        lines = read_lines(proc, lambda lines: lines[-1][0] == "started")
        assert sorted(w[1] for w in lines[:-1]) == lines[-1][1:] and len(lines) == 3
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0 and time.monotonic() - t0 < 2
        assert "Traceback" not in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_workers_that_keep_dying_are_restarted_with_a_growing_delay():
    proc = supervise("crash")
    try:
        read_lines(proc, lambda lines: lines[-1][0] == "started")
        time.sleep(3.0)             # without back-off: ~25 restarts a worker
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
        starts = [line for line in proc.stdout.read().splitlines() if line.startswith("start")]
        # Delays of 1, 2, 4 s after the two first deaths: a handful at most.
        assert 1 <= len(starts) <= 4, starts
        assert "in 1 s" in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
