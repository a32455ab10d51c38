"""gunicorn worker class: ``gunicorn -k cyreactor.gunicorn.Worker module:app``.

Runs an ASGI, WSGI or native app (told apart as ``python -m cyreactor``
does) on cyreactor's HTTP server and asyncio loop, under gunicorn's own
process management: the listening sockets are gunicorn's, and the worker
honours its signals (TERM: graceful stop within ``--graceful-timeout``;
INT/QUIT: quick exit; USR1: reopen the log files), its heartbeat (the
worker notifies the arbiter from a loop timer, so a worker stuck in the app
is killed after ``--timeout``), ``--max-requests`` (with its jitter: the
worker stops accepting, finishes, and exits so the arbiter starts a fresh
one), ``--keep-alive``, ``--worker-connections`` (the connection cap) and
``--threads`` (the WSGI thread pool, when more than 1) and its TLS
settings (``--certfile``, ``--keyfile``, ``--ca-certs``, ``--cert-reqs``,
``--ciphers``; ALPN offers ``http/1.1`` only). An ASGI app's lifespan runs
in each worker.
"""
import os
import signal
import sys

from gunicorn.arbiter import Arbiter
from gunicorn.sock import ssl_context
from gunicorn.workers.base import Worker as _GunicornWorker

from cyreactor import apps, http, sockets, tlsconfig

__all__ = ["Worker"]


class Worker(_GunicornWorker):
    """A gunicorn worker serving its app on a cyreactor.Loop."""

    def init_signals(self):
        # The loop owns the signals (it installs its handlers in run());
        # gunicorn's Python-level handlers and wake-up pipe are not used.
        for sig in self.SIGNALS:
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGUSR1, self.handle_usr1)
        signal.siginterrupt(signal.SIGUSR1, False)

    def run(self):
        try:
            interface = apps.detect(self.wsgi)
        except apps.AppError as exc:
            self.log.error("cyreactor worker: %s", exc)
            sys.exit(Arbiter.APP_LOAD_ERROR)
        cfg = self.cfg
        # gunicorn keeps its listening sockets: the loop gets its own descriptors.
        socks = [sockets.share(s.sock) for s in self.sockets]
        try:
            http.serve(self.wsgi, interface=interface,
                       threads=cfg.threads if interface == "wsgi" and cfg.threads > 1 else 0,
                       sockets=socks, setup=self._setup, ssl=self._ssl_context(),
                       max_requests=self.max_requests if self.max_requests < sys.maxsize else 0,
                       keepalive_timeout=float(max(cfg.keepalive, 1)),
                       shutdown_timeout=float(max(cfg.graceful_timeout, 0.1)),
                       max_connections=cfg.worker_connections)
        except apps.LifespanFailed as exc:
            self.log.error("cyreactor worker: the app's lifespan startup failed: %s", exc)
            sys.exit(Arbiter.WORKER_BOOT_ERROR)

    def _ssl_context(self):
        # gunicorn's --certfile/--keyfile/--ca-certs/--cert-reqs/--ciphers
        # (and its ssl_context hook) build the context; ALPN is narrowed to
        # what cyreactor speaks, whatever gunicorn's --http-protocols say.
        if not self.cfg.is_ssl:
            return None
        ctx = ssl_context(self.cfg)
        ctx.set_alpn_protocols(list(tlsconfig.ALPN))
        return ctx

    def _setup(self, loop, server):
        def graceful():
            if self.alive:
                self.alive = False
                server.shutdown(loop)

        def quick():
            self.alive = False
            self.cfg.worker_int(self)
            loop.stop()

        def abort():
            self.alive = False
            self.cfg.worker_abort(self)
            os._exit(1)

        interval = max(min(self.timeout / 2.0, 1.0), 0.05)

        def tick():
            # gunicorn's heartbeat, and its check for a gone arbiter
            # (http.serve itself stops after max_requests).
            self.notify()
            if self.alive and os.getppid() != self.ppid:
                self.log.info("Parent changed, shutting down: %s", self)
                graceful()
            loop.call_later(interval, tick)

        loop.add_signal_handler(signal.SIGTERM, graceful)
        loop.add_signal_handler(signal.SIGINT, quick)
        loop.add_signal_handler(signal.SIGQUIT, quick)
        loop.add_signal_handler(signal.SIGABRT, abort)
        tick()
