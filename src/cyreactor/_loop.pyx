# cython: freethreading_compatible = False
"""The epoll reactor: registry, dispatch, timers, signals, wake-up, and the
typed Connection and Listener objects it hands ready descriptors to."""

cimport cython
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.exc cimport PyErr_CheckSignals
from cpython.list cimport PyList_GET_ITEM, PyList_GET_SIZE
from libc.errno cimport EAGAIN, EINTR, errno
from libc.math cimport ceil
from libc.stdint cimport uint32_t, uint64_t
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy, strerror

from cyreactor cimport _epoll, _posix

import collections
import errno as _errno_mod
import logging
import os
import signal as _signal
import socket as _socket
import threading

__all__ = ["Reactor", "Connection", "Listener", "Handler", "TimerHandle"]

cdef object _logger = logging.getLogger("cyreactor")

# EWOULDBLOCK is EAGAIN on Linux (errno(3)), so EAGAIN alone means "not ready".

cdef enum:
    DEFAULT_MAX_EVENTS = 1024
    DEFAULT_READ_BUFFER = 256 * 1024
    CORK_CAPACITY = 64 * 1024
    # Larger writes skip the cork: copying them would cost more than the
    # syscall it saves.
    CORK_MAX_WRITE = 8 * 1024
    # Bounded so one busy listener cannot starve the connections it feeds.
    ACCEPT_BATCH = 128
    # Buffers gathered into one sendmsg(); well below IOV_MAX (1024).
    SEND_IOV = 64
    DEFAULT_HIGH_WATER = 64 * 1024
    CANCELLED_REBUILD_MIN = 64
    TIMEOUT_QUEUES_PRUNE = 16

cdef double ACCEPT_RETRY_DELAY = 0.1


cdef inline object _os_error(int err):
    # OSError's constructor picks the subclass for err itself
    # (ConnectionResetError, BrokenPipeError, ...).
    return OSError(err, strerror(err).decode("utf-8", "replace"))


cdef inline int _raise_errno(int err) except -1:
    raise _os_error(err)


cdef inline double _monotonic() noexcept nogil:
    cdef _posix.timespec ts
    _posix.clock_gettime(_posix.CLOCK_MONOTONIC, &ts)
    return <double>ts.tv_sec + <double>ts.tv_nsec * 1e-9


cdef inline int _close_fd(int fd) noexcept nogil:
    # close(2) on Linux releases the descriptor even when it reports EINTR,
    # so it is never retried: a retry could close a descriptor reused by now.
    return _posix.close(fd)


cdef object _sockinfo(int fd, bint peer):
    """getpeername()/getsockname() through a borrowed socket object: only on
    request, never on the data path."""
    sock = _socket.socket(fileno=fd)
    try:
        return sock.getpeername() if peer else sock.getsockname()
    except OSError:
        return None
    finally:
        sock.detach()


cdef object _sockaddr_to_address(const _posix.sockaddr_in6 *addr):
    """The socket module's form of an IPv4/IPv6 address kept from accept4()."""
    cdef char text[_posix.INET6_ADDRSTRLEN]
    cdef const _posix.sockaddr_in *v4
    if addr.sin6_family == _posix.AF_INET:
        v4 = <const _posix.sockaddr_in *>addr
        _posix.inet_ntop(_posix.AF_INET, &v4.sin_addr, text, sizeof(text))
        return (text.decode("ascii"), _posix.ntohs(v4.sin_port))
    if addr.sin6_family == _posix.AF_INET6:
        _posix.inet_ntop(_posix.AF_INET6, &addr.sin6_addr, text, sizeof(text))
        return (text.decode("ascii"), _posix.ntohs(addr.sin6_port),
                _posix.ntohl(addr.sin6_flowinfo), addr.sin6_scope_id)
    return None


cdef class Handler:
    """Base class of connection handlers.

    The reactor calls these methods, named as asyncio.Protocol names them.
    Every default does nothing. Subclass in Python and override what you need,
    or ``cimport`` it from Cython to be called with no Python dispatch.
    """

    cpdef connection_made(self, Connection conn):
        """Called once when the connection is established."""

    cpdef data_received(self, object data):
        """Called with the bytes received (a ``bytes`` object)."""

    cpdef eof_received(self):
        """The peer closed its sending side. Return a true value to keep the
        connection open for writing; otherwise it is closed."""

    cpdef connection_lost(self, object exc):
        """Called exactly once when the connection is closed: ``None`` on an
        orderly close or abort, the exception on an error or reset."""

    cpdef pause_writing(self):
        """The write buffer rose above the high-water mark."""

    cpdef resume_writing(self):
        """The write buffer drained below the low-water mark."""

    cpdef timeout_expired(self):
        """The deadline set by ``Connection.set_timeout()`` passed. Return a
        true value to keep the connection; by default it is aborted and
        ``connection_lost()`` receives ``TimeoutError``."""

    cdef int buffer_received(self, const char *data, Py_ssize_t length) except -1:
        self.data_received(PyBytes_FromStringAndSize(data, length))
        return 0


@cython.final
@cython.freelist(64)
cdef class TimerHandle:
    """A scheduled callback; ``cancel()`` stops it from running."""

    def __cinit__(self):
        self._cancelled = False
        self._scheduled = False

    cpdef cancel(self):
        """Stops the callback from running; does nothing if it already ran."""
        if self._cancelled:
            return
        self._cancelled = True
        self._callback = None
        self._args = None
        if self._scheduled:
            self._scheduled = False
            self._reactor._timers_cancelled += 1
            _maybe_compact_timers(self._reactor)

    def cancelled(self):
        """True once ``cancel()`` was called."""
        return self._cancelled

    def when(self):
        """The reactor time at which the callback is due."""
        return self._when

    cdef int _run(self) except -1:
        callback = self._callback
        args = self._args
        self._callback = None
        self._args = None
        try:
            callback(*args)
        except BaseException as exc:
            self._reactor._callback_error(exc, f"Exception in callback {callback!r}", None)
        return 0

    def __repr__(self):
        state = "cancelled" if self._cancelled else f"when={self._when:.6f}"
        return f"<TimerHandle {self._callback!r} {state}>"


# The timer heap: a binary min-heap on (when, seq) in a list, compared at C
# level; seq keeps callbacks due at the same instant in scheduling order.

cdef inline bint _timer_lt(TimerHandle a, TimerHandle b) noexcept:
    return a._when < b._when or (a._when == b._when and a._seq < b._seq)


cdef int _heap_sift_down(list heap, Py_ssize_t pos) except -1:
    cdef Py_ssize_t n = len(heap), child
    cdef TimerHandle item = heap[pos]
    while True:
        child = 2 * pos + 1
        if child >= n:
            break
        if child + 1 < n and _timer_lt(heap[child + 1], heap[child]):
            child += 1
        if not _timer_lt(heap[child], item):
            break
        heap[pos] = heap[child]
        pos = child
    heap[pos] = item
    return 0


cdef int _heap_push(list heap, TimerHandle item) except -1:
    cdef Py_ssize_t pos = len(heap), parent
    heap.append(item)
    while pos > 0:
        parent = (pos - 1) >> 1
        if not _timer_lt(item, heap[parent]):
            break
        heap[pos] = heap[parent]
        pos = parent
    heap[pos] = item
    return 0


cdef TimerHandle _heap_pop(list heap):
    cdef TimerHandle top = heap[0]
    last = heap.pop()
    if heap:
        heap[0] = last
        _heap_sift_down(heap, 0)
    return top


cdef int _maybe_compact_timers(Reactor reactor) except -1:
    # Cancelled timers stay in the heap until they surface; once they are
    # the majority, drop them all at once so memory follows live timers.
    cdef list heap = reactor._timers
    cdef Py_ssize_t i
    cdef TimerHandle h
    if reactor._timers_cancelled < CANCELLED_REBUILD_MIN or reactor._timers_cancelled * 2 < len(heap):
        return 0
    live = []
    for h in heap:
        if not h._cancelled:
            live.append(h)
    heap[:] = live
    for i in range(len(heap) // 2 - 1, -1, -1):
        _heap_sift_down(heap, i)
    reactor._timers_cancelled = 0
    return 0


@cython.final
cdef class _TimeoutQueue:
    pass


@cython.final
cdef class Listener:
    """A listening socket owned by a reactor (from ``listen``/``listen_unix``)."""

    def __cinit__(self):
        self._fd = -1

    @property
    def sockname(self):
        """The bound address: ``(host, port)`` for TCP, the path for Unix."""
        return self._sockname

    def fileno(self):
        """The listening descriptor, or -1 once closed."""
        return self._fd

    def is_closed(self):
        return self._fd < 0

    cpdef close(self):
        """Stops listening and closes the socket; open connections stay."""
        if self._fd < 0:
            return
        self._reactor._unregister(self._fd)
        _close_fd(self._fd)
        self._fd = -1
        self._reactor._listener_closed(self)
        if self._unix_path is not None:
            try:
                os.unlink(self._unix_path)
            except OSError:
                pass

    cdef int _pause_accepting(self) except -1:
        if self._accept_paused or self._fd < 0:
            return 0
        self._accept_paused = True
        self._reactor._accept_paused += 1
        self._reactor._ctl(_epoll.EPOLL_CTL_DEL, self._fd, 0, self._token)
        return 0

    cdef int _resume_accepting(self) except -1:
        if not self._accept_paused:
            return 0
        self._accept_paused = False
        self._reactor._accept_paused -= 1
        if self._fd >= 0:
            self._reactor._ctl(_epoll.EPOLL_CTL_ADD, self._fd, _epoll.EPOLLIN, self._token)
        return 0

    cdef int _on_readable(self) except -1:
        cdef Reactor reactor = self._reactor
        cdef int fd, err, i, one = 1
        cdef Connection conn
        # The kernel hands over the peer's address with the descriptor: kept
        # in C so peername costs nothing unless asked for, even after close.
        cdef _posix.sockaddr_in6 peer
        cdef _posix.socklen_t peer_len
        for i in range(ACCEPT_BATCH):
            peer_len = sizeof(peer)
            fd = _posix.accept4(self._fd, <_posix.sockaddr *>&peer, &peer_len,
                                _posix.SOCK_NONBLOCK | _posix.SOCK_CLOEXEC)
            if fd < 0:
                err = errno
                if err == EAGAIN:
                    return 0
                if err == EINTR or err == _posix.ECONNABORTED:
                    continue
                reactor._st_accept_errors += 1
                if (err == _posix.EMFILE or err == _posix.ENFILE
                        or err == _posix.ENOBUFS or err == _posix.ENOMEM):
                    # Out of descriptors: the pending connection stays in the
                    # backlog and would wake us at once, forever. Stop
                    # watching the listener until a descriptor is freed or
                    # the retry timer fires.
                    reactor._st_emfile += 1
                    self._pause_accepting()
                    if reactor._accept_retry is None:
                        reactor._accept_retry = reactor._schedule(
                            _monotonic() + ACCEPT_RETRY_DELAY, reactor._retry_accepting, ())
                    return 0
                reactor.call_exception_handler({
                    "message": "accept4() failed",
                    "exception": _os_error(err),
                    "listener": self,
                })
                return 0
            if self._tcp:
                _posix.setsockopt(fd, _posix.IPPROTO_TCP, _posix.TCP_NODELAY, &one, sizeof(one))
            reactor._st_accepted += 1
            conn = reactor._new_connection(fd, self._tcp)
            if self._tcp:
                conn._peer_addr = peer
            try:
                handler = self._factory()
                if not isinstance(handler, Handler):
                    raise TypeError(f"handler factory returned {type(handler).__name__}, not a cyreactor.Handler")
            except BaseException as exc:
                conn._closing = True
                conn._teardown(None)
                reactor._callback_error(exc, "Exception in handler factory", None)
                continue
            conn._start(<Handler>handler)
        return 0

    def __repr__(self):
        return f"<Listener {self._sockname!r} fd={self._fd}>"


@cython.final
cdef class Connection:
    """One stream connection: TCP (IPv4/IPv6) or Unix.

    Created by the reactor; handed to ``Handler.connection_made()``.
    """

    def __cinit__(self):
        self._fd = -1
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

    def fileno(self):
        """The socket descriptor, or -1 once closed."""
        return self._fd

    def write(self, data):
        """Sends ``data`` (bytes-like) now as far as the socket takes it and
        queues the rest; never blocks. Ignored once the connection is closing."""
        self.write_object(data)

    def writelines(self, lines):
        """Writes every bytes-like object of ``lines``, in one ``sendmsg``
        where the socket takes them at once."""
        cdef bint was_empty
        if self._closing:
            return
        if self._eof_sent:
            raise RuntimeError("write after write_eof()")
        if self._reactor._cork_conn is self:
            self._reactor._cork_flush()
            if self._closing:
                return
        was_empty = self._wq_size == 0
        for data in lines:
            if type(data) is not bytes:
                data = bytes(memoryview(data))
            if PyBytes_GET_SIZE(data):
                if self._wq is None:
                    self._wq = []
                self._wq.append(data)
                self._wq_size += PyBytes_GET_SIZE(data)
        if was_empty and self._wq_size and not self._connecting:
            self._flush_queue()
        elif self._wq_size:
            self._update_interest()
            self._maybe_pause_writing()

    def can_write_eof(self):
        return True

    def is_closing(self):
        """True once close() or abort() was called or the connection was lost."""
        return self._closing

    def is_reading(self):
        return self._reading and not self._closing

    def get_write_buffer_size(self):
        """Bytes accepted by write() and not yet taken by the kernel."""
        cdef Py_ssize_t size = self._wq_size
        if self._reactor is not None and self._reactor._cork_conn is self:
            size += self._reactor._cork_len
        return size

    def get_write_buffer_limits(self):
        return (self._low_water, self._high_water)

    def set_write_buffer_limits(self, high=None, low=None):
        """Sets the flow-control marks (default 64 KiB high, a quarter low)."""
        if high is None:
            high = DEFAULT_HIGH_WATER if low is None else 4 * low
        if low is None:
            low = high // 4
        if not 0 <= low <= high:
            raise ValueError(f"need 0 <= low ({low}) <= high ({high})")
        self._high_water = high
        self._low_water = low
        self._maybe_pause_writing()
        self._after_write()

    def get_extra_info(self, name, default=None):
        """asyncio-style lookup of 'peername' or 'sockname'; ``default``
        for any other name."""
        if name == "peername":
            return self.peername
        if name == "sockname":
            return self.sockname
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
        if type(data) is not bytes:
            data = bytes(memoryview(data))
        return self._write(PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data), data)

    cpdef int set_timeout(self, double seconds) except -1:
        """(Re)arms this connection's deadline ``seconds`` from now; 0
        disarms it. On expiry ``Handler.timeout_expired()`` is called. O(1):
        connections sharing a duration form one FIFO."""
        cdef Reactor reactor = self._reactor
        cdef _TimeoutQueue q
        if self._closed or seconds <= 0.0:
            self._unlink_timeout()
            return 0
        q = self._tqueue
        if q is None or q._duration != seconds:
            q = reactor._timeout_queue(seconds)
        # A fresh clock, not the loop's cached one: the delay counts from
        # this call even late in a long batch. Deadlines of one queue still
        # only grow, so the FIFO stays in deadline order.
        self._deadline = _monotonic() + seconds
        if q._tail is self:
            return 0
        self._unlink_timeout()
        self._tqueue = q
        self._tprev = q._tail
        if q._tail is None:
            q._head = self
        else:
            q._tail._tnext = self
        q._tail = self
        return 0

    cpdef close(self):
        """Closes after everything written so far has been sent."""
        if self._closing:
            return
        if self._reactor._cork_conn is self:
            self._reactor._cork_flush()
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
        if self._reactor._cork_conn is self:
            self._reactor._cork_flush()
            if self._closing:
                return
        self._eof_sent = True
        if self._wq_size == 0 and not self._connecting:
            _posix.shutdown(self._fd, _posix.SHUT_WR)
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

    # ---- event handling ---------------------------------------------------

    cdef int _start(self, Handler handler) except -1:
        self.handler = handler
        self._update_interest()
        try:
            handler.connection_made(self)
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
            self._on_writable()
        return 0

    cdef int _on_readable(self) except -1:
        cdef Reactor reactor = self._reactor
        cdef Py_ssize_t n
        cdef int err
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
            self._eof_received = True
            self._reading = False
            self._update_interest()
            try:
                keep_open = self.handler.eof_received()
            except BaseException as exc:
                return reactor._callback_error(exc, "Exception in eof_received()", self)
            if not keep_open:
                self.close()
            return 0
        reactor._st_bytes_in += <uint64_t>n
        reactor._cork_conn = self
        try:
            self.handler.buffer_received(reactor._rbuf, n)
        except BaseException as exc:
            # What the handler wrote before raising was accepted: it goes
            # out, as it would have without the cork.
            if reactor._cork_conn is self:
                reactor._cork_flush()
            return reactor._callback_error(exc, "Exception in data_received()", self)
        if reactor._cork_conn is self:
            reactor._cork_flush()
        return 0

    cdef int _on_writable(self) except -1:
        return self._flush_queue()

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
        self._reactor._st_connected += 1
        self._update_interest()
        try:
            self.handler.connection_made(self)
        except BaseException as exc:
            return self._reactor._callback_error(exc, "Exception in connection_made()", self)
        if self._wq_size and not self._closed:
            self._flush_queue()
        return 0

    cdef int _write(self, const char *data, Py_ssize_t length, object owner) except -1:
        cdef Reactor reactor = self._reactor
        cdef Py_ssize_t sent
        if self._closing or length <= 0:
            return 0
        if self._eof_sent:
            raise RuntimeError("write after write_eof()")
        if self._wq_size == 0:
            if reactor._cork_conn is self:
                if length <= CORK_MAX_WRITE and reactor._cork_len + length <= CORK_CAPACITY:
                    memcpy(reactor._cork_buf + reactor._cork_len, data, length)
                    reactor._cork_len += length
                    return 0
                reactor._cork_flush()
                if self._closing:
                    return 0
            if self._wq_size == 0 and not self._connecting:
                sent = self._send_now(data, length)
                if sent < 0 or sent == length:
                    return 0
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
            self._wq = []
        if not self._wq:
            self._wq_offset = skip
        self._wq.append(data)
        self._wq_size += PyBytes_GET_SIZE(data) - skip
        self._update_interest()
        return self._maybe_pause_writing()

    cdef int _flush_queue(self) except -1:
        cdef _posix.iovec iov[SEND_IOV]
        cdef _posix.msghdr msg
        cdef Py_ssize_t count, i, n, size
        cdef int err
        cdef list wq = self._wq
        cdef object data
        while self._wq_size:
            count = min(PyList_GET_SIZE(wq), <Py_ssize_t>SEND_IOV)
            for i in range(count):
                data = <object>PyList_GET_ITEM(wq, i)
                iov[i].iov_base = PyBytes_AS_STRING(data)
                iov[i].iov_len = PyBytes_GET_SIZE(data)
            iov[0].iov_base = <char *>iov[0].iov_base + self._wq_offset
            iov[0].iov_len -= self._wq_offset
            msg.msg_name = NULL
            msg.msg_namelen = 0
            msg.msg_iov = iov
            msg.msg_iovlen = count
            msg.msg_control = NULL
            msg.msg_controllen = 0
            msg.msg_flags = 0
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
            i = 0
            n += self._wq_offset
            while i < count:
                size = PyBytes_GET_SIZE(<object>PyList_GET_ITEM(wq, i))
                if n < size:
                    break
                n -= size
                i += 1
            del wq[:i]
            self._wq_offset = n
            if i < count:
                break     # the kernel took less than offered: it is full
        self._update_interest()
        return self._after_write()

    cdef int _update_interest(self) except -1:
        cdef uint32_t want = 0
        if self._fd < 0:
            return 0
        if self._reading:
            want |= _epoll.EPOLLIN
        if self._wq_size or self._connecting:
            want |= _epoll.EPOLLOUT
        if want == self._interest and self._registered == (want != 0):
            return 0
        # Nothing wanted means out of the epoll set altogether: EPOLLHUP and
        # EPOLLERR are reported even for an empty mask and would spin a
        # paused connection whose peer has gone.
        if want == 0:
            self._reactor._ctl(_epoll.EPOLL_CTL_DEL, self._fd, 0, self._token)
            self._registered = False
        elif self._registered:
            self._reactor._ctl(_epoll.EPOLL_CTL_MOD, self._fd, want, self._token)
        else:
            self._reactor._ctl(_epoll.EPOLL_CTL_ADD, self._fd, want, self._token)
            self._registered = True
        self._interest = want
        return 0

    cdef int _after_write(self) except -1:
        if self._write_paused and self._wq_size <= self._low_water:
            self._write_paused = False
            try:
                self.handler.resume_writing()
            except BaseException as exc:
                return self._reactor._callback_error(exc, "Exception in resume_writing()", self)
        if self._wq_size == 0 and not self._closed:
            if self._closing:
                return self._teardown(None)
            if self._eof_pending:
                self._eof_pending = False
                _posix.shutdown(self._fd, _posix.SHUT_WR)
        return 0

    cdef int _maybe_pause_writing(self) except -1:
        if not self._write_paused and self._wq_size > self._high_water and not self._closed:
            self._write_paused = True
            self._reactor._st_write_paused += 1
            try:
                self.handler.pause_writing()
            except BaseException as exc:
                return self._reactor._callback_error(exc, "Exception in pause_writing()", self)
        return 0

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
        self._unlink_timeout()
        if reactor._cork_conn is self:
            reactor._cork_conn = None
            reactor._cork_len = 0
        reactor._unregister(self._fd)
        _close_fd(self._fd)
        self._fd = -1
        self._wq = None
        self._wq_size = 0
        reactor._st_closed += 1
        reactor._st_open -= 1
        # connection_lost() runs after this round of dispatch, never inside
        # the callback that closed the connection, as asyncio does.
        self._lost_exc = exc
        reactor._lost.append(self)
        return reactor._descriptor_freed()

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
            handler.connection_lost(exc)
        except BaseException as err:
            self._reactor._callback_error(err, "Exception in connection_lost()", None)
        return 0

    cdef int _on_timeout(self) except -1:
        cdef Reactor reactor = self._reactor
        try:
            keep = self.handler.timeout_expired()
        except BaseException as exc:
            return reactor._callback_error(exc, "Exception in timeout_expired()", self)
        if not keep and not self._closed:
            self._closing = True
            self._teardown(TimeoutError("connection timed out"))
        return 0

    cdef int _unlink_timeout(self) noexcept:
        cdef _TimeoutQueue q = self._tqueue
        if q is None:
            return 0
        if self._tprev is None:
            q._head = self._tnext
        else:
            self._tprev._tnext = self._tnext
        if self._tnext is None:
            q._tail = self._tprev
        else:
            self._tnext._tprev = self._tprev
        self._tprev = None
        self._tnext = None
        self._tqueue = None
        return 0


def _ignore_signal(signum, frame):
    # The C-level handler CPython installs with this writes the signal number
    # to the wake-up pipe; the reactor reads it and runs the real handler.
    pass


cdef class Reactor:
    """A Linux epoll reactor.

    ``Reactor(max_events=1024, read_buffer_size=256 KiB)``. Use it as a
    context manager, or call ``close()`` when done.
    """

    def __cinit__(self, int max_events=DEFAULT_MAX_EVENTS, Py_ssize_t read_buffer_size=DEFAULT_READ_BUFFER):
        cdef int err
        self._epfd = -1
        self._wakeup_fd = -1
        self._signal_rfd = -1
        self._signal_wfd = -1
        if max_events < 1 or read_buffer_size < 1024:
            raise ValueError("max_events must be >= 1 and read_buffer_size >= 1024")
        self._epfd = _epoll.epoll_create1(_epoll.EPOLL_CLOEXEC)
        if self._epfd < 0:
            _raise_errno(errno)
        self._max_events = max_events
        self._events = <_epoll.epoll_event *>malloc(max_events * sizeof(_epoll.epoll_event))
        self._rbuf_size = read_buffer_size
        self._rbuf = <char *>malloc(read_buffer_size)
        self._cork_buf = <char *>malloc(CORK_CAPACITY)
        if self._events == NULL or self._rbuf == NULL or self._cork_buf == NULL:
            raise MemoryError()
        self._registry = []
        self._generation = 0
        self._timers = []
        self._lost = []
        self._ready = collections.deque()
        self._signal_handlers = {}
        self._timeout_queues = []
        self._listeners = set()
        self._logger = _logger
        self._now = _monotonic()
        self._wakeup_fd = _posix.eventfd(0, _posix.EFD_NONBLOCK | _posix.EFD_CLOEXEC)
        if self._wakeup_fd < 0:
            _raise_errno(errno)
        self._ctl(_epoll.EPOLL_CTL_ADD, self._wakeup_fd, _epoll.EPOLLIN, self._register(self._wakeup_fd, self))

    def __dealloc__(self):
        # Python-level state is gone by now; only C resources are released.
        if self._epfd >= 0:
            _close_fd(self._epfd)
        if self._wakeup_fd >= 0:
            _close_fd(self._wakeup_fd)
        if self._signal_rfd >= 0:
            _close_fd(self._signal_rfd)
            _close_fd(self._signal_wfd)
        free(self._events)
        free(self._rbuf)
        free(self._cork_buf)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def __repr__(self):
        state = "closed" if self._closed else ("running" if self._running else "idle")
        return f"<Reactor epfd={self._epfd} {state} open={self._st_open}>"

    # ---- running ----------------------------------------------------------

    def time(self):
        """The reactor's monotonic clock, in seconds (as used by call_at)."""
        return _monotonic()

    def is_running(self):
        return self._running

    def is_closed(self):
        return self._closed

    def run(self):
        """Runs until stop(). A KeyboardInterrupt or SystemExit raised in a
        callback stops the loop and is re-raised here."""
        self._check_runnable()
        self._running = True
        self._stopping = False
        try:
            while not self._stopping:
                self._run_once(-1.0)
        finally:
            self._running = False
            self._stopping = False
        self._reraise_exit()

    def run_once(self, timeout=None):
        """Waits at most ``timeout`` seconds (None: until something is due)
        for events, then dispatches them and runs due callbacks."""
        self._check_runnable()
        self._running = True
        try:
            self._run_once(-1.0 if timeout is None else max(0.0, float(timeout)))
        finally:
            self._running = False
            self._stopping = False
        self._reraise_exit()

    def stop(self):
        """Makes run() return after the current iteration. From another
        thread, use ``call_soon_threadsafe(reactor.stop)``."""
        self._stopping = True

    def _check_runnable(self):
        if self._closed:
            raise RuntimeError("the reactor is closed")
        if self._running:
            raise RuntimeError("the reactor is already running")

    def _reraise_exit(self):
        exc = self._exit_exc
        if exc is not None:
            self._exit_exc = None
            raise exc

    cdef double time_now(self) noexcept:
        return self._now

    cdef int _run_once(self, double timeout) except -1:
        cdef int n, i, err, timeout_ms
        cdef _epoll.epoll_event *ev
        timeout_ms = self._compute_timeout_ms(timeout)
        if timeout_ms == 0:
            n = _epoll.epoll_wait(self._epfd, self._events, self._max_events, 0)
        else:
            with nogil:
                n = _epoll.epoll_wait(self._epfd, self._events, self._max_events, timeout_ms)
        if n < 0:
            err = errno
            if err != EINTR:
                _raise_errno(err)
            n = 0
            # Runs Python-level signal handlers; a KeyboardInterrupt from the
            # default SIGINT handler propagates out of run() from here.
            PyErr_CheckSignals()
        self._now = _monotonic()
        self._st_iterations += 1
        if n:
            self._st_waits_with_events += 1
            self._st_events += <uint64_t>n
            ev = self._events
            for i in range(n):
                self._dispatch(ev[i].data.u64, ev[i].events)
        if self._lost:
            self._run_lost()
        if self._timeout_queues:
            self._expire_timeouts()
        if self._timers:
            self._run_timers()
        if self._ready:
            self._run_ready()
        return 0

    cdef int _compute_timeout_ms(self, double timeout) except? -2:
        cdef double delay, deadline
        cdef TimerHandle top
        cdef _TimeoutQueue q
        if self._ready or self._lost or self._stopping:
            return 0
        deadline = -1.0
        if self._timers:
            top = self._timers[0]
            deadline = top._when
        for q in self._timeout_queues:
            if q._head is not None and (deadline < 0.0 or q._head._deadline < deadline):
                deadline = q._head._deadline
        if deadline < 0.0:
            delay = timeout
        else:
            delay = deadline - _monotonic()
            if delay <= 0.0:
                return 0
            if timeout >= 0.0 and timeout < delay:
                delay = timeout
        if delay < 0.0:
            return -1
        # Rounded up: waking a little early would only spin until the
        # deadline; timers never run before their time either way.
        if delay > 86400.0:
            delay = 86400.0
        return <int>ceil(delay * 1000.0)

    cdef int _dispatch(self, uint64_t token, uint32_t events) except -1:
        cdef int fd = <int>(token & 0xffffffffu)
        cdef object owner
        cdef Connection conn
        cdef Listener listener
        if fd >= PyList_GET_SIZE(self._registry):
            return 0
        owner = <object>PyList_GET_ITEM(self._registry, fd)
        if type(owner) is Connection:
            conn = <Connection>owner
            # A stale event for a descriptor closed (and maybe reused)
            # earlier in this batch carries an older generation.
            if conn._token == token:
                conn._on_events(events)
        elif type(owner) is Listener:
            listener = <Listener>owner
            if listener._token == token:
                listener._on_readable()
        elif owner is self:
            if fd == self._wakeup_fd:
                self._drain_wakeup()
            elif fd == self._signal_rfd:
                self._drain_signals()
        return 0

    # ---- the registry -----------------------------------------------------

    cdef uint64_t _register(self, int fd, object owner) except 0:
        cdef Py_ssize_t size = len(self._registry)
        if fd >= size:
            self._registry.extend([None] * (fd + 1 - size + max(size // 2, 64)))
        self._registry[fd] = owner
        self._generation += 1
        if self._generation == 0:
            self._generation = 1
        return (<uint64_t>self._generation << 32) | <uint32_t>fd

    cdef int _unregister(self, int fd) except -1:
        self._registry[fd] = None
        return 0

    cdef int _ctl(self, int op, int fd, uint32_t events, uint64_t token) except -1:
        cdef _epoll.epoll_event ev
        ev.events = events
        ev.data.u64 = token
        if _epoll.epoll_ctl(self._epfd, op, fd, &ev) < 0:
            _raise_errno(errno)
        return 0

    cdef Connection _new_connection(self, int fd, bint tcp):
        cdef Connection conn = Connection.__new__(Connection)
        conn._reactor = self
        conn._fd = fd
        conn._token = self._register(fd, conn)
        self._st_open += 1
        return conn

    cdef int _cork_flush(self) except -1:
        cdef Connection conn = self._cork_conn
        cdef Py_ssize_t length = self._cork_len, sent
        self._cork_conn = None
        self._cork_len = 0
        if conn is None or length == 0 or conn._closed:
            return 0
        sent = conn._send_now(self._cork_buf, length)
        if 0 <= sent < length:
            conn._queue(PyBytes_FromStringAndSize(self._cork_buf + sent, length - sent), 0)
        return 0

    # ---- errors -----------------------------------------------------------

    def set_exception_handler(self, handler):
        """``handler(reactor, context)`` receives errors from callbacks;
        None restores the default, which logs to the ``cyreactor`` logger."""
        if handler is not None and not callable(handler):
            raise TypeError("the exception handler must be callable or None")
        self._exception_handler = handler

    def get_exception_handler(self):
        return self._exception_handler

    def call_exception_handler(self, dict context):
        """Reports ``context`` (a dict with 'message' and maybe 'exception')
        to the exception handler. Never raises."""
        try:
            if self._exception_handler is None:
                self.default_exception_handler(context)
            else:
                self._exception_handler(self, context)
        except BaseException as err:
            if isinstance(err, (KeyboardInterrupt, SystemExit)):
                raise
            try:
                _logger.error("Exception in the exception handler", exc_info=True)
            except BaseException:
                pass

    def default_exception_handler(self, dict context):
        exc = context.get("exception")
        exc_info = (type(exc), exc, exc.__traceback__) if exc is not None else None
        details = "".join(f"\n{key}: {value!r}" for key, value in context.items()
                          if key not in ("message", "exception"))
        _logger.error("%s%s", context.get("message", "Unhandled error in reactor"), details,
                      exc_info=exc_info)

    cdef int _callback_error(self, BaseException exc, str message, object conn) except -1:
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            if self._exit_exc is None:
                self._exit_exc = exc
            self._stopping = True
            return 0
        self._st_callback_errors += 1
        context = {"message": message, "exception": exc}
        if conn is not None:
            context["connection"] = conn
        self.call_exception_handler(context)
        if conn is not None and not (<Connection>conn)._closed:
            (<Connection>conn)._fail(exc)
        return 0

    # ---- callbacks and timers ---------------------------------------------

    cdef TimerHandle _schedule(self, double when, object callback, tuple args):
        """when < 0 means the ready queue (call_soon)."""
        cdef TimerHandle handle = TimerHandle.__new__(TimerHandle)
        handle._reactor = self
        handle._callback = callback
        handle._args = args
        handle._when = when
        if when < 0.0:
            handle._when = self._now
            self._ready.append(handle)
        else:
            self._timer_seq += 1
            handle._seq = self._timer_seq
            handle._scheduled = True
            _heap_push(self._timers, handle)
        return handle

    def call_soon(self, callback, *args):
        """Runs ``callback(*args)`` on the next iteration. Not thread-safe."""
        self._check_callable(callback)
        return self._schedule(-1.0, callback, args)

    def call_later(self, double delay, callback, *args):
        """Runs ``callback(*args)`` after ``delay`` seconds; returns a handle."""
        self._check_callable(callback)
        return self._schedule(_monotonic() + max(delay, 0.0), callback, args)

    def call_at(self, double when, callback, *args):
        """Runs ``callback(*args)`` at reactor time ``when`` (see time())."""
        self._check_callable(callback)
        return self._schedule(max(when, 0.0), callback, args)

    def call_soon_threadsafe(self, callback, *args):
        """call_soon() for other threads: wakes a sleeping reactor."""
        cdef uint64_t one = 1
        cdef TimerHandle handle
        self._check_callable(callback)
        if self._closed:
            raise RuntimeError("the reactor is closed")
        handle = TimerHandle.__new__(TimerHandle)
        handle._reactor = self
        handle._callback = callback
        handle._args = args
        handle._when = self._now
        self._ready.append(handle)
        if not self._wakeup_armed:
            self._wakeup_armed = True
            # EAGAIN means the counter is full: a wake-up is pending anyway.
            _posix.write(self._wakeup_fd, &one, sizeof(one))
        return handle

    def _check_callable(self, callback):
        if not callable(callback):
            raise TypeError(f"callback must be callable, not {type(callback).__name__}")

    cdef int _drain_wakeup(self) except -1:
        cdef uint64_t value
        self._wakeup_armed = False
        _posix.read(self._wakeup_fd, &value, sizeof(value))
        return 0

    cdef int _run_timers(self) except -1:
        cdef list heap = self._timers
        cdef TimerHandle top
        while heap:
            top = heap[0]
            if top._cancelled:
                _heap_pop(heap)
                self._timers_cancelled -= 1
                continue
            if top._when > self._now:
                break
            _heap_pop(heap)
            top._scheduled = False
            self._ready.append(top)
        return 0

    cdef int _run_lost(self) except -1:
        cdef Connection conn
        cdef list lost = self._lost
        self._lost = []
        for conn in lost:
            conn._call_connection_lost()
        return 0

    cdef int _run_ready(self) except -1:
        # Only what is ready now: callbacks that schedule more callbacks run
        # on the next iteration, so events are never starved.
        cdef Py_ssize_t n = len(self._ready)
        cdef TimerHandle handle
        ready = self._ready
        while n > 0:
            n -= 1
            handle = ready.popleft()
            if not handle._cancelled:
                handle._run()
        return 0

    # ---- per-connection timeouts ------------------------------------------

    cdef _TimeoutQueue _timeout_queue(self, double duration):
        cdef _TimeoutQueue q
        # The few durations in use are scanned in C: no float is boxed for
        # a dict lookup on the per-request path.
        for q in self._timeout_queues:
            if q._duration == duration:
                return q
        if len(self._timeout_queues) >= TIMEOUT_QUEUES_PRUNE:
            # Many distinct durations: forget the empty queues (no
            # connection refers to an empty one) so the scan stays short.
            self._timeout_queues = [q for q in self._timeout_queues if (<_TimeoutQueue>q)._head is not None]
        q = _TimeoutQueue.__new__(_TimeoutQueue)
        q._duration = duration
        self._timeout_queues.append(q)
        return q

    cdef int _expire_timeouts(self) except -1:
        cdef _TimeoutQueue q
        cdef Connection conn
        for q in self._timeout_queues:
            while q._head is not None and q._head._deadline <= self._now:
                conn = q._head
                conn._unlink_timeout()
                self._st_timeouts += 1
                conn._on_timeout()
        return 0

    # ---- signals ----------------------------------------------------------

    def add_signal_handler(self, int signum, callback, *args):
        """Runs ``callback(*args)`` on the reactor when ``signum`` arrives.
        Main thread only."""
        cdef int fds[2]
        self._check_callable(callback)
        if self._closed:
            raise RuntimeError("the reactor is closed")
        if threading.current_thread() is not threading.main_thread():
            raise RuntimeError("signal handlers can only be added from the main thread")
        if self._signal_rfd < 0:
            if _posix.pipe2(fds, _posix.O_NONBLOCK | _posix.O_CLOEXEC) < 0:
                _raise_errno(errno)
            self._signal_rfd = fds[0]
            self._signal_wfd = fds[1]
            self._ctl(_epoll.EPOLL_CTL_ADD, self._signal_rfd, _epoll.EPOLLIN,
                      self._register(self._signal_rfd, self))
            self._old_wakeup_fd = _signal.set_wakeup_fd(self._signal_wfd, warn_on_full_buffer=False)
        _signal.signal(signum, _ignore_signal)
        self._signal_handlers[signum] = (callback, args)

    def remove_signal_handler(self, int signum):
        """Restores the default disposition of ``signum``; returns whether a
        handler was installed."""
        if self._signal_handlers.pop(signum, None) is None:
            return False
        _signal.signal(signum, _signal.default_int_handler if signum == _signal.SIGINT else _signal.SIG_DFL)
        return True

    cdef int _drain_signals(self) except -1:
        cdef unsigned char buf[64]
        cdef Py_ssize_t n, i
        while True:
            n = _posix.read(self._signal_rfd, buf, sizeof(buf))
            if n <= 0:
                return 0
            for i in range(n):
                entry = self._signal_handlers.get(buf[i])
                if entry is not None:
                    self._schedule(-1.0, entry[0], entry[1])

    # ---- listening and connecting -------------------------------------

    def listen(self, host, int port, handler_factory, *, int backlog=1024, bint reuse_port=False):
        """Listens on TCP ``host:port`` (IPv4 or IPv6; port 0 picks one) and
        calls ``handler_factory()`` for each accepted connection. Returns a
        Listener; its ``sockname`` gives the bound address."""
        self._check_callable(handler_factory)
        infos = _socket.getaddrinfo(host, port, _socket.AF_UNSPEC, _socket.SOCK_STREAM, 0, _socket.AI_PASSIVE)
        family, _, proto, _, address = infos[0]
        sock = _socket.socket(family, _socket.SOCK_STREAM | _socket.SOCK_NONBLOCK | _socket.SOCK_CLOEXEC, proto)
        try:
            sock.setsockopt(_socket.SOL_SOCKET, _socket.SO_REUSEADDR, 1)
            if reuse_port:
                sock.setsockopt(_socket.SOL_SOCKET, _socket.SO_REUSEPORT, 1)
            if family == _socket.AF_INET6:
                sock.setsockopt(_socket.IPPROTO_IPV6, _socket.IPV6_V6ONLY, 1)
            sock.bind(address)
            sock.listen(backlog)
            sockname = sock.getsockname()
        except BaseException:
            sock.close()
            raise
        return self._add_listener(sock.detach(), handler_factory, True, sockname, None)

    def listen_unix(self, path, handler_factory, *, int backlog=1024):
        """Listens on a Unix stream socket at ``path`` (removed on close)."""
        self._check_callable(handler_factory)
        sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_NONBLOCK | _socket.SOCK_CLOEXEC)
        try:
            sock.bind(path)
            sock.listen(backlog)
        except BaseException:
            sock.close()
            raise
        return self._add_listener(sock.detach(), handler_factory, False, os.fsdecode(path), path)

    def _add_listener(self, int fd, handler_factory, bint tcp, sockname, unix_path):
        cdef Listener listener = Listener.__new__(Listener)
        if self._closed:
            _close_fd(fd)
            raise RuntimeError("the reactor is closed")
        listener._reactor = self
        listener._fd = fd
        listener._factory = handler_factory
        listener._tcp = tcp
        listener._sockname = sockname
        listener._unix_path = unix_path
        listener._token = self._register(fd, listener)
        try:
            self._ctl(_epoll.EPOLL_CTL_ADD, fd, _epoll.EPOLLIN, listener._token)
        except BaseException:
            self._unregister(fd)
            _close_fd(fd)
            raise
        self._listeners.add(listener)
        return listener

    cdef int _listener_closed(self, Listener listener) except -1:
        self._listeners.discard(listener)
        if listener._accept_paused:
            listener._accept_paused = False
            self._accept_paused -= 1
        return 0

    cdef int _descriptor_freed(self) except -1:
        if self._accept_paused:
            self._resume_accepting()
        return 0

    def _retry_accepting(self):
        self._accept_retry = None
        self._resume_accepting()

    cdef int _resume_accepting(self) except -1:
        cdef Listener listener
        if self._accept_retry is not None:
            self._accept_retry.cancel()
            self._accept_retry = None
        for listener in list(self._listeners):
            listener._resume_accepting()
        return 0

    def connect(self, host, int port, handler_factory):
        """Opens an outbound TCP connection to the first address ``host``
        resolves to (resolution blocks: pass an IP address on a busy loop).
        Returns the Connection at once; ``connection_made()`` follows when it
        is established, or ``connection_lost(exc)`` alone if it fails."""
        cdef int fd, err
        cdef Connection conn
        self._check_callable(handler_factory)
        if self._closed:
            raise RuntimeError("the reactor is closed")
        family, _, proto, _, address = _socket.getaddrinfo(host, port, _socket.AF_UNSPEC, _socket.SOCK_STREAM)[0]
        sock = _socket.socket(family, _socket.SOCK_STREAM | _socket.SOCK_NONBLOCK | _socket.SOCK_CLOEXEC, proto)
        try:
            sock.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
            handler = handler_factory()
            if not isinstance(handler, Handler):
                raise TypeError(f"handler factory returned {type(handler).__name__}, not a cyreactor.Handler")
            err = sock.connect_ex(address)
            if err != 0 and err != _posix.EINPROGRESS:
                raise _os_error(err)
        except BaseException:
            sock.close()
            raise
        fd = sock.detach()
        conn = self._new_connection(fd, True)
        conn._peername = address
        conn.handler = handler
        conn._connecting = True
        conn._update_interest()
        return conn

    # ---- introspection and shutdown ---------------------------------------

    def stats(self):
        """Counters kept always (they cost one add each)."""
        return {
            "iterations": self._st_iterations,
            "events": self._st_events,
            "events_per_wait": (self._st_events / self._st_waits_with_events
                                if self._st_waits_with_events else 0.0),
            "accepted": self._st_accepted,
            "connected": self._st_connected,
            "open": self._st_open,
            "closed": self._st_closed,
            "accept_errors": self._st_accept_errors,
            "emfile": self._st_emfile,
            "read_paused": self._st_read_paused,
            "write_paused": self._st_write_paused,
            "bytes_in": self._st_bytes_in,
            "bytes_out": self._st_bytes_out,
            "callback_errors": self._st_callback_errors,
            "timeouts": self._st_timeouts,
            "timers": len(self._timers) - self._timers_cancelled,
            "listeners": len(self._listeners),
        }

    def connections(self):
        """The open connections, as a new list."""
        return [owner for owner in self._registry if type(owner) is Connection]

    def close(self):
        """Aborts every connection (their connection_lost() runs now),
        closes every listener and the reactor's own descriptors, each once."""
        cdef Connection conn
        if self._closed:
            return
        if self._running:
            raise RuntimeError("cannot close a running reactor")
        for owner in list(self._registry):
            if type(owner) is Connection:
                (<Connection>owner).abort()
            elif type(owner) is Listener:
                (<Listener>owner).close()
        # Runs the connection_lost() callbacks of the aborts just made.
        self._run_lost()
        self._run_ready()
        self._ready.clear()
        for signum in list(self._signal_handlers):
            self.remove_signal_handler(signum)
        if self._signal_rfd >= 0:
            try:
                _signal.set_wakeup_fd(-1 if self._old_wakeup_fd is None else self._old_wakeup_fd)
            except ValueError:
                pass
            _close_fd(self._signal_rfd)
            _close_fd(self._signal_wfd)
            self._signal_rfd = self._signal_wfd = -1
        _close_fd(self._wakeup_fd)
        self._wakeup_fd = -1
        _close_fd(self._epfd)
        self._epfd = -1
        self._closed = True
        self._timers = []
        self._registry = []
        self._timeout_queues = []
