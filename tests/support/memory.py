"""How much memory this process holds: RSS, and the bytes malloc has handed
out (OpenSSL's allocations included, which tracemalloc does not see)."""
import ctypes
import os


class _Mallinfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
        "uordblks", "fordblks", "keepcost")]


def heap_in_use():
    """Bytes in use in malloc's heap and its mmapped blocks (glibc's
    mallinfo2): unlike RSS, blind to fragmentation and trimming."""
    mallinfo2 = ctypes.CDLL(None).mallinfo2
    mallinfo2.restype = _Mallinfo2
    info = mallinfo2()
    return info.uordblks + info.hblkhd


def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
