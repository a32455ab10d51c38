# Callbacks: Handle (call_soon), TimerHandle (call_later/call_at) and the
# timer heap. A handle runs its callback inside the contextvars context that
# was current when it was scheduled, as asyncio.Handle does.


@cython.freelist(256)
cdef class Handle:
    """A callback scheduled with ``call_soon``; ``cancel()`` stops it."""

    def __init__(self, *args, **kwargs):
        # Made by call_soon() and friends (through __new__, which leaves an
        # inert handle that is safe to poke at from Python).
        raise TypeError("Handle objects are made by the reactor")

    cpdef cancel(self):
        """Stops the callback from running; does nothing if it already ran."""
        if not self._cancelled:
            self._cancelled = True
            self._callback = None
            self._args = None
            self._context = None

    def cancelled(self):
        """True once ``cancel()`` was called."""
        return self._cancelled

    def get_context(self):
        """The contextvars.Context the callback runs in."""
        return self._context

    cdef int _run(self) except -1:
        # The handle keeps its callback: a reader's handle runs again on
        # every readiness event, as asyncio's does.
        callback = self._callback
        args = self._args
        context = self._context
        try:
            _cpython.PyContext_Enter(context)
            try:
                callback(*args)
            finally:
                _cpython.PyContext_Exit(context)
        except BaseException as exc:
            report = {"message": f"Exception in callback {_callback_repr(callback, args)}",
                      "exception": exc, "handle": self}
            if self._source_traceback is not None:
                report["source_traceback"] = self._source_traceback
            self._reactor._report_error(exc, report, None)
        return 0

    def __repr__(self):
        state = " cancelled" if self._cancelled else ""
        return f"<{type(self).__name__}{state} {_callback_repr(self._callback, self._args)}>"


@cython.final
cdef class TimerHandle(Handle):
    """A callback scheduled with ``call_later``/``call_at``."""

    cpdef cancel(self):
        if self._cancelled:
            return
        Handle.cancel(self)
        if self._scheduled:
            self._scheduled = False
            self._reactor._timers_cancelled += 1
            _maybe_compact_timers(self._reactor)

    def when(self):
        """The reactor time at which the callback is due."""
        return self._when

    def __repr__(self):
        state = "cancelled" if self._cancelled else f"when={self._when:.6f}"
        return f"<TimerHandle {state} {_callback_repr(self._callback, self._args)}>"


cdef str _callback_repr(object callback, tuple args):
    if callback is None:
        return "(done)"
    name = getattr(callback, "__qualname__", None) or repr(callback)
    return f"{name}({', '.join(map(repr, args or ()))})"


# The timer heap: a binary min-heap on (when, seq) in a list, compared at C
# level; seq keeps callbacks due at the same instant in scheduling order.

cdef inline bint _timer_lt(TimerHandle a, TimerHandle b) noexcept:
    return a._when < b._when or (a._when == b._when and a._seq < b._seq)


cdef int _heap_sift_down(list heap, Py_ssize_t pos) except -1:
    cdef Py_ssize_t n = len(heap), child
    cdef TimerHandle item = heap[pos]
    while True:
        child = 2 * pos + 1
        if child >= n:
            break
        if child + 1 < n and _timer_lt(heap[child + 1], heap[child]):
            child += 1
        if not _timer_lt(heap[child], item):
            break
        heap[pos] = heap[child]
        pos = child
    heap[pos] = item
    return 0


cdef int _heap_push(list heap, TimerHandle item) except -1:
    cdef Py_ssize_t pos = len(heap), parent
    heap.append(item)
    while pos > 0:
        parent = (pos - 1) >> 1
        if not _timer_lt(item, heap[parent]):
            break
        heap[pos] = heap[parent]
        pos = parent
    heap[pos] = item
    return 0


cdef TimerHandle _heap_pop(list heap):
    cdef TimerHandle top = heap[0]
    last = heap.pop()
    if heap:
        heap[0] = last
        _heap_sift_down(heap, 0)
    return top


cdef int _maybe_compact_timers(Reactor reactor) except -1:
    # Cancelled timers stay in the heap until they surface; once they are
    # the majority, drop them all at once so memory follows live timers.
    cdef list heap = reactor._timers
    cdef Py_ssize_t i
    cdef TimerHandle h
    if reactor._timers_cancelled < CANCELLED_REBUILD_MIN or reactor._timers_cancelled * 2 < len(heap):
        return 0
    heap[:] = [h for h in heap if not h._cancelled]
    for i in range(len(heap) // 2 - 1, -1, -1):
        _heap_sift_down(heap, i)
    reactor._timers_cancelled = 0
    return 0
