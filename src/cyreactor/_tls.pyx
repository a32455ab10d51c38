# cython: freethreading_compatible = False
"""The TLS engine: an SSL* from the user's ssl.SSLContext, driven from C
through a BIO that reads the reactor's receive window in place and writes
records to the owner's raw write path. The contract is in _tls.pxd."""

cimport cython
from cpython.bytes cimport PyBytes_FromStringAndSize
from cpython.ref cimport PyObject
from libc.stdlib cimport free, malloc, realloc
from libc.string cimport memcpy, memmove

from cyreactor cimport _openssl

import ssl
import _ssl

__all__ = ["TLSEngine"]


cdef enum:
    # Records written during one engine call collect here and reach the sink
    # in one piece: a 64 KiB write (four full records) is one send().
    OUT_CAPACITY = 128 * 1024
    # The Python surface's plaintext buffer (the reactor brings its own).
    DEFAULT_PLAIN = 64 * 1024

cdef object _SSLSocket = _ssl._SSLSocket
cdef dict _err_names = _ssl.err_codes_to_names
cdef dict _lib_names = _ssl.lib_codes_to_names
cdef str _EOF_TEXT = "EOF occurred in violation of protocol"


# ---- the one OpenSSL we share with CPython --------------------------------

cdef object _refusal = None
if _openssl.OpenSSL_version_num() != ssl.OPENSSL_VERSION_NUMBER:
    _refusal = (
        f"cyreactor's TLS engine is linked against OpenSSL "
        f"{_openssl.OpenSSL_version_num():#x} but Python's ssl module uses "
        f"{ssl.OPENSSL_VERSION_NUMBER:#x} ({ssl.OPENSSL_VERSION}); an SSL object "
        f"must never cross two libssl copies: rebuild cyreactor against the "
        f"libssl that Python's _ssl module loads")
cdef bint _probed = False


cdef _openssl.SSL *_ssl_of(object sslobj, bint server_side) except NULL:
    """The SSL* inside an SSLObject made by wrap_bio(), checked."""
    cdef object inner = getattr(sslobj, "_sslobj", None)
    cdef _openssl.PySSLSocket *raw
    cdef _openssl.SSL *s
    if (type(inner) is not _SSLSocket
            or _SSLSocket.__basicsize__ < sizeof(_openssl.PySSLSocket)):
        raise RuntimeError(
            f"wrap_bio() returned {type(sslobj).__name__} without a "
            f"_ssl._SSLSocket: unsupported Python build")
    raw = <_openssl.PySSLSocket *><PyObject *>inner
    s = raw.ssl
    # Objects made by wrap_bio() have no socket; the SSL's app data points
    # back at the _SSLSocket (newPySSLSocket in CPython's Modules/_ssl.c).
    if (raw.Socket != NULL or s == NULL
            or _openssl.SSL_get_app_data(s) != <void *>inner
            or _openssl.SSL_is_server(s) != server_side):
        raise RuntimeError(
            "cannot find the SSL object inside Python's _ssl._SSLSocket: this "
            "CPython's layout is not the one cyreactor's TLS engine knows")
    return s


cdef int _probe_openssl() except -1:
    # Equal version numbers do not prove one copy (a Python may carry its own
    # build of the same release); a method table is a static of the library
    # that made it, so the SSL* CPython creates must point at ours.
    global _refusal, _probed
    cdef _openssl.SSL *s
    _probed = True
    if _refusal is not None:
        return 0
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    # Held while `s` is used: the SSL dies with it.
    probe = context.wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO())
    try:
        s = _ssl_of(probe, False)
    except RuntimeError as exc:
        _refusal = str(exc)
        return 0
    if _openssl.SSL_get_ssl_method(s) != _openssl.TLS_client_method():
        _refusal = (
            "Python's ssl module and cyreactor's TLS engine load two different "
            "copies of libssl; an SSL object must never cross them: rebuild "
            "cyreactor against the libssl that Python's _ssl module loads")
    return 0


# ---- the BIO: OpenSSL's view of the socket ------------------------------------
#
# One BIO is both rbio and wbio. Reads serve the stash, then the window lent
# to read(); nothing left means "retry" (SSL_ERROR_WANT_READ), or EOF once
# feed_eof() was called, which BIO_CTRL_EOF reports so OpenSSL tells a
# truncated stream (SSL_R_UNEXPECTED_EOF_WHILE_READING) from close_notify.
# Writes fill the call's output buffer and say "retry" when it is full or
# outside an engine call; OpenSSL handles short writes (ssl3_write_pending)
# and the engine sinks the buffer and calls again with the same arguments.
# A BIO whose engine is gone fails without retry.

cdef int _bio_read(_openssl.BIO *bio, char *out, int size) noexcept nogil:
    cdef _TLSBuffers *io = <_TLSBuffers *>_openssl.BIO_get_data(bio)
    cdef Py_ssize_t n
    _openssl.BIO_clear_retry_flags(bio)
    if io == NULL or size <= 0:
        return -1
    n = io.stash_end - io.stash_start
    if n:
        n = min(n, <Py_ssize_t>size)
        memcpy(out, io.stash + io.stash_start, n)
        io.stash_start += n
        if io.stash_start == io.stash_end:
            free(io.stash)
            io.stash = NULL
            io.stash_start = io.stash_end = 0
        return <int>n
    if io.window_len:
        n = min(io.window_len, <Py_ssize_t>size)
        memcpy(out, io.window, n)
        io.window += n
        io.window_len -= n
        return <int>n
    if io.eof:
        return 0
    _openssl.BIO_set_retry_read(bio)
    return -1


cdef int _bio_write(_openssl.BIO *bio, const char *data, int size) noexcept nogil:
    cdef _TLSBuffers *io = <_TLSBuffers *>_openssl.BIO_get_data(bio)
    cdef Py_ssize_t n
    _openssl.BIO_clear_retry_flags(bio)
    if io == NULL:
        return -1
    n = min(io.out_cap - io.out_len, <Py_ssize_t>size)
    if n <= 0:
        _openssl.BIO_set_retry_write(bio)
        return -1
    memcpy(io.out + io.out_len, data, n)
    io.out_len += n
    return <int>n


cdef long _bio_ctrl(_openssl.BIO *bio, int cmd, long num, void *ptr) noexcept nogil:
    cdef _TLSBuffers *io
    if cmd == _openssl.BIO_CTRL_FLUSH:
        return 1
    if cmd == _openssl.BIO_CTRL_EOF:
        io = <_TLSBuffers *>_openssl.BIO_get_data(bio)
        return io == NULL or (io.eof and io.window_len == 0 and io.stash_end == io.stash_start)
    return 0


cdef _openssl.BIO_METHOD *_bio_method = _openssl.BIO_meth_new(
    _openssl.BIO_get_new_index() | _openssl.BIO_TYPE_SOURCE_SINK, b"cyreactor")
if (_bio_method == NULL
        or not _openssl.BIO_meth_set_read(_bio_method, _bio_read)
        or not _openssl.BIO_meth_set_write(_bio_method, _bio_write)
        or not _openssl.BIO_meth_set_ctrl(_bio_method, _bio_ctrl)):
    raise MemoryError("cannot create the TLS engine's BIO method")


# ---- the output buffer of one engine call -------------------------------------
#
# Never held between calls, so one serves every engine; a call nested inside
# a sink (the owner's write path failing and tearing down, say) takes a fresh
# one, and each call restores what it found.

cdef char *_spare_out = NULL


cdef struct _Frame:
    const char *window
    Py_ssize_t window_len
    char *out
    Py_ssize_t out_len
    Py_ssize_t out_cap


cdef int _frame_enter(_TLSBuffers *io, _Frame *saved) except -1:
    global _spare_out
    cdef char *buf = _spare_out
    if buf == NULL:
        buf = <char *>malloc(OUT_CAPACITY)
        if buf == NULL:
            raise MemoryError()
    else:
        _spare_out = NULL
    saved.window = io.window
    saved.window_len = io.window_len
    saved.out = io.out
    saved.out_len = io.out_len
    saved.out_cap = io.out_cap
    io.out = buf
    io.out_len = 0
    io.out_cap = OUT_CAPACITY
    return 0


cdef void _frame_exit(_TLSBuffers *io, _Frame *saved) noexcept:
    global _spare_out
    if _spare_out == NULL:
        _spare_out = io.out
    else:
        free(io.out)
    io.window = saved.window
    io.window_len = saved.window_len
    io.out = saved.out
    io.out_len = saved.out_len
    io.out_cap = saved.out_cap


cdef object _CONSTRUCT = object()


cdef object _unusable():
    return ssl.SSLError(ssl.SSL_ERROR_SSL, "the TLS connection failed earlier and is unusable")


@cython.final
cdef class TLSEngine:
    """One TLS connection's record layer; see _tls.pxd for the contract.

    From Python (tests, debugging) ``TLSEngine.memory(ctx, ...)`` makes one
    whose ciphertext collects for ``outgoing()``; ``receive()`` and ``send()``
    drive it. Cython owners use ``TLSEngine.new()`` and the cdef methods."""

    def __cinit__(self, *args):
        # TLSEngine.__new__ from Python would make an engine without an SSL.
        if not args or args[0] is not _CONSTRUCT:
            raise TypeError("TLSEngine is created by TLSEngine.memory() (Python) "
                            "or TLSEngine.new() (Cython)")

    def __dealloc__(self):
        # The SSLObject may outlive us (get_extra_info("ssl_object")): its
        # SSL keeps our BIO, which must then fail instead of reaching freed
        # memory.
        if self._bio != NULL:
            _openssl.BIO_set_data(self._bio, NULL)
        free(self._io.stash)

    @staticmethod
    cdef TLSEngine new(object sslcontext, bint server_side, object server_hostname):
        cdef TLSEngine engine
        cdef _openssl.SSL *s
        cdef _openssl.BIO *bio
        if not _probed:
            _probe_openssl()
        if _refusal is not None:
            raise RuntimeError(_refusal)
        if not isinstance(sslcontext, ssl.SSLContext):
            raise TypeError(f"ssl must be an ssl.SSLContext, not {type(sslcontext).__name__}")
        # ssl.SSLSocket refuses this; SSLObject would quietly skip the check.
        if not server_side and server_hostname is None and sslcontext.check_hostname:
            raise ValueError("check_hostname requires server_hostname")
        sslobj = sslcontext.wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO(),
                                     server_side=server_side, server_hostname=server_hostname)
        s = _ssl_of(sslobj, server_side)
        engine = TLSEngine.__new__(TLSEngine, _CONSTRUCT)
        bio = _openssl.BIO_new(_bio_method)
        if bio == NULL:
            raise MemoryError()
        _openssl.BIO_set_data(bio, &engine._io)
        _openssl.BIO_set_init(bio, 1)
        # Frees CPython's memory BIOs (SSL_set_bio(3): one reference is taken
        # when rbio == wbio).
        _openssl.SSL_set_bio(s, bio, bio)
        # An idle connection holds no record buffers (SSL_CTX_set_mode(3)).
        _openssl.SSL_set_mode(s, _openssl.SSL_MODE_RELEASE_BUFFERS)
        _openssl.SSL_set_options(s, _openssl.SSL_OP_NO_RENEGOTIATION)
        engine._sslobj = sslobj
        engine._ssl = s
        engine._bio = bio
        return engine

    cdef int set_sink(self, tls_sink sink, void *ctx) noexcept:
        self._sink = sink
        self._sink_ctx = ctx
        return 0

    # ---- the C interface -------------------------------------------------

    cpdef int start(self) except -1:
        """Sends a client's ClientHello; nothing for a server."""
        cdef const char *data = NULL
        cdef Py_ssize_t length = 0
        if not self._handshake_done:
            self.read(&data, &length, NULL, 0)
        return 0

    cdef Py_ssize_t read(self, const char **data, Py_ssize_t *length,
                         char *plain, Py_ssize_t cap) except -1:
        cdef _Frame saved
        cdef Py_ssize_t result
        _frame_enter(&self._io, &saved)
        self._io.window = data[0]
        self._io.window_len = length[0]
        try:
            result = self._read(plain, cap)
        finally:
            data[0] = self._io.window
            length[0] = self._io.window_len
            try:
                self._flush()
            finally:
                _frame_exit(&self._io, &saved)
        return result

    cdef int stash(self, const char *data, Py_ssize_t length) except -1:
        cdef _TLSBuffers *io = &self._io
        cdef Py_ssize_t live = io.stash_end - io.stash_start
        cdef char *grown
        if length <= 0:
            return 0
        if io.stash_start:
            memmove(io.stash, io.stash + io.stash_start, live)
            io.stash_start = 0
            io.stash_end = live
        grown = <char *>realloc(io.stash, live + length)
        if grown == NULL:
            raise MemoryError()
        memcpy(grown + live, data, length)
        io.stash = grown
        io.stash_end = live + length
        return 0

    cpdef int feed_eof(self) except -1:
        """The peer closed its side: read() reports close_notify or
        truncation once the ciphertext before it is consumed."""
        self._io.eof = True
        return 0

    cdef bint pending(self) noexcept:
        return (self._io.stash_end > self._io.stash_start
                or (self._handshake_done and _openssl.SSL_pending(self._ssl) > 0))

    cdef bint wants_input(self) noexcept:
        return (self._handshake_done and not self._failed and not self._peer_closed
                and self._deferred is None and not self._io.eof
                and self._io.stash_end == self._io.stash_start
                and not _openssl.SSL_has_pending(self._ssl))

    cdef int write(self, const char *data, Py_ssize_t length) except -1:
        cdef _Frame saved
        if length <= 0:
            return 0
        _frame_enter(&self._io, &saved)
        try:
            self._write(data, length)
        finally:
            try:
                self._flush()
            finally:
                _frame_exit(&self._io, &saved)
        return 0

    cpdef int shutdown(self) except -1:
        """Sends close_notify (RFC 8446 section 6.1) unless the handshake
        never finished or the connection failed; 1 when the peer's
        close_notify had already arrived, else 0."""
        cdef _Frame saved
        cdef int result
        _frame_enter(&self._io, &saved)
        try:
            result = self._shutdown()
        finally:
            try:
                self._flush()
            finally:
                _frame_exit(&self._io, &saved)
        return result

    cpdef object get_extra_info(self, str name, object default=None):
        """asyncio's SSL transport keys: ssl_object, sslcontext, and once
        the handshake is done peercert, cipher, compression. The rest
        (version, ALPN protocol, binary certificate) is on ssl_object."""
        if name == "ssl_object":
            return self._sslobj
        if name == "sslcontext":
            return self._sslobj.context
        if self._handshake_done:
            if name == "peercert":
                return self._sslobj.getpeercert()
            if name == "cipher":
                return self._sslobj.cipher()
            if name == "compression":
                return self._sslobj.compression()
        return default

    # ---- inside one engine call --------------------------------------------

    cdef Py_ssize_t _read(self, char *plain, Py_ssize_t cap) except -1:
        cdef int ret, code
        cdef size_t n
        cdef Py_ssize_t got = 0
        if self._deferred is not None:
            exc, self._deferred = self._deferred, None
            raise exc
        if self._failed:
            raise _unusable()
        if not self._handshake_done:
            while True:
                self._enter()
                ret = _openssl.SSL_do_handshake(self._ssl)
                self._in_openssl = False
                if ret == 1:
                    self._handshake_done = True
                    return TLS_HANDSHAKE_DONE
                code = self._outcome(ret)
                if code == _openssl.SSL_ERROR_WANT_READ:
                    return TLS_WANT_READ
                if code != _openssl.SSL_ERROR_WANT_WRITE:
                    raise self._error(code)
                self._flush()
        # Many records per call when the buffer allows: one delivery, one
        # handler call for all the plaintext a recv() brought.
        while got < cap and not self._peer_closed:
            self._enter()
            ret = _openssl.SSL_read_ex(self._ssl, plain + got, <size_t>(cap - got), &n)
            self._in_openssl = False
            if ret == 1:
                got += <Py_ssize_t>n
                # Nothing left to read from: the call that would only say
                # WANT_READ is skipped.
                if self._io.window_len == 0 and self._io.stash == NULL and not self._io.eof \
                        and not _openssl.SSL_has_pending(self._ssl):
                    break
                continue
            try:
                code = self._outcome(ret)
            except ssl.SSLError as exc:
                # Plaintext decrypted before the failure is delivered first.
                if not got:
                    raise
                self._deferred = exc
                return got
            if code == _openssl.SSL_ERROR_ZERO_RETURN:
                self._peer_closed = True
            elif code == _openssl.SSL_ERROR_WANT_WRITE:
                self._flush()
            else:
                # SSL_MODE_RELEASE_BUFFERS frees the read buffer after
                # application data, not after post-handshake messages alone
                # (session tickets), which would leave ~17 KB on every idle
                # client. With no record data buffered, SSL_free_buffers(3)
                # is safe even before OpenSSL 3.0.14 (CVE-2024-4741).
                if not got and not _openssl.SSL_has_pending(self._ssl):
                    _openssl.SSL_free_buffers(self._ssl)
                break
        if got:
            return got
        return TLS_CLOSED if self._peer_closed else TLS_WANT_READ

    cdef int _write(self, const char *data, Py_ssize_t length) except -1:
        # Partial writes stay off (SSL_MODE_ENABLE_PARTIAL_WRITE): OpenSSL cuts
        # `length` into full records itself and returns once all are written;
        # after WANT_WRITE the call is repeated with the same arguments, as
        # SSL_write(3) requires.
        cdef int ret, code
        cdef size_t n
        if self._failed:
            raise _unusable()
        if not self._handshake_done:
            raise RuntimeError("write before the TLS handshake completed")
        while True:
            self._enter()
            ret = _openssl.SSL_write_ex(self._ssl, data, <size_t>length, &n)
            self._in_openssl = False
            if ret == 1:
                return 0
            code = self._outcome(ret)
            if code != _openssl.SSL_ERROR_WANT_WRITE:
                raise self._error(code)
            self._flush()

    cdef int _shutdown(self) except -1:
        cdef int ret, code, state
        if self._failed or not self._handshake_done:
            return 0
        state = _openssl.SSL_get_shutdown(self._ssl)
        if state & _openssl.SSL_SENT_SHUTDOWN:
            return (state & _openssl.SSL_RECEIVED_SHUTDOWN) != 0
        while True:
            self._enter()
            ret = _openssl.SSL_shutdown(self._ssl)
            self._in_openssl = False
            if ret >= 0:
                return ret
            code = self._outcome(ret)
            if code != _openssl.SSL_ERROR_WANT_WRITE:
                return 0
            self._flush()

    cdef int _enter(self) except -1:
        # The error queue is per thread and anything may have left entries
        # in it: SSL_get_error(3) is only meaningful on a clean queue.
        # Peeking costs a third of clearing all sixteen slots.
        if self._in_openssl:
            raise RuntimeError("TLSEngine re-entered from an OpenSSL callback")
        if _openssl.ERR_peek_error():
            _openssl.ERR_clear_error()
        self._in_openssl = True
        return 0

    cdef int _outcome(self, int ret) except -1:
        """SSL_get_error() for a call that returned `ret`, when it is one
        the caller handles (WANT_READ, WANT_WRITE, ZERO_RETURN); anything
        else raises what CPython raises for it."""
        cdef int code = _openssl.SSL_get_error(self._ssl, ret)
        if (code == _openssl.SSL_ERROR_WANT_READ or code == _openssl.SSL_ERROR_WANT_WRITE
                or code == _openssl.SSL_ERROR_ZERO_RETURN):
            return code
        raise self._error(code)

    cdef int _flush(self) except -1:
        cdef Py_ssize_t n = self._io.out_len
        if n == 0:
            return 0
        self._io.out_len = 0
        if self._sink != NULL:
            try:
                return self._sink(self._sink_ctx, self._io.out, n)
            except BaseException:
                # Records are lost: the TLS stream cannot go on.
                self._failed = True
                raise
        if self._outgoing is None:
            self._outgoing = bytearray()
        self._outgoing += PyBytes_FromStringAndSize(self._io.out, n)
        return 0

    cdef object _error(self, int code):
        """The ssl.SSLError (subclass, attributes, message) CPython's
        PySSL_SetError builds for this failure; the connection is unusable
        afterwards."""
        cdef unsigned long e = _openssl.ERR_peek_last_error()
        cdef int lib = _openssl.ERR_GET_LIB(e)
        cdef int reason = _openssl.ERR_GET_REASON(e)
        cdef const char *text = NULL
        cdef long verify_code = 0
        self._failed = True
        cls = ssl.SSLError
        number = code
        message = None
        if code == _openssl.SSL_ERROR_ZERO_RETURN:
            cls = ssl.SSLZeroReturnError
            message = "TLS/SSL connection has been closed (EOF)"
        elif code == _openssl.SSL_ERROR_SYSCALL:
            if e == 0:
                cls = ssl.SSLEOFError
                number = ssl.SSL_ERROR_EOF
                message = _EOF_TEXT
        elif code == _openssl.SSL_ERROR_SSL:
            if e == 0:
                message = "A failure in the SSL library occurred"
            elif lib != _openssl.ERR_LIB_SSL:
                pass
            elif reason == _openssl.SSL_R_CERTIFICATE_VERIFY_FAILED:
                cls = ssl.SSLCertVerificationError
            elif reason == _openssl.SSL_R_UNEXPECTED_EOF_WHILE_READING:
                cls = ssl.SSLEOFError
                number = ssl.SSL_ERROR_EOF
                message = _EOF_TEXT
        elif code == _openssl.SSL_ERROR_WANT_READ:
            cls = ssl.SSLWantReadError
            message = "The operation did not complete (read)"
        elif code == _openssl.SSL_ERROR_WANT_WRITE:
            cls = ssl.SSLWantWriteError
            message = "The operation did not complete (write)"
        else:
            number = ssl.SSL_ERROR_INVALID_ERROR_CODE
            message = "Invalid error code"
        library = reason_name = verify = None
        if e:
            library = _lib_names.get(lib)
            reason_name = _err_names.get((lib, reason))
            if message is None:
                text = _openssl.ERR_reason_error_string(e)
                if text != NULL:
                    message = text.decode("utf-8", "replace")
        if message is None:
            message = "unknown error"
        if cls is ssl.SSLCertVerificationError:
            verify_code = _openssl.SSL_get_verify_result(self._ssl)
            hostname = self._sslobj.server_hostname
            if verify_code == _openssl.X509_V_ERR_HOSTNAME_MISMATCH:
                verify = f"Hostname mismatch, certificate is not valid for '{hostname}'."
            elif verify_code == _openssl.X509_V_ERR_IP_ADDRESS_MISMATCH:
                verify = f"IP address mismatch, certificate is not valid for '{hostname}'."
            else:
                text = _openssl.X509_verify_cert_error_string(verify_code)
                if text != NULL:
                    verify = text.decode("utf-8", "replace")
        if library is not None and reason_name is not None:
            if verify is not None:
                message = f"[{library}: {reason_name}] {message}: {verify}"
            else:
                message = f"[{library}: {reason_name}] {message}"
        elif library is not None:
            message = f"[{library}] {message}"
        exc = cls(int(number), message)
        exc.library = library
        exc.reason = reason_name
        if cls is ssl.SSLCertVerificationError:
            exc.verify_code = verify_code
            exc.verify_message = verify
        _openssl.ERR_clear_error()
        return exc

    # ---- the Python surface (tests, debugging) -------------------------------

    @staticmethod
    def memory(sslcontext, server_side=False, server_hostname=None):
        """An engine whose ciphertext collects for outgoing()."""
        return TLSEngine.new(sslcontext, server_side, server_hostname)

    def receive(self, data=b"", Py_ssize_t cap=DEFAULT_PLAIN, Py_ssize_t chunks=-1):
        """Feeds ciphertext, returns the plaintext it completes. `cap` is the
        plaintext buffer's size; after `chunks` deliveries the rest of `data`
        is stashed, as an owner that paused reading would."""
        cdef const unsigned char[::1] view = data
        cdef const char *p = <const char *>&view[0] if view.shape[0] else NULL
        cdef Py_ssize_t n = view.shape[0], r
        cdef char *plain
        if cap <= 0:
            raise ValueError("cap must be positive")
        plain = <char *>malloc(cap)
        if plain == NULL:
            raise MemoryError()
        out = []
        try:
            while True:
                try:
                    r = self.read(&p, &n, plain, cap)
                except ssl.SSLError as exc:
                    # As read() itself does: what was decrypted comes first.
                    if not out:
                        raise
                    self._deferred = exc
                    break
                if r > 0:
                    out.append(PyBytes_FromStringAndSize(plain, r))
                    chunks -= 1
                    if chunks == 0:
                        self.stash(p, n)
                        break
                elif r != TLS_HANDSHAKE_DONE:
                    break
        finally:
            free(plain)
        return b"".join(out)

    def send(self, data):
        """Encrypts `data` (after the handshake)."""
        cdef const unsigned char[::1] view = data
        if view.shape[0]:
            self.write(<const char *>&view[0], view.shape[0])

    def outgoing(self):
        """The ciphertext written since the last call."""
        out = bytes(self._outgoing) if self._outgoing is not None else b""
        self._outgoing = None
        return out

    @property
    def handshake_done(self):
        return self._handshake_done

    @property
    def peer_closed(self):
        return self._peer_closed

    @property
    def has_pending(self):
        return self.pending()
