"""What the always-on counters cost per request: the demo server of this
tree against the same server built from another tree (one without them, a
``git worktree`` of an older commit built in place), under wrk, CPU time
per request of the server (pinned to CPU 0; wrk on CPU 1), interleaved
rounds, medians. Also this tree with the metrics path and health path set
(a special-path check per request head) and with the access log off.

    git worktree add --detach /tmp/base COMMIT && (cd /tmp/base && python setup.py build_ext --inplace)
    python bench/metrics_cost.py --base /tmp/base/src --rounds 7

The machine's other load (the others' CPU in each window) is printed per
round, so disturbed rounds can be told apart.
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from types import SimpleNamespace

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import HOST, SERVER_CPUS, SRC  # noqa: E402
from harness.cases import expand  # noqa: E402
from harness.loads import run_wrk  # noqa: E402
from harness.meter import Meter  # noqa: E402
from harness.procs import cpu_ns, descendants, free_port  # noqa: E402


class Server:
    """A demo server from ``src``, pinned; ``pid`` for the meter."""

    def __init__(self, src, extra):
        self.port = free_port()
        env = dict(os.environ, PYTHONPATH=src)
        self.proc = subprocess.Popen(["taskset", "-c", SERVER_CPUS, sys.executable, "-m", "cyreactor",
                                      "--host", HOST, "--port", str(self.port), *extra],
                                     env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.proc.stdout.readline()
        self.pid = self.proc.pid

    def pids(self):
        return descendants(self.pid)

    def cpu_ns(self):
        return sum(cpu_ns(pid) for pid in self.pids())

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--base", required=True, help="the other tree's src directory (built in place)")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--duration", type=float, default=4.0)
    p.add_argument("--modes", default="keepalive,pipeline16")
    args = p.parse_args()
    variants = {
        "base": (args.base, []),
        "this tree": (SRC, []),
        "this tree, --metrics-path --health-path": (SRC, ["--metrics-path", "/metrics", "--health-path", "/healthz"]),
    }
    settings = SimpleNamespace(duration=args.duration, warmup=1.0, threshold=0.10)
    results = {(v, m): [] for v in variants for m in args.modes.split(",")}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            order = list(variants.items())
            order = order[r % len(order):] + order[:r % len(order)]
            for name, (src, extra) in order:
                for mode in args.modes.split(","):
                    server = Server(src, extra)
                    try:
                        time.sleep(0.3)
                        case, = expand(mode, (), (), ())
                        result = run_wrk(case, server, settings, Meter(server, settings.threshold), tmp)
                    finally:
                        server.stop()
                    ns = result["cpu_us_per_op"] * 1000
                    window = result["window"]
                    results[(name, mode)].append(ns)
                    print(f"round {r + 1} {mode:10} {name:42} {ns:8.0f} ns/request"
                          f"  others {window['others_cpu_frac']:.2f} CPU"
                          f"{'  DISTURBED' if window['disturbed'] else ''}", flush=True)
    print()
    for mode in args.modes.split(","):
        base = statistics.median(results[("base", mode)])
        for name in variants:
            med = statistics.median(results[(name, mode)])
            print(f"{mode:10} {name:42} median {med:8.0f} ns/request  {med - base:+6.0f} ns vs base")


if __name__ == "__main__":
    main()
