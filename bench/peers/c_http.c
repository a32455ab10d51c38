/* c_http: a minimal single-threaded epoll HTTP/1.1 server, the "limit of one
 * core" that the load comparison measures the Python servers against.
 *
 * Level-triggered epoll, non-blocking sockets, one thread. Reads land in one
 * shared buffer; a connection keeps only the incomplete tail of its input
 * (allocated when there is one), so an idle connection costs a few dozen
 * bytes. A request ends at "\r\n\r\n" and is followed by Content-Length body
 * bytes, which are skipped as they stream (never buffered whole). Every
 * complete request of a read is answered in order into one shared output
 * buffer, written with ONE write() per read event, so pipelined requests
 * cost one syscall. Only what the kernel does
 * not take is copied to the connection; EPOLLOUT is armed only while such
 * output is pending, and reading pauses meanwhile (back-pressure).
 * Keep-alive is the HTTP/1.1 default; "Connection: close" and HTTP/1.0
 * without "Connection: keep-alive" close after the response.
 *
 * Like cyreactor's demo server, every response carries a Date header
 * (RFC 9110 section 6.6.1), refreshed at most once a second by one time()
 * call per epoll_wait batch, and says "connection: close" when it closes
 * (or "keep-alive" to an HTTP/1.0 client that asked for it), so the bytes
 * on the wire are the same as the demo's.
 *
 * usage: c_http [--host 127.0.0.1] [--port 8080]
 */
#include "common.h"

#include <ctype.h>
#include <sys/epoll.h>
#include <time.h>

enum {
    HEAD_MAX = 16 * 1024,      /* a request head must fit in this */
    READ_CAP = 256 * 1024,     /* the shared read buffer */
    MAX_EVENTS = 512,
};

/* The three canned responses; the 29 D's are where the date goes. */
enum { KEEP_ALIVE, KEEP_ALIVE_10, CLOSE };
static char responses[3][160];
static size_t response_len[3], date_off[3];
static const char *const CONNECTION[3] = {"", "connection: keep-alive\r\n", "connection: close\r\n"};
static time_t date_sec = -1;

static void responses_init(void)
{
    for (int i = 0; i < 3; i++) {
        int head = snprintf(responses[i], sizeof responses[i],
                            "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\n"
                            "content-length: 28\r\n%sdate: ", CONNECTION[i]);
        date_off[i] = (size_t)head;
        response_len[i] = (size_t)snprintf(responses[i] + head, sizeof responses[i] - (size_t)head,
                                           "%s\r\n\r\nHello! I am an epoll server.",
                                           "DDDDDDDDDDDDDDDDDDDDDDDDDDDDD") + (size_t)head;
    }
}

/* IMF-fixdate, e.g. "Sun, 06 Nov 1994 08:49:37 GMT"; strftime's %a and %b
 * are English in the C locale, which a C program starts in. */
static void refresh_date(void)
{
    time_t now = time(NULL);
    if (now == date_sec)
        return;
    date_sec = now;
    struct tm t;
    char date[32];
    gmtime_r(&now, &t);
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &t);
    for (int i = 0; i < 3; i++)
        memcpy(responses[i] + date_off[i], date, 29);
}
static const char RESPONSE_400[] =
    "HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
static const char RESPONSE_431[] =
    "HTTP/1.1 431 Request Header Fields Too Large\r\n"
    "content-length: 0\r\nconnection: close\r\n\r\n";
static const char RESPONSE_501[] =
    "HTTP/1.1 501 Not Implemented\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";

struct conn {
    int fd;
    int writing;        /* EPOLLOUT armed, EPOLLIN disarmed */
    int req_close;      /* the request being read asked to close */
    int req_http10_keep_alive;
    int close_after;    /* stop parsing; close once the output is flushed */
    size_t body_left;   /* body bytes of the current request still to skip */
    char *tail;         /* incomplete input kept between reads, or NULL */
    size_t tail_len;
    char *out;          /* unsent output, only while EPOLLOUT is armed */
    size_t out_len, out_off;
};

static int epfd;
static struct conn **conns;   /* indexed by fd */
static size_t conns_cap;
static char rbuf[HEAD_MAX + READ_CAP];
static char *wbuf;            /* responses to the read being processed */
static size_t wbuf_len, wbuf_cap;

static void conn_close(struct conn *c)
{
    close(c->fd);   /* also removes it from the epoll set */
    conns[c->fd] = NULL;
    free(c->tail);
    free(c->out);
    free(c);
}

static void out_append(const char *data, size_t len)
{
    if (wbuf_len + len > wbuf_cap) {
        size_t cap = wbuf_cap ? wbuf_cap * 2 : 64 * 1024;
        while (cap < wbuf_len + len)
            cap *= 2;
        wbuf = realloc(wbuf, cap);
        if (!wbuf)
            die("realloc");
        wbuf_cap = cap;
    }
    memcpy(wbuf + wbuf_len, data, len);
    wbuf_len += len;
}

static void set_interest(struct conn *c, int writing)
{
    struct epoll_event ev = {.events = writing ? EPOLLOUT : EPOLLIN, .data.fd = c->fd};
    epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
    c->writing = writing;
}

/* Does the comma-separated header value contain this token (any case)? */
static int has_token(const char *v, size_t n, const char *token)
{
    size_t t = strlen(token);
    for (size_t i = 0; i + t <= n; i++) {
        if (strncasecmp(v + i, token, t) == 0
            && (i == 0 || v[i - 1] == ',' || v[i - 1] == ' ')
            && (i + t == n || v[i + t] == ',' || v[i + t] == ' '))
            return 1;
    }
    return 0;
}

/* Parse one request head [p, p+n) ending in "\r\n\r\n". Returns 0, or the
 * error response to send before closing. */
static const char *parse_head(struct conn *c, const char *p, size_t n)
{
    const char *end = p + n - 2;   /* points at the final "\r\n" */
    const char *eol = memchr(p, '\r', (size_t)(end - p) + 1);
    /* Request line: METHOD SP TARGET SP HTTP/1.x (RFC 9112 section 3). */
    if (!eol || eol - p < 14 || memcmp(eol - 8, "HTTP/1.", 7) != 0)
        return RESPONSE_400;
    int http10 = eol[-1] == '0';
    int keep_alive = !http10, closing = 0;
    size_t content_length = 0;

    for (const char *line = eol + 2; line < end; line = eol + 2) {
        eol = memchr(line, '\r', (size_t)(end - line) + 1);
        const char *colon = memchr(line, ':', (size_t)(eol - line));
        if (!colon)
            return RESPONSE_400;
        size_t name_len = (size_t)(colon - line);
        const char *v = colon + 1, *ve = eol;
        while (v < ve && (*v == ' ' || *v == '\t'))
            v++;
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
            ve--;
        if (name_len == 14 && strncasecmp(line, "content-length", 14) == 0) {
            if (v == ve)
                return RESPONSE_400;
            content_length = 0;
            for (const char *d = v; d < ve; d++) {
                if (!isdigit((unsigned char)*d) || content_length > (SIZE_MAX - 9) / 10)
                    return RESPONSE_400;
                content_length = content_length * 10 + (size_t)(*d - '0');
            }
        } else if (name_len == 10 && strncasecmp(line, "connection", 10) == 0) {
            if (has_token(v, (size_t)(ve - v), "close"))
                closing = 1;
            else if (has_token(v, (size_t)(ve - v), "keep-alive"))
                keep_alive = 1;
        } else if (name_len == 17 && strncasecmp(line, "transfer-encoding", 17) == 0) {
            return RESPONSE_501;   /* chunked bodies: out of scope here */
        }
    }
    c->body_left = content_length;
    c->req_close = closing || !keep_alive;
    c->req_http10_keep_alive = http10 && !c->req_close;
    return NULL;
}

static void respond(struct conn *c)
{
    int which = c->req_close ? CLOSE : c->req_http10_keep_alive ? KEEP_ALIVE_10 : KEEP_ALIVE;
    out_append(responses[which], response_len[which]);
    if (c->req_close)
        c->close_after = 1;
}

/* Answer every complete request in [buf, buf+len); returns how many bytes
 * were used. The rest is an incomplete request head. */
static size_t process_input(struct conn *c, const char *buf, size_t len)
{
    size_t pos = 0;
    while (pos < len && !c->close_after) {
        if (c->body_left) {
            size_t n = len - pos;
            if (n > c->body_left)
                n = c->body_left;
            pos += n;
            c->body_left -= n;
            if (c->body_left == 0)
                respond(c);
            continue;
        }
        const char *start = buf + pos;
        const char *hend = memmem(start, len - pos, "\r\n\r\n", 4);
        if (!hend) {
            if (len - pos >= HEAD_MAX) {
                out_append(RESPONSE_431, sizeof RESPONSE_431 - 1);
                c->close_after = 1;
            }
            break;
        }
        size_t head_len = (size_t)(hend - start) + 4;
        const char *err = parse_head(c, start, head_len);
        pos += head_len;
        if (err) {
            out_append(err, strlen(err));
            c->close_after = 1;
        } else if (c->body_left == 0) {
            respond(c);
        }
    }
    return c->close_after ? len : pos;   /* after a closing request: drop the rest */
}

/* Write [data, data+len) now; keep what the kernel refuses and wait for
 * EPOLLOUT. Returns -1 when the connection was closed. */
static int write_or_keep(struct conn *c, const char *data, size_t len)
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
        c->out = malloc(len - off);
        if (!c->out)
            die("malloc");
        memcpy(c->out, data + off, len - off);
        c->out_len = len - off;
        c->out_off = 0;
        set_interest(c, 1);
        return 0;
    }
    if (c->close_after) {
        conn_close(c);
        return -1;
    }
    return 0;
}

static void on_writable(struct conn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN)
                return;
            conn_close(c);
            return;
        }
        c->out_off += (size_t)n;
    }
    free(c->out);
    c->out = NULL;
    c->out_len = c->out_off = 0;
    if (c->close_after)
        conn_close(c);
    else
        set_interest(c, 0);
}

static void on_readable(struct conn *c)
{
    /* The kept tail goes first, so a request head split across reads is
     * parsed in one piece; the tail is at most HEAD_MAX bytes. */
    size_t have = c->tail_len;
    if (have)
        memcpy(rbuf, c->tail, have);
    ssize_t n = read(c->fd, rbuf + have, READ_CAP);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        conn_close(c);
        return;
    }
    if (n < 0)
        return;
    size_t len = have + (size_t)n;
    size_t used = process_input(c, rbuf, len);
    size_t rest = len - used;
    if (rest != c->tail_len) {
        free(c->tail);
        c->tail = rest ? malloc(rest) : NULL;
        if (rest && !c->tail)
            die("malloc");
    }
    if (rest)
        memcpy(c->tail, rbuf + used, rest);
    c->tail_len = rest;
    if (wbuf_len) {
        size_t out = wbuf_len;
        wbuf_len = 0;
        write_or_keep(c, wbuf, out);
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
        /* asyncio and uvloop disable Nagle on every TCP connection; so do we. */
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
    int port = 8080;
    parse_host_port(argc, argv, &host, &port, NULL, NULL);
    raise_nofile();
    install_signals();
    responses_init();

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
        refresh_date();
        for (int i = 0; i < n; i++) {
            int fd = events[i].data.fd;
            if (fd == lfd) {
                on_accept(lfd);
                continue;
            }
            struct conn *c = conns[fd];
            if (!c)
                continue;
            if (c->writing) {
                if (events[i].events & (EPOLLERR | EPOLLHUP))
                    conn_close(c);
                else
                    on_writable(c);
            } else {
                on_readable(c);   /* ERR/HUP surface as a failing read */
            }
        }
    }
    return 0;
}
