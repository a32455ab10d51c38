# Connection: one stream socket (TCP or Unix) and its handler.
#
# Read path: one recv per wake-up into the reactor's shared read buffer,
# handed to Handler.buffer_received() while the connection is corked
# (_cork.pxi); or, for a handler that overrides get_buffer(), straight into
# the handler's own buffer (_read_into_handler).
# Write path: _write() (the cork, else send() at once, else queue the unsent
# tail) -> _queue() -> _flush_queue() (sendmsg over up to SEND_IOV buffers
# when the socket is writable). EPOLLOUT is in the interest mask only while
# something is queued.
#
# The seam: a connection with a PROXY protocol header still to come, or with
# TLS, reads through _filtered_readable() (_handshake.pxi), and TLS
# plaintext is written through the engine to _raw_write() (_tlsfilter.pxi);
# the plaintext path above costs one pointer test for it.


@cython.final
cdef class _ConnExtras:

    def __cinit__(self):
        self._high_water = DEFAULT_HIGH_WATER
        self._low_water = DEFAULT_HIGH_WATER // 4

    def __dealloc__(self):
        _proxy_release(self)


cdef inline Py_ssize_t _high_water(Connection conn) noexcept:
    return DEFAULT_HIGH_WATER if conn._x is None else conn._x._high_water


cdef inline Py_ssize_t _low_water(Connection conn) noexcept:
    return DEFAULT_HIGH_WATER // 4 if conn._x is None else conn._x._low_water


@cython.final
cdef class Connection(EventSource):
    """One stream connection: TCP (IPv4/IPv6) or Unix.

    Created by the reactor; handed to ``Handler.connection_made()``.
    """

    def __cinit__(self, *args):
        self._reading = True

    # ---- the public surface ---------------------------------------------

    @property
    def reactor(self):
        """The reactor this connection belongs to."""
        return self._reactor

    @property
    def peername(self):
        """The remote address, as the socket module gives it."""
        # Made on each read from the accepted address: kept, it would cost
        # every idle connection a tuple and its _ConnExtras.
        if self._x is not None and self._x._peername is not None:
            return self._x._peername
        address = sockaddr_to_address(&self._peer_addr)
        if address is None and self._fd >= 0:
            address = self._extras()._peername = _sockinfo(self._fd, True)
        return address

    @property
    def sockname(self):
        """The local address, as the socket module gives it."""
        if (self._x is None or self._x._sockname is None) and self._fd >= 0:
            self._extras()._sockname = _sockinfo(self._fd, False)
        return self._x._sockname if self._x is not None else None

    def write(self, data):
        """Sends ``data`` (bytes-like) now as far as the socket takes it and
        queues the rest; never blocks. After close(), data written before the
        connection is actually closed still goes out first, as in asyncio;
        once it is closed (or aborted, or lost), writes are ignored."""
        self.write_object(data)

    def writelines(self, lines):
        """Writes every bytes-like object of ``lines``, in one ``sendmsg``
        where the socket takes them at once. Every item is checked before
        any is queued."""
        cdef Py_ssize_t queued = self._wq_size
        items = [_as_bytes(data) for data in lines]
        if self._closed:
            return
        if self._eof_sent:
            raise RuntimeError("write after write_eof()")
        if self._tls is not None:
            # One engine call: the items become full records and one send.
            data = b"".join(items)
            self._write(PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data), data)
            return
        _cork_release(self._reactor, self)
        if self._closed:
            return
        for data in items:
            if PyBytes_GET_SIZE(data):
                self._queue(data, 0)
        if queued == 0 and self._wq_size and not self._connecting:
            self._flush_queue()

    def sendfile(self, file, offset=0, count=None, done=None):
        """Queues ``count`` bytes of ``file`` (a file object or descriptor
        of a regular file; default: up to its end) from ``offset``, sent
        with sendfile(2) in order with the writes around it, never copied
        through Python. ``done(sent, exc)`` is called when the region is
        sent (``exc`` None; ``sent`` is short if the file ended early) or
        the connection is lost first (``exc`` set). Keep the file open
        until then."""
        cdef _FileRegion region
        cdef Py_ssize_t queued = self._wq_size
        cdef int fd = _fileobj_to_fd(file)
        if offset < 0:
            raise ValueError(f"offset must be >= 0, not {offset}")
        if count is None:
            count = max(os.fstat(fd).st_size - offset, 0)
        elif count < 0:
            raise ValueError(f"count must be >= 0, not {count}")
        if done is not None and not callable(done):
            raise TypeError(f"done must be callable or None, not {done!r}")
        if self._tls is not None:
            raise RuntimeError("sendfile() is not available on a TLS connection: the file "
                               "must be encrypted, so write its contents instead")
        if self._closing:
            raise RuntimeError("the connection is closing")
        if self._eof_sent:
            raise RuntimeError("sendfile after write_eof()")
        region = _FileRegion.__new__(_FileRegion)
        region._file = file
        region._fd = fd
        region._offset = offset
        region._remaining = count
        region._done = done
        if count == 0:
            return self._region_done(region, None)
        _cork_release(self._reactor, self)
        if self._closing:
            return self._region_done(region, ConnectionAbortedError("the connection was closed"))
        self._queue(region, 0)
        if queued == 0 and not self._connecting:
            self._flush_queue()

    def can_write_eof(self):
        return True

    def is_closing(self):
        """True once close() or abort() was called or the connection was lost."""
        return self._closing

    def is_reading(self):
        return self._reading and not self._closing

    def get_write_buffer_size(self):
        """Bytes accepted by write() and not yet taken by the kernel (for
        TLS: ciphertext, and plaintext not yet encrypted)."""
        cdef Py_ssize_t pending = 0
        if self._x is not None and self._x._tls_pending is not None:
            pending = sum([PyBytes_GET_SIZE(data) for data in self._x._tls_pending])
        return self._wq_size + _cork_pending(self._reactor, self) + pending

    def get_write_buffer_limits(self):
        return (_low_water(self), _high_water(self))

    def set_write_buffer_limits(self, high=None, low=None):
        """Sets the flow-control marks (default 64 KiB high, a quarter low)."""
        if high is None:
            high = DEFAULT_HIGH_WATER if low is None else 4 * low
        if low is None:
            low = high // 4
        if not 0 <= low <= high:
            raise ValueError(f"high ({high!r}) must be >= low ({low!r}) must be >= 0")
        x = self._extras()
        x._high_water = high
        x._low_water = low
        self._maybe_pause_writing()
        self._after_write()

    def get_extra_info(self, name, default=None):
        """asyncio's keys: 'peername' (the client a PROXY protocol header
        names, if any), 'sockname', 'socket' (a socket the connection keeps
        owning: do not close it); with TLS also 'sslcontext', 'ssl_object',
        'peercert', 'cipher', 'compression', and 'tls_version' and
        'alpn_protocol' (the ssl_object's version() and
        selected_alpn_protocol()); ``default`` otherwise."""
        if self._tls is not None:
            value = _tls_extra_info(self, name)
            if value is not _MISSING:
                return value
        if name == "peername":
            return self.peername
        if name == "sockname":
            return self.sockname
        if name == "socket":
            if (self._x is None or self._x._transport_socket is None) and self._fd >= 0:
                from asyncio.trsock import TransportSocket
                self._extras()._transport_socket = TransportSocket(_socket.socket(fileno=self._fd))
            if self._x is None or self._x._transport_socket is None:
                return default
            return self._x._transport_socket
        return default

    def start_tls(self, sslcontext, *, server_side=False, server_hostname=None, handshake_timeout=None,
                  ssl_shutdown_timeout=None, initial_data=b""):
        """Upgrades this established connection to TLS (STARTTLS):
        ``sslcontext`` (an ssl.SSLContext) as asyncio's ``loop.start_tls()``
        takes it. What was written before goes out in the clear first;
        writes made from now on are encrypted (held until the handshake
        completes). ``initial_data``: bytes already received that belong
        to the TLS stream (a client's first flight that arrived with the
        STARTTLS command). The handshake must complete within
        ``handshake_timeout`` seconds (default 10; this replaces the
        connection's deadline) or the connection is lost with
        ``ConnectionAbortedError``; a failed handshake loses it with the
        ssl.SSLError. The handler keeps receiving plaintext through the same
        methods; connection_made() is not called again."""
        cdef double timeout = _positive_delay(handshake_timeout, DEFAULT_HANDSHAKE_TIMEOUT, "handshake_timeout")
        cdef double shutdown = _positive_delay(ssl_shutdown_timeout, DEFAULT_SSL_SHUTDOWN_TIMEOUT,
                                               "ssl_shutdown_timeout")
        initial = _as_bytes(initial_data)
        if self._tls is not None:
            raise RuntimeError("the connection already uses TLS")
        if not self._made or self._connecting:
            raise RuntimeError("start_tls() needs an established connection")
        if self._closing or self._eof_sent or self._eof_received:
            raise RuntimeError("the connection is closing")
        engine = _new_engine(sslcontext, server_side, server_hostname)
        _cork_release(self._reactor, self)
        if self._closing:
            return
        _tls_start(self, engine, timeout, shutdown)
        if PyBytes_GET_SIZE(initial) and not self._closed:
            _tls_input(self, PyBytes_AS_STRING(initial), PyBytes_GET_SIZE(initial))

    def __repr__(self):
        state = "closed" if self._closed else ("closing" if self._closing else "open")
        tls = " tls" if self._tls is not None else ""
        return f"<Connection fd={self._fd}{tls} {state}>"

    # ---- C-level API ------------------------------------------------------

    cdef bint closing(self) noexcept:
        return self._closing

    cdef int write_buffer(self, const char *data, Py_ssize_t length) except -1:
        return self._write(data, length, None)

    cdef int write_object(self, object data) except -1:
        cdef Py_buffer view
        if type(data) is bytes:
            return self._write(PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data), data)
        if isinstance(data, str):
            raise TypeError("data must be a bytes-like object, not str")
        # Another buffer (bytearray, memoryview, array...): written from its
        # memory; only what is not sent at once is copied, since the caller
        # may change its buffer after write() returns.
        try:
            PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
        except BufferError:
            data = _as_bytes(data)               # not contiguous: a copy
            return self._write(PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data), data)
        except TypeError:
            raise TypeError(f"data must be a bytes-like object, not {type(data).__name__}") from None
        try:
            return self._write(<const char *>view.buf, view.len, None)
        finally:
            PyBuffer_Release(&view)

    cpdef set_timeout(self, double seconds):
        """Arms this connection's deadline ``seconds`` from now, replacing
        any earlier one; 0 (or infinity) disarms it. A one-shot deadline: reads and
        writes do not re-arm it. When it passes, ``Handler.timeout_expired()``
        is called (on a connection still connecting, the connect fails with
        ``TimeoutError`` instead). O(1), however many connections."""
        if isnan(seconds):
            raise ValueError("timeout must be a number, not NaN")
        if self._closed or seconds <= 0.0 or isinf(seconds):
            _disarm_deadline(self)
        else:
            _arm_deadline(self, seconds)

    cpdef close(self):
        """Closes after everything written so far has been sent (with TLS:
        then close_notify, and the peer's awaited for at most
        ssl_shutdown_timeout)."""
        if self._closing:
            return
        _cork_release(self._reactor, self)
        if self._closing:
            return
        self._closing = True
        self._reading = False
        if self._tls is not None:
            if not self._tls_ready:
                # As asyncio's SSL transport: a handshake in progress is
                # aborted, and what was written for after it is dropped.
                return self._teardown(None)
            _tls_close_notify(self)
            if self._closed:
                return
        if self._wq_size == 0:
            self._drained_closing()
        else:
            self._update_interest()

    cpdef abort(self):
        """Closes now, dropping anything not yet sent."""
        if self._closed:
            return
        self._closing = True
        self._teardown(None)

    cpdef write_eof(self):
        """Half-closes: shuts the sending side once the queue is sent."""
        if self._closing or self._eof_sent:
            return
        _cork_release(self._reactor, self)
        if self._closing:
            return
        self._eof_sent = True
        if self._tls is not None and self._tls_ready:
            # TLS half-close (RFC 8446 6.1): close_notify, then the FIN.
            _tls_close_notify(self)
            if self._closed:
                return
        if self._wq_size == 0 and not self._connecting and (self._tls is None or self._tls_ready):
            self._shutdown_write()
        else:
            self._eof_pending = True

    cpdef pause_reading(self):
        """Stops reading until resume_reading()."""
        if self._closing or not self._reading:
            return
        self._reading = False
        self._reactor._st_read_paused += 1
        self._update_interest()

    cpdef resume_reading(self):
        """Resumes reading after pause_reading()."""
        if self._closing or self._reading or self._eof_received:
            return
        self._reading = True
        self._update_interest()
        if (self._x is not None and self._x._held is not None) or (self._tls is not None and self._tls.pending()):
            # Input held back while paused: no epoll event will announce
            # it. Delivered after this dispatch, never inside another one.
            self._reactor._resumed.append(self)

    # ---- events -------------------------------------------------------------

    cdef _ConnExtras _extras(self):
        if self._x is None:
            self._x = _ConnExtras.__new__(_ConnExtras)
        return self._x

    cdef int _start(self, Handler handler) except -1:
        self.handler = handler
        if not handler._buffered and _receives_into_own_buffer(handler):
            handler._buffered = True
        if not handler._takes_bytes and _buffer_received_is_the_default(handler):
            handler._takes_bytes = True
        self._update_interest()
        if not self._connecting and not self._handshaking:
            self._call_connection_made()
        return 0

    cdef int _call_connection_made(self) except -1:
        self._made = True
        try:
            result = self.handler.connection_made(self)
            if result is not None:
                _check_result(result, "connection_made")
        except BaseException as exc:
            self._reactor._callback_error(exc, "Exception in connection_made()", self)
        return 0

    cdef int _on_events(self, uint32_t events) except -1:
        if self._connecting:
            return self._on_connected()
        if (self._reading or self._handshaking) and events & (_epoll.EPOLLIN | _epoll.EPOLLHUP | _epoll.EPOLLERR):
            self._on_readable()
            if self._closed:
                return 0
        if self._wq_size and events & (_epoll.EPOLLOUT | _epoll.EPOLLHUP | _epoll.EPOLLERR):
            self._flush_queue()
        return 0

    cdef int _on_readable(self) except -1:
        cdef Reactor reactor = self._reactor
        cdef Py_ssize_t n
        cdef int err
        if self._tls is not None or (self._x is not None and self._x._proxy != NULL):
            return _filtered_readable(self)
        if self.handler._buffered:
            return self._read_into_handler()
        if self._bulk and self.handler._takes_bytes and self._read_bytes():
            return 0
        n = _recv(self._fd, reactor._rbuf, reactor._rbuf_size)
        if n <= 0:
            return self._read_nothing(n, errno)
        reactor._st_bytes_in += <uint64_t>n
        self._bulk = n >= BULK_READ or n == reactor._rbuf_size
        return self._deliver(reactor._rbuf, n, None)

    cdef int _read_bytes(self) except -1:
        # A bulk transfer to a handler that takes bytes objects: what is
        # queued, if it is BULK_READ or more (or fills the read buffer), is
        # received straight into the bytes object the handler gets instead
        # of being copied out of the shared buffer (a copy of every byte
        # that a C server does not make). The object is sized to what is
        # queued: one of the read buffer's size, cut down after, would come
        # from a fresh mmap each time. 1: the read is done; 0: read the
        # usual way.
        cdef Reactor reactor = self._reactor
        cdef int queued = 0
        cdef Py_ssize_t size, n
        if (_posix.ioctl(self._fd, _posix.FIONREAD, &queued) < 0
                or queued < min(<Py_ssize_t>BULK_READ, reactor._rbuf_size)):
            self._bulk = False
            return 0
        size = min(<Py_ssize_t>queued, reactor._rbuf_size)
        data = PyBytes_FromStringAndSize(NULL, size)
        n = _recv(self._fd, PyBytes_AS_STRING(data), size)
        if n <= 0:
            self._read_nothing(n, errno)
            return 1
        if n < size:
            data = data[:n]          # less than FIONREAD said: rare, so a copy
        reactor._st_bytes_in += <uint64_t>n
        self._deliver(NULL, n, data)
        return 1

    cdef int _read_nothing(self, Py_ssize_t n, int err) except -1:
        # A recv() that brought no data: 0 at EOF, or -1 with ``err``.
        if n == 0:
            return self._on_eof()
        if err == EAGAIN:
            return 0
        return self._fail(_os_error(err))

    cdef int _deliver(self, const char *data, Py_ssize_t length, object owned) except -1:
        # Received bytes (or decrypted plaintext) for the handler, with the
        # connection corked: its writes go out in one send when it returns.
        # ``owned``: a bytes object holding them, for bytes_received().
        cdef Reactor reactor = self._reactor
        _cork_begin(reactor, self)
        try:
            if owned is None:
                self.handler.buffer_received(data, length)
            else:
                self.handler.bytes_received(owned)
        except BaseException as exc:
            # What the handler wrote before raising was accepted: it goes
            # out, as it would have without the cork.
            _cork_end(reactor, self)
            return reactor._callback_error(exc, "Exception in data_received()", self)
        return _cork_end(reactor, self)

    cdef Py_ssize_t _deliver_copy(self, const char *data, Py_ssize_t length) except -1:
        # Bytes already in memory (after a PROXY header) for the handler:
        # through get_buffer()/buffer_updated() for a handler that receives
        # into its own buffer. How many it took: fewer if it paused or
        # closed on the way.
        cdef Py_buffer view
        cdef Py_ssize_t used = 0, n
        if not self.handler._buffered:
            if self._reading and not self._closing:
                self._deliver(data, length, None)
                return length
            return 0
        while used < length and self._reading and not self._closing:
            if not _handler_buffer(self, &view):
                break
            n = min(view.len, length - used)
            memcpy(view.buf, data + used, n)
            PyBuffer_Release(&view)
            used += n
            _buffer_updated(self, n)
        return used

    cdef int _on_resumed(self) except -1:
        cdef Py_ssize_t used
        held = self._x._held if self._x is not None else None
        if held is not None:
            self._x._held = None
            used = self._deliver_copy(PyBytes_AS_STRING(held), PyBytes_GET_SIZE(held))
            if used < PyBytes_GET_SIZE(held) and not self._closing:
                self._x._held = held[used:]
        elif self._tls is not None and self._tls.pending():
            _tls_input(self, NULL, 0)
        return 0

    cdef int _read_into_handler(self) except -1:
        # asyncio.BufferedProtocol: recv() straight into the handler's
        # buffer, no bytes object per read.
        cdef Reactor reactor = self._reactor
        cdef Py_buffer view
        cdef Py_ssize_t n
        cdef int err
        if not _handler_buffer(self, &view):
            return 0
        n = _recv(self._fd, view.buf, view.len)
        err = errno
        PyBuffer_Release(&view)
        if n <= 0:
            return self._read_nothing(n, err)
        reactor._st_bytes_in += <uint64_t>n
        return _buffer_updated(self, n)

    cdef int _on_eof(self) except -1:
        self._eof_received = True
        self._reading = False
        self._update_interest()
        try:
            keep_open = self.handler.eof_received()
            if keep_open is not None:
                _check_result(keep_open, "eof_received")
        except BaseException as exc:
            return self._reactor._callback_error(exc, "Exception in eof_received()", self)
        if not keep_open:
            self.close()
        return 0

    cdef int _on_connected(self) except -1:
        cdef int err = 0
        cdef _posix.socklen_t size = sizeof(err)
        if _posix.getsockopt(self._fd, _posix.SOL_SOCKET, _posix.SO_ERROR, &err, &size) < 0:
            err = errno
        if err:
            # connection_made() never ran: report the failure through
            # connection_lost() alone.
            return self._fail(_os_error(err))
        self._connecting = False
        _disarm_deadline(self)           # the connect timeout, if any
        self._reactor._st_connected += 1
        self._update_interest()
        if self._tls is not None:
            # connection_made() waits for the handshake.
            return _tls_start(self, self._tls, self._x._tls_handshake_timeout, self._x._tls_shutdown_timeout)
        self._call_connection_made()
        if not self._closed:
            # Writes and write_eof() made before the connection was up.
            if self._wq_size:
                return self._flush_queue()
            return self._after_write()
        return 0

    cdef int _on_deadline(self) except -1:
        if self._connecting:
            # The handler never saw connection_made(): no timeout_expired()
            # either, the connect just fails.
            return self._fail(TimeoutError("connect() timed out"))
        if self._handshaking:
            return _handshake_expired(self)
        if self._tls_closing:
            # asyncio's SSL transport reports this too.
            return self._fail(TimeoutError("SSL shutdown timed out"))
        try:
            keep = self.handler.timeout_expired()
            if keep is not None:
                _check_result(keep, "timeout_expired")
        except BaseException as exc:
            return self._reactor._callback_error(exc, "Exception in timeout_expired()", self)
        if not keep and not self._closed:
            self._fail(TimeoutError("connection timed out"))
        return 0

    # ---- writing ------------------------------------------------------------

    cdef int _write(self, const char *data, Py_ssize_t length, object owner) except -1:
        cdef Reactor reactor = self._reactor
        if self._closed or length <= 0:
            return 0
        if self._eof_sent:
            raise RuntimeError("write after write_eof()")
        if self._tls is not None:
            return _tls_write(self, data, length, owner)
        if self._wq_size == 0 and reactor._cork_conn is self:
            if _cork_add(reactor, data, length):
                return 0
            _cork_flush(reactor)
            if self._closed:
                return 0
        return self._raw_write(data, length, owner)

    cdef int _raw_write(self, const char *data, Py_ssize_t length, object owner) except -1:
        # Bytes for the socket (plaintext, or a TLS engine's records): sent
        # now as far as the kernel takes them, the rest queued in order.
        # ``owner`` is a bytes object holding ``data``, or None. A TLS
        # connection defers plaintext, not records (_tlsfilter.pxi).
        cdef Py_ssize_t sent
        if self._closed:
            return 0
        if self._tls is None and (self._deferred or
                                  (self._wq_size == 0 and _may_defer(self._reactor, self, length))):
            # Waits for the end of the iteration (_cork.pxi), with what else
            # is written to this connection until then.
            _defer(self._reactor, self)
        elif self._wq_size == 0 and not self._connecting:
            sent = self._send_now(data, length)
            if sent < 0 or sent == length:
                return 0
            # Only the unsent tail is kept: a copy when the caller's memory
            # cannot be held on to.
            if owner is None:
                return self._queue(PyBytes_FromStringAndSize(data + sent, length - sent), 0)
            return self._queue(owner, sent)
        if owner is None:
            owner = PyBytes_FromStringAndSize(data, length)
        return self._queue(owner, 0)

    cdef Py_ssize_t _send_now(self, const char *data, Py_ssize_t length) except -2:
        """Bytes the kernel took (0 when it would block), or -1 when the
        connection failed and was torn down."""
        cdef Py_ssize_t n
        cdef int err
        while True:
            n = _posix.send(self._fd, data, length, _posix.MSG_NOSIGNAL)
            if n >= 0:
                self._reactor._st_bytes_out += <uint64_t>n
                return n
            err = errno
            if err == EINTR:
                continue
            if err == EAGAIN:
                return 0
            self._fail(_os_error(err))
            return -1

    cdef int _queue(self, object data, Py_ssize_t skip) except -1:
        # The queue list exists only while something is queued: an idle
        # connection owns no buffers at all.
        if self._wq is None:
            self._wq = [data]
            self._wq_head = 0
            self._wq_offset = skip
        else:
            self._wq.append(data)
        if type(data) is _FileRegion:
            self._wq_size += (<_FileRegion>data)._remaining
        else:
            self._wq_size += PyBytes_GET_SIZE(data) - skip
        if not self._deferred:
            self._update_interest()
        if self._tls is not None:
            # Inside the engine's sink: pause_writing() (user code that may
            # write) waits until the engine call returns (_tls_encrypt).
            return 0
        return self._maybe_pause_writing()

    cdef int _flush_queue(self) except -1:
        cdef _posix.iovec iov[SEND_IOV]
        cdef _posix.msghdr msg
        cdef Py_ssize_t count, i, n, size, head, available
        cdef int err, outcome
        cdef list wq = self._wq
        cdef object data
        msg.msg_name = NULL
        msg.msg_namelen = 0
        msg.msg_iov = iov
        msg.msg_control = NULL
        msg.msg_controllen = 0
        msg.msg_flags = 0
        while self._wq_size:
            head = self._wq_head
            data = <object>PyList_GET_ITEM(wq, head)
            if type(data) is _FileRegion:
                outcome = self._send_file_region(<_FileRegion>data)
                if outcome == REGION_FAILED:
                    return 0
                if outcome == REGION_BLOCKED:
                    break
                self._wq_head = head + 1
                continue
            # Gather the bytes up to SEND_IOV entries or the next file region.
            available = PyList_GET_SIZE(wq) - head
            count = 0
            while count < available and count < SEND_IOV:
                data = <object>PyList_GET_ITEM(wq, head + count)
                if type(data) is _FileRegion:
                    break
                iov[count].iov_base = PyBytes_AS_STRING(data)
                iov[count].iov_len = PyBytes_GET_SIZE(data)
                count += 1
            iov[0].iov_base = <char *>iov[0].iov_base + self._wq_offset
            iov[0].iov_len -= self._wq_offset
            msg.msg_iovlen = count
            n = _posix.sendmsg(self._fd, &msg, _posix.MSG_NOSIGNAL)
            if n < 0:
                err = errno
                if err == EINTR:
                    continue
                if err == EAGAIN:
                    break
                return self._fail(_os_error(err))
            self._reactor._st_bytes_out += <uint64_t>n
            self._wq_size -= n
            n += self._wq_offset
            i = 0
            while i < count:
                size = PyBytes_GET_SIZE(<object>PyList_GET_ITEM(wq, head + i))
                if n < size:
                    break
                n -= size
                i += 1
            self._wq_head = head + i
            self._wq_offset = n
            if i < count:
                break     # the kernel took less than offered: it is full
        if self._wq_size == 0:
            self._wq = None
            self._wq_head = 0
            self._wq_offset = 0
        elif self._wq_head > SEND_IOV and self._wq_head * 2 > PyList_GET_SIZE(wq):
            # Sent entries are dropped in bulk, each moved once: linear in
            # the number of writes however long the queue grows.
            del wq[:self._wq_head]
            self._wq_head = 0
        self._update_interest()
        return self._after_write()

    cdef int _send_file_region(self, _FileRegion region) except -1:
        cdef _posix.off_t offset = region._offset
        cdef Py_ssize_t n
        cdef int err
        while region._remaining:
            n = _posix.sendfile(self._fd, region._fd, &offset,
                                <size_t>min(region._remaining, SENDFILE_CHUNK))
            if n < 0:
                err = errno
                if err == EINTR:
                    continue
                if err == EAGAIN:
                    return REGION_BLOCKED
                exc = _os_error(err)
                self._fail(exc)
                return REGION_FAILED
            if n == 0:
                # The file is shorter than announced: what is left will
                # never come.
                self._wq_size -= region._remaining
                region._remaining = 0
                break
            region._offset = offset
            region._remaining -= n
            region._sent += n
            self._wq_size -= n
            self._reactor._st_bytes_out += <uint64_t>n
        self._region_done(region, None)
        return REGION_SENT

    cdef int _abandon_queue(self, list wq, Py_ssize_t head, object exc) except -1:
        # File regions still queued when the connection goes: their owners
        # are waiting to hear.
        cdef Py_ssize_t i
        for i in range(head, PyList_GET_SIZE(wq)):
            data = <object>PyList_GET_ITEM(wq, i)
            if type(data) is _FileRegion:
                self._region_done(<_FileRegion>data, exc if exc is not None else
                                  ConnectionAbortedError("the connection was closed before the file was sent"))
        return 0

    cdef int _region_done(self, _FileRegion region, object exc) except -1:
        done = region._done
        region._done = None
        region._file = None
        if done is not None:
            try:
                done(region._sent, exc)
            except BaseException as err:
                self._reactor._callback_error(err, "Exception in a sendfile() done callback", None)
        return 0

    cdef int _update_interest(self) except -1:
        cdef uint32_t want = 0
        if self._reading or self._handshaking:
            want |= _epoll.EPOLLIN
        # A deferred queue is flushed at the end of the iteration: no
        # EPOLLOUT for it until that flush leaves something behind.
        if (self._wq_size and not self._deferred) or self._connecting:
            want |= _epoll.EPOLLOUT
        return self._set_interest(want)

    cdef int _after_write(self) except -1:
        if self._write_paused and self._wq_size <= _low_water(self):
            self._write_paused = False
            try:
                result = self.handler.resume_writing()
                if result is not None:
                    _check_result(result, "resume_writing")
            except BaseException as exc:
                return self._reactor._callback_error(exc, "Exception in resume_writing()", self)
        if self._wq_size == 0 and not self._closed and not self._connecting:
            if self._closing:
                return self._drained_closing()
            if self._eof_pending and (self._tls is None or self._tls_ready):
                self._eof_pending = False
                self._shutdown_write()
        return 0

    cdef int _drained_closing(self) except -1:
        # close() was called and everything is sent: the end, or with TLS
        # the wait for the peer's close_notify.
        if self._tls is None or self._tls_peer_closed:
            return self._teardown(None)
        return _tls_await_close_notify(self)

    cdef int _maybe_pause_writing(self) except -1:
        if not self._write_paused and self._wq_size > _high_water(self) and not self._closed:
            self._write_paused = True
            self._reactor._st_write_paused += 1
            try:
                result = self.handler.pause_writing()
                if result is not None:
                    _check_result(result, "pause_writing")
            except BaseException as exc:
                return self._reactor._callback_error(exc, "Exception in pause_writing()", self)
        return 0

    cdef int _shutdown_write(self) except -1:
        # ENOTCONN (the peer already reset) is reported by the next read.
        _posix.shutdown(self._fd, _posix.SHUT_WR)
        return 0

    # ---- ending -------------------------------------------------------------

    cdef int _fail(self, object exc) except -1:
        self._closing = True
        return self._teardown(exc)

    cdef int _teardown(self, object exc) except -1:
        cdef Reactor reactor = self._reactor
        if self._closed:
            return 0
        self._closed = True
        self._closing = True
        self._reading = False
        self._handshaking = False
        if self._x is not None:
            self._x._tls_pending = None
            self._x._held = None
            _proxy_release(self._x)
            if self._x._transport_socket is not None:
                # The socket object shares our descriptor: it must never close it.
                self._x._transport_socket._sock.detach()
        _disarm_deadline(self)
        _cork_drop(reactor, self)
        self._close_fd()
        wq = self._wq
        head = self._wq_head
        self._wq = None
        self._wq_head = 0
        self._wq_size = 0
        reactor._st_closed += 1
        reactor._st_open -= 1
        # connection_lost() runs after this round of dispatch, never inside
        # the callback that closed the connection, as asyncio does.
        if exc is not None:
            self._extras()._lost_exc = exc
        reactor._lost.append(self)
        reactor._descriptor_freed()
        if wq is not None:
            self._abandon_queue(wq, head, exc)
        return 0

    cdef int _call_connection_lost(self) except -1:
        cdef Handler handler = self.handler
        exc = None
        if self._x is not None:
            exc = self._x._lost_exc
            self._x._lost_exc = None
        # Breaks the handler <-> connection cycle so both are freed by
        # reference counting, not left to the cyclic GC.
        self.handler = None
        if handler is not None:
            try:
                result = handler.connection_lost(exc)
                if result is not None:
                    _check_result(result, "connection_lost")
            except BaseException as err:
                self._reactor._callback_error(err, "Exception in connection_lost()", None)
        # The TLS session (OpenSSL's state, ~15 KB) goes with the connection
        # callbacks: connection_lost() may still ask for the peer's certificate.
        self._tls = None
        return 0


@cython.final
cdef class _FileRegion:
    pass


cdef int _handler_buffer(Connection conn, Py_buffer *view) except -1:
    """The handler's get_buffer() as a writable view: 1, or 0 when it
    failed (reported: the connection is lost) or closed the connection."""
    cdef Reactor reactor = conn._reactor
    try:
        buf = conn.handler.get_buffer(-1)
        if conn._closed:
            return 0
        PyObject_GetBuffer(buf, view, PyBUF_WRITABLE)
    except BaseException as exc:
        reactor._callback_error(exc, "Exception in get_buffer()", conn)
        return 0
    if view.len <= 0:
        PyBuffer_Release(view)
        reactor._callback_error(RuntimeError("get_buffer() returned an empty buffer"),
                                "Exception in get_buffer()", conn)
        return 0
    return 1


cdef int _buffer_updated(Connection conn, Py_ssize_t n) except -1:
    cdef Reactor reactor = conn._reactor
    _cork_begin(reactor, conn)
    try:
        result = conn.handler.buffer_updated(n)
        if result is not None:
            _check_result(result, "buffer_updated")
    except BaseException as exc:
        _cork_end(reactor, conn)
        return reactor._callback_error(exc, "Exception in buffer_updated()", conn)
    return _cork_end(reactor, conn)


cdef object _as_bytes(object data):
    if type(data) is bytes:
        return data
    if isinstance(data, str):
        raise TypeError("data must be a bytes-like object, not str")
    try:
        return bytes(memoryview(data))
    except TypeError:
        raise TypeError(f"data must be a bytes-like object, not {type(data).__name__}") from None
