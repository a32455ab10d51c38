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


@cython.final
cdef class Connection(EventSource):
    """One stream connection: TCP (IPv4/IPv6) or Unix.

    Created by the reactor; handed to ``Handler.connection_made()``.
    """

    def __cinit__(self, *args):
        self._reading = True
        self._high_water = DEFAULT_HIGH_WATER
        self._low_water = DEFAULT_HIGH_WATER // 4

    # ---- the public surface ---------------------------------------------

    @property
    def reactor(self):
        """The reactor this connection belongs to."""
        return self._reactor

    @property
    def peername(self):
        """The remote address, as the socket module gives it."""
        if self._peername is None:
            self._peername = _sockaddr_to_address(&self._peer_addr)
            if self._peername is None and self._fd >= 0:
                self._peername = _sockinfo(self._fd, True)
        return self._peername

    @property
    def sockname(self):
        """The local address, as the socket module gives it."""
        if self._sockname is None and self._fd >= 0:
            self._sockname = _sockinfo(self._fd, False)
        return self._sockname

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
        """Bytes accepted by write() and not yet taken by the kernel."""
        return self._wq_size + _cork_pending(self._reactor, self)

    def get_write_buffer_limits(self):
        return (self._low_water, self._high_water)

    def set_write_buffer_limits(self, high=None, low=None):
        """Sets the flow-control marks (default 64 KiB high, a quarter low)."""
        if high is None:
            high = DEFAULT_HIGH_WATER if low is None else 4 * low
        if low is None:
            low = high // 4
        if not 0 <= low <= high:
            raise ValueError(f"high ({high!r}) must be >= low ({low!r}) must be >= 0")
        self._high_water = high
        self._low_water = low
        self._maybe_pause_writing()
        self._after_write()

    def get_extra_info(self, name, default=None):
        """asyncio's keys: 'peername', 'sockname', 'socket' (a socket the
        connection keeps owning: do not close it); ``default`` otherwise."""
        if name == "peername":
            return self.peername
        if name == "sockname":
            return self.sockname
        if name == "socket":
            if self._transport_socket is None and self._fd >= 0:
                from asyncio.trsock import TransportSocket
                self._transport_socket = TransportSocket(_socket.socket(fileno=self._fd))
            return self._transport_socket if self._transport_socket is not None else default
        return default

    def __repr__(self):
        state = "closed" if self._closed else ("closing" if self._closing else "open")
        return f"<Connection fd={self._fd} {state}>"

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
        """Closes after everything written so far has been sent."""
        if self._closing:
            return
        _cork_release(self._reactor, self)
        if self._closing:
            return
        self._closing = True
        self._reading = False
        if self._wq_size == 0:
            self._teardown(None)
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
        if self._wq_size == 0 and not self._connecting:
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

    # ---- events -------------------------------------------------------------

    cdef int _start(self, Handler handler) except -1:
        self.handler = handler
        if not handler._buffered and _receives_into_own_buffer(handler):
            handler._buffered = True
        self._update_interest()
        if not self._connecting:
            self._call_connection_made()
        return 0

    cdef int _call_connection_made(self) except -1:
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
        if self._reading and events & (_epoll.EPOLLIN | _epoll.EPOLLHUP | _epoll.EPOLLERR):
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
        if self.handler._buffered:
            return self._read_into_handler()
        while True:
            n = _posix.recv(self._fd, reactor._rbuf, reactor._rbuf_size, 0)
            if n >= 0:
                break
            err = errno
            if err == EINTR:
                continue
            if err == EAGAIN:
                return 0
            return self._fail(_os_error(err))
        if n == 0:
            return self._on_eof()
        reactor._st_bytes_in += <uint64_t>n
        _cork_begin(reactor, self)
        try:
            self.handler.buffer_received(reactor._rbuf, n)
        except BaseException as exc:
            # What the handler wrote before raising was accepted: it goes
            # out, as it would have without the cork.
            _cork_end(reactor, self)
            return reactor._callback_error(exc, "Exception in data_received()", self)
        return _cork_end(reactor, self)

    cdef int _read_into_handler(self) except -1:
        # asyncio.BufferedProtocol: recv() straight into the handler's
        # buffer, no bytes object per read.
        cdef Reactor reactor = self._reactor
        cdef Handler handler = self.handler
        cdef Py_buffer view
        cdef Py_ssize_t n
        cdef int err = 0
        try:
            buf = handler.get_buffer(-1)
            if self._closed:
                return 0             # the handler closed it instead
            PyObject_GetBuffer(buf, &view, PyBUF_WRITABLE)
        except BaseException as exc:
            return reactor._callback_error(exc, "Exception in get_buffer()", self)
        try:
            if view.len <= 0:
                return reactor._callback_error(
                    RuntimeError("get_buffer() returned an empty buffer"), "Exception in get_buffer()", self)
            while True:
                n = _posix.recv(self._fd, view.buf, view.len, 0)
                if n >= 0 or errno != EINTR:
                    break
            if n < 0:
                err = errno
        finally:
            PyBuffer_Release(&view)
        if n < 0:
            return 0 if err == EAGAIN else self._fail(_os_error(err))
        if n == 0:
            return self._on_eof()
        reactor._st_bytes_in += <uint64_t>n
        _cork_begin(reactor, self)
        try:
            result = handler.buffer_updated(n)
            if result is not None:
                _check_result(result, "buffer_updated")
        except BaseException as exc:
            _cork_end(reactor, self)
            return reactor._callback_error(exc, "Exception in buffer_updated()", self)
        return _cork_end(reactor, self)

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
        cdef Py_ssize_t sent
        if self._closed or length <= 0:
            return 0
        if self._eof_sent:
            raise RuntimeError("write after write_eof()")
        if self._wq_size == 0 and reactor._cork_conn is self:
            if _cork_add(reactor, data, length):
                return 0
            _cork_flush(reactor)
            if self._closed:
                return 0
        if self._deferred or (self._wq_size == 0 and _may_defer(reactor, self, length)):
            # Waits for the end of the iteration (_cork.pxi), with what else
            # is written to this connection until then.
            _defer(reactor, self)
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
        if self._reading:
            want |= _epoll.EPOLLIN
        # A deferred queue is flushed at the end of the iteration: no
        # EPOLLOUT for it until that flush leaves something behind.
        if (self._wq_size and not self._deferred) or self._connecting:
            want |= _epoll.EPOLLOUT
        return self._set_interest(want)

    cdef int _after_write(self) except -1:
        if self._write_paused and self._wq_size <= self._low_water:
            self._write_paused = False
            try:
                result = self.handler.resume_writing()
                if result is not None:
                    _check_result(result, "resume_writing")
            except BaseException as exc:
                return self._reactor._callback_error(exc, "Exception in resume_writing()", self)
        if self._wq_size == 0 and not self._closed and not self._connecting:
            if self._closing:
                return self._teardown(None)
            if self._eof_pending:
                self._eof_pending = False
                self._shutdown_write()
        return 0

    cdef int _maybe_pause_writing(self) except -1:
        if not self._write_paused and self._wq_size > self._high_water and not self._closed:
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
        _disarm_deadline(self)
        _cork_drop(reactor, self)
        if self._transport_socket is not None:
            # The socket object shares our descriptor: it must never close it.
            self._transport_socket._sock.detach()
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
        self._lost_exc = exc
        reactor._lost.append(self)
        reactor._descriptor_freed()
        if wq is not None:
            self._abandon_queue(wq, head, exc)
        return 0

    cdef int _call_connection_lost(self) except -1:
        cdef Handler handler = self.handler
        exc = self._lost_exc
        # Breaks the handler <-> connection cycle so both are freed by
        # reference counting, not left to the cyclic GC.
        self.handler = None
        self._lost_exc = None
        if handler is None:
            return 0
        try:
            result = handler.connection_lost(exc)
            if result is not None:
                _check_result(result, "connection_lost")
        except BaseException as err:
            self._reactor._callback_error(err, "Exception in connection_lost()", None)
        return 0


@cython.final
cdef class _FileRegion:
    pass


cdef object _as_bytes(object data):
    if type(data) is bytes:
        return data
    if isinstance(data, str):
        raise TypeError("data must be a bytes-like object, not str")
    try:
        return bytes(memoryview(data))
    except TypeError:
        raise TypeError(f"data must be a bytes-like object, not {type(data).__name__}") from None
