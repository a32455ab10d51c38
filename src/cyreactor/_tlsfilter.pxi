# TLS on a connection: the engine (_tls.pxd, whose contract this follows) as
# the filter between the socket and the handler.
#
# Read: one recv() per wake-up, as for plaintext. The engine decrypts into
# the reactor's plaintext buffer (for a handler with get_buffer(), straight
# into the handler's buffer) and the handler gets it through the same
# methods, corked. When the handler pauses reading, the rest of the window
# is stashed in the engine and delivered once it resumes (Reactor._resumed).
# Write: plaintext goes to the cork (a batch of pipelined responses becomes
# full records), otherwise straight to the engine; its records reach
# _tls_sink, i.e. Connection._raw_write(): send() now, the unsent tail
# queued, EPOLLOUT only while queued, as for plaintext. Flow control counts
# ciphertext; pause_writing() is called once the engine call returns, never
# from inside it. Plaintext is held (_ConnExtras._tls_pending) and encrypted
# later, before anything else: written before the handshake completes
# (connect(), start_tls()), until it does; small writes made outside the
# connection's own read event (a timer, a task, another connection's
# handler), until the end of the loop iteration, as _cork.pxi defers
# plaintext writes: then one engine call makes them full records and one
# send.
# Close: close_notify once everything written is encrypted (RFC 8446 6.1);
# then, unless the peer's close_notify or EOF came already, half-close
# (shutdown(SHUT_WR)) and read, discarding, until it comes, for at most
# ssl_shutdown_timeout: the connection is then lost with TimeoutError, as
# asyncio's SSL transport reports it. write_eof() is close_notify and
# SHUT_WR (TLS 1.3's half-close); reading goes on.
# As asyncio's SSL transport behaves: EOF without close_notify is a plain
# EOF (eof_received(), logged at debug level), writes after close() are
# dropped (close_notify is out), close() during the handshake aborts, and
# errors on an established connection are logged at debug level and lose it
# with the ssl.SSLError.

cdef object _MISSING = object()


cdef TLSEngine _new_engine(object sslcontext, bint server_side, object server_hostname):
    if not isinstance(sslcontext, _sslmod.SSLContext):
        raise TypeError(f"ssl must be an ssl.SSLContext, not {type(sslcontext).__name__}")
    return TLSEngine.new(sslcontext, server_side, server_hostname)


cdef int _tls_sink(void *ctx, const char *data, Py_ssize_t length) except -1:
    # The engine's records: the connection is alive while its engine is.
    return (<Connection>ctx)._raw_write(data, length, None)


cdef int _tls_attach(Connection conn, TLSEngine engine, double shutdown_timeout) except -1:
    engine.set_sink(_tls_sink, <void *>conn)
    conn._tls = engine
    conn._extras()._tls_shutdown_timeout = shutdown_timeout
    return 0


cdef char *_plain_buffer(Reactor reactor) except NULL:
    if reactor._plain == NULL:
        reactor._plain = <char *>malloc(reactor._rbuf_size)
        if reactor._plain == NULL:
            raise MemoryError()
    return reactor._plain


cdef int _tls_start(Connection conn, TLSEngine engine, double handshake_timeout,
                    double shutdown_timeout) except -1:
    """The handshake of an outbound connection (its TCP connect is done)
    or of start_tls(): the client's first flight goes out now."""
    _tls_attach(conn, engine, shutdown_timeout)
    conn._handshaking = True
    _arm_deadline(conn, handshake_timeout)
    conn._update_interest()
    try:
        engine.start()
    except _sslmod.SSLError as exc:
        return _tls_failed(conn, exc)
    return 0


cdef int _tls_input(Connection conn, const char *data, Py_ssize_t length) except -1:
    """Feeds ``length`` bytes of ciphertext (none: what was stashed) to the
    engine and hands the handler what it decrypts, until the engine wants
    more, the handler pauses (the rest is stashed) or the connection
    closes."""
    cdef Reactor reactor = conn._reactor
    cdef TLSEngine engine = conn._tls
    cdef Py_ssize_t r
    cdef char *plain
    try:
        while not conn._tls_ready:
            if engine.read(&data, &length, NULL, 0) != TLS_HANDSHAKE_DONE:
                return 0             # TLS_WANT_READ
            _tls_established(conn)
            if conn._closed:
                return 0
        plain = _plain_buffer(reactor)
        while not conn._closed:
            if conn._closing:
                # Waiting for the peer's close_notify: input is dropped.
                r = engine.read(&data, &length, plain, reactor._rbuf_size)
            elif not conn._reading:
                return engine.stash(data, length)
            elif conn.handler._buffered:
                r = _tls_read_into_handler(conn, &data, &length)
            else:
                r = engine.read(&data, &length, plain, reactor._rbuf_size)
                if r > 0:
                    conn._deliver(plain, r, None)
                    if length == 0 and engine.wants_input():
                        return 0     # the read that would say TLS_WANT_READ is skipped
            if r == TLS_CLOSED:
                return _tls_peer_closed(conn)
            if r == TLS_WANT_READ:
                return 0
    except _sslmod.SSLError as exc:
        return _tls_failed(conn, exc)
    return 0


cdef Py_ssize_t _tls_read_into_handler(Connection conn, const char **data, Py_ssize_t *length) except -1:
    # asyncio.BufferedProtocol: decrypted straight into the handler's buffer.
    cdef Py_buffer view
    cdef Py_ssize_t r
    if not _handler_buffer(conn, &view):
        return TLS_WANT_READ         # the connection is lost or closed
    try:
        r = conn._tls.read(data, length, <char *>view.buf, view.len)
    finally:
        PyBuffer_Release(&view)
    if r > 0:
        _buffer_updated(conn, r)
    return r


cdef int _tls_established(Connection conn) except -1:
    conn._tls_ready = True
    conn._reactor._st_tls_handshakes += 1
    # What was written before the handshake ended goes first.
    _tls_encrypt_pending(conn)
    if conn._closed:
        return 0
    if conn._eof_sent:
        _tls_close_notify(conn)
        if conn._closed:
            return 0
        conn._after_write()
    return _stage_done(conn)


cdef int _tls_write(Connection conn, const char *data, Py_ssize_t length, object owner) except -1:
    cdef Reactor reactor = conn._reactor
    if conn._closing:
        return 0                     # close_notify is out
    if reactor._cork_conn is conn:
        # Unlike plaintext, corking does not need an empty queue: all
        # plaintext is encrypted in order (what is held first), and all
        # records are sent in order.
        if _cork_add(reactor, data, length):
            return 0
        _cork_flush(reactor)
        if conn._closed:
            return 0
    elif not conn._tls_ready or conn._x._tls_pending is not None or _may_defer(reactor, conn, length):
        if conn._x._tls_pending is None:
            conn._x._tls_pending = []
        conn._x._tls_pending.append(owner if owner is not None else PyBytes_FromStringAndSize(data, length))
        if conn._tls_ready:
            _defer(reactor, conn)
        return 0
    return _tls_encrypt(conn, data, length)


cdef int _tls_encrypt(Connection conn, const char *data, Py_ssize_t length) except -1:
    cdef TLSEngine engine = conn._tls
    if conn._x._tls_pending is not None:
        _tls_encrypt_pending(conn)
        if conn._closed:
            return 0
    try:
        engine.write(data, length)
    except _sslmod.SSLError as exc:
        return _tls_failed(conn, exc)
    return conn._maybe_pause_writing()


cdef int _tls_encrypt_pending(Connection conn) except -1:
    pending = conn._x._tls_pending
    if pending is None or not conn._tls_ready:
        return 0
    conn._x._tls_pending = None
    data = pending[0] if len(pending) == 1 else b"".join(pending)
    return _tls_encrypt(conn, PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data))


cdef int _tls_close_notify(Connection conn) except -1:
    cdef TLSEngine engine = conn._tls
    _tls_encrypt_pending(conn)
    if conn._closed:
        return 0
    try:
        if engine.shutdown():
            conn._tls_peer_closed = True
    except _sslmod.SSLError as exc:
        return _tls_failed(conn, exc)
    return 0


cdef int _tls_await_close_notify(Connection conn) except -1:
    # close(): our close_notify is sent, the peer's has not come.
    if conn._tls_closing:
        return 0
    conn._tls_closing = True
    conn._shutdown_write()
    conn._reading = True
    conn._update_interest()
    return _arm_deadline(conn, conn._x._tls_shutdown_timeout)


cdef int _tls_peer_closed(Connection conn) except -1:
    # The peer's close_notify (RFC 8446 6.1): it sends nothing more.
    conn._tls_peer_closed = True
    if conn._tls_closing:
        return conn._teardown(None)
    if conn._closing:
        return 0                     # close() ends once the queue is sent
    return conn._on_eof()


cdef int _tls_eof(Connection conn) except -1:
    if conn._closing:
        return conn._teardown(None)
    if not conn._tls_peer_closed and _logger.isEnabledFor(logging.DEBUG):
        _logger.debug("%s: EOF without close_notify from %r (reported as EOF, as asyncio does)",
                      conn, conn.peername)
    conn._tls_peer_closed = True
    return conn._on_eof()


cdef int _tls_failed(Connection conn, object exc) except -1:
    cdef Handler handler = conn.handler
    if conn._handshaking:
        if conn._accepted and not conn._made and handler is not None:
            try:
                reply = handler.tls_refusal(exc)
            except BaseException as err:
                reply = None
                conn._reactor._callback_error(err, "Exception in tls_refusal()", None)
            if isinstance(reply, bytes):
                # Best effort, in the clear, once: the connection closes now.
                _posix.send(conn._fd, PyBytes_AS_STRING(reply), PyBytes_GET_SIZE(reply),
                            _posix.MSG_NOSIGNAL)
        return _handshake_failed(conn, exc)
    if _logger.isEnabledFor(logging.DEBUG):
        _logger.debug("%s: TLS error: %s", conn, exc)
    return conn._fail(exc)


cdef object _tls_extra_info(Connection conn, str name):
    """The TLS key's value, or _MISSING (not a TLS key, or not yet known)."""
    cdef TLSEngine engine = conn._tls
    if name == "tls_version" or name == "alpn_protocol":
        if not conn._tls_ready:
            return _MISSING
        sslobj = engine.get_extra_info("ssl_object")
        return sslobj.version() if name == "tls_version" else sslobj.selected_alpn_protocol()
    return engine.get_extra_info(name, _MISSING)
