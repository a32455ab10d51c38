# ---------------------------------------------------------------- requests

cdef list _METHODS = [None, "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE", "CONNECT"]


cdef bytes _norm_name(object name):
    if type(name) is bytes:
        return (<bytes>name).lower()
    if isinstance(name, str):
        return (<str>name).encode("latin-1").lower()
    return bytes(name).lower()


@cython.final
@cython.freelist(64)
cdef class Headers:
    """Request header fields: case-insensitive lookup, repeated names kept
    in order. Names are lower-case bytes, values bytes; lookups take str or
    bytes."""

    def __init__(self, items=()):
        self._items = [(_norm_name(k), _field_bytes(v, False)) for k, v in items]

    def get(self, name, default=None):
        """The first value of ``name``, or ``default``."""
        key = _norm_name(name)
        for k, v in self._items:
            if k == key:
                return v
        return default

    def getall(self, name):
        """Every value of ``name``, in order (a new list, maybe empty)."""
        key = _norm_name(name)
        return [v for k, v in self._items if k == key]

    def __getitem__(self, name):
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def __contains__(self, name):
        return self.get(name) is not None

    def __iter__(self):
        return iter(self._items)

    def __len__(self):
        return len(self._items)

    def items(self):
        """The ``(name, value)`` pairs, as a new list."""
        return list(self._items)

    def keys(self):
        return [k for k, v in self._items]

    def __eq__(self, other):
        if isinstance(other, Headers):
            return self._items == (<Headers>other)._items
        return NotImplemented

    def __repr__(self):
        return f"Headers({self._items!r})"


@cython.final
@cython.freelist(64)
cdef class Request:
    """One HTTP request. ``method``, ``target``, ``path``, ``query`` and
    ``version`` are str; ``headers`` a ``Headers``; ``body`` bytes (None in
    the streaming ``RequestHandler`` form, which receives it in ``on_body``).
    Fields are built on first access from one copy of the head."""

    def __init__(self):
        raise TypeError("Request objects are made by the server")

    def __dealloc__(self):
        free(self._head)

    @property
    def method(self):
        if self._method is None:
            if self._method_id != M_OTHER:
                self._method = _METHODS[self._method_id]
            else:
                self._method = self._head[:self._method_len].decode("ascii")
        return self._method

    @property
    def target(self):
        """The request-target as sent (origin-form "/path?query" usually)."""
        if self._target is None:
            self._target = self._head[self._target_off:self._target_off + self._target_len].decode("ascii")
        return self._target

    @property
    def path(self):
        """The target's path, not percent-decoded ("*" for OPTIONS *)."""
        t = self.target
        if not t.startswith("/") and "://" in t:
            t = t.split("://", 1)[1]
            i = t.find("/")
            t = t[i:] if i >= 0 else "/"
        i = t.find("?")
        return t if i < 0 else t[:i]

    @property
    def query(self):
        """What follows "?" in the target, not decoded; "" if none."""
        t = self.target
        i = t.find("?")
        return "" if i < 0 else t[i + 1:]

    @property
    def version(self):
        return "1.0" if self._version_minor == 0 else "1.1"

    @property
    def headers(self):
        cdef Headers h
        if self._headers is None:
            h = Headers.__new__(Headers)
            h._items = _fields(self._head, self._slots, self._nheaders) if self._head != NULL else []
            self._headers = h
        return self._headers

    @property
    def body(self):
        return self._body

    @property
    def content_length(self):
        """The Content-Length, 0 if none was sent; None for a chunked body."""
        return None if self.chunked else self._content_length

    @property
    def raw_head(self):
        """The request head as received, bytes."""
        if self._head == NULL:
            return None
        return PyBytes_FromStringAndSize(self._head, self._head_len)

    @property
    def peername(self):
        """The connection's peer: a proxy's address when there is one (see ``client``)."""
        return self._conn.peername if self._conn is not None else None

    @property
    def client(self):
        """``(host, port)`` of the client: the peer's, or the one a trusted
        proxy names in X-Forwarded-For/Forwarded (the ``proxy_headers`` and
        ``forwarded_allow_ips`` options); None for a Unix-socket peer that
        no trusted proxy names."""
        return self._client_scheme()[0]

    @property
    def scheme(self):
        """``"http"`` or ``"https"`` (``"ws"``/``"wss"`` if a proxy says so):
        the connection's, or a trusted proxy's X-Forwarded-Proto/Forwarded."""
        return self._client_scheme()[1]

    cdef tuple _client_scheme(self):
        # Resolved by the connection's protocol while it is open; a request
        # kept past its connection reports what it resolved before, if it did.
        if self._resolved is None:
            if self._conn is not None and isinstance(self._conn.handler, HttpProtocol):
                self._resolved = (<HttpProtocol>self._conn.handler)._client_scheme(self.headers.items())
            else:
                return (None, "http")
        return self._resolved

    @property
    def reactor(self):
        """The reactor serving this request (for timers in streaming handlers)."""
        return self._conn.reactor if self._conn is not None else None

    def __repr__(self):
        if self._head == NULL:
            return "<Request>"
        return f"<Request {self.method} {self.target} HTTP/{self.version}>"


cdef Request _make_request(HttpProtocol proto):
    # One buffer holds the head and, after it, the parser's header slots:
    # they are copied out of the parser's scratch (shared by every
    # connection of this server) before any object that could start a
    # garbage collection, and so run code, is made. The core's spare
    # Request, when there is one, makes no object at all.
    cdef HttpParser *p = &proto._ex.p
    cdef ServerCore core = proto._core
    cdef Py_ssize_t slots_off = (p.head_len + 7) & ~7
    cdef Py_ssize_t size = slots_off + <Py_ssize_t>sizeof(HeaderSlot) * p.nheaders
    cdef Py_ssize_t cap = (size + 255) & ~255     # heads alike in size fit the spare's
    cdef Request r = core._spare_request
    cdef char *h = r._head if r is not None and r._head_cap >= size else NULL
    if h == NULL:
        h = <char *>malloc(cap)
        if h == NULL:
            raise MemoryError()
    memcpy(h, p.head, p.head_len)
    memcpy(h + slots_off, p.slots, sizeof(HeaderSlot) * p.nheaders)
    if r is None:
        try:
            r = Request.__new__(Request)
        except BaseException:
            free(h)
            raise
    else:
        core._spare_request = None
    if r._head != h:
        free(r._head)
        r._head = h
        r._head_cap = cap
    r._head_len = p.head_len
    r._slots = <HeaderSlot *>(h + slots_off)
    r._nheaders = p.nheaders
    r._method_id = p.method
    r._method_len = p.method_len
    r._target_off = p.target_off
    r._target_len = p.target_len
    r._version_minor = p.version_minor
    r.keep_alive = p.keep_alive
    r.chunked = p.chunked
    r._content_length = p.content_length
    r._conn = proto._conn
    return r


cdef inline void _recycle_request(ServerCore core, Request r) noexcept:
    # ``r`` is answered and its caller holds the only reference: no app,
    # task or traceback can see it again, so it becomes the next request.
    if Py_REFCNT(r) != 1 or core._spare_request is not None or r._head_cap > SPARE_REQUEST_HEAD_MAX:
        return
    r._body = None
    r._headers = None
    r._target = None
    r._method = None
    r._resolved = None
    r._conn = None
    core._spare_request = r
