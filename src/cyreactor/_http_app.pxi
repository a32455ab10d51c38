# ---------------------------------------------------------------- apps

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
        self._request = req
        self._body = None
        self._writer = None
        self._handler = None
        if core.handler_class is None:
            if self._p.expect_continue:
                # The app is called with the whole body: it will be read.
                self._conn.write_buffer(CONTINUE_100, 25)
            return 0
        w = self._writer = _make_writer(self, req)
        w._awaiting_continue = self._p.expect_continue
        try:
            self._handler = core.handler_class(req, w)
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
        cdef Py_ssize_t old
        if self._handler is not None:
            try:
                self._handler.on_body(PyBytes_FromStringAndSize(data, length))
            except Exception as exc:
                return self._user_error(exc, "on_body()", self._request)
        elif self._request is not None and self._core.handler_class is None:
            if not self._p.chunked:
                # The length is known (and within max_body_size): fill one
                # bytes object in place, the only copy. Pages not yet
                # written are not resident, so a large announced length
                # costs nothing until the bytes arrive.
                if self._body is None:
                    try:
                        self._body = PyBytes_FromStringAndSize(NULL, <Py_ssize_t>self._p.content_length)
                    except MemoryError:
                        self._request = None
                        return self._send_error(503, "out of memory for the request body")
                    self._body_len = 0
                memcpy(PyBytes_AS_STRING(self._body) + self._body_len, data, length)
                self._body_len += length
                return 0
            if self._body is None:
                self._body = bytearray()
            old = PyByteArray_GET_SIZE(self._body)
            PyByteArray_Resize(self._body, old + length)
            memcpy(PyByteArray_AS_STRING(self._body) + old, data, length)
        return 0

    cdef int _on_complete(self) except -1:
        cdef ServerCore core = self._core
        cdef Request req = self._request
        cdef ResponseWriter w
        core.requests += 1
        self._request = None
        if core.handler_class is not None:
            handler = self._handler
            if handler is None:
                return 0
            try:
                handler.on_complete()
            except Exception as exc:
                return self._user_error(exc, "on_complete()", req)
            w = self._writer
            if self._done or w is None:
                return 0
            if w.finished:
                self._writer = None
                self._handler = None
            else:
                self._blocked |= B_RESPONSE
            return 0
        body = self._body
        self._body = None
        if body is None:
            req._body = b""
        elif type(body) is bytes:
            req._body = body
        else:
            req._body = bytes(body)
        try:
            response = core.app(req)
        except Exception as exc:
            return self._user_error(exc, "the app", req)
        try:
            return self._respond(response, req)
        except Exception as exc:
            return self._user_error(exc, "the app's response", req)

    cdef int _respond(self, object response, Request req) except -1:
        # The simple form's fast path: a whole body, one head, no writer.
        cdef Response r
        cdef HttpParser *p = &self._p
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
        _send_head(self._conn, &f, r.reason, r.headers)
        if not f.no_body and p.method != M_HEAD:
            self._conn.write_object(body)
            _responded(self, r.status, f.length)
        else:
            _responded(self, r.status, 0)
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
        # Every error in user code goes to the reactor's exception handler,
        # with the HTTP context. Called from the except clause that caught
        # ``exc``: if the exception handler fails in turn, its exception
        # chains to this one and the reactor reports both.
        cdef dict context = {"message": f"Exception in {where}", "exception": exc,
                             "connection": self._conn, "protocol": self}
        self._core.errors += 1
        self._core._m.app_errors += 1
        try:
            context["peer"] = self._conn.peername
        except Exception:
            context["peer"] = None
        if req is not None:
            context["method"] = req.method
            context["path"] = req.path
        self._conn.reactor.call_exception_handler(context)
        return 0

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
                self._handler.on_drain()
            except Exception as exc:
                return self._user_error(exc, "on_drain()", w._request)
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
