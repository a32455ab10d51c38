# Reactor: the epoll set and its registry, the loop (wait, dispatch, lost
# connections, deadlines, timers, ready callbacks), the callback API, error
# reporting, listening and connecting, and an orderly close.


cdef class Reactor:
    """A Linux epoll reactor.

    ``Reactor(max_events=1024, read_buffer_size=256 KiB)``. Use it as a
    context manager, or call ``close()`` when done.
    """

    def __cinit__(self, int max_events=DEFAULT_MAX_EVENTS, Py_ssize_t read_buffer_size=DEFAULT_READ_BUFFER,
                  *args, **kwargs):
        cdef int fd
        self._epfd = -1
        if max_events < 1 or read_buffer_size < 1024:
            raise ValueError("max_events must be >= 1 and read_buffer_size >= 1024")
        self._registry = []
        self._closed_in_batch = []
        self._ready = []
        self._deferred = []
        self._timers = []
        self._lost = []
        self._resumed = []
        self._signal_handlers = {}
        self._deadline_queues = []
        self._listeners = set()
        self.slow_callback_duration = 0.1
        self._now = _monotonic()
        self._max_events = max_events
        self._rbuf_size = read_buffer_size
        self._events = <_epoll.epoll_event *>malloc(max_events * sizeof(_epoll.epoll_event))
        self._rbuf = <char *>malloc(read_buffer_size)
        self._cork_buf = <char *>malloc(CORK_CAPACITY)
        if self._events == NULL or self._rbuf == NULL or self._cork_buf == NULL:
            raise MemoryError()
        self._epfd = _epoll.epoll_create1(_epoll.EPOLL_CLOEXEC)
        if self._epfd < 0:
            _raise_errno(errno)
        fd = _posix.eventfd(0, _posix.EFD_NONBLOCK | _posix.EFD_CLOEXEC)
        if fd < 0:
            _raise_errno(errno)
        self._waker = _Waker.__new__(_Waker, _PRIVATE)
        self._register(fd, self._waker)
        self._waker._set_interest(_epoll.EPOLLIN)

    def __dealloc__(self):
        # Python-level state may be gone by now; only C resources are freed
        # (descriptors were closed by close() or __del__).
        if self._epfd >= 0:
            _close(self._epfd)
        free(self._events)
        free(self._rbuf)
        free(self._plain)
        free(self._cork_buf)

    def __del__(self):
        # A reactor dropped without close(): as asyncio does for a loop,
        # warn, and release the descriptors (no callbacks run from here).
        if self._closed or self._epfd < 0:
            return
        try:
            warnings.warn(f"unclosed reactor {self!r}", ResourceWarning, source=self)
        except BaseException:
            pass
        self._release_descriptors()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def __repr__(self):
        state = "closed" if self._closed else ("running" if self._running else "idle")
        return f"<{type(self).__name__} epfd={self._epfd} {state} open={self._st_open}>"

    # ---- running ----------------------------------------------------------

    def time(self):
        """The reactor's monotonic clock, in seconds (as used by call_at);
        the clock of time.monotonic()."""
        return _monotonic()

    def is_running(self):
        return self._running

    def is_closed(self):
        return self._closed

    def run(self):
        """Runs until stop(). A KeyboardInterrupt or SystemExit raised in a
        callback stops the loop and is re-raised here. After a stop() made
        before run(), it polls once and returns, as asyncio's run_forever()
        does."""
        self._check_runnable()
        self._running = True
        self._thread_id = PyThread_get_thread_ident()
        try:
            while True:
                self._run_once(-1.0)
                if self._stopping:
                    break
        finally:
            self._running = False
            self._stopping = False
            self._thread_id = 0
        self._reraise_exit()

    def run_once(self, timeout=None):
        """Waits at most ``timeout`` seconds (None: until something is due)
        for events, then dispatches them and runs due callbacks."""
        cdef double wait = -1.0 if timeout is None else _checked_delay(timeout, "timeout")
        self._check_runnable()
        self._running = True
        self._thread_id = PyThread_get_thread_ident()
        try:
            self._run_once(wait)
        finally:
            self._running = False
            self._stopping = False
            self._thread_id = 0
        self._reraise_exit()

    def stop(self):
        """Makes run() return after the current iteration. Safe from any
        thread: a reactor waiting in epoll_wait() is woken."""
        self._stopping = True
        if self._running and PyThread_get_thread_ident() != self._thread_id:
            self._waker._wake()

    def _check_runnable(self):
        if self._closed or self._closing:
            raise RuntimeError("the reactor is closed")
        if self._running:
            raise RuntimeError("the reactor is already running")

    def _reraise_exit(self):
        exc = self._exit_exc
        if exc is not None:
            self._exit_exc = None
            raise exc

    cdef int _check_open(self) except -1:
        if self._closed or self._closing:
            raise RuntimeError("the reactor is closed")
        return 0

    cdef int _run_once(self, double timeout) except -1:
        cdef int n, i, err, timeout_ms, fd
        cdef uint64_t token
        cdef EventSource source
        cdef list registry
        cdef _epoll.epoll_event *ev = self._events
        timeout_ms = self._compute_timeout_ms(timeout)
        if timeout_ms == 0:
            n = _epoll.epoll_wait(self._epfd, ev, self._max_events, 0)
        else:
            with nogil:
                n = _epoll.epoll_wait(self._epfd, ev, self._max_events, timeout_ms)
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
            self._dispatching = True
            registry = self._registry
            try:
                for i in range(n):
                    token = ev[i].data.u64
                    fd = <int>(token & 0xffffffffu)
                    if fd < PyList_GET_SIZE(registry):
                        source = <EventSource>PyList_GET_ITEM(registry, fd)
                        if source is not None and source._token == token:
                            source._on_events(ev[i].events)
                            continue
                    # A stale token: fine if its source closed earlier in
                    # this batch, otherwise a registration has outlived its
                    # descriptor (see the readiness contract).
                    if token not in self._closed_in_batch:
                        self._rebuild_needed = True
            finally:
                self._dispatching = False
                if self._closed_in_batch:
                    self._closed_in_batch.clear()
            if self._rebuild_needed:
                self._rebuild_epoll()
        if self._resumed:
            self._run_resumed()
        if self._lost:
            self._run_lost()
        if self._deadline_queues:
            _expire_deadlines(self)
        if self._timers:
            self._run_timers()
        if self._ready:
            self._run_ready()
        if self._deferred:
            _flush_deferred(self)
        return 0

    cdef int _compute_timeout_ms(self, double timeout) except? -2:
        cdef double delay, deadline, d
        cdef TimerHandle top
        if self._ready or self._lost or self._deferred or self._resumed or self._stopping:
            return 0
        deadline = -1.0
        if self._timers:
            top = self._timers[0]
            deadline = top._when
        d = _next_deadline(self)
        if d >= 0.0 and (deadline < 0.0 or d < deadline):
            deadline = d
        if deadline < 0.0:
            delay = timeout
        else:
            delay = deadline - _monotonic()
            if timeout >= 0.0 and timeout < delay:
                delay = timeout
        if timeout < 0.0 and deadline < 0.0:
            return -1
        # Clamped whatever the inputs: never negative (which would wait
        # for ever), never NaN, at most a day; rounded up, since waking a
        # little early would only spin until the deadline.
        if not delay > 0.0:
            return 0
        if delay > MAX_WAIT:
            delay = MAX_WAIT
        return <int>ceil(delay * 1000.0)

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

    cdef int _run_resumed(self) except -1:
        cdef Connection conn
        cdef list resumed = self._resumed
        self._resumed = []
        for conn in resumed:
            if conn._reading and not conn._closed:
                conn._on_resumed()
        return 0

    cdef int _run_ready(self) except -1:
        # Only what is ready now: callbacks that schedule more callbacks run
        # on the next iteration, so events are never starved. A
        # KeyboardInterrupt or SystemExit stops the batch; the rest stays
        # queued for the next run, as in asyncio.
        cdef list ready = self._ready
        cdef Py_ssize_t n = PyList_GET_SIZE(ready), i = 0
        cdef Handle handle
        cdef double t0, took
        try:
            while i < n and self._exit_exc is None:
                handle = <Handle>PyList_GET_ITEM(ready, i)
                i += 1
                if handle._cancelled:
                    continue
                if self._debug:
                    t0 = _monotonic()
                    handle._run()
                    took = _monotonic() - t0
                    if took >= self.slow_callback_duration:
                        _logger.warning("Executing %r took %.3f seconds", handle, took)
                else:
                    handle._run()
        finally:
            del ready[:i]
        return 0

    # ---- the registry -----------------------------------------------------

    cdef uint64_t _register(self, int fd, EventSource source) except 0:
        cdef Py_ssize_t size = len(self._registry)
        if fd >= size:
            self._registry.extend([None] * (fd + 1 - size + max(size // 2, 64)))
        self._generation += 1
        if self._generation == 0:
            self._generation = 1
        source._reactor = self
        source._fd = fd
        source._token = (<uint64_t>self._generation << 32) | <uint32_t>fd
        source._interest = 0
        self._registry[fd] = source
        return source._token

    cdef int _source_closed(self, EventSource source) except -1:
        if source._fd < PyList_GET_SIZE(self._registry) and self._registry[source._fd] is source:
            self._registry[source._fd] = None
        if self._dispatching:
            self._closed_in_batch.append(source._token)
        return 0

    cdef int _ctl(self, int op, int fd, uint32_t events, uint64_t token) except -1:
        cdef _epoll.epoll_event ev
        ev.events = events
        ev.data.u64 = token
        if _epoll.epoll_ctl(self._epfd, op, fd, &ev) < 0:
            _raise_errno(errno)
        return 0

    cdef int _rebuild_epoll(self) except -1:
        # A registration whose descriptor is gone cannot be removed with
        # epoll_ctl(2); a new epoll set holding only the live sources can.
        cdef int epfd, old
        cdef EventSource source
        cdef _epoll.epoll_event ev
        self._rebuild_needed = False
        epfd = _epoll.epoll_create1(_epoll.EPOLL_CLOEXEC)
        if epfd < 0:
            _raise_errno(errno)
        failed = []
        for source in [s for s in self._registry if s is not None]:
            if source._interest:
                ev.events = source._interest
                ev.data.u64 = source._token
                if _epoll.epoll_ctl(epfd, _epoll.EPOLL_CTL_ADD, source._fd, &ev) < 0:
                    failed.append((source, _os_error(errno)))
        old = self._epfd
        self._epfd = epfd
        _close(old)
        self._st_epoll_rebuilds += 1
        self.call_exception_handler({
            "message": "a descriptor was closed while still registered with the reactor "
                       "(close it through its owner: Connection.close(), remove_reader(), ...); "
                       "the epoll set was rebuilt",
        })
        for source, exc in failed:
            source._interest = 0
            if isinstance(source, Connection):
                (<Connection>source)._fail(exc)
        return 0

    cdef Connection _new_connection(self, int fd):
        cdef Connection conn = Connection.__new__(Connection, _PRIVATE)
        self._register(fd, conn)
        self._st_open += 1
        return conn

    # ---- errors -----------------------------------------------------------

    def set_exception_handler(self, handler):
        """``handler(reactor, context)`` receives errors from callbacks;
        None restores the default, which logs to the ``cyreactor`` logger."""
        if handler is not None and not callable(handler):
            raise TypeError(f"A callable object or None is expected, got {handler!r}")
        self._exception_handler = handler

    def get_exception_handler(self):
        return self._exception_handler

    def call_exception_handler(self, dict context):
        """Reports ``context`` (a dict with 'message' and maybe 'exception')
        to the exception handler. Never raises but KeyboardInterrupt and
        SystemExit; a handler that fails is reported with the original
        context, as asyncio does."""
        if self._exception_handler is None:
            try:
                self.default_exception_handler(context)
            except (KeyboardInterrupt, SystemExit):
                raise
            except BaseException:
                _logger.error("Exception in default exception handler", exc_info=True)
            return
        try:
            self._exception_handler(self, context)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:
            try:
                self.default_exception_handler({
                    "message": "Unhandled error in exception handler",
                    "exception": exc,
                    "context": context,
                })
            except (KeyboardInterrupt, SystemExit):
                raise
            except BaseException:
                _logger.error("Exception in default exception handler while handling an "
                              "unexpected error in custom exception handler", exc_info=True)

    def default_exception_handler(self, dict context):
        """Logs ``context`` to the ``cyreactor`` logger, with the traceback."""
        exc = context.get("exception")
        exc_info = (type(exc), exc, exc.__traceback__) if exc is not None else False
        details = "".join(f"\n{key}: {value!r}" for key, value in context.items()
                          if key not in ("message", "exception"))
        _logger.error("%s%s", context.get("message", "Unhandled error in reactor"), details,
                      exc_info=exc_info)

    cdef int _callback_error(self, BaseException exc, str message, Connection conn) except -1:
        return self._report_error(exc, {"message": message, "exception": exc}, conn)

    cdef int _report_error(self, BaseException exc, dict context, Connection conn) except -1:
        """The one place user-code errors go: KeyboardInterrupt and
        SystemExit stop the loop (run() re-raises them); anything else goes
        to the exception handler and costs only ``conn``, if given."""
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            if self._exit_exc is None:
                self._exit_exc = exc
            self._stopping = True
            return 0
        self._st_callback_errors += 1
        if conn is not None:
            context.setdefault("connection", conn)
        try:
            self.call_exception_handler(context)
        except (KeyboardInterrupt, SystemExit) as exit_exc:
            if self._exit_exc is None:
                self._exit_exc = exit_exc
            self._stopping = True
        if conn is not None and not conn._closed:
            conn._fail(exc)
        return 0

    # ---- callbacks and timers ---------------------------------------------

    def get_debug(self):
        return self._debug

    def set_debug(self, enabled):
        """Debug mode: callbacks slower than ``slow_callback_duration`` are
        logged, and non-thread-safe calls from other threads raise."""
        self._debug = bool(enabled)

    cdef Handle _new_handle(self, object callback, tuple args, object context):
        cdef Handle handle = Handle.__new__(Handle)
        handle._reactor = self
        handle._callback = callback
        handle._args = args
        handle._context = _cpython.PyContext_CopyCurrent() if context is None else context
        return handle

    cdef Handle _call_soon(self, object callback, tuple args, object context):
        cdef Handle handle = self._new_handle(callback, args, context)
        self._ready.append(handle)
        return handle

    cdef TimerHandle _call_at(self, double when, object callback, tuple args, object context):
        cdef TimerHandle handle = TimerHandle.__new__(TimerHandle)
        handle._reactor = self
        handle._callback = callback
        handle._args = args
        handle._context = _cpython.PyContext_CopyCurrent() if context is None else context
        handle._when = when
        self._timer_seq += 1
        handle._seq = self._timer_seq
        handle._scheduled = True
        _heap_push(self._timers, handle)
        return handle

    def call_soon(self, callback, *args, context=None):
        """Runs ``callback(*args)`` on the next iteration, in ``context``
        (default: a copy of the current contextvars context). Not
        thread-safe: use call_soon_threadsafe() from other threads."""
        _check_callback(callback, "call_soon")
        self._check_open()
        if self._debug:
            self._check_thread()
        return self._call_soon(callback, args, context)

    def call_later(self, delay, callback, *args, context=None):
        """Runs ``callback(*args)`` after ``delay`` seconds; returns a
        TimerHandle. An infinite delay never fires; NaN is refused."""
        cdef double d = _checked_delay(delay, "delay")
        _check_callback(callback, "call_later")
        self._check_open()
        if self._debug:
            self._check_thread()
        return self._call_at(_monotonic() + d, callback, args, context)

    def call_at(self, when, callback, *args, context=None):
        """Runs ``callback(*args)`` at reactor time ``when`` (see time())."""
        cdef double w = _checked_delay(when, "when")
        _check_callback(callback, "call_at")
        self._check_open()
        if self._debug:
            self._check_thread()
        return self._call_at(w, callback, args, context)

    def call_soon_threadsafe(self, callback, *args, context=None):
        """call_soon() for other threads: wakes a sleeping reactor."""
        cdef Handle handle
        _check_callback(callback, "call_soon_threadsafe")
        self._check_open()
        handle = self._call_soon(callback, args, context)
        self._waker._wake()
        return handle

    cdef int _check_thread(self) except -1:
        if self._thread_id and PyThread_get_thread_ident() != self._thread_id:
            raise RuntimeError("Non-thread-safe operation invoked on an event loop other "
                               "than the current one")
        return 0

    # ---- descriptors the caller owns (asyncio's add_reader family) ----------

    def add_reader(self, fd, callback, *args):
        """Runs ``callback(*args)`` whenever ``fd`` (an int or an object
        with fileno()) is readable, until remove_reader(fd)."""
        self._watch(fd, True, callback, args)

    def add_writer(self, fd, callback, *args):
        """Runs ``callback(*args)`` whenever ``fd`` is writable, until
        remove_writer(fd)."""
        self._watch(fd, False, callback, args)

    def remove_reader(self, fd):
        """Stops watching ``fd`` for reading; returns whether it was."""
        return self._unwatch(fd, True)

    def remove_writer(self, fd):
        """Stops watching ``fd`` for writing; returns whether it was."""
        return self._unwatch(fd, False)

    def _source_at(self, int fd):
        """What the reactor watches at descriptor ``fd``, or None."""
        return self._source(fd)

    cdef EventSource _source(self, int fd):
        if 0 <= fd < PyList_GET_SIZE(self._registry):
            return <EventSource>PyList_GET_ITEM(self._registry, fd)
        return None

    def _watch(self, fileobj, bint reading, callback, tuple args):
        _check_callback(callback, "add_reader" if reading else "add_writer")
        return self._watch_fd(_fileobj_to_fd(fileobj), reading, callback, args)

    def _unwatch(self, fileobj, bint reading):
        if self._closed:
            return False
        return self._unwatch_fd(_fileobj_to_fd(fileobj), reading)

    cdef Handle _watch_fd(self, int fd, bint reading, object callback, tuple args):
        cdef FdWatcher watcher
        cdef Handle old, handle
        self._check_open()
        source = self._source(fd)
        if source is None:
            watcher = FdWatcher.__new__(FdWatcher, _PRIVATE)
            self._register(fd, watcher)
        elif type(source) is FdWatcher:
            watcher = source
        else:
            raise RuntimeError(f"File descriptor {fd!r} is used by transport {source!r}")
        handle = self._new_handle(callback, args, None)
        if reading:
            old, watcher._reader = watcher._reader, handle
        else:
            old, watcher._writer = watcher._writer, handle
        try:
            watcher._update()
        except BaseException:
            if reading:
                watcher._reader = old
            else:
                watcher._writer = old
            watcher._update()
            raise
        if old is not None:
            old.cancel()
        return handle

    cdef bint _unwatch_fd(self, int fd, bint reading) except -1:
        cdef FdWatcher watcher
        cdef Handle old
        source = self._source(fd)
        if type(source) is not FdWatcher:
            return False
        watcher = source
        if reading:
            old, watcher._reader = watcher._reader, None
        else:
            old, watcher._writer = watcher._writer, None
        if old is None:
            return False
        old.cancel()
        watcher._update()
        return True

    # ---- signals ----------------------------------------------------------

    def add_signal_handler(self, sig, callback, *args):
        """Runs ``callback(*args)`` on the reactor when signal ``sig``
        arrives (not in signal context). Main thread only."""
        _check_callback(callback, "add_signal_handler")
        if _cpython.PyCoro_CheckExact(callback) or _is_coroutine_function(callback):
            raise TypeError("coroutines cannot be used with add_signal_handler()")
        _check_signal(sig)
        self._check_open()
        if threading.current_thread() is not threading.main_thread():
            raise RuntimeError("signal handlers can only be added from the main thread")
        if self._signals is None:
            self._signals = _open_signal_pipe(self)
        if sig not in self._signal_handlers:
            try:
                _take_signal(sig)
            except OSError as exc:
                if exc.errno == _errno_mod.EINVAL:
                    raise RuntimeError(f"sig {sig:d} cannot be caught") from None
                raise
        self._signal_handlers[sig] = (callback, args)

    def remove_signal_handler(self, sig):
        """Gives ``sig`` back its disposition from before; returns whether
        a handler was installed."""
        _check_signal(sig)
        if self._signal_handlers.pop(sig, None) is None:
            return False
        _release_signal(sig)
        return True

    cdef int _dispatch_signals(self, const unsigned char *signums, Py_ssize_t n) except -1:
        cdef Py_ssize_t i
        for i in range(n):
            entry = self._signal_handlers.get(signums[i])
            if entry is not None:
                self._call_soon(entry[0], entry[1], None)
        return 0

    # ---- listening and connecting -------------------------------------

    def listen(self, host, int port, handler_factory, *, int backlog=1024, bint reuse_port=False, ssl=None,
               bint proxy_protocol=False, handshake_timeout=None, ssl_shutdown_timeout=None):
        """Listens on TCP ``host:port`` (IPv4 or IPv6; port 0 picks one) and
        calls ``handler_factory()`` for each accepted connection. Returns a
        Listener; its ``sockname`` gives the bound address.

        ``ssl``: an ssl.SSLContext (server side, as asyncio takes it): each
        connection is TLS, connection_made() follows the handshake, and the
        handler sees plaintext. ``proxy_protocol``: each connection must
        start with a PROXY protocol v1 or v2 header (HAProxy's spec), whose
        client address becomes its peername; one without is closed. The
        header and the handshake must complete within
        ``handshake_timeout`` seconds of the accept (default 10); a
        connection that fails either closes quietly (logged at debug level,
        counted in stats()["handshake_failures"]): its handler hears
        nothing. ``ssl_shutdown_timeout``: how long close() waits for the
        peer's close_notify (default 30, asyncio's)."""
        _check_callback(handler_factory, "listen")
        self._check_open()
        stage = _stage_settings(ssl, proxy_protocol, handshake_timeout, ssl_shutdown_timeout)
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
        except BaseException:
            sock.close()
            raise
        return self._add_listener(sock, handler_factory, None, None, stage)

    def listen_unix(self, path, handler_factory, *, int backlog=1024, ssl=None, bint proxy_protocol=False,
                    handshake_timeout=None, ssl_shutdown_timeout=None):
        """Listens on a Unix stream socket at ``path`` (a file removed on
        close, or a Linux abstract name starting with a NUL). A stale socket
        file nobody listens on is replaced. ``ssl``, ``proxy_protocol`` and
        the timeouts as for listen()."""
        _check_callback(handler_factory, "listen_unix")
        self._check_open()
        stage = _stage_settings(ssl, proxy_protocol, handshake_timeout, ssl_shutdown_timeout)
        abstract = _is_abstract(path)
        if not abstract:
            _remove_stale_socket_file(path)
        sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_NONBLOCK | _socket.SOCK_CLOEXEC)
        try:
            sock.bind(path)
            sock.listen(backlog)
        except BaseException:
            sock.close()
            raise
        if abstract:
            return self._add_listener(sock, handler_factory, None, None, stage)
        return self._add_listener(sock, handler_factory, path, _socket_file_id(path), stage)

    def listen_socket(self, sock, handler_factory, *, int backlog=1024, ssl=None, bint proxy_protocol=False,
                      handshake_timeout=None, ssl_shutdown_timeout=None):
        """Serves an already bound socket (inherited, from systemd socket
        activation, made by hand): TCP or Unix stream. The reactor takes it
        over (``sock`` is detached) and closes it with the listener; it
        calls listen() on it if nobody did. ``ssl``, ``proxy_protocol`` and
        the timeouts as for listen()."""
        _check_callback(handler_factory, "listen_socket")
        self._check_open()
        stage = _stage_settings(ssl, proxy_protocol, handshake_timeout, ssl_shutdown_timeout)
        if sock.type != _socket.SOCK_STREAM:
            raise ValueError(f"a stream socket is needed, not {sock!r}")
        sock.setblocking(False)
        if not sock.getsockopt(_socket.SOL_SOCKET, _socket.SO_ACCEPTCONN):
            sock.listen(backlog)
        return self._add_listener(sock, handler_factory, None, None, stage)

    def _add_listener(self, sock, handler_factory, unix_path, unix_inode, tuple stage):
        cdef Listener listener = Listener.__new__(Listener, _PRIVATE)
        listener._sslcontext, listener._proxy_protocol, listener._handshake_timeout, \
            listener._ssl_shutdown_timeout = stage
        try:
            listener._tcp = sock.family in (_socket.AF_INET, _socket.AF_INET6)
            sockname = sock.getsockname()
            listener._sockname = os.fsdecode(sockname) if isinstance(sockname, bytes) else sockname
            self._check_open()
        except BaseException:
            sock.close()
            raise
        listener._factory = handler_factory
        listener._unix_path = unix_path
        listener._unix_inode = unix_inode
        self._register(sock.detach(), listener)
        try:
            listener._set_interest(_epoll.EPOLLIN)
        except BaseException:
            listener.close()
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

    def connect(self, host, int port, handler_factory, *, timeout=None, ssl=None, server_hostname=None,
                handshake_timeout=None, ssl_shutdown_timeout=None):
        """Opens an outbound TCP connection to the first address ``host``
        resolves to (resolution blocks: pass an IP address on a busy loop).
        Returns the Connection at once; ``connection_made()`` follows when it
        is established, or ``connection_lost(exc)`` alone if it fails —
        with ``TimeoutError`` if ``timeout`` seconds pass first.

        ``ssl``: an ssl.SSLContext (client side; True: the default context,
        ``ssl.create_default_context()``), as asyncio's create_connection()
        takes it: connection_made() follows the handshake, which must
        complete within ``handshake_timeout`` seconds of the connect
        (default 10; ``ConnectionAbortedError`` otherwise), and a failed
        handshake is ``connection_lost(exc)`` alone with the ssl.SSLError.
        ``server_hostname``: the name the certificate is checked against and
        sent as SNI (default ``host``; "" sends none and checks none, which
        the context must allow)."""
        cdef int fd, err
        cdef Connection conn
        cdef TLSEngine engine = None
        cdef double limit = 0.0 if timeout is None else _checked_delay(timeout, "timeout")
        cdef double handshake = _positive_delay(handshake_timeout, DEFAULT_HANDSHAKE_TIMEOUT, "handshake_timeout")
        cdef double shutdown = _positive_delay(ssl_shutdown_timeout, DEFAULT_SSL_SHUTDOWN_TIMEOUT,
                                               "ssl_shutdown_timeout")
        _check_callback(handler_factory, "connect")
        self._check_open()
        if ssl is not None:
            if ssl is True:
                ssl = _sslmod.create_default_context()
            if server_hostname is None:
                server_hostname = host
            engine = _new_engine(ssl, False, server_hostname or None)
        elif server_hostname is not None or handshake_timeout is not None or ssl_shutdown_timeout is not None:
            raise ValueError("server_hostname, handshake_timeout and ssl_shutdown_timeout are only "
                             "meaningful with ssl")
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
            self._check_open()
        except BaseException:
            sock.close()
            raise
        fd = sock.detach()
        conn = self._new_connection(fd)
        conn._extras()._peername = address
        conn._connecting = True
        if engine is not None:
            _tls_attach(conn, engine, shutdown)
            conn._x._tls_handshake_timeout = handshake
            conn._handshaking = True
        conn._start(<Handler>handler)
        if limit > 0.0:
            conn.set_timeout(limit)
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
            "epoll_rebuilds": self._st_epoll_rebuilds,
            "tls_handshakes": self._st_tls_handshakes,
            "handshake_failures": self._st_handshake_failures,
        }

    def connections(self):
        """The open connections, as a new list."""
        return [source for source in self._registry if type(source) is Connection]

    def close(self):
        """Aborts every connection (their connection_lost() runs now),
        closes every listener, stops watching every descriptor, drops pending
        callbacks, and closes the reactor's own descriptors, each once. From
        the first step on, new work (listen, connect, call_*) is refused; the
        close always completes, and a KeyboardInterrupt or SystemExit raised
        by a connection_lost() is re-raised at the end."""
        if self._closed or self._closing:
            return
        if self._running:
            raise RuntimeError("cannot close a running reactor")
        self._closing = True
        try:
            for source in [s for s in self._registry if s is not None]:
                if type(source) is Connection:
                    (<Connection>source).abort()
                elif type(source) is Listener:
                    (<Listener>source).close()
                elif type(source) is FdWatcher:
                    fd = source.fileno()
                    self._unwatch(fd, True)
                    self._unwatch(fd, False)
            # connection_lost() of the aborts just made: exactly once each.
            while self._lost:
                self._run_lost()
        finally:
            for signum in list(self._signal_handlers):
                self._signal_handlers.pop(signum)
                _release_signal(signum)
            self._release_descriptors()
            self._closed = True
        self._reraise_exit()

    def _release_descriptors(self):
        # Every descriptor the reactor owns, without running callbacks.
        cdef EventSource source
        cdef Connection conn
        self._ready = []
        self._timers = []
        self._deadline_queues = []
        self._listeners = set()
        if self._signals is not None:
            _close_signal_pipe(self._signals)
            self._signals = None
        for source in [s for s in self._registry if s is not None]:
            if type(source) is Connection:
                conn = source
                conn._closed = conn._closing = True
                conn._wq = None
                conn._wq_size = 0
                source._close_fd()
            elif type(source) is Listener:
                (<Listener>source).close()
            elif type(source) is FdWatcher:
                source._detach()
            else:
                source._close_fd()
        self._registry = []
        if self._epfd >= 0:
            _close(self._epfd)
            self._epfd = -1


cdef int _fileobj_to_fd(object fileobj) except -1:
    # selectors' rule: an int, or an object with fileno().
    if isinstance(fileobj, int):
        fd = fileobj
    else:
        try:
            fd = int(fileobj.fileno())
        except (AttributeError, TypeError, ValueError):
            raise ValueError(f"Invalid file object: {fileobj!r}") from None
    if fd < 0:
        raise ValueError(f"Invalid file descriptor: {fd}")
    return fd


cdef bint _is_coroutine_function(object func) except -1:
    import inspect
    return inspect.iscoroutinefunction(func)


cdef int _check_callback(object callback, str method) except -1:
    if _cpython.PyCoro_CheckExact(callback):
        raise TypeError(f"coroutines cannot be used with {method}()")
    if not callable(callback):
        raise TypeError(f"a callable object was expected by {method}(), got {callback!r}")
    return 0
