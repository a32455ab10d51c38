/* c_echoclient: the load client for the echo benchmarks.
 *
 * Opens N connections; on each, sends a payload of S bytes, reads the S
 * bytes back (checking them), and repeats, for D seconds or until C round
 * trips in total. One thread, level-triggered epoll, so the client costs
 * far less CPU per round trip than any server it drives. Prints one JSON
 * object on stdout:
 *   {"connections": N, "size": S, "round_trips": R, "seconds": T,
 *    "round_trips_per_s": ..., "mib_per_s": ..., "errors": 0}
 * (mib_per_s counts payload bytes one way.) Exits 1 on a connection error,
 * a wrong byte echoed, or 10 s without progress.
 *
 * usage: c_echoclient [--host 127.0.0.1] [--port 9000] [--conns 10]
 *                     [--size 1024] [--duration 5] [--count 0]
 */
#include "common.h"

#include <sys/epoll.h>
#include <time.h>

enum {
    BUF_CAP = 256 * 1024,
    MAX_EVENTS = 512,
    STALL_SECONDS = 10,
};

struct conn {
    int fd;
    int out_armed;
    size_t sent, received;
};

static int epfd;
static char *payload;
static size_t size;
static char buf[BUF_CAP];

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void fail(const char *what, int err)
{
    printf("{\"error\": \"%s: %s\"}\n", what, strerror(err));
    fflush(stdout);
    exit(1);
}

static void arm(struct conn *c, int out)
{
    struct epoll_event ev = {.events = EPOLLIN | (out ? EPOLLOUT : 0), .data.ptr = c};
    if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0)
        fail("epoll_ctl", errno);
    c->out_armed = out;
}

static void try_send(struct conn *c)
{
    while (c->sent < size) {
        ssize_t n = write(c->fd, payload + c->sent, size - c->sent);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN)
                break;
            fail("write", errno);
        }
        c->sent += (size_t)n;
    }
    int want_out = c->sent < size;
    if (want_out != c->out_armed)
        arm(c, want_out);
}

static void start_round(struct conn *c)
{
    c->sent = c->received = 0;
    try_send(c);
}

/* Read what this round still owes us. Returns 1 when the round completed. */
static int on_readable(struct conn *c)
{
    size_t want = size - c->received;
    if (want > BUF_CAP)
        want = BUF_CAP;
    ssize_t n = read(c->fd, buf, want);
    if (n < 0) {
        if (errno == EAGAIN || errno == EINTR)
            return 0;
        fail("read", errno);
    }
    if (n == 0)
        fail("read", ECONNRESET);   /* the server closed mid-round */
    if (memcmp(buf, payload + c->received, (size_t)n) != 0) {
        printf("{\"error\": \"wrong bytes echoed\"}\n");
        exit(1);
    }
    c->received += (size_t)n;
    return c->received == size;
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
        fail("socket", errno);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
        fail("connect", errno);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

int main(int argc, char **argv)
{
    const char *host = "127.0.0.1";
    int port = 9000, nconns = 10;
    double duration = 5.0;
    long long count = 0;
    size = 1024;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
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
        else if (!strcmp(a, "--duration"))
            duration = atof(v);
        else if (!strcmp(a, "--count"))
            count = atoll(v);
        else {
            fprintf(stderr, "unknown option %s\n", a);
            return 2;
        }
        i++;
    }
    if (nconns < 1 || size < 1 || duration <= 0) {
        fprintf(stderr, "--conns, --size and --duration must be positive\n");
        return 2;
    }
    raise_nofile();
    signal(SIGPIPE, SIG_IGN);

    payload = malloc(size);
    if (!payload)
        die("malloc");
    for (size_t i = 0; i < size; i++)
        payload[i] = (char)(i % 251);   /* a prime period catches shifted data */

    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0)
        die("epoll_create1");
    struct conn *conns = calloc((size_t)nconns, sizeof *conns);
    for (int i = 0; i < nconns; i++) {
        conns[i].fd = connect_to(host, port);
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &conns[i]};
        if (epoll_ctl(epfd, EPOLL_CTL_ADD, conns[i].fd, &ev) < 0)
            fail("epoll_ctl", errno);
    }

    long long round_trips = 0;
    double start = now(), deadline = start + duration, last_progress = start, t = start;
    int finished = 0;
    for (int i = 0; i < nconns; i++)
        start_round(&conns[i]);

    struct epoll_event events[MAX_EVENTS];
    while (!finished) {
        int n = epoll_wait(epfd, events, MAX_EVENTS, 1000);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            fail("epoll_wait", errno);
        }
        t = now();
        if (n == 0 && t - last_progress > STALL_SECONDS) {
            printf("{\"error\": \"no progress for %d s\"}\n", STALL_SECONDS);
            return 1;
        }
        for (int i = 0; i < n && !finished; i++) {
            struct conn *c = events[i].data.ptr;
            if (events[i].events & EPOLLOUT)
                try_send(c);
            if (events[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
                if (on_readable(c)) {
                    round_trips++;
                    last_progress = t;
                    if ((count && round_trips >= count) || t >= deadline)
                        finished = 1;
                    else
                        start_round(c);
                }
            }
        }
        if (t >= deadline)
            finished = 1;
    }
    double seconds = t - start;
    for (int i = 0; i < nconns; i++)
        close(conns[i].fd);
    printf("{\"connections\": %d, \"size\": %zu, \"round_trips\": %lld, "
           "\"seconds\": %.6f, \"round_trips_per_s\": %.1f, \"mib_per_s\": %.2f, "
           "\"errors\": 0}\n",
           nconns, size, round_trips, seconds, round_trips / seconds,
           (double)round_trips * (double)size / seconds / (1024.0 * 1024.0));
    return 0;
}
