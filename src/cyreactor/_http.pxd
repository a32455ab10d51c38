# The HTTP/1.1 server side: connection handlers built on the reactor's public
# Cython API (Handler.buffer_received, Connection.write_buffer, set_timeout,
# pause_reading/resume_reading), the request and response objects of the
# Python app API, and the serializer that writes responses.
cimport cython
from libc.stdint cimport uint64_t

from cyreactor._httpparser cimport HeaderSlot, HttpLimits, HttpParser
from cyreactor._loop cimport Connection, Handler


# What a connection's deadline currently measures (HttpProtocol._timer).
cdef enum:
    T_NONE = 0
    T_IDLE          # keep-alive: waiting for the next request
    T_HEAD          # a head has started: it must complete in header_timeout
    T_BODY          # inside a body: some of it must arrive every body_timeout
    T_SEND          # reading paused until the client reads our responses
    T_LINGER        # answered and half-closed: draining until the peer closes

# Why input processing is held back (HttpProtocol._blocked).
cdef enum:
    B_NONE = 0
    B_DRAIN = 1     # the write buffer is above high water
    B_RESPONSE = 2  # a streamed response for the current request is not done


cdef class Request
cdef class ResponseWriter


@cython.final
cdef class HttpConfig:
    cdef HttpLimits _limits
    cdef HeaderSlot *slots           # scratch for the parser, copied at once
    cdef public double header_timeout
    cdef public double body_timeout
    cdef public double keepalive_timeout
    cdef public double send_timeout
    cdef public double linger_timeout
    cdef public Py_ssize_t max_connections
    cdef readonly Py_ssize_t open_connections
    cdef public bint access_log
    cdef readonly bint shutting_down
    cdef object app                  # app(request) -> Response, or None
    cdef object handler_class        # a RequestHandler subclass, or None
    cdef readonly uint64_t requests
    cdef readonly uint64_t refused
    cdef readonly uint64_t errors
    cdef set _protocols


cdef class HttpProtocol(Handler):
    cdef HttpConfig _cfg
    cdef Connection _conn
    cdef HttpParser _p
    # Input held back while _blocked: a heap copy, freed once consumed.
    cdef char *_stash
    cdef Py_ssize_t _stash_off
    cdef Py_ssize_t _stash_len
    cdef int _blocked
    cdef int _timer
    cdef bint _new_head               # a request completed: the next head is new
    cdef bint _write_paused
    cdef bint _counted                # counted in HttpConfig.open_connections
    cdef bint _done                   # no more requests on this connection
    cdef bint _eof                    # the peer half-closed
    cdef Py_ssize_t _unparsed         # input left after the event being handled
    cdef object _access_line          # request line for the access log (only when on)

    cdef int _process(self, const char *data, Py_ssize_t length) except -1
    cdef int _stash_rest(self, const char *data, Py_ssize_t length) except -1
    cdef int _resume_input(self) except -1
    cdef int _arm_timer(self) except -1
    cdef int _set_timer(self, int kind, double seconds) except -1
    cdef int _finish_connection(self, bint linger) except -1
    cdef int _send_error(self, int status, str reason) except -1
    cdef int _shutdown(self) except -1
    cdef bint _idle(self) noexcept

    # Hooks for the subclasses; the parser's results are in self._p.
    cdef int _on_head(self) except -1
    cdef int _on_body(self, const char *data, Py_ssize_t length) except -1
    cdef int _on_complete(self) except -1
    cdef int _on_drain(self) except -1
    cdef int _on_lost(self, object exc) except -1


@cython.final
cdef class DemoProtocol(HttpProtocol):
    pass


@cython.final
cdef class AppProtocol(HttpProtocol):
    cdef Request _request
    cdef object _body                # bytes of Content-Length filled in place, or a bytearray
    cdef Py_ssize_t _body_len
    cdef ResponseWriter _writer
    cdef object _handler

    cdef int _respond(self, object response, Request req) except -1
    cdef int _user_error(self, BaseException exc, str where) except -1
    cdef int _response_done(self, ResponseWriter writer) except -1


@cython.final
cdef class Request:
    cdef bytes _head
    cdef HeaderSlot *_slots
    cdef Py_ssize_t _nheaders
    cdef int _method_id
    cdef Py_ssize_t _method_len
    cdef Py_ssize_t _target_off
    cdef Py_ssize_t _target_len
    cdef int _version_minor
    cdef readonly bint keep_alive
    cdef readonly bint chunked
    cdef readonly object content_length
    cdef object _body
    cdef object _headers
    cdef object _target
    cdef object _method
    cdef Connection _conn


@cython.final
cdef class Headers:
    cdef list _items


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
    cdef bint _head_request
    cdef bint _keep_alive
    cdef bint _http10
    cdef readonly bint started
    cdef readonly bint finished
    cdef bint _chunked
    cdef bint _no_body
    cdef readonly int status
    cdef long long _remaining        # declared length still owed; -1 if none
    cdef object _iter                # an iterable body being pumped

    cdef int _start(self, int status, object headers, object content_length, object reason) except -1
    cdef int _write(self, object data) except -1
    cdef int _end(self) except -1
    cdef int _pump(self) except -1
