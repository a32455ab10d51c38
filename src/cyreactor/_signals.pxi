# Signals. CPython's C-level signal handler writes each signal number to the
# process's one wake-up descriptor (signal.set_wakeup_fd); a reactor with
# signal handlers points it at its own pipe, reads the numbers in the loop
# and runs the handlers as ordinary callbacks, never in signal context.
#
# The wake-up descriptor and signal dispositions are process-wide while
# reactors are not, so both are shared carefully: a reactor restores the
# wake-up descriptor only if it is still its own, and only to a previous one
# that is still open and still the same file; a disposition is restored
# only when the last reactor handling that signal lets it go, and to what
# it was before the first one took it.


def _ignore_signal(signum, frame):
    # Installed as the Python-level handler so that CPython's C handler
    # writes to the wake-up descriptor; the reactor does the real work.
    pass


# signum -> [reactors handling it, the disposition before the first did]
cdef dict _signal_users = {}


cdef object _file_id(int fd):
    try:
        st = os.fstat(fd)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


@cython.final
cdef class _SignalPipe(EventSource):
    """The pipe the process's signal wake-up descriptor points at."""

    cdef int _on_events(self, uint32_t events) except -1:
        cdef unsigned char buf[64]
        cdef Py_ssize_t n
        while True:
            n = _posix.read(self._fd, buf, sizeof(buf))
            if n <= 0:
                return 0
            self._reactor._dispatch_signals(buf, n)


cdef _SignalPipe _open_signal_pipe(Reactor reactor):
    cdef int fds[2]
    cdef _SignalPipe pipe
    if _posix.pipe2(fds, _posix.O_NONBLOCK | _posix.O_CLOEXEC) < 0:
        _raise_errno(errno)
    pipe = _SignalPipe.__new__(_SignalPipe, _PRIVATE)
    pipe._write_fd = fds[1]
    try:
        reactor._register(fds[0], pipe)
        pipe._set_interest(_epoll.EPOLLIN)
        previous = _signal.set_wakeup_fd(fds[1], warn_on_full_buffer=False)
    except BaseException:
        pipe._close_fd()
        _close(fds[1])
        raise
    pipe._previous = (previous, _file_id(previous)) if previous >= 0 else None
    return pipe


cdef int _close_signal_pipe(_SignalPipe pipe) except -1:
    try:
        current = _signal.set_wakeup_fd(-1)
    except ValueError:
        current = None       # not the main thread: it cannot be touched
    if current is not None and current != pipe._write_fd:
        # Someone installed theirs after us: leave it in place.
        _signal.set_wakeup_fd(current)
    elif current is not None and pipe._previous is not None:
        fd, file_id = pipe._previous
        if file_id is not None and _file_id(fd) == file_id:
            _signal.set_wakeup_fd(fd)
    pipe._close_fd()
    _close(pipe._write_fd)
    pipe._write_fd = -1
    return 0


cdef int _take_signal(int signum) except -1:
    users = _signal_users.get(signum)
    if users is None:
        previous = _signal.signal(signum, _ignore_signal)
        _signal_users[signum] = [1, previous]
    else:
        users[0] += 1
        _signal.signal(signum, _ignore_signal)
    # SA_RESTART for the rest of the program, as asyncio sets it;
    # epoll_wait(2) itself still returns EINTR, which the loop handles.
    _signal.siginterrupt(signum, False)
    return 0


cdef int _release_signal(int signum) except -1:
    users = _signal_users.get(signum)
    if users is None:
        return 0
    users[0] -= 1
    if users[0] == 0:
        del _signal_users[signum]
        previous = users[1]
        if previous is None:
            previous = _signal.default_int_handler if signum == _signal.SIGINT else _signal.SIG_DFL
        _signal.signal(signum, previous)
    return 0


cdef int _check_signal(object signum) except -1:
    if not isinstance(signum, int):
        raise TypeError(f"sig must be an int, not {signum!r}")
    if signum not in _signal.valid_signals():
        raise ValueError(f"invalid signal number {signum}")
    return 0
