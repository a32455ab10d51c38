# Handler: what a connection calls. asyncio.Protocol's (and
# BufferedProtocol's) method names, so asyncio users feel at home.


cdef class Handler:
    """Base class of connection handlers.

    The reactor calls these methods, named as asyncio.Protocol names them.
    Every default does nothing. Subclass in Python and override what you need,
    or ``cimport`` it from Cython to be called with no Python dispatch.
    Methods are plain functions: one that returns a coroutine (``async
    def``) is reported as an error, since nothing would ever run it.
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
        true value to keep the connection (the deadline is then disarmed:
        call ``set_timeout()`` again to re-arm it); by default it is aborted
        and ``connection_lost()`` receives ``TimeoutError``."""

    cpdef get_buffer(self, Py_ssize_t sizehint):
        """Override (with ``buffer_updated``) to receive into your own
        buffer, as asyncio.BufferedProtocol does: return a writable buffer of
        at least one byte; the reactor receives straight into it, with no
        ``bytes`` object made per read. ``sizehint`` is -1 (no hint)."""
        raise NotImplementedError

    cpdef buffer_updated(self, Py_ssize_t nbytes):
        """``nbytes`` bytes were received into the buffer from get_buffer()."""

    cdef int buffer_received(self, const char *data, Py_ssize_t length) except -1:
        return self.bytes_received(PyBytes_FromStringAndSize(data, length))

    cdef int bytes_received(self, object data) except -1:
        result = self.data_received(data)
        if result is not None:
            _check_result(result, "data_received")
        return 0

    cdef object tls_refusal(self, object exc):
        return None


cdef object _BASE_GET_BUFFER = getattr(Handler, "get_buffer")


cdef inline bint _buffer_received_is_the_default(Handler handler) except -1:
    # A class statement cannot override a cdef method: the nearest cdef
    # class in the MRO says whose buffer_received() runs. A cdef class
    # (the HTTP server's protocols) is its own nearest, with no MRO walk.
    cls = type(handler)
    if not _cpython.PyType_HasFeature(cls, _cpython.Py_TPFLAGS_HEAPTYPE):
        return cls is Handler
    for base in cls.__mro__:
        if not _cpython.PyType_HasFeature(base, _cpython.Py_TPFLAGS_HEAPTYPE):
            return base is Handler
    return False


cdef inline bint _receives_into_own_buffer(Handler handler) except -1:
    # For handlers written in Python; a Cython handler sets _buffered itself.
    cls = type(handler)
    return (_cpython.PyType_HasFeature(cls, _cpython.Py_TPFLAGS_HEAPTYPE)
            and getattr(cls, "get_buffer") is not _BASE_GET_BUFFER)


cdef int _check_result(object result, str method) except -1:
    """A handler method returned ``result``: a coroutine means an ``async
    def`` handler method, whose body would never run."""
    if _cpython.PyCoro_CheckExact(result):
        result.close()
        raise TypeError(
            f"Handler.{method}() returned a coroutine: handler methods must be plain "
            f"functions (not async def). To await something, start a task from the "
            f"method (asyncio.get_running_loop().create_task(...), on a cyreactor event loop).")
    return 0
