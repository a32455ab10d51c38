from cyreactor._loop import (
    Connection as Connection,
    FdWatcher as FdWatcher,
    Handle as Handle,
    Handler as Handler,
    Listener as Listener,
    Reactor as Reactor,
    TimerHandle as TimerHandle,
)
from cyreactor.eventloop import (
    EventLoopPolicy as EventLoopPolicy,
    Loop as Loop,
    StreamTransport as StreamTransport,
    new_event_loop as new_event_loop,
    run as run,
)

__version__: str
