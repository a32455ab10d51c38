"""Builds the Cython extensions; all metadata lives in pyproject.toml.

CYREACTOR_DEBUG=1 builds with line tracing (coverage and profilers see the
Cython lines); CYREACTOR_CFLAGS / CYREACTOR_LDFLAGS add compiler and linker
flags (the sanitizer and fuzz builds use them).
"""
import glob
import os
import shlex

from Cython.Build import cythonize
from setuptools import Extension, setup

debug = os.environ.get("CYREACTOR_DEBUG") == "1"
extra_cflags = ["-O2"] + shlex.split(os.environ.get("CYREACTOR_CFLAGS", ""))
macros = [("CYTHON_TRACE_NOGIL", "1")] if debug else []

extensions = [
    Extension(
        "cyreactor." + os.path.splitext(os.path.basename(path))[0],
        [path],
        define_macros=macros,
        extra_compile_args=extra_cflags,
        extra_link_args=shlex.split(os.environ.get("CYREACTOR_LDFLAGS", "")),
        # The TLS engine drives the libssl that CPython's _ssl module loads.
        libraries=["ssl", "crypto"] if path.endswith("_tls.pyx") else [],
    )
    for path in sorted(glob.glob("src/cyreactor/*.pyx"))
]

setup(
    ext_modules=cythonize(
        extensions,
        compiler_directives={
            "language_level": 3,
            "embedsignature": True,
            # Unbound methods of cdef classes as method descriptors, which check
            # the type of self: a cyfunction called as Class.method(None) would
            # hand None to C code that trusts it.
            "binding": False,
            "linetrace": debug,
        },
    ),
)
