# Per-connection deadlines (Connection.set_timeout): O(1) to arm, re-arm and
# disarm, however many connections. Connections that share a duration form
# one FIFO (_DeadlineQueue): a re-armed deadline is "now + duration", never
# earlier than any already queued, so it goes to the tail and the queue stays
# in deadline order; expiry only looks at each queue's head. A server uses a
# handful of durations, so the queues are few and scanned in C.


@cython.final
cdef class _DeadlineQueue:
    pass


cdef _DeadlineQueue _deadline_queue(Reactor reactor, double duration):
    cdef _DeadlineQueue q
    # The few durations in use are scanned in C: no float is boxed for a
    # dict lookup on the per-request path.
    for q in reactor._deadline_queues:
        if q._duration == duration:
            return q
    if len(reactor._deadline_queues) >= DEADLINE_QUEUES_PRUNE:
        # Many distinct durations: forget the empty queues (no connection
        # refers to an empty one) so the scan stays short.
        reactor._deadline_queues = [q for q in reactor._deadline_queues if q._head is not None]
    q = _DeadlineQueue.__new__(_DeadlineQueue)
    q._duration = duration
    reactor._deadline_queues.append(q)
    return q


cdef int _arm_deadline(Connection conn, double seconds) except -1:
    cdef _DeadlineQueue q = conn._dqueue
    if q is None or q._duration != seconds:
        q = _deadline_queue(conn._reactor, seconds)
    # A fresh clock, not the loop's cached one: the delay counts from this
    # call even late in a long batch. Deadlines of one queue still only
    # grow, so the FIFO stays in deadline order.
    conn._deadline = _monotonic() + seconds
    if q._tail is conn:
        return 0
    if conn._dqueue is q:
        # Re-armed in its queue (every keep-alive request): moved to the
        # tail, its links overwritten rather than cleared first.
        _unlink(conn, q)
    else:
        _disarm_deadline(conn)
        conn._dqueue = q
    conn._dprev = q._tail
    conn._dnext = None
    if q._tail is None:
        q._head = conn
    else:
        q._tail._dnext = conn
    q._tail = conn
    return 0


cdef inline void _unlink(Connection conn, _DeadlineQueue q) noexcept:
    # Leaves conn's own links as they were.
    if conn._dprev is None:
        q._head = conn._dnext
    else:
        conn._dprev._dnext = conn._dnext
    if conn._dnext is None:
        q._tail = conn._dprev
    else:
        conn._dnext._dprev = conn._dprev


cdef int _disarm_deadline(Connection conn) noexcept:
    cdef _DeadlineQueue q = conn._dqueue
    if q is None:
        return 0
    _unlink(conn, q)
    conn._dprev = None
    conn._dnext = None
    conn._dqueue = None
    return 0


cdef double _next_deadline(Reactor reactor) noexcept:
    """The earliest armed deadline, or -1 if none."""
    # Before every epoll_wait: the queues are read borrowed and unchecked
    # (the list holds _DeadlineQueues only), no reference counted.
    cdef list queues = reactor._deadline_queues
    cdef PyObject *q
    cdef double deadline = -1.0
    cdef Py_ssize_t i
    for i in range(PyList_GET_SIZE(queues)):
        q = PyList_GET_ITEM(queues, i)
        if (<_DeadlineQueue>q)._head is not None and (
                deadline < 0.0 or (<_DeadlineQueue>q)._head._deadline < deadline):
            deadline = (<_DeadlineQueue>q)._head._deadline
    return deadline


cdef int _expire_deadlines(Reactor reactor) except -1:
    cdef _DeadlineQueue q
    cdef Connection conn
    for q in reactor._deadline_queues:
        while q._head is not None and q._head._deadline <= reactor._now:
            conn = q._head
            _disarm_deadline(conn)
            reactor._st_timeouts += 1
            conn._on_deadline()
    return 0
