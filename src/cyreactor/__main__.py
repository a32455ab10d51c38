"""``python -m cyreactor [MODULE:ATTR]``: the app server, or the demo.

With ``MODULE:ATTR`` it serves that app: ASGI 3.0, WSGI or cyreactor's own
``app(request) -> Response`` (``--interface auto`` tells them apart), with
uvicorn's flag names where one exists. Without it, the demo server answers
every request (any method but CONNECT, any path) with ``200 OK``,
``content-type: text/html`` and ``Hello! I am an epoll server.`` after
reading the whole request body.

``--workers N`` runs N processes sharing the port through SO_REUSEPORT (or
one inherited socket) under a supervising parent (cyreactor.supervisor)
that restarts a worker that dies. SIGINT/SIGTERM: stop accepting, finish
the responses in flight, close, exit 0. The limits and timeouts are
cyreactor.http_options' table, as flags. Exit status: 2 for a wrong
command line or an app that cannot be found, 1 when the address cannot be
listened on, 3 when an ASGI app's lifespan startup fails.
"""
import argparse
import logging
import os
import resource
import socket
import sys

from cyreactor import apps, http, http_options
from cyreactor.supervisor import Supervisor, exit_on_signals, reserve_port

log = logging.getLogger("cyreactor.server")

EXIT_USAGE = 2
EXIT_LISTEN = 1
EXIT_STARTUP = 3


def _positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be >= 1")
    return value


def _non_negative_int(text):
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be >= 0")
    return value


def build_parser():
    p = argparse.ArgumentParser(
        prog="python -m cyreactor",
        description="The cyreactor HTTP/1.1 app server: serves an ASGI, WSGI or cyreactor app "
                    "(MODULE:ATTR); without one, the demo server (every request gets "
                    "'Hello! I am an epoll server.').",
    )
    p.add_argument("app", nargs="?", metavar="MODULE:ATTR",
                   help="the app to serve, e.g. myproject.asgi:application; none: the demo server")
    p.add_argument("--interface", choices=apps.INTERFACES, default="auto",
                   help="the app's interface; auto tells it from the app's signature (default: %(default)s)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    p.add_argument("--port", type=int, default=8000,
                   help="TCP port; 0 picks a free one, printed at start-up (default: %(default)s)")
    p.add_argument("--uds", metavar="PATH", help="listen on this Unix socket instead of TCP")
    p.add_argument("--fd", type=_non_negative_int, metavar="FD",
                   help="serve this inherited, already bound socket instead of TCP")
    p.add_argument("--workers", type=_positive_int, default=1,
                   help="worker processes sharing the socket (default: %(default)s)")
    p.add_argument("--threads", type=_non_negative_int, default=0,
                   help="WSGI: run the app in a pool of this many threads, the loop still doing the I/O; "
                        "0 runs it on the loop thread (default: %(default)s)")
    p.add_argument("--root-path", default="",
                   help="the path the app is mounted at (ASGI root_path, WSGI SCRIPT_NAME)")
    p.add_argument("--app-dir", default=".",
                   help="directory put first on sys.path to import the app (default: the current one)")
    p.add_argument("--factory", action="store_true",
                   help="MODULE:ATTR is a function that returns the app")
    p.add_argument("--lifespan", choices=apps.LIFESPAN_MODES, default="auto",
                   help="ASGI lifespan: auto runs it if the app supports it, on requires it "
                        "(default: %(default)s)")
    p.add_argument("--log-level", default="warning",
                   choices=["debug", "info", "warning", "error", "critical"],
                   help="logging level (default: %(default)s)")
    p.add_argument("--backlog", type=_positive_int, default=1024, help="listen() backlog (default: %(default)s)")
    http_options.add_arguments(p.add_argument_group("limits and timeouts (cyreactor.http_options)"), demo=True)
    return p


def raise_nofile_limit():
    """Soft RLIMIT_NOFILE up to the hard limit: thousands of connections
    must not hit EMFILE at 1024."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError) as exc:
            log.warning("could not raise RLIMIT_NOFILE from %s to %s: %s", soft, hard, exc)
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


class Target:
    """What a worker serves: the app (None: the demo) and how."""

    def __init__(self, args, app=None, interface="native"):
        self.args = args
        self.app = app
        self.interface = interface
        self.options = http_options.from_arguments(args, demo=app is None)

    def describe(self):
        if self.app is None:
            return "cyreactor demo server"
        return f"cyreactor serving {self.args.app} ({self.interface})"

    def server(self):
        args = self.args
        return http.HttpServer(self.app, interface=self.interface, root_path=args.root_path,
                               threads=args.threads, multiprocess=args.workers > 1, **self.options)


def run_worker(target, *, port, reuse_port, ready, sock=None):
    """Serves ``target`` until SIGINT/SIGTERM; ``ready(sockname)`` once
    listening. Returns the exit status."""
    args = target.args
    # Outside the loop's run (start-up, teardown) a signal just exits, with
    # status 0: the loop restores these handlers when it closes.
    exit_on_signals()
    server = target.server()
    if target.app is not None:
        http.keep_freed_memory(server.core.options["max_body_size"])
    try:
        apps.serve(server, host=args.host, port=port, uds=None if sock is not None else args.uds,
                   sock=sock, reuse_port=reuse_port, backlog=args.backlog, ready=ready,
                   lifespan=args.lifespan)
    except apps.LifespanFailed as exc:
        print(f"error: the app's lifespan startup failed: {exc}", file=sys.stderr, flush=True)
        return EXIT_STARTUP
    except OSError as exc:
        where = args.uds or (f"fd {args.fd}" if args.fd is not None else f"{args.host}:{port}")
        print(f"error: cannot listen on {where}: {exc.strerror or exc}", file=sys.stderr, flush=True)
        return EXIT_LISTEN
    return 0


def _where(sockname):
    if isinstance(sockname, tuple):
        return http.url_for(sockname)
    return f"unix:{sockname}"


def _inherited(fd):
    sock = socket.socket(fileno=fd)
    if sock.type != socket.SOCK_STREAM:
        raise OSError(f"fd {fd} is not a stream socket")
    return sock


def supervise(target):
    """``--workers N``: the workers share one reserved port (SO_REUSEPORT),
    or one listening socket (``--uds``, ``--fd``)."""
    args = target.args
    shared = reserved = None
    if args.fd is not None:
        shared = _inherited(args.fd)
    elif args.uds is not None:
        if os.path.exists(args.uds):
            os.unlink(args.uds)
        shared = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        shared.bind(args.uds)
        shared.listen(args.backlog)
    else:
        reserved = reserve_port(args.host, args.port)
    port = reserved.getsockname()[1] if reserved is not None else args.port
    where = _where(shared.getsockname()) if shared is not None else _where((args.host, port))

    def worker(ready):
        if reserved is not None:
            reserved.close()
            return run_worker(target, port=port, reuse_port=True, ready=lambda sockname: ready())
        return run_worker(target, port=port, reuse_port=False, ready=lambda sockname: ready(),
                          sock=socket.socket(fileno=os.dup(shared.fileno())))

    supervisor = Supervisor(worker, args.workers, stop_timeout=target.options["shutdown_timeout"] + 5.0)
    try:
        return supervisor.run(started=lambda pids: print(
            f"{target.describe()} listening on {where} ({len(pids)} workers, supervisor pid {os.getpid()})",
            flush=True))
    finally:
        for sock in (reserved, shared):
            if sock is not None:
                sock.close()
        if args.uds is not None and shared is not None and os.path.exists(args.uds):
            os.unlink(args.uds)


def _configure_logging(args):
    logging.basicConfig(level=args.log_level.upper(),
                        format="%(asctime)s %(process)d %(name)s %(levelname)s %(message)s")
    if args.access_log:
        logging.getLogger("cyreactor.http.access").setLevel(logging.INFO)
        if logging.getLogger().level > logging.INFO:
            handler = logging.StreamHandler()
            handler.setFormatter(logging.Formatter("%(asctime)s %(process)d access %(message)s"))
            access = logging.getLogger("cyreactor.http.access")
            access.addHandler(handler)
            access.propagate = False


def load_target(args):
    """The app named on the command line and its interface, or AppError."""
    if args.app is None:
        return Target(args)
    app = apps.load(args.app, app_dir=args.app_dir, factory=args.factory)
    interface = apps.detect(app) if args.interface == "auto" else args.interface
    if not callable(app):
        raise apps.AppError(f'"{args.app}" is a {type(app).__name__}, not an app')
    return Target(args, app, interface)


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.uds is not None and args.fd is not None:
        parser.error("--uds and --fd are exclusive")
    _configure_logging(args)
    try:
        target = load_target(args)
    except apps.AppError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return EXIT_USAGE
    if target.interface != "wsgi" and args.threads:
        parser.error("--threads is for WSGI apps")
    raise_nofile_limit()
    if args.workers == 1:
        sock = None
        if args.fd is not None:
            try:
                sock = _inherited(args.fd)
            except OSError as exc:
                print(f"error: cannot serve fd {args.fd}: {exc}", file=sys.stderr, flush=True)
                return EXIT_LISTEN
        return run_worker(target, port=args.port, reuse_port=False, sock=sock, ready=lambda sockname: print(
            f"{target.describe()} listening on {_where(sockname)}", flush=True))
    return supervise(target)


if __name__ == "__main__":
    sys.exit(main())
