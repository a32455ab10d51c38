# cython: boundscheck=False, wraparound=False, cdivision=True
"""Strict incremental HTTP/1.1 request parser (RFC 9112).

The C-level parser (``parser_feed`` on an ``HttpParser`` struct, see
``_httpparser.pxd``) is what the server runs. ``RequestParser`` and
``parse_requests`` wrap it for tests and fuzzing and behave as the server
does: after a request that does not keep the connection alive the rest of the
input is ignored, and a refused request raises ``HttpParseError`` carrying the
status the server would send.

How a head is parsed: a cheap scan finds its end (CRLF CRLF) and enforces the
framing-level rules as bytes arrive (bare CR or LF, request-line and head size,
field-line count), so an over-long or broken head is refused before it is
complete; the complete, contiguous head is then validated field by field.
A head is contiguous either in the caller's buffer (the usual case: it arrived
in one read) or in ``hbuf``, which collects a head that was split across reads.
Body bytes are never copied: they are reported as pointers into the caller's
data, with chunk framing removed by a byte-level state machine.
"""
from cpython.bytes cimport PyBytes_FromStringAndSize
from libc.stdlib cimport free, realloc
from libc.string cimport memcmp, memcpy

from cyreactor.http_options import OPTIONS, resolve

# The limits this parser enforces and their defaults, from the one table.
DEFAULT_LIMITS = {o.name: o.default for o in OPTIONS if o.parser}


# ---------------------------------------------------------------- refusals

# The one table of refusals: for each code, the status the server answers
# with and the reason it gives (llhttp keeps its errno names the same way).
ctypedef struct RefusalInfo:
    int status
    const char *reason

cdef RefusalInfo _REFUSALS[<int>R_COUNT]


cdef void _refusal(Refusal code, int status, const char *reason) noexcept:
    _REFUSALS[<int>code].status = status
    _REFUSALS[<int>code].reason = reason


_refusal(R_NONE, 0, b"")
_refusal(R_BARE_CR, 400, b"bare CR")
_refusal(R_BARE_LF, 400, b"bare LF")
_refusal(R_TOO_MANY_EMPTY_LINES, 400, b"too many empty lines")
_refusal(R_REQUEST_LINE_TOO_LONG, 414, b"request-line too long")
_refusal(R_HEAD_TOO_LARGE, 431, b"request header fields too large")
_refusal(R_TOO_MANY_FIELDS, 431, b"too many header fields")
_refusal(R_OUT_OF_MEMORY, 503, b"out of memory")
_refusal(R_INVALID_METHOD, 400, b"invalid method")
_refusal(R_INVALID_TARGET, 400, b"invalid request-target")
_refusal(R_INVALID_VERSION, 400, b"invalid HTTP version")
_refusal(R_VERSION_NOT_SUPPORTED, 505, b"HTTP version not supported")
_refusal(R_CONNECT, 501, b"CONNECT not supported")
_refusal(R_OBS_FOLD, 400, b"obsolete line folding")
_refusal(R_WHITESPACE_BEFORE_COLON, 400, b"whitespace before colon")
_refusal(R_INVALID_FIELD_NAME, 400, b"invalid field name")
_refusal(R_EMPTY_FIELD_NAME, 400, b"empty field name")
_refusal(R_INVALID_FIELD_VALUE, 400, b"invalid character in field value")
_refusal(R_DUPLICATE_HOST, 400, b"duplicate Host")
_refusal(R_MISSING_HOST, 400, b"missing Host")
_refusal(R_UNSUPPORTED_EXPECTATION, 417, b"unsupported expectation")
_refusal(R_INVALID_CONTENT_LENGTH, 400, b"invalid Content-Length")
_refusal(R_CONFLICTING_CONTENT_LENGTH, 400, b"conflicting Content-Length values")
_refusal(R_BODY_TOO_LARGE, 413, b"request body too large")
_refusal(R_CL_AND_TE, 400, b"both Content-Length and Transfer-Encoding")
_refusal(R_TE_IN_HTTP10, 400, b"Transfer-Encoding in HTTP/1.0")
_refusal(R_UNSUPPORTED_CODING, 501, b"unsupported transfer coding")
_refusal(R_INVALID_TE, 400, b"invalid Transfer-Encoding")
_refusal(R_INVALID_CHUNK_SIZE, 400, b"invalid chunk size")
_refusal(R_CHUNK_SIZE_TOO_LARGE, 400, b"chunk size too large")
_refusal(R_CHUNK_SIZE_BARE_CR, 400, b"bare CR in chunk size line")
_refusal(R_INVALID_CHUNK_EXT, 400, b"invalid chunk extension")
_refusal(R_CHUNK_EXT_TOO_LONG, 400, b"chunk extension too long")
_refusal(R_MISSING_CHUNK_CRLF, 400, b"missing CRLF after chunk data")
_refusal(R_INVALID_TRAILER_FIELD, 400, b"invalid trailer field")
_refusal(R_INVALID_TRAILER_VALUE, 400, b"invalid character in trailer field")
_refusal(R_TRAILER_TOO_LARGE, 431, b"trailer section too large")


cdef int refusal_status(Refusal code) noexcept nogil:
    return _REFUSALS[<int>code].status


cdef const char *refusal_reason(Refusal code) noexcept nogil:
    return _REFUSALS[<int>code].reason


cdef inline Py_ssize_t _refuse(HttpParser *p, Refusal code) noexcept nogil:
    # Returns 0: to the feed functions "nothing more consumed", to the
    # validators "not accepted".
    p.state = S_ERROR
    p.event = HP_ERROR
    p.refusal = code
    return 0

include "_httpbytes.pxi"       # byte classes, the scans over a head, name compares


cdef int limits_from(HttpLimits *limits, object options) except -1:
    """Fills ``limits`` from ``options``, a dict with DEFAULT_LIMITS' keys
    whose values cyreactor.http_options has checked."""
    limits.max_request_line = options["max_request_line"]
    limits.max_head_size = options["max_head_size"]
    limits.max_headers = options["max_headers"]
    limits.max_body_size = options["max_body_size"]
    return 0


cdef void _reset_message(HttpParser *p) noexcept nogil:
    p.state = S_START
    p.head_seen = 0
    p.line_len = 0
    p.nlines = 0
    p.leading = 0
    p.after_cr = False
    p.head = NULL
    p.head_len = 0
    p.method = M_OTHER
    p.method_len = 0
    p.target_off = 0
    p.target_len = 0
    p.version_minor = 1
    p.keep_alive = True
    p.expect_continue = False
    p.chunked = False
    p.content_length = 0
    p.nheaders = 0
    p.has_host = False
    p.has_cl = False
    p.has_te = False
    p.te_chunked_final = False
    p.te_bad = False
    p.te_unknown = False
    p.conn_close = False
    p.conn_keep_alive = False
    p.remaining = 0
    p.body_seen = 0
    p.chunk_has_digit = False
    p.chunk_ext_len = 0
    p.trailer_len = 0
    p.body = NULL
    p.body_len = 0


cdef void parser_init(HttpParser *p, const HttpLimits *limits, HeaderSlot *slots) noexcept nogil:
    p.limits = limits
    p.slots = slots
    p.hbuf = NULL
    p.hlen = 0
    p.hcap = 0
    p.event = HP_NEED_MORE
    p.refusal = R_NONE
    _reset_message(p)


cdef void parser_free(HttpParser *p) noexcept nogil:
    if p.hbuf != NULL:
        free(p.hbuf)
        p.hbuf = NULL
    p.hlen = 0
    p.hcap = 0


cdef bint _hbuf_append(HttpParser *p, const char *data, Py_ssize_t n) noexcept nogil:
    # The head is bounded by max_head_size, so is this buffer.
    cdef Py_ssize_t cap
    cdef char *nbuf
    if n <= 0:
        return True
    if p.hlen + n > p.hcap:
        cap = p.hcap * 2 if p.hcap else 512
        while cap < p.hlen + n:
            cap *= 2
        nbuf = <char *>realloc(p.hbuf, cap)
        if nbuf == NULL:
            return False
        p.hbuf = nbuf
        p.hcap = cap
    memcpy(p.hbuf + p.hlen, data, n)
    p.hlen += n
    return True


# ---------------------------------------------------------------- the head

cdef bint _list_next(const char **pp, const char *end, const char **es, Py_ssize_t *en) noexcept nogil:
    # One element of a comma-separated list (RFC 9110 5.6.1), OWS trimmed;
    # empty elements come back with length 0. False when the list is done.
    cdef const char *p = pp[0]
    cdef const char *s
    cdef const char *e
    if p == NULL:
        return False
    s = p
    while p < end and p[0] != c',':
        p += 1
    e = p
    while s < e and (s[0] == c' ' or s[0] == c'\t'):
        s += 1
    while e > s and ((e - 1)[0] == c' ' or (e - 1)[0] == c'\t'):
        e -= 1
    es[0] = s
    en[0] = e - s
    pp[0] = p + 1 if p < end else NULL
    return True


# The validators below return true when the field is accepted, and
# _refuse()'s 0 when it is not.

cdef bint _content_length(HttpParser *p, const char *v, Py_ssize_t n) noexcept nogil:
    # RFC 9112 6.3 / RFC 9110 8.6: 1*DIGIT. A list of identical values
    # ("5, 5", or the field repeated) is one value; differing values are
    # refused, as are empty elements and anything but digits.
    cdef const char *end = v + n
    cdef const char *s
    cdef Py_ssize_t sn, i
    cdef uint64_t value
    cdef int seen = 0
    while _list_next(&v, end, &s, &sn):
        if sn == 0:
            return _refuse(p, R_INVALID_CONTENT_LENGTH)
        value = 0
        for i in range(sn):
            if not (c'0' <= <unsigned char>s[i] <= c'9'):
                return _refuse(p, R_INVALID_CONTENT_LENGTH)
            if value > 99999999999999999ULL:    # would overflow a uint64 soon
                return _refuse(p, R_BODY_TOO_LARGE)
            value = value * 10 + (s[i] - c'0')
        if (p.has_cl or seen) and value != p.content_length:
            return _refuse(p, R_CONFLICTING_CONTENT_LENGTH)
        p.content_length = value
        seen = 1
    p.has_cl = True
    return True


cdef void _transfer_encoding(HttpParser *p, const char *v, Py_ssize_t n) noexcept nogil:
    # RFC 9112 6.1: chunked must be the final coding, applied once; a request
    # with any other coding cannot be decoded here (501). Repeated fields
    # continue one list. Elements are checked for token syntax only.
    cdef const char *end = v + n
    cdef const char *s
    cdef Py_ssize_t sn, i, tn
    p.has_te = True
    while _list_next(&v, end, &s, &sn):
        if sn == 0:
            continue
        if p.te_chunked_final:
            p.te_bad = True               # something after chunked
            p.te_chunked_final = False
        tn = 0
        while tn < sn and _is(<unsigned char>s[tn], C_TCHAR):
            tn += 1
        if tn == 0:
            p.te_bad = True
        elif _ieq(s, sn, b"chunked", 7):
            p.te_chunked_final = True
        elif _ieq(s, tn, b"chunked", 7):
            p.te_bad = True               # chunked takes no parameters
        else:
            for i in range(tn, sn):
                if s[i] != c';' and not _is(<unsigned char>s[i], C_VALUE):
                    p.te_bad = True
            p.te_unknown = True


cdef void _connection(HttpParser *p, const char *v, Py_ssize_t n) noexcept nogil:
    cdef const char *end = v + n
    cdef const char *s
    cdef Py_ssize_t sn
    while _list_next(&v, end, &s, &sn):
        if _ieq(s, sn, b"close", 5):
            p.conn_close = True
        elif _ieq(s, sn, b"keep-alive", 10):
            p.conn_keep_alive = True


cdef bint _expect(HttpParser *p, const char *v, Py_ssize_t n) noexcept nogil:
    # RFC 9110 10.1.1: 100-continue is the only expectation; any other may be
    # answered 417. A 1.0 client's 100-continue is ignored.
    cdef const char *end = v + n
    cdef const char *s
    cdef Py_ssize_t sn
    while _list_next(&v, end, &s, &sn):
        if sn == 0:
            continue
        if _ieq(s, sn, b"100-continue", 12):
            p.expect_continue = True
        else:
            return _refuse(p, R_UNSUPPORTED_EXPECTATION)
    return True


cdef Method _parse_method(HttpParser *p, const char *m, Py_ssize_t n) noexcept nogil:
    # Methods are case-sensitive (RFC 9110 9.1).
    if n == 3:
        if memcmp(m, b"GET", 3) == 0:
            return M_GET
        if memcmp(m, b"PUT", 3) == 0:
            return M_PUT
    elif n == 4:
        if memcmp(m, b"POST", 4) == 0:
            return M_POST
        if memcmp(m, b"HEAD", 4) == 0:
            return M_HEAD
    elif n == 5:
        if memcmp(m, b"PATCH", 5) == 0:
            return M_PATCH
        if memcmp(m, b"TRACE", 5) == 0:
            return M_TRACE
    elif n == 6 and memcmp(m, b"DELETE", 6) == 0:
        return M_DELETE
    elif n == 7:
        if memcmp(m, b"OPTIONS", 7) == 0:
            return M_OPTIONS
        if memcmp(m, b"CONNECT", 7) == 0:
            return M_CONNECT
    return M_OTHER


cdef bint _valid_target_form(HttpParser *p, const char *t, Py_ssize_t n) noexcept nogil:
    # RFC 9112 3.2: origin-form "/...", absolute-form "scheme://...", and
    # asterisk-form "*" for OPTIONS only. (authority-form is CONNECT's, and
    # CONNECT is refused before this.)
    cdef Py_ssize_t i
    if t[0] == c'/':
        return True
    if n == 1 and t[0] == c'*':
        return p.method == M_OPTIONS
    if not (c'a' <= (<unsigned char>t[0] | 0x20) <= c'z'):
        return False
    i = 1
    while i < n and _is(<unsigned char>t[i], C_SCHEME):
        i += 1
    return i + 3 <= n and t[i] == c':' and t[i + 1] == c'/' and t[i + 2] == c'/'


cdef bint _parse_head(HttpParser *p, const char *head, Py_ssize_t n) noexcept nogil:
    # ``head`` is a complete head: lines end in CRLF, the last line is empty,
    # and the scan has already refused any bare CR or LF.
    cdef const char *s = head
    cdef const char *q
    cdef const char *name
    cdef const char *value
    cdef const char *vend
    cdef Py_ssize_t name_len
    cdef unsigned char c

    # request-line = method SP request-target SP HTTP-version CRLF
    q = s
    while _is(<unsigned char>q[0], C_TCHAR):
        q += 1
    if q == s or q[0] != c' ':
        return _refuse(p, R_INVALID_METHOD)
    p.method_len = q - s
    p.method = _parse_method(p, s, q - s)
    q += 1
    s = q
    q += _span(q, head + n - q, cyr_target_blocks(q, head + n - q), C_TARGET)
    if q == s or q[0] != c' ':
        return _refuse(p, R_INVALID_TARGET)
    p.target_off = s - head
    p.target_len = q - s
    q += 1
    # HTTP-version = "HTTP/" DIGIT "." DIGIT (RFC 9112 2.3), then CRLF.
    if (head + n - q < 10 or memcmp(q, b"HTTP/", 5) != 0
            or not (c'0' <= <unsigned char>q[5] <= c'9') or q[6] != c'.'
            or not (c'0' <= <unsigned char>q[7] <= c'9') or q[8] != c'\r'):
        return _refuse(p, R_INVALID_VERSION)
    if q[5] != c'1':
        return _refuse(p, R_VERSION_NOT_SUPPORTED)
    # A later 1.x minor version is processed as 1.1 (RFC 9110 2.5).
    p.version_minor = 0 if q[7] == c'0' else 1
    q += 10

    while True:
        if q[0] == c'\r':
            break
        if q[0] == c' ' or q[0] == c'\t':
            # RFC 9112 5.2: obs-fold, or whitespace before the first field.
            return _refuse(p, R_OBS_FOLD)
        name = q
        while _is(<unsigned char>q[0], C_TCHAR):
            q += 1
        name_len = q - name
        if q[0] != c':':
            if q[0] == c' ' or q[0] == c'\t':
                # RFC 9112 5.1: no whitespace between field name and colon.
                return _refuse(p, R_WHITESPACE_BEFORE_COLON)
            return _refuse(p, R_INVALID_FIELD_NAME)
        if name_len == 0:
            return _refuse(p, R_EMPTY_FIELD_NAME)
        q += 1
        while q[0] == c' ' or q[0] == c'\t':
            q += 1
        value = q
        q += _span(q, head + n - q, cyr_value_blocks(q, head + n - q), C_VALUE)
        if q[0] != c'\r':
            # NUL and other controls (RFC 9110 5.5); a bare CR never gets here.
            return _refuse(p, R_INVALID_FIELD_VALUE)
        vend = q
        while vend > value and ((vend - 1)[0] == c' ' or (vend - 1)[0] == c'\t'):
            vend -= 1
        q += 2
        if p.nheaders >= p.limits.max_headers:
            return _refuse(p, R_TOO_MANY_FIELDS)
        if p.slots != NULL:
            p.slots[p.nheaders].name_off = <uint32_t>(name - head)
            p.slots[p.nheaders].name_len = <uint32_t>name_len
            p.slots[p.nheaders].value_off = <uint32_t>(value - head)
            p.slots[p.nheaders].value_len = <uint32_t>(vend - value)
        p.nheaders += 1

        c = <unsigned char>name[0] | 0x20
        if name_len == 4 and c == c'h' and _ieq(name, 4, b"host", 4):
            if p.has_host:
                return _refuse(p, R_DUPLICATE_HOST)
            p.has_host = True
        elif name_len == 14 and c == c'c' and _ieq(name, 14, b"content-length", 14):
            if not _content_length(p, value, vend - value):
                return False
        elif name_len == 17 and c == c't' and _ieq(name, 17, b"transfer-encoding", 17):
            _transfer_encoding(p, value, vend - value)
        elif name_len == 10 and c == c'c' and _ieq(name, 10, b"connection", 10):
            _connection(p, value, vend - value)
        elif name_len == 6 and c == c'e' and _ieq(name, 6, b"expect", 6):
            if not _expect(p, value, vend - value):
                return False

    if p.method == M_CONNECT:
        return _refuse(p, R_CONNECT)
    if not _valid_target_form(p, head + p.target_off, p.target_len):
        return _refuse(p, R_INVALID_TARGET)
    if p.version_minor == 1 and not p.has_host:
        return _refuse(p, R_MISSING_HOST)      # RFC 9112 3.2
    if p.has_te:
        # RFC 9112 6.1: both framings present is a smuggling attempt; a 1.0
        # message with Transfer-Encoding has faulty framing.
        if p.has_cl:
            return _refuse(p, R_CL_AND_TE)
        if p.version_minor == 0:
            return _refuse(p, R_TE_IN_HTTP10)
        if p.te_unknown:
            return _refuse(p, R_UNSUPPORTED_CODING)
        if p.te_bad or not p.te_chunked_final:
            return _refuse(p, R_INVALID_TE)
        p.chunked = True
    elif p.content_length > p.limits.max_body_size:
        return _refuse(p, R_BODY_TOO_LARGE)

    if p.version_minor == 0:
        p.keep_alive = p.conn_keep_alive and not p.conn_close
        p.expect_continue = False
    else:
        p.keep_alive = not p.conn_close
    if not p.chunked and p.content_length == 0:
        p.expect_continue = False
    return True


cdef Py_ssize_t _feed_head(HttpParser *p, const char *data, Py_ssize_t length) noexcept nogil:
    # Scan for the end of the head, enforcing the line rules as we go.
    cdef Py_ssize_t i = 0
    cdef Py_ssize_t start = 0
    cdef unsigned char c
    cdef const HttpLimits *const_limits = p.limits
    cdef char end
    cdef Py_ssize_t run
    cdef bint complete = False

    if p.state == S_START:
        # RFC 9112 2.2: ignore empty lines before the request-line.
        while i < length:
            c = <unsigned char>data[i]
            if p.after_cr:
                if c != c'\n':
                    return _refuse(p, R_BARE_CR)
                p.after_cr = False
                p.leading += 1
                if p.leading > MAX_LEADING_EMPTY_LINES:
                    return _refuse(p, R_TOO_MANY_EMPTY_LINES)
            elif c == c'\r':
                p.after_cr = True
            elif c == c'\n':
                return _refuse(p, R_BARE_LF)
            else:
                break
            i += 1
        if i == length:
            p.event = HP_NEED_MORE
            return length
        start = i
        p.state = S_HEAD

    while True:
        if p.after_cr:
            if i == length:
                break
            c = <unsigned char>data[i]
            i += 1
            p.head_seen += 1
            if c != c'\n':
                return _refuse(p, R_BARE_CR)
            p.after_cr = False
            if p.line_len == 0:
                complete = True                # the empty line: head complete
                break
            p.nlines += 1
            if p.nlines > const_limits.max_headers + 1:
                return _refuse(p, R_TOO_MANY_FIELDS)
            p.line_len = 0
            continue
        # A run of line bytes up to the next CR, which must come before
        # any LF. The bytes before a bare LF count against the limits
        # first, as they would if they had arrived alone (same error, any
        # split).
        run = _span(data + i, length - i, cyr_line_blocks(data + i, length - i), C_LINE)
        end = data[i + run] if run < length - i else 0
        p.line_len += run
        p.head_seen += run
        i += run
        if p.nlines == 0 and p.line_len > const_limits.max_request_line:
            return _refuse(p, R_REQUEST_LINE_TOO_LONG)
        if p.head_seen > const_limits.max_head_size:
            if p.nlines == 0:
                return _refuse(p, R_REQUEST_LINE_TOO_LONG)
            return _refuse(p, R_HEAD_TOO_LARGE)
        if end == c'\n':
            return _refuse(p, R_BARE_LF)
        if end != c'\r':
            break
        i += 1
        p.head_seen += 1
        p.after_cr = True

    if not complete:
        # Data ended inside the head: keep what we have of it.
        if not _hbuf_append(p, data + start, length - start):
            return _refuse(p, R_OUT_OF_MEMORY)
        p.event = HP_NEED_MORE
        return length

    if p.hlen:
        if not _hbuf_append(p, data + start, i - start):
            return _refuse(p, R_OUT_OF_MEMORY)
        p.head = p.hbuf
        p.head_len = p.hlen
    else:
        p.head = data + start
        p.head_len = i - start
    if not _parse_head(p, p.head, p.head_len):
        return i
    p.event = HP_HEAD
    if p.chunked:
        p.state = S_CHUNK_SIZE
    elif p.content_length:
        p.remaining = p.content_length
        p.state = S_BODY_LENGTH
    else:
        p.state = S_COMPLETE
    return i


# ---------------------------------------------------------------- the body

cdef Py_ssize_t _feed_chunked(HttpParser *p, const char *data, Py_ssize_t length) noexcept nogil:
    # RFC 9112 7.1: chunk = chunk-size [ chunk-ext ] CRLF chunk-data CRLF;
    # last-chunk, trailer-section, CRLF. Extensions and trailers are checked
    # for stray control bytes and otherwise ignored.
    cdef Py_ssize_t i = 0
    cdef Py_ssize_t take
    cdef unsigned char c
    while i < length:
        if p.state == S_CHUNK_DATA:
            take = length - i
            if <uint64_t>take > p.remaining:
                take = <Py_ssize_t>p.remaining
            p.remaining -= take
            if p.remaining == 0:
                p.state = S_CHUNK_DATA_CR
            p.event = HP_BODY
            p.body = data + i
            p.body_len = take
            return i + take
        c = <unsigned char>data[i]
        i += 1
        if p.state == S_CHUNK_SIZE:
            if _is(c, C_HEX):
                # RFC 9112 7.1 allows any number of leading zeros: the value
                # is limited, not the digits. Below 16**15 it cannot
                # overflow (and is far past any max_body_size).
                if p.remaining >> 56:
                    return _refuse(p, R_CHUNK_SIZE_TOO_LARGE)
                p.remaining = p.remaining * 16 + _hexval(c)
                p.chunk_has_digit = True
            elif not p.chunk_has_digit:
                return _refuse(p, R_INVALID_CHUNK_SIZE)
            elif c == c'\r':
                p.state = S_CHUNK_SIZE_LF
            elif c == c';':
                p.state = S_CHUNK_EXT
            elif c == c' ' or c == c'\t':
                p.state = S_CHUNK_BWS
            else:
                return _refuse(p, R_INVALID_CHUNK_SIZE)
        elif p.state == S_CHUNK_BWS:
            if c == c';':
                p.state = S_CHUNK_EXT
            elif c != c' ' and c != c'\t':
                return _refuse(p, R_INVALID_CHUNK_SIZE)
        elif p.state == S_CHUNK_EXT:
            if c == c'\r':
                p.state = S_CHUNK_SIZE_LF
            elif not _is(c, C_VALUE):
                return _refuse(p, R_INVALID_CHUNK_EXT)
            else:
                p.chunk_ext_len += 1
                if p.chunk_ext_len > MAX_CHUNK_EXT:
                    return _refuse(p, R_CHUNK_EXT_TOO_LONG)
        elif p.state == S_CHUNK_SIZE_LF:
            if c != c'\n':
                return _refuse(p, R_CHUNK_SIZE_BARE_CR)
            p.chunk_has_digit = False
            p.chunk_ext_len = 0
            if p.remaining == 0:
                p.state = S_TRAILER_START
            else:
                p.body_seen += p.remaining
                if p.body_seen > p.limits.max_body_size:
                    return _refuse(p, R_BODY_TOO_LARGE)
                p.state = S_CHUNK_DATA
        elif p.state == S_CHUNK_DATA_CR:
            if c != c'\r':
                return _refuse(p, R_MISSING_CHUNK_CRLF)
            p.state = S_CHUNK_DATA_LF
        elif p.state == S_CHUNK_DATA_LF:
            if c != c'\n':
                return _refuse(p, R_MISSING_CHUNK_CRLF)
            p.state = S_CHUNK_SIZE
        else:
            # The trailer section: field lines as in the head, then CRLF.
            p.trailer_len += 1
            if p.trailer_len > p.limits.max_head_size:
                return _refuse(p, R_TRAILER_TOO_LARGE)
            if p.state == S_TRAILER_START:
                if c == c'\r':
                    p.state = S_TRAILER_END_LF
                elif _is(c, C_TCHAR):
                    p.state = S_TRAILER_NAME
                elif c == c' ' or c == c'\t':
                    return _refuse(p, R_OBS_FOLD)
                else:
                    return _refuse(p, R_INVALID_TRAILER_FIELD)
            elif p.state == S_TRAILER_NAME:
                if c == c':':
                    p.state = S_TRAILER_VALUE
                elif c == c' ' or c == c'\t':
                    return _refuse(p, R_WHITESPACE_BEFORE_COLON)
                elif not _is(c, C_TCHAR):
                    return _refuse(p, R_INVALID_TRAILER_FIELD)
            elif p.state == S_TRAILER_VALUE:
                if c == c'\r':
                    p.state = S_TRAILER_LF
                elif not _is(c, C_VALUE):
                    return _refuse(p, R_INVALID_TRAILER_VALUE)
            elif p.state == S_TRAILER_LF:
                if c != c'\n':
                    return _refuse(p, R_BARE_CR)
                p.state = S_TRAILER_START
            elif p.state == S_TRAILER_END_LF:
                if c != c'\n':
                    return _refuse(p, R_BARE_CR)
                p.state = S_DONE
                p.event = HP_COMPLETE
                return i
    p.event = HP_NEED_MORE
    return i


cdef Py_ssize_t parser_feed(HttpParser *p, const char *data, Py_ssize_t length) noexcept nogil:
    cdef Py_ssize_t take
    if p.state == S_DONE:
        _reset_message(p)
    if p.hbuf != NULL and p.state != S_HEAD:
        # The head that lived here has been reported: an idle connection
        # keeps no buffer.
        parser_free(p)
    if p.state <= S_HEAD:
        if length == 0:
            p.event = HP_NEED_MORE
            return 0
        return _feed_head(p, data, length)
    if p.state == S_BODY_LENGTH:
        if length == 0:
            p.event = HP_NEED_MORE
            return 0
        take = length
        if <uint64_t>take > p.remaining:
            take = <Py_ssize_t>p.remaining
        p.remaining -= take
        if p.remaining == 0:
            p.state = S_COMPLETE
        p.event = HP_BODY
        p.body = data
        p.body_len = take
        return take
    if p.state == S_COMPLETE:
        p.state = S_DONE
        p.event = HP_COMPLETE
        return 0
    if p.state == S_ERROR:
        p.event = HP_ERROR
        return 0
    return _feed_chunked(p, data, length)


include "_httpparser_view.pxi" # the Python view: RequestParser, parse_requests, HttpParseError
