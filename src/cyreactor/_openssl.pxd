# OpenSSL declarations for the TLS engine (_tls.pyx): only what it calls,
# C names verbatim, used as _openssl.NAME. The library is the system libssl
# that CPython's _ssl module links (checked at run time: _tls.pyx).
from libc.stdint cimport uint64_t


cdef extern from "<openssl/crypto.h>" nogil:
    unsigned long OpenSSL_version_num()


cdef extern from "<openssl/bio.h>" nogil:
    ctypedef struct BIO
    ctypedef struct BIO_METHOD

    enum:
        BIO_TYPE_SOURCE_SINK
        BIO_CTRL_EOF
        BIO_CTRL_FLUSH

    int BIO_get_new_index()
    BIO_METHOD *BIO_meth_new(int type, const char *name)
    int BIO_meth_set_write(BIO_METHOD *biom, int (*write)(BIO *, const char *, int) noexcept nogil)
    int BIO_meth_set_read(BIO_METHOD *biom, int (*read)(BIO *, char *, int) noexcept nogil)
    int BIO_meth_set_ctrl(BIO_METHOD *biom, long (*ctrl)(BIO *, int, long, void *) noexcept nogil)
    BIO *BIO_new(const BIO_METHOD *type)
    void BIO_set_data(BIO *a, void *ptr)
    void *BIO_get_data(BIO *a)
    void BIO_set_init(BIO *a, int init)
    # Macros over BIO_set_flags/BIO_clear_flags.
    void BIO_set_retry_read(BIO *b)
    void BIO_set_retry_write(BIO *b)
    void BIO_clear_retry_flags(BIO *b)


cdef extern from "<openssl/err.h>" nogil:
    enum:
        ERR_LIB_SSL

    void ERR_clear_error()
    unsigned long ERR_peek_error()
    unsigned long ERR_peek_last_error()
    int ERR_GET_LIB(unsigned long errcode)
    int ERR_GET_REASON(unsigned long errcode)
    const char *ERR_reason_error_string(unsigned long e)


cdef extern from "<openssl/x509.h>" nogil:
    enum:
        X509_V_ERR_HOSTNAME_MISMATCH
        X509_V_ERR_IP_ADDRESS_MISMATCH

    const char *X509_verify_cert_error_string(long n)


cdef extern from "<openssl/ssl.h>" nogil:
    ctypedef struct SSL
    ctypedef struct SSL_METHOD

    enum:
        SSL_ERROR_NONE
        SSL_ERROR_SSL
        SSL_ERROR_WANT_READ
        SSL_ERROR_WANT_WRITE
        SSL_ERROR_SYSCALL
        SSL_ERROR_ZERO_RETURN
        SSL_MODE_RELEASE_BUFFERS
        SSL_OP_NO_RENEGOTIATION
        SSL_SENT_SHUTDOWN
        SSL_RECEIVED_SHUTDOWN
        SSL_R_CERTIFICATE_VERIFY_FAILED
        SSL_R_UNEXPECTED_EOF_WHILE_READING

    const SSL_METHOD *TLS_client_method()
    const SSL_METHOD *SSL_get_ssl_method(const SSL *s)
    void *SSL_get_app_data(const SSL *s)                 # a macro
    int SSL_is_server(const SSL *s)
    void SSL_set_bio(SSL *s, BIO *rbio, BIO *wbio)
    long SSL_set_mode(SSL *s, long mode)                 # a macro
    uint64_t SSL_set_options(SSL *s, uint64_t op)
    int SSL_do_handshake(SSL *s)
    int SSL_read_ex(SSL *s, void *buf, size_t num, size_t *readbytes)
    int SSL_write_ex(SSL *s, const void *buf, size_t num, size_t *written)
    int SSL_pending(const SSL *s)
    int SSL_has_pending(const SSL *s)
    int SSL_free_buffers(SSL *s)
    int SSL_shutdown(SSL *s)
    int SSL_get_shutdown(const SSL *s)
    int SSL_get_error(const SSL *s, int ret)
    long SSL_get_verify_result(const SSL *s)


# CPython's private _ssl._SSLSocket (Modules/_ssl.c, PySSLSocket): the SSL*
# follows the weak reference to the socket, in that order in every CPython
# this project supports (3.10 on). _tls.pyx checks what it reads before
# trusting it.
cdef extern from *:
    """
    typedef struct {
        PyObject_HEAD
        PyObject *Socket;
        SSL *ssl;
    } cyreactor_PySSLSocket;
    """
    ctypedef struct PySSLSocket "cyreactor_PySSLSocket":
        void *Socket
        SSL *ssl
