# Errno to exceptions, the clock, closing descriptors, and addresses: the
# small C helpers every other part of the reactor uses (the sockaddr
# conversion is _address.pxd's, shared with the PROXY protocol parser).


cdef inline object _os_error(int err):
    # OSError's constructor picks the subclass for err itself
    # (ConnectionResetError, BrokenPipeError, ...).
    return OSError(err, strerror(err).decode("utf-8", "replace"))


cdef inline int _raise_errno(int err) except -1:
    raise _os_error(err)


cdef inline double _monotonic() noexcept nogil:
    # CLOCK_MONOTONIC is the clock of time.monotonic(), so reactor times and
    # asyncio loop times are the same numbers.
    cdef _posix.timespec ts
    _posix.clock_gettime(_posix.CLOCK_MONOTONIC, &ts)
    return <double>ts.tv_sec + <double>ts.tv_nsec * 1e-9


cdef inline Py_ssize_t _recv(int fd, void *buf, Py_ssize_t size) noexcept nogil:
    # recv(2), retried when a signal interrupts it: the bytes received, 0
    # at EOF, or -1 with errno set.
    cdef Py_ssize_t n
    while True:
        n = _posix.recv(fd, buf, size, 0)
        if n >= 0 or errno != EINTR:
            return n


cdef inline int _close(int fd) noexcept nogil:
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


cdef double _checked_delay(object value, str what) except? -1.0:
    """A delay or timeout in seconds as a C double: NaN is refused (it would
    compare false with every deadline and stall the loop); infinity means
    never and is kept; a negative value counts as 0."""
    cdef double d = value
    if isnan(d):
        raise ValueError(f"{what} must be a number, not NaN")
    return d if d > 0.0 else 0.0
