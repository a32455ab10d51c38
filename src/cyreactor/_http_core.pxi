# ---------------------------------------------------------------- the server core

@cython.final
cdef class ServerCore:
    """The C side of one HTTP server (``HttpServer.core``): its options, the
    app, the counters and the live connections. Calling it makes the handler
    for a new connection: it is the reactor's handler factory.

    ``ServerCore(app=None, *, handler_class=None, adapter=None, **options)``;
    ``adapter`` serves an app of another interface (``AsgiAdapter``,
    ``WsgiAdapter``). The options and their defaults are
    cyreactor.http_options' table (the demo server's when there is no app)."""

    def __cinit__(self):
        self._slots = NULL
        self._protocols = set()

    def __init__(self, app=None, *, handler_class=None, AppAdapter adapter=None, **options):
        cdef dict settings = _resolve_options(
            options, demo=app is None and handler_class is None and adapter is None)
        if self._slots != NULL:
            raise RuntimeError("ServerCore.__init__ called twice")
        if adapter is not None and adapter.app is None:
            raise TypeError("the adapter was not initialised")
        self.app = app
        self.handler_class = handler_class
        self.adapter = adapter
        self._select = getattr(app, "handler_for", None) if app is not None else None
        limits_from(&self._limits, settings)
        self.header_timeout = settings["header_timeout"]
        self.body_timeout = settings["body_timeout"]
        self.min_body_rate = settings["min_body_rate"]
        self.keepalive_timeout = settings["keepalive_timeout"]
        self.send_timeout = settings["send_timeout"]
        self.linger_timeout = settings["linger_timeout"]
        self.max_connections = settings["max_connections"]
        self.access_log = settings["access_log"]
        self._options = settings
        self._slots = <HeaderSlot *>malloc(sizeof(HeaderSlot) * self._limits.max_headers)
        if self._slots == NULL:
            raise MemoryError()

    def __dealloc__(self):
        free(self._slots)

    @property
    def options(self):
        """Every option's value (cyreactor.http_options' names), a new dict."""
        return dict(self._options) if self._options is not None else {}

    def __call__(self):
        cdef HttpProtocol proto
        if self._slots == NULL:
            raise RuntimeError("ServerCore.__init__ was not called")
        if self.adapter is not None:
            proto = self.adapter._new_protocol()
            parser_init(&proto._p, &self._limits, self._slots)
        elif self.app is None and self.handler_class is None:
            proto = DemoProtocol.__new__(DemoProtocol)
            parser_init(&proto._p, &self._limits, NULL)
        else:
            proto = AppProtocol.__new__(AppProtocol)
            parser_init(&proto._p, &self._limits, self._slots)
        proto._core = self
        return proto

    def shutdown(self):
        """Graceful stop: idle connections close now, busy ones after their
        current response; new connections get 503. Returns how many are
        still open."""
        cdef HttpProtocol proto
        self.shutting_down = True
        for proto in list(self._protocols):
            proto._shutdown()
        return self.open_connections

    def stats(self):
        return {
            "open": self.open_connections,
            "requests": self.requests,
            "refused": self.refused,
            "errors": self.errors,
        }
