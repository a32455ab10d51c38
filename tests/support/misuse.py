"""Calls every public method of every given object (and constructor of every
given class) with wrong, missing and hostile arguments. Meant to run in a
child interpreter (``walk_in_subprocess``): whatever Python code does, the
interpreter must not die of a signal."""
import os
import signal
import subprocess
import sys
import textwrap

ARGUMENT_SETS = [(), (None,), (-1,), (0,), ("x",), (b"x",), (1.5,), (float("nan"),), (float("inf"),),
                 (None, None), (1, None), (0, None, None), (object(),), ([b"a", 1],)]
# Dunder methods are the interpreter's business, except these.
DUNDERS = {"__repr__", "__enter__", "__exit__", "__len__", "__iter__", "__call__", "__del__"}


class _Stuck(BaseException):
    pass


def _alarm(signum, frame):
    raise _Stuck


def call_everything(obj, skip=()):
    """Calls each public callable attribute of ``obj`` (but those named in
    ``skip``: to keep a connection alive, say) with each argument set; a
    call that blocks is interrupted after 0.2 s."""
    signal.signal(signal.SIGALRM, _alarm)
    for name in sorted(dir(obj)):
        if name.startswith("__") and name not in DUNDERS or name in skip:
            continue
        try:
            attr = getattr(obj, name)
        except BaseException:
            continue
        if not callable(attr):
            continue
        for args in ARGUMENT_SETS:
            signal.setitimer(signal.ITIMER_REAL, 0.2)
            try:
                attr(*args)
            except BaseException:
                pass
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)


def construct_everything(cls):
    """Instances of ``cls`` made every way Python can try, including
    ``cls.__new__(cls)`` which skips ``__init__``."""
    made = []
    for args in ARGUMENT_SETS:
        try:
            made.append(cls(*args))
        except BaseException:
            pass
    try:
        made.append(cls.__new__(cls))
    except BaseException:
        pass
    return made


def walk_in_subprocess(setup, timeout=300):
    """Runs ``setup`` (Python source that binds ``objects``, a list of
    instances, and ``classes``) in a child interpreter, then calls and
    constructs everything. Returns the CompletedProcess: a negative
    ``returncode`` is the signal that killed it."""
    code = textwrap.dedent(setup) + textwrap.dedent("""
        from support.misuse import call_everything, construct_everything
        for cls in classes:
            for obj in construct_everything(cls):
                call_everything(obj)
            call_everything(cls)
        for obj in objects:
            call_everything(obj)
        print("walked")
    """)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=os.path.dirname(os.path.dirname(__file__)))
