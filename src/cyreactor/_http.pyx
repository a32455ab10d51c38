# cython: boundscheck=False, wraparound=False
"""HTTP/1.1 server protocols on the reactor's Cython API.

``HttpProtocol`` owns what every HTTP connection needs: it parses in place
from the reactor's shared read buffer (``buffer_received``), keeps the
connection's single deadline (header, body, keep-alive, send and linger
timeouts through ``Connection.set_timeout``), refuses bad input with the
fitting status and a lingering close, and applies backpressure: when the
client stops reading (``pause_writing``) or a streamed response is still
running, the rest of the input is copied aside ("stashed"), reading pauses,
and parsing resumes from the stash once the writes drain. An idle keep-alive
connection holds no buffer.

``DemoProtocol`` answers every request with one prebuilt response (the
``python -m cyreactor`` server): its per-request path is C only.
``AppProtocol`` runs a Python app, ``app(request) -> Response``, or a
``RequestHandler`` subclass that streams; see ``cyreactor.http``.
"""
import http as _stdlib_http
import logging

cimport cython
from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_GET_SIZE, PyByteArray_Resize
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.list cimport PyList_GET_ITEM, PyList_GET_SIZE
from libc.stdlib cimport free, malloc, realloc
from libc.string cimport memchr, memcpy
from libc.time cimport time_t, tm

from cyreactor._httpparser cimport (
    HP_BODY, HP_COMPLETE, HP_HEAD, HP_NEED_MORE, M_CONNECT, M_DELETE, M_GET, M_HEAD,
    M_OPTIONS, M_OTHER, M_PATCH, M_POST, M_PUT, M_TRACE, S_DONE, S_HEAD, S_START,
    limits_init, parser_feed, parser_free, parser_init,
)
from cyreactor._loop cimport Connection, Handler

# The parser's Python view, importable from here too.
from cyreactor._httpparser import DEFAULT_MAX_BODY_SIZE, HttpParseError, RequestParser, parse_requests


cdef extern from "<time.h>" nogil:
    time_t c_time "time"(time_t *t)
    tm *gmtime_r(const time_t *t, tm *out)


cdef object _logger = logging.getLogger("cyreactor.http")
cdef object _access_logger = logging.getLogger("cyreactor.http.access")

cdef enum:
    CANNED_KEEP_ALIVE = 0     # HTTP/1.1 keep-alive
    CANNED_KEEP_ALIVE_10 = 1  # HTTP/1.0 client that asked for keep-alive
    CANNED_CLOSE = 2
    CANNED_MAX = 512
    HEAD_STACK = 2048         # response heads up to this size are built on the stack


# ---------------------------------------------------------------- Date

# RFC 9110 5.6.7 IMF-fixdate, formatted by hand: strftime's %a/%b follow the
# C locale. Refreshed at most once a second (one vDSO time() call per read).
cdef char _date[32]
cdef time_t _date_sec = -1
cdef const char *_DAYS = b"SunMonTueWedThuFriSat"
cdef const char *_MONTHS = b"JanFebMarAprMayJunJulAugSepOctNovDec"

ctypedef struct Canned:
    char data[CANNED_MAX]
    Py_ssize_t length
    Py_ssize_t head_length
    Py_ssize_t date_off

cdef Canned _canned[3]


cdef inline void _put2(char *s, int v) noexcept nogil:
    s[0] = <char>(c'0' + v // 10)
    s[1] = <char>(c'0' + v % 10)


cdef void _refresh_date() noexcept nogil:
    global _date_sec
    cdef time_t now = c_time(NULL)
    cdef tm t
    cdef int i
    if now == _date_sec:
        return
    _date_sec = now
    gmtime_r(&now, &t)
    memcpy(_date, _DAYS + 3 * t.tm_wday, 3)
    _date[3] = c','
    _date[4] = c' '
    _put2(_date + 5, t.tm_mday)
    _date[7] = c' '
    memcpy(_date + 8, _MONTHS + 3 * t.tm_mon, 3)
    _date[11] = c' '
    _put2(_date + 12, (t.tm_year + 1900) // 100)
    _put2(_date + 14, (t.tm_year + 1900) % 100)
    _date[16] = c' '
    _put2(_date + 17, t.tm_hour)
    _date[19] = c':'
    _put2(_date + 20, t.tm_min)
    _date[22] = c':'
    _put2(_date + 23, t.tm_sec)
    memcpy(_date + 25, b" GMT", 4)
    _date[29] = 0
    for i in range(3):
        memcpy(_canned[i].data + _canned[i].date_off, _date, 29)


def http_date():
    """The current Date header value, as the server sends it."""
    _refresh_date()
    return PyBytes_FromStringAndSize(_date, 29)


DEMO_BODY = b"Hello! I am an epoll server."


cdef void _canned_init(int which, bytes connection):
    head = (b"HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: %d\r\n%sdate: "
            % (len(DEMO_BODY), connection))
    whole = head + b"D" * 29 + b"\r\n\r\n" + DEMO_BODY
    memcpy(_canned[which].data, <const char *>whole, len(whole))
    _canned[which].length = len(whole)
    _canned[which].head_length = len(whole) - len(DEMO_BODY)
    _canned[which].date_off = len(head)


_canned_init(CANNED_KEEP_ALIVE, b"")
_canned_init(CANNED_KEEP_ALIVE_10, b"connection: keep-alive\r\n")
_canned_init(CANNED_CLOSE, b"connection: close\r\n")
_refresh_date()

cdef const char *CONTINUE_100 = b"HTTP/1.1 100 Continue\r\n\r\n"

# "HTTP/1.1 200 OK\r\n" for every status Python knows, indexed by status.
cdef list _STATUS_LINES = [None] * 600
for _st in _stdlib_http.HTTPStatus:
    if 100 <= _st.value < 600:
        _STATUS_LINES[_st.value] = b"HTTP/1.1 %d %s\r\n" % (_st.value, _st.phrase.encode("ascii"))

cdef list _METHODS = [None, "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE", "CONNECT"]


cdef str _phrase(int status):
    try:
        return _stdlib_http.HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


# ---------------------------------------------------------------- head builder

cdef const char *_HEXDIGITS = b"0123456789abcdef"


ctypedef struct Out:
    char *buf
    Py_ssize_t length
    Py_ssize_t cap
    bint heap


cdef int _out_put(Out *o, const char *data, Py_ssize_t n) except -1:
    cdef char *nbuf
    cdef Py_ssize_t cap
    if o.length + n > o.cap:
        cap = o.cap * 2
        while cap < o.length + n:
            cap *= 2
        if o.heap:
            nbuf = <char *>realloc(o.buf, cap)
        else:
            nbuf = <char *>malloc(cap)
            if nbuf != NULL:
                memcpy(nbuf, o.buf, o.length)
        if nbuf == NULL:
            raise MemoryError()
        o.buf = nbuf
        o.cap = cap
        o.heap = True
    memcpy(o.buf + o.length, data, n)
    o.length += n
    return 0


cdef int _out_int(Out *o, long long v, int base) except -1:
    cdef char digits[24]
    cdef int i = 24
    if v == 0:
        return _out_put(o, b"0", 1)
    while v > 0:
        i -= 1
        digits[i] = _HEXDIGITS[v % base]
        v //= base
    return _out_put(o, digits + i, 24 - i)


cdef inline int _out_bytes(Out *o, bytes b) except -1:
    return _out_put(o, PyBytes_AS_STRING(b), PyBytes_GET_SIZE(b))


cdef bytes _field_bytes(object v, bint name):
    cdef bytes b
    cdef const char *s
    cdef Py_ssize_t i, n
    if type(v) is bytes:
        b = <bytes>v
    elif isinstance(v, str):
        b = (<str>v).encode("latin-1")
    elif isinstance(v, (bytearray, memoryview)):
        b = bytes(v)
    elif not name and isinstance(v, int):
        b = str(v).encode("ascii")
    else:
        raise TypeError(f"header {'name' if name else 'value'} must be str or bytes, not {type(v).__name__}")
    s = PyBytes_AS_STRING(b)
    n = PyBytes_GET_SIZE(b)
    if name:
        if n == 0:
            raise ValueError("empty header name")
        for i in range(n):
            if s[i] <= c' ' or s[i] == c':' or <unsigned char>s[i] >= 0x7F:
                raise ValueError(f"invalid header name {b!r}")
    else:
        # No CR, LF or NUL: a value must not end the field or inject another.
        for i in range(n):
            if s[i] == c'\r' or s[i] == c'\n' or s[i] == 0:
                raise ValueError(f"invalid header value {b!r}")
    return b


cdef inline bint _name_is(bytes name, const char *lower, Py_ssize_t n) noexcept:
    cdef const char *s = PyBytes_AS_STRING(name)
    cdef Py_ssize_t i
    if PyBytes_GET_SIZE(name) != n:
        return False
    for i in range(n):
        if (<unsigned char>s[i] | 0x20) != <unsigned char>lower[i]:
            return False
    return True


# Flags _build_head reports about the user's headers.
cdef enum:
    UH_DATE = 1
    UH_CLOSE = 2
    UH_LENGTH = 4


cdef int _build_head(Out *o, int status, object reason, object headers, long long length,
                     bint chunked, int conn_mode, long long *user_length) except -1:
    """Writes a response head. ``length`` >= 0 sends content-length, else
    ``chunked`` picks transfer-encoding: chunked (neither: no framing header,
    for 1xx/204/304 or a close-delimited body). ``conn_mode``: 0 nothing,
    1 ``connection: keep-alive``, 2 ``connection: close``. The user's
    content-length and transfer-encoding are dropped (we frame the body);
    returns UH_* flags."""
    cdef int flags = 0
    cdef bytes line, bname, bvalue
    line = _STATUS_LINES[status] if reason is None and 100 <= status < 600 else None
    if line is None:
        if reason is None:
            reason = _phrase(status)
        line = b"HTTP/1.1 %d %s\r\n" % (status, _field_bytes(reason, False))
    _out_bytes(o, line)
    if headers:
        if isinstance(headers, dict):
            headers = headers.items()
        for name, value in headers:
            bname = _field_bytes(name, True)
            bvalue = _field_bytes(value, False)
            if _name_is(bname, b"content-length", 14):
                if user_length != NULL:
                    user_length[0] = int(bvalue)
                    flags |= UH_LENGTH
                continue
            if _name_is(bname, b"transfer-encoding", 17):
                continue
            if _name_is(bname, b"date", 4):
                flags |= UH_DATE
            elif _name_is(bname, b"connection", 10):
                if b"close" in bvalue.lower():
                    flags |= UH_CLOSE
                continue
            _out_bytes(o, bname)
            _out_put(o, b": ", 2)
            _out_bytes(o, bvalue)
            _out_put(o, b"\r\n", 2)
    if not flags & UH_DATE:
        _refresh_date()
        _out_put(o, b"date: ", 6)
        _out_put(o, _date, 29)
        _out_put(o, b"\r\n", 2)
    if length >= 0:
        _out_put(o, b"content-length: ", 16)
        _out_int(o, length, 10)
        _out_put(o, b"\r\n", 2)
    elif chunked:
        _out_put(o, b"transfer-encoding: chunked\r\n", 28)
    if conn_mode == 2 or flags & UH_CLOSE:
        _out_put(o, b"connection: close\r\n", 19)
    elif conn_mode == 1:
        _out_put(o, b"connection: keep-alive\r\n", 24)
    _out_put(o, b"\r\n", 2)
    return flags


cdef bytes _error_response(int status, str reason):
    body = f"{status} {_phrase(status)}: {reason}\n".encode("utf-8", "replace")
    _refresh_date()
    return (b"HTTP/1.1 %d %s\r\ncontent-type: text/plain; charset=utf-8\r\n"
            b"content-length: %d\r\nconnection: close\r\ndate: %s\r\n\r\n%s"
            % (status, _phrase(status).encode("ascii"), len(body),
               PyBytes_FromStringAndSize(_date, 29), body))


cdef object _log_access(HttpProtocol proto, int status, object size):
    try:
        peer = proto._conn.peername if proto._conn is not None else None
    except Exception:
        peer = None
    _access_logger.info('%s "%s" %d %s', peer[0] if peer else "-", proto._access_line or "-", status, size)


cdef str _request_line(HttpParser *p):
    # Only valid at HP_HEAD: later, p.head may point into a buffer reused.
    cdef const char *eol = <const char *>memchr(p.head, c'\r', p.head_len)
    return PyBytes_FromStringAndSize(p.head, eol - p.head).decode("latin-1")


# ---------------------------------------------------------------- config

@cython.final
cdef class HttpConfig:
    """Limits, timeouts and the app of one HTTP server; calling it makes the
    handler for a new connection (it is the reactor's handler factory)."""

    def __cinit__(self):
        limits_init(&self._limits)
        self.slots = NULL
        self._protocols = set()

    def __init__(self, app=None, *, handler_class=None,
                 max_request_line=8192, max_head_size=65536, max_headers=100,
                 max_body_size=DEFAULT_MAX_BODY_SIZE,
                 header_timeout=10.0, body_timeout=30.0, keepalive_timeout=15.0,
                 send_timeout=60.0, linger_timeout=2.0,
                 max_connections=50000, access_log=False):
        if min(max_request_line, max_head_size, max_headers, max_body_size) < 1:
            raise ValueError("limits must be positive")
        if min(header_timeout, body_timeout, keepalive_timeout, send_timeout, linger_timeout) <= 0:
            raise ValueError("timeouts must be positive")
        if max_connections < 1:
            raise ValueError("max_connections must be positive")
        self.app = app
        self.handler_class = handler_class
        self._limits.max_request_line = max_request_line
        self._limits.max_head_size = max_head_size
        self._limits.max_headers = max_headers
        self._limits.max_body_size = max_body_size
        free(self.slots)
        self.slots = <HeaderSlot *>malloc(sizeof(HeaderSlot) * max_headers)
        if self.slots == NULL:
            raise MemoryError()
        self.header_timeout = header_timeout
        self.body_timeout = body_timeout
        self.keepalive_timeout = keepalive_timeout
        self.send_timeout = send_timeout
        self.linger_timeout = linger_timeout
        self.max_connections = max_connections
        self.access_log = access_log

    def __dealloc__(self):
        free(self.slots)

    @property
    def limits(self):
        return {
            "max_request_line": self._limits.max_request_line,
            "max_head_size": self._limits.max_head_size,
            "max_headers": self._limits.max_headers,
            "max_body_size": self._limits.max_body_size,
        }

    def __call__(self):
        cdef HttpProtocol proto
        if self.slots == NULL:
            raise RuntimeError("HttpConfig.__init__ was not called")
        if self.app is None and self.handler_class is None:
            proto = DemoProtocol.__new__(DemoProtocol)
            parser_init(&proto._p, &self._limits, NULL)
        else:
            proto = AppProtocol.__new__(AppProtocol)
            parser_init(&proto._p, &self._limits, self.slots)
        proto._cfg = self
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


# ---------------------------------------------------------------- base protocol

cdef class HttpProtocol(Handler):
    """Base of the HTTP connection handlers (made by ``HttpConfig()``)."""

    def __dealloc__(self):
        parser_free(&self._p)
        free(self._stash)

    cpdef connection_made(self, Connection conn):
        cdef HttpConfig cfg = self._cfg
        self._conn = conn
        self._new_head = True
        if cfg.shutting_down or cfg.open_connections >= cfg.max_connections:
            cfg.refused += 1
            self._send_error(503, "shutting down" if cfg.shutting_down else "too many connections")
            return
        cfg.open_connections += 1
        cfg._protocols.add(self)
        self._counted = True
        self._set_timer(T_HEAD, cfg.header_timeout)

    cpdef connection_lost(self, object exc):
        cdef HttpConfig cfg = self._cfg
        if self._counted:
            self._counted = False
            cfg.open_connections -= 1
            cfg._protocols.discard(self)
        self._done = True
        free(self._stash)
        self._stash = NULL
        self._stash_len = 0
        parser_free(&self._p)
        try:
            self._on_lost(exc)
        finally:
            self._conn = None

    cdef int buffer_received(self, const char *data, Py_ssize_t length) except -1:
        if self._done:
            return 0                 # lingering close: input is discarded
        _refresh_date()
        if self._stash_len:
            # Only if the reactor delivered data despite pause_reading().
            return self._stash_rest(data, length)
        self._process(data, length)
        if not self._done:
            self._arm_timer()
        return 0

    cpdef eof_received(self):
        self._eof = True
        if self._done:
            return False
        if self._stash_len or self._blocked:
            return True              # answer what we have, then close
        if self._p.state == S_START or self._p.state == S_DONE:
            return False
        self._send_error(400, "incomplete request")
        return True

    cpdef pause_writing(self):
        self._write_paused = True
        if not self._done:
            self._blocked |= B_DRAIN
            self._arm_timer()            # send_timeout from now

    cpdef resume_writing(self):
        self._write_paused = False
        if self._done:
            return
        self._blocked &= ~B_DRAIN
        # The client made progress: the send deadline starts over if a
        # streamed body pauses again.
        self._arm_timer()
        self._on_drain()
        if not self._blocked and not self._done:
            self._resume_input()

    cpdef timeout_expired(self):
        cdef int kind = self._timer
        self._timer = T_NONE
        if self._conn is None:
            return True
        if kind == T_HEAD and self._p.state == S_HEAD or kind == T_BODY:
            # Slowloris defence: the head (or the body) is too slow.
            self._send_error(408, "request timeout")
        elif kind == T_SEND or kind == T_LINGER:
            self._done = True
            self._conn.abort()
        else:
            self._done = True
            self._conn.close()
        return True

    # ---- input --------------------------------------------------------------

    cdef int _process(self, const char *data, Py_ssize_t length) except -1:
        cdef HttpParser *p = &self._p
        cdef Py_ssize_t n
        cdef int event
        while True:
            if self._blocked:
                return self._stash_rest(data, length)
            n = parser_feed(p, data, length)
            data += n
            length -= n
            self._unparsed = length
            event = p.event
            if event == HP_NEED_MORE:
                return 0
            if event == HP_BODY:
                self._on_body(p.body, p.body_len)
            elif event == HP_HEAD:
                if self._cfg.access_log:
                    self._access_line = _request_line(p)
                self._on_head()
            elif event == HP_COMPLETE:
                self._new_head = True
                self._on_complete()
            else:
                self._send_error(p.error_status, p.error_reason.decode("ascii"))
                return 0
            if self._done:
                return 0

    cdef int _stash_rest(self, const char *data, Py_ssize_t length) except -1:
        cdef char *buf
        cdef Py_ssize_t live = self._stash_len
        if length <= 0 or self._done:
            return 0
        buf = <char *>malloc(live + length)
        if buf == NULL:
            raise MemoryError()
        if live:
            memcpy(buf, self._stash + self._stash_off, live)
        memcpy(buf + live, data, length)
        free(self._stash)
        self._stash = buf
        self._stash_off = 0
        self._stash_len = live + length
        self._conn.pause_reading()
        return 0

    cdef int _resume_input(self) except -1:
        cdef char *buf
        cdef Py_ssize_t off, n
        while self._stash_len and not self._blocked and not self._done:
            buf = self._stash
            off = self._stash_off
            n = self._stash_len
            self._stash = NULL
            self._stash_off = 0
            self._stash_len = 0
            try:
                self._process(buf + off, n)
            finally:
                free(buf)
        if self._done or self._blocked:
            return 0
        if self._eof:
            if self._p.state == S_START or self._p.state == S_DONE:
                self._finish_connection(False)
            else:
                self._send_error(400, "incomplete request")
            return 0
        self._conn.resume_reading()
        return self._arm_timer()

    # ---- deadlines ----------------------------------------------------------

    cdef int _set_timer(self, int kind, double seconds) except -1:
        self._timer = kind
        self._conn.set_timeout(seconds)
        return 0

    cdef int _arm_timer(self) except -1:
        cdef HttpConfig cfg = self._cfg
        cdef int state = self._p.state
        if self._done or self._conn is None:
            return 0
        if self._blocked & B_DRAIN:
            if self._timer != T_SEND:
                self._set_timer(T_SEND, cfg.send_timeout)
        elif self._blocked:
            if self._timer != T_NONE:
                self._set_timer(T_NONE, 0.0)
        elif state == S_START or state == S_DONE:
            self._set_timer(T_IDLE, cfg.keepalive_timeout)
        elif state == S_HEAD:
            # The whole head must arrive within header_timeout of its first
            # byte: more bytes do not extend it.
            if self._timer != T_HEAD or self._new_head:
                self._set_timer(T_HEAD, cfg.header_timeout)
        else:
            self._set_timer(T_BODY, cfg.body_timeout)
        self._new_head = False
        return 0

    # ---- ending -------------------------------------------------------------

    cdef int _finish_connection(self, bint linger) except -1:
        # After the last response. With ``linger`` (an error, or input is
        # still arriving behind the last request) RFC 9112 9.6's staged
        # close: half-close, then read and discard until the client closes
        # or linger_timeout passes, so that a reset provoked by unread input
        # does not destroy the response in flight. A clean exchange the
        # client ended ("Connection: close", 1.0 without keep-alive) just
        # closes; when the server ends a keep-alive connection (the app's
        # "connection: close", shutdown) the client may already be sending
        # its next request, so that lingers too.
        if self._conn is None:
            return 0
        linger = linger or self._unparsed > 0 or self._stash_len > 0 or self._p.keep_alive
        self._done = True
        self._blocked = B_NONE
        free(self._stash)
        self._stash = NULL
        self._stash_len = 0
        if self._eof or not linger:
            self._conn.close()
            return 0
        self._conn.write_eof()
        self._conn.resume_reading()
        return self._set_timer(T_LINGER, self._cfg.linger_timeout)

    cdef int _send_error(self, int status, str reason) except -1:
        if self._done or self._conn is None:
            return 0
        self._cfg.errors += 1
        self._conn.write_object(_error_response(status, reason))
        if self._cfg.access_log:
            _log_access(self, status, reason)
        return self._finish_connection(True)

    cdef bint _idle(self) noexcept:
        return ((self._p.state == S_START or self._p.state == S_DONE)
                and not self._stash_len and not self._blocked)

    cdef int _shutdown(self) except -1:
        if self._done or self._conn is None:
            return 0
        if self._idle():
            self._done = True
            self._conn.close()
        return 0

    # ---- hooks --------------------------------------------------------------

    cdef int _on_head(self) except -1:
        return 0

    cdef int _on_body(self, const char *data, Py_ssize_t length) except -1:
        return 0

    cdef int _on_complete(self) except -1:
        return 0

    cdef int _on_drain(self) except -1:
        return 0

    cdef int _on_lost(self, object exc) except -1:
        return 0


# ---------------------------------------------------------------- demo

@cython.final
cdef class DemoProtocol(HttpProtocol):
    """Answers every request with the tutorial's fixed response; bodies are
    discarded as they arrive. No Python object is made per request."""

    cdef int _on_head(self) except -1:
        if self._p.expect_continue:
            self._conn.write_buffer(CONTINUE_100, 25)
        return 0

    cdef int _on_complete(self) except -1:
        cdef HttpParser *p = &self._p
        cdef HttpConfig cfg = self._cfg
        cdef Canned *c
        cdef bint close = not p.keep_alive or cfg.shutting_down
        if close:
            c = &_canned[CANNED_CLOSE]
        elif p.version_minor == 0:
            c = &_canned[CANNED_KEEP_ALIVE_10]
        else:
            c = &_canned[CANNED_KEEP_ALIVE]
        self._conn.write_buffer(c.data, c.head_length if p.method == M_HEAD else c.length)
        cfg.requests += 1
        if cfg.access_log:
            _log_access(self, 200, 0 if p.method == M_HEAD else len(DEMO_BODY))
        if close:
            self._finish_connection(False)
        return 0


# ---------------------------------------------------------------- requests

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

    def __cinit__(self):
        self._slots = NULL

    def __dealloc__(self):
        free(self._slots)

    def __init__(self):
        raise TypeError("Request objects are made by the server")

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
        cdef Py_ssize_t i
        cdef const char *base
        cdef HeaderSlot *s
        if self._headers is None:
            h = Headers.__new__(Headers)
            h._items = []
            base = PyBytes_AS_STRING(self._head)
            for i in range(self._nheaders):
                s = &self._slots[i]
                h._items.append((
                    PyBytes_FromStringAndSize(base + s.name_off, s.name_len).lower(),
                    PyBytes_FromStringAndSize(base + s.value_off, s.value_len),
                ))
            self._headers = h
        return self._headers

    @property
    def body(self):
        return self._body

    @property
    def raw_head(self):
        """The request head as received, bytes."""
        return self._head

    @property
    def peername(self):
        return self._conn.peername if self._conn is not None else None

    @property
    def reactor(self):
        """The reactor serving this request (for timers in streaming handlers)."""
        return self._conn.reactor if self._conn is not None else None

    def __repr__(self):
        return f"<Request {self.method} {self.target} HTTP/{self.version}>"


cdef Request _make_request(HttpProtocol proto):
    cdef HttpParser *p = &proto._p
    cdef Py_ssize_t n = p.nheaders
    cdef Request r
    # Copy the parser's scratch slots before any Python object is made: the
    # scratch is shared by every connection of this server.
    cdef HeaderSlot *slots = <HeaderSlot *>malloc(sizeof(HeaderSlot) * (n if n else 1))
    if slots == NULL:
        raise MemoryError()
    memcpy(slots, p.slots, sizeof(HeaderSlot) * n)
    r = Request.__new__(Request)
    r._slots = slots
    r._nheaders = n
    r._head = PyBytes_FromStringAndSize(p.head, p.head_len)
    r._method_id = p.method
    r._method_len = p.method_len
    r._target_off = p.target_off
    r._target_len = p.target_len
    r._version_minor = p.version_minor
    r.keep_alive = p.keep_alive
    r.chunked = p.chunked
    r.content_length = None if p.chunked else p.content_length
    r._conn = proto._conn
    return r


# ---------------------------------------------------------------- responses

@cython.final
@cython.freelist(64)
cdef class Response:
    """``Response(status=200, headers=None, body=b"", *, reason=None)``.

    ``headers``: (name, value) pairs or a dict, str or bytes. ``body``: bytes,
    bytearray, memoryview or str (UTF-8), sent with its Content-Length; or an
    iterable of those, streamed with chunked encoding (HTTP/1.1) as the client
    reads it. Date, Content-Length/Transfer-Encoding and Connection are set by
    the server."""

    def __init__(self, status=200, headers=None, body=b"", *, reason=None):
        self.status = status
        self.headers = headers
        self.body = body
        self.reason = reason

    def __repr__(self):
        return f"<Response {self.status}>"


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
    not reading: wait for ``RequestHandler.on_drain()``."""

    def __init__(self):
        raise TypeError("ResponseWriter objects are made by the server")

    @property
    def paused(self):
        return self._proto is not None and self._proto._write_paused

    @property
    def closed(self):
        """True once the connection is gone: further writes are dropped."""
        return self._proto is None or self._proto._conn is None

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
        else:
            self._start(r.status, r.headers, None, r.reason)
            self._iter = iter(r.body)
            self._pump()

    cdef int _start(self, int status, object headers, object content_length, object reason) except -1:
        cdef Out o
        cdef char stack[HEAD_STACK]
        cdef long long length = -1
        cdef long long user_length = -1
        cdef int flags, conn_mode
        cdef bint chunked
        if self.started:
            raise RuntimeError("the response has already started")
        if not 200 <= status <= 999:
            raise ValueError(f"invalid response status {status}")
        o.buf = stack
        o.length = 0
        o.cap = HEAD_STACK
        o.heap = False
        try:
            self._no_body = status == 204 or status == 304 or self._head_request
            if content_length is not None:
                length = content_length
                if length < 0:
                    raise ValueError("content_length must be >= 0")
            elif headers:
                # A content-length header given by the user stands in for
                # the content_length argument.
                for name, value in (headers.items() if isinstance(headers, dict) else headers):
                    if _name_is(_field_bytes(name, True), b"content-length", 14):
                        length = int(_field_bytes(value, False))
                        if length < 0:
                            raise ValueError("negative content-length")
            if status == 204 or status == 304:
                length = -1
                chunked = False
            else:
                chunked = length < 0 and not self._http10
            if length < 0 and not chunked and not (status == 204 or status == 304):
                self._keep_alive = False     # HTTP/1.0: the close ends the body
            if self._proto is not None and self._proto._cfg.shutting_down:
                self._keep_alive = False
            conn_mode = 2 if not self._keep_alive else (1 if self._http10 else 0)
            flags = _build_head(&o, status, reason, headers, length, chunked, conn_mode, NULL)
            if flags & UH_CLOSE:
                self._keep_alive = False
            self.started = True
            self.status = status
            self._chunked = chunked
            self._remaining = length
            if self._conn is not None and not self._conn.closing():
                self._conn.write_buffer(o.buf, o.length)
        finally:
            if o.heap:
                free(o.buf)
        return 0

    cdef int _write(self, object data) except -1:
        cdef char size_line[24]
        cdef int i
        cdef Py_ssize_t n, v
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
        if self._chunked:
            i = 22
            size_line[22] = c'\r'
            size_line[23] = c'\n'
            v = n
            while v > 0:
                i -= 1
                size_line[i] = _HEXDIGITS[v & 15]
                v >>= 4
            self._conn.write_buffer(size_line + i, 24 - i)
            self._conn.write_object(b)
            self._conn.write_buffer(b"\r\n", 2)
        else:
            self._conn.write_object(b)
        return 0

    cdef int _end(self) except -1:
        if self.finished:
            return 0
        self.finished = True
        self._iter = None
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
                chunk = next(self._iter)
            except StopIteration:
                self._iter = None
                return self._end()
            except Exception as exc:
                self._iter = None
                return proto._user_error(exc, "response body iterator")
            self._write(chunk)
        return 0


cdef ResponseWriter _make_writer(AppProtocol proto, Request req):
    cdef ResponseWriter w = ResponseWriter.__new__(ResponseWriter)
    w._proto = proto
    w._conn = proto._conn
    w._head_request = req._method_id == M_HEAD
    w._keep_alive = req.keep_alive
    w._http10 = req._version_minor == 0
    w._remaining = -1
    return w


class RequestHandler:
    """The streaming form of an app: one instance per request.

    ``serve(MyHandler)`` makes ``MyHandler(request, response)`` when a request
    head arrives; ``request.body`` is None, the body comes to ``on_body()``.
    Respond through ``self.response`` (a ``ResponseWriter``) whenever ready,
    even after ``on_complete()`` returns (from a timer, say); pipelined
    requests wait until ``response.end()``. An exception answers 500 (or, once
    the response has started, drops the connection) and is logged."""

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


# ---------------------------------------------------------------- app protocol

@cython.final
cdef class AppProtocol(HttpProtocol):
    """Runs a Python app: ``app(request) -> Response`` or a RequestHandler."""

    cdef int _on_head(self) except -1:
        cdef Request req = _make_request(self)
        cdef HttpConfig cfg = self._cfg
        self._request = req
        self._body = None
        self._writer = None
        self._handler = None
        if self._p.expect_continue:
            self._conn.write_buffer(CONTINUE_100, 25)
        if cfg.handler_class is not None:
            self._writer = _make_writer(self, req)
            try:
                self._handler = cfg.handler_class(req, self._writer)
            except Exception as exc:
                return self._user_error(exc, "RequestHandler()")
        return 0

    cdef int _on_body(self, const char *data, Py_ssize_t length) except -1:
        cdef Py_ssize_t old
        if self._handler is not None:
            try:
                self._handler.on_body(PyBytes_FromStringAndSize(data, length))
            except Exception as exc:
                return self._user_error(exc, "on_body()")
        elif self._request is not None and self._cfg.handler_class is None:
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
        cdef HttpConfig cfg = self._cfg
        cdef Request req = self._request
        cdef ResponseWriter w
        cfg.requests += 1
        self._request = None
        if cfg.handler_class is not None:
            handler = self._handler
            if handler is None:
                return 0
            try:
                handler.on_complete()
            except Exception as exc:
                return self._user_error(exc, "on_complete()")
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
            response = cfg.app(req)
        except Exception as exc:
            return self._user_error(exc, "the app")
        try:
            return self._respond(response, req)
        except Exception as exc:
            return self._user_error(exc, "the response")

    cdef int _respond(self, object response, Request req) except -1:
        # The simple form's fast path: a whole body, one head, no writer.
        cdef Response r
        cdef HttpParser *p = &self._p
        cdef HttpConfig cfg = self._cfg
        cdef Out o
        cdef char stack[HEAD_STACK]
        cdef int status, flags, conn_mode
        cdef bint keep_alive, no_body
        cdef ResponseWriter w
        if type(response) is not Response:
            raise TypeError(f"the app returned {type(response).__name__}, not a Response")
        r = <Response>response
        status = r.status
        body = _as_bytes(r.body)
        if body is None:
            w = _make_writer(self, req)
            self._writer = w
            w.send(r)
            if not self._done and self._writer is w and not w.finished:
                self._blocked |= B_RESPONSE
            return 0
        if not 200 <= status <= 999:
            raise ValueError(f"invalid response status {status}")
        keep_alive = p.keep_alive and not cfg.shutting_down
        conn_mode = 0 if keep_alive and p.version_minor else (1 if keep_alive else 2)
        no_body = status == 204 or status == 304
        o.buf = stack
        o.length = 0
        o.cap = HEAD_STACK
        o.heap = False
        try:
            flags = _build_head(&o, status, r.reason, r.headers,
                                -1 if no_body else PyBytes_GET_SIZE(body), False, conn_mode, NULL)
            self._conn.write_buffer(o.buf, o.length)
        finally:
            if o.heap:
                free(o.buf)
        if p.method != M_HEAD and not no_body:
            self._conn.write_object(body)
        if cfg.access_log:
            _log_access(self, status, PyBytes_GET_SIZE(body))
        if not keep_alive or flags & UH_CLOSE:
            self._finish_connection(False)
        return 0

    cdef int _response_done(self, ResponseWriter writer) except -1:
        if writer is not self._writer:
            return 0
        if self._cfg.access_log:
            _log_access(self, writer.status, "-")
        if self._request is None:
            # The request is complete too: forget both.
            self._writer = None
            self._handler = None
        if not writer._keep_alive or self._cfg.shutting_down:
            return self._finish_connection(False)
        if self._blocked & B_RESPONSE:
            self._blocked &= ~B_RESPONSE
            if not self._blocked:
                self._resume_input()
        return 0

    cdef int _user_error(self, BaseException exc, str where) except -1:
        cdef ResponseWriter w = self._writer
        cdef HttpConfig cfg = self._cfg
        cfg.errors += 1
        _logger.error("Exception in %s (connection %r)", where, self._conn, exc_info=exc)
        handler = self._handler
        self._handler = None
        self._writer = None
        if w is not None and w.started:
            if not w.finished:
                # Part of a response is out: it cannot become a 500 now.
                w.finished = True
                w._iter = None
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
                return self._user_error(exc, "on_drain()")
        return 0

    cdef int _on_lost(self, object exc) except -1:
        cdef ResponseWriter w = self._writer
        handler = self._handler
        self._writer = None
        self._handler = None
        self._request = None
        self._body = None
        if w is not None:
            w._proto = None
            w._conn = None
            w._iter = None
            if not w.finished and handler is not None:
                try:
                    handler.on_abort(exc)
                except Exception as err:
                    _logger.error("Exception in on_abort()", exc_info=err)
        return 0


def _bench_build_head(Response response, Py_ssize_t repeat):
    """Serializes ``response``'s head ``repeat`` times with the server's own
    head builder (as a keep-alive HTTP/1.1 answer); returns the last head.
    For bench/test_bench_http_writer.py."""
    cdef char stack[HEAD_STACK]
    cdef Out o
    cdef Py_ssize_t i
    cdef object body = _as_bytes(response.body)
    cdef long long length = PyBytes_GET_SIZE(body) if body is not None else -1
    head = b""
    for i in range(repeat):
        o.buf = stack
        o.length = 0
        o.cap = HEAD_STACK
        o.heap = False
        try:
            _build_head(&o, response.status, response.reason, response.headers, length, length < 0, 0, NULL)
            if i == repeat - 1:
                head = PyBytes_FromStringAndSize(o.buf, o.length)
        finally:
            if o.heap:
                free(o.buf)
    return head
