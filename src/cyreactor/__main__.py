"""``python -m cyreactor [MODULE:ATTR]``: the app server, or the demo.

With ``MODULE:ATTR`` it serves that app: ASGI 3.0, WSGI or cyreactor's own
``app(request) -> Response`` (``--interface auto`` tells them apart), with
uvicorn's flag names where one exists. Without it, the demo server answers
every request (any method but CONNECT, any path) with ``200 OK``,
``content-type: text/html`` and ``Hello! I am an epoll server.`` after
reading the whole request body.

``--workers N`` runs N processes sharing one listening socket under a
supervising parent (cyreactor.supervisor) that restarts a worker that dies.
SIGINT/SIGTERM: stop accepting, finish the responses in flight, close, exit
0. The limits and timeouts are cyreactor.http_options' table, as flags; the
process flags (sockets from outside, worker recycling, heartbeat, metrics
port, and TLS: ``--ssl-certfile`` and uvicorn's other TLS flags) are
cyreactor.runner's. Exit status: 2 for a wrong command line or an
app that cannot be found, 1 when the address cannot be listened on, 3 when
an ASGI app's lifespan startup fails.
"""
import argparse
import logging
import resource
import sys

from cyreactor import apps, http, http_options, runner

log = logging.getLogger("cyreactor.server")

EXIT_USAGE = 2
EXIT_LISTEN = 1
EXIT_STARTUP = 3


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
    p.add_argument("--workers", type=runner.positive_int, default=1,
                   help="worker processes sharing the listening socket (default: %(default)s)")
    p.add_argument("--threads", type=runner.non_negative_int, default=0,
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
    p.add_argument("--backlog", type=runner.positive_int, default=1024, help="listen() backlog (default: %(default)s)")
    runner.add_arguments(p)
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


def load_app(args):
    """The app named on the command line and its interface ((None, "native")
    for the demo), or AppError."""
    if args.app is None:
        return None, "native"
    app = apps.load(args.app, app_dir=args.app_dir, factory=args.factory)
    interface = apps.detect(app) if args.interface == "auto" else args.interface
    if not callable(app):
        raise apps.AppError(f'"{args.app}" is a {type(app).__name__}, not an app')
    return app, interface


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


def _error(message, status):
    print(f"error: {message}", file=sys.stderr, flush=True)
    return status


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    _configure_logging(args)
    try:
        app, interface = load_app(args)
    except apps.AppError as exc:
        return _error(exc, EXIT_USAGE)
    if interface != "wsgi" and args.threads:
        parser.error("--threads is for WSGI apps")
    name = f"cyreactor serving {args.app} ({interface})" if app is not None else "cyreactor demo server"

    def announce(sockname, extra=""):
        print(f"{name} listening on {http.url_for(sockname, runner.is_tls(args))}{extra}", flush=True)

    raise_nofile_limit()
    try:
        return runner.run(app, args, announce, interface=interface, root_path=args.root_path,
                          threads=args.threads, lifespan=args.lifespan)
    except apps.LifespanFailed as exc:
        return _error(f"the app's lifespan startup failed: {exc}", EXIT_STARTUP)
    except OSError as exc:
        where = args.uds or (f"fd {', '.join(map(str, args.fd))}" if args.fd else f"{args.host}:{args.port}")
        return _error(f"cannot listen on {where}: {exc.strerror or exc}", EXIT_LISTEN)


if __name__ == "__main__":
    sys.exit(main())
