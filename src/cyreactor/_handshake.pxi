# The stage before connection_made(): what an accepted connection goes
# through first when its listener asks for it -- a PROXY protocol header
# (HAProxy's proxy-protocol.txt), then a TLS handshake -- and an outbound
# connection's TLS handshake (connect(ssl=...)).
#
# While it lasts the connection reads for itself (_handshaking: whatever the
# handler asked), within one deadline, ``handshake_timeout``. Whatever ends
# it early -- a refused header, a failed handshake, EOF, a reset, the
# deadline -- is logged at debug level, counted (stats()
# "handshake_failures") and closes the connection. An accepted connection
# closes quietly: its handler never saw it (no connection_made(), no
# connection_lost()). An outbound connection, or one upgraded by
# start_tls(), is lost with the exception, as a failed connect is.
#
# The PROXY header comes first on the wire (before a TLS ClientHello): the
# bytes after it in the same read go to the TLS engine, or to the handler.
# The client address it names is the connection's peername from then on
# (v2 LOCAL and v1 UNKNOWN keep the real peer).

cdef double DEFAULT_HANDSHAKE_TIMEOUT = 10.0
# asyncio's (asyncio.constants.SSL_SHUTDOWN_TIMEOUT).
cdef double DEFAULT_SSL_SHUTDOWN_TIMEOUT = 30.0


cdef double _positive_delay(object value, double default, str what) except? -1.0:
    cdef double d
    if value is None:
        return default
    d = _checked_delay(value, what)
    if not d > 0.0 or isinf(d):
        raise ValueError(f"{what} must be > 0 and finite, not {value!r}")
    return d


cdef tuple _stage_settings(object sslcontext, bint proxy_protocol, object handshake_timeout,
                           object ssl_shutdown_timeout):
    """A listener's checked (sslcontext, proxy_protocol, handshake_timeout,
    ssl_shutdown_timeout); the context is tried once, so a wrong one fails
    here rather than on every connection."""
    if sslcontext is not None:
        _new_engine(sslcontext, True, None)
    elif ssl_shutdown_timeout is not None:
        raise ValueError("ssl_shutdown_timeout is only meaningful with ssl")
    if handshake_timeout is not None and sslcontext is None and not proxy_protocol:
        raise ValueError("handshake_timeout is only meaningful with ssl or proxy_protocol")
    return (sslcontext, proxy_protocol,
            _positive_delay(handshake_timeout, DEFAULT_HANDSHAKE_TIMEOUT, "handshake_timeout"),
            _positive_delay(ssl_shutdown_timeout, DEFAULT_SSL_SHUTDOWN_TIMEOUT, "ssl_shutdown_timeout"))


cdef int _accept_handshake(Connection conn, Listener listener) except -1:
    if listener._proxy_protocol:
        x = conn._extras()
        x._proxy = <ProxyParser *>malloc(sizeof(ProxyParser))
        if x._proxy == NULL:
            raise MemoryError()
        proxy_init(x._proxy, PP_DEFAULT_MAX_V2_SIZE)
    if listener._sslcontext is not None:
        _tls_attach(conn, _new_engine(listener._sslcontext, True, None), listener._ssl_shutdown_timeout)
    conn._handshaking = True
    return _arm_deadline(conn, listener._handshake_timeout)


cdef int _filtered_readable(Connection conn) except -1:
    # One recv, as for plaintext, then the PROXY header's parser and the TLS
    # engine take what is theirs.
    cdef Reactor reactor = conn._reactor
    cdef const char *data = reactor._rbuf
    cdef Py_ssize_t n, used
    cdef int err
    if conn._tls is not None and conn._tls.pending():
        # Input stashed while reading was paused comes before new input
        # (and before an EOF this read could report).
        _tls_input(conn, NULL, 0)
        if conn._closed or not (conn._reading or conn._handshaking):
            return 0
    n = _recv(conn._fd, reactor._rbuf, reactor._rbuf_size)
    if n < 0:
        err = errno
        if err == EAGAIN:
            return 0
        if conn._handshaking:
            return _handshake_failed(conn, _os_error(err))
        return conn._fail(_os_error(err))
    if n == 0:
        if conn._handshaking:
            # asyncio's SSL protocol reports a ConnectionResetError too.
            return _handshake_failed(conn, ConnectionResetError(
                "the peer closed the connection during the " + _stage_name(conn)))
        return _tls_eof(conn)
    reactor._st_bytes_in += <uint64_t>n
    if conn._x._proxy != NULL:
        used = _proxy_input(conn, data, n)
        if used < 0:
            return 0
        data += used
        n -= used
        if conn._tls is None:
            _stage_done(conn)
            if n and not conn._closed:
                used = conn._deliver_copy(data, n)
                if used < n and not conn._closing:
                    conn._x._held = PyBytes_FromStringAndSize(data + used, n - used)
            return 0
        if n == 0:
            return 0
    return _tls_input(conn, data, n)


cdef Py_ssize_t _proxy_input(Connection conn, const char *data, Py_ssize_t n) except -2:
    """How many of the bytes were the PROXY header's; -1 while it is
    incomplete, or once it is refused (and the connection closed)."""
    cdef ProxyParser *p = conn._x._proxy
    cdef Py_ssize_t used = proxy_feed(p, data, n)
    if p.event == PP_NEED_MORE:
        return -1
    if p.event == PP_ERROR:
        _handshake_failed(conn, proxy_error(p))
        return -1
    if p.family == _posix.AF_INET or p.family == _posix.AF_INET6:
        conn._peer_addr = p.src
        conn._x._peername = None
    elif p.family == _posix.AF_UNIX:
        conn._x._peername = proxy_address(p, True)
    _proxy_release(conn._x)
    return used


cdef int _proxy_release(_ConnExtras x) noexcept:
    if x._proxy != NULL:
        proxy_free(x._proxy)
        free(x._proxy)
        x._proxy = NULL
    return 0


cdef str _stage_name(Connection conn):
    return "PROXY protocol header" if conn._x is not None and conn._x._proxy != NULL else "TLS handshake"


cdef int _stage_done(Connection conn) except -1:
    conn._handshaking = False
    _disarm_deadline(conn)
    conn._update_interest()          # reading as the handler asked again
    if not conn._made:
        conn._call_connection_made()
    return 0


cdef int _handshake_expired(Connection conn) except -1:
    # asyncio's SSL protocol: ConnectionAbortedError.
    return _handshake_failed(conn, ConnectionAbortedError(
        f"the {_stage_name(conn)} did not complete within the handshake timeout: "
        f"aborting the connection"))


cdef int _handshake_failed(Connection conn, object exc) except -1:
    cdef Reactor reactor = conn._reactor
    reactor._st_handshake_failures += 1
    if _logger.isEnabledFor(logging.DEBUG):
        _logger.debug("%s: %s from %r failed: %s", conn, _stage_name(conn), conn.peername, exc)
    if conn._made or not conn._accepted:
        return conn._fail(exc)
    # The handler never saw this connection: it hears nothing of its end.
    conn.handler = None
    conn._closing = True
    return conn._teardown(None)
