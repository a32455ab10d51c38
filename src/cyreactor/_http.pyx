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
``ServerCore`` holds one server's options, counters and live connections,
and makes the protocol for each new connection.

One extension module built from the files below (as uvloop's loop.pyx is);
_http.pxd declares every field and C-level method of all of them.
"""
import http as _stdlib_http
import io
import logging
import os
import stat
import sys

cimport cython
from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_GET_SIZE, PyByteArray_Resize
from cpython.buffer cimport PyBUF_FORMAT, PyBUF_ND, PyBUF_STRIDES
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.object cimport PyObject
from cpython.ref cimport Py_REFCNT
from cpython.sequence cimport PySequence_Fast_GET_SIZE, PySequence_Fast_ITEMS
from cpython.tuple cimport PyTuple_GET_ITEM, PyTuple_GET_SIZE
from libc.stdlib cimport calloc, free, malloc, realloc
from libc.string cimport memchr, memcmp, memcpy, memset
from libc.time cimport time_t, tm
from posix.time cimport CLOCK_MONOTONIC, clock_gettime, timespec

from cyreactor._httpparser cimport (
    HP_BODY, HP_COMPLETE, HP_HEAD, HP_NEED_MORE, M_GET, M_HEAD, M_OTHER, S_BODY_LENGTH, S_COMPLETE, S_DONE,
    S_HEAD, S_START, Refusal, limits_from, parser_feed, parser_free, parser_head_started, parser_init,
    refusal_reason, refusal_status,
)
from cyreactor._loop cimport Connection, Handler, Reactor

cdef extern from "Python.h":
    # Vectorcall (CPython 3.9+): calling the app with its one argument, and
    # Response's own constructor (_http_response.pxi), without Cython's
    # general call and argument parsing.
    object PyObject_CallOneArg(object func, object arg)
    ctypedef object (*vectorcallfunc)(PyObject *callable, PyObject **args, size_t nargsf, PyObject *kwnames)
    Py_ssize_t PyVectorcall_NARGS(size_t nargsf)
    ctypedef struct VectorcallType "PyTypeObject":
        vectorcallfunc tp_vectorcall

# The parser's Python view, importable from here too.
from cyreactor._httpparser import DEFAULT_LIMITS, HttpParseError, RequestParser, parse_requests
from cyreactor.http_options import resolve as _resolve_options


include "_http_date.pxi"        # the Date header cache
include "_http_metrics.pxi"     # the counters: HttpMetrics, the duration histogram
include "_http_head.pxi"        # response heads: builder, framing, error responses
include "_http_access.pxi"      # the client behind proxies, the access log
include "_http_core.pxi"        # ServerCore: options, counters, live connections, shutdown
include "_http_protocol.pxi"    # HttpProtocol: the connection state machine, deadlines
include "_http_demo.pxi"        # the demo: canned responses, DemoProtocol
include "_http_request.pxi"     # Request, Headers
include "_http_response.pxi"    # Response, ResponseWriter
include "_http_app.pxi"         # RequestHandler, AppProtocol
include "_http_interface.pxi"   # what the app interfaces take from a request; AppAdapter
include "_http_responder.pxi"   # Responder: one response for the ASGI and WSGI interfaces
include "_http_asgi.pxi"        # ASGI 3.0: AsgiAdapter, AsgiProtocol, AsgiCycle
include "_http_wsgi.pxi"        # WSGI (PEP 3333): WsgiAdapter, WsgiProtocol, WsgiJob, FileWrapper
