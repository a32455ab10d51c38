"""Supervising worker processes: ``python -m cyreactor --workers N`` now,
an app server's workers (and their zero-downtime reloads) later.

``Supervisor(worker, count).run()`` forks ``count`` processes, each running
``worker(ready)``; ``ready()`` reports the worker serving, and the
supervisor starts the next one only then (or once it died, or
``ready_timeout`` passed), so the caller announces a service that answers.
A worker that exits is started again, at once if it had run a while, after
a delay that doubles (up to ``max_backoff``) while workers keep dying young.
On SIGINT or SIGTERM the supervisor passes SIGTERM on, waits up to
``stop_timeout`` for the workers to finish, kills what is left, and returns.
Each worker gets SIGTERM from the kernel when the supervisor dies, however
it dies (``PR_SET_PDEATHSIG``), so none outlives it holding a port.

With a ``scoreboard`` (cyreactor.metrics.Scoreboard) each worker gets a
slot (``scoreboard.mine`` in the worker) for its counters and heartbeat:

- ``heartbeat_timeout``: a worker whose heartbeat is older than this (it
  is SIGSTOPped, or stuck in a loop that never returns to its reactor) is
  killed with SIGKILL and replaced: it holds the connections it accepted,
  and with ``SO_REUSEPORT`` its own listening socket, to which the kernel
  keeps handing a share of new connections; only its death takes the
  socket out of the group.
- A worker that asks to retire (``scoreboard.beat(..., retire=True)``: it
  served ``--max-requests``) is replaced first, then told to stop
  (SIGTERM), so the number serving never drops.

SIGHUP: a zero-downtime reload. A new set of workers is started (each
ready before the next), then the old ones get SIGTERM and drain.

Workers either inherit one listening socket (cyreactor.runner's default,
and sockets from outside: one accept queue, and a worker that exits loses
no queued connection), or each bind the port with ``SO_REUSEPORT``;
``reserve_port()`` then holds it in the supervisor, so that port 0 means
one port for all of them and a restarted worker gets the same one.
"""
import ctypes
import logging
import os
import select
import signal
import socket
import sys
import time

__all__ = ["Supervisor", "exit_on_signals", "reserve_port"]

log = logging.getLogger("cyreactor.supervisor")

_PR_SET_PDEATHSIG = 1   # <sys/prctl.h>
_POLL = 0.05


def _exit_0(signum, frame):
    raise SystemExit(0)


def exit_on_signals():
    """SIGINT and SIGTERM exit with status 0 (SystemExit), for a process's
    start-up and teardown, outside the reactor's own signal handling."""
    signal.signal(signal.SIGINT, _exit_0)
    signal.signal(signal.SIGTERM, _exit_0)


def reserve_port(host, port):
    """Binds (without listening) a SO_REUSEPORT socket, so that every worker
    listening on ``host`` with SO_REUSEPORT gets the same port, also when
    ``port`` is 0; it receives no connections. Returns the socket."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def _die_with(parent):
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    if os.getppid() != parent:      # it died before prctl() took effect
        os._exit(0)


class _Worker:
    __slots__ = ("started", "slot", "leaving")

    def __init__(self, started, slot):
        self.started = started
        self.slot = slot
        self.leaving = False        # told to stop: not replaced when it exits


class Supervisor:
    """Runs ``count`` copies of ``worker(ready)`` in forked processes and
    keeps them running until SIGINT/SIGTERM. ``worker`` returns the
    process's exit status (None: 0)."""

    def __init__(self, worker, count, *, stop_timeout=10.0, ready_timeout=10.0,
                 min_uptime=1.0, max_backoff=30.0, scoreboard=None, heartbeat_timeout=None):
        if count < 1:
            raise ValueError("count must be >= 1")
        if heartbeat_timeout is not None and scoreboard is None:
            raise ValueError("a heartbeat needs a scoreboard")
        self.worker = worker
        self.count = count
        self.stop_timeout = stop_timeout
        self.ready_timeout = ready_timeout
        self.min_uptime = min_uptime
        self.max_backoff = max_backoff
        self.scoreboard = scoreboard
        self.heartbeat_timeout = heartbeat_timeout
        self.workers = {}           # pid -> _Worker
        self._stopping = False
        self._reload = False
        self._backoff = 0.0

    def run(self, started=None):
        """Starts the workers, calls ``started(pids)`` once each reported
        ready, supervises until SIGINT/SIGTERM, stops them; returns 0."""
        signal.signal(signal.SIGINT, self._stop)
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGHUP, self._hup)
        restarts = []               # when a replacement is due
        try:
            for _ in range(self.count):
                self._spawn()
            if started is not None:
                started(list(self.workers))
            while not self._stopping:
                self._reap(restarts)
                if self.scoreboard is not None:
                    self._watch()
                if self._reload and not any(w.leaving for w in self.workers.values()):
                    # One reload at a time: the scoreboard has room for two
                    # sets of workers, not three.
                    self._reload = False
                    self._replace([pid for pid, w in self.workers.items() if not w.leaving])
                now = time.monotonic()
                while restarts and restarts[0] <= now and not self._stopping:
                    restarts.pop(0)
                    self._spawn()
                time.sleep(_POLL)
        finally:
            self._stop_workers()
        return 0

    def _stop(self, signum, frame):
        self._stopping = True

    def _hup(self, signum, frame):
        self._reload = True

    def _replace(self, pids):
        """Starts a new worker for each of ``pids`` (each ready before the
        next), then tells those to stop: they drain while the new serve."""
        log.info("replacing workers %s", pids)
        for _ in pids:
            if self._stopping:
                return
            self._spawn()
        for pid in pids:
            self._signal(pid, signal.SIGTERM)
            self.workers[pid].leaving = True

    def _watch(self):
        now = time.monotonic()
        retiring = []
        for pid, w in list(self.workers.items()):
            if self.heartbeat_timeout is not None and now - self.scoreboard.heartbeat_of(w.slot) > self.heartbeat_timeout:
                # Stopped or stuck: it cannot drain. Only its death takes
                # its listening socket out of the SO_REUSEPORT group.
                log.error("worker %d missed its heartbeat for %.1f s: killing it", pid,
                          now - self.scoreboard.heartbeat_of(w.slot))
                self._signal(pid, signal.SIGKILL)
                self.scoreboard.beat_for(w.slot, now)      # one kill per timeout
            elif not w.leaving and self.scoreboard.retire_requested(w.slot):
                retiring.append(pid)
        # A replacement needs a free slot; the others wait for the next look.
        retiring = retiring[:self.scoreboard.free_slots()]
        if retiring:
            self._replace(retiring)

    @staticmethod
    def _signal(pid, signum):
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass

    def _reap(self, restarts):
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if not pid:
                return
            w = self.workers.pop(pid, None)
            if w is None:
                continue
            if self.scoreboard is not None:
                self.scoreboard.release(w.slot)
            if self._stopping or w.leaving:
                continue
            uptime = time.monotonic() - w.started
            # Back-off only while workers keep dying young: a crash loop must
            # not spin, a worker that ran a while is replaced at once.
            if uptime < self.min_uptime:
                self._backoff = min(max(2 * self._backoff, 1.0), self.max_backoff)
            else:
                self._backoff = 0.0
            log.warning("worker %d exited (%s) after %.1f s; starting another%s", pid,
                        f"signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status)
                        else f"status {os.WEXITSTATUS(status)}", uptime,
                        f" in {self._backoff:g} s" if self._backoff else "")
            restarts.append(time.monotonic() + self._backoff)
            restarts.sort()

    def _spawn(self):
        """Forks a worker; returns once it is ready (or has died, or
        ready_timeout passed)."""
        slot = self.scoreboard.claim() if self.scoreboard is not None else None
        if self.scoreboard is not None and slot is None:
            raise RuntimeError("no free scoreboard slot")
        rfd, wfd = os.pipe()
        parent = os.getpid()
        pid = os.fork()
        if not pid:
            os.close(rfd)
            if self.scoreboard is not None:
                self.scoreboard.mine = slot
            self._child(wfd, parent)
        os.close(wfd)
        try:
            ready, _, _ = select.select([rfd], [], [], self.ready_timeout)
            if not ready or not os.read(rfd, 1):
                log.warning("worker %d did not report ready", pid)
        finally:
            os.close(rfd)
        self.workers[pid] = _Worker(time.monotonic(), slot)
        if slot is not None:
            self.scoreboard.beat_for(slot, time.monotonic())   # the heartbeat is due from now
        return pid

    def _child(self, wfd, parent):
        code = 1

        def ready():
            nonlocal wfd
            if wfd >= 0:
                os.write(wfd, b"1")
                os.close(wfd)
                wfd = -1

        try:
            exit_on_signals()
            signal.signal(signal.SIGHUP, signal.SIG_IGN)      # the supervisor's to act on
            _die_with(parent)
            code = self.worker(ready)
            code = 0 if code is None else code
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except BaseException:
            log.exception("worker %d failed", os.getpid())
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)

    def _stop_workers(self):
        for pid in self.workers:
            self._signal(pid, signal.SIGTERM)
        deadline = time.monotonic() + self.stop_timeout
        while self.workers and time.monotonic() < deadline:
            for pid in list(self.workers):
                try:
                    done, _ = os.waitpid(pid, os.WNOHANG)
                except ChildProcessError:
                    done = pid
                if done:
                    self._gone(pid)
            time.sleep(0.02)
        for pid in list(self.workers):
            self._signal(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            self._gone(pid)

    def _gone(self, pid):
        w = self.workers.pop(pid)
        if self.scoreboard is not None:
            self.scoreboard.release(w.slot)
