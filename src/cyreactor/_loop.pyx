# cython: freethreading_compatible = False
"""The epoll reactor: registry, dispatch, timers, signals, wake-up, and the
typed event sources it hands ready descriptors to.

Readiness contract (epoll(7)), the rules every event source follows:

- Level-triggered. A source is in the epoll set only while it wants
  something (``EventSource._set_interest``); a source that wants nothing is
  removed, because EPOLLHUP and EPOLLERR are reported even for an empty
  mask and would spin a paused connection whose peer has gone.
- One ``recv`` per wake-up per connection: whatever is left is reported
  again on the next ``epoll_wait``, so one busy peer cannot starve the rest
  of the batch. Accepts are batched (``ACCEPT_BATCH``) for the same reason.
- EPOLLHUP and EPOLLERR are hints: a connection confirms them with the read
  (which returns 0 or the error) or the write it was going to make anyway.
- Input that no epoll event will announce -- ciphertext a TLS engine stashed,
  plaintext after a PROXY header, held while the handler paused reading --
  is delivered once it resumes, after the dispatch (``Reactor._resumed``).
- Every descriptor leaves the epoll set (EPOLL_CTL_DEL) before it is
  closed: a registration belongs to the open file, not the descriptor
  number, and would outlive a close while another process (a fork child)
  holds the file. An event whose token is stale later than its own batch
  means that happened anyway (a descriptor closed behind the reactor's
  back), and the epoll set is rebuilt from the registry.

The files included below each own one concern; ``_loop.pxd`` declares every
field and C-level method.
"""

cimport cython
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.buffer cimport PyBUF_SIMPLE, PyBUF_WRITABLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.exc cimport PyErr_CheckSignals
from cpython.list cimport PyList_GET_ITEM, PyList_GET_SIZE
from cpython.object cimport PyObject
from cpython.pythread cimport PyThread_get_thread_ident
from libc.errno cimport EAGAIN, EBADF, ENOENT, EINTR, errno
from libc.math cimport ceil, isinf, isnan
from libc.stdint cimport uint32_t, uint64_t
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy, strerror

from cyreactor cimport _cpython, _epoll, _posix
from cyreactor._address cimport sockaddr_to_address
from cyreactor._proxyproto cimport (
    PP_DEFAULT_MAX_V2_SIZE, PP_ERROR, PP_NEED_MORE, ProxyParser, proxy_address, proxy_error, proxy_feed,
    proxy_free, proxy_init,
)
from cyreactor._tls cimport TLS_CLOSED, TLS_HANDSHAKE_DONE, TLS_WANT_READ, TLSEngine

import errno as _errno_mod
import logging
import os
import signal as _signal
import socket as _socket
import ssl as _sslmod
import stat as _stat
import sys
import threading
import warnings

__all__ = ["Reactor", "Connection", "Listener", "Handler", "Handle", "TimerHandle", "FdWatcher"]

cdef object _logger = logging.getLogger("cyreactor")

# EWOULDBLOCK is EAGAIN on Linux (errno(3)), so EAGAIN alone means "not ready".

cdef enum:
    DEFAULT_MAX_EVENTS = 1024
    DEFAULT_READ_BUFFER = 256 * 1024
    # A read this large (or the whole read buffer, if smaller) makes the
    # next one ask how much is queued: as much again or more goes straight
    # into a bytes object of that size (Connection._read_bytes).
    BULK_READ = 64 * 1024
    # Bounded so one busy listener cannot starve the connections it feeds.
    ACCEPT_BATCH = 128
    # Buffers gathered into one sendmsg(); well below IOV_MAX (1024).
    SEND_IOV = 64
    DEFAULT_HIGH_WATER = 64 * 1024
    # sendfile(2) moves at most this much per call (a little under 2 GiB).
    SENDFILE_CHUNK = 0x7ffff000
    CANCELLED_REBUILD_MIN = 64
    DEADLINE_QUEUES_PRUNE = 16

# What sending a queued file region came to (Connection._send_file_region).
cdef enum:
    REGION_SENT = 0
    REGION_BLOCKED = 1
    REGION_FAILED = 2

cdef double ACCEPT_RETRY_DELAY = 0.1
# epoll_wait takes milliseconds in an int; no wait is longer than a day.
cdef double MAX_WAIT = 86400.0

# Objects that only make sense attached to a reactor are made by it: their
# constructors require this key, which Python code cannot reach.
cdef object _PRIVATE = object()


cdef inline int _check_private(object key, str what) except -1:
    if key is not _PRIVATE:
        raise TypeError(f"{what} objects are made by the reactor")
    return 0


include "_syscalls.pxi"
include "_handler.pxi"
include "_handles.pxi"
include "_deadlines.pxi"
include "_source.pxi"
include "_cork.pxi"
include "_connection.pxi"
include "_handshake.pxi"
include "_tlsfilter.pxi"
include "_listener.pxi"
include "_signals.pxi"
include "_reactor.pxi"
