# ---------------------------------------------------------------- the demo

DEMO_BODY = b"Hello! I am an epoll server."

cdef Canned _canned[<int>CANNED_KINDS]


cdef int _canned_init(CannedKind which, bytes connection) except -1:
    head = (b"HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: %d\r\n%sdate: "
            % (len(DEMO_BODY), connection))
    whole = head + b"D" * 29 + b"\r\n\r\n" + DEMO_BODY
    memcpy(_canned[<int>which].data, <const char *>whole, len(whole))
    _canned[<int>which].length = len(whole)
    _canned[<int>which].head_length = len(whole) - len(DEMO_BODY)
    _canned[<int>which].date_off = len(head)
    _canned[<int>which].date_sec = -1
    return 0


_canned_init(CANNED_KEEP_ALIVE, b"")
_canned_init(CANNED_KEEP_ALIVE_10, b"connection: keep-alive\r\n")
_canned_init(CANNED_CLOSE, b"connection: close\r\n")


@cython.final
cdef class DemoProtocol(HttpProtocol):
    """Answers every request with the tutorial's fixed response; bodies are
    discarded as they arrive. No Python object is made per request."""

    cdef int _on_head(self) except -1:
        if self._ex.p.expect_continue:
            # The body will be read (and discarded): invite it.
            self._conn.write_buffer(CONTINUE_100, 25)
        return 0

    cdef int _on_complete(self) except -1:
        cdef HttpParser *p = &self._ex.p
        cdef ServerCore core = self._core
        cdef Canned *c
        cdef bint close = not p.keep_alive or core.shutting_down
        if close:
            c = &_canned[<int>CANNED_CLOSE]
        elif p.version_minor == 0:
            c = &_canned[<int>CANNED_KEEP_ALIVE_10]
        else:
            c = &_canned[<int>CANNED_KEEP_ALIVE]
        if c.date_sec != _date_sec:
            memcpy(c.data + c.date_off, _date, 29)
            c.date_sec = _date_sec
        self._conn.write_buffer(c.data, c.head_length if p.method == M_HEAD else c.length)
        core.requests += 1
        _responded(self, 200, 0 if p.method == M_HEAD else c.length - c.head_length)
        if close:
            self._finish_connection(False)
        return 0
