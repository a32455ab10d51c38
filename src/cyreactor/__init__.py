"""cyreactor: a Linux epoll reactor for Python, written in Cython.

Write a :class:`Handler` (asyncio.Protocol's method names), hand a factory
for it to :meth:`Reactor.listen` or :meth:`Reactor.connect`, and call
:meth:`Reactor.run`. The HTTP/1.1 server lives in :mod:`cyreactor.http`.
"""
from cyreactor._loop import Connection, FdWatcher, Handle, Handler, Listener, Reactor, TimerHandle

__all__ = ["Connection", "FdWatcher", "Handle", "Handler", "Listener", "Reactor", "TimerHandle", "__version__"]
__version__ = "0.1.0"
