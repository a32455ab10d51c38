/* Shared helpers for the C peers: argument parsing, the listening socket,
 * and the fd limit. Header-only so each peer stays one `cc` invocation. */
#ifndef PEERS_COMMON_H
#define PEERS_COMMON_H

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

static inline void die(const char *what)
{
    perror(what);
    exit(1);
}

/* --host H --port P, or the positional form: HOST PORT. The TLS peers also
 * take --cert FILE --key FILE (pass NULL for both elsewhere). */
static inline void parse_host_port(int argc, char **argv, const char **host, int *port,
                                   const char **cert, const char **key)
{
    int positional = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--host") && i + 1 < argc) {
            *host = argv[++i];
        } else if (!strcmp(argv[i], "--port") && i + 1 < argc) {
            *port = atoi(argv[++i]);
        } else if (cert && !strcmp(argv[i], "--cert") && i + 1 < argc) {
            *cert = argv[++i];
        } else if (key && !strcmp(argv[i], "--key") && i + 1 < argc) {
            *key = argv[++i];
        } else if (argv[i][0] != '-') {
            if (positional++ == 0)
                *host = argv[i];
            else
                *port = atoi(argv[i]);
        } else {
            fprintf(stderr, "usage: %s [--host 127.0.0.1] [--port 8080]%s\n", argv[0],
                    cert ? " --cert FILE --key FILE" : "");
            exit(2);
        }
    }
}

/* The idle-connections benchmark opens 10,000 sockets: take the hard limit. */
static inline void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static inline int listen_tcp(const char *host, int port)
{
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((unsigned short)port);
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        fprintf(stderr, "bad IPv4 host: %s\n", host);
        exit(2);
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        die("socket");
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
        die("bind");
    if (listen(fd, 4096) < 0)
        die("listen");
    return fd;
}

/* SIGTERM/SIGINT end the loop through this flag; SIGPIPE is ignored so a
 * write to a reset peer returns EPIPE instead of killing the process. */
static volatile sig_atomic_t stop_requested;

static inline void on_stop_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static inline void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

#endif
