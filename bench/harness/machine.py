"""The machine and the exact versions of everything a run measured or used."""
import importlib.metadata
import os
import platform
import re
import subprocess
import sys

from harness import REPO, SRC

# The Python distributions whose version a reader needs to reproduce a table.
DISTRIBUTIONS = ("uvloop", "httptools", "uvicorn", "granian", "hypercorn", "gunicorn", "waitress",
                 "bjoern", "matplotlib", "Cython")


def _first_line(argv):
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = (done.stdout + done.stderr).strip()
    return text.splitlines()[0] if text else None


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            return next(ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name"))
    except (OSError, StopIteration):
        return "unknown"


_INCLUDE = re.compile(r'^\s*include\s+"([^"]+)"', re.M)
_CIMPORT = re.compile(r'^\s*(?:from\s+cyreactor\.(\w+)\s+cimport|from\s+cyreactor\s+cimport\s+([\w, ]+)|'
                      r'cimport\s+cyreactor\.(\w+))', re.M)


def _sources(pkg, name, seen):
    """``name`` and what it includes or cimports from the package, transitively."""
    path = os.path.join(pkg, name)
    if name in seen or not os.path.exists(path):
        return
    seen.add(name)
    with open(path, encoding="utf-8") as f:
        text = f.read()
    for included in _INCLUDE.findall(text):
        _sources(pkg, included, seen)
    for module, listed, dotted in _CIMPORT.findall(text):
        for stem in [module, dotted, *(m.strip() for m in listed.split(","))]:
            if stem:
                _sources(pkg, stem + ".pxd", seen)
    if name.endswith(".pyx"):
        _sources(pkg, name[:-4] + ".pxd", seen)


def stale_build():
    """The .pyx files whose in-place build is older than the module's own
    sources (the .pyx, the .pxi it includes, the package's .pxd it cimports,
    transitively): numbers for old code."""
    stale = []
    pkg = os.path.join(SRC, "cyreactor")
    names = os.listdir(pkg) if os.path.isdir(pkg) else []
    for pyx in sorted(f for f in names if f.endswith(".pyx")):
        stem = pyx[:-4]
        built = [f for f in names if f.startswith(stem + ".") and f.endswith(".so")]
        sources = set()
        _sources(pkg, pyx, sources)
        if not built or max(os.path.getmtime(os.path.join(pkg, f)) for f in built) < \
                max(os.path.getmtime(os.path.join(pkg, s)) for s in sources):
            stale.append(pyx)
    return stale


def info():
    versions = {}
    for dist in DISTRIBUTIONS:
        try:
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            versions[dist] = None
    commit = _first_line(["git", "-C", REPO, "rev-parse", "--short", "HEAD"])
    dirty = _first_line(["git", "-C", REPO, "status", "--porcelain", "--untracked-files=no"])
    return {
        "nproc": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "python_executable": sys.executable,
        "gcc": _first_line(["cc", "--version"]),
        "openssl": _first_line(["openssl", "version"]),
        "wrk": (_first_line(["wrk", "-v"]) or "").split(" [")[0] or None,
        "nginx": _first_line(["nginx", "-v"]),
        "packages": versions,
        "git_commit": commit,
        "git_dirty": bool(dirty),
        "cyreactor_stale_build": stale_build(),
        "load_average_at_start": list(os.getloadavg()),
    }
