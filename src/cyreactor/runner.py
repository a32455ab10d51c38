"""Running an HTTP server process from the command line: the flags that are
about the process rather than HTTP (where the sockets come from, workers,
their heartbeat and recycling, a metrics port), and ``run()``, which every
``python -m cyreactor`` entry point calls with the app to serve.

``add_arguments(parser)`` adds the flags (uvicorn's TLS flags among them:
``cyreactor.tlsconfig``); ``run(app, args, announce)`` builds the TLS
context they ask for, binds or inherits the sockets, then serves in this
process, or forks
``--workers`` under a ``cyreactor.supervisor.Supervisor`` with a
``cyreactor.metrics.Scoreboard`` (also with one worker, when
``--max-requests`` asks for recycling). The HTTP options themselves are
``cyreactor.http_options``' table.
"""
import argparse
import os
import random

from cyreactor import http, http_options, sockets, tlsconfig
from cyreactor.metrics import Scoreboard
from cyreactor.supervisor import Supervisor, exit_on_signals, reserve_port

__all__ = ["add_arguments", "is_tls", "non_negative_int", "positive_int", "run"]

# Scoreboard slots per worker: on a reload (SIGHUP) the new set starts
# before the old one leaves; and a few more for workers retiring meanwhile.
_SLOTS_PER_WORKER = 2
_SPARE_SLOTS = 2


def non_negative_int(text):
    """An argparse type: an integer >= 0."""
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be >= 0")
    return value


def positive_int(text):
    """An argparse type: an integer >= 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be >= 1")
    return value


def _seconds(text):
    value = float(text)
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError("must be > 0")
    return value


def add_arguments(parser):
    """The process flags (the caller adds ``--host``, ``--port``,
    ``--workers`` and ``--backlog``)."""
    group = parser.add_argument_group("sockets from outside (systemd socket activation needs no flag)")
    sockets.add_arguments(group)
    group = parser.add_argument_group("workers")
    group.add_argument("--max-requests", type=non_negative_int, default=0, metavar="N",
                       help="replace a worker after it served N requests (0: never; default: %(default)s)")
    group.add_argument("--max-requests-jitter", type=non_negative_int, default=0, metavar="N",
                       help="add up to N at random to each worker's --max-requests, so that they do not "
                            "all restart together (default: %(default)s)")
    group.add_argument("--heartbeat-timeout", type=_seconds, default=10.0, metavar="SECONDS",
                       help="kill and replace a worker whose reactor has not run for this long "
                            "(stopped, or stuck in the app) (default: %(default)s)")
    group.add_argument("--reuse-port", action="store_true",
                       help="each worker binds --port itself with SO_REUSEPORT (an accept queue per "
                            "worker) instead of sharing one socket the supervisor binds; a worker that "
                            "leaves then resets the connections queued for it (see docs/deploy.md)")
    group.add_argument("--metrics-port", type=int, metavar="PORT",
                       help="answer the metrics path (default /metrics) and the health path on this "
                            "port of --host instead of beside the app")
    tlsconfig.add_arguments(parser)


def is_tls(args):
    """Whether the parsed flags serve HTTPS (for the URL announced)."""
    return args.ssl_certfile is not None


def _sockname(sock):
    name = sock.getsockname()
    return os.fsdecode(name) if isinstance(name, bytes) else name


def run(app, args, announce, **app_options):
    """Serves ``app`` (None: the demo) as ``args`` say, until SIGINT or
    SIGTERM; ``announce(sockname, extra)`` once every worker listens.
    ``app_options`` go to ``http.serve`` (``interface``, ``root_path``,
    ``threads``, ``lifespan``). Returns the exit status."""
    options = dict(http_options.from_arguments(args, demo=app is None), **app_options)
    try:
        # Built once, before any worker starts: a bad file fails here.
        options["ssl"] = tlsconfig.from_arguments(args)
    except (OSError, ValueError) as exc:
        raise SystemExit(f"error: {exc}") from None
    outside = sockets.from_arguments(args)
    recycle = args.max_requests > 0

    def max_requests():
        return args.max_requests + random.randint(0, args.max_requests_jitter) if recycle else 0

    try:
        if args.workers == 1 and not recycle:
            exit_on_signals()
            http.serve(app, args.host, args.port, sockets=outside, backlog=args.backlog,
                       metrics_port=args.metrics_port, ready=lambda sockname: announce(sockname, ""),
                       **options)
            return 0
        return _supervise(app, args, announce, options, outside, max_requests)
    finally:
        if args.uds:
            _unlink_socket(args.uds)


def _unlink_socket(path):
    try:
        os.unlink(path)
    except OSError:
        pass


def _supervise(app, args, announce, options, outside, max_requests):
    # One listening socket, bound here, that every worker inherits: one
    # accept queue, so a worker that leaves (reload, recycling, a crash)
    # takes no queued connection with it, and one that is stopped gets no
    # share of new ones. --reuse-port instead: each worker binds its own
    # socket with SO_REUSEPORT (the kernel hashes connections over them,
    # evenly, whoever is busy), and the supervisor holds a bound copy so
    # that port 0 is one port for all.
    reserved = []                   # bound for SO_REUSEPORT, not listening
    own = []                        # listening sockets bound here
    listening = list(outside)       # what the workers serve
    if not listening:
        if args.reuse_port:
            reserved.append(reserve_port(args.host, args.port))
        else:
            own.append(sockets.bind_tcp(args.host, args.port, args.backlog))
            listening.append(own[-1])
    port = reserved[0].getsockname()[1] if reserved else args.port
    metrics_port = args.metrics_port
    if metrics_port is not None:
        if args.reuse_port:
            reserved.append(reserve_port(args.host, metrics_port))
            metrics_port = reserved[-1].getsockname()[1]
        else:
            metrics_port = sockets.bind_tcp(args.host, metrics_port, args.backlog)
            own.append(metrics_port)
    board = Scoreboard(_SLOTS_PER_WORKER * args.workers + _SPARE_SLOTS)

    def worker(ready):
        for sock in reserved:
            sock.close()
        # Each worker takes its own descriptors of the shared sockets.
        mine = [sockets.share(sock) for sock in listening]
        metrics = sockets.share(metrics_port) if hasattr(metrics_port, "fileno") else metrics_port
        return http.serve(app, args.host, port, sockets=mine, reuse_port=True, backlog=args.backlog,
                          metrics_port=metrics, scoreboard=board, max_requests=max_requests(),
                          ready=lambda sockname: ready(), **options) and 0

    supervisor = Supervisor(worker, args.workers, scoreboard=board,
                            heartbeat_timeout=args.heartbeat_timeout,
                            stop_timeout=options["drain_delay"] + options["shutdown_timeout"] + 5.0)
    where = _sockname(listening[0]) if listening else (args.host, port)
    try:
        return supervisor.run(started=lambda pids: announce(
            where, f" ({len(pids)} workers, supervisor pid {os.getpid()})"))
    finally:
        for sock in reserved + outside + own:
            sock.close()
