"""One measured window: the server's CPU time, and what everyone else on the
machine did meanwhile.

Other processes' CPU is the machine's busy time (user + nice + system over
all CPUs, /proc/stat) minus the server's process tree, the load client and
load.py itself. Interrupt and softirq time are left out of both sides (the
loopback traffic of the run itself lands there) and reported apart; steal
(the hypervisor running someone else) counts as disturbance. A window is
*disturbed* when the others used more than ``threshold`` of one CPU on
average, or steal did; the per-process view (/proc/PID/stat of everyone
else) is taken when it shows more. The processes that used the most are named (from
/proc/PID/stat), so a disturbed round says who it was."""
import os
import resource
import time

from harness.procs import descendants

TICK = os.sysconf("SC_CLK_TCK")
TOP = 3


def _cpu_times():
    """(busy, softirq + irq, steal) seconds, all CPUs, from /proc/stat."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system) / TICK, (irq + softirq) / TICK, steal / TICK


def _process_table():
    """{pid: (comm, cpu seconds)} of every process now."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                text = f.read()
        except OSError:
            continue
        comm = text[text.index("(") + 1:text.rindex(")")]
        fields = text.rsplit(")", 1)[1].split()
        table[int(entry)] = (comm, (int(fields[11]) + int(fields[12])) / TICK)
    return table


def _self_cpu():
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


class Meter:
    """begin() right before the load's window, end() right after it."""

    def __init__(self, server, threshold):
        self.server = server
        self.threshold = threshold

    def begin(self):
        self.t0 = time.monotonic()
        self.server_ns0 = self.server.cpu_ns()
        self.self0 = _self_cpu()
        self.stat0 = _cpu_times()
        self.procs0 = _process_table()

    def end(self, client_pid=None, client_cpu_s=None):
        """The window's figures. ``client_cpu_s`` may be given later (wrk's
        comes from wait4 once it has exited): see ``settle``."""
        server_ns = self.server.cpu_ns() - self.server_ns0
        stat1 = _cpu_times()
        wall = time.monotonic() - self.t0
        self_cpu = _self_cpu() - self.self0
        procs1 = _process_table()
        ours = set(self.server.pids()) | {os.getpid()}
        if client_pid:
            ours |= set(descendants(client_pid)) | {client_pid}
        others = []
        for pid, (comm, cpu) in procs1.items():
            if pid in ours:
                continue
            before = self.procs0.get(pid)
            used = cpu - before[1] if before and before[0] == comm else cpu if pid not in self.procs0 else 0.0
            if used > 0:
                others.append((used, comm, pid))
        others.sort(reverse=True)
        self.window = {
            "others_by_process_s": sum(u for u, _, _ in others),
            "wall_s": wall,
            "server_cpu_s": server_ns / 1e9,
            "busy_s": stat1[0] - self.stat0[0],
            "irq_s": stat1[1] - self.stat0[1],
            "steal_s": stat1[2] - self.stat0[2],
            "self_cpu_s": self_cpu,
            "load_average": list(os.getloadavg()),
            "top_others": [{"comm": c, "pid": p, "cpu_s": round(u, 3)} for u, c, p in others[:TOP]],
        }
        return self.settle(client_cpu_s)

    def settle(self, client_cpu_s):
        """Completes the window once the client's CPU time is known."""
        w = self.window
        w["client_cpu_s"] = client_cpu_s
        others = w["busy_s"] - w["server_cpu_s"] - w["self_cpu_s"] - (client_cpu_s or 0.0)
        # The larger of the two views: /proc/stat sees processes that came
        # and went inside the window, the process table sees time the
        # machine-wide counters put under irq and softirq.
        w["others_cpu_s"] = max(0.0, others, w["others_by_process_s"])
        w["others_cpu_frac"] = w["others_cpu_s"] / w["wall_s"] if w["wall_s"] > 0 else 0.0
        w["steal_frac"] = w["steal_s"] / w["wall_s"] if w["wall_s"] > 0 else 0.0
        w["disturbed"] = w["others_cpu_frac"] > self.threshold or w["steal_frac"] > self.threshold
        return w
