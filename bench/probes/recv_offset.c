/* The cost of the kernel's receive copy by where the user's buffer starts.
 *
 * A thread on CPU 1 sends SIZE-byte messages over loopback TCP; the main
 * thread, on CPU 0, waits (FIONREAD) until a whole message is queued and
 * times the recv() that copies it into a buffer starting at page offset D,
 * for each D, interleaved over ROUNDS rounds; it prints the median time per
 * message and recv() calls per message for each offset. Written for the
 * echo 64 KiB cliff of issue 14 (a lab saw the receive copy, _copy_to_iter,
 * double with a 128/256 KiB read buffer, which malloc places at page offset
 * 16, and not with a 64 KiB one): run it where the cliff shows to see
 * whether the buffer's placement is the cause.
 *
 *   cc -O2 -pthread -o /tmp/recv_offset bench/probes/recv_offset.c
 *   /tmp/recv_offset [SIZE=65536] [MESSAGES=3000] [ROUNDS=7]
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static const int OFFSETS[] = {0, 16, 32, 48, 64, 128, 256, 1024, 2048, 2064, 4032, 4080};
#define NOFFSETS (int)(sizeof OFFSETS / sizeof *OFFSETS)
#define MAX_ROUNDS 64

static size_t size;
static int client_fd;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static void pin(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    sched_setaffinity(0, sizeof set, &set);
}

static void *sender(void *unused) {
    (void)unused;
    pin(1);
    char *src = malloc(size), ack;
    memset(src, 'x', size);
    for (;;) {
        for (size_t sent = 0; sent < size;) {
            ssize_t n = send(client_fd, src + sent, size - sent, 0);
            if (n <= 0) return NULL;
            sent += n;
        }
        if (recv(client_fd, &ack, 1, 0) <= 0) return NULL;   /* one message in flight: ping-pong */
    }
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    size = argc > 1 ? strtoul(argv[1], NULL, 10) : 65536;
    int messages = argc > 2 ? atoi(argv[2]) : 3000;
    int rounds = argc > 3 ? atoi(argv[3]) : 7;
    if (rounds < 1 || rounds > MAX_ROUNDS || messages < 1 || size < 1) {
        fprintf(stderr, "usage: %s [SIZE] [MESSAGES] [ROUNDS<=%d]\n", argv[0], MAX_ROUNDS);
        return 2;
    }
    pin(0);
    int listener = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof addr;
    if (bind(listener, (void *)&addr, len) || getsockname(listener, (void *)&addr, &len) || listen(listener, 1)) {
        perror("listen");
        return 1;
    }
    client_fd = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(client_fd, (void *)&addr, sizeof addr)) {
        perror("connect");
        return 1;
    }
    int fd = accept(listener, NULL, NULL);
    pthread_t thread;
    pthread_create(&thread, NULL, sender, NULL);
    size_t map_size = size + 3 * 4096;
    char *map = mmap(NULL, map_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    memset(map, 0, map_size);   /* every page present before timing */
    static double per_message[NOFFSETS][MAX_ROUNDS];
    long calls[NOFFSETS] = {0};
    for (int round = 0; round < rounds; round++) {
        for (int k = 0; k < NOFFSETS; k++) {
            char *dst = map + 4096 + OFFSETS[k];
            double spent = 0;
            for (int i = 0; i < messages; i++) {
                int queued = 0;
                while (queued < (int)size) ioctl(fd, FIONREAD, &queued);
                for (size_t got = 0; got < size; calls[k]++) {
                    double t0 = now();
                    ssize_t n = recv(fd, dst + got, size - got, 0);
                    spent += now() - t0;
                    if (n <= 0) {
                        perror("recv");
                        return 1;
                    }
                    got += n;
                }
                send(fd, "k", 1, 0);
            }
            per_message[k][round] = spent / messages * 1e6;
        }
    }
    printf("message %zu bytes, %d messages x %d rounds per offset\n", size, messages, rounds);
    for (int k = 0; k < NOFFSETS; k++) {
        qsort(per_message[k], rounds, sizeof(double), by_value);
        printf("page offset %4d: %7.2f us per message (median), %.2f recv() per message\n", OFFSETS[k],
               per_message[k][rounds / 2], (double)calls[k] / rounds / messages);
    }
    return 0;
}
