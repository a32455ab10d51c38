"""cyreactor as an asyncio event loop.

``Loop`` is the native reactor (a ``cyreactor.Reactor``: its epoll set, C
ready queue, timer heap, signal pipe) that is also a complete
``asyncio.AbstractEventLoop``. Stream transports of ``create_server``,
``create_connection``, ``create_unix_server``/``_connection``,
``connect_accepted_socket`` and ``start_tls`` are native connections
(``StreamTransport``); what is not hot — datagram and pipe transports,
subprocesses, the SSL protocol, the ``sock_*`` methods, name resolution,
executors, async generators — is asyncio's own, well-tested
implementation running on the reactor's ``add_reader``/``add_writer``.

Native handlers and asyncio code share the one thread and the one epoll
set: ``loop.listen(...)`` with a ``cyreactor.Handler`` works next to
``await loop.create_server(...)``, and a handler can call
``asyncio.get_running_loop().create_task(...)``.
"""
import asyncio
import sys
from asyncio import events
from asyncio import unix_events as _unix_events

from cyreactor._eventloop import StreamTransport, _LoopBase
from cyreactor._loop import Connection, Listener, Reactor

__all__ = ["EventLoopPolicy", "Loop", "StreamTransport", "new_event_loop", "run"]


class _NoSelector:
    """Stands in for the selector asyncio's base classes expect: the
    reactor does the selecting. Only asked about keys (by transport reprs)."""

    def get_key(self, fileobj):
        raise KeyError(fileobj)

    def close(self):
        pass


_SelectorLoop = _unix_events._UnixSelectorEventLoop


class Loop(_LoopBase, _SelectorLoop):
    """An asyncio event loop on the cyreactor reactor (see the module)."""

    def __init__(self):
        _SelectorLoop.__init__(self, selector=_NoSelector())
        self._native_listeners = {}       # server socket fd -> Listener

    @property
    def reactor(self):
        """The native reactor this loop runs on: the loop itself, so
        ``loop.reactor.listen(host, port, HandlerClass)`` serves native
        handlers on the same epoll set."""
        return self

    # ---- running ------------------------------------------------------------

    def run_forever(self):
        self._check_closed()
        self._check_running()
        self._set_coroutine_origin_tracking(self.get_debug())
        old_agen_hooks = sys.get_asyncgen_hooks()
        try:
            sys.set_asyncgen_hooks(firstiter=self._asyncgen_firstiter_hook,
                                   finalizer=self._asyncgen_finalizer_hook)
            events._set_running_loop(self)
            Reactor.run(self)
        finally:
            events._set_running_loop(None)
            self._set_coroutine_origin_tracking(False)
            sys.set_asyncgen_hooks(*old_agen_hooks)

    def set_debug(self, enabled):
        Reactor.set_debug(self, enabled)
        if self.is_running():
            self.call_soon_threadsafe(self._set_coroutine_origin_tracking, enabled)

    def _check_closed(self):
        if self.is_closed():
            raise RuntimeError("Event loop is closed")

    def close(self):
        if self.is_running():
            raise RuntimeError("Cannot close a running event loop")
        if self.is_closed():
            return
        self._executor_shutdown_called = True
        executor = self._default_executor
        if executor is not None:
            self._default_executor = None
            executor.shutdown(wait=False)
        Reactor.close(self)
        self._selector = None       # asyncio's transports check this in their reprs

    default_exception_handler = asyncio.BaseEventLoop.default_exception_handler

    # ---- the self-pipe is the reactor's eventfd -------------------------------

    def _make_self_pipe(self):
        pass

    def _close_self_pipe(self):
        pass

    def _write_to_self(self):
        self._wake()

    # ---- descriptors --------------------------------------------------------

    def _add_reader(self, fd, callback, *args):
        return self._watch(fd, True, callback, args)

    def _add_writer(self, fd, callback, *args):
        return self._watch(fd, False, callback, args)

    _remove_reader = Reactor.remove_reader
    _remove_writer = Reactor.remove_writer

    def _ensure_fd_no_transport(self, fd):
        _SelectorLoop._ensure_fd_no_transport(self, fd)
        fileno = fd if isinstance(fd, int) else fd.fileno()
        source = self._source_at(fileno)
        if isinstance(source, (Connection, Listener)):
            raise RuntimeError(f"File descriptor {fd!r} is used by transport {source!r}")

    def add_reader(self, fd, callback, *args):
        self._ensure_fd_no_transport(fd)
        self._watch(fd, True, callback, args)

    def add_writer(self, fd, callback, *args):
        self._ensure_fd_no_transport(fd)
        self._watch(fd, False, callback, args)

    def remove_reader(self, fd):
        self._ensure_fd_no_transport(fd)
        return Reactor.remove_reader(self, fd)

    def remove_writer(self, fd):
        self._ensure_fd_no_transport(fd)
        return Reactor.remove_writer(self, fd)

    # ---- servers --------------------------------------------------------------

    def _start_serving(self, protocol_factory, sock, sslcontext=None, server=None, backlog=100,
                       ssl_handshake_timeout=None, ssl_shutdown_timeout=None):
        listener = self._serve_natively(protocol_factory, sock, sslcontext, server, backlog,
                                        ssl_handshake_timeout, ssl_shutdown_timeout)
        self._native_listeners[sock.fileno()] = listener

    def _stop_serving(self, sock):
        listener = self._native_listeners.pop(sock.fileno(), None)
        if listener is not None:
            listener.close()
        sock.close()

    async def _sendfile_native(self, transp, file, offset, count):
        if not isinstance(transp, StreamTransport):
            raise asyncio.SendfileNotAvailableError(f"{transp!r} is not a cyreactor transport")
        return await transp._sendfile_native(file, offset, count)

    def _make_ssl_transport(self, rawsock, protocol, sslcontext, waiter=None, *, server_side=False,
                            server_hostname=None, extra=None, server=None,
                            ssl_handshake_timeout=None, ssl_shutdown_timeout=None,
                            call_connection_made=True):
        ssl_protocol = asyncio.sslproto.SSLProtocol(
            self, protocol, sslcontext, waiter, server_side, server_hostname,
            ssl_handshake_timeout=ssl_handshake_timeout, ssl_shutdown_timeout=ssl_shutdown_timeout,
            call_connection_made=call_connection_made)
        self._make_socket_transport(rawsock, ssl_protocol, extra=extra, server=server)
        return ssl_protocol._app_transport


def new_event_loop():
    """A new cyreactor event loop (the loop factory for ``asyncio.run``,
    ``asyncio.Runner`` and ``uvicorn --loop cyreactor:new_event_loop``)."""
    return Loop()


class EventLoopPolicy(_unix_events.DefaultEventLoopPolicy):
    """asyncio's default policy, making cyreactor loops."""

    _loop_factory = Loop


def run(main, *, debug=None, **kwargs):
    """Runs the coroutine ``main`` on a new cyreactor loop, as
    ``asyncio.run`` does (the loop is closed at the end), like
    ``uvloop.run``."""
    if sys.version_info >= (3, 12):
        return asyncio.run(main, debug=debug, loop_factory=new_event_loop, **kwargs)
    if hasattr(asyncio, "Runner"):
        with asyncio.Runner(debug=debug, loop_factory=new_event_loop, **kwargs) as runner:
            return runner.run(main)
    old_policy = asyncio.get_event_loop_policy()
    asyncio.set_event_loop_policy(EventLoopPolicy())
    try:
        return asyncio.run(main, debug=debug)
    finally:
        asyncio.set_event_loop_policy(old_policy)
