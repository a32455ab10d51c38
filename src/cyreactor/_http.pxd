# The HTTP/1.1 server side: connection handlers built on the reactor's public
# Cython API (Handler.buffer_received, Connection.write_buffer, set_timeout,
# pause_reading/resume_reading), the request and response objects of the
# Python app API, and the builder that writes response heads.
#
# One extension module, _http.pyx, built from the files it includes; this
# file shows every field and every C-level method of all of them. Each
# section names the file that owns it.
cimport cython
from libc.stdint cimport int64_t, uint64_t
from libc.time cimport time_t

from cyreactor._flags cimport flag
from cyreactor._httpparser cimport R_COUNT, HeaderSlot, HttpLimits, HttpParser
from cyreactor._loop cimport Connection, Handler, Reactor


cdef class Request
cdef class ResponseWriter
cdef class AsgiCycle
cdef class AppAdapter
cdef class WsgiJob
cdef class _ThreadInput


# ---- _http_head.pxi: response heads --------------------------------------------

cdef enum:
    HEAD_STACK = 2048         # response heads up to this size are built on the stack
    CHUNK_LINE = 24           # room for a chunk-size line: 16 hex digits and CRLF
    # A (first) piece of body up to this size is copied into the head's
    # buffer and goes out in the same send(); a larger one is written after
    # the head (the kernel takes both in one go when the socket has room).
    COALESCE_MAX = 16384
    HEAD_MEMO_MAX = 512       # the longest head memoized (HeadMemo)

# A growable output buffer that starts on the caller's stack.
ctypedef struct Out:
    char *buf
    Py_ssize_t length
    Py_ssize_t cap
    bint heap

# How a response's body is framed (RFC 9112 6): the caller fills the inputs,
# _build_head() decides the rest once it has read the user's header fields.
ctypedef struct Framing:
    int status
    long long length          # in: the body's length, or -1 if unknown (a
                              # user's content-length field then stands in);
                              # out: the content-length sent, or -1
    bint http10               # in: an HTTP/1.0 client (no chunked coding;
                              # keep-alive must be said)
    bint keep_alive           # in: the connection may stay open; out: it does
    bint chunked              # out: transfer-encoding: chunked
    bint no_body              # out: 204/304, which have no content

# The last head built from a Response whose fields were cached, as sent:
# what every later head with the same inputs copies (the Date refreshed in
# place, as the demo's canned responses do).
ctypedef struct HeadMemo:
    char data[HEAD_MEMO_MAX]
    Py_ssize_t length             # 0: nothing memoized
    Py_ssize_t date_off           # where the Date value is, or -1: the user's own
    time_t date_sec
    Framing key                   # the inputs it was built for
    Framing out                   # and what _build_head() made of them

# What a response head's Connection field says.
cdef enum ConnectionField:
    CONN_DEFAULT = 0          # nothing: HTTP/1.1 keeps the connection
    CONN_KEEP_ALIVE           # "keep-alive", to an HTTP/1.0 client that asked
    CONN_CLOSE                # "close"


# ---- _http_demo.pxi: the demo's canned responses ---------------------------------

cdef enum:
    CANNED_MAX = 512

# One prebuilt response: head and body in one buffer, its Date field copied
# in whenever the cache (_http_date.pxi) has moved on.
ctypedef struct Canned:
    char data[CANNED_MAX]
    Py_ssize_t length
    Py_ssize_t head_length
    Py_ssize_t date_off
    time_t date_sec

# Which canned response answers a request.
cdef enum CannedKind:
    CANNED_KEEP_ALIVE = 0     # HTTP/1.1 keep-alive
    CANNED_KEEP_ALIVE_10      # HTTP/1.0 client that asked for keep-alive
    CANNED_CLOSE
    CANNED_KINDS


# ---- _http_metrics.pxi: the server's counters ------------------------------------

cdef enum:
    DURATION_BUCKETS = 16     # request-duration histogram: 15 bounds and +Inf

# Why a connection was refused before any request was read (HttpMetrics.conn_refused).
cdef enum ConnRefusal:
    CR_TOO_MANY_CONNECTIONS = 0
    CR_SHUTTING_DOWN
    CR_INCOMPLETE             # the client ended (EOF) in the middle of a request
    CR_COUNT

# What ran out when a connection's deadline passed (HttpMetrics.timeouts).
cdef enum TimeoutKind:
    T_HEADER = 0              # 408: the head took longer than header_timeout
    T_BODY                    # 408: body_timeout of silence inside a body
    T_BODY_RATE               # 408: under min_body_rate
    T_KEEPALIVE               # close: idle between requests
    T_SEND                    # abort: the client left our responses unread
    T_LINGER                  # abort: lingering close ended
    T_COUNT

# One server's counters: plain C, one add per event, no Python object. The
# struct lives in the ServerCore, or in a worker's slot of the shared
# scoreboard (cyreactor.metrics), where the supervisor and the other
# workers read it; its layout is private to this extension (read it through
# metrics_read()). Counters only grow; open and idle are gauges.
ctypedef struct HttpMetrics:
    uint64_t responses[6]     # by status class: [1] 1xx ... [5] 5xx
    uint64_t body_bytes_in    # request body bytes (decoded)
    uint64_t body_bytes_out   # response body bytes (heads and framing excluded)
    uint64_t refused[R_COUNT] # requests refused by the parser, by its Refusal code
    uint64_t conn_refused[<int>CR_COUNT]
    uint64_t timeouts[<int>T_COUNT]
    uint64_t app_errors       # exceptions in user code
    uint64_t duration[DURATION_BUCKETS]   # per bucket, not cumulative
    double duration_sum       # seconds
    int64_t open              # gauge: connections open now
    int64_t idle              # gauge: of those, idle between requests (at the last update)


# ---- _http_core.pxi: the server core ---------------------------------------------

cdef enum:
    # Exchanges kept for reuse by a core's connections: as many as take one
    # at once in a burst; beyond it, one given back is freed.
    SPARE_EXCHANGES = 64
    # The largest head buffer a recycled Request keeps (ServerCore._spare_request).
    SPARE_REQUEST_HEAD_MAX = 8192

# What a connection holds only while a request is under way: taken when its
# first byte arrives, given back when the connection goes idle
# (_http_core.pxi), so an idle keep-alive connection holds none.
ctypedef struct Exchange:
    HttpParser p
    # Input held back while HttpProtocol._blocked: a heap copy, freed once
    # consumed.
    char *stash
    Py_ssize_t stash_off
    Py_ssize_t stash_len
    double body_start                 # when the current body's rate window began
    uint64_t body_received            # body bytes received since then
    Py_ssize_t unparsed               # input left after the event being handled
    double started                    # when the current request's head was complete; 0: none

@cython.final
cdef class ServerCore:
    cdef HttpLimits _limits
    cdef HeaderSlot *_slots          # scratch for the parser, copied at once
    cdef HeaderSlot *_parser_slots   # what its parsers get: _slots, or NULL (the demo reads no header)
    cdef Exchange *_spare[<int>SPARE_EXCHANGES]   # given back, ready for the next request
    cdef Py_ssize_t _nspare
    cdef dict _options               # every option, as resolved from the table
    cdef readonly double header_timeout
    cdef readonly double body_timeout
    cdef readonly double min_body_rate
    cdef readonly double keepalive_timeout
    cdef readonly double send_timeout
    cdef readonly double linger_timeout
    cdef readonly Py_ssize_t max_connections
    cdef readonly bint access_log
    cdef object _access_format       # format(entry) -> str, or None when off
    cdef object _proxies             # forwarded.TrustedProxies, or None
    cdef bytes _health_path          # answered by the server itself, or None
    cdef bytes _metrics_path
    cdef public object metrics_source  # () -> bytes: the Prometheus text for metrics_path
    cdef bint _special_paths         # _health_path or _metrics_path is set
    cdef bint _need_headers          # the demo keeps header slots (access log)
    cdef readonly Py_ssize_t open_connections
    cdef readonly bint shutting_down
    cdef readonly bint draining      # health checks fail; set by drain()
    cdef readonly object app         # app(request) -> Response, or None
    cdef readonly object handler_class   # a RequestHandler subclass, or None
    cdef readonly AppAdapter adapter # an app interface (ASGI, WSGI), or None
    cdef object _select              # app.handler_for(request): a RequestHandler subclass or None
    cdef readonly uint64_t requests
    cdef readonly uint64_t refused
    cdef readonly uint64_t errors
    # The protocols counted in open_connections, each at its _live_at: a
    # slot of a list costs an idle connection 8 bytes, a set's entry ~50.
    cdef list _live
    # The last Request that nobody kept once answered (the app returned and
    # dropped it), with its head buffer: the next request's object.
    cdef Request _spare_request
    cdef HttpMetrics _own_metrics    # the counters, unless attached to a scoreboard
    cdef HttpMetrics *_m             # the counters in use: &_own_metrics or a slot
    cdef object _m_owner             # keeps a slot's buffer exported while _m points into it


# ---- _http_protocol.pxi: the connection state machine ----------------------------

# What a connection's one deadline measures (HttpProtocol._deadline). The
# rule, state by state, is written above HttpProtocol._arm_deadline().
cdef enum Deadline:
    D_NONE = 0
    D_KEEPALIVE               # between requests, nothing of the next one yet
    D_HEAD                    # a request has begun: whole within header_timeout
    D_BODY                    # inside a body: body_timeout of silence, min_body_rate
    D_SEND                    # input held back until the client reads our responses
    D_LINGER                  # half-closed after the last response, draining input
    D_CLOSING                 # closing with data queued: send_timeout from progress

# Why input processing is held back (HttpProtocol._blocked, a set of flags).
cdef enum Blocked:
    B_NONE = 0
    B_DRAIN = 1               # the write buffer is above high water
    B_RESPONSE = 2            # a streamed response for the current request is not done
    B_APP = 4                 # the app has not taken the body it was given yet


cdef class HttpProtocol(Handler):
    cdef ServerCore _core
    cdef Connection _conn
    # The parser and the rest of a request's state, from the core's spares.
    # NULL: idle between requests, as a fresh parser would be (nothing of a
    # request seen, keep-alive), nothing stashed.
    cdef Exchange *_ex
    cdef unsigned int _blocked
    cdef Deadline _deadline
    cdef Py_ssize_t _closing_queued   # bytes queued when D_CLOSING was last armed
    # One byte each, side by side: one object per connection.
    cdef flag _new_head               # a request completed: the next head is new
    cdef flag _write_paused
    cdef flag _counted                # counted in ServerCore.open_connections
    cdef flag _done                   # no more requests on this connection
    cdef flag _eof                    # the peer half-closed
    cdef flag _fresh                  # accepted, no request begun yet (a stop lets it send one)
    cdef int _special                 # the request is the health (1) or metrics (2) path
    cdef int _live_at                 # its index in ServerCore._live while _counted
    cdef object _access               # the access-log entry of the current request (only when on)

    cdef int _process(self, const char *data, Py_ssize_t length) except -1
    cdef int _stash_rest(self, const char *data, Py_ssize_t length) except -1
    cdef int _resume_input(self) except -1
    cdef int _arm_deadline(self) except -1
    cdef int _set_deadline(self, Deadline kind, double seconds) except -1
    cdef int _finish_connection(self, bint linger) except -1
    cdef int _close(self) except -1
    cdef int _watch_closing(self) except -1
    cdef int _send_error(self, int status, str reason) except -1
    cdef int _answer_special(self) except -1
    cdef int _timed_out(self, TimeoutKind kind) except -1
    # The client and scheme of the current request, given its header fields
    # ((lower-case name, value) bytes pairs): the connection's, or what a
    # trusted proxy's X-Forwarded-*/Forwarded say (_http_access.pxi). Every
    # app interface asks this.
    cdef tuple _client_scheme(self, object headers)
    cdef int _shutdown(self) except -1
    cdef object tls_refusal(self, object exc)
    cdef bint _idle(self) noexcept

    # Hooks for the subclasses; the parser's results are in self._ex.p.
    cdef int _on_head(self) except -1
    cdef int _on_body(self, const char *data, Py_ssize_t length) except -1
    cdef int _on_complete(self) except -1
    cdef int _on_drain(self) except -1
    cdef int _on_lost(self, object exc) except -1


# ---- _http_demo.pxi --------------------------------------------------------------

@cython.final
cdef class DemoProtocol(HttpProtocol):
    pass


# ---- _http_app.pxi: apps ---------------------------------------------------------

@cython.final
cdef class AppProtocol(HttpProtocol):
    cdef Request _request            # the request whose head or body is being read
    cdef object _body                # bytes of Content-Length filled in place, or a bytearray
    cdef Py_ssize_t _body_len
    cdef ResponseWriter _writer
    cdef object _handler
    cdef bint _streaming             # this request goes to a RequestHandler

    cdef int _respond(self, object response, Request req) except -1
    cdef int _report(self, BaseException exc, str where, Request req) except -1
    cdef int _user_error(self, BaseException exc, str where, Request req) except -1
    cdef int _response_done(self, ResponseWriter writer) except -1


# ---- _http_request.pxi -----------------------------------------------------------

@cython.final
cdef class Request:
    cdef char *_head                 # the head, then its header slots (malloc'd)
    cdef Py_ssize_t _head_len
    cdef Py_ssize_t _head_cap        # _head's size: a recycled Request keeps it
    cdef HeaderSlot *_slots          # in _head
    cdef Py_ssize_t _nheaders
    cdef int _method_id
    cdef Py_ssize_t _method_len
    cdef Py_ssize_t _target_off
    cdef Py_ssize_t _target_len
    cdef int _version_minor
    cdef readonly bint keep_alive
    cdef readonly bint chunked
    cdef uint64_t _content_length
    cdef object _body
    cdef object _headers
    cdef object _target
    cdef object _method
    cdef tuple _resolved             # (client, scheme), on first use
    cdef Connection _conn

    cdef tuple _client_scheme(self)


@cython.final
cdef class Headers:
    cdef list _items


# ---- _http_response.pxi ----------------------------------------------------------

@cython.final
cdef class Response:
    cdef public int status
    cdef public object headers
    cdef public object body
    cdef public object reason


@cython.final
cdef class ResponseWriter:
    cdef AppProtocol _proto
    cdef Connection _conn
    cdef Request _request
    cdef bint _head_request
    cdef bint _keep_alive
    cdef bint _http10
    cdef bint _awaiting_continue     # 100 Continue not sent (yet): answering now closes
    cdef readonly bint started
    cdef readonly bint finished
    cdef bint _chunked
    cdef bint _no_body
    cdef readonly int status
    cdef long long _remaining        # declared length still owed; -1 if none
    cdef long long _sent             # body bytes written
    cdef object _body                # an iterable body: pumped, closed when done
    cdef object _iter

    cdef int _start(self, int status, object headers, object content_length, object reason) except -1
    cdef int _write(self, object data) except -1
    cdef int _end(self) except -1
    cdef int _pump(self) except -1
    cdef int _close_body(self) except -1


# ---- _http_responder.pxi: one response for the ASGI and WSGI interfaces ---------

@cython.final
cdef class Responder:
    # The status and headers come first and are held until the first piece
    # of body (ASGI and PEP 3333 both say nothing goes out before it), so a
    # whole body given in one piece is sent with its content-length, in the
    # same write as the head.
    cdef HttpProtocol _proto
    cdef Connection _conn
    cdef int status
    cdef object _headers
    cdef object _reason
    cdef bint started                # the status is given
    cdef bint _user_length           # the app's fields give a content-length
    cdef bint head_sent
    cdef bint finished
    cdef bint _head_request
    cdef bint _http10
    cdef bint _keep_alive            # in: the request allows it; out: the connection stays
    cdef bint _awaiting_continue     # 100 Continue not sent: answering now closes
    cdef bint _chunked
    cdef bint _no_body
    cdef long long _remaining        # declared length still owed; -1 if none
    cdef long long sent              # body bytes accepted

    cdef int _begin(self, int status, object headers, object reason) except -1
    cdef int _send(self, object data, bint final) except -1
    cdef int _send_head(self, object first, bint final) except -1
    cdef int _chunk_line(self, long long n) except -1
    cdef int _short(self) except -1
    cdef int _finish(self) except -1


# ---- _http_interface.pxi: what every app interface takes from a request ----------

cdef class AppAdapter:
    cdef readonly object app
    cdef readonly str root_path
    cdef HttpProtocol _new_protocol(self)


# ---- _http_asgi.pxi: ASGI 3.0 ------------------------------------------------------

@cython.final
cdef class AsgiAdapter(AppAdapter):
    cdef dict _asgi                  # scope["asgi"], one dict per server
    cdef public object state         # the lifespan state, copied into each scope; or None


@cython.final
cdef class AsgiProtocol(HttpProtocol):
    cdef AsgiCycle _cycle            # the request being read, or answered
    cdef object _server_addr         # scope["server"], per connection

    cdef int _response_done(self, AsgiCycle cycle) except -1
    cdef int _app_failed(self, AsgiCycle cycle, BaseException exc, str message) except -1


@cython.final
cdef class AsgiCycle:
    cdef AsgiProtocol _proto
    cdef AsgiAdapter _adapter
    cdef Reactor _loop               # the cyreactor Loop the server runs on
    cdef readonly dict scope
    cdef Responder _out
    cdef list _body                  # body pieces the app has not received yet
    cdef Py_ssize_t _body_size
    cdef bint _request_done          # the whole request is in
    cdef bint _final_delivered       # the app has received more_body=False
    cdef bint _disconnected
    cdef bint _app_done
    cdef object _receive_waiter      # a Future while the app waits in receive()
    cdef object _send_waiter         # a Future while the app waits for the client to read

    cdef object _next_message(self, bint from_app)
    cdef int _wake(self) except -1
    cdef int _disconnect(self) except -1
    cdef int _drained(self) except -1


# ---- _http_wsgi.pxi: WSGI (PEP 3333) ---------------------------------------------

@cython.final
cdef class WsgiAdapter(AppAdapter):
    cdef dict _base                  # the environ keys every request shares
    cdef readonly int threads
    cdef object _executor            # the thread pool (threads > 0), or None
    cdef object _condition           # threading.Condition (threads > 0)


@cython.final
cdef class WsgiProtocol(HttpProtocol):
    cdef WsgiJob _job                # the request being read, or answered
    cdef object _body                # the body gathered for an app on the loop thread
    cdef Py_ssize_t _body_len
    cdef str _server_name            # the environ's server address, per connection
    cdef str _server_port

    cdef int _job_done(self, WsgiJob job) except -1
    cdef int _input_taken(self, WsgiJob job) except -1


@cython.final
cdef class WsgiJob:
    cdef WsgiProtocol _proto
    cdef WsgiAdapter _adapter
    cdef Reactor _loop
    cdef readonly dict environ
    cdef Responder _out
    cdef object _result              # the app's iterable, until closed
    cdef object _iter                # pulled on the loop thread while the client reads
    cdef bint _request_done
    cdef bint _disconnected
    cdef bint _file_pending          # a wsgi.file_wrapper file is being sent
    # With threads: the input, and the flow of the response to the loop.
    cdef _ThreadInput _input
    cdef object _cond                # a threading.Condition guarding the fields below
    cdef Py_ssize_t _in_flight       # bytes handed to the loop, not written yet
    cdef bint _paused                # the client is behind: the app's thread waits

    cdef int _check_live(self) except -1
    cdef int _run(self) except -1
    cdef object _whole(self, object sequence)
    cdef int _pump(self) except -1
    cdef bint _sendfile(self, FileWrapper wrapper) except -1
    cdef int _complete(self) except -1
    cdef int _report(self, BaseException exc, str where) except -1
    cdef int _failed(self, BaseException exc, str where) except -1
    cdef int _drained(self) except -1
    cdef int _disconnect(self) except -1
    cdef int _post(self, object data, bint final) except -1


@cython.final
cdef class FileWrapper:
    cdef readonly object filelike
    cdef readonly Py_ssize_t blksize


@cython.final
cdef class _ThreadInput:
    cdef WsgiJob _job
    cdef bytearray _buf              # received, not read by the app yet
    cdef bint _eof
    cdef bint _gone                  # the client left, or the response is done
    cdef bint _held                  # the loop stopped reading for the app

    cdef Py_ssize_t _feed(self, const char *data, Py_ssize_t length) except -1
    cdef int _discard(self) except -1
    cdef int _invite(self) except -1
    cdef bytes _take(self, Py_ssize_t n)
    cdef int _wait(self) except -1
