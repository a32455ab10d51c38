# ---------------------------------------------------------------- the protocol state machine

cdef enum:
    SPECIAL_HEALTH = 1
    SPECIAL_METRICS = 2


cdef int _special_path(ServerCore core, HttpParser *p) noexcept:
    # GET or HEAD of the health or metrics path, with or without a query.
    if p.method != M_GET and p.method != M_HEAD:
        return 0
    if core._health_path is not None and _is_path(core._health_path, p):
        return SPECIAL_HEALTH
    if core._metrics_path is not None and _is_path(core._metrics_path, p):
        return SPECIAL_METRICS
    return 0


cdef inline bint _is_path(bytes path, HttpParser *p) noexcept:
    cdef Py_ssize_t n = PyBytes_GET_SIZE(path)
    cdef const char *target = p.head + p.target_off
    return ((p.target_len == n or (p.target_len > n and target[n] == c'?'))
            and memcmp(PyBytes_AS_STRING(path), target, n) == 0)


cdef bytes _own_metrics(HttpProtocol proto):
    # No metrics_source (HttpServer.serve_metrics sets one): this server's
    # counters and its reactor's.
    from cyreactor import metrics
    return metrics.render(metrics.snapshot(proto._core, proto._conn.reactor))


cdef inline int _responded(HttpProtocol proto, int status, long long body_bytes) except -1:
    # Every response ends here once it is written: the counters, the
    # duration since its head was complete, the access log. Inline: it is
    # on every request's path.
    cdef Exchange *ex = proto._ex
    # No exchange: refused before any request (503), no duration.
    _count_response(proto._core._m, status, body_bytes, ex.started if ex != NULL else 0.0)
    if ex != NULL:
        ex.started = 0.0
    if proto._core.access_log:
        _log_access(proto, status, body_bytes)
    return 0


cdef class HttpProtocol(Handler):
    """Base of the HTTP connection handlers, made by a ``ServerCore`` (the
    reactor's handler factory), never directly."""

    def __init__(self):
        raise TypeError("HTTP protocols are made by a ServerCore, not directly")

    def __dealloc__(self):
        if self._ex != NULL:
            parser_free(&self._ex.p)
            free(self._ex.stash)
            free(self._ex)

    cpdef connection_made(self, Connection conn):
        cdef ServerCore core = self._core
        if core is None or conn is None:
            raise TypeError("connection_made() needs the connection, on a protocol made by a ServerCore")
        self._conn = conn
        self._new_head = True
        if core.shutting_down or core.open_connections >= core.max_connections:
            core.refused += 1
            core._m.conn_refused[<int>(CR_SHUTTING_DOWN if core.shutting_down else CR_TOO_MANY_CONNECTIONS)] += 1
            self._send_error(503, "shutting down" if core.shutting_down else "too many connections")
            return
        core.open_connections += 1
        core._m.open = core.open_connections
        self._live_at = len(core._live)
        core._live.append(self)
        self._counted = True
        self._fresh = True
        self._set_deadline(D_HEAD, core.header_timeout)

    cpdef connection_lost(self, object exc):
        cdef ServerCore core = self._core
        if self._counted:
            self._counted = False
            core.open_connections -= 1
            core._m.open = core.open_connections
            _unlist(core, self)
        self._done = True
        if self._ex != NULL:
            _give_back_exchange(self, True)
        try:
            self._on_lost(exc)
        finally:
            self._conn = None

    cdef int buffer_received(self, const char *data, Py_ssize_t length) except -1:
        if self._done or self._conn is None:
            return 0                 # lingering close: input is discarded
        _refresh_date()
        if self._ex == NULL:
            _take_exchange(self)
        elif self._ex.stash_len:
            # Only if the reactor delivered data despite pause_reading().
            return self._stash_rest(data, length)
        self._process(data, length)
        return self._arm_deadline()

    cpdef eof_received(self):
        # Always handled here (returns True): the reactor's own close()
        # would leave a queued tail without a deadline.
        self._eof = True
        if self._conn is None:
            return False
        if self._done:
            if not self._conn.closing():
                self._close()        # lingering: the client has ended too
        elif self._blocked or self._ex != NULL and self._ex.stash_len:
            pass                     # answer what we have, then close
        elif self._ex == NULL or self._ex.p.state == S_START or self._ex.p.state == S_DONE:
            self._finish_connection(False)
        else:
            self._core._m.conn_refused[<int>CR_INCOMPLETE] += 1
            self._send_error(400, "incomplete request")
        return True

    cpdef pause_writing(self):
        self._write_paused = True
        if not self._done:
            self._blocked |= B_DRAIN
            self._arm_deadline()         # send_timeout from now

    cpdef resume_writing(self):
        self._write_paused = False
        if self._conn is None:
            return
        if self._done:
            if self._deadline == D_CLOSING:
                self._watch_closing()    # progress: the send deadline starts over
            return
        self._blocked &= ~B_DRAIN
        # The client made progress: the send deadline starts over if a
        # streamed body pauses again.
        self._arm_deadline()
        self._on_drain()
        if not self._blocked and not self._done:
            self._resume_input()

    cpdef timeout_expired(self):
        cdef Deadline kind = self._deadline
        cdef Py_ssize_t queued
        self._deadline = D_NONE
        if self._conn is None:
            return True
        if kind == D_HEAD and self._ex != NULL and parser_head_started(&self._ex.p) or kind == D_BODY:
            # Slowloris defence: the head (or the body) is too slow.
            self._timed_out(T_HEADER if kind == D_HEAD else T_BODY)
            self._send_error(408, "request timeout")
        elif kind == D_KEEPALIVE or kind == D_HEAD:
            self._timed_out(T_KEEPALIVE)
            self._close()
        elif kind == D_CLOSING or kind == D_LINGER:
            queued = self._conn.get_write_buffer_size()
            if queued and (kind == D_LINGER or queued < self._closing_queued):
                self._watch_closing()        # still sending, and moving
            elif not queued and kind == D_CLOSING:
                # Half-closed: the last bytes and the FIN just went out.
                self._set_deadline(D_LINGER, self._core.linger_timeout)
            else:
                self._timed_out(T_LINGER if kind == D_LINGER else T_SEND)
                self._conn.abort()
        else:
            self._timed_out(T_SEND)
            self._done = True
            self._conn.abort()
        return True

    cdef int _timed_out(self, TimeoutKind kind) except -1:
        self._core._m.timeouts[<int>kind] += 1
        return 0

    # ---- input --------------------------------------------------------------

    cdef int _process(self, const char *data, Py_ssize_t length) except -1:
        cdef HttpParser *p = &self._ex.p
        cdef Py_ssize_t n
        cdef int event
        while True:
            if self._blocked:
                return self._stash_rest(data, length)
            n = parser_feed(p, data, length)
            data += n
            length -= n
            self._ex.unparsed = length
            event = p.event
            if event == HP_NEED_MORE:
                return 0
            if event == HP_BODY:
                self._ex.body_received += p.body_len
                self._core._m.body_bytes_in += p.body_len
                if not self._special:
                    self._on_body(p.body, p.body_len)
            elif event == HP_HEAD:
                self._fresh = False
                self._ex.started = self._conn._reactor._now
                if self._core.access_log:
                    self._access = _access_entry(self)
                if self._core._special_paths:
                    self._special = _special_path(self._core, p)
                if not self._special:
                    self._on_head()
            elif event == HP_COMPLETE:
                self._new_head = True
                if self._special:
                    self._answer_special()
                else:
                    self._on_complete()
                if self._ex == NULL:
                    # Given back from inside the callback, the response
                    # done (resume_writing() once it drained): a request
                    # behind it takes one again.
                    _take_exchange(self)
                    p = &self._ex.p
            else:
                self._core._m.refused[<int>p.refusal] += 1
                self._send_error(refusal_status(p.refusal), refusal_reason(p.refusal).decode("ascii"))
                return 0
            if self._done:
                return 0

    cdef int _stash_rest(self, const char *data, Py_ssize_t length) except -1:
        cdef char *buf
        cdef Py_ssize_t live = self._ex.stash_len
        if length <= 0 or self._done:
            return 0
        buf = <char *>malloc(live + length)
        if buf == NULL:
            raise MemoryError()
        if live:
            memcpy(buf, self._ex.stash + self._ex.stash_off, live)
        memcpy(buf + live, data, length)
        free(self._ex.stash)
        self._ex.stash = buf
        self._ex.stash_off = 0
        self._ex.stash_len = live + length
        self._conn.pause_reading()
        return 0

    cdef int _resume_input(self) except -1:
        cdef char *buf
        cdef Py_ssize_t off, n
        while self._ex != NULL and self._ex.stash_len and not self._blocked and not self._done:
            buf = self._ex.stash
            off = self._ex.stash_off
            n = self._ex.stash_len
            self._ex.stash = NULL
            self._ex.stash_off = 0
            self._ex.stash_len = 0
            try:
                self._process(buf + off, n)
            finally:
                free(buf)
        if self._ex != NULL and self._ex.p.state == S_COMPLETE and not self._done and not self._blocked:
            # Held back right after a body's last byte: the request's end
            # is still to be reported, and no more input may ever come.
            self._process(NULL, 0)
        if self._done or self._blocked:
            return 0
        if self._eof:
            if self._ex == NULL or self._ex.p.state == S_START or self._ex.p.state == S_DONE:
                self._finish_connection(False)
            else:
                self._send_error(400, "incomplete request")
            return 0
        self._conn.resume_reading()
        return self._arm_deadline()

    # ---- deadlines ----------------------------------------------------------
    #
    # A connection never waits without a deadline, except on the app. What
    # the one deadline measures, by state (re-armed after every read):
    #   between requests, nothing of the next  D_KEEPALIVE  keepalive_timeout; close
    #   a request begun (blank lines count)     D_HEAD       header_timeout from its
    #                                                        first byte, not extended; 408
    #   inside a body                           D_BODY       body_timeout of silence;
    #                                                        and past the first
    #                                                        body_timeout, under
    #                                                        min_body_rate on average; 408
    #   input held back, writes above high water  D_SEND     send_timeout from the last
    #                                                        drain progress; abort
    #   input held back for a streamed response  none: the app paces it (long polls,
    #                                            server-sent events); D_SEND as soon
    #                                            as the client stops keeping up
    #   half-closed after the last response     D_LINGER     linger_timeout; abort, or
    #                                                        D_CLOSING if data is queued
    #   closing with data queued                D_CLOSING    send_timeout from the last
    #                                                        drain progress; abort
    # Every graceful close goes through _close(), which keeps the last one.

    cdef int _set_deadline(self, Deadline kind, double seconds) except -1:
        self._deadline = kind
        self._conn.set_timeout(seconds)
        return 0

    cdef int _arm_deadline(self) except -1:
        cdef ServerCore core = self._core
        cdef Exchange *ex = self._ex
        cdef double now, late
        if self._done or self._conn is None:
            return 0
        if self._blocked & B_DRAIN:
            if self._deadline != D_SEND:
                self._set_deadline(D_SEND, core.send_timeout)
        elif self._blocked:
            if self._deadline != D_NONE:
                self._set_deadline(D_NONE, 0.0)
        elif ex == NULL or ex.p.state == S_START or ex.p.state == S_DONE or ex.p.state == S_HEAD:
            if ex == NULL or not parser_head_started(&ex.p):
                self._set_deadline(D_KEEPALIVE, core.keepalive_timeout)
                if ex != NULL and not ex.started and not ex.stash_len:
                    _give_back_exchange(self, False)
            elif self._deadline != D_HEAD or self._new_head:
                self._set_deadline(D_HEAD, core.header_timeout)
        else:
            now = _monotonic()
            if self._deadline != D_BODY or self._new_head:
                # A new rate window: a new body, or reading again after the
                # input was held back (that wait is not the client's).
                ex.body_start = now
                ex.body_received = 0
            elif core.min_body_rate > 0:
                # Apache mod_reqtimeout's MinRate: after the first
                # body_timeout, each min_body_rate bytes buy one more
                # second. A piece arriving now and then no longer holds a
                # connection for the whole body limit.
                late = now - ex.body_start - core.body_timeout
                if late > 0 and ex.body_received < core.min_body_rate * late:
                    self._timed_out(T_BODY_RATE)
                    return self._send_error(408, "request body too slow")
            self._set_deadline(D_BODY, core.body_timeout)
        self._new_head = False
        return 0

    cdef int _watch_closing(self) except -1:
        # Closing with data queued: send_timeout from now, and the queue's
        # size to tell progress from a stall when it passes.
        self._closing_queued = self._conn.get_write_buffer_size()
        return self._set_deadline(D_CLOSING, self._core.send_timeout)

    # ---- ending -------------------------------------------------------------

    cdef int _close(self) except -1:
        # The one graceful close: after what is queued has been sent, with a
        # send deadline while anything is (a client that never reads must
        # not keep the descriptor, its slot and kernel buffers for ever).
        self._done = True
        self._blocked = B_NONE
        self._conn.close()
        if self._conn.get_write_buffer_size():
            return self._watch_closing()
        return 0

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
        linger = (linger or self._ex == NULL
                  or self._ex.unparsed > 0 or self._ex.stash_len > 0 or self._ex.p.keep_alive)
        self._done = True
        self._blocked = B_NONE
        if self._ex != NULL:
            free(self._ex.stash)
            self._ex.stash = NULL
            self._ex.stash_len = 0
        if self._eof or not linger:
            return self._close()
        self._conn.write_eof()
        self._conn.resume_reading()
        return self._set_deadline(D_LINGER, self._core.linger_timeout)

    cdef int _send_error(self, int status, str reason) except -1:
        if self._done or self._conn is None:
            return 0
        cdef bytes response = _error_response(status, reason)
        self._core.errors += 1
        self._conn.write_object(response)
        # Its body is what follows the head's blank line.
        _responded(self, status, PyBytes_GET_SIZE(response) - response.find(b"\r\n\r\n") - 4)
        return self._finish_connection(True)

    cdef tuple _client_scheme(self, object headers):
        return _resolve_client(self._core, self._conn, headers)

    cdef int _answer_special(self) except -1:
        # The health and metrics paths, answered by the server itself for
        # every kind of app (RFC 9110 9.3.2: HEAD gets the head alone).
        cdef ServerCore core = self._core
        cdef HttpParser *p = &self._ex.p
        cdef Framing f
        cdef int special = self._special
        self._special = 0
        if special == SPECIAL_HEALTH:
            f.status = 503 if core.draining else 200
            body = b"draining\n" if core.draining else b"ok\n"
            ctype = b"text/plain; charset=utf-8"
        else:
            f.status = 200
            body = core.metrics_source() if core.metrics_source is not None else _own_metrics(self)
            ctype = b"text/plain; version=0.0.4; charset=utf-8"
        f.length = PyBytes_GET_SIZE(body)
        f.http10 = p.version_minor == 0
        f.keep_alive = p.keep_alive and not core.shutting_down
        _send_head(self._conn, &f, None, ((b"content-type", ctype), (b"cache-control", b"no-store")))
        if p.method != M_HEAD:
            self._conn.write_object(body)
        _responded(self, f.status, f.length if p.method != M_HEAD else 0)
        if not f.keep_alive:
            self._finish_connection(False)
        return 0

    cdef object tls_refusal(self, object exc):
        # Plain HTTP sent to the TLS port gets a 400 in the clear before the
        # close, as nginx answers it.
        if getattr(exc, "reason", None) == "HTTP_REQUEST":
            return _error_response(400, "plain HTTP request sent to the HTTPS port")
        return None

    cdef bint _idle(self) noexcept:
        return not self._blocked and (self._ex == NULL or (
            (self._ex.p.state == S_START or self._ex.p.state == S_DONE) and not self._ex.stash_len))

    cdef int _shutdown(self) except -1:
        if self._done or self._conn is None:
            return 0
        # Idle between requests: closed now. A connection just accepted is
        # not idle: its client is sending a request it would not retry (a
        # browser retries only on a connection that served one already), so
        # that one is answered, with connection: close.
        if self._idle() and not self._fresh:
            self._close()
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
