# ---------------------------------------------------------------- app interfaces
#
# What the ASGI scope and the WSGI environ take from a request, built in C
# from the parser's head and slots: the split and decoded path, the server
# address; the client and the scheme come from HttpProtocol._client_scheme()
# (_http_access.pxi), which decides them for every interface.

cdef class AppAdapter:
    """Base of the app interfaces a ``ServerCore`` serves (``AsgiAdapter``,
    ``WsgiAdapter``): the app and what every request of it shares."""

    def __init__(self, app, *, root_path=""):
        if not callable(app):
            raise TypeError(f"the app must be callable, not {type(app).__name__}")
        if not isinstance(root_path, str):
            raise TypeError("root_path must be a str")
        self.app = app
        self.root_path = root_path.rstrip("/")

    cdef HttpProtocol _new_protocol(self):
        raise NotImplementedError


# asyncio's, bound when an app needs them: a server of plain functions does
# not import asyncio.
cdef object _Future = None
cdef object _Task = None
cdef object _CancelledError = None


cdef int _bind_asyncio() except -1:
    global _Future, _Task, _CancelledError
    if _Task is None:
        import asyncio
        _Future, _Task, _CancelledError = asyncio.Future, asyncio.Task, asyncio.CancelledError
    return 0


cdef object _start_task(Reactor loop, object coro):
    # The app's coroutine as an asyncio Task on the cyreactor Loop the
    # connection belongs to (asyncio.current_task() works in it);
    # HttpServer.listen() refuses a plain Reactor for such an app.
    if _Task is None:
        _bind_asyncio()
    return _Task(coro, loop=loop)


cdef object _address(object addr):
    # (host, port) for an IP address; (path, None) for a Unix socket, as
    # uvicorn reports it; None when there is none to give.
    if type(addr) is tuple:
        return (<tuple>addr)[:2] if len(<tuple>addr) > 2 else addr
    if isinstance(addr, str) and addr:
        return (addr, None)
    return None


cdef inline object _server_address(HttpProtocol proto):
    return _address(proto._conn.sockname)


cdef tuple _client_scheme_at_head(HttpProtocol proto, object headers):
    # The client's (host, port) and the URL scheme, as HttpProtocol's
    # _client_scheme() decides them for every interface (TLS, trusted
    # proxies' headers). ``headers``: the request's (lower-case name,
    # value) pairs, or None to make them only if proxies are trusted. At
    # HP_HEAD only.
    cdef HttpParser *p = &proto._ex.p
    if headers is None:
        headers = _fields(p.head, p.slots, p.nheaders) if proto._core._proxies is not None else ()
    return proto._client_scheme(headers)


cdef Py_ssize_t _path_bounds(HttpParser *p, Py_ssize_t *query) noexcept:
    # Where the path of the request-target starts (relative to p.head) and,
    # in ``query``, where "?" is (or the target's end). Absolute-form
    # (RFC 9112 3.2.2) drops the scheme and authority.
    cdef const char *t = p.head + p.target_off
    cdef Py_ssize_t n = p.target_len
    cdef Py_ssize_t start = 0, i
    if n and t[0] != c'/' and t[0] != c'*':
        for i in range(n - 2):
            if t[i] == c':' and t[i + 1] == c'/' and t[i + 2] == c'/':
                start = i + 3
                while start < n and t[start] != c'/' and t[start] != c'?':
                    start += 1
                break
    i = start
    while i < n and t[i] != c'?':
        i += 1
    query[0] = p.target_off + i
    return p.target_off + start


cdef inline int _hexval(char c) noexcept:
    if c'0' <= c <= c'9':
        return c - c'0'
    if c'a' <= c <= c'f':
        return c - c'a' + 10
    if c'A' <= c <= c'F':
        return c - c'A' + 10
    return -1


cdef bytes _percent_decode(const char *s, Py_ssize_t n):
    # RFC 3986 2.1; a "%" not followed by two hex digits is kept as is.
    cdef bytes out
    cdef char *o
    cdef Py_ssize_t i = 0, k = 0
    cdef int hi, lo
    if memchr(s, c'%', n) == NULL:
        return PyBytes_FromStringAndSize(s, n)
    out = PyBytes_FromStringAndSize(NULL, n)
    o = PyBytes_AS_STRING(out)
    while i < n:
        if s[i] == c'%' and i + 2 < n:
            hi = _hexval(s[i + 1])
            lo = _hexval(s[i + 2])
            if hi >= 0 and lo >= 0:
                o[k] = <char>(hi * 16 + lo)
                k += 1
                i += 3
                continue
        o[k] = s[i]
        k += 1
        i += 1
    return out[:k]


cdef int _report_app_error(Reactor reactor, HttpProtocol proto, BaseException exc, str where,
                           object method, object path) except -1:
    # Every error in user code goes to the reactor's exception handler, with
    # the HTTP context. Called from the except clause that caught ``exc``:
    # if the exception handler fails in turn, its exception chains to this
    # one and the reactor reports both.
    cdef Connection conn = proto._conn
    cdef dict context = {"message": f"Exception in {where}", "exception": exc,
                         "connection": conn, "protocol": proto}
    proto._core.errors += 1
    proto._core._m.app_errors += 1
    try:
        context["peer"] = conn.peername if conn is not None else None
    except Exception:
        context["peer"] = None
    if method is not None:
        context["method"] = method
        context["path"] = path
    reactor.call_exception_handler(context)
    return 0
