"""TLS engine costs, measured quietly: instruction counts, not time.

    python bench/tls_engine.py cost    # valgrind --tool=callgrind, about a minute
    python bench/tls_engine.py idle    # bytes held per idle session

cost: instructions per write of 16 KiB and 64 KiB of plaintext, encrypted by
one TLSEngine and decrypted by another in a C loop (bench/_tls_pipe.pyx: the
records go to a sink standing in for the socket, then are read back from
that window), beside the share spent inside OpenSSL itself (SSL_write_ex +
SSL_read_ex, inclusive of the BIO callbacks), and the same bytes through
ssl.SSLObject + MemoryBIO driven from Python as asyncio drives them. Every
figure is (run with N writes - run with 0 writes) / N, so interpreter start,
imports and handshakes cancel.

idle: malloc heap growth per idle session (client and server, then the
server alone) and RSS growth, for TLSEngine and for SSLObject + MemoryBIO,
each in its own process.
"""
import ctypes
import gc
import os
import re
import shutil
import ssl
import subprocess
import sys
import tempfile

BENCH = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(os.path.dirname(BENCH), "src")
BUILD = os.path.join(BENCH, "build")
sys.path[:0] = [SRC, BUILD, os.path.join(os.path.dirname(BENCH), "tests")]

SIZES = (16 * 1024, 64 * 1024)
WRITES = 200
# Inclusive counts read from callgrind_annotate, by function name (libssl has
# no debug information, so each is one line).
FUNCTIONS = {
    "SSL_write_ex": "SSL_write_ex",
    "SSL_read_ex": "SSL_read_ex",
    "sink (memcpy, the socket's stand-in)": "__pyx_f_9_tls_pipe__collect",
}
# The C loop of bench/_tls_pipe.pyx: the engine's calls and nothing else.
LOOP = "__pyx_pw_9_tls_pipe_1transfer"


def build_pipe():
    from Cython.Build import cythonize
    from setuptools import Extension
    from setuptools.dist import Distribution

    ext = cythonize(
        [Extension("_tls_pipe", [os.path.join(BENCH, "_tls_pipe.pyx")], extra_compile_args=["-O2"])],
        include_path=[SRC], build_dir=BUILD, quiet=True)
    cmd = Distribution({"ext_modules": ext}).get_command_obj("build_ext")
    cmd.build_lib = BUILD
    cmd.build_temp = os.path.join(BUILD, "temp")
    cmd.ensure_finalized()
    cmd.run()


_contexts = None


def pair(kind):
    """A client and a server after a TLS 1.3 handshake, in memory; all
    pairs share two contexts, as a server's connections do."""
    global _contexts
    from support.tls import Certs, PyPeer, engine, handshake

    if _contexts is None:
        certs = Certs()
        _contexts = certs.client_context("TLSv1.3"), certs.server_context("TLSv1.3")
    make = engine if kind == "engine" else PyPeer
    client = make(_contexts[0], False, "example.test")
    server = make(_contexts[1], True)
    handshake(client, server)
    return client, server


def work(kind, size, count):
    client, server = pair(kind)
    if kind == "engine":
        import _tls_pipe

        got = _tls_pipe.transfer(client, server, size, count)
    else:
        data = bytes(size)
        got = 0
        for _ in range(count):
            # asyncio's SSLProtocol: write into the SSLObject, take the
            # records from the outgoing BIO; the peer feeds them to its
            # incoming BIO and reads until it would block.
            client.sslobj.write(data)
            server.incoming.write(client.out.read())
            while True:
                try:
                    got += len(server.sslobj.read(256 * 1024))
                except ssl.SSLWantReadError:
                    break
    assert got == size * count, got


def callgrind(kind, size, count, only=None):
    """Instruction counts of one run: the program's total (or, with `only`,
    what runs inside that function) and FUNCTIONS' inclusive counts."""
    options = [f"--toggle-collect={only}", "--collect-atstart=no"] if only else []
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "callgrind.out")
        subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *options,
             sys.executable, __file__, "_work", kind, str(size), str(count)],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        report = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=100", out],
                                check=True, capture_output=True, text=True).stdout
    counts = {"total": _count(report, "PROGRAM TOTALS")}
    for label, fragment in FUNCTIONS.items():
        counts[label] = _count(report, fragment)
    return counts


def _count(report, name):
    """The largest inclusive count of a line naming `name` ("PROGRAM
    TOTALS" or a function); callgrind_annotate lists some functions twice."""
    best = 0
    for line in report.splitlines():
        match = re.match(r"\s*([\d,]+) (?:\([^)]*\))?\s*(.*?)(?: \[.*\])?$", line)
        if match and (match.group(2) == name or match.group(2).endswith(":" + name)):
            best = max(best, int(match.group(1).replace(",", "")))
    return best


def cost():
    if not shutil.which("valgrind"):
        sys.exit("needs valgrind (apt-get install valgrind)")
    build_pipe()
    print(f"instructions per write, TLS 1.3 AES-256-GCM, {WRITES} writes, read back by a second engine")
    for size in SIZES:
        loop = {k: v / WRITES for k, v in callgrind("engine", size, WRITES, only=LOOP).items()}
        whole = {}
        for kind in ("engine", "sslobject"):
            full, empty = callgrind(kind, size, WRITES), callgrind(kind, size, 0)
            whole[kind] = (full["total"] - empty["total"]) / WRITES
        openssl = loop["SSL_write_ex"] + loop["SSL_read_ex"]
        sink = loop["sink (memcpy, the socket's stand-in)"]
        own = loop["total"] - openssl - sink
        print(f"\n{size // 1024} KiB plaintext")
        print(f"  the C loop: engine write + read         {loop['total']:>10,.0f}")
        for label in FUNCTIONS:
            print(f"    {label:<38} {loop[label]:>10,.0f}")
        print(f"    the engine's own                       {own:>10,.0f}  ({own / openssl:.1%} of OpenSSL's)")
        print(f"  whole process, TLSEngine                 {whole['engine']:>10,.0f}")
        print(f"  whole process, SSLObject + MemoryBIO     {whole['sslobject']:>10,.0f}"
              f"  ({whole['sslobject'] / whole['engine']:.2f}x), driven from Python as asyncio does")


def idle_one(kind, pairs):
    """Heap and RSS growth per session for `kind`, in this process."""
    libc = ctypes.CDLL(None)

    class Mallinfo2(ctypes.Structure):
        _fields_ = [(name, ctypes.c_size_t) for name in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
            "uordblks", "fordblks", "keepcost")]

    libc.mallinfo2.restype = Mallinfo2

    def heap():
        info = libc.mallinfo2()
        return info.uordblks + info.hblkhd

    def rss():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def session():
        client, server = pair(kind)
        # One exchange each way, as an idle keep-alive connection has had.
        for a, b in ((client, server), (server, client)):
            a.send(b"x")
            b.receive(a.outgoing())
        return client, server

    for _ in range(10):
        session()  # contexts, certificates, caches
    gc.collect()
    before_heap, before_rss = heap(), rss()
    kept = [session() for _ in range(pairs)]
    gc.collect()
    servers_heap = heap()
    del kept[:]  # clients and servers both go; servers measured alone below
    kept = [session()[1] for _ in range(pairs)]
    gc.collect()
    print(f"  {kind:<10} client+server heap {(servers_heap - before_heap) / pairs:>8,.0f}"
          f"   server heap {(heap() - before_heap) / pairs:>8,.0f}"
          f"   RSS per pair {(rss() - before_rss) / pairs:>8,.0f}")


def idle(pairs=2000):
    print(f"bytes per idle TLS 1.3 session after one exchange each way, {pairs} sessions,"
          f" each kind in its own process (heap: malloc in use, so OpenSSL but not pymalloc)")
    for kind in ("engine", "sslobject"):
        subprocess.run([sys.executable, __file__, "_idle", kind, str(pairs)], check=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["_work"]:
        work(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    elif sys.argv[1:2] == ["_idle"]:
        idle_one(sys.argv[2], int(sys.argv[3]))
    elif sys.argv[1:2] == ["cost"]:
        cost()
    elif sys.argv[1:2] == ["idle"]:
        idle()
    else:
        sys.exit(__doc__)
