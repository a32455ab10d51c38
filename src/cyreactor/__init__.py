"""cyreactor: a Linux epoll reactor for Python, written in Cython.

Write a :class:`Handler` (asyncio.Protocol's method names), hand a factory
for it to :meth:`Reactor.listen` or :meth:`Reactor.connect`, and call
:meth:`Reactor.run`. Or use it as an asyncio event loop:
``cyreactor.run(main())``, ``asyncio.Runner(loop_factory=cyreactor.new_event_loop)``
(see :mod:`cyreactor.eventloop`). The HTTP/1.1 server lives in
:mod:`cyreactor.http`.
"""
from cyreactor._loop import Connection, FdWatcher, Handle, Handler, Listener, Reactor, TimerHandle

__all__ = [
    "Connection", "EventLoopPolicy", "FdWatcher", "Handle", "Handler", "Listener", "Loop", "Reactor",
    "StreamTransport", "TimerHandle", "__version__", "new_event_loop", "run",
]
__version__ = "0.1.0"

# The asyncio loop imports asyncio: loaded on first use, so a native-only
# program does not pay for it.
_EVENTLOOP_NAMES = {"EventLoopPolicy", "Loop", "StreamTransport", "new_event_loop", "run"}


def __getattr__(name):
    if name in _EVENTLOOP_NAMES:
        from cyreactor import eventloop
        return getattr(eventloop, name)
    raise AttributeError(f"module 'cyreactor' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | _EVENTLOOP_NAMES)
