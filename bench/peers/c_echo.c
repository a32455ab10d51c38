/* c_echo: a minimal single-threaded epoll TCP echo server, in the same style
 * as c_http.c. Level-triggered; each read is written straight back; a tail
 * the kernel did not take is kept, EPOLLOUT armed and reading paused until
 * it drains, so a client that does not read cannot grow our memory.
 *
 * usage: c_echo [--host 127.0.0.1] [--port 9000]
 */
#include "common.h"

#include <sys/epoll.h>

enum {
    BUF_CAP = 256 * 1024,   /* one shared read buffer, like a reactor's */
    MAX_EVENTS = 512,
};

struct conn {
    int fd;
    char *pending;          /* unsent tail, only while EPOLLOUT is armed */
    size_t pending_len, pending_off;
};

static int epfd;
static struct conn **conns;
static size_t conns_cap;
static char buf[BUF_CAP];

static void conn_close(struct conn *c)
{
    close(c->fd);
    conns[c->fd] = NULL;
    free(c->pending);
    free(c);
}

static void set_interest(struct conn *c, unsigned events)
{
    struct epoll_event ev = {.events = events, .data.fd = c->fd};
    epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Write [data, data+len); keep what the kernel refused. -1: closed. */
static int send_or_queue(struct conn *c, const char *data, size_t len)
{
    size_t off = 0;
    while (off < len) {
        ssize_t n = write(c->fd, data + off, len - off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN)
                break;
            conn_close(c);
            return -1;
        }
        off += (size_t)n;
    }
    if (off < len) {
        c->pending = malloc(len - off);
        if (!c->pending)
            die("malloc");
        memcpy(c->pending, data + off, len - off);
        c->pending_len = len - off;
        c->pending_off = 0;
        set_interest(c, EPOLLOUT);
    }
    return 0;
}

static void on_writable(struct conn *c)
{
    while (c->pending_off < c->pending_len) {
        ssize_t n = write(c->fd, c->pending + c->pending_off,
                          c->pending_len - c->pending_off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN)
                return;
            conn_close(c);
            return;
        }
        c->pending_off += (size_t)n;
    }
    free(c->pending);
    c->pending = NULL;
    c->pending_len = c->pending_off = 0;
    set_interest(c, EPOLLIN);
}

static void on_readable(struct conn *c)
{
    ssize_t n = read(c->fd, buf, BUF_CAP);
    if (n > 0) {
        send_or_queue(c, buf, (size_t)n);
    } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
        conn_close(c);
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
        conns[fd] = c;
        struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
        if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
            die("epoll_ctl");
    }
}

int main(int argc, char **argv)
{
    const char *host = "127.0.0.1";
    int port = 9000;
    parse_host_port(argc, argv, &host, &port, NULL, NULL);
    raise_nofile();
    install_signals();

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
            if (!c)
                continue;
            if (c->pending) {
                if (events[i].events & (EPOLLERR | EPOLLHUP))
                    conn_close(c);
                else
                    on_writable(c);
            } else {
                on_readable(c);
            }
        }
    }
    return 0;
}
