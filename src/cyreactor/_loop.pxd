# The whole shape of the reactor in one place: every field and every C-level
# method of Reactor, the event sources it dispatches to (Connection,
# Listener, FdWatcher and its own wake-up and signal descriptors), Handler,
# and the callback handles.
#
# Cython users cimport these (``from cyreactor cimport Handler, Connection``)
# to write handlers that the reactor calls with no Python dispatch.
cimport cython
from libc.stdint cimport uint32_t, uint64_t

from cyreactor cimport _epoll, _posix
from cyreactor._flags cimport flag
from cyreactor._proxyproto cimport ProxyParser
from cyreactor._tls cimport TLSEngine


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
    # asyncio.BufferedProtocol's pair: a handler that overrides get_buffer()
    # receives into its own buffer and is told how much arrived.
    cpdef get_buffer(self, Py_ssize_t sizehint)
    cpdef buffer_updated(self, Py_ssize_t nbytes)

    # True while reads go through get_buffer()/buffer_updated(): set when
    # the connection starts for a class that overrides get_buffer(), or by
    # a Cython handler itself.
    cdef bint _buffered
    # True while received data goes to bytes_received(), the default
    # buffer_received() only wrapping it in ``bytes``: then a bulk transfer
    # is received straight into the bytes object, with no copy. Set when
    # the connection starts for a class with the default buffer_received(),
    # or by a Cython handler that overrides bytes_received() instead.
    cdef bint _takes_bytes

    # Cython-level entry for received bytes. ``data`` points into the
    # reactor's shared read buffer and is valid only during the call: copy
    # what must outlive it. The default wraps it in ``bytes`` for
    # bytes_received(); a Cython handler overrides it to parse in place.
    cdef int buffer_received(self, const char *data, Py_ssize_t length) except -1
    # Received bytes as an object of their own: data_received() by default.
    cdef int bytes_received(self, object data) except -1

    # The TLS handshake of an accepted connection failed before
    # connection_made() (``exc``, an ssl.SSLError): bytes to send in the
    # clear before the connection closes, or None (the default). The HTTP
    # server answers plain HTTP sent to its TLS port with a 400, as nginx
    # does (``exc.reason == "HTTP_REQUEST"``).
    cdef object tls_refusal(self, object exc)


# ---- callbacks -------------------------------------------------------------

cdef class Handle:
    cdef Reactor _reactor
    cdef object _callback
    cdef tuple _args
    cdef object _context
    cdef bint _cancelled
    cdef object _source_traceback

    cpdef cancel(self)
    cdef int _run(self) except -1


@cython.final
cdef class TimerHandle(Handle):
    cdef double _when
    cdef uint64_t _seq
    cdef bint _scheduled


# ---- per-connection deadlines ------------------------------------------------

@cython.final
cdef class _DeadlineQueue:
    # Connections that share one timeout duration, in deadline order: a
    # re-armed deadline always lands at the tail, so arming, re-arming and
    # disarming are O(1) and expiry only ever looks at the head.
    cdef double _duration
    cdef Connection _head
    cdef Connection _tail


# ---- event sources -----------------------------------------------------------

cdef class EventSource:
    # One registered descriptor. The token in the epoll event is
    # generation << 32 | fd, so an event for a descriptor closed (and maybe
    # reused) earlier in the same batch resolves to nothing.
    cdef Reactor _reactor
    cdef int _fd
    cdef uint32_t _interest          # the mask in the epoll set; 0: not in it
    cdef uint64_t _token

    cdef int _on_events(self, uint32_t events) except -1
    cdef int _set_interest(self, uint32_t want) except -1
    cdef int _detach(self) except -1
    cdef int _close_fd(self) except -1


@cython.final
cdef class _Waker(EventSource):
    cdef bint _armed
    cdef int _wake(self) noexcept


@cython.final
cdef class _SignalPipe(EventSource):
    cdef int _write_fd
    cdef object _previous            # (fd, st_dev, st_ino) of the wake-up fd we replaced


@cython.final
cdef class FdWatcher(EventSource):
    cdef Handle _reader
    cdef Handle _writer
    cdef int _update(self) except -1


@cython.final
cdef class Listener(EventSource):
    cdef object _factory
    cdef bint _tcp
    cdef bint _accept_paused
    # What each accepted connection goes through before connection_made():
    # a PROXY protocol header, a TLS handshake (_handshake.pxi).
    cdef object _sslcontext
    cdef bint _proxy_protocol
    cdef double _handshake_timeout
    cdef double _ssl_shutdown_timeout
    cdef object _sockname
    cdef object _unix_path           # the path we bound, or None (abstract, inherited)
    cdef object _unix_inode          # (st_dev, st_ino) of that socket file

    cpdef close(self)
    cdef int _pause_accepting(self) except -1
    cdef int _resume_accepting(self) except -1


@cython.final
cdef class _FileRegion:
    # A part of a file queued for sendfile(2) in a connection's write queue.
    cdef object _file                # keeps the descriptor open while queued
    cdef int _fd
    cdef long long _offset
    cdef long long _remaining
    cdef long long _sent
    cdef object _done                # done(sent, exc), or None


@cython.final
cdef class _ConnExtras:
    # What a connection holds only once something needs it, so that an idle
    # plaintext connection does not (issue 14): its PROXY and TLS state,
    # write watermarks set by hand, the addresses and socket object asked
    # for, the exception for connection_lost().
    # A PROXY protocol header still to come: its parser, freed once done.
    cdef ProxyParser *_proxy
    cdef double _tls_handshake_timeout  # connect(ssl=): armed once the TCP connect is done
    cdef double _tls_shutdown_timeout
    # Plaintext written but not yet encrypted: before the handshake ended,
    # or outside the connection's own read event until the end of the
    # iteration (_cork.pxi's deferred writes); encrypted in order, first.
    cdef list _tls_pending
    # Plaintext after a PROXY header that arrived while reading was paused.
    cdef bytes _held
    cdef Py_ssize_t _high_water
    cdef Py_ssize_t _low_water
    cdef object _peername            # set when not the accepted address (PROXY, connect())
    cdef object _sockname
    cdef object _transport_socket    # get_extra_info("socket"), made on request
    cdef object _lost_exc


@cython.final
cdef class Connection(EventSource):
    cdef readonly Handler handler

    # One byte each, side by side: one object per connection.
    cdef flag _connecting
    cdef flag _reading
    cdef flag _closing
    cdef flag _closed
    cdef flag _eof_received
    cdef flag _eof_pending
    cdef flag _eof_sent
    cdef flag _write_paused
    cdef flag _deferred              # in Reactor._deferred, EPOLLOUT not armed for it
    cdef flag _accepted              # from a Listener (not connect())
    cdef flag _made                  # connection_made() has run
    cdef flag _handshaking           # a PROXY header or TLS handshake is in progress
    cdef flag _tls_ready             # the TLS handshake is complete
    cdef flag _tls_peer_closed       # the peer's close_notify, or EOF, was seen
    cdef flag _tls_closing           # close_notify sent, waiting for the peer's
    cdef flag _bulk                  # the last read was BULK_READ or more (_read_bytes)
    # Packed after the flags with the queue's head index (4-byte aligned
    # both), it keeps the object in a smaller allocator size class.
    cdef _posix.sockaddr_in6 _peer_addr
    cdef int _wq_head                # see _wq below; a list index, far below 2**31

    # Filters between the socket and the handler (_handshake.pxi, _tls.pxi):
    # the TLS engine (None for plaintext; the flags above say where the
    # connection is in the TLS lifecycle), and in _x the rest of their
    # state. _x is None until something needs it; a TLS or PROXY connection
    # always has it.
    cdef TLSEngine _tls
    cdef _ConnExtras _x

    # Unsent data: bytes objects (and _FileRegions) in _wq from index
    # _wq_head on, the first partly sent up to _wq_offset; _wq_size counts
    # the bytes still owed to the kernel, file regions included. Sent
    # entries are dropped in bulk, so draining a long queue is linear.
    cdef list _wq
    cdef Py_ssize_t _wq_offset
    cdef Py_ssize_t _wq_size

    cdef _DeadlineQueue _dqueue
    cdef Connection _dprev
    cdef Connection _dnext
    cdef double _deadline

    # C-level API for Cython handlers (the Python methods are wrappers).
    # True once the connection's TLS handshake has completed: what the
    # handler reads and writes is encrypted on the wire.
    cdef inline bint is_tls(self) noexcept:
        return self._tls_ready
    cdef int write_buffer(self, const char *data, Py_ssize_t length) except -1
    cdef int write_object(self, object data) except -1
    cpdef set_timeout(self, double seconds)
    cdef bint closing(self) noexcept
    cpdef close(self)
    cpdef abort(self)
    cpdef write_eof(self)
    cpdef pause_reading(self)
    cpdef resume_reading(self)

    cdef _ConnExtras _extras(self)
    cdef int _start(self, Handler handler) except -1
    cdef int _call_connection_made(self) except -1
    cdef int _on_readable(self) except -1
    cdef int _read_into_handler(self) except -1
    cdef int _read_bytes(self) except -1
    cdef int _read_nothing(self, Py_ssize_t n, int err) except -1
    cdef int _deliver(self, const char *data, Py_ssize_t length, object owned) except -1
    cdef Py_ssize_t _deliver_copy(self, const char *data, Py_ssize_t length) except -1
    cdef int _on_resumed(self) except -1
    cdef int _on_connected(self) except -1
    cdef int _on_eof(self) except -1
    cdef int _write(self, const char *data, Py_ssize_t length, object owner) except -1
    cdef int _raw_write(self, const char *data, Py_ssize_t length, object owner) except -1
    cdef Py_ssize_t _send_now(self, const char *data, Py_ssize_t length) except -2
    cdef int _queue(self, object data, Py_ssize_t skip) except -1
    cdef int _flush_queue(self) except -1
    cdef int _send_file_region(self, _FileRegion region) except -1
    cdef int _abandon_queue(self, list wq, Py_ssize_t head, object exc) except -1
    cdef int _region_done(self, _FileRegion region, object exc) except -1
    cdef int _update_interest(self) except -1
    cdef int _after_write(self) except -1
    cdef int _drained_closing(self) except -1
    cdef int _maybe_pause_writing(self) except -1
    cdef int _shutdown_write(self) except -1
    cdef int _fail(self, object exc) except -1
    cdef int _teardown(self, object exc) except -1
    cdef int _on_deadline(self) except -1
    cdef int _call_connection_lost(self) except -1


cdef class Reactor:
    cdef int _epfd
    cdef _epoll.epoll_event *_events
    cdef int _max_events
    cdef char *_rbuf
    cdef Py_ssize_t _rbuf_size
    # Where TLS connections decrypt into before the handler sees it: one per
    # reactor, as large as the read buffer, allocated with the first one.
    cdef char *_plain
    # Connections that resumed reading with input held back (ciphertext the
    # TLS engine stashed, plaintext after a PROXY header): delivered after
    # the dispatch, never inside another delivery.
    cdef list _resumed
    cdef list _registry              # fd -> EventSource or None
    cdef uint32_t _generation
    # Tokens of sources closed while the current batch is dispatched: their
    # remaining events in the batch are expected to be stale. Any other
    # stale event means a registration outlived its descriptor (closed
    # behind our back), and the epoll set is rebuilt.
    cdef bint _dispatching
    cdef list _closed_in_batch
    cdef bint _rebuild_needed

    cdef list _ready                 # Handles due now, in order
    cdef list _timers                # heap of TimerHandles
    cdef Py_ssize_t _timers_cancelled
    cdef uint64_t _timer_seq
    cdef list _lost                  # Connections whose connection_lost() is due
    cdef double _now                 # the clock read after the last epoll_wait

    cdef _Waker _waker
    cdef _SignalPipe _signals
    cdef dict _signal_handlers

    cdef list _deadline_queues
    cdef set _listeners
    cdef Py_ssize_t _accept_paused
    cdef TimerHandle _accept_retry

    # The cork: writes a handler makes while its own read event is being
    # dispatched are gathered here and sent with one syscall when the
    # handler returns, so a batch of pipelined responses costs one send(),
    # not one per response. Rules are in _cork.pxi.
    cdef Connection _cork_conn
    cdef char *_cork_buf
    cdef Py_ssize_t _cork_len
    # Connections whose small writes, made outside their own read event
    # (from a task, a timer, another connection's handler), wait in their
    # queue for the end of this iteration: one sendmsg each (_cork.pxi).
    cdef list _deferred

    cdef bint _running
    cdef bint _stopping
    cdef bint _closing
    cdef bint _closed
    cdef unsigned long _thread_id
    # public because asyncio's own methods, which the event loop inherits, read it
    cdef public bint _debug
    cdef public double slow_callback_duration
    cdef object _exception_handler
    cdef object _exit_exc

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
    cdef uint64_t _st_epoll_rebuilds
    cdef uint64_t _st_tls_handshakes
    cdef uint64_t _st_handshake_failures

    cdef int _check_open(self) except -1
    cdef int _check_thread(self) except -1
    cdef Handle _new_handle(self, object callback, tuple args, object context)
    cdef EventSource _source(self, int fd)
    cdef Handle _watch_fd(self, int fd, bint reading, object callback, tuple args)
    cdef bint _unwatch_fd(self, int fd, bint reading) except -1
    cdef Handle _call_soon(self, object callback, tuple args, object context)
    cdef TimerHandle _call_at(self, double when, object callback, tuple args, object context)
    cdef int _run_once(self, double timeout) except -1
    cdef int _compute_timeout_ms(self, double timeout) except? -2
    cdef int _run_timers(self) except -1
    cdef int _run_ready(self) except -1
    cdef int _run_lost(self) except -1
    cdef int _run_resumed(self) except -1
    cdef uint64_t _register(self, int fd, EventSource source) except 0
    cdef int _ctl(self, int op, int fd, uint32_t events, uint64_t token) except -1
    cdef int _source_closed(self, EventSource source) except -1
    cdef int _rebuild_epoll(self) except -1
    cdef int _callback_error(self, BaseException exc, str message, Connection conn) except -1
    cdef int _report_error(self, BaseException exc, dict context, Connection conn) except -1
    cdef Connection _new_connection(self, int fd)
    cdef int _dispatch_signals(self, const unsigned char *signums, Py_ssize_t n) except -1
    cdef int _listener_closed(self, Listener listener) except -1
    cdef int _descriptor_freed(self) except -1
    cdef int _resume_accepting(self) except -1
