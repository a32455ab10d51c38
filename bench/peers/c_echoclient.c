/* c_echoclient: the load client for the echo benchmarks.
 *
 * Opens N connections and, on each, sends messages of S bytes and reads the
 * echo back, checking every byte (the byte at stream offset o is o % 251, a
 * prime period that catches shifted or repeated data). Two patterns:
 *   pingpong  one message in flight per connection: send S, read S, repeat
 *   stream    each message is its own write(); a connection keeps up to
 *             --inflight bytes sent but not yet echoed (default 4 S, within
 *             64 KiB .. 4 MiB, never below S)
 * One thread, level-triggered epoll, so the client costs far less CPU per
 * message than any server it drives.
 *
 * Phases: connect (and TLS handshake, --tls), --warmup seconds of load that
 * count for nothing, then --duration seconds measured. With --sync the
 * client prints "READY" after the warm-up and waits for a line on stdin
 * before measuring, prints its JSON as soon as the measured window ends, and
 * closes its connections only at EOF on stdin: the caller can sample the
 * server's CPU time exactly around the window, without the connects,
 * handshakes or closes. Prints one JSON object on stdout:
 *   {"connections": N, "size": S, "pattern": "...", "inflight": I,
 *    "messages": M, "bytes": B, "seconds": T, "messages_per_s": ...,
 *    "mib_per_s": ..., "client_cpu_s": ..., "errors": 0}
 * (messages = echoed bytes in the window / S; mib_per_s counts one way;
 * client_cpu_s is this process's user + system time in the window.)
 * Exits 1 with {"error": ...} on a connection error, a wrong byte echoed,
 * or STALL_SECONDS without progress. Bounded: --duration, --count.
 *
 * usage: c_echoclient [--host 127.0.0.1] [--port 9000] [--conns 10]
 *                     [--size 1024] [--pattern pingpong|stream]
 *                     [--inflight BYTES] [--duration 5] [--warmup 0]
 *                     [--count 0] [--tls] [--sync]
 */
#include "common.h"

#include <sys/epoll.h>
#include <sys/time.h>
#include <time.h>

#ifdef WITH_TLS
#include <openssl/err.h>
#include <openssl/ssl.h>
#endif

enum {
    BUF_CAP = 256 * 1024,
    PERIOD = 251,
    MAX_EVENTS = 512,
    STALL_SECONDS = 10,
    INFLIGHT_MIN = 64 * 1024,
    INFLIGHT_MAX = 4 * 1024 * 1024,
};

enum io_result { IO_AGAIN = -1 };

struct conn {
    int fd;
    unsigned armed;                 /* the epoll events we asked for */
    unsigned long long sent, received, msg_end;
#ifdef WITH_TLS
    SSL *ssl;
#endif
};

static int epfd, stream_pattern, use_tls;
static size_t size, inflight;
static char *pattern;               /* PERIOD + max(size, BUF_CAP) bytes */
static char buf[BUF_CAP];
static int sending = 1;             /* cleared when the measured window ends */
#ifdef WITH_TLS
static SSL_CTX *tls_ctx;
#endif

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec)
           + (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-6;
}

static void fail(const char *what, const char *why)
{
    printf("{\"error\": \"%s: %s\"}\n", what, why);
    fflush(stdout);
    exit(1);
}

#ifdef WITH_TLS
static const char *tls_error(void)
{
    static char text[256];
    unsigned long e = ERR_get_error();
    if (!e)
        return errno ? strerror(errno) : "connection closed";
    ERR_error_string_n(e, text, sizeof text);
    return text;
}

/* SSL_read/SSL_write's result as read()/write() would give it: bytes, 0 at
 * EOF, IO_AGAIN when the record layer waits for the socket (SSL_get_error(3):
 * either direction may be wanted; level-triggered epoll on both covers it). */
static ssize_t tls_result(struct conn *c, int n, const char *what)
{
    if (n > 0)
        return n;
    switch (SSL_get_error(c->ssl, n)) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
        return IO_AGAIN;
    case SSL_ERROR_ZERO_RETURN:
        return 0;
    default:
        fail(what, tls_error());
    }
    return 0;
}
#endif

static ssize_t conn_read(struct conn *c, char *into, size_t len)
{
#ifdef WITH_TLS
    if (use_tls)
        return tls_result(c, SSL_read(c->ssl, into, (int)len), "SSL_read");
#endif
    for (;;) {
        ssize_t n = read(c->fd, into, len);
        if (n >= 0)
            return n;
        if (errno == EAGAIN)
            return IO_AGAIN;
        if (errno != EINTR)
            fail("read", strerror(errno));
    }
}

static ssize_t conn_write(struct conn *c, const char *from, size_t len)
{
#ifdef WITH_TLS
    if (use_tls)
        return tls_result(c, SSL_write(c->ssl, from, (int)len), "SSL_write");
#endif
    for (;;) {
        ssize_t n = write(c->fd, from, len);
        if (n >= 0)
            return n;
        if (errno == EAGAIN)
            return IO_AGAIN;
        if (errno != EINTR)
            fail("write", strerror(errno));
    }
}

static void arm(struct conn *c, unsigned events)
{
    if (events == c->armed)
        return;
    struct epoll_event ev = {.events = events, .data.ptr = c};
    if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0)
        fail("epoll_ctl", strerror(errno));
    c->armed = events;
}

static int may_start_message(const struct conn *c)
{
    if (!sending)
        return 0;
    if (stream_pattern)
        return c->sent + size - c->received <= inflight;
    return c->received == c->sent;
}

/* Write what the current message still owes, starting new ones while the
 * pattern allows. A retried SSL_write gets the same pointer and length. */
static void try_send(struct conn *c)
{
    int blocked = 0;
    for (;;) {
        if (c->sent == c->msg_end) {
            if (!may_start_message(c))
                break;
            c->msg_end = c->sent + size;
        }
        size_t left = (size_t)(c->msg_end - c->sent);
        ssize_t n = conn_write(c, pattern + c->sent % PERIOD, left > BUF_CAP ? BUF_CAP : left);
        if (n == IO_AGAIN) {
            blocked = 1;
            break;
        }
        c->sent += (unsigned long long)n;
    }
    arm(c, EPOLLIN | (blocked ? EPOLLOUT : 0));
}

/* Read everything available (a TLS connection may hold decrypted bytes the
 * socket no longer shows), checking it. Returns the bytes read. */
static size_t on_readable(struct conn *c)
{
    size_t total = 0;
    for (;;) {
        ssize_t n = conn_read(c, buf, sizeof buf);
        if (n == IO_AGAIN)
            break;
        if (n == 0)
            fail("read", "the server closed the connection");
        if (c->received + (unsigned long long)n > c->sent)
            fail("read", "more bytes echoed than sent");
        if (memcmp(buf, pattern + c->received % PERIOD, (size_t)n) != 0)
            fail("read", "wrong bytes echoed");
        c->received += (unsigned long long)n;
        total += (size_t)n;
        if (!use_tls)
            break;   /* level-triggered: epoll says if the socket has more */
    }
    return total;
}

static int connect_to(const char *host, int port)
{
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((unsigned short)port);
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        fprintf(stderr, "bad IPv4 host: %s\n", host);
        exit(2);
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        fail("socket", strerror(errno));
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
        fail("connect", strerror(errno));
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static void open_conn(struct conn *c, const char *host, int port)
{
    c->fd = connect_to(host, port);
#ifdef WITH_TLS
    if (use_tls) {
        /* The handshake blocks: it belongs to the set-up, not the load. */
        c->ssl = SSL_new(tls_ctx);
        if (!c->ssl || !SSL_set_fd(c->ssl, c->fd) || SSL_connect(c->ssl) != 1)
            fail("SSL_connect", tls_error());
    }
#endif
    fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
    c->armed = EPOLLIN;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0)
        fail("epoll_ctl", strerror(errno));
}

static void close_conn(struct conn *c)
{
#ifdef WITH_TLS
    if (c->ssl)
        SSL_free(c->ssl);
#endif
    close(c->fd);
}

/* Runs the load until `until`; returns the bytes echoed meanwhile. */
static unsigned long long run_load(struct conn *conns, int nconns, double until)
{
    unsigned long long echoed = 0;
    double t = now(), last_progress = t;
    struct epoll_event events[MAX_EVENTS];
    for (int i = 0; i < nconns; i++)
        try_send(&conns[i]);
    while (t < until) {
        int ms = (int)((until - t) * 1000.0) + 1;
        int n = epoll_wait(epfd, events, MAX_EVENTS, ms < 1000 ? ms : 1000);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            fail("epoll_wait", strerror(errno));
        }
        t = now();
        for (int i = 0; i < n; i++) {
            struct conn *c = events[i].data.ptr;
            size_t got = 0;
            if (events[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
                got = on_readable(c);
            if (got)
                last_progress = t;
            echoed += got;
            try_send(c);
        }
        if (t - last_progress > STALL_SECONDS)
            fail("load", "no progress for 10 s");
    }
    return echoed;
}

static void wait_line(void)
{
    int ch;
    while ((ch = getchar()) != EOF && ch != '\n')
        ;
}

int main(int argc, char **argv)
{
    const char *host = "127.0.0.1";
    int port = 9000, nconns = 10, sync = 0;
    double duration = 5.0, warmup = 0.0;
    long long count = 0;
    size = 1024;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--tls")) {
            use_tls = 1;
            continue;
        }
        if (!strcmp(a, "--sync")) {
            sync = 1;
            continue;
        }
        if (!v) {
            fprintf(stderr, "missing value for %s\n", a);
            return 2;
        }
        if (!strcmp(a, "--host"))
            host = v;
        else if (!strcmp(a, "--port"))
            port = atoi(v);
        else if (!strcmp(a, "--conns"))
            nconns = atoi(v);
        else if (!strcmp(a, "--size"))
            size = (size_t)atol(v);
        else if (!strcmp(a, "--inflight"))
            inflight = (size_t)atol(v);
        else if (!strcmp(a, "--duration"))
            duration = atof(v);
        else if (!strcmp(a, "--warmup"))
            warmup = atof(v);
        else if (!strcmp(a, "--count"))
            count = atoll(v);
        else if (!strcmp(a, "--pattern") && (!strcmp(v, "pingpong") || !strcmp(v, "stream")))
            stream_pattern = !strcmp(v, "stream");
        else {
            fprintf(stderr, "unknown option or value: %s %s\n", a, v);
            return 2;
        }
        i++;
    }
    if (nconns < 1 || size < 1 || duration <= 0 || warmup < 0) {
        fprintf(stderr, "--conns, --size and --duration must be positive\n");
        return 2;
    }
    if (!inflight) {
        inflight = 4 * size;
        inflight = inflight < INFLIGHT_MIN ? INFLIGHT_MIN : inflight > INFLIGHT_MAX ? INFLIGHT_MAX : inflight;
    }
    if (inflight < size)
        inflight = size;
#ifdef WITH_TLS
    if (use_tls) {
        tls_ctx = SSL_CTX_new(TLS_client_method());
        if (!tls_ctx)
            fail("SSL_CTX_new", tls_error());
        /* The certificates are made per run and self-signed: no verification. */
        SSL_CTX_set_verify(tls_ctx, SSL_VERIFY_NONE, NULL);
        SSL_CTX_set_mode(tls_ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    }
#else
    if (use_tls) {
        fprintf(stderr, "built without OpenSSL: --tls is not available\n");
        return 2;
    }
#endif
    raise_nofile();
    signal(SIGPIPE, SIG_IGN);

    size_t span = size > BUF_CAP ? size : BUF_CAP;
    pattern = malloc(span + PERIOD);
    if (!pattern)
        die("malloc");
    for (size_t i = 0; i < span + PERIOD; i++)
        pattern[i] = (char)(i % PERIOD);

    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0)
        die("epoll_create1");
    struct conn *conns = calloc((size_t)nconns, sizeof *conns);
    if (!conns)
        die("calloc");
    for (int i = 0; i < nconns; i++)
        open_conn(&conns[i], host, port);

    if (warmup > 0)
        run_load(conns, nconns, now() + warmup);
    if (sync) {
        printf("READY\n");
        fflush(stdout);
        wait_line();
    }
    double cpu0 = cpu_seconds(), start = now();
    unsigned long long echoed = 0;
    if (count) {
        /* Slices, so the count cap ends the window within ~10 ms. */
        while (now() < start + duration && echoed < (unsigned long long)count * size)
            echoed += run_load(conns, nconns, now() + 0.01);
    } else {
        echoed = run_load(conns, nconns, start + duration);
    }
    double seconds = now() - start, cpu = cpu_seconds() - cpu0;
    sending = 0;
    double messages = (double)echoed / (double)size;
    printf("{\"connections\": %d, \"size\": %zu, \"pattern\": \"%s\", \"inflight\": %zu, "
           "\"tls\": %s, \"messages\": %.1f, \"bytes\": %llu, \"seconds\": %.6f, "
           "\"messages_per_s\": %.1f, \"mib_per_s\": %.2f, \"client_cpu_s\": %.4f, \"errors\": 0}\n",
           nconns, size, stream_pattern ? "stream" : "pingpong",
           stream_pattern ? inflight : size, use_tls ? "true" : "false", messages, echoed, seconds,
           messages / seconds, (double)echoed / seconds / (1024.0 * 1024.0), cpu);
    fflush(stdout);
    if (sync)
        while (getchar() != EOF)
            ;
    for (int i = 0; i < nconns; i++)
        close_conn(&conns[i]);
    return 0;
}
