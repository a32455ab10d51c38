# The cork: while a connection's handler handles a read event, its small
# writes are gathered in one per-reactor buffer and sent with one syscall
# when the handler returns, so a batch of pipelined responses costs one
# send(), not one per response. The rules:
#
# 1. Only the connection whose read event is being dispatched is corked
#    (_cork_begin/_cork_end around buffer_received/buffer_updated).
# 2. A write to it is copied into the cork only while nothing is queued
#    (order), it is at most CORK_MAX_WRITE (copying more would cost more
#    than the syscall it saves) and it fits CORK_CAPACITY. A TLS
#    connection's cork holds plaintext, and may fill while records are
#    queued: everything is encrypted in order, and the records are sent in
#    order (_tlsfilter.pxi).
# 3. Anything that must keep byte order with what is corked first flushes
#    the cork (_cork_release): a larger write, writelines(), close(),
#    write_eof(). get_write_buffer_size() counts corked bytes.
# 4. When the handler returns, or raises, the cork is flushed: one send(),
#    and the unsent tail is queued like any other write. With TLS: one
#    engine call, i.e. full records and one send().
# 5. A connection torn down while corked drops what is corked (_cork_drop):
#    abort() discards unsent data anyway.
#
# Writes made outside the connection's own read event (from an asyncio task,
# a timer, another connection's handler) are coalesced the same way, over
# the rest of the loop iteration: a small write to an idle queue is queued
# without a syscall (_defer) and every such connection's queue goes out with
# one sendmsg when the iteration's callbacks have run (_flush_deferred),
# before the loop sleeps again. An app that writes a response head and its
# body separately costs one send, not two. Writes larger than CORK_MAX_WRITE
# go out at once (after what is deferred, to keep the order), and nothing is
# deferred while the reactor is not running. A TLS connection defers the
# plaintext, so that what it gathers becomes full records.

cdef enum:
    CORK_CAPACITY = 64 * 1024
    CORK_MAX_WRITE = 8 * 1024


cdef inline int _cork_begin(Reactor reactor, Connection conn) noexcept:
    reactor._cork_conn = conn
    return 0


cdef inline int _cork_end(Reactor reactor, Connection conn) except -1:
    if reactor._cork_conn is conn:
        return _cork_flush(reactor)
    return 0


cdef inline bint _cork_add(Reactor reactor, const char *data, Py_ssize_t length) noexcept:
    """Copies ``data`` into the cork if the rules allow; false otherwise."""
    if length > CORK_MAX_WRITE or reactor._cork_len + length > CORK_CAPACITY:
        return False
    memcpy(reactor._cork_buf + reactor._cork_len, data, length)
    reactor._cork_len += length
    return True


cdef int _cork_flush(Reactor reactor) except -1:
    cdef Connection conn = reactor._cork_conn
    cdef Py_ssize_t length = reactor._cork_len, sent
    reactor._cork_conn = None
    reactor._cork_len = 0
    if conn is None or length == 0 or conn._closed:
        return 0
    if conn._tls is not None:
        return _tls_encrypt(conn, reactor._cork_buf, length)
    sent = conn._send_now(reactor._cork_buf, length)
    if 0 <= sent < length:
        conn._queue(PyBytes_FromStringAndSize(reactor._cork_buf + sent, length - sent), 0)
    return 0


cdef inline int _cork_release(Reactor reactor, Connection conn) except -1:
    if reactor._cork_conn is conn:
        return _cork_flush(reactor)
    return 0


cdef inline Py_ssize_t _cork_pending(Reactor reactor, Connection conn) noexcept:
    return reactor._cork_len if reactor._cork_conn is conn else 0


cdef inline int _cork_drop(Reactor reactor, Connection conn) noexcept:
    if reactor._cork_conn is conn:
        reactor._cork_conn = None
        reactor._cork_len = 0
    return 0


cdef inline bint _may_defer(Reactor reactor, Connection conn, Py_ssize_t length) noexcept:
    return reactor._running and length <= CORK_MAX_WRITE and not conn._connecting


cdef int _defer(Reactor reactor, Connection conn) except -1:
    if not conn._deferred:
        conn._deferred = True
        reactor._deferred.append(conn)
    return 0


cdef int _flush_deferred(Reactor reactor) except -1:
    # A flush can make room and resume a writer (resume_writing) that
    # defers again: repeat until nothing is deferred, so no queue is left
    # without EPOLLOUT when the loop goes to sleep.
    cdef list deferred
    cdef Connection conn
    while reactor._deferred:
        deferred = reactor._deferred
        reactor._deferred = []
        for conn in deferred:
            conn._deferred = False
            if conn._closed:
                continue
            if conn._tls is not None:
                _tls_encrypt_pending(conn)       # TLS defers plaintext: one engine call
                if conn._closed:
                    continue
            # Records or bytes queued while the connection was deferred went
            # without EPOLLOUT (_update_interest), even when no plaintext is
            # left to encrypt: send them now, or arm it.
            if conn._wq_size:
                conn._flush_queue()
    return 0
