# The whole shape of the reactor in one place: every field and every C-level
# method of Reactor, Connection, Listener, Handler and TimerHandle.
#
# Cython users cimport these (``from cyreactor cimport Handler, Connection``)
# to write handlers that the reactor calls with no Python dispatch.
cimport cython
from libc.stdint cimport uint32_t, uint64_t

from cyreactor cimport _epoll, _posix


cdef class Reactor
cdef class Connection


cdef class Handler:
    """Base of every connection handler; asyncio.Protocol's method names."""

    cpdef connection_made(self, Connection conn)
    cpdef data_received(self, object data)
    cpdef eof_received(self)
    cpdef connection_lost(self, object exc)
    cpdef pause_writing(self)
    cpdef resume_writing(self)
    cpdef timeout_expired(self)

    # Cython-level entry for received bytes. ``data`` points into the
    # reactor's shared read buffer and is valid only during the call: copy
    # what must outlive it. The default wraps it in ``bytes`` and calls
    # data_received(); a Cython handler overrides it to parse in place.
    cdef int buffer_received(self, const char *data, Py_ssize_t length) except -1


@cython.final
cdef class TimerHandle:
    cdef Reactor _reactor
    cdef double _when
    cdef uint64_t _seq
    cdef object _callback
    cdef tuple _args
    cdef bint _cancelled
    cdef bint _scheduled

    cpdef cancel(self)
    cdef int _run(self) except -1


@cython.final
cdef class _TimeoutQueue:
    # Connections that share one timeout duration, in deadline order: a
    # re-armed timeout always lands at the tail, so arming, re-arming and
    # disarming are O(1) and expiry only ever looks at the head.
    cdef double _duration
    cdef Connection _head
    cdef Connection _tail


@cython.final
cdef class Listener:
    cdef Reactor _reactor
    cdef int _fd
    cdef uint64_t _token
    cdef object _factory
    cdef bint _tcp
    cdef bint _accept_paused
    cdef object _sockname
    cdef object _unix_path

    cpdef close(self)
    cdef int _on_readable(self) except -1
    cdef int _pause_accepting(self) except -1
    cdef int _resume_accepting(self) except -1


@cython.final
cdef class Connection:
    cdef Reactor _reactor
    cdef readonly Handler handler
    cdef int _fd
    cdef uint64_t _token
    cdef uint32_t _interest
    cdef bint _registered

    cdef bint _connecting
    cdef bint _reading
    cdef bint _closing
    cdef bint _closed
    cdef bint _eof_received
    cdef bint _eof_pending
    cdef bint _eof_sent
    cdef bint _write_paused

    # Unsent data: a list of bytes-like objects, the first partly sent up to
    # _wq_offset; _wq_size counts the bytes still owed to the kernel.
    cdef list _wq
    cdef Py_ssize_t _wq_offset
    cdef Py_ssize_t _wq_size
    cdef Py_ssize_t _high_water
    cdef Py_ssize_t _low_water

    cdef _TimeoutQueue _tqueue
    cdef Connection _tprev
    cdef Connection _tnext
    cdef double _deadline

    cdef _posix.sockaddr_in6 _peer_addr
    cdef object _peername
    cdef object _sockname
    cdef object _lost_exc

    # C-level API for Cython handlers (the Python methods are wrappers).
    cdef int write_buffer(self, const char *data, Py_ssize_t length) except -1
    cdef int write_object(self, object data) except -1
    cpdef int set_timeout(self, double seconds) except -1
    cdef bint closing(self) noexcept
    cpdef close(self)
    cpdef abort(self)
    cpdef write_eof(self)
    cpdef pause_reading(self)
    cpdef resume_reading(self)

    cdef int _start(self, Handler handler) except -1
    cdef int _on_events(self, uint32_t events) except -1
    cdef int _on_readable(self) except -1
    cdef int _on_writable(self) except -1
    cdef int _on_connected(self) except -1
    cdef int _write(self, const char *data, Py_ssize_t length, object owner) except -1
    cdef Py_ssize_t _send_now(self, const char *data, Py_ssize_t length) except -2
    cdef int _queue(self, object data, Py_ssize_t skip) except -1
    cdef int _flush_queue(self) except -1
    cdef int _update_interest(self) except -1
    cdef int _after_write(self) except -1
    cdef int _maybe_pause_writing(self) except -1
    cdef int _fail(self, object exc) except -1
    cdef int _teardown(self, object exc) except -1
    cdef int _on_timeout(self) except -1
    cdef int _call_connection_lost(self) except -1
    cdef int _unlink_timeout(self) noexcept


cdef class Reactor:
    cdef int _epfd
    cdef _epoll.epoll_event *_events
    cdef int _max_events
    cdef char *_rbuf
    cdef Py_ssize_t _rbuf_size
    cdef list _registry
    cdef uint32_t _generation

    cdef list _timers
    cdef Py_ssize_t _timers_cancelled
    cdef uint64_t _timer_seq
    cdef object _ready
    cdef list _lost
    cdef double _now

    cdef int _wakeup_fd
    cdef bint _wakeup_armed
    cdef int _signal_rfd
    cdef int _signal_wfd
    cdef object _old_wakeup_fd
    cdef dict _signal_handlers

    cdef list _timeout_queues
    cdef set _listeners
    cdef Py_ssize_t _accept_paused
    cdef TimerHandle _accept_retry

    # Writes a handler makes while its own read event is being dispatched are
    # gathered here and sent with one syscall when the handler returns, so a
    # batch of pipelined responses costs one send(), not one per response.
    cdef Connection _cork_conn
    cdef char *_cork_buf
    cdef Py_ssize_t _cork_len

    cdef bint _running
    cdef bint _stopping
    cdef bint _closed
    cdef object _exception_handler
    cdef object _exit_exc
    cdef object _logger

    cdef uint64_t _st_iterations
    cdef uint64_t _st_waits_with_events
    cdef uint64_t _st_events
    cdef uint64_t _st_accepted
    cdef uint64_t _st_connected
    cdef uint64_t _st_closed
    cdef Py_ssize_t _st_open
    cdef uint64_t _st_accept_errors
    cdef uint64_t _st_emfile
    cdef uint64_t _st_read_paused
    cdef uint64_t _st_write_paused
    cdef uint64_t _st_bytes_in
    cdef uint64_t _st_bytes_out
    cdef uint64_t _st_callback_errors
    cdef uint64_t _st_timeouts

    cdef double time_now(self) noexcept
    cdef TimerHandle _schedule(self, double when, object callback, tuple args)
    cdef int _run_once(self, double timeout) except -1
    cdef int _compute_timeout_ms(self, double timeout) except? -2
    cdef int _run_timers(self) except -1
    cdef int _run_ready(self) except -1
    cdef int _run_lost(self) except -1
    cdef int _expire_timeouts(self) except -1
    cdef _TimeoutQueue _timeout_queue(self, double duration)
    cdef int _dispatch(self, uint64_t token, uint32_t events) except -1
    cdef uint64_t _register(self, int fd, object owner) except 0
    cdef int _unregister(self, int fd) except -1
    cdef int _ctl(self, int op, int fd, uint32_t events, uint64_t token) except -1
    cdef int _cork_flush(self) except -1
    cdef int _callback_error(self, BaseException exc, str message, object conn) except -1
    cdef Connection _new_connection(self, int fd, bint tcp)
    cdef int _drain_wakeup(self) except -1
    cdef int _drain_signals(self) except -1
    cdef int _listener_closed(self, Listener listener) except -1
    cdef int _descriptor_freed(self) except -1
    cdef int _resume_accepting(self) except -1
