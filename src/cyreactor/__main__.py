"""``python -m cyreactor``: the demo HTTP server.

Answers every request (any method but CONNECT, any path) with ``200 OK``,
``content-type: text/html`` and the 28-byte body ``Hello! I am an epoll
server.`` after reading the whole request body. ``--workers N`` runs N
processes sharing the port through SO_REUSEPORT under a supervising parent
(cyreactor.supervisor) that restarts a worker that dies. SIGINT/SIGTERM: stop
accepting, finish the responses in flight, close, exit 0. The limits and
timeouts are cyreactor.http_options' table, as flags.
"""
import argparse
import logging
import os
import resource
import sys

from cyreactor import http, http_options
from cyreactor.supervisor import Supervisor, exit_on_signals, reserve_port

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
                   help="worker processes sharing the port via SO_REUSEPORT (default: %(default)s)")
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


def run_worker(args, port, *, reuse_port, ready):
    """Serves the demo until SIGINT/SIGTERM; ``ready(sockname)`` once
    listening."""
    # Outside reactor.run() (start-up, teardown) a signal just exits, with
    # status 0: the reactor restores these handlers when it closes.
    exit_on_signals()
    http.serve(None, args.host, port, reuse_port=reuse_port, backlog=args.backlog, ready=ready,
               **http_options.from_arguments(args))
    return 0


def _announce(sockname, extra=""):
    print(f"cyreactor demo server listening on {http.url_for(sockname)}{extra}", flush=True)


def supervise(args):
    """``--workers N``: the workers share one reserved port."""
    reserved = reserve_port(args.host, args.port)
    port = reserved.getsockname()[1]

    def worker(ready):
        reserved.close()
        return run_worker(args, port, reuse_port=True, ready=lambda sockname: ready())

    supervisor = Supervisor(worker, args.workers, stop_timeout=args.shutdown_timeout + 5.0)
    try:
        return supervisor.run(started=lambda pids: _announce(
            (args.host, port), f" ({len(pids)} workers, supervisor pid {os.getpid()})"))
    finally:
        reserved.close()


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
    if args.workers == 1:
        return run_worker(args, args.port, reuse_port=False, ready=_announce)
    return supervise(args)


if __name__ == "__main__":
    sys.exit(main())
