# ---------------------------------------------------------------- ASGI 3.0
#
# One AsgiCycle per request: the scope (built in C at HP_HEAD from the
# parser's head and slots), compiled receive() and send(), and the app's
# coroutine run as an asyncio Task on the reactor, which is the cyreactor
# Loop the server listens on. The body is handed over as it arrives, never
# gathered whole: past BODY_HIGH_WATER not yet received, input stops
# (B_APP) until the app takes it. Pipelined requests wait for the response
# before theirs (B_RESPONSE). receive() and send() return a done awaitable
# when nothing has to wait, a Future when something does.

cdef enum:
    BODY_HIGH_WATER = 65536   # request body bytes held for the app before input stops

cdef list _ERROR_HEADERS = [(b"content-type", b"text/plain; charset=utf-8")]
cdef bytes _ERROR_BODY = b"Internal Server Error\n"


class ClientDisconnected(OSError):
    """Raised by an ASGI ``send()`` once the client has gone (ASGI HTTP
    spec 2.4); the app sees ``http.disconnect`` from ``receive()``."""


@cython.final
@cython.freelist(64)
cdef class _Ready:
    # An awaitable already done with a value: what receive() and send()
    # return when nothing has to wait (cheaper than a coroutine or a
    # Future). Awaiting it finishes at once with the value.
    cdef object _value

    def __await__(self):
        return self

    def __iter__(self):
        return self

    def __next__(self):
        value = self._value
        self._value = None
        raise StopIteration(value)

    def send(self, value):
        return self.__next__()

    def throw(self, typ, val=None, tb=None):
        if val is None:
            raise typ
        raise val

    def close(self):
        self._value = None


cdef _Ready _DONE = _Ready.__new__(_Ready)


cdef inline _Ready _ready(object value):
    cdef _Ready r = _Ready.__new__(_Ready)
    r._value = value
    return r


cdef inline dict _disconnect_message():
    return {"type": "http.disconnect"}


@cython.final
cdef class AsgiAdapter(AppAdapter):
    """Serves an ASGI 3.0 app: ``AsgiAdapter(app, *, root_path="",
    state=None)`` passed as ``ServerCore(adapter=...)``, listening on a
    ``cyreactor.Loop``. ``state``: the lifespan state, a shallow copy of
    which is each request's ``scope["state"]`` (no "state" key when None)."""

    def __init__(self, app, *, root_path="", state=None):
        AppAdapter.__init__(self, app, root_path=root_path)
        _bind_asyncio()
        self._asgi = {"version": "3.0", "spec_version": "2.4"}
        self.state = state

    cdef HttpProtocol _new_protocol(self):
        return AsgiProtocol.__new__(AsgiProtocol)


cdef dict _asgi_scope(AsgiProtocol proto, AsgiAdapter adapter):
    cdef HttpParser *p = &proto._ex.p
    cdef Py_ssize_t query_at
    cdef Py_ssize_t path_at = _path_bounds(p, &query_at)
    cdef Py_ssize_t target_end = p.target_off + p.target_len
    cdef str root = adapter.root_path
    raw_path = PyBytes_FromStringAndSize(p.head + path_at, query_at - path_at)
    path = _percent_decode(p.head + path_at, query_at - path_at).decode("utf-8", "replace")
    if query_at < target_end:
        query = PyBytes_FromStringAndSize(p.head + query_at + 1, target_end - query_at - 1)
    else:
        query = b""
    if root:
        # uvicorn's reading of the spec: path and raw_path include root_path.
        path = root + path
        raw_path = root.encode("utf-8") + raw_path
    headers = _fields(p.head, p.slots, p.nheaders)
    client, scheme = _client_scheme_at_head(proto, headers)
    if proto._server_addr is None:
        proto._server_addr = _server_address(proto)
    if p.method != M_OTHER:
        method = _METHODS[p.method]
    else:
        method = PyBytes_FromStringAndSize(p.head, p.method_len).decode("ascii")
    scope = {
        "type": "http",
        "asgi": adapter._asgi,
        "http_version": "1.0" if p.version_minor == 0 else "1.1",
        "method": method,
        "scheme": scheme,
        "path": path,
        "raw_path": raw_path,
        "query_string": query,
        "root_path": root,
        "headers": headers,
        "client": client,
        "server": proto._server_addr,
    }
    if adapter.state is not None:
        scope["state"] = adapter.state.copy()
    return scope


@cython.final
cdef class AsgiProtocol(HttpProtocol):
    """An HTTP connection serving an ASGI app (made by a ServerCore)."""

    cdef int _on_head(self) except -1:
        cdef AsgiAdapter adapter = <AsgiAdapter>self._core.adapter
        cdef AsgiCycle cycle = AsgiCycle.__new__(AsgiCycle)
        cycle._proto = self
        cycle._adapter = adapter
        cycle._loop = self._conn._reactor
        cycle._out = _make_responder(self, self._ex.p.expect_continue)
        cycle.scope = _asgi_scope(self, adapter)
        self._cycle = cycle
        _start_task(cycle._loop, cycle._run())
        return 0

    cdef int _on_body(self, const char *data, Py_ssize_t length) except -1:
        cdef AsgiCycle cycle = self._cycle
        if cycle is None or cycle._out.finished or cycle._app_done:
            return 0                 # nobody will read it
        if cycle._body is None:
            cycle._body = []
        cycle._body.append(PyBytes_FromStringAndSize(data, length))
        cycle._body_size += length
        if cycle._body_size >= BODY_HIGH_WATER:
            self._blocked |= B_APP
        if cycle._receive_waiter is not None:
            cycle._wake()
        return 0

    cdef int _on_complete(self) except -1:
        cdef AsgiCycle cycle = self._cycle
        self._core.requests += 1
        cycle._request_done = True
        if cycle._out.finished:
            self._cycle = None
            return 0
        # Later pipelined requests wait for this response.
        self._blocked |= B_RESPONSE
        if cycle._receive_waiter is not None:
            cycle._wake()
        return 0

    cdef int _on_drain(self) except -1:
        if self._cycle is not None:
            self._cycle._drained()
        return 0

    cdef int _on_lost(self, object exc) except -1:
        cdef AsgiCycle cycle = self._cycle
        self._cycle = None
        if cycle is not None:
            cycle._disconnect()
        return 0

    cpdef eof_received(self):
        cdef AsgiCycle cycle = self._cycle
        keep = HttpProtocol.eof_received(self)
        if cycle is not None and cycle._receive_waiter is not None:
            cycle._wake()            # an app waiting for the disconnect
        return keep

    cdef int _response_done(self, AsgiCycle cycle) except -1:
        if cycle is not self._cycle or self._conn is None:
            return 0
        # The app will not read the rest of the body: it is discarded.
        cycle._body = None
        cycle._body_size = 0
        self._blocked &= ~B_APP
        if not cycle._out._keep_alive or self._core.shutting_down:
            self._cycle = None
            return self._finish_connection(False)
        if cycle._request_done:
            self._cycle = None
            self._blocked &= ~B_RESPONSE
        if not self._blocked and not self._done:
            self._resume_input()
        return 0

    cdef int _app_failed(self, AsgiCycle cycle, BaseException exc, str message) except -1:
        cdef Responder out = cycle._out
        if exc is None:
            exc = RuntimeError(message)
        elif isinstance(exc, ClientDisconnected) and cycle._disconnected:
            return 0                 # the app's send() after the client left
        if not (isinstance(exc, _CancelledError) and cycle._disconnected):
            _report_app_error(cycle._loop, self, exc, message, cycle.scope["method"],
                              cycle.scope["path"])
        if cycle is not self._cycle or self._conn is None or self._done or out.finished:
            return 0
        if out.head_sent:
            # Part of the response is out: it cannot become a 500 now.
            out.finished = True
            self._done = True
            self._conn.abort()
            return 0
        if not cycle._request_done:
            self._cycle = None
            return self._send_error(500, "internal server error")
        out._begin(500, _ERROR_HEADERS, None)
        out._send(_ERROR_BODY, True)
        return self._response_done(cycle)


@cython.final
@cython.freelist(64)
cdef class AsgiCycle:
    """One request of an ASGI app: its ``scope``, and ``receive``/``send``
    (the callables the app gets)."""

    def __init__(self):
        raise TypeError("AsgiCycle objects are made by the server")

    async def _run(self):
        if self._proto is None:
            raise RuntimeError("not a request of a running server")
        try:
            await self._adapter.app(self.scope, self.receive, self.send)
        except BaseException as exc:
            self._app_done = True
            self._proto._app_failed(self, exc, "the ASGI app")
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
        else:
            self._app_done = True
            if not self._out.finished:
                self._proto._app_failed(self, None, "the ASGI app, which returned without "
                                        "completing its response" if self._out.started else
                                        "the ASGI app, which returned without a response")

    def receive(self):
        if self._proto is None:
            raise RuntimeError("not a request of a running server")
        message = self._next_message(True)
        if message is not None:
            return _ready(message)
        if self._receive_waiter is not None:
            raise RuntimeError("receive() called while another receive() is waiting")
        fut = self._receive_waiter = _Future(loop=self._loop)
        return fut

    def send(self, message):
        cdef Responder out = self._out
        if out is None:
            raise RuntimeError("not a request of a running server")
        mtype = message["type"]
        if self._disconnected:
            raise ClientDisconnected("the client has disconnected")
        if mtype == "http.response.body":
            if not out.started:
                raise RuntimeError("'http.response.body' sent before 'http.response.start'")
            if out.finished:
                raise RuntimeError("'http.response.body' sent after the response was complete")
            body = message.get("body", b"")
            if type(body) is not bytes:
                if not isinstance(body, (bytearray, memoryview)):
                    raise TypeError(f"'http.response.body' body must be bytes, not {type(body).__name__}")
                body = bytes(body)
            more = message.get("more_body", False)
            out._send(body, not more)
            if not more:
                self._proto._response_done(self)
            elif self._proto._write_paused and not self._disconnected:
                # The client is not keeping up: the app waits until it does.
                fut = self._send_waiter = _Future(loop=self._loop)
                return fut
            return _DONE
        if mtype == "http.response.start":
            if out.started:
                raise RuntimeError("'http.response.start' sent twice")
            status = message["status"]
            if type(status) is not int:
                raise TypeError(f"'http.response.start' status must be an int, not {type(status).__name__}")
            headers = message.get("headers", ())
            out._begin(status, headers, None)
            out._user_length = _has_content_length(headers)
            return _DONE
        raise RuntimeError(f"unexpected ASGI message type {mtype!r} for an 'http' scope")

    cdef object _next_message(self, bint from_app):
        # The message receive() returns now, or None if it must wait.
        # ``from_app``: called by the app, not from inside the protocol's
        # parsing (which goes on by itself once input is no longer held).
        cdef AsgiProtocol proto = self._proto
        cdef Responder out = self._out
        cdef list pieces = self._body
        cdef Connection conn
        if self._disconnected or out.finished:
            return _disconnect_message()
        if self._final_delivered:
            # Only the disconnect is left to wait for; a client that has
            # half-closed is taken as gone, as uvicorn does.
            return _disconnect_message() if proto._eof else None
        if out._awaiting_continue:
            # RFC 9110 10.1.1: the app reads the body, so invite it now.
            out._awaiting_continue = False
            conn = proto._conn
            if conn is not None and not conn.closing() and not self._request_done:
                conn.write_buffer(CONTINUE_100, 25)
        if self._body_size == 0 and not self._request_done:
            return None
        if pieces is None:
            body = b""
        elif len(pieces) == 1:
            body = pieces[0]
        else:
            body = b"".join(pieces)
        self._body = None
        self._body_size = 0
        if self._request_done:
            self._final_delivered = True
        message = {"type": "http.request", "body": body, "more_body": not self._request_done}
        if proto._blocked & B_APP:
            proto._blocked &= ~B_APP
            if from_app and not proto._blocked and not proto._done:
                proto._resume_input()
        return message

    cdef int _wake(self) except -1:
        fut = self._receive_waiter
        if fut.done():               # cancelled: the app is not waiting any more
            self._receive_waiter = None
            return 0
        self._receive_waiter = None
        message = self._next_message(False)
        if message is None:
            self._receive_waiter = fut
        else:
            fut.set_result(message)
        return 0

    cdef int _disconnect(self) except -1:
        self._disconnected = True
        self._out._conn = None
        self._body = None
        if self._receive_waiter is not None:
            self._wake()
        fut = self._send_waiter
        self._send_waiter = None
        if fut is not None and not fut.done():
            fut.set_exception(ClientDisconnected("the client has disconnected"))
        return 0

    cdef int _drained(self) except -1:
        fut = self._send_waiter
        self._send_waiter = None
        if fut is not None and not fut.done():
            fut.set_result(None)
        return 0
