"""``python -m cyreactor``: the demo HTTP server.

Answers every request (any method but CONNECT, any path) with ``200 OK``,
``content-type: text/html`` and the 28-byte body ``Hello! I am an epoll
server.`` after reading the whole request body. ``--workers N`` runs N
processes sharing the port through SO_REUSEPORT under a supervising parent
that restarts a worker that dies. SIGINT/SIGTERM: stop accepting, finish the
responses in flight, close, exit 0.
"""
import argparse
import ctypes
import logging
import os
import resource
import select
import signal
import socket
import sys
import time

from cyreactor.http import DEFAULTS, HttpServer, url_for

log = logging.getLogger("cyreactor.server")

_PR_SET_PDEATHSIG = 1   # <sys/prctl.h>


def _positive_float(text):
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be > 0")
    return value


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
    p.add_argument("--access-log", action="store_true",
                   help="log one line per request (off by default)")
    p.add_argument("--backlog", type=_positive_int, default=1024, help="listen() backlog (default: %(default)s)")
    limits = p.add_argument_group("limits")
    limits.add_argument("--max-connections", type=_positive_int, default=DEFAULTS["max_connections"],
                        help="past this, new connections get 503 and a close (default: %(default)s)")
    limits.add_argument("--max-request-line", type=_positive_int, default=DEFAULTS["max_request_line"],
                        help="bytes in the request line, else 414 (default: %(default)s)")
    limits.add_argument("--max-head-size", type=_positive_int, default=DEFAULTS["max_head_size"],
                        help="bytes in request line + header fields, else 431 (default: %(default)s)")
    limits.add_argument("--max-headers", type=_positive_int, default=DEFAULTS["max_headers"],
                        help="header fields per request, else 431 (default: %(default)s)")
    limits.add_argument("--max-body-size", type=_positive_int, default=1 << 30,
                        help="request body bytes, else 413; bodies are discarded as they "
                             "stream in (default: %(default)s)")
    timeouts = p.add_argument_group("timeouts (seconds)")
    timeouts.add_argument("--header-timeout", type=_positive_float, default=DEFAULTS["header_timeout"],
                          help="a request head must arrive within this (default: %(default)s)")
    timeouts.add_argument("--body-timeout", type=_positive_float, default=DEFAULTS["body_timeout"],
                          help="longest wait between pieces of a body (default: %(default)s)")
    timeouts.add_argument("--keepalive-timeout", type=_positive_float, default=DEFAULTS["keepalive_timeout"],
                          help="idle time between requests before closing (default: %(default)s)")
    timeouts.add_argument("--send-timeout", type=_positive_float, default=DEFAULTS["send_timeout"],
                          help="longest wait for a client that does not read its responses "
                               "(default: %(default)s)")
    timeouts.add_argument("--linger-timeout", type=_positive_float, default=DEFAULTS["linger_timeout"],
                          help="draining time after the last response before closing (default: %(default)s)")
    timeouts.add_argument("--shutdown-timeout", type=_positive_float, default=10.0,
                          help="on SIGINT/SIGTERM, longest wait for responses in flight (default: %(default)s)")
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


def server_options(args):
    return {
        "max_connections": args.max_connections,
        "max_request_line": args.max_request_line,
        "max_head_size": args.max_head_size,
        "max_headers": args.max_headers,
        "max_body_size": args.max_body_size,
        "header_timeout": args.header_timeout,
        "body_timeout": args.body_timeout,
        "keepalive_timeout": args.keepalive_timeout,
        "send_timeout": args.send_timeout,
        "linger_timeout": args.linger_timeout,
        "access_log": args.access_log,
    }


def _exit_now(signum, frame):
    raise SystemExit(0)


def run_worker(args, port, *, reuse_port, announce, ready_fd=-1):
    # Imported here so the supervising parent never builds a reactor.
    from cyreactor import Reactor

    # Outside reactor.run() (start-up, teardown) a signal just exits, with
    # status 0: the reactor restores these handlers when it closes.
    signal.signal(signal.SIGINT, _exit_now)
    signal.signal(signal.SIGTERM, _exit_now)
    server = HttpServer(None, **server_options(args))
    with Reactor() as reactor:
        listener = server.listen(reactor, args.host, port, reuse_port=reuse_port, backlog=args.backlog)

        def stop():
            log.info("stopping: finishing responses in flight")
            server.shutdown(reactor, timeout=args.shutdown_timeout, callback=reactor.stop)

        reactor.add_signal_handler(signal.SIGINT, stop)
        reactor.add_signal_handler(signal.SIGTERM, stop)
        if announce:
            print(f"cyreactor demo server listening on {url_for(listener.sockname)}", flush=True)
        if ready_fd >= 0:
            os.write(ready_fd, b"1")
            os.close(ready_fd)
        reactor.run()
    return 0


def _reserve_port(host, port):
    """Binds (without listening) a SO_REUSEPORT socket so every worker gets
    the same port even when ``port`` is 0; it receives no connections."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def _die_with(parent):
    """Asks the kernel for SIGTERM when the supervisor dies, however it dies
    (SIGKILL included), so no worker outlives it holding the port."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    if os.getppid() != parent:      # it died before prctl() took effect
        os._exit(0)


def _spawn(args, port, reserved):
    """Forks a worker; returns once it is listening (or has died, or 10 s
    passed), so the URL is printed only when connections will be served."""
    rfd, wfd = os.pipe()
    parent = os.getpid()
    pid = os.fork()
    if pid:
        os.close(wfd)
        ready, _, _ = select.select([rfd], [], [], 10.0)
        if not ready or not os.read(rfd, 1):
            log.warning("worker %d did not report listening", pid)
        os.close(rfd)
        return pid
    code = 1
    try:
        signal.signal(signal.SIGINT, _exit_now)
        signal.signal(signal.SIGTERM, _exit_now)
        _die_with(parent)
        os.close(rfd)
        reserved.close()
        code = run_worker(args, port, reuse_port=True, announce=False, ready_fd=wfd)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        logging.getLogger("cyreactor.server").exception("worker %d failed", os.getpid())
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def supervise(args):
    """The parent of ``--workers N``: starts the workers, restarts one that
    dies, and on SIGINT/SIGTERM passes SIGTERM on and waits for them."""
    reserved = _reserve_port(args.host, args.port)
    port = reserved.getsockname()[1]
    stopping = []
    signal.signal(signal.SIGINT, lambda *_: stopping.append(True))
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    workers = {}
    for _ in range(args.workers):
        workers[_spawn(args, port, reserved)] = time.monotonic()
    print(f"cyreactor demo server listening on {url_for((args.host, port))} "
          f"({args.workers} workers, supervisor pid {os.getpid()})", flush=True)
    try:
        while not stopping:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                pid = 0
            if not pid:
                time.sleep(0.05)
                continue
            started = workers.pop(pid, None)
            if started is None or stopping:
                continue
            log.warning("worker %d exited (%s); starting another", pid,
                        f"signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status)
                        else f"status {os.WEXITSTATUS(status)}")
            if time.monotonic() - started < 1.0:
                time.sleep(1.0)        # crash loop: do not spin
            workers[_spawn(args, port, reserved)] = time.monotonic()
    finally:
        for pid in workers:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + args.shutdown_timeout + 5.0
        while workers and time.monotonic() < deadline:
            for pid in list(workers):
                try:
                    done, _ = os.waitpid(pid, os.WNOHANG)
                except ChildProcessError:
                    done = pid
                if done:
                    del workers[pid]
            time.sleep(0.02)
        for pid in workers:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        reserved.close()
    return 0


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
        return run_worker(args, args.port, reuse_port=False, announce=True)
    return supervise(args)


if __name__ == "__main__":
    sys.exit(main())
