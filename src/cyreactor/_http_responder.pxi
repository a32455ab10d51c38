# ---------------------------------------------------------------- one response (ASGI, WSGI)

@cython.final
@cython.freelist(64)
cdef class Responder:
    """The wire side of one response whose status and headers come before
    its body, as ASGI's and WSGI's do. Nothing is sent until the first piece
    of body that is not empty (or the last one); a body given whole in one
    piece is sent with its content-length and in the same write as the head,
    otherwise chunked (close-delimited to HTTP/1.0), and never more than a
    declared content-length (fewer drops the connection at the end)."""

    def __init__(self):
        raise TypeError("Responder objects are made by the server")

    cdef int _begin(self, int status, object headers, object reason) except -1:
        # The interface sets _user_length after this, if the app's fields
        # give a content-length.
        _check_status(status)
        self.status = status
        self._headers = headers
        self._reason = reason
        self._user_length = False
        self.started = True
        return 0

    cdef int _send(self, object data, bint final) except -1:
        # ``data`` is bytes: the interfaces check their own types.
        cdef Py_ssize_t n = PyBytes_GET_SIZE(data)
        cdef Connection conn = self._conn
        if self.finished:
            raise RuntimeError("the response has already ended")
        if not self.head_sent:
            if n == 0 and not final:
                return 0
            return self._send_head(data, final)
        if n and not self._no_body:
            if self._remaining >= 0:
                if n > self._remaining:
                    raise RuntimeError(f"response body longer than its content-length "
                                       f"({self.sent + self._remaining} bytes)")
                self._remaining -= n
            self.sent += n
            if conn is not None and not conn.closing():
                if self._chunked:
                    self._chunk_line(n)
                    conn.write_object(data)
                    conn.write_buffer(b"\r\n", 2)
                else:
                    conn.write_object(data)
        if final:
            return self._finish()
        return 0

    cdef int _send_head(self, object first, bint final) except -1:
        cdef char stack[HEAD_STACK]
        cdef char line[CHUNK_LINE]
        cdef Out o
        cdef Framing f
        cdef Py_ssize_t n = PyBytes_GET_SIZE(first)
        cdef Py_ssize_t i
        cdef Connection conn = self._conn
        cdef bint late = False
        f.status = self.status
        # A whole body known now is framed by its length, unless the app
        # gave one (which is then held to). To HEAD, an app that sends the
        # body it would send to GET gets its length too; one that sends
        # none says it in its content-length field, or nothing is said.
        f.length = -1
        if final and (n or not self._head_request) and not self._user_length:
            f.length = n
        f.http10 = self._http10
        # Answered before 100 Continue went out: the client may send the
        # body or not (RFC 9110 10.1.1), so the connection ends with this.
        f.keep_alive = (self._keep_alive and not self._awaiting_continue
                        and not self._proto._core.shutting_down)
        o.buf = stack
        o.length = 0
        o.cap = HEAD_STACK
        o.heap = False
        try:
            _build_head(&o, &f, self._reason, self._headers)
            self._headers = None
            self._keep_alive = f.keep_alive
            self._chunked = f.chunked
            self._no_body = f.no_body or self._head_request
            self._remaining = f.length
            if n and not self._no_body:
                if self._remaining >= 0:
                    if n > self._remaining:
                        raise RuntimeError(f"response body longer than its content-length "
                                           f"({self._remaining} bytes)")
                    self._remaining -= n
                self.sent = n
                if self._chunked:
                    i = _chunk_size_line(line, n)
                    _out_put(&o, line + i, CHUNK_LINE - i)
                if n <= COALESCE_MAX:
                    _out_put(&o, PyBytes_AS_STRING(first), n)
                else:
                    late = True
            self.head_sent = True
            if conn is not None and not conn.closing():
                if late:
                    conn.write_buffer(o.buf, o.length)
                    conn.write_object(first)
                    o.length = 0
                if self._chunked and not self._no_body:
                    if n:
                        _out_put(&o, b"\r\n", 2)
                    if final:
                        _out_put(&o, b"0\r\n\r\n", 5)
                if o.length:
                    conn.write_buffer(o.buf, o.length)
        finally:
            if o.heap:
                free(o.buf)
        if final:
            self.finished = True
            if self._remaining > 0 and not self._no_body:
                self._short()
            if self._proto is not None:
                _responded(self._proto, self.status, self.sent)
        return 0

    cdef int _short(self) except -1:
        # Fewer bytes than announced: the framing is broken, the only
        # honest thing left is to drop the connection.
        self._keep_alive = False
        if self._conn is not None and not self._conn.closing():
            self._conn.abort()
        return 0

    cdef int _chunk_line(self, long long n) except -1:
        cdef char line[CHUNK_LINE]
        cdef Py_ssize_t i = _chunk_size_line(line, n)
        self._conn.write_buffer(line + i, CHUNK_LINE - i)
        return 0

    cdef int _finish(self) except -1:
        cdef Connection conn = self._conn
        if self.finished:
            return 0
        if not self.head_sent:
            return self._send_head(b"", True)
        self.finished = True
        if conn is not None and not conn.closing() and not self._no_body:
            if self._chunked:
                conn.write_buffer(b"0\r\n\r\n", 5)
            elif self._remaining > 0:
                self._short()
        if self._proto is not None:
            _responded(self._proto, self.status, self.sent)
        return 0


cdef bint _has_content_length(object headers) except -1:
    # Whether an ASGI app's fields (bytes names) include a content-length.
    for item in headers:
        name = item[0]
        if type(name) is bytes and _name_is(<bytes>name, b"content-length", 14):
            return True
    return False


cdef Responder _make_responder(HttpProtocol proto, bint awaiting_continue):
    # At HP_HEAD: what the response depends on in the request.
    cdef Responder r = Responder.__new__(Responder)
    cdef HttpParser *p = &proto._ex.p
    r._proto = proto
    r._conn = proto._conn
    r._head_request = p.method == M_HEAD
    r._keep_alive = p.keep_alive
    r._http10 = p.version_minor == 0
    r._awaiting_continue = awaiting_continue
    r._remaining = -1
    return r
