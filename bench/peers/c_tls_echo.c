/* c_tls_echo: the TLS twin of c_echo.c, the C peer of a TLS echo server.
 *
 * Single-threaded, level-triggered epoll, non-blocking sockets, OpenSSL's
 * SSL_read/SSL_write. Each handshake is driven by SSL_do_handshake as the
 * socket allows; then every record read is written straight back. A tail
 * SSL_write did not take is kept, EPOLLOUT armed and reading paused until it
 * drains (back-pressure, as c_echo). SSL_read is repeated until it wants the
 * socket: OpenSSL may hold decrypted bytes epoll cannot see.
 *
 * usage: c_tls_echo --cert FILE --key FILE [--host 127.0.0.1] [--port 9443]
 */
#include "common.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/epoll.h>

enum {
    BUF_CAP = 256 * 1024,   /* one shared read buffer, like c_echo */
    MAX_EVENTS = 512,
};

struct conn {
    int fd;
    int handshaken;
    unsigned armed;
    SSL *ssl;
    char *pending;          /* unsent tail, only while it is retried */
    size_t pending_len;
};

static int epfd;
static struct conn **conns;
static size_t conns_cap;
static char buf[BUF_CAP];
static SSL_CTX *ctx;

static void conn_close(struct conn *c)
{
    SSL_free(c->ssl);
    close(c->fd);
    conns[c->fd] = NULL;
    free(c->pending);
    free(c);
}

static void arm(struct conn *c, unsigned events)
{
    if (events == c->armed)
        return;
    struct epoll_event ev = {.events = events, .data.fd = c->fd};
    epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
    c->armed = events;
}

/* What a failed SSL_* call waits for (SSL_get_error(3)): 0 = give up. */
static unsigned wanted(struct conn *c, int ret)
{
    switch (SSL_get_error(c->ssl, ret)) {
    case SSL_ERROR_WANT_READ:
        return EPOLLIN;
    case SSL_ERROR_WANT_WRITE:
        return EPOLLOUT;
    default:
        ERR_clear_error();
        return 0;
    }
}

/* Write [data, data+len). Keeps what OpenSSL did not take (a retry must see
 * the same length; SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER lets the copy move).
 * Returns 1 when all was written, 0 when a tail waits, -1 when closed. */
static int send_or_keep(struct conn *c, const char *data, size_t len)
{
    size_t off = 0;
    while (off < len) {
        int n = SSL_write(c->ssl, data + off, (int)(len - off));
        if (n > 0) {
            off += (size_t)n;
            continue;
        }
        unsigned want = wanted(c, n);
        if (!want) {
            conn_close(c);
            return -1;
        }
        if (data != c->pending) {
            c->pending = malloc(len - off);
            if (!c->pending)
                die("malloc");
            memcpy(c->pending, data + off, len - off);
        } else if (off) {
            memmove(c->pending, c->pending + off, len - off);
        }
        c->pending_len = len - off;
        arm(c, want);
        return 0;
    }
    if (data == c->pending) {
        free(c->pending);
        c->pending = NULL;
        c->pending_len = 0;
    }
    return 1;
}

static void on_event(struct conn *c)
{
    if (!c->handshaken) {
        int r = SSL_do_handshake(c->ssl);
        if (r != 1) {
            unsigned want = wanted(c, r);
            if (want)
                arm(c, want);
            else
                conn_close(c);
            return;
        }
        c->handshaken = 1;
    }
    if (c->pending && send_or_keep(c, c->pending, c->pending_len) != 1)
        return;
    for (;;) {
        int n = SSL_read(c->ssl, buf, BUF_CAP);
        if (n <= 0) {
            unsigned want = wanted(c, n);
            if (want)
                arm(c, want);
            else
                conn_close(c);
            return;
        }
        if (send_or_keep(c, buf, (size_t)n) != 1)
            return;
    }
}

static void on_accept(int lfd)
{
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno != EAGAIN)
                perror("accept4");
            return;
        }
        if ((size_t)fd >= conns_cap) {
            size_t cap = conns_cap ? conns_cap : 1024;
            while (cap <= (size_t)fd)
                cap *= 2;
            conns = realloc(conns, cap * sizeof *conns);
            if (!conns)
                die("realloc");
            memset(conns + conns_cap, 0, (cap - conns_cap) * sizeof *conns);
            conns_cap = cap;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct conn *c = calloc(1, sizeof *c);
        if (!c)
            die("calloc");
        c->fd = fd;
        c->ssl = SSL_new(ctx);
        if (!c->ssl || !SSL_set_fd(c->ssl, fd))
            die("SSL_new");
        SSL_set_accept_state(c->ssl);
        c->armed = EPOLLIN;
        conns[fd] = c;
        struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
        if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
            die("epoll_ctl");
    }
}

int main(int argc, char **argv)
{
    const char *host = "127.0.0.1", *cert = NULL, *key = NULL;
    int port = 9443;
    parse_host_port(argc, argv, &host, &port, &cert, &key);
    if (!cert || !key) {
        fprintf(stderr, "usage: %s --cert FILE --key FILE [--host H] [--port P]\n", argv[0]);
        return 2;
    }
    raise_nofile();
    install_signals();

    ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx || SSL_CTX_use_certificate_chain_file(ctx, cert) != 1
        || SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
        ERR_print_errors_fp(stderr);
        return 1;
    }
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER
                              | SSL_MODE_RELEASE_BUFFERS);
    /* Every handshake a full one, as the registry asks of all TLS peers. */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_num_tickets(ctx, 0);

    int lfd = listen_tcp(host, port);
    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0)
        die("epoll_create1");
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = lfd};
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &ev) < 0)
        die("epoll_ctl");

    struct epoll_event events[MAX_EVENTS];
    while (!stop_requested) {
        int n = epoll_wait(epfd, events, MAX_EVENTS, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            die("epoll_wait");
        }
        for (int i = 0; i < n; i++) {
            int fd = events[i].data.fd;
            if (fd == lfd) {
                on_accept(lfd);
                continue;
            }
            struct conn *c = conns[fd];
            if (c)
                on_event(c);
        }
    }
    return 0;
}
