# The TLS engine: one per TLS connection, a filter between the socket and the
# handler. It never touches a descriptor: its owner (the Connection) does
# every syscall, so the cork, the write queue, flow control, counters and
# EPOLLOUT stay in one place.
#
# The SSL* is the one CPython creates for ``sslcontext.wrap_bio(...)``, so the
# user's ssl.SSLContext means exactly what it means for asyncio: verification,
# CA and client certificates, ciphers, versions, ALPN, ``sni_callback`` (it is
# handed the same SSLObject), ``check_hostname``, keylog. The engine swaps
# CPython's memory BIOs for one of its own and drives the SSL* from C; the
# SSLObject stays alive with the engine and is what get_extra_info() hands out.
#
# Lifecycle, as the owner sees it:
#
#   engine = TLSEngine.new(ctx, server_side, server_hostname)   # may raise
#   engine.set_sink(raw_write, <void *>conn)   # ciphertext out, see tls_sink
#   engine.start()                             # a client's ClientHello
#
#   recv() put n bytes at rbuf:
#       data, length = rbuf, n
#       loop:
#           r = engine.read(&data, &length, plain, cap)
#           r > 0               plain[0:r] is plaintext for the handler (as
#                               many records as fit: one recv, one delivery)
#           TLS_HANDSHAKE_DONE  once: connection_made(); get_extra_info works;
#                               the rest of the window is still in data/length
#           TLS_WANT_READ       everything fed was consumed: wait for EPOLLIN
#           TLS_CLOSED          the peer's close_notify: eof_received()
#           raises ssl.SSLError fatal, as CPython would raise it (subclass,
#                               reason, library, verify_code/verify_message);
#                               the alert is already sunk: close the socket
#       read() advances data/length past what it consumed and never keeps a
#       pointer into rbuf. An owner that stops before TLS_WANT_READ (reading
#       paused, the handler closed the connection) calls
#       engine.stash(data, length) to keep the rest (copied, freed once
#       consumed). Later, engine.pending() says read() has something without
#       new input (stashed ciphertext, decrypted plaintext not yet taken):
#       call read() with length 0 from the event loop, never from inside
#       another delivery that uses the same plaintext buffer. Conversely,
#       once the window is empty, engine.wants_input() says another read()
#       could only return TLS_WANT_READ (nothing buffered, no failure or
#       close_notify left to report): the owner may skip that call.
#
#   recv() returned 0: engine.feed_eof(), then read() as above: TLS_CLOSED if
#       close_notify had come, ssl.SSLEOFError if the stream was truncated or
#       the handshake unfinished (what asyncio's SSLObject reports).
#
#   the handler writes: engine.write(data, n), only after TLS_HANDSHAKE_DONE
#       (RuntimeError before). One call makes ceil(n / 16 KiB) full records
#       and, up to OUT_CAPACITY (_tls.pyx) of ciphertext, one sink call:
#       give it the corked plaintext of a whole event, not each small write.
#
#   close: engine.shutdown() sinks close_notify and returns 1 when the peer's
#       had already come, else 0 (the owner may wait for it, bounded); a
#       no-op before the handshake ends or after a fatal error. The sink must
#       still take data while the connection is closing.
#
# Errors: each SSL_* call starts on an empty error queue and is read right
# after (SSL_get_error(3)); the queue is left empty. The sink may raise: the
# engine call raises it and the engine is unusable afterwards, as after a
# fatal error (shutdown() sends nothing). Engine calls may nest
# inside a sink (another engine's, or this one's); re-entering the engine from
# an OpenSSL callback (Python code in sni_callback) raises RuntimeError. An
# idle engine holds no buffer of its own, and OpenSSL's record buffers are
# released between records (SSL_MODE_RELEASE_BUFFERS, SSL_free_buffers).
# Renegotiation is refused (SSL_OP_NO_RENEGOTIATION).
cimport cython

from cyreactor cimport _openssl


# Takes all `length` bytes of ciphertext (sending what the kernel accepts,
# queueing the rest) or raises. `data` is valid only during the call.
ctypedef int (*tls_sink)(void *ctx, const char *data, Py_ssize_t length) except -1


cdef enum:
    # read() results besides a plaintext length > 0; -1 is the error return.
    TLS_WANT_READ = 0
    TLS_HANDSHAKE_DONE = -2
    TLS_CLOSED = -3


# What the BIO callbacks see; pure C so they run without the GIL or any
# Python object.
cdef struct _TLSBuffers:
    # Ciphertext lent by the owner for the duration of one read() call.
    const char *window
    Py_ssize_t window_len
    # Ciphertext the owner stashed: owned, freed as soon as it is consumed.
    char *stash
    Py_ssize_t stash_start
    Py_ssize_t stash_end
    bint eof
    # Where records being written go during one engine call (a scratch
    # buffer shared by all engines, never held between calls).
    char *out
    Py_ssize_t out_len
    Py_ssize_t out_cap


@cython.final
cdef class TLSEngine:
    # The ssl.SSLObject whose _SSLSocket owns the SSL*: CPython's callbacks
    # find it through the SSL's app data, and it frees the SSL (and our BIO).
    cdef object _sslobj
    cdef _openssl.SSL *_ssl
    cdef _openssl.BIO *_bio
    cdef _TLSBuffers _io
    cdef tls_sink _sink
    cdef void *_sink_ctx
    # Without a sink (the Python surface) ciphertext collects here.
    cdef bytearray _outgoing
    # A failure met after some plaintext was decrypted: raised by the next
    # read(), once that plaintext is delivered.
    cdef object _deferred
    cdef bint _handshake_done
    cdef bint _peer_closed
    cdef bint _failed
    cdef bint _in_openssl

    @staticmethod
    cdef TLSEngine new(object sslcontext, bint server_side, object server_hostname)

    cdef int set_sink(self, tls_sink sink, void *ctx) noexcept
    cpdef int start(self) except -1
    cdef Py_ssize_t read(self, const char **data, Py_ssize_t *length,
                         char *plain, Py_ssize_t cap) except -1
    cdef int stash(self, const char *data, Py_ssize_t length) except -1
    cpdef int feed_eof(self) except -1
    cdef bint pending(self) noexcept
    cdef bint wants_input(self) noexcept
    cdef int write(self, const char *data, Py_ssize_t length) except -1
    cpdef int shutdown(self) except -1
    cpdef object get_extra_info(self, str name, object default=*)

    cdef Py_ssize_t _read(self, char *plain, Py_ssize_t cap) except -1
    cdef int _write(self, const char *data, Py_ssize_t length) except -1
    cdef int _shutdown(self) except -1
    cdef int _enter(self) except -1
    cdef int _outcome(self, int ret) except -1
    cdef int _flush(self) except -1
    cdef object _error(self, int code)
