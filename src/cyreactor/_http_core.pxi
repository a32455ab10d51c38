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
        self._live = []
        self._m = &self._own_metrics

    def __init__(self, app=None, *, handler_class=None, AppAdapter adapter=None, **options):
        cdef bint demo = app is None and handler_class is None and adapter is None
        cdef dict settings = _resolve_options(options, demo=demo)
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
        self._access_format = _access_formatter(settings["access_log_format"]) if self.access_log else None
        self._proxies = (_forwarded.TrustedProxies(settings["forwarded_allow_ips"])
                         if settings["proxy_headers"] else None)
        self._health_path = settings["health_path"].encode("latin-1") or None
        self._metrics_path = settings["metrics_path"].encode("latin-1") or None
        self._special_paths = self._health_path is not None or self._metrics_path is not None
        self._need_headers = self.access_log
        self._options = settings
        self._slots = <HeaderSlot *>malloc(sizeof(HeaderSlot) * self._limits.max_headers)
        if self._slots == NULL:
            raise MemoryError()
        # The demo reads no header, unless the access log reports some.
        self._parser_slots = NULL if demo and not self._need_headers else self._slots

    def __dealloc__(self):
        while self._nspare:
            self._nspare -= 1
            free(self._spare[self._nspare])
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
        elif self.app is None and self.handler_class is None:
            proto = DemoProtocol.__new__(DemoProtocol)
        else:
            proto = AppProtocol.__new__(AppProtocol)
        proto._core = self
        return proto

    def drain(self):
        """The first step of a graceful stop: the health path answers 503
        from now on (load balancers take the server out of rotation); every
        request is still served as usual."""
        self.draining = True

    def shutdown(self):
        """Graceful stop: idle connections close now, busy ones after their
        current response (with ``connection: close``); new connections get
        503. Returns how many are still open."""
        cdef HttpProtocol proto
        self.draining = True
        self.shutting_down = True
        for proto in list(self._live):
            proto._shutdown()
        return self.open_connections

    def stats(self):
        return {
            "open": self.open_connections,
            "requests": self.requests,
            "refused": self.refused,
            "errors": self.errors,
        }

    def metrics(self):
        """Every counter as a dict (cyreactor.metrics renders it for
        Prometheus). The idle gauge is counted now."""
        self.update_gauges()
        return _metrics_dict(self._m)

    def update_gauges(self):
        """Counts the idle connections into the gauges (a scan of the open
        ones: done per scrape or heartbeat, not per request)."""
        cdef HttpProtocol proto
        cdef int64_t idle = 0
        for proto in self._live:
            # started: a request is being answered (the scrape's own, say).
            if (proto._conn is not None and not proto._done and proto._idle()
                    and (proto._ex == NULL or proto._ex.started == 0)):
                idle += 1
        self._m.idle = idle

    def attach_metrics(self, buffer, Py_ssize_t offset):
        """Counts from now on into the HttpMetrics at ``offset`` of the
        writable ``buffer`` (a worker's scoreboard slot, shared with the
        supervisor), starting from the counts so far."""
        view = _metrics_view(buffer, offset)
        cdef HttpMetrics *m = _metrics_at(view, offset)
        memcpy(m, self._m, sizeof(HttpMetrics))
        self._m = m
        self._m_owner = view


cdef int _unlist(ServerCore core, HttpProtocol proto) except -1:
    # The last protocol of the list takes proto's place: O(1).
    cdef list live = core._live
    cdef HttpProtocol last = live[len(live) - 1]
    live[proto._live_at] = last
    last._live_at = proto._live_at
    live.pop()
    return 0


# ---- the spare exchanges: an idle connection holds no parser ---------------------
#
# Both run on every keep-alive request, so they touch the core through the
# protocol's reference (no reference counting) and call nothing when they
# can help it.

cdef inline int _take_exchange(HttpProtocol proto) except -1:
    # At a request's first byte. A spare was given back between requests
    # (parser in S_START or S_DONE, no head buffer, nothing stashed): the
    # next parser_feed() starts a new message in it, as it would on the
    # connection that had it.
    cdef Exchange *ex
    if proto._core._nspare:
        proto._core._nspare -= 1
        proto._ex = proto._core._spare[proto._core._nspare]
        return 0
    ex = <Exchange *>calloc(1, sizeof(Exchange))
    if ex == NULL:
        raise MemoryError()
    parser_init(&ex.p, &proto._core._limits, proto._core._parser_slots)
    proto._ex = ex
    return 0


cdef inline void _give_back_exchange(HttpProtocol proto, bint reset) noexcept:
    # ``reset``: the exchange may be anywhere in a request (the connection
    # is lost), not between two.
    cdef Exchange *ex = proto._ex
    proto._ex = NULL
    if ex.p.hbuf != NULL:
        parser_free(&ex.p)
    if reset:
        free(ex.stash)
        ex.stash = NULL
        ex.stash_len = 0
        ex.started = 0.0
        parser_init(&ex.p, &proto._core._limits, proto._core._parser_slots)
    if proto._core._nspare < SPARE_EXCHANGES:
        proto._core._spare[proto._core._nspare] = ex
        proto._core._nspare += 1
    else:
        free(ex)
