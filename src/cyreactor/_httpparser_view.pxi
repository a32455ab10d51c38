# ---------------------------------------------------------------- Python view

class HttpParseError(Exception):
    """A request the server refuses: ``status`` is the HTTP status it answers
    with (then it closes the connection), ``reason`` a short explanation.
    ``requests`` holds the requests completed before the refused one."""

    def __init__(self, status, reason, requests=()):
        super().__init__(status, reason)
        self.status = status
        self.reason = reason
        self.requests = list(requests)

    def __str__(self):
        return f"{self.status} {self.reason}"


cdef object parser_error(HttpParser *p):
    return HttpParseError(refusal_status(p.refusal), refusal_reason(p.refusal).decode("ascii"))


class ParsedRequest:
    """One parsed request. Unpacks and compares as the 5-tuple
    ``(method, target, version, headers, body)``: bytes, except headers, a
    list of ``(name, value)`` bytes pairs as received (name case kept). Also
    ``keep_alive``, ``expect_continue`` and ``chunked`` as the server decided
    them."""

    __slots__ = ("method", "target", "version", "headers", "body", "keep_alive",
                 "expect_continue", "chunked")

    def __init__(self, method, target, version, headers, body, keep_alive=True,
                 expect_continue=False, chunked=False):
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers
        self.body = body
        self.keep_alive = keep_alive
        self.expect_continue = expect_continue
        self.chunked = chunked

    def _tuple(self):
        return (self.method, self.target, self.version, self.headers, self.body)

    def __iter__(self):
        return iter(self._tuple())

    def __len__(self):
        return 5

    def __getitem__(self, index):
        return self._tuple()[index]

    def __eq__(self, other):
        if isinstance(other, (ParsedRequest, tuple)):
            return self._tuple() == tuple(other)
        return NotImplemented

    __hash__ = None

    def __repr__(self):
        return "ParsedRequest%r" % (self._tuple(),)


cdef class RequestParser:
    """Incremental parser: ``feed(data)`` returns the requests it completed.

    Refused input raises ``HttpParseError`` (its ``requests`` are those that
    completed in the same feed before it), and every later feed raises it
    again. After a request that does not keep the connection alive, further
    input is ignored, as the server ignores it.
    """
    cdef HttpParser _p
    cdef HttpLimits _limits
    cdef HeaderSlot *_slots
    cdef object _current
    cdef object _body
    cdef readonly bint closed

    def __cinit__(self):
        self._slots = NULL
        limits_from(&self._limits, DEFAULT_LIMITS)
        parser_init(&self._p, &self._limits, NULL)

    def __init__(self, **limits):
        """``limits``: any of DEFAULT_LIMITS' keys (the parser's options in
        cyreactor.http_options)."""
        unknown = set(limits) - set(DEFAULT_LIMITS)
        if unknown:
            raise TypeError(f"unknown limit(s): {', '.join(sorted(unknown))}")
        limits_from(&self._limits, resolve(limits))
        free(self._slots)
        self._slots = <HeaderSlot *>realloc(NULL, sizeof(HeaderSlot) * self._limits.max_headers)
        if self._slots == NULL:
            raise MemoryError()
        parser_free(&self._p)
        parser_init(&self._p, &self._limits, self._slots)

    def __dealloc__(self):
        parser_free(&self._p)
        free(self._slots)

    @property
    def buffered(self):
        """Bytes of an incomplete head held in the parser's own buffer."""
        return self._p.hlen

    def feed(self, data):
        cdef bytes raw = data if type(data) is bytes else bytes(data)
        cdef const char *buf = raw
        cdef Py_ssize_t length = len(raw)
        cdef Py_ssize_t n
        cdef list done = []
        if self._slots == NULL:
            raise RuntimeError("RequestParser.__init__ was not called")
        while not self.closed:
            n = parser_feed(&self._p, buf, length)
            buf += n
            length -= n
            if self._p.event == HP_NEED_MORE:
                break
            elif self._p.event == HP_HEAD:
                self._current = self._head_tuple()
                self._body = bytearray()
            elif self._p.event == HP_BODY:
                self._body += PyBytes_FromStringAndSize(self._p.body, self._p.body_len)
            elif self._p.event == HP_COMPLETE:
                m, t, v, h, ka, ec, ch = self._current
                done.append(ParsedRequest(m, t, v, h, bytes(self._body), ka, ec, ch))
                self._current = self._body = None
                if not ka:
                    self.closed = True
            else:
                err = parser_error(&self._p)
                err.requests = done
                raise err
        return done

    cdef tuple _head_tuple(self):
        cdef HttpParser *p = &self._p
        cdef const char *h = p.head
        cdef Py_ssize_t i
        cdef list headers = []
        for i in range(p.nheaders):
            headers.append((
                PyBytes_FromStringAndSize(h + self._slots[i].name_off, self._slots[i].name_len),
                PyBytes_FromStringAndSize(h + self._slots[i].value_off, self._slots[i].value_len),
            ))
        return (
            PyBytes_FromStringAndSize(h, p.method_len),
            PyBytes_FromStringAndSize(h + p.target_off, p.target_len),
            b"1.0" if p.version_minor == 0 else b"1.1",
            headers,
            p.keep_alive,
            p.expect_continue,
            p.chunked,
        )


def parse_requests(data, **limits):
    """Parse ``data`` as everything a client sent on one connection.

    Returns the complete requests, in order, as ``ParsedRequest`` tuples
    ``(method, target, version, headers, body)``; raises ``HttpParseError``
    for a request the server would refuse. Trailing incomplete input is
    ignored (see ``RequestParser`` to feed input in pieces).
    """
    return RequestParser(**limits).feed(data)


def _bench_feed(data, Py_ssize_t repeat):
    """Benchmark helper: runs the C parser over ``data`` ``repeat`` times
    (fresh state each time, no Python objects per request) and returns how
    many requests completed. Raises HttpParseError on refused input."""
    cdef bytes raw = data if type(data) is bytes else bytes(data)
    cdef const char *buf0 = raw
    cdef Py_ssize_t len0 = len(raw)
    cdef const char *buf
    cdef Py_ssize_t length, n, r
    cdef Py_ssize_t done = 0
    cdef HttpLimits limits
    cdef HttpParser p
    limits_from(&limits, DEFAULT_LIMITS)
    for r in range(repeat):
        parser_init(&p, &limits, NULL)
        buf = buf0
        length = len0
        with nogil:
            while True:
                n = parser_feed(&p, buf, length)
                buf += n
                length -= n
                if p.event == HP_COMPLETE:
                    done += 1
                elif p.event == HP_NEED_MORE or p.event == HP_ERROR:
                    break
        if p.event == HP_ERROR:
            err = parser_error(&p)
            parser_free(&p)
            raise err
        parser_free(&p)
    return done
