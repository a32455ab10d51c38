# The TLS engine: one per TLS connection, a filter between the socket and the
# handler. It never touches a descriptor: its owner (the Connection) does
# every syscall, so the cork, the write queue, flow control, counters and
# EPOLLOUT stay in one place.
#
# The SSL* is the one CPython creates for ``sslcontext.wrap_bio(...)``, so the
# user's ssl.SSLContext means exactly what it means for asyncio: verification,
# CA and client certificates, ciphers, versions, ALPN, ``sni_callback`` (it is
# handed the same SSLObject), ``check_hostname``, keylog. The engine swaps
# CPython's memory BIOs for one of its own and drives the SSL* from C.
#
# Lifecycle, as the owner sees it:
#
#   engine = TLSEngine.new(ctx, server_side, server_hostname)
#   engine.set_sink(raw_write, conn)     # ciphertext out, see tls_sink
#   engine.start()                       # a client sends its ClientHello
#
#   recv() gave n bytes at rbuf:
#       data, length = rbuf, n
#       loop:
#           r = engine.read(&data, &length, plain, cap)
#           r > 0                 plain[0:r] is plaintext for the handler
#           TLS_HANDSHAKE_DONE    call connection_made(); get_extra_info works
#           TLS_WANT_READ         all of data was consumed: wait for the socket
#           TLS_CLOSED            the peer's close_notify: eof_received()
#           raises ssl.SSLError   fatal (alert already sunk): close the socket
#       When the owner stops before TLS_WANT_READ (reading paused, handler
#       closed the connection), it calls engine.stash(data, length) if it
#       wants the rest later; the engine never keeps a pointer into rbuf.
#       Later, engine.pending() says whether read() has something without
#       new input (stashed ciphertext or decrypted plaintext); call read()
#       with length 0 then, from the event loop, not from inside another
#       connection's delivery if the plaintext buffer is shared.
#
#   recv() returned 0: engine.feed_eof(), then read() as above: TLS_CLOSED if
#       the peer had sent close_notify, ssl.SSLEOFError if the stream was
#       truncated (or mid-handshake).
#
#   handler writes: engine.write(data, n) after TLS_HANDSHAKE_DONE; one call
#       makes ceil(n / 16 KiB) records and, when they fit the output buffer
#       (OUT_CAPACITY), one sink call. Give it the corked plaintext of a whole
#       event, not each small write.
#
#   close: engine.shutdown() sinks close_notify (returns 1 when the peer's was
#       already received, 0 otherwise); the sink must still accept data while
#       the connection closes. Not after a fatal error, where it does nothing.
#
# Every method may call the sink; none calls anything else of the owner.
# Re-entering the engine from inside an OpenSSL callback (sni_callback) raises
# RuntimeError; calling it from inside the sink is allowed.
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
