# A strict, incremental HTTP/1.1 request parser (RFC 9112) over const char*.
#
# The parser is a plain C struct so a connection handler can embed it with no
# extra allocation; it holds a heap buffer only while a request head is split
# across reads (and frees it as soon as the head is parsed), so an idle
# keep-alive connection owns no buffer at all.
#
# Use: call parser_feed() in a loop; each call consumes some bytes and sets
# ``p.event``:
#   HP_NEED_MORE  every byte given was consumed; call again with more data
#   HP_HEAD       a request head is complete: method/version/flags are set and
#                 ``p.head``/``p.head_len`` point at the whole head (into the
#                 caller's data or the parser's own buffer) until the next call
#   HP_BODY       ``p.body``/``p.body_len`` point at body bytes inside ``data``
#                 (chunk framing removed)
#   HP_COMPLETE   the request (body and trailers) is complete; its fields stay
#                 valid until the next call, which starts the next request
#   HP_ERROR      the request is refused: ``p.refusal`` says why, and
#                 refusal_status()/refusal_reason() give the status to answer
#                 and its reason; the parser stays in this state, the caller
#                 answers and closes
#
# The limits (HttpLimits) have no defaults here: they come from the one table
# of options, cyreactor/http_options.py, through limits_from().
from libc.stdint cimport uint32_t, uint64_t


# What the last parser_feed() found (HttpParser.event).
cdef enum ParserEvent:
    HP_NEED_MORE = 0
    HP_HEAD = 1
    HP_BODY = 2
    HP_COMPLETE = 3
    HP_ERROR = 4

# Methods the server treats specially, or that are worth a cached str.
cdef enum Method:
    M_OTHER = 0
    M_GET = 1
    M_HEAD = 2
    M_POST = 3
    M_PUT = 4
    M_DELETE = 5
    M_OPTIONS = 6
    M_PATCH = 7
    M_TRACE = 8
    M_CONNECT = 9

# Parser states (HttpParser.state).
cdef enum ParserState:
    S_START = 0          # between requests: skipping optional empty lines
    S_HEAD               # inside a request head, looking for its end
    S_BODY_LENGTH        # Content-Length body, ``remaining`` bytes to go
    S_CHUNK_SIZE
    S_CHUNK_BWS          # whitespace after the chunk size, before ';'
    S_CHUNK_EXT          # chunk extension: ignored up to CR
    S_CHUNK_SIZE_LF
    S_CHUNK_DATA
    S_CHUNK_DATA_CR
    S_CHUNK_DATA_LF
    S_TRAILER_START
    S_TRAILER_NAME
    S_TRAILER_VALUE
    S_TRAILER_LF
    S_TRAILER_END_LF
    S_COMPLETE           # message complete, HP_COMPLETE not yet reported
    S_DONE               # HP_COMPLETE reported; fields valid until next feed
    S_ERROR

# Fixed limits of the grammar, not options.
cdef enum:
    MAX_LEADING_EMPTY_LINES = 8
    MAX_CHUNK_EXT = 4096

# Why a request is refused, as llhttp's errno: one code per reason; the
# status and the reason text of each are in the one table in
# _httpparser.pyx (_REFUSALS).
cdef enum Refusal:
    R_NONE = 0
    # the head as it arrives
    R_BARE_CR
    R_BARE_LF
    R_TOO_MANY_EMPTY_LINES
    R_REQUEST_LINE_TOO_LONG
    R_HEAD_TOO_LARGE
    R_TOO_MANY_FIELDS
    R_OUT_OF_MEMORY
    # the request line
    R_INVALID_METHOD
    R_INVALID_TARGET
    R_INVALID_VERSION
    R_VERSION_NOT_SUPPORTED
    R_CONNECT
    # field lines
    R_OBS_FOLD
    R_WHITESPACE_BEFORE_COLON
    R_INVALID_FIELD_NAME
    R_EMPTY_FIELD_NAME
    R_INVALID_FIELD_VALUE
    R_DUPLICATE_HOST
    R_MISSING_HOST
    R_UNSUPPORTED_EXPECTATION
    # framing
    R_INVALID_CONTENT_LENGTH
    R_CONFLICTING_CONTENT_LENGTH
    R_BODY_TOO_LARGE
    R_CL_AND_TE
    R_TE_IN_HTTP10
    R_UNSUPPORTED_CODING
    R_INVALID_TE
    # chunked bodies
    R_INVALID_CHUNK_SIZE
    R_CHUNK_SIZE_TOO_LARGE
    R_CHUNK_SIZE_BARE_CR
    R_INVALID_CHUNK_EXT
    R_CHUNK_EXT_TOO_LONG
    R_MISSING_CHUNK_CRLF
    R_INVALID_TRAILER_FIELD
    R_INVALID_TRAILER_VALUE
    R_TRAILER_TOO_LARGE
    R_COUNT


ctypedef struct HttpLimits:
    Py_ssize_t max_request_line    # bytes, CRLF excluded -> 414
    Py_ssize_t max_head_size       # request line + fields + CRLFs -> 431
    Py_ssize_t max_headers         # field lines -> 431
    uint64_t max_body_size         # decoded body bytes -> 413


# Where one field line sits in the head: offsets from ``head``.
ctypedef struct HeaderSlot:
    uint32_t name_off
    uint32_t name_len
    uint32_t value_off
    uint32_t value_len


ctypedef struct HttpParser:
    const HttpLimits *limits
    ParserState state
    ParserEvent event

    # Head scanning; ``hbuf`` holds a head split across reads, else NULL.
    char *hbuf
    Py_ssize_t hlen
    Py_ssize_t hcap
    Py_ssize_t head_seen           # head bytes seen so far
    Py_ssize_t line_len            # bytes in the current line so far
    Py_ssize_t nlines              # complete lines of this head
    int leading                    # empty lines skipped before this request
    bint after_cr

    # The parsed head, valid from HP_HEAD to the next parser_feed().
    const char *head
    Py_ssize_t head_len
    Method method
    Py_ssize_t method_len
    Py_ssize_t target_off
    Py_ssize_t target_len
    int version_minor              # 0 or 1
    bint keep_alive
    bint expect_continue
    bint chunked
    uint64_t content_length        # 0 if chunked
    Py_ssize_t nheaders
    HeaderSlot *slots              # optional, caller-owned, limits.max_headers long
    bint has_host
    bint has_cl
    bint has_te
    bint te_chunked_final
    bint te_bad
    bint te_unknown
    bint conn_close
    bint conn_keep_alive

    # Body framing.
    uint64_t remaining
    uint64_t body_seen
    bint chunk_has_digit
    Py_ssize_t chunk_ext_len
    Py_ssize_t trailer_len
    const char *body
    Py_ssize_t body_len

    Refusal refusal                # R_NONE until HP_ERROR


cdef void parser_init(HttpParser *p, const HttpLimits *limits, HeaderSlot *slots) noexcept nogil
cdef void parser_free(HttpParser *p) noexcept nogil
cdef Py_ssize_t parser_feed(HttpParser *p, const char *data, Py_ssize_t length) noexcept nogil
cdef int refusal_status(Refusal code) noexcept nogil
cdef const char *refusal_reason(Refusal code) noexcept nogil
cdef int limits_from(HttpLimits *limits, object options) except -1
cdef object parser_error(HttpParser *p)


cdef inline bint parser_head_started(const HttpParser *p) noexcept nogil:
    # A request has begun once a byte of it arrived: inside the head, or
    # past an empty line (or its CR) before the request-line, which RFC 9112
    # 2.2 lets a server skip but which is still part of this request.
    return p.state == S_HEAD or (p.state == S_START and (p.leading > 0 or p.after_cr))
