"""What the always-on HTTP counters cost per request, in instructions counted
by callgrind (repeatable on a busy machine, unlike time): this tree's build
against another tree's (a ``git worktree`` of the commit before the
counters, built in place), same workload: 50 keep-alive connections send one
GET each per round, 200 rounds; everything inside Reactor._run_once is
counted (reading, parsing, answering, counting, the write).

    git worktree add --detach /tmp/base COMMIT && (cd /tmp/base && python setup.py build_ext --inplace)
    python bench/metrics_cost.py --base /tmp/base/src

Rows: the demo server (its per-request path is C only, so the counters'
share is the largest there), a Python function app, and each with the
health and metrics paths set (a path comparison per request head). Needs
valgrind (Debian package).
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

SRC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src")

WORKLOAD = """
import gc, socket, sys
import cyreactor
from cyreactor import http
N, ROUNDS = 50, 200
gc.disable()        # a collection falling in one build's window and not the other's is not per request
app = None if sys.argv[1] == "demo" else (lambda request: http.Response(200, body=b"hello"))
options = {"metrics_path": "/metrics", "health_path": "/healthz"} if sys.argv[2] == "paths" else {}
r = cyreactor.Reactor()
server = http.HttpServer(app, **options)
l = server.listen(r, "127.0.0.1", 0)
clients = [socket.create_connection(l.sockname) for _ in range(N)]
for c in clients:
    c.setblocking(False)
while r.stats()["open"] < N:
    r.run_once(0.01)
request = b"GET /x HTTP/1.1\\r\\nHost: bench\\r\\nUser-Agent: b/1\\r\\n\\r\\n"
for _ in range(ROUNDS):
    for c in clients:
        c.send(request)
    target = server.core.requests + N
    while server.core.requests < target:
        r.run_once(1)
    for c in clients:
        try:
            while c.recv(65536):
                pass
        except BlockingIOError:
            pass
print(N * ROUNDS)
"""


def instructions(src, kind, variant):
    """(instructions inside Reactor._run_once, requests) for one run."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "callgrind.out")
        env = dict(os.environ, PYTHONPATH=src)
        proc = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                               "--toggle-collect=*Reactor__run_once*", os.path.realpath(sys.executable),
                               "-c", WORKLOAD, kind, variant], capture_output=True, text=True, env=env,
                              check=True)
        requests = int(proc.stdout.split()[-1])
        with open(out) as f:
            total = int(re.search(r"^summary:\s+(\d+)", f.read(), re.M).group(1))
    return total, requests


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="the other tree's src directory (built in place)")
    args = parser.parse_args()
    print(f"{'server':14} {'build':28} {'instructions/request':>21} {'vs base':>9}")
    for kind in ("demo", "app"):
        base_total, n = instructions(args.base, kind, "plain")
        base = base_total / n
        print(f"{kind:14} {'base':28} {base:21,.0f}")
        for variant, label in (("plain", "this tree"), ("paths", "this tree, health+metrics paths")):
            total, n = instructions(SRC, kind, variant)
            per = total / n
            print(f"{kind:14} {label:28} {per:21,.0f} {per - base:+9,.0f}  ({(per - base) / base:+.1%})")


if __name__ == "__main__":
    main()
