# Listener: a listening socket. Accepts in batches with accept4(2), keeps the
# peer address the kernel hands over, sets itself aside while the process is
# out of descriptors, and puts each connection through the stage its
# listen() asked for (a PROXY header, a TLS handshake: _handshake.pxi).


@cython.final
cdef class Listener(EventSource):
    """A listening socket owned by a reactor (from ``listen``,
    ``listen_unix`` or ``listen_socket``)."""

    @property
    def sockname(self):
        """The bound address: ``(host, port)`` for TCP, the path for Unix."""
        return self._sockname

    def is_closed(self):
        return self._fd < 0

    cpdef close(self):
        """Stops listening and closes the socket; open connections stay. A
        Unix socket file is removed if it is still the one this listener
        bound (a newer server's file at the same path is left alone)."""
        if self._fd < 0:
            return
        self._close_fd()
        self._reactor._listener_closed(self)
        if self._unix_path is not None:
            _unlink_socket_file(self._unix_path, self._unix_inode)

    cdef int _pause_accepting(self) except -1:
        if self._accept_paused or self._fd < 0:
            return 0
        self._accept_paused = True
        self._reactor._accept_paused += 1
        return self._set_interest(0)

    cdef int _resume_accepting(self) except -1:
        if not self._accept_paused:
            return 0
        self._accept_paused = False
        self._reactor._accept_paused -= 1
        return self._set_interest(_epoll.EPOLLIN)

    cdef int _on_events(self, uint32_t events) except -1:
        cdef Reactor reactor = self._reactor
        cdef int fd, err, i, one = 1
        cdef Connection conn
        # The kernel hands over the peer's address with the descriptor: kept
        # in C so peername costs nothing unless asked for, even after close.
        cdef _posix.sockaddr_in6 peer
        cdef _posix.socklen_t peer_len
        for i in range(ACCEPT_BATCH):
            # A handler may close this listener (an accept-one server) or
            # the reactor may start closing: stop the batch there.
            if self._fd < 0 or reactor._closing:
                return 0
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
                        reactor._accept_retry = reactor._call_at(
                            _monotonic() + ACCEPT_RETRY_DELAY, reactor._retry_accepting, (), None)
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
            conn = reactor._new_connection(fd)
            conn._accepted = True
            if self._tcp:
                conn._peer_addr = peer
            try:
                if self._sslcontext is not None or self._proxy_protocol:
                    _accept_handshake(conn, self)
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
        extra = (" proxy_protocol" if self._proxy_protocol else "") + (" tls" if self._sslcontext is not None else "")
        return f"<Listener {self._sockname!r} fd={self._fd}{extra}>"


cdef object _socket_file_id(object path):
    """(st_dev, st_ino) of the Unix socket file at ``path``, or None."""
    try:
        st = os.lstat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino) if _stat.S_ISSOCK(st.st_mode) else None


cdef int _unlink_socket_file(object path, object file_id) except -1:
    if file_id is not None and _socket_file_id(path) == file_id:
        try:
            os.unlink(path)
        except OSError:
            pass
    return 0


cdef bint _is_abstract(object path) except -1:
    # Linux abstract namespace (unix(7)): a leading NUL, no file behind it.
    return len(path) > 0 and (path[0] == 0 or path[0] == "\0")


cdef int _remove_stale_socket_file(object path) except -1:
    """A socket file nobody listens on is what a crashed server leaves:
    replace it, as asyncio does, but never a live server's socket (that
    stays EADDRINUSE) and never anything that is not a socket."""
    if _socket_file_id(path) is None:
        return 0
    probe = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
    try:
        probe.connect(path)
    except ConnectionRefusedError:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        return 0
    except OSError:
        return 0
    finally:
        probe.close()
    raise OSError(_errno_mod.EADDRINUSE, f"a server is listening on {os.fsdecode(path)!r}")
