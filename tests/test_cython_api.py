"""The Cython-level API: a handler written in Cython against the shipped
.pxd files (``from cyreactor cimport Handler, Connection``) builds and is
driven by the reactor through its vtable."""
import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import textwrap

import pytest
from support.net import recv_exactly, recv_until_eof

PYX = textwrap.dedent("""
    # cython: language_level=3
    from cyreactor cimport Handler, Connection

    cdef class Upper(Handler):
        cdef Connection conn
        cdef public Py_ssize_t calls

        cpdef connection_made(self, Connection conn):
            self.conn = conn

        cdef int buffer_received(self, const char *data, Py_ssize_t length) except -1:
            cdef bytearray out = bytearray(data[:length])
            cdef Py_ssize_t i
            self.calls += 1
            for i in range(length):
                if 97 <= out[i] <= 122:
                    out[i] -= 32
            self.conn.write_object(out)
            return 0
""")

SETUP = textwrap.dedent("""
    from setuptools import setup, Extension
    from Cython.Build import cythonize
    import os
    # Where cyreactor is installed: its .pxd files must be there beside it.
    setup(name="upper", ext_modules=cythonize([Extension("upper", ["upper.pyx"])], quiet=True,
                                              include_path=[os.environ["CYREACTOR_ROOT"]]))
""")


@pytest.fixture(scope="module")
def upper_module(tmp_path_factory):
    if shutil.which(os.environ.get("CC", "cc")) is None:
        pytest.skip("no C compiler")
    pytest.importorskip("Cython")
    build = tmp_path_factory.mktemp("cyhandler")
    (build / "upper.pyx").write_text(PYX)
    (build / "setup.py").write_text(SETUP)
    import cyreactor
    root = os.path.dirname(os.path.dirname(os.path.abspath(cyreactor.__file__)))
    assert os.path.exists(os.path.join(root, "cyreactor", "_loop.pxd")), "the .pxd files are not shipped"
    result = subprocess.run([sys.executable, "setup.py", "build_ext", "--inplace"],
                            cwd=build, capture_output=True, text=True, timeout=300,
                            env={**os.environ, "CYREACTOR_ROOT": root})
    assert result.returncode == 0, result.stdout + result.stderr
    so = next(build.glob("upper*.so"))
    spec = importlib.util.spec_from_file_location("upper", so)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cython_handler_is_driven_by_the_reactor(running, upper_module):
    handlers = []

    def factory():
        handlers.append(upper_module.Upper())
        return handlers[-1]

    listener = running.call(running.reactor.listen, "127.0.0.1", 0, factory)
    with socket.create_connection(listener.sockname) as s:
        s.sendall(b"hello, cython")
        assert recv_exactly(s, 13) == b"HELLO, CYTHON"
        s.shutdown(socket.SHUT_WR)
        assert recv_until_eof(s) == b""
    assert handlers[0].calls >= 1
