# ``cimport cyreactor`` / ``from cyreactor cimport Handler`` for Cython handlers.
from cyreactor._loop cimport Connection, Handler, Listener, Reactor, TimerHandle
