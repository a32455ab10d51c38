# ---------------------------------------------------------------- response heads
#
# One builder for every head made from Python values (the demo's are
# prebuilt): the status line, the user's fields (names must be tokens, values
# hold no CR, LF or NUL), Date, then the framing fields and Connection. The
# framing is decided in one place, _frame(), once the user's fields have been
# read, so a content-length among them is seen in the same single pass.

cdef const char *_HEXDIGITS = b"0123456789abcdef"
cdef const char *CONTINUE_100 = b"HTTP/1.1 100 Continue\r\n\r\n"

# "HTTP/1.1 200 OK\r\n" for every status Python knows, indexed by status.
cdef list _STATUS_LINES = [None] * 600
for _st in _stdlib_http.HTTPStatus:
    if 100 <= _st.value < 600:
        _STATUS_LINES[_st.value] = b"HTTP/1.1 %d %s\r\n" % (_st.value, _st.phrase.encode("ascii"))


cdef str _phrase(int status):
    try:
        return _stdlib_http.HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


cdef inline int _check_status(int status) except -1:
    # Final responses only: 1xx are the server's own (100 Continue).
    if not 200 <= status <= 999:
        raise ValueError(f"invalid response status {status}")
    return 0


cdef int _out_grow(Out *o, Py_ssize_t n) except -1:
    # Room for n more bytes: off the stack onto the heap, doubling.
    cdef char *nbuf
    cdef Py_ssize_t cap = o.cap * 2
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
    return 0


cdef inline int _out_put(Out *o, const char *data, Py_ssize_t n) except -1:
    # Inline: a head is a dozen small pieces, most of constant length, which
    # the compiler then copies without a call.
    if o.length + n > o.cap:
        _out_grow(o, n)
    memcpy(o.buf + o.length, data, n)
    o.length += n
    return 0


cdef inline Py_ssize_t _chunk_size_line(char *line, Py_ssize_t n) noexcept:
    # "<hex size>\r\n" (RFC 9112 7.1) written right-aligned into
    # line[CHUNK_LINE]; returns where it starts.
    cdef Py_ssize_t i = CHUNK_LINE - 2
    line[CHUNK_LINE - 2] = c'\r'
    line[CHUNK_LINE - 1] = c'\n'
    while n > 0:
        i -= 1
        line[i] = _HEXDIGITS[n & 15]
        n >>= 4
    return i


cdef int _out_field(Out *o, const char *name, Py_ssize_t nn, const char *value, Py_ssize_t vn) except -1:
    # "name: value\r\n", room made once.
    cdef char *w
    if o.length + nn + vn + 4 > o.cap:
        _out_grow(o, nn + vn + 4)
    w = o.buf + o.length
    memcpy(w, name, nn)
    w[nn] = c':'
    w[nn + 1] = c' '
    memcpy(w + nn + 2, value, vn)
    w[nn + 2 + vn] = c'\r'
    w[nn + 3 + vn] = c'\n'
    o.length += nn + vn + 4
    return 0


cdef int _out_length_field(Out *o, long long v) except -1:
    # "content-length: <decimal v>\r\n"
    cdef char digits[24]
    cdef int i = 24
    while True:
        i -= 1
        digits[i] = _HEXDIGITS[v % 10]
        v //= 10
        if v == 0:
            break
    return _out_field(o, b"content-length", 14, digits + i, 24 - i)


cdef inline int _out_bytes(Out *o, bytes b) except -1:
    return _out_put(o, PyBytes_AS_STRING(b), PyBytes_GET_SIZE(b))


# The bytes a response field may not hold, one table lookup per byte: in a
# name, controls, space, ":", DEL and non-ASCII (a name is a token, RFC 9110
# 5.1); in a value, CR, LF and NUL, which would end the field or inject
# another (RFC 9110 5.5).
cdef unsigned char _NAME_BAD[256]
cdef unsigned char _VALUE_BAD[256]
for _i in range(256):
    _NAME_BAD[_i] = _i <= 0x20 or _i == 0x3A or _i >= 0x7F
    _VALUE_BAD[_i] = _i == 0x0D or _i == 0x0A or _i == 0


cdef bytes _field_bytes(object v, bint name):
    cdef bytes b
    cdef const char *s
    cdef const unsigned char *bad
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
    if name and n == 0:
        raise ValueError("empty header name")
    bad = &_NAME_BAD[0] if name else &_VALUE_BAD[0]
    for i in range(n):
        if bad[<unsigned char>s[i]]:
            raise ValueError(f"invalid header {'name' if name else 'value'} {b!r}")
    return b


# The user's fields of the last head built from a list or tuple of (name,
# value) tuples of exact bytes or str, serialized: an app that answers with
# the same tuples (a constant list, or a list display of constant tuples)
# has them validated and copied once. Those objects cannot change, so a list
# holding the same items, compared by identity, serializes the same. Not
# kept when a framing field (content-length, transfer-encoding, connection)
# is among them: those depend on the response.
cdef tuple _cached_fields = None    # (those items, their fields serialized, one is Date)


cdef inline bint _plain(object v) noexcept:
    return type(v) is bytes or type(v) is str


cdef tuple _cached_fields_for(object headers):
    # _cached_fields if ``headers`` holds its items, else None. One object,
    # read once: a WSGI thread may replace it between two heads, never while
    # another reads it.
    cdef tuple entry = _cached_fields
    cdef tuple items
    cdef PyObject **a
    cdef PyObject **b
    cdef Py_ssize_t i, n
    if entry is None or (type(headers) is not list and type(headers) is not tuple):
        return None
    items = <tuple>entry[0]
    n = PySequence_Fast_GET_SIZE(headers)
    if n != PyTuple_GET_SIZE(items):
        return None
    a = PySequence_Fast_ITEMS(headers)
    b = PySequence_Fast_ITEMS(items)
    for i in range(n):
        if a[i] != b[i]:
            return None
    return entry


cdef inline bint _name_is(bytes name, const char *lower, Py_ssize_t n) noexcept:
    cdef const char *s = PyBytes_AS_STRING(name)
    cdef Py_ssize_t i
    if PyBytes_GET_SIZE(name) != n:
        return False
    for i in range(n):
        if (<unsigned char>s[i] | 0x20) != <unsigned char>lower[i]:
            return False
    return True


cdef inline void _frame(Framing *f) noexcept:
    # RFC 9110 6.4.1: 204 and 304 have no content, so no framing field. A
    # known length is sent as content-length; an unknown one is chunked
    # (RFC 9112 7.1), or to an HTTP/1.0 client, which has no chunked coding,
    # delimited by closing the connection (RFC 9112 6.3).
    f.no_body = f.status == 204 or f.status == 304
    f.chunked = False
    if f.no_body:
        f.length = -1
    elif f.length < 0:
        f.chunked = not f.http10
        if not f.chunked:
            f.keep_alive = False


# The head memo (HeadMemo): keyed by the _cached_fields entry the head was
# built with, held here so that its identity cannot pass to another object,
# or by _NO_FIELDS for a response without fields. One entry: an app answers
# mostly in one shape, and a miss costs one copy of the head.
cdef HeadMemo _memo
cdef object _memo_fields = None
cdef object _NO_FIELDS = object()


cdef inline object _memo_key(object cached, object headers):
    # What a head without a reason phrase is memoized under: the cache entry
    # of its fields (``cached``), or _NO_FIELDS; None if it cannot be.
    if cached is not None:
        return cached
    return None if headers else _NO_FIELDS


cdef bint _memo_put(Out *o, Framing *f, object reason, object headers) except -1:
    # The memoized head, if it is the one for these inputs: _build_head()'s
    # fast path, apart from _compose_head() so that a hit pays for none of
    # its locals.
    if reason is not None or not _memo.length:
        return False
    fields = _memo_key(_cached_fields_for(headers), headers)
    if (fields is not _memo_fields or f.status != _memo.key.status or f.length != _memo.key.length
            or f.http10 != _memo.key.http10 or f.keep_alive != _memo.key.keep_alive):
        return False
    if _memo.date_off >= 0:
        _refresh_date()
        if _memo.date_sec != _date_sec:
            memcpy(_memo.data + _memo.date_off, _date, 29)
            _memo.date_sec = _date_sec
    f[0] = _memo.out
    _out_put(o, _memo.data, _memo.length)
    return True


cdef void _memo_store(const char *head, Py_ssize_t n, Py_ssize_t date_off, const Framing *key,
                      const Framing *out, object fields) noexcept:
    global _memo_fields
    memcpy(_memo.data, head, n)
    _memo.length = n
    _memo.date_off = date_off
    _memo.date_sec = _date_sec
    _memo.key = key[0]
    _memo.out = out[0]
    _memo_fields = fields


cdef int _build_head(Out *o, Framing *f, object reason, object headers) except -1:
    """Writes the head for ``f`` with the user's ``headers`` (pairs or a
    dict, iterated once) and fills in ``f``'s outputs. The user's
    content-length and transfer-encoding are not copied (the server frames
    the body); their connection: close is honoured."""
    if _memo_put(o, f, reason, headers):
        return 0
    return _compose_head(o, f, reason, headers)


cdef int _compose_head(Out *o, Framing *f, object reason, object headers) except -1:
    global _cached_fields
    cdef bytes line, bname, bvalue
    cdef ConnectionField field
    cdef long long user_length = -1
    cdef bint user_date = False
    cdef bint cacheable
    cdef bint any_fields = headers
    cdef Py_ssize_t start
    cdef Py_ssize_t head_start = o.length
    cdef Py_ssize_t date_off = -1
    cdef Framing key = f[0]
    cdef tuple cached = _cached_fields_for(headers) if any_fields else None
    memo_fields = _memo_key(cached, headers) if reason is None else None
    line = _STATUS_LINES[f.status] if reason is None and 100 <= f.status < 600 else None
    if line is None:
        if reason is None:
            reason = _phrase(f.status)
        line = b"HTTP/1.1 %d %s\r\n" % (f.status, _field_bytes(reason, False))
    _out_bytes(o, line)
    if cached is not None:
        _out_bytes(o, <bytes>cached[1])
        user_date = cached[2]
    elif any_fields:
        cacheable = type(headers) is list or type(headers) is tuple
        start = o.length
        if isinstance(headers, dict):
            headers = headers.items()
        for item in headers:
            name, value = item
            cacheable = cacheable and type(item) is tuple and _plain(name) and _plain(value)
            bname = _field_bytes(name, True)
            bvalue = _field_bytes(value, False)
            if _name_is(bname, b"content-length", 14):
                cacheable = False
                if f.length < 0:
                    # Stands in for a length the caller did not give.
                    user_length = int(bvalue)
                    if user_length < 0:
                        raise ValueError("negative content-length")
                continue
            if _name_is(bname, b"transfer-encoding", 17):
                cacheable = False
                continue
            if _name_is(bname, b"date", 4):
                user_date = True
            elif _name_is(bname, b"connection", 10):
                cacheable = False
                if b"close" in bvalue.lower():
                    f.keep_alive = False
                continue
            _out_field(o, PyBytes_AS_STRING(bname), PyBytes_GET_SIZE(bname),
                       PyBytes_AS_STRING(bvalue), PyBytes_GET_SIZE(bvalue))
        if cacheable:
            _cached_fields = (tuple(headers), PyBytes_FromStringAndSize(o.buf + start, o.length - start),
                              user_date)
            if reason is None:
                memo_fields = _cached_fields
    if not user_date:
        _refresh_date()
        date_off = o.length - head_start + 6
        _out_field(o, b"date", 4, _date, 29)
    if f.length < 0:
        f.length = user_length
    _frame(f)
    if f.length >= 0:
        _out_length_field(o, f.length)
    elif f.chunked:
        _out_put(o, b"transfer-encoding: chunked\r\n", 28)
    field = _connection_field(f)
    if field == CONN_CLOSE:
        _out_put(o, b"connection: close\r\n\r\n", 21)
    elif field == CONN_KEEP_ALIVE:
        _out_put(o, b"connection: keep-alive\r\n\r\n", 26)
    else:
        _out_put(o, b"\r\n", 2)
    if memo_fields is not None and o.length - head_start <= HEAD_MEMO_MAX:
        _memo_store(o.buf + head_start, o.length - head_start, date_off, &key, f, memo_fields)
    return 0


cdef inline ConnectionField _connection_field(const Framing *f) noexcept:
    # RFC 9112 9.3: HTTP/1.1 persists unless "close" is said; HTTP/1.0 only
    # if "keep-alive" is.
    if not f.keep_alive:
        return CONN_CLOSE
    return CONN_KEEP_ALIVE if f.http10 else CONN_DEFAULT


cdef object _send_head(Connection conn, Framing *f, object reason, object headers, bytes body=None):
    """Builds a head, on the stack unless it is large, and writes it to
    ``conn``, with ``body`` after it (unless the status has none); with
    ``conn`` None, returns the head as bytes instead. A body up to
    COALESCE_MAX goes in the same write: one send() outside the reactor's
    cork too (a response written from a task or a timer)."""
    cdef char stack[HEAD_STACK]
    cdef Out o
    o.buf = stack
    o.length = 0
    o.cap = HEAD_STACK
    o.heap = False
    try:
        _build_head(&o, f, reason, headers)
        if conn is None:
            return PyBytes_FromStringAndSize(o.buf, o.length)
        if body is not None and not f.no_body and PyBytes_GET_SIZE(body) <= COALESCE_MAX:
            _out_bytes(&o, body)
            body = None
        conn.write_buffer(o.buf, o.length)
        if body is not None and not f.no_body:
            conn.write_object(body)
        return None
    finally:
        if o.heap:
            free(o.buf)


cdef bytes _error_response(int status, str reason):
    body = f"{status} {_phrase(status)}: {reason}\n".encode("utf-8", "replace")
    _refresh_date()
    return (b"HTTP/1.1 %d %s\r\ncontent-type: text/plain; charset=utf-8\r\n"
            b"content-length: %d\r\nconnection: close\r\ndate: %s\r\n\r\n%s"
            % (status, _phrase(status).encode("ascii"), len(body),
               PyBytes_FromStringAndSize(_date, 29), body))


def _bench_build_head(Response response not None, Py_ssize_t repeat):
    """Serializes ``response``'s head ``repeat`` times with the server's own
    head builder (as a keep-alive HTTP/1.1 answer); returns the last head.
    For bench/test_bench_http_writer.py."""
    cdef Framing f
    cdef Py_ssize_t i
    cdef object body = _as_bytes(response.body)
    head = b""
    for i in range(repeat):
        f.status = response.status
        f.length = PyBytes_GET_SIZE(body) if body is not None else -1
        f.http10 = False
        f.keep_alive = True
        head = _send_head(None, &f, response.reason, response.headers)
    return head
