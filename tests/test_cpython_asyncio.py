"""CPython's own asyncio test suite against cyreactor's loop, module by
module (scripts/asyncio_suite.py does the substitution and lists the
stock-loop-internals tests it leaves out, with reasons). The modules that
exercise the loop's I/O paths run by default; the rest (tasks, locks,
subprocess, ssl, ... about a minute) are marked slow."""
import json
import os
import subprocess
import sys

import pytest

SCRIPT = os.path.join(os.path.dirname(os.path.dirname(__file__)), "scripts", "asyncio_suite.py")
DEFAULT = ["test_events", "test_streams", "test_sock_lowlevel", "test_server", "test_sendfile",
           "test_buffered_proto", "test_unix_events", "test_waitfor", "test_timeouts", "test_queues"]
sys.path.insert(0, os.path.dirname(SCRIPT))
from asyncio_suite import MODULES  # noqa: E402

pytest.importorskip("test.test_asyncio")


@pytest.mark.parametrize("module", [m if m in DEFAULT else pytest.param(m, marks=pytest.mark.slow)
                                    for m in MODULES])
def test_cpython_asyncio_module_passes_on_cyreactor(module):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    proc = subprocess.run([sys.executable, SCRIPT, "--child", module, "--loop", "cyreactor"],
                          capture_output=True, text=True, timeout=600, env=env)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    assert lines, f"{module} crashed or hung (rc {proc.returncode}): {proc.stderr[-3000:]}"
    summary = json.loads(lines[-1])
    assert summary["failed"] == [], summary["failed"]
    assert summary["run"] > 0
