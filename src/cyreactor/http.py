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

=================  ===================  ================================================
max_request_line   8192 bytes           bytes in the request line (414, as soon as the
                                        line is longer, complete or not)
max_head_size      65536 bytes          request line and header fields (the trailer
                                        section too) (431)
max_headers        100                  header fields (431)
max_body_size      64 MiB (1 GiB demo)  decoded request body; the demo server discards
                                        bodies as they arrive (413, from Content-Length
                                        at once or when the chunks pass it)
header_timeout     10 s                 a head, blank lines before it included, must
                                        arrive whole within this of its first byte; more
                                        bytes do not extend it (408, close)
body_timeout       30 s                 longest silence inside a body (408, close)
min_body_rate      500 bytes/s          after the first body_timeout of a body, the
                                        least average rate it must keep up (0: no
                                        minimum) (408, close)
keepalive_timeout  15 s                 idle time between requests (close)
send_timeout       60 s                 longest time a client may leave our responses
                                        unread (no progress draining the write buffer),
                                        also while the connection is closing (abort)
linger_timeout     2 s                  after the last response, half-closed: how long
                                        input is read and dropped so that a reset does
                                        not destroy the response (close)
max_connections    50000                open connections (503 and a close for a new one;
                                        the others go on)
shutdown_timeout   10 s                 on shutdown (SIGINT/SIGTERM for serve()),
                                        longest wait for responses in flight (close the
                                        rest)
access_log         off                  one INFO line per request on the
                                        cyreactor.http.access logger
=================  ===================  ================================================
"""
import logging

from cyreactor import http_options
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

    def listen(self, reactor, host="127.0.0.1", port=8000, *, reuse_port=False, backlog=1024):
        """Starts accepting on ``host:port``; returns the reactor's Listener
        (``listener.sockname`` has the real port when ``port`` is 0)."""
        self._check_reactor(reactor)
        listener = reactor.listen(host, port, self.core, backlog=backlog, reuse_port=reuse_port)
        self.listeners.append(listener)
        return listener

    def listen_unix(self, reactor, path, *, backlog=1024):
        """Starts accepting on the Unix socket ``path``."""
        self._check_reactor(reactor)
        listener = reactor.listen_unix(path, self.core, backlog=backlog)
        self.listeners.append(listener)
        return listener

    def listen_socket(self, reactor, sock, *, backlog=1024):
        """Starts accepting on an already bound socket (the reactor takes it)."""
        self._check_reactor(reactor)
        listener = reactor.listen_socket(sock, self.core, backlog=backlog)
        self.listeners.append(listener)
        return listener

    def stop_accepting(self):
        for listener in self.listeners:
            listener.close()
        self.listeners = []

    def shutdown(self, reactor, *, timeout=None, callback=None, stop_reactor=True):
        """Graceful stop: closes the listeners, closes idle connections,
        lets busy ones finish their current response, and once every
        connection is gone or ``timeout`` seconds (default: the
        ``shutdown_timeout`` option) have passed, calls ``callback()`` if
        given and stops ``reactor`` unless ``stop_reactor`` is false, so
        ``run()`` returns. Runs on the reactor's thread."""
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


def keep_freed_memory(max_block):
    """Tunes glibc's malloc for a server that allocates request bodies of up
    to ``max_block`` bytes: blocks that size come from the heap rather than
    a fresh mmap(), and freed memory is kept (up to twice that) instead of
    being handed back to the kernel at once. Without it every page of every
    large body is page-faulted in again: with 1 MiB bodies, ~180 minor
    faults per request and about 3x the CPU. The cost is that up to
    2 * ``max_block`` of freed memory stays in the process. Returns whether
    it applied (glibc only). Process-wide: ``serve()`` calls it."""
    import ctypes
    import platform

    if platform.libc_ver()[0] != "glibc":
        return False
    threshold = min(max(int(max_block), 128 * 1024), _MMAP_THRESHOLD_MAX)
    libc = ctypes.CDLL(None)
    return bool(libc.mallopt(_M_MMAP_THRESHOLD, threshold)
                and libc.mallopt(_M_TRIM_THRESHOLD, 2 * threshold))


def serve(app, host="127.0.0.1", port=8000, *, interface="native", root_path="", threads=0,
          lifespan="auto", reuse_port=False, backlog=1024, ready=None, tune_malloc=True, **options):
    """Serves ``app`` until SIGINT or SIGTERM (then stops gracefully, within
    the ``shutdown_timeout`` option).

    ``interface``, ``root_path`` and ``threads`` are ``HttpServer``'s; an
    ASGI app's lifespan is run around the serving (``lifespan``: "auto",
    "on" or "off", as uvicorn's). ``ready(sockname)`` is called once
    listening, with the bound address. Signal handlers are installed only on
    the main thread; to run a server on a reactor of your own (a thread,
    tests), use ``HttpServer.listen``. ``tune_malloc`` applies
    ``keep_freed_memory(max_body_size)``: this call owns the process, and
    bodies are handed to native and WSGI apps whole.
    """
    from cyreactor import apps

    server = HttpServer(app, interface=interface, root_path=root_path, threads=threads, **options)
    if tune_malloc and app is not None:
        keep_freed_memory(server.core.options["max_body_size"])
    apps.serve(server, host=host, port=port, reuse_port=reuse_port, backlog=backlog, ready=ready,
               lifespan=lifespan)
    return server


async def serve_async(app, host="127.0.0.1", port=8000, *, reuse_port=False, backlog=1024, ready=None,
                      **options):
    """``serve()`` inside a running cyreactor event loop (``cyreactor.run``,
    ``asyncio.Runner(loop_factory=cyreactor.new_event_loop)``), next to the
    program's other tasks: serves until the awaiting task is cancelled, then
    stops gracefully (within the ``shutdown_timeout`` option)."""
    import asyncio

    loop = asyncio.get_running_loop()
    if not isinstance(loop, Reactor):
        raise RuntimeError("serve_async() needs a cyreactor event loop: run it with cyreactor.run()")
    server = HttpServer(app, **options)
    listener = server.listen(loop, host, port, reuse_port=reuse_port, backlog=backlog)
    if ready is not None:
        ready(listener.sockname)
    logger.info("serving HTTP on %s", url_for(listener.sockname))
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


def url_for(sockname):
    """``http://host:port/`` for a listener's sockname (IPv6 bracketed)."""
    host, port = sockname[0], sockname[1]
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}/"
