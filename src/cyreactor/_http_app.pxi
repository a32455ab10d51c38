# ---------------------------------------------------------------- apps

cdef enum:
    # A Content-Length body at least this long, gathered whole for an app,
    # is received straight into its bytes object (no copy out of the
    # reactor's read buffer).
    DIRECT_BODY_MIN = 65536
    # After such a body, the next read (the next head) goes to a scratch
    # buffer this long: whatever it brings of a following body is copied
    # into that body once the head is parsed, up to the reactor's whole read
    # buffer (256 KiB) if the head went there; from a small one, little.
    SCRATCH_READ = 16384


cdef bytearray _SCRATCH = bytearray(SCRATCH_READ)


@cython.final
cdef class _BodyWindow:
    # The part of a gathered body not received yet, as a writable buffer
    # for the reactor's get_buffer() path: recv(2) writes it in place. The
    # body's bytes object is the server's own, unshared, until the app
    # gets it whole.
    cdef object _body
    cdef Py_ssize_t _offset
    cdef Py_ssize_t _length
    cdef Py_ssize_t _itemsize

    def __getbuffer__(self, Py_buffer *view, int flags):
        view.buf = PyBytes_AS_STRING(self._body) + self._offset
        view.obj = self
        view.len = self._length
        view.readonly = 0
        view.itemsize = 1
        view.format = NULL
        if flags & PyBUF_FORMAT:
            view.format = b"B"
        view.ndim = 1
        view.shape = NULL
        if flags & PyBUF_ND:
            view.shape = &self._length
        view.strides = NULL
        if flags & PyBUF_STRIDES == PyBUF_STRIDES:
            view.strides = &self._itemsize
        view.suboffsets = NULL
        view.internal = NULL

    def __releasebuffer__(self, Py_buffer *view):
        pass


cdef inline bint _wants_direct_body(const HttpParser *p) noexcept:
    return not p.chunked and p.content_length >= DIRECT_BODY_MIN


cdef object _direct_body(HttpProtocol proto):
    # At HP_HEAD, for a body gathered whole that _wants_direct_body(): it
    # is made now and read straight into place (get_buffer/buffer_updated).
    # MemoryError if it cannot be made.
    cdef HttpParser *p = &proto._ex.p
    body = PyBytes_FromStringAndSize(NULL, <Py_ssize_t>p.content_length)
    proto._buffered = True
    return body


cdef object _body_window(HttpProtocol proto, object body, Py_ssize_t filled):
    # get_buffer(): the body's unread part, or (when the body is not what
    # is being read any more) a scratch buffer, and reads go back to the
    # reactor's own buffer.
    cdef _BodyWindow w
    if (body is None or proto._done or proto._conn is None or proto._ex == NULL or proto._ex.stash_len
            or proto._ex.p.state != S_BODY_LENGTH or filled + <Py_ssize_t>proto._ex.p.remaining > len(body)):
        proto._buffered = False
        return _SCRATCH
    w = _BodyWindow.__new__(_BodyWindow)
    w._body = body
    w._offset = filled
    w._length = <Py_ssize_t>proto._ex.p.remaining
    w._itemsize = 1
    return w


cdef int _body_arrived(HttpProtocol proto, object body, Py_ssize_t filled, Py_ssize_t n) except -1:
    # buffer_updated(n): the n bytes are where _body_window() said.
    if proto._buffered:
        return proto.buffer_received(PyBytes_AS_STRING(body) + filled, n)
    return proto.buffer_received(PyByteArray_AS_STRING(_SCRATCH), n)


cdef object _gather_body(HttpParser *p, object body, Py_ssize_t *filled, const char *data,
                         Py_ssize_t length):
    # Adds a piece to a request body gathered whole for an app; returns the
    # body (made on the first piece). With a Content-Length (within
    # max_body_size) one bytes object is filled in place, the only copy:
    # pages not yet written are not resident, so a large announced length
    # costs nothing until the bytes arrive. MemoryError if it cannot be made.
    cdef Py_ssize_t old
    if not p.chunked:
        if body is None:
            body = PyBytes_FromStringAndSize(NULL, <Py_ssize_t>p.content_length)
            filled[0] = 0
        if data != PyBytes_AS_STRING(body) + filled[0]:     # else received in place
            memcpy(PyBytes_AS_STRING(body) + filled[0], data, length)
        filled[0] += length
        return body
    if body is None:
        body = bytearray()
    old = PyByteArray_GET_SIZE(body)
    PyByteArray_Resize(body, old + length)
    memcpy(PyByteArray_AS_STRING(body) + old, data, length)
    return body


cdef inline bytes _gathered_body(object body):
    if body is None:
        return b""
    if type(body) is bytes:
        return <bytes>body
    return bytes(body)


class RequestHandler:
    """The streaming form of an app: one instance per request.

    ``serve(MyHandler)`` makes ``MyHandler(request, response)`` when a request
    head arrives; ``request.body`` is None, the body comes to ``on_body()``.
    Respond through ``self.response`` (a ``ResponseWriter``) whenever ready,
    even after ``on_complete()`` returns (from a timer, say); pipelined
    requests wait until ``response.end()``. A response sent from the
    constructor answers before the body is read: an ``Expect:
    100-continue`` client then gets no 100, and the connection closes after
    the response. An exception answers 500 (or, once the response has
    started, drops the connection) and goes to the reactor's exception
    handler."""

    def __init__(self, request, response):
        self.request = request
        self.response = response
        self.body = bytearray()

    def on_body(self, chunk):
        """A piece of the request body (bytes). Default: keep it in self.body."""
        self.body += chunk

    def on_complete(self):
        """The whole request has arrived. Default: 404."""
        self.response.send(Response(404, [(b"content-type", b"text/plain")], b"Not Found\n"))

    def on_drain(self):
        """The client caught up after ``response.paused`` became true."""

    def on_abort(self, exc):
        """The connection closed before the response ended."""


@cython.final
cdef class AppProtocol(HttpProtocol):
    """Runs a Python app: ``app(request) -> Response`` or a RequestHandler."""

    cdef int _on_head(self) except -1:
        cdef Request req = _make_request(self)
        cdef ServerCore core = self._core
        cdef ResponseWriter w
        cls = core.handler_class
        self._request = req
        self._body = None
        self._writer = None
        self._handler = None
        if cls is None and core._select is not None:
            # An app that mixes plain and streaming routes (http.Router)
            # says which this request takes.
            try:
                cls = core._select(req)
            except Exception as exc:
                return self._user_error(exc, "the app's handler_for()", req)
        self._streaming = cls is not None
        if cls is None:
            if self._ex.p.expect_continue:
                # The app is called with the whole body: it will be read.
                self._conn.write_buffer(CONTINUE_100, 25)
            self._body_len = 0
            if _wants_direct_body(&self._ex.p):
                try:
                    self._body = _direct_body(self)
                except MemoryError:
                    self._request = None
                    return self._send_error(503, "out of memory for the request body")
            return 0
        w = self._writer = _make_writer(self, req)
        w._awaiting_continue = self._ex.p.expect_continue
        try:
            self._handler = cls(req, w)
        except Exception as exc:
            return self._user_error(exc, "RequestHandler()", req)
        if w._awaiting_continue and not w.started and not self._done:
            # RFC 9110 10.1.1: invite the body only now that the app is
            # about to read it; one that answered from its constructor
            # (401, 413, ...) did not want it.
            self._conn.write_buffer(CONTINUE_100, 25)
        w._awaiting_continue = False
        return 0

    cdef int _on_body(self, const char *data, Py_ssize_t length) except -1:
        if self._handler is not None:
            try:
                result = self._handler.on_body(PyBytes_FromStringAndSize(data, length))
            except Exception as exc:
                return self._user_error(exc, "on_body()", self._request)
            if result is not None:
                # async def on_body(): input waits until it has run.
                self._blocked |= B_APP
                _start_task(self._conn._reactor, self._await_handler(result, "on_body()", self._request))
        elif self._request is not None and not self._streaming:
            try:
                self._body = _gather_body(&self._ex.p, self._body, &self._body_len, data, length)
            except MemoryError:
                self._request = None
                return self._send_error(503, "out of memory for the request body")
        return 0

    cpdef get_buffer(self, Py_ssize_t sizehint):
        return _body_window(self, self._body, self._body_len)

    cpdef buffer_updated(self, Py_ssize_t nbytes):
        _body_arrived(self, self._body, self._body_len, nbytes)

    cdef int _on_complete(self) except -1:
        cdef ServerCore core = self._core
        cdef Request req = self._request
        cdef ResponseWriter w
        core.requests += 1
        self._request = None
        if self._streaming:
            handler = self._handler
            if handler is None:
                return 0
            try:
                result = handler.on_complete()
            except Exception as exc:
                return self._user_error(exc, "on_complete()", req)
            if result is not None:
                _start_task(self._conn._reactor, self._await_handler(result, "on_complete()", req))
            w = self._writer
            if self._done or w is None:
                return 0
            if w.finished:
                self._writer = None
                self._handler = None
            else:
                self._blocked |= B_RESPONSE
            return 0
        req._body = _gathered_body(self._body)
        self._body = None
        where = "the app"
        try:
            response = PyObject_CallOneArg(core.app, req)
            if type(response) is not Response and hasattr(response, "__await__"):
                # async def app(request): later requests wait for its answer.
                self._blocked |= B_RESPONSE
                _start_task(self._conn._reactor, self._await_response(response, req))
                return 0
            where = "the app's response"
            self._respond(response, req)
        except Exception as exc:
            return self._user_error(exc, where, req)
        _recycle_response(response)
        _recycle_request(core, req)
        return 0

    async def _await_response(self, awaitable, Request req):
        try:
            response = await awaitable
            if self._conn is None or self._done:
                return               # the client has gone
            self._respond(response, req)
        except Exception as exc:
            if self._conn is not None:
                self._user_error(exc, "the app", req)
            return
        if self._writer is None or self._writer.finished:
            self._writer = None
            if self._blocked & B_RESPONSE:
                self._blocked &= ~B_RESPONSE
                if not self._blocked and not self._done:
                    self._resume_input()

    async def _await_handler(self, awaitable, str where, Request req):
        # A RequestHandler's async def method; input held for on_body() resumes.
        try:
            await awaitable
        except Exception as exc:
            if self._conn is not None and self._handler is not None:
                self._user_error(exc, where, req)
            return
        if self._blocked & B_APP and self._conn is not None:
            self._blocked &= ~B_APP
            if not self._blocked and not self._done:
                self._resume_input()

    cdef int _respond(self, object response, Request req) except -1:
        # The simple form's fast path: a whole body, one head, no writer.
        cdef Response r
        cdef HttpParser *p = &self._ex.p
        cdef Framing f
        cdef ResponseWriter w
        if type(response) is not Response:
            raise TypeError(f"the app returned {type(response).__name__}, not a Response")
        r = <Response>response
        body = _as_bytes(r.body)
        if body is None:
            w = _make_writer(self, req)
            self._writer = w
            w.send(r)
            if not self._done and self._writer is w and not w.finished:
                self._blocked |= B_RESPONSE
            return 0
        _check_status(r.status)
        f.status = r.status
        f.length = PyBytes_GET_SIZE(body)
        f.http10 = p.version_minor == 0
        f.keep_alive = p.keep_alive and not self._core.shutting_down
        _send_head(self._conn, &f, r.reason, r.headers, None if p.method == M_HEAD else body)
        _responded(self, r.status, f.length if not f.no_body and p.method != M_HEAD else 0)
        if not f.keep_alive:
            self._finish_connection(False)
        return 0

    cdef int _response_done(self, ResponseWriter writer) except -1:
        if writer is not self._writer:
            return 0
        _responded(self, writer.status, writer._sent)
        if self._request is None:
            # The request is complete too: forget both.
            self._writer = None
            self._handler = None
        if not writer._keep_alive or self._core.shutting_down:
            return self._finish_connection(False)
        if self._blocked & B_RESPONSE:
            self._blocked &= ~B_RESPONSE
            if not self._blocked:
                self._resume_input()
        return 0

    cdef int _report(self, BaseException exc, str where, Request req) except -1:
        return _report_app_error(self._conn._reactor, self, exc, where,
                                 req.method if req is not None else None,
                                 req.path if req is not None else None)

    cdef int _user_error(self, BaseException exc, str where, Request req) except -1:
        cdef ResponseWriter w = self._writer
        self._report(exc, where, req)
        self._handler = None
        self._writer = None
        if w is not None and w.started:
            if not w.finished:
                # Part of a response is out: it cannot become a 500 now.
                w.finished = True
                w._close_body()
                self._done = True
                if self._conn is not None:
                    self._conn.abort()
            return 0
        if w is not None:
            w.finished = True
            w._proto = None
        if self._conn is None or self._done:
            return 0
        if self._request is None:
            # The request was read whole: answer 500 and keep the connection.
            self._respond(Response(500, [(b"content-type", b"text/plain; charset=utf-8")],
                                   b"Internal Server Error\n"), None)
            if self._blocked & B_RESPONSE:
                self._blocked &= ~B_RESPONSE
                if not self._blocked:
                    self._resume_input()
            return 0
        self._request = None
        return self._send_error(500, "internal server error")

    cdef int _on_drain(self) except -1:
        cdef ResponseWriter w = self._writer
        if w is None or w.finished:
            return 0
        if w._iter is not None:
            return w._pump()
        if self._handler is not None:
            try:
                result = self._handler.on_drain()
            except Exception as exc:
                return self._user_error(exc, "on_drain()", w._request)
            if result is not None:
                _start_task(self._conn._reactor, self._await_handler(result, "on_drain()", w._request))
        return 0

    cdef int _on_lost(self, object exc) except -1:
        cdef ResponseWriter w = self._writer
        handler = self._handler
        self._writer = None
        self._handler = None
        self._request = None
        self._body = None
        if w is None:
            return 0
        w._conn = None
        if not w.finished:
            if handler is not None:
                try:
                    handler.on_abort(exc)
                except Exception as err:
                    self._report(err, "on_abort()", w._request)
            w._close_body()
        w._proto = None
        return 0
