# EventSource: one registered descriptor and what the reactor calls when it
# is ready. The reactor's dispatch is one C-level virtual call,
# ``source._on_events(events)``; each kind of source (Connection, Listener,
# FdWatcher, the wake-up eventfd, the signal pipe) owns its reaction.


cdef class EventSource:
    """Base of the objects the reactor watches; made by the reactor only."""

    def __cinit__(self, key=None, *args):
        _check_private(key, type(self).__name__)
        self._fd = -1

    def fileno(self):
        """The descriptor, or -1 once closed."""
        return self._fd

    cdef int _on_events(self, uint32_t events) except -1:
        return 0

    cdef int _set_interest(self, uint32_t want) except -1:
        cdef int op
        if self._fd < 0 or want == self._interest:
            return 0
        if want == 0:
            op = _epoll.EPOLL_CTL_DEL
        elif self._interest == 0:
            op = _epoll.EPOLL_CTL_ADD
        else:
            op = _epoll.EPOLL_CTL_MOD
        self._reactor._ctl(op, self._fd, want, self._token)
        self._interest = want
        return 0

    cdef int _detach(self) except -1:
        """Leaves the epoll set and the registry; the descriptor stays open."""
        cdef _epoll.epoll_event ev
        if self._fd < 0:
            return 0
        if self._interest:
            # Fails only if the descriptor was closed behind our back (EBADF)
            # or is already out of the set (ENOENT): nothing left to undo.
            _epoll.epoll_ctl(self._reactor._epfd, _epoll.EPOLL_CTL_DEL, self._fd, &ev)
            self._interest = 0
        self._reactor._source_closed(self)
        self._fd = -1
        return 0

    cdef int _close_fd(self) except -1:
        """Leaves the epoll set, then closes the descriptor (see the
        readiness contract: never the other way round)."""
        cdef int fd = self._fd
        if fd < 0:
            return 0
        self._detach()
        _close(fd)
        return 0


@cython.final
cdef class _Waker(EventSource):
    """The eventfd that call_soon_threadsafe() and stop() use to wake a
    reactor sleeping in epoll_wait()."""

    cdef int _wake(self) noexcept:
        cdef uint64_t one = 1
        if not self._armed and self._fd >= 0:
            self._armed = True
            # EAGAIN means the counter is full: a wake-up is pending anyway.
            _posix.write(self._fd, &one, sizeof(one))
        return 0

    cdef int _on_events(self, uint32_t events) except -1:
        cdef uint64_t value
        self._armed = False
        _posix.read(self._fd, &value, sizeof(value))
        return 0


@cython.final
cdef class FdWatcher(EventSource):
    """add_reader()/add_writer() on a descriptor the caller owns: when it is
    ready, the callback's handle joins the ready queue, as in asyncio."""

    cdef int _update(self) except -1:
        cdef uint32_t want = 0
        if self._reader is not None:
            want |= _epoll.EPOLLIN
        if self._writer is not None:
            want |= _epoll.EPOLLOUT
        if want:
            return self._set_interest(want)
        return self._detach()

    cdef int _on_events(self, uint32_t events) except -1:
        cdef Handle reader = self._reader
        cdef Handle writer = self._writer
        cdef bint changed = False
        # HUP and ERR wake both sides: the callback's own read or write
        # finds out what happened (as selectors.EpollSelector reports it).
        if reader is not None and events & (_epoll.EPOLLIN | _epoll.EPOLLHUP | _epoll.EPOLLERR):
            if reader._cancelled:
                self._reader = None
                changed = True
            else:
                self._reactor._ready.append(reader)
        if writer is not None and events & (_epoll.EPOLLOUT | _epoll.EPOLLHUP | _epoll.EPOLLERR):
            if writer._cancelled:
                self._writer = None
                changed = True
            else:
                self._reactor._ready.append(writer)
        if changed:
            self._update()
        return 0

    def __repr__(self):
        return f"<FdWatcher fd={self._fd} reader={self._reader!r} writer={self._writer!r}>"
