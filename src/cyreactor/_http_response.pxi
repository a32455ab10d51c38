# ---------------------------------------------------------------- responses

@cython.final
@cython.freelist(64)
cdef class Response:
    """``Response(status=200, headers=None, body=b"", *, reason=None)``.

    ``headers``: (name, value) pairs or a dict, str or bytes, iterated once.
    ``body``: bytes, bytearray, memoryview or str (UTF-8), sent with its
    Content-Length; or an iterable of those, streamed with chunked encoding
    (HTTP/1.1) as the client reads it, and closed (its ``close()`` called)
    when the response is done with it. Date, Content-Length/Transfer-Encoding
    and Connection are set by the server."""

    def __init__(self, status=200, headers=None, body=b"", *, reason=None):
        self.status = status
        self.headers = headers
        self.body = body
        self.reason = reason

    def __repr__(self):
        return f"<Response {self.status}>"


# Response(...) is on every request of a function app: it is called through
# _new_response, which binds the arguments of the usual calls itself
# (positional, and keywords named by interned strings, as every call in
# source code names them) and leaves anything else, and every error, to the
# constructor Cython made (_generic_new), whose messages it keeps.
cdef vectorcallfunc _generic_new = (<VectorcallType *>Response).tp_vectorcall
cdef tuple _RESPONSE_PARAMS = tuple(sys.intern(name) for name in ("status", "headers", "body", "reason"))
cdef object _DEFAULT_STATUS = 200
cdef bytes _DEFAULT_BODY = b""
# The last Response that nobody kept once sent: the next Response(...).
cdef Response _spare_response = None


cdef object _new_response(PyObject *cls, PyObject **args, size_t nargsf, PyObject *kwnames):
    cdef Py_ssize_t n = PyVectorcall_NARGS(nargsf)
    cdef Py_ssize_t i, j
    cdef PyObject *key
    cdef PyObject *value[4]
    cdef Response r
    if n > 3 or cls != <PyObject *>Response:
        return _generic_new(cls, args, nargsf, kwnames)
    value[0] = <PyObject *>_DEFAULT_STATUS
    value[1] = <PyObject *>None
    value[2] = <PyObject *>_DEFAULT_BODY
    value[3] = <PyObject *>None
    for i in range(n):
        value[i] = args[i]
    if kwnames != NULL:
        for i in range(PyTuple_GET_SIZE(<tuple>kwnames)):
            key = PyTuple_GET_ITEM(<tuple>kwnames, i)
            j = n
            while j < 4 and key != PyTuple_GET_ITEM(_RESPONSE_PARAMS, j):
                j += 1
            if j == 4:
                return _generic_new(cls, args, nargsf, kwnames)
            value[j] = args[n + i]
    if type(<object>value[0]) is not int:
        return _generic_new(cls, args, nargsf, kwnames)
    global _spare_response
    if _spare_response is not None:
        r = _spare_response
        _spare_response = None
    else:
        r = Response.__new__(Response)
    r.status = <object>value[0]
    r.headers = <object>value[1]
    r.body = <object>value[2]
    r.reason = <object>value[3]
    return r


(<VectorcallType *>Response).tp_vectorcall = <vectorcallfunc>_new_response


cdef inline void _recycle_response(object response) noexcept:
    # ``response``, a Response (_respond() checked), is sent and its caller
    # holds the only reference.
    global _spare_response
    cdef Response r
    if Py_REFCNT(response) != 1 or _spare_response is not None:
        return
    r = <Response>response
    r.headers = None
    r.body = None
    r.reason = None
    _spare_response = r


cdef inline object _as_bytes(object data):
    if type(data) is bytes:
        return data
    if isinstance(data, str):
        return (<str>data).encode("utf-8")
    if data is None:
        return b""
    if isinstance(data, (bytearray, memoryview)):
        return bytes(data)
    return None


@cython.final
@cython.freelist(64)
cdef class ResponseWriter:
    """Sends one response in pieces (the ``RequestHandler`` form).

    ``start(status, headers, content_length=None)`` sends the head: with a
    content_length (or a content-length header) the body must be exactly
    that long, else it is sent with chunked encoding (or, to an HTTP/1.0
    client, delimited by closing the connection). ``write(data)`` sends a
    piece, ``end(data=b"")`` finishes. ``paused`` is true while the client is
    not reading: wait for ``RequestHandler.on_drain()``. To a HEAD request
    the head is sent as for GET and the body is dropped: ``send()`` does not
    iterate an iterable body, it closes it."""

    def __init__(self):
        raise TypeError("ResponseWriter objects are made by the server")

    @property
    def paused(self):
        return self._proto is not None and self._proto._write_paused

    @property
    def closed(self):
        """True once the connection is gone: further writes are dropped."""
        return self._conn is None

    def start(self, status=200, headers=(), *, content_length=None, reason=None):
        self._start(status, headers, content_length, reason)

    def write(self, data):
        if not self.started:
            raise RuntimeError("start() the response first")
        self._write(data)

    def end(self, data=b""):
        if not self.started:
            self._start(200, (), None, None)
        if data:
            self._write(data)
        self._end()

    def send(self, response):
        """Sends a whole ``Response`` (an iterable body is streamed)."""
        cdef Response r
        if not isinstance(response, Response):
            raise TypeError(f"expected a Response, not {type(response).__name__}")
        r = <Response>response
        body = _as_bytes(r.body)
        if body is not None:
            self._start(r.status, r.headers, len(body), r.reason)
            self._write(body)
            self._end()
            return
        self._start(r.status, r.headers, None, r.reason)
        self._body = r.body
        if self._no_body:
            # HEAD, 204, 304: nothing of the body is sent, so none is made.
            self._end()
            return
        self._iter = iter(r.body)
        self._pump()

    cdef int _start(self, int status, object headers, object content_length, object reason) except -1:
        cdef Framing f
        cdef Connection conn = self._conn
        if self.started:
            raise RuntimeError("the response has already started")
        _check_status(status)
        f.status = status
        f.length = -1
        if content_length is not None:
            f.length = content_length
            if f.length < 0:
                raise ValueError("content_length must be >= 0")
        f.http10 = self._http10
        # Answered before 100 Continue went out: the client may send the
        # body or not (RFC 9110 10.1.1), so the connection ends with this.
        f.keep_alive = (self._keep_alive and not self._awaiting_continue
                        and not (self._proto is not None and self._proto._core.shutting_down))
        _send_head(conn if conn is not None and not conn.closing() else None, &f, reason, headers)
        self._keep_alive = f.keep_alive
        self.started = True
        self.status = status
        self._chunked = f.chunked
        self._no_body = f.no_body or self._head_request
        self._remaining = f.length
        return 0

    cdef int _write(self, object data) except -1:
        cdef char size_line[CHUNK_LINE]
        cdef Py_ssize_t i, n
        if self.finished:
            raise RuntimeError("the response has already ended")
        b = _as_bytes(data)
        if b is None:
            raise TypeError(f"response data must be bytes or str, not {type(data).__name__}")
        n = PyBytes_GET_SIZE(b)
        if n == 0 or self._no_body:
            return 0
        if self._remaining >= 0:
            if n > self._remaining:
                raise RuntimeError("response body longer than its content-length")
            self._remaining -= n
        if self._conn is None or self._conn.closing():
            return 0
        self._sent += n
        if self._chunked:
            i = _chunk_size_line(size_line, n)
            self._conn.write_buffer(size_line + i, CHUNK_LINE - i)
            self._conn.write_object(b)
            self._conn.write_buffer(b"\r\n", 2)
        else:
            self._conn.write_object(b)
        return 0

    cdef int _end(self) except -1:
        if self.finished:
            return 0
        self.finished = True
        self._close_body()
        if self._conn is not None and not self._conn.closing():
            if self._chunked and not self._no_body:
                self._conn.write_buffer(b"0\r\n\r\n", 5)
            if self._remaining > 0 and not self._no_body:
                # Fewer bytes than announced: the framing is broken, the
                # only honest thing left is to drop the connection.
                self._keep_alive = False
                self._conn.abort()
        if self._proto is not None:
            self._proto._response_done(self)
        return 0

    cdef int _pump(self) except -1:
        # Pulls an iterable body while the client keeps up; resumed by
        # resume_writing().
        cdef AppProtocol proto
        while self._iter is not None and not self.finished:
            proto = self._proto
            if proto is None or proto._conn is None or proto._write_paused:
                return 0
            try:
                self._write(next(self._iter))
            except StopIteration:
                return self._end()
            except Exception as exc:
                return proto._user_error(exc, "the response body iterator", self._request)
        return 0

    cdef int _close_body(self) except -1:
        # Done with an iterable body, finished or not: close it, as WSGI
        # does, so that a generator's cleanup runs now.
        body = self._body
        self._body = None
        self._iter = None
        close = getattr(body, "close", None) if body is not None else None
        if close is None:
            return 0
        try:
            close()
        except Exception as exc:
            if self._proto is None:
                raise
            self._proto._report(exc, "the response body's close()", self._request)
        return 0


cdef ResponseWriter _make_writer(AppProtocol proto, Request req):
    cdef ResponseWriter w = ResponseWriter.__new__(ResponseWriter)
    w._proto = proto
    w._conn = proto._conn
    w._request = req
    w._head_request = req._method_id == M_HEAD
    w._keep_alive = req.keep_alive
    w._http10 = req._version_minor == 0
    w._remaining = -1
    return w
