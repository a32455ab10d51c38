# cython: freethreading_compatible = False
"""The C-level half of cyreactor's asyncio event loop (``cyreactor.Loop``):
asyncio protocols driven by the reactor's native connections.

A ``StreamTransport`` is a real ``asyncio.Transport`` whose methods are
compiled and go straight to a ``Connection``; the connection's handler is a
``_ProtocolBridge``, which hands what the reactor sees to the protocol with
asyncio's semantics (``BufferedProtocol`` included, and the error contexts
asyncio reports). ``_LoopBase`` is the reactor with the asyncio methods that
run per connection or per future; everything else of the loop is in
``eventloop.py``.
"""

cimport cython

from cyreactor._loop cimport Connection, Handler, Listener, Reactor

import asyncio
import io as _io
import os as _os
import socket as _socket

from asyncio.constants import _SendfileMode
from asyncio.transports import _FlowControlMixin

from asyncio import sslproto as _sslproto
from asyncio.trsock import TransportSocket as _TransportSocket

cdef object _Future = asyncio.Future
cdef object _Task = asyncio.Task
try:
    from ssl import SSLSocket as _SSLSocket
except ImportError:
    _SSLSocket = None
cdef object _BufferedProtocol = asyncio.BufferedProtocol


@cython.final
cdef class _ProtocolBridge(Handler):
    """A Connection's handler on behalf of an asyncio protocol."""

    cdef Reactor _loop
    cdef Connection _conn
    cdef object _protocol
    cdef object _transport
    cdef object _server              # the asyncio Server that accepted it, or None
    cdef object _waiter              # set once connection_made() has run
    cdef dict _extra
    cdef object _data_received       # the protocol's bound methods, per protocol
    cdef object _get_buffer
    cdef object _buffer_updated
    cdef bint _protocol_connected
    cdef bint _defer_made            # connection_made() on the next iteration, as asyncio does
    cdef bint _made_pending
    cdef bint _paused                # the protocol asked for pause_reading()
    cdef bint _sendfile_busy         # loop.sendfile() in progress: write() refused

    cdef int _set_protocol(self, object protocol) except -1:
        self._protocol = protocol
        self._takes_bytes = True
        if isinstance(protocol, _BufferedProtocol):
            self._buffered = True
            self._get_buffer = protocol.get_buffer
            self._buffer_updated = protocol.buffer_updated
            self._data_received = None
        else:
            self._buffered = False
            self._data_received = protocol.data_received
            self._get_buffer = None
            self._buffer_updated = None
        return 0

    cdef int _fatal(self, BaseException exc, str message) except -1:
        # asyncio's _fatal_error(): reported with the transport and the
        # protocol, and the connection is closed with the exception.
        return self._loop._report_error(exc, {
            "message": message,
            "exception": exc,
            "transport": self._transport,
            "protocol": self._protocol,
        }, self._conn)

    cdef int _flow_error(self, BaseException exc, str message) except -1:
        # asyncio's pause/resume_writing failures: reported, not fatal.
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            return self._loop._report_error(exc, {}, None)
        self._loop.call_exception_handler({
            "message": message,
            "exception": exc,
            "transport": self._transport,
            "protocol": self._protocol,
        })
        return 0

    # ---- the reactor's calls --------------------------------------------

    cpdef connection_made(self, Connection conn):
        self._conn = conn
        self._transport = _new_transport(self)
        if self._server is not None:
            self._server._attach()
        if self._defer_made:
            self._made_pending = True
            conn._reading = False
            conn._update_interest()
            self._loop._call_soon(self._deliver_connection_made, (), None)
        else:
            self._deliver_connection_made()

    def _deliver_connection_made(self):
        cdef Connection conn = self._conn
        waiter = self._waiter
        self._waiter = None
        self._made_pending = False
        if not conn._closed:
            self._protocol_connected = True
            try:
                self._protocol.connection_made(self._transport)
            except BaseException as exc:
                self._fatal(exc, "Fatal error: protocol.connection_made() call failed.")
            if not self._paused and not conn._closing:
                conn.resume_reading()
        if waiter is not None and not waiter.cancelled():
            waiter.set_result(None)

    cdef int bytes_received(self, object data) except -1:
        try:
            self._data_received(data)
        except BaseException as exc:
            self._fatal(exc, "Fatal error: protocol.data_received() call failed.")
        return 0

    cpdef get_buffer(self, Py_ssize_t sizehint):
        try:
            buf = self._get_buffer(sizehint)
            if not len(buf):
                raise RuntimeError("get_buffer() returned an empty buffer")
            return buf
        except BaseException as exc:
            self._fatal(exc, "Fatal error: protocol.get_buffer() call failed.")

    cpdef buffer_updated(self, Py_ssize_t nbytes):
        try:
            self._buffer_updated(nbytes)
        except BaseException as exc:
            self._fatal(exc, "Fatal error: protocol.buffer_updated() call failed.")

    cpdef eof_received(self):
        try:
            return self._protocol.eof_received()
        except BaseException as exc:
            self._fatal(exc, "Fatal error: protocol.eof_received() call failed.")
            return True

    cpdef pause_writing(self):
        try:
            self._protocol.pause_writing()
        except BaseException as exc:
            self._flow_error(exc, "protocol.pause_writing() failed")

    cpdef resume_writing(self):
        try:
            self._protocol.resume_writing()
        except BaseException as exc:
            self._flow_error(exc, "protocol.resume_writing() failed")

    cpdef connection_lost(self, object exc):
        server = self._server
        protocol = self._protocol
        # The protocol, the transport and this bridge refer to each other:
        # let go here so reference counting frees them all (asyncio's own
        # tests check that an SSL context is freed without a GC pass).
        self._server = None
        self._protocol = None
        self._data_received = self._get_buffer = self._buffer_updated = None
        self._transport = None
        try:
            if self._protocol_connected:
                self._protocol_connected = False
                protocol.connection_lost(exc)
        finally:
            if server is not None:
                server._detach()

    # ---- the transport's calls ------------------------------------------

    cdef int _pause_reading(self) except -1:
        if self._conn._closing or self._paused:
            return 0
        self._paused = True
        if not self._made_pending:
            self._conn.pause_reading()
        return 0

    cdef int _resume_reading(self) except -1:
        if self._conn._closing or not self._paused:
            return 0
        self._paused = False
        if not self._made_pending:
            self._conn.resume_reading()
        return 0


cdef object _new_transport(_ProtocolBridge bridge):
    transport = StreamTransport.__new__(StreamTransport)
    transport._bridge = bridge
    transport._extra = bridge._extra
    return transport


class StreamTransport(_FlowControlMixin):
    """An asyncio transport over a cyreactor Connection (TCP or Unix):
    ``write`` goes to the connection's C write path, reads come from the
    reactor's epoll loop. Made by the loop, never by hand."""

    __slots__ = ("_bridge", "__weakref__")

    # asyncio.BaseEventLoop.start_tls() and sendfile() check for these.
    _start_tls_compatible = True
    _sendfile_compatible = _SendfileMode.TRY_NATIVE

    def __init__(self, *args, **kwargs):
        raise TypeError("StreamTransport objects are made by the event loop")

    def get_extra_info(self, name, default=None):
        cdef _ProtocolBridge bridge = self._bridge
        if name in self._extra:
            return self._extra[name]
        return bridge._conn.get_extra_info(name, default)

    def is_closing(self):
        return (<_ProtocolBridge>self._bridge)._conn._closing

    def close(self):
        (<_ProtocolBridge>self._bridge)._conn.close()

    def abort(self):
        (<_ProtocolBridge>self._bridge)._conn.abort()

    def _force_close(self, exc):
        # asyncio's SSLProtocol ends a failed handshake with this: the
        # connection is lost with ``exc``.
        cdef Connection conn = (<_ProtocolBridge>self._bridge)._conn
        if not conn._closed:
            conn._fail(exc)

    def set_protocol(self, protocol):
        (<_ProtocolBridge>self._bridge)._set_protocol(protocol)

    def get_protocol(self):
        return (<_ProtocolBridge>self._bridge)._protocol

    def is_reading(self):
        cdef _ProtocolBridge bridge = self._bridge
        return not bridge._paused and not bridge._conn._closing

    def pause_reading(self):
        (<_ProtocolBridge>self._bridge)._pause_reading()

    def resume_reading(self):
        (<_ProtocolBridge>self._bridge)._resume_reading()

    def write(self, data):
        cdef _ProtocolBridge bridge = self._bridge
        cdef Connection conn = bridge._conn
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"data argument must be a bytes-like object, not {type(data).__name__!r}")
        if conn._eof_sent:
            raise RuntimeError("Cannot call write() after write_eof()")
        if bridge._sendfile_busy:
            raise RuntimeError("unable to write; sendfile is in progress")
        conn.write_object(data)

    def writelines(self, list_of_data):
        cdef _ProtocolBridge bridge = self._bridge
        if bridge._conn._eof_sent:
            raise RuntimeError("Cannot call writelines() after write_eof()")
        if bridge._sendfile_busy:
            raise RuntimeError("unable to write; sendfile is in progress")
        bridge._conn.writelines(list_of_data)

    async def _sendfile_native(self, file, offset, count):
        # loop.sendfile() on this transport: the file goes out through the
        # connection's write queue with sendfile(2), after anything written
        # before; write() is refused meanwhile, as asyncio does.
        cdef _ProtocolBridge bridge = self._bridge
        try:
            fileno = file.fileno()
            size = _os.fstat(fileno).st_size
        except (AttributeError, _io.UnsupportedOperation, OSError):
            raise asyncio.SendfileNotAvailableError("not a regular file") from None
        if not (count if count else size - offset):
            return 0
        done = bridge._loop.create_future()
        progress = [0]

        def finished(sent, exc):
            progress[0] = sent
            if not done.done():
                if exc is None:
                    done.set_result(sent)
                else:
                    done.set_exception(exc)

        resume_reading = self.is_reading()
        self.pause_reading()
        bridge._sendfile_busy = True
        try:
            bridge._conn.sendfile(fileno, offset, count or None, finished)
            return await done
        finally:
            bridge._sendfile_busy = False
            if resume_reading:
                self.resume_reading()
            if progress[0]:
                file.seek(offset + progress[0])

    def write_eof(self):
        (<_ProtocolBridge>self._bridge)._conn.write_eof()

    def can_write_eof(self):
        return True

    def get_write_buffer_size(self):
        return (<_ProtocolBridge>self._bridge)._conn.get_write_buffer_size()

    @property
    def _protocol_paused(self):
        # _FlowControlMixin's flag, read by asyncio's sendfile fallback.
        return (<_ProtocolBridge>self._bridge)._conn._write_paused

    def get_write_buffer_limits(self):
        return (<_ProtocolBridge>self._bridge)._conn.get_write_buffer_limits()

    def set_write_buffer_limits(self, high=None, low=None):
        (<_ProtocolBridge>self._bridge)._conn.set_write_buffer_limits(high, low)

    def __repr__(self):
        cdef _ProtocolBridge bridge = self._bridge
        conn = bridge._conn
        if conn is None:
            return "<StreamTransport>"
        state = "closed" if conn._closed else ("closing" if conn._closing else
                                               ("paused" if bridge._paused else "reading"))
        return f"<StreamTransport fd={conn.fileno()} {state} bufsize={conn.get_write_buffer_size()}>"


cdef _ProtocolBridge _new_bridge(Reactor loop, object protocol, object server, dict extra):
    cdef _ProtocolBridge bridge = _ProtocolBridge.__new__(_ProtocolBridge)
    bridge._loop = loop
    bridge._server = server
    bridge._extra = extra if extra is not None else {}
    bridge._set_protocol(protocol)
    return bridge


@cython.final
cdef class _AcceptedProtocols:
    """The handler factory a native Listener calls for an asyncio server:
    one protocol (wrapped in asyncio's SSLProtocol for ``ssl=``) per
    accepted connection."""

    cdef Reactor _loop
    cdef object _protocol_factory
    cdef object _sslcontext
    cdef object _server
    cdef object _ssl_handshake_timeout
    cdef object _ssl_shutdown_timeout

    def __call__(self):
        protocol = self._protocol_factory()
        if self._sslcontext is not None:
            protocol = _sslproto.SSLProtocol(
                self._loop, protocol, self._sslcontext, None, server_side=True,
                ssl_handshake_timeout=self._ssl_handshake_timeout,
                ssl_shutdown_timeout=self._ssl_shutdown_timeout)
        return _new_bridge(self._loop, protocol, self._server, None)


# What a socket operation waits for (_SockOp.kind).
cdef enum:
    OP_RECV = 0
    OP_RECV_INTO = 1
    OP_SENDALL = 2


@cython.final
cdef class _SockOp:
    """A sock_recv/sock_recv_into/sock_sendall waiting for its descriptor:
    the reader or writer callback, completing its future. asyncio's own
    functions do the same through Python frames, a functools.partial and a
    done callback per call."""

    cdef _LoopBase _loop
    cdef object _fut
    cdef object _sock
    cdef int _fd
    cdef int _kind
    cdef Py_ssize_t _n
    cdef object _buf                 # recv_into's buffer; sendall's memoryview
    cdef Py_ssize_t _pos             # sendall: bytes sent so far

    def __call__(self):
        cdef bint reading = self._kind != OP_SENDALL
        fut = self._fut
        if fut.done():
            # Cancelled: stop watching; nothing is read or written for it.
            self._loop._unwatch_fd(self._fd, reading)
            return
        try:
            if self._kind == OP_RECV:
                result = self._sock.recv(self._n)
            elif self._kind == OP_RECV_INTO:
                result = self._sock.recv_into(self._buf)
            else:
                self._pos += self._sock.send(self._buf[self._pos:])
                if self._pos < len(self._buf):
                    return
                result = None
        except (BlockingIOError, InterruptedError):
            return                   # a spurious wake-up: wait again
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._loop._unwatch_fd(self._fd, reading)
            fut.set_exception(exc)
            return
        self._loop._unwatch_fd(self._fd, reading)
        fut.set_result(result)


cdef class _LoopBase(Reactor):
    """The reactor plus the asyncio loop methods that run per connection or
    per future, in C; ``cyreactor.Loop`` adds the rest."""

    def create_future(self):
        return _Future(loop=self)

    def create_task(self, coro, *, name=None, context=None):
        self._check_open()
        if self._task_factory is not None:
            return asyncio.BaseEventLoop.create_task(self, coro, name=name, context=context)
        task = _Task(coro, loop=self, name=name, context=context)
        if self._debug and task._source_traceback:
            del task._source_traceback[-1]
        return task

    # ---- sock_* (asyncio's semantics, C-level waiting) -----------------------

    cdef object _wait_sock(self, object sock, int kind, Py_ssize_t n, object buf, Py_ssize_t pos):
        cdef _SockOp op = _SockOp.__new__(_SockOp)
        cdef int fd = sock.fileno()
        transport = self._transports.get(fd)
        if transport is not None and not transport.is_closing():
            raise RuntimeError(f"File descriptor {fd!r} is used by transport {transport!r}")
        op._loop = self
        op._fut = _Future(loop=self)
        op._sock = sock
        op._fd = fd
        op._kind = kind
        op._n = n
        op._buf = buf
        op._pos = pos
        self._watch_fd(fd, kind != OP_SENDALL, op, ())
        return op._fut

    cdef int _check_sock(self, object sock) except -1:
        if _SSLSocket is not None and isinstance(sock, _SSLSocket):
            raise TypeError("Socket cannot be of type SSLSocket")
        if self._debug and sock.gettimeout() != 0:
            raise ValueError("the socket must be non-blocking")
        return 0

    async def sock_recv(self, sock, n):
        self._check_sock(sock)
        try:
            return sock.recv(n)
        except (BlockingIOError, InterruptedError):
            pass
        return await self._wait_sock(sock, OP_RECV, n, None, 0)

    async def sock_recv_into(self, sock, buf):
        self._check_sock(sock)
        try:
            return sock.recv_into(buf)
        except (BlockingIOError, InterruptedError):
            pass
        return await self._wait_sock(sock, OP_RECV_INTO, 0, buf, 0)

    async def sock_sendall(self, sock, data):
        cdef Py_ssize_t sent
        self._check_sock(sock)
        try:
            sent = sock.send(data)
        except (BlockingIOError, InterruptedError):
            sent = 0
        if sent == len(data):
            return
        return await self._wait_sock(sock, OP_SENDALL, 0, memoryview(data), sent)

    def _wake(self):
        self._waker._wake()

    def _make_socket_transport(self, sock, protocol, waiter=None, *, extra=None, server=None):
        # Where every stream transport of asyncio's own create_connection,
        # connect_accepted_socket, create_unix_connection and start_tls
        # paths is made: the socket becomes a native Connection.
        cdef _ProtocolBridge bridge
        cdef Connection conn
        try:
            peername = sock.getpeername()
        except OSError:
            peername = None
        sockname = sock.getsockname()
        bridge = _new_bridge(self, protocol, server, dict(extra) if extra else None)
        bridge._defer_made = True
        bridge._waiter = waiter
        self._check_open()
        sock.setblocking(False)
        if sock.family in (_socket.AF_INET, _socket.AF_INET6):
            sock.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
        # The connection uses the socket's descriptor and the socket object
        # stays valid for its owner (setsockopt, ...) until the connection
        # is closed; then it is detached, as if asyncio had closed it.
        conn = self._new_connection(sock.fileno())
        x = conn._extras()
        x._transport_socket = _TransportSocket(sock)
        x._peername = peername
        x._sockname = sockname
        conn._start(bridge)
        return bridge._transport

    def _serve_natively(self, protocol_factory, sock, sslcontext, server, backlog,
                        ssl_handshake_timeout, ssl_shutdown_timeout):
        """A native Listener on a duplicate of ``sock`` (the asyncio Server
        keeps and closes its own socket object)."""
        cdef _AcceptedProtocols factory = _AcceptedProtocols.__new__(_AcceptedProtocols)
        factory._loop = self
        factory._protocol_factory = protocol_factory
        factory._sslcontext = sslcontext
        factory._server = server
        factory._ssl_handshake_timeout = ssl_handshake_timeout
        factory._ssl_shutdown_timeout = ssl_shutdown_timeout
        return self.listen_socket(_socket.socket(fileno=_dup(sock.fileno())), factory, backlog=backlog)


cdef int _dup(int fd) except -1:
    return _os.dup(fd)
