"""HTTP/1.1 server on the cyreactor reactor.

The simple form: a function from ``Request`` to ``Response``::

    from cyreactor import http

    def app(request):
        return http.Response(200, [("content-type", "text/plain")], b"hi\\n")

    http.serve(app, host="127.0.0.1", port=8000)

The streaming form: a ``RequestHandler`` subclass, one instance per request,
that receives the body in pieces (``on_body``) and answers through a
``ResponseWriter`` (``self.response.start/write/end``), at any time.

An exception in user code answers 500 (or drops the connection if part of
the response is already out), goes to the reactor's exception handler with
the request's method, path and peer, and the server keeps serving.

Limits and timeouts (keyword arguments of ``serve``/``HttpServer``, flags of
``python -m cyreactor``), with their defaults; the one table they come from
is ``cyreactor.http_options``:

===================  ===================  ================================================
max_request_line     8192 bytes           bytes in the request line (414, as soon as the
                                          line is longer, complete or not)
max_head_size        65536 bytes          request line and header fields (the trailer
                                          section too) (431)
max_headers          100                  header fields (431)
max_body_size        64 MiB (1 GiB demo)  decoded request body; the demo server discards
                                          bodies as they arrive (413, from Content-Length
                                          at once or when the chunks pass it)
header_timeout       10 s                 a head, blank lines before it included, must
                                          arrive whole within this of its first byte; more
                                          bytes do not extend it (408, close)
body_timeout         30 s                 longest silence inside a body (408, close)
min_body_rate        500 bytes/s          after the first body_timeout of a body, the
                                          least average rate it must keep up (0: no
                                          minimum) (408, close)
keepalive_timeout    15 s                 idle time between requests (close)
send_timeout         60 s                 longest time a client may leave our responses
                                          unread (no progress draining the write buffer),
                                          also while the connection is closing (abort)
linger_timeout       2 s                  after the last response, half-closed: how long
                                          input is read and dropped so that a reset does
                                          not destroy the response (close)
max_connections      50000                open connections (503 and a close for a new one;
                                          the others go on)
shutdown_timeout     10 s                 on shutdown (SIGINT/SIGTERM for serve()),
                                          longest wait for responses in flight (close the
                                          rest)
drain_delay          0 s                  on shutdown, how long to keep serving as usual
                                          while the health path answers 503, before
                                          stopping (load balancers take time to notice)
                                          (then the shutdown above)
health_path          none                 a path the server answers itself, for probes:
                                          200, 503 once draining
metrics_path         none                 a path the server answers itself with its
                                          counters, in the Prometheus text format (all
                                          workers')
proxy_headers        on                   honour X-Forwarded-For/-Proto and Forwarded from
                                          forwarded_allow_ips: the request's client and
                                          scheme, and the access log's
forwarded_allow_ips  `127.0.0.1`          the proxies trusted: addresses, networks,
                                          'unix:' or '*', comma-separated (their headers
                                          are ignored)
access_log           off                  one INFO line per request on the
                                          cyreactor.http.access logger
access_log_format    `combined`           the access log's format: Apache's combined or
                                          common, or one JSON object per line
proxy_protocol       off                  every connection must start with a PROXY
                                          protocol v1 or v2 header (HAProxy's; v2 LOCAL
                                          keeps the real peer); the client it names is the
                                          request's (a connection without a valid header
                                          is closed)
handshake_timeout    10 s                 from the accept, the PROXY protocol header and
                                          the TLS handshake must be complete within this
                                          (close, logged at debug level)
===================  ===================  ================================================
"""
import logging
import signal
import threading

from cyreactor import http_options, metrics
from cyreactor._http import (
    DEMO_BODY,
    AsgiAdapter,
    ClientDisconnected,
    FileWrapper,
    Headers,
    Request,
    RequestHandler,
    Response,
    ResponseWriter,
    ServerCore,
    WsgiAdapter,
    http_date,
)
from cyreactor._httpparser import HttpParseError, RequestParser, parse_requests
from cyreactor._loop import Reactor

__all__ = [
    "DEFAULTS",
    "DEMO_BODY",
    "INTERFACES",
    "ClientDisconnected",
    "FileWrapper",
    "Headers",
    "HttpParseError",
    "HttpServer",
    "Request",
    "RequestHandler",
    "RequestParser",
    "Response",
    "ResponseWriter",
    "Router",
    "http_date",
    "keep_freed_memory",
    "parse_requests",
    "serve",
    "serve_async",
    "url_for",
]

logger = logging.getLogger("cyreactor.http")

# Every option's default for an app (the demo server's differ where the
# table says so).
DEFAULTS = http_options.defaults()


INTERFACES = ("native", "asgi", "wsgi")


class HttpServer:
    """An HTTP server that can listen on any number of reactors/addresses.

    ``app`` is, with ``interface="native"`` (the default), a function
    ``app(request) -> Response`` (or ``async def``), a ``RequestHandler``
    subclass, or None for the demo server's fixed response; with
    ``interface="asgi"`` an ASGI 3.0 app (served on a ``cyreactor.Loop``),
    with ``interface="wsgi"`` a WSGI app (on the loop thread, or in a pool
    of ``threads`` threads). ``root_path`` is the ASGI ``root_path`` / WSGI
    ``SCRIPT_NAME``. Keyword options are the limits and timeouts listed in
    this module's docstring. ``core`` is the ``ServerCore``: the reactor's
    handler factory, with the counters.
    """

    def __init__(self, app=None, *, interface="native", root_path="", threads=0, multiprocess=False,
                 **options):
        handler_class = adapter = None
        if interface == "asgi":
            adapter, app = AsgiAdapter(app, root_path=root_path), None
        elif interface == "wsgi":
            adapter = WsgiAdapter(app, root_path=root_path, threads=threads, multiprocess=multiprocess)
            app = None
        elif interface != "native":
            raise ValueError(f"interface must be one of {', '.join(INTERFACES)}, not {interface!r}")
        elif isinstance(app, type) and issubclass(app, RequestHandler):
            handler_class, app = app, None
        elif app is not None and not callable(app):
            raise TypeError("app must be callable or a RequestHandler subclass")
        self.interface = interface
        self.core = ServerCore(app, handler_class=handler_class, adapter=adapter, **options)
        self.listeners = []

    @property
    def needs_loop(self):
        """True if the app needs a ``cyreactor.Loop`` (an asyncio loop), not
        only a Reactor: ASGI apps and ``async def`` native apps."""
        return self.interface == "asgi" or _is_async_app(self.core)

    def _check_reactor(self, reactor):
        if self.needs_loop and not hasattr(reactor, "create_task"):
            raise TypeError("this app runs on an asyncio loop: listen on a cyreactor.Loop, not a Reactor")

    def listen(self, reactor, host="127.0.0.1", port=8000, *, reuse_port=False, backlog=1024, ssl=None,
               proxy_protocol=None):
        """Starts accepting on ``host:port``; returns the reactor's Listener
        (``listener.sockname`` has the real port when ``port`` is 0).

        ``ssl``: an ssl.SSLContext (server side) to serve HTTPS: give it
        ALPN ``http/1.1`` only, if any (``cyreactor.tlsconfig.server_context``
        builds one); plain HTTP sent to the port is answered 400, as nginx
        does. ``proxy_protocol``: require a PROXY protocol header on every
        connection (default: the ``proxy_protocol`` option). Both must be
        through within the ``handshake_timeout`` option."""
        self._check_reactor(reactor)
        listener = reactor.listen(host, port, self.core, backlog=backlog, reuse_port=reuse_port,
                                  **self._stage(ssl, proxy_protocol))
        self.listeners.append(listener)
        return listener

    def listen_unix(self, reactor, path, *, backlog=1024, ssl=None, proxy_protocol=None):
        """Starts accepting on the Unix socket ``path``; ``ssl`` and
        ``proxy_protocol`` as for ``listen``."""
        self._check_reactor(reactor)
        listener = reactor.listen_unix(path, self.core, backlog=backlog, **self._stage(ssl, proxy_protocol))
        self.listeners.append(listener)
        return listener

    def listen_socket(self, reactor, sock, *, backlog=1024, ssl=None, proxy_protocol=None):
        """Starts accepting on a listening socket made elsewhere (inherited,
        systemd's, a Unix socket: cyreactor.sockets); the reactor takes it.
        ``ssl`` and ``proxy_protocol`` as for ``listen``."""
        self._check_reactor(reactor)
        listener = reactor.listen_socket(sock, self.core, backlog=backlog, **self._stage(ssl, proxy_protocol))
        self.listeners.append(listener)
        return listener

    def _stage(self, ssl, proxy_protocol):
        # The reactor's arguments for what precedes HTTP on a connection.
        options = self.core.options
        if proxy_protocol is None:
            proxy_protocol = options["proxy_protocol"]
        stage = {"ssl": ssl, "proxy_protocol": proxy_protocol}
        if ssl is not None or proxy_protocol:
            stage["handshake_timeout"] = options["handshake_timeout"]
        if ssl is not None:
            # After our close_notify, the client's end is awaited as long as
            # a lingering close waits for it.
            stage["ssl_shutdown_timeout"] = options["linger_timeout"]
        return stage

    def serve_metrics(self, reactor, scoreboard=None):
        """Answers the ``metrics_path`` option (if set) with this process's
        counters and ``reactor``'s, or with every worker's on
        ``scoreboard`` (a cyreactor.metrics.Scoreboard whose slot this
        process counts into). Returns the function that renders them."""
        core = self.core
        if scoreboard is not None:
            core.attach_metrics(scoreboard.buffer, scoreboard.http_offset(scoreboard.mine))

            def text():
                self.heartbeat(reactor, scoreboard)       # this worker's figures are current
                return metrics.render(scoreboard.totals())
        else:
            def text():
                return metrics.render(metrics.snapshot(core, reactor))
        core.metrics_source = text
        return text

    def heartbeat(self, reactor, scoreboard, max_requests=0):
        """A worker's heartbeat: writes its reactor's counters, its gauges
        and the time into its scoreboard slot, and asks to be replaced once
        it has served ``max_requests`` (0: never)."""
        self.core.update_gauges()
        scoreboard.beat(reactor.stats(), retire=0 < max_requests <= self.core.requests)

    def stop_accepting(self):
        for listener in self.listeners:
            listener.close()
        self.listeners = []

    def shutdown(self, reactor, *, timeout=None, callback=None, stop_reactor=True, drain_delay=None):
        """Graceful stop: closes the listeners, closes idle connections,
        lets busy ones finish their current response, and once every
        connection is gone or ``timeout`` seconds (default: the
        ``shutdown_timeout`` option) have passed, calls ``callback()`` if
        given and stops ``reactor`` unless ``stop_reactor`` is false, so
        ``run()`` returns. Runs on the reactor's thread.

        First, for ``drain_delay`` seconds (default: the option), the server
        keeps serving as usual but its health path answers 503, so that
        load balancers stop sending before it stops accepting. Called again
        during that delay, it stops at once."""
        if drain_delay is None:
            drain_delay = self.core.options["drain_delay"]
        if drain_delay > 0 and not self.core.draining:
            self.core.drain()
            reactor.call_later(drain_delay, lambda: self.shutdown(
                reactor, timeout=timeout, callback=callback, stop_reactor=stop_reactor, drain_delay=0))
            return
        if self.core.shutting_down:
            return
        self.stop_accepting()
        self.core.shutdown()
        if timeout is None:
            timeout = self.core.options["shutdown_timeout"]
        deadline = reactor.time() + timeout

        def check():
            if self.core.open_connections and reactor.time() < deadline:
                reactor.call_later(0.02, check)
                return
            if callback is not None:
                callback()
            if stop_reactor:
                reactor.stop()

        check()

    def stats(self):
        return self.core.stats()


class Router:
    """One native app of many routes, each a plain function
    (``app(request) -> Response``, or ``async def``; the body is read
    whole before it runs) or a ``RequestHandler`` subclass (streaming: the
    body comes to ``on_body`` as it arrives). Routes are exact paths,
    optionally limited to some methods::

        router = http.Router()

        @router.route("/hello")
        def hello(request):
            return http.Response(200, body=b"hi")

        @router.route("/upload", methods=["PUT"])
        class Upload(http.RequestHandler):
            ...

        http.serve(router)

    An unknown path is 404, a known path with another method 405."""

    def __init__(self, routes=None):
        self._routes = {}
        for path, endpoint in (routes or {}).items():
            self.add(path, endpoint)

    def add(self, path, endpoint, methods=None):
        """Routes ``path`` (for ``methods``, default: all) to ``endpoint``."""
        if not (callable(endpoint) or (isinstance(endpoint, type) and issubclass(endpoint, RequestHandler))):
            raise TypeError(f"{endpoint!r} is neither a function nor a RequestHandler subclass")
        allowed = None if methods is None else frozenset(m.upper() for m in methods)
        self._routes.setdefault(path, []).append((allowed, endpoint))
        return endpoint

    def route(self, path, methods=None):
        """A decorator: ``@router.route("/path", methods=["GET"])``."""
        return lambda endpoint: self.add(path, endpoint, methods)

    def _endpoint(self, request):
        entries = self._routes.get(request.path)
        if entries is None:
            return _NOT_FOUND
        for allowed, endpoint in entries:
            if allowed is None or request.method in allowed:
                return endpoint
        return _METHOD_NOT_ALLOWED

    def handler_for(self, request):
        """The server's question when a head arrives: the RequestHandler
        subclass that streams this request, or None for a function."""
        endpoint = self._endpoint(request)
        return endpoint if isinstance(endpoint, type) else None

    def __call__(self, request):
        endpoint = self._endpoint(request)
        if isinstance(endpoint, Response):
            return endpoint
        return endpoint(request)


_NOT_FOUND = Response(404, [("content-type", "text/plain")], b"Not Found\n")
_METHOD_NOT_ALLOWED = Response(405, [("content-type", "text/plain")], b"Method Not Allowed\n")


# mallopt(3) parameters from <malloc.h>.
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
# glibc refuses an mmap threshold above HEAP_MAX_SIZE / 2 (32 MiB on 64-bit).
_MMAP_THRESHOLD_MAX = 32 * 1024 * 1024
# mallopt() takes an int: the largest trim threshold it can be given.
_TRIM_NEVER = 2**31 - 1
# serve() gives freed memory back once no request has completed for this long (s).
_IDLE_TRIM_DELAY = 1.0


def _glibc():
    import ctypes
    import platform

    if platform.libc_ver()[0] != "glibc":
        return None
    return ctypes.CDLL(None)


def keep_freed_memory(max_block):
    """Tunes glibc's malloc for a server that allocates request bodies of up
    to ``max_block`` bytes: blocks that size come from the heap rather than
    a fresh mmap(), and freed memory is kept (up to twice that) instead of
    being handed back to the kernel at once. Without it every page of every
    large body is page-faulted in again: with 1 MiB bodies, ~180 minor
    faults per request and about 3x the CPU. The cost is that up to
    2 * ``max_block`` of freed memory stays in the process. Returns whether
    it applied (glibc only). Process-wide: ``serve()`` calls it."""
    libc = _glibc()
    if libc is None:
        return False
    threshold = min(max(int(max_block), 128 * 1024), _MMAP_THRESHOLD_MAX)
    return bool(libc.mallopt(_M_MMAP_THRESHOLD, threshold)
                and libc.mallopt(_M_TRIM_THRESHOLD, 2 * threshold))


def _keep_freed_memory_until_idle(server, reactor):
    # serve()'s policy over keep_freed_memory(): free() keeps everything,
    # and malloc_trim(3) gives it back once no request has completed for
    # _IDLE_TRIM_DELAY. A fixed bound is exceeded by enough clients at once:
    # 100 clients posting 1 MiB each keep ~100 MiB of bodies live, and with
    # twice max_body_size (64 MiB) kept, ~240 of each body's 256 pages were
    # faulted in anew, about 5x the CPU per request.
    libc = _glibc()
    if libc is None or not libc.mallopt(_M_TRIM_THRESHOLD, _TRIM_NEVER):
        return
    core = server.core
    seen = trimmed = core.requests

    def tick():
        nonlocal seen, trimmed
        if core.requests == seen != trimmed:
            libc.malloc_trim(0)
            trimmed = seen
        seen = core.requests
        reactor.call_later(_IDLE_TRIM_DELAY, tick)

    reactor.call_later(_IDLE_TRIM_DELAY, tick)


# How often a worker writes its heartbeat and figures to the scoreboard.
HEARTBEAT_INTERVAL = 0.5


def _not_found(request):
    return Response(404, [("content-type", "text/plain")], b"Not Found\n")


def serve(app, host="127.0.0.1", port=8000, *, interface="native", root_path="", threads=0,
          lifespan="auto", sockets=None, reuse_port=False, backlog=1024, ready=None, setup=None,
          tune_malloc=True, metrics_port=None, scoreboard=None, max_requests=0, ssl=None, **options):
    """Serves ``app`` until SIGINT or SIGTERM (then stops gracefully: the
    ``drain_delay`` and ``shutdown_timeout`` options).

    ``interface``, ``root_path`` and ``threads`` are ``HttpServer``'s. An
    app that needs an asyncio loop (ASGI, ``async def``) is served on a
    ``cyreactor.Loop``, with an ASGI app's lifespan around the serving
    (``lifespan``: "auto", "on" or "off", as uvicorn's;
    ``cyreactor.apps.LifespanFailed`` if its startup fails).
    ``sockets``: listening sockets made elsewhere (cyreactor.sockets:
    inherited, systemd's, Unix) to serve instead of ``host:port``.
    ``ready(sockname)`` is called once listening, with the (first) bound
    address, then ``setup(reactor, server)`` if given (to add timers or
    replace the signal handlers: the gunicorn worker). ``metrics_port``:
    also answer the ``metrics_path`` option (default ``/metrics``) and the
    health path (default ``/health``) on this port of ``host`` (or this
    listening socket), which serves nothing else. ``scoreboard``: the
    worker's slot of a supervisor's Scoreboard (counters, heartbeat);
    ``max_requests``: after that many requests, stop (under a supervisor:
    ask to be replaced first); 0 never. ``ssl``: an ssl.SSLContext to serve
    HTTPS (see ``HttpServer.listen``; the metrics port stays plain HTTP).
    Signal handlers are installed only on the main thread; to run a server
    on a reactor of your own (a thread, tests), use ``HttpServer.listen``.
    ``tune_malloc`` applies
    ``keep_freed_memory(max_body_size)``, and more: this call owns the
    process, and bodies are handed to native and WSGI apps whole, so freed
    memory is kept while requests come and given back to the kernel once
    none has completed for a second.
    """
    from cyreactor import apps

    server = HttpServer(app, interface=interface, root_path=root_path, threads=threads,
                        multiprocess=scoreboard is not None, **options)
    if tune_malloc and app is not None:
        keep_freed_memory(server.core.options["max_body_size"])
    with _reactor_for(server) as reactor:
        if tune_malloc and app is not None:
            _keep_freed_memory_until_idle(server, reactor)
        span = apps.start_lifespan(reactor, server, lifespan)
        try:
            _serve_on(server, reactor, host, port, sockets, reuse_port, backlog, ready, setup,
                      metrics_port, scoreboard, max_requests, ssl)
        finally:
            apps.end_lifespan(reactor, server, span)
    return server


def _reactor_for(server):
    # A cyreactor.Loop (an asyncio loop, and the thread's event loop) when
    # the app needs one; a plain Reactor otherwise.
    if not server.needs_loop:
        return Reactor()
    import asyncio

    from cyreactor.eventloop import Loop

    loop = Loop()
    asyncio.set_event_loop(loop)
    return loop


def _serve_on(server, reactor, host, port, sockets, reuse_port, backlog, ready, setup, metrics_port,
              scoreboard, max_requests, ssl):
    if sockets:
        listeners = [server.listen_socket(reactor, sock, backlog=backlog, ssl=ssl) for sock in sockets]
    else:
        listeners = [server.listen(reactor, host, port, reuse_port=reuse_port, backlog=backlog, ssl=ssl)]
    text = server.serve_metrics(reactor, scoreboard)
    side = None
    if metrics_port is not None:
        side = HttpServer(_not_found, metrics_path=server.core.options["metrics_path"] or "/metrics",
                          health_path=server.core.options["health_path"] or "/health",
                          proxy_headers=False)
        side.core.metrics_source = text
        if isinstance(metrics_port, int):
            side.listen(reactor, host, metrics_port, reuse_port=reuse_port, backlog=backlog)
        else:
            side.listen_socket(reactor, metrics_port, backlog=backlog)

    def stop():
        logger.info("stopping: finishing responses in flight")
        if side is not None:
            side.core.drain()       # its health path fails too; it closes with the reactor
        server.shutdown(reactor)

    def beat():
        if scoreboard is not None:
            server.heartbeat(reactor, scoreboard, max_requests)
        elif 0 < max_requests <= server.core.requests and not server.core.draining:
            logger.info("served %d requests: stopping", server.core.requests)
            stop()
        reactor.call_later(HEARTBEAT_INTERVAL, beat)

    if threading.current_thread() is threading.main_thread():
        reactor.add_signal_handler(signal.SIGINT, stop)
        reactor.add_signal_handler(signal.SIGTERM, stop)
    if scoreboard is not None or max_requests:
        beat()
    if ready is not None:
        ready(listeners[0].sockname)
    if setup is not None:
        setup(reactor, server)
    for listener in listeners:
        logger.info("serving HTTP on %s", url_for(listener.sockname, tls=ssl is not None))
    # An asyncio loop runs as one: it is then the thread's running loop.
    getattr(reactor, "run_forever", reactor.run)()


async def serve_async(app, host="127.0.0.1", port=8000, *, reuse_port=False, backlog=1024, ready=None,
                      ssl=None, **options):
    """``serve()`` inside a running cyreactor event loop (``cyreactor.run``,
    ``asyncio.Runner(loop_factory=cyreactor.new_event_loop)``), next to the
    program's other tasks: serves until the awaiting task is cancelled, then
    stops gracefully (within the ``shutdown_timeout`` option). ``ssl`` as
    for ``serve()``."""
    import asyncio

    loop = asyncio.get_running_loop()
    if not isinstance(loop, Reactor):
        raise RuntimeError("serve_async() needs a cyreactor event loop: run it with cyreactor.run()")
    server = HttpServer(app, **options)
    listener = server.listen(loop, host, port, reuse_port=reuse_port, backlog=backlog, ssl=ssl)
    if ready is not None:
        ready(listener.sockname)
    logger.info("serving HTTP on %s", url_for(listener.sockname, tls=ssl is not None))
    try:
        await loop.create_future()
    finally:
        drained = loop.create_future()
        server.shutdown(loop, callback=lambda: drained.done() or drained.set_result(None),
                        stop_reactor=False)
        await drained


def _is_async_app(core):
    """Whether a native app is ``async def`` somewhere (a function, a
    RequestHandler's method, a Router's route): it then needs a Loop."""
    return _is_async(core.app if core.app is not None else core.handler_class)


def _is_async(target):
    import inspect

    if target is None:
        return False
    if isinstance(target, Router):
        return any(_is_async(endpoint) for entries in target._routes.values() for _, endpoint in entries)
    if isinstance(target, type):
        return any(inspect.iscoroutinefunction(getattr(target, name, None))
                   for name in ("on_body", "on_complete", "on_drain"))
    return inspect.iscoroutinefunction(target) or inspect.iscoroutinefunction(getattr(target, "__call__", None))


def url_for(sockname, tls=False):
    """``http://host:port/`` (``https`` with ``tls``) for a listener's
    sockname (IPv6 bracketed); ``unix:PATH`` for a Unix socket's."""
    if not isinstance(sockname, tuple):
        return f"unix:{sockname}"
    host, port = sockname[0], sockname[1]
    if ":" in host:
        host = f"[{host}]"
    return f"{'https' if tls else 'http'}://{host}:{port}/"
