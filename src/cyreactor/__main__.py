"""``python -m cyreactor``: the demo HTTP server.

Answers every request (any method but CONNECT, any path) with ``200 OK``,
``content-type: text/html`` and the 28-byte body ``Hello! I am an epoll
server.`` after reading the whole request body. ``--workers N`` runs N
processes sharing one listening socket under a supervising parent
(cyreactor.supervisor) that restarts a worker that dies. SIGINT/SIGTERM: stop
accepting, finish the responses in flight, close, exit 0. The limits and
timeouts are cyreactor.http_options' table, as flags; the process flags
(sockets from outside, worker recycling, heartbeat, metrics port, and TLS:
``--ssl-certfile`` and uvicorn's other TLS flags) are cyreactor.runner's.
"""
import argparse
import logging
import resource
import sys

from cyreactor import http, http_options, runner

log = logging.getLogger("cyreactor.server")


def _positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be >= 1")
    return value


def build_parser():
    p = argparse.ArgumentParser(
        prog="python -m cyreactor",
        description="The cyreactor demo HTTP/1.1 server: every request gets "
                    "'Hello! I am an epoll server.'",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    p.add_argument("--port", type=int, default=8000,
                   help="TCP port; 0 picks a free one, printed at start-up (default: %(default)s)")
    p.add_argument("--workers", type=_positive_int, default=1,
                   help="worker processes sharing the listening socket (default: %(default)s)")
    p.add_argument("--log-level", default="warning",
                   choices=["debug", "info", "warning", "error", "critical"],
                   help="logging level (default: %(default)s)")
    p.add_argument("--backlog", type=_positive_int, default=1024, help="listen() backlog (default: %(default)s)")
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


def _announce(sockname, extra="", tls=False):
    print(f"cyreactor demo server listening on {http.url_for(sockname, tls)}{extra}", flush=True)


def main(argv=None):
    args = build_parser().parse_args(argv)
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
    raise_nofile_limit()
    return runner.run(None, args, lambda sockname, extra: _announce(sockname, extra, runner.is_tls(args)))


if __name__ == "__main__":
    sys.exit(main())
