# ---------------------------------------------------------------- the server's counters
#
# HttpMetrics (declared in _http.pxd) is counted in C on the hot path: a
# response costs one add for its status class, one for its body bytes and
# one histogram bucket found by a short scan (most requests stop at the
# first bound). Python reads a struct only when someone asks (stats(), a
# scrape): metrics_read() turns one into a dict, wherever it lives.

cdef inline double _monotonic() noexcept nogil:
    # The reactor's clock (CLOCK_MONOTONIC), which Reactor._now caches.
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return ts.tv_sec + ts.tv_nsec * 1e-9


# The histogram's upper bounds, in seconds; the last bucket is +Inf. Fixed,
# so that every worker's histogram adds up with the others'.
cdef double _DURATION_BOUNDS[DURATION_BUCKETS - 1]
_DURATION_BOUNDS[:] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                       5.0, 10.0, 30.0]

DURATION_BOUNDS = tuple([_DURATION_BOUNDS[i] for i in range(DURATION_BUCKETS - 1)])
METRICS_SIZE = sizeof(HttpMetrics)

CONN_REFUSALS = ("too many connections", "shutting down", "incomplete request")
TIMEOUT_KINDS = ("header", "body", "body_rate", "keepalive", "send", "linger")
REFUSAL_REASONS = tuple([(refusal_status(<Refusal>i), refusal_reason(<Refusal>i).decode("ascii"))
                         for i in range(<int>R_COUNT)])


cdef inline int _count_response(HttpMetrics *m, int status, long long body_bytes,
                                double started) noexcept nogil:
    # One response: its status class, its body bytes, and the time since its
    # head was complete (``started``; 0: it had none, a refusal) in the
    # histogram.
    cdef int i = status // 100
    cdef double seconds
    m.responses[i if 0 < i < 6 else 0] += 1
    m.body_bytes_out += body_bytes
    if started > 0:
        seconds = _monotonic() - started
        i = 0
        while i < DURATION_BUCKETS - 1 and seconds > _DURATION_BOUNDS[i]:
            i += 1
        m.duration[i] += 1
        m.duration_sum += seconds
    return 0


cdef object _metrics_view(object buffer, Py_ssize_t offset):
    # A writable buffer (a shared mmap) holding an HttpMetrics at
    # ``offset``, as a memoryview that keeps the buffer exported.
    cdef unsigned char[::1] view = buffer
    if offset < 0 or offset % 8 or offset + <Py_ssize_t>sizeof(HttpMetrics) > view.shape[0]:
        raise ValueError(f"no room for the counters at offset {offset}")
    return view


cdef inline HttpMetrics *_metrics_at(unsigned char[::1] view, Py_ssize_t offset) noexcept:
    return <HttpMetrics *>&view[offset]


cdef dict _metrics_dict(HttpMetrics *m):
    return {
        "responses": {f"{c}xx": m.responses[c] for c in range(1, 6)},
        "body_bytes_in": m.body_bytes_in,
        "body_bytes_out": m.body_bytes_out,
        "refused": {REFUSAL_REASONS[i]: m.refused[i] for i in range(1, <int>R_COUNT) if m.refused[i]},
        "conn_refused": {CONN_REFUSALS[i]: m.conn_refused[i] for i in range(<int>CR_COUNT)},
        "timeouts": {TIMEOUT_KINDS[i]: m.timeouts[i] for i in range(<int>T_COUNT)},
        "app_errors": m.app_errors,
        "duration_buckets": [m.duration[i] for i in range(DURATION_BUCKETS)],
        "duration_sum": m.duration_sum,
        "open": m.open,
        "idle": m.idle,
    }


def metrics_read(buffer, Py_ssize_t offset):
    """The counters stored at ``offset`` of ``buffer`` (a scoreboard slot),
    as a dict (the shape of ``ServerCore.metrics()``)."""
    view = _metrics_view(buffer, offset)
    return _metrics_dict(_metrics_at(view, offset))


def metrics_retire(buffer, Py_ssize_t into, Py_ssize_t offset):
    """Adds the counters at ``offset`` (a worker that is gone) to those at
    ``into``, and zeroes ``offset``: gauges are not added, a dead worker
    holds no connection."""
    view = _metrics_view(buffer, into)
    _metrics_view(buffer, offset)
    cdef HttpMetrics *dst = _metrics_at(view, into)
    cdef HttpMetrics *src = _metrics_at(view, offset)
    cdef int i
    for i in range(6):
        dst.responses[i] += src.responses[i]
    dst.body_bytes_in += src.body_bytes_in
    dst.body_bytes_out += src.body_bytes_out
    for i in range(<int>R_COUNT):
        dst.refused[i] += src.refused[i]
    for i in range(<int>CR_COUNT):
        dst.conn_refused[i] += src.conn_refused[i]
    for i in range(<int>T_COUNT):
        dst.timeouts[i] += src.timeouts[i]
    dst.app_errors += src.app_errors
    for i in range(DURATION_BUCKETS):
        dst.duration[i] += src.duration[i]
    dst.duration_sum += src.duration_sum
    memset(src, 0, sizeof(HttpMetrics))
