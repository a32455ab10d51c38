# cython: language_level=3
"""Moves plaintext through two TLSEngines in C, as a connection would: the
sender's records go to a sink (here a buffer standing in for the socket),
the receiver reads them from that window into a plaintext buffer. Built by
bench/tls_engine.py; not part of cyreactor."""
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy

from cyreactor._tls cimport TLS_WANT_READ, TLSEngine


cdef struct Pipe:
    char *buf
    Py_ssize_t length
    Py_ssize_t capacity


cdef int _collect(void *ctx, const char *data, Py_ssize_t length) except -1:
    cdef Pipe *pipe = <Pipe *>ctx
    if pipe.length + length > pipe.capacity:
        raise OverflowError("pipe buffer too small")
    memcpy(pipe.buf + pipe.length, data, length)
    pipe.length += length
    return 0


def transfer(TLSEngine sender, TLSEngine receiver, Py_ssize_t size, Py_ssize_t count):
    """Sends `count` writes of `size` bytes; returns the bytes received."""
    cdef Pipe pipe
    cdef Py_ssize_t cap = 256 * 1024, total = 0, i, n, r
    cdef const char *window
    cdef char *src = <char *>malloc(size)
    cdef char *plain = <char *>malloc(cap)
    pipe.capacity = 2 * size + 4096
    pipe.buf = <char *>malloc(pipe.capacity)
    try:
        for i in range(size):
            src[i] = <char>(i * 7)
        sender.set_sink(_collect, &pipe)
        for i in range(count):
            pipe.length = 0
            sender.write(src, size)
            window = pipe.buf
            n = pipe.length
            while True:
                r = receiver.read(&window, &n, plain, cap)
                if r <= 0:
                    break
                total += r
    finally:
        sender.set_sink(NULL, NULL)
        free(src)
        free(plain)
        free(pipe.buf)
    return total
