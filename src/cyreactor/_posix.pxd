# POSIX and Linux declarations Cython does not ship: sockets with accept4 and
# the SOCK_* creation flags, addresses, eventfd, pipe2, clock_gettime. Used as
# _posix.NAME.
from libc.stdint cimport uint16_t, uint32_t, uint64_t
from posix.types cimport off_t, time_t


cdef extern from "<sys/socket.h>" nogil:
    ctypedef unsigned int socklen_t
    ctypedef unsigned short sa_family_t

    struct sockaddr:
        sa_family_t sa_family

    struct sockaddr_storage:
        sa_family_t ss_family

    struct iovec:
        void *iov_base
        size_t iov_len

    enum:
        AF_UNSPEC
        AF_INET
        AF_INET6
        AF_UNIX
        SOCK_STREAM
        SOCK_DGRAM
        SOCK_NONBLOCK
        SOCK_CLOEXEC
        SOL_SOCKET
        SO_ERROR
        SHUT_WR
        MSG_NOSIGNAL

    int accept4(int fd, sockaddr *addr, socklen_t *len, int flags)
    ssize_t recv(int fd, void *buf, size_t n, int flags)
    ssize_t send(int fd, const void *buf, size_t n, int flags)
    int shutdown(int fd, int how)
    int setsockopt(int fd, int level, int name, const void *val, socklen_t len)
    int getsockopt(int fd, int level, int name, void *val, socklen_t *len)

    struct msghdr:
        void *msg_name
        socklen_t msg_namelen
        iovec *msg_iov
        size_t msg_iovlen
        void *msg_control
        size_t msg_controllen
        int msg_flags

    ssize_t sendmsg(int fd, const msghdr *msg, int flags)


cdef extern from "<netinet/in.h>" nogil:
    enum:
        IPPROTO_TCP

    struct in_addr:
        uint32_t s_addr

    struct in6_addr:
        unsigned char s6_addr[16]

    struct sockaddr_in:
        sa_family_t sin_family
        uint16_t sin_port
        in_addr sin_addr

    struct sockaddr_in6:
        sa_family_t sin6_family
        uint16_t sin6_port
        uint32_t sin6_flowinfo
        in6_addr sin6_addr
        uint32_t sin6_scope_id

    uint16_t ntohs(uint16_t)
    uint16_t htons(uint16_t)
    uint32_t ntohl(uint32_t)


cdef extern from "<arpa/inet.h>" nogil:
    enum:
        INET6_ADDRSTRLEN
    const char *inet_ntop(int af, const void *src, char *dst, socklen_t size)
    int inet_pton(int af, const char *src, void *dst)


cdef extern from "<netinet/tcp.h>" nogil:
    enum:
        TCP_NODELAY


cdef extern from "<sys/sendfile.h>" nogil:
    ssize_t sendfile(int out_fd, int in_fd, off_t *offset, size_t count)


cdef extern from "<sys/eventfd.h>" nogil:
    enum:
        EFD_NONBLOCK
        EFD_CLOEXEC
    int eventfd(unsigned int initval, int flags)


cdef extern from "<sys/ioctl.h>" nogil:
    enum:
        FIONREAD                     # bytes queued for reading on a socket
    int ioctl(int fd, unsigned long request, ...)


cdef extern from "<fcntl.h>" nogil:
    enum:
        O_NONBLOCK
        O_CLOEXEC


cdef extern from "<unistd.h>" nogil:
    int pipe2(int pipefd[2], int flags)
    int close(int fd)
    ssize_t read(int fd, void *buf, size_t n)
    ssize_t write(int fd, const void *buf, size_t n)


cdef extern from "<time.h>" nogil:
    ctypedef int clockid_t
    struct timespec:
        time_t tv_sec
        long tv_nsec
    enum:
        CLOCK_MONOTONIC
    int clock_gettime(clockid_t clk, timespec *tp)


cdef extern from "<errno.h>" nogil:
    enum:
        EINPROGRESS
        EMFILE
        ENFILE
        ENOBUFS
        ENOMEM
        ECONNABORTED
