#!/usr/bin/env python3
"""Load comparison: cyreactor against a C epoll server, asyncio and uvloop.

The primary metric is the server's CPU time per request: the CPU the server
process used (user + system, all its threads, from /proc/PID/task/*/schedstat
in nanoseconds) between just before and just after the load run, divided by
the requests completed. Requests per second is reported beside it. The server
is pinned to CPU 0 and the load generator to CPU 1, so on a 2-core machine
neither steals the other's core.

Every measurement starts a fresh server, waits until its port accepts, warms
it up for a second, runs the load, and stops the server by PID (SIGTERM, then
SIGKILL after a timeout). Servers are interleaved across rounds and the
medians reported. Before its first measurement each server is checked for
correct behaviour (bench/checks.py); one that fails is left out.

Modes:
  keepalive   wrk -t1 -c100, keep-alive GETs
  close       the same with "Connection: close": a new connection per request
  pipeline16  16 pipelined GETs per write (wrk Lua script)
  post1m      POST with a 1 MiB body (wrk Lua script)
  echo1k      echo round trips of 1 KiB over 10 connections (c_echoclient)
  echo64k     the same with 64 KiB
  idle10k     RSS growth of the server for 10,000 idle keep-alive connections

Writes OUT/benchmarks.json, OUT/benchmarks.png and OUT/benchmarks.md; the
part of an existing benchmarks.md from its "## Observations" heading on is
kept, so notes written by hand survive a re-run.

usage: python bench/load.py [--modes ...] [--servers ...] [--duration 5]
                            [--rounds 3] [--out docs/]
"""
import argparse
import datetime
import json
import os
import platform
import re
import resource
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)
PEERS = os.path.join(BENCH, "peers")
PEER_BIN = os.path.join(PEERS, "bin")
sys.path.insert(0, BENCH)
import checks  # noqa: E402

HOST = "127.0.0.1"
SERVER_CPU = "0"
CLIENT_CPU = "1"
WARMUP_SECONDS = 1
START_TIMEOUT = 20.0
STOP_TIMEOUT = 5.0
IDLE_CONNECTIONS = 10_000
IDLE_BATCH = 500

HTTP_MODES = ("keepalive", "close", "pipeline16", "post1m")
ECHO_MODES = ("echo1k", "echo64k")
ALL_MODES = HTTP_MODES + ECHO_MODES + ("idle10k",)
ECHO_SIZES = {"echo1k": 1024, "echo64k": 65536}
ECHO_CONNECTIONS = 10
WRK_CONNECTIONS = 100


def mode_kind(mode):
    return "echo" if mode in ECHO_MODES else "http"


# --- the servers ------------------------------------------------------------

@dataclass
class Server:
    name: str           # as given to --servers
    kind: str           # "http" or "echo"
    label: str          # as shown in tables and progress lines
    argv: list          # {port} is replaced by the port
    needs: str = ""     # a module that must import, or a file that must exist


def _py(*args):
    return [sys.executable, *args]


SERVERS = [
    Server("c", "http", "C epoll (c_http)",
           [os.path.join(PEER_BIN, "c_http"), "--host", HOST, "--port", "{port}"]),
    Server("cyreactor", "http", "cyreactor demo",
           _py("-m", "cyreactor", "--host", HOST, "--port", "{port}"), "cyreactor.__main__"),
    Server("cy_app", "http", "cyreactor Python app",
           _py(os.path.join(PEERS, "cy_app.py"), "--host", HOST, "--port", "{port}"),
           "cyreactor.http"),
    Server("asyncio", "http", "asyncio+httptools",
           _py(os.path.join(PEERS, "py_http.py"), "--loop", "asyncio",
               "--host", HOST, "--port", "{port}"), "httptools"),
    Server("uvloop", "http", "uvloop+httptools",
           _py(os.path.join(PEERS, "py_http.py"), "--loop", "uvloop",
               "--host", HOST, "--port", "{port}"), "uvloop"),
    Server("c", "echo", "C epoll (c_echo)",
           [os.path.join(PEER_BIN, "c_echo"), "--host", HOST, "--port", "{port}"]),
    Server("cyreactor", "echo", "cyreactor echo example",
           _py("-m", "cyreactor.examples.echo", "--host", HOST, "--port", "{port}"),
           "cyreactor.examples.echo"),
    Server("asyncio", "echo", "asyncio echo",
           _py(os.path.join(PEERS, "py_echo.py"), "--loop", "asyncio",
               "--host", HOST, "--port", "{port}")),
    Server("uvloop", "echo", "uvloop echo",
           _py(os.path.join(PEERS, "py_echo.py"), "--loop", "uvloop",
               "--host", HOST, "--port", "{port}"), "uvloop"),
]
SERVER_NAMES = ("c", "cyreactor", "cy_app", "asyncio", "uvloop")


def server_env():
    """Servers import cyreactor from the work tree (an in-place build)."""
    env = dict(os.environ)
    src = os.path.join(REPO, "src")
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def missing_requirement(server):
    """Why this server cannot run here, or None."""
    exe = server.argv[0]
    if exe != sys.executable and not os.access(exe, os.X_OK):
        return f"{exe} is not built"
    if server.needs:
        probe = subprocess.run(
            [sys.executable, "-c",
             f"import importlib.util, sys; sys.exit(importlib.util.find_spec({server.needs!r}) is None)"],
            env=server_env(), capture_output=True)
        if probe.returncode:
            return f"module {server.needs} is not importable"
    return None


def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


class RunningServer:
    """One server process, pinned to SERVER_CPU, owned by PID."""

    def __init__(self, server, logdir, tag):
        self.server = server
        self.port = free_port()
        argv = [a.replace("{port}", str(self.port)) for a in server.argv]
        # The peers raise their own soft fd limit to the hard one (cyreactor's
        # demo does the same); a container may forbid raising the hard limit,
        # so prlimit is no use here.
        prefix = ["taskset", "-c", SERVER_CPU]
        self.log_path = os.path.join(logdir, f"{tag}.log")
        self.log = open(self.log_path, "wb")
        # taskset execs the command, so Popen's PID is the server's.
        self.proc = subprocess.Popen(prefix + argv, stdout=self.log, stderr=subprocess.STDOUT,
                                     env=server_env(), cwd=REPO, start_new_session=True)
        self.pid = self.proc.pid
        self.exit_note = None

    def wait_ready(self):
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"exited with {self.proc.returncode} before listening")
            try:
                socket.create_connection((HOST, self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"port {self.port} did not accept within {START_TIMEOUT:.0f} s")

    def stop(self):
        """SIGTERM, then SIGKILL after STOP_TIMEOUT. Notes anything unusual."""
        notes = []
        if self.proc.poll() is not None:
            notes.append(f"had exited by itself with status {self.proc.returncode}")
        else:
            os.kill(self.pid, signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                notes.append(f"ignored SIGTERM for {STOP_TIMEOUT:.0f} s; killed")
                os.kill(self.pid, signal.SIGKILL)
                self.proc.wait()
            rc = self.proc.returncode
            if rc not in (0, -signal.SIGTERM) and not notes:
                notes.append(f"exited with status {rc} on SIGTERM")
        self.log.close()
        with open(self.log_path, "rb") as f:
            output = f.read().decode(errors="replace").strip()
        # A start-up banner is not news; anything that reads like trouble is.
        if re.search(r"(?i)traceback|error|exception|warn|fatal|abort|leak", output):
            notes.append("output: " + output[-2000:])
        self.exit_note = "; ".join(notes) or None
        return self.exit_note

    def cpu_ns(self):
        """CPU time so far, user + system, summed over the threads."""
        total = 0
        task_dir = f"/proc/{self.pid}/task"
        for tid in os.listdir(task_dir):
            try:
                with open(f"{task_dir}/{tid}/schedstat") as f:
                    total += int(f.read().split()[0])
            except (FileNotFoundError, ProcessLookupError):
                pass   # a thread that ended between listdir and open
        if total == 0:
            # No schedstat on this kernel: clock ticks from /proc/PID/stat.
            with open(f"/proc/{self.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            ticks = int(fields[11]) + int(fields[12])   # utime, stime
            total = ticks * 1_000_000_000 // os.sysconf("SC_CLK_TCK")
        return total

    def rss_kib(self):
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise RuntimeError("no VmRSS")


# --- the load generators ----------------------------------------------------

def wrk_script(mode, tmpdir):
    parts = []
    if mode in ("pipeline16", "post1m"):
        parts.append(os.path.join(BENCH, "wrk", f"{mode}.lua"))
    parts.append(os.path.join(BENCH, "wrk", "report.lua"))
    path = os.path.join(tmpdir, f"{mode}.lua")
    with open(path, "w") as out:
        for part in parts:
            with open(part) as f:
                out.write(f.read() + "\n")
    return path


def load_command(mode, port, duration, tmpdir):
    if mode in ECHO_MODES:
        return [os.path.join(PEER_BIN, "c_echoclient"), "--host", HOST, "--port", str(port),
                "--conns", str(ECHO_CONNECTIONS), "--size", str(ECHO_SIZES[mode]),
                "--duration", str(duration)]
    argv = ["wrk", "-t1", f"-c{WRK_CONNECTIONS}", f"-d{duration}s", "--timeout", "5s",
            "-s", wrk_script(mode, tmpdir)]
    if mode == "close":
        argv += ["-H", "Connection: close"]
    return argv + [f"http://{HOST}:{port}/"]


def run_load(mode, port, duration, tmpdir):
    """Run the load generator on CLIENT_CPU; return (requests, errors, extra)."""
    argv = ["taskset", "-c", CLIENT_CPU] + load_command(mode, port, duration, tmpdir)
    done = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 60)
    if mode in ECHO_MODES:
        try:
            report = json.loads(done.stdout.strip().splitlines()[-1])
        except (IndexError, ValueError):
            report = {"error": (done.stdout + done.stderr).strip()[-500:]}
        if done.returncode or "error" in report:
            raise RuntimeError(f"echo client failed: {report.get('error', done.stderr.strip())}")
        return report["round_trips"], 0, {"seconds": report["seconds"],
                                          "mib_per_s": report["mib_per_s"]}
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("WRK_JSON ")), None)
    if done.returncode or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}): {(done.stdout + done.stderr).strip()[-500:]}")
    report = json.loads(line[len("WRK_JSON "):])
    errors = report["errors"]
    if mode == "close":
        # wrk 4.1 counts the server's orderly close after each "Connection:
        # close" response as a read error, so up to one per request is normal.
        errors = dict(errors, read=max(0, errors["read"] - report["requests"]))
    return report["requests"], sum(errors.values()), {
        "seconds": report["duration_us"] / 1e6, "wrk_errors": report["errors"],
        "latency_us": report["latency_us"]}


def measure_load(server, mode, duration, tmpdir, logdir, tag):
    running = RunningServer(server, logdir, tag)
    try:
        running.wait_ready()
        run_load(mode, running.port, WARMUP_SECONDS, tmpdir)
        cpu_before = running.cpu_ns()
        requests, errors, extra = run_load(mode, running.port, duration, tmpdir)
        cpu_after = running.cpu_ns()
        if running.proc.poll() is not None:
            raise RuntimeError(f"server exited with {running.proc.returncode} during the run")
    finally:
        note = running.stop()
    cpu_ns = cpu_after - cpu_before
    return {
        "requests": requests,
        "errors": errors,
        "cpu_s": cpu_ns / 1e9,
        "cpu_us_per_request": cpu_ns / 1e3 / requests if requests else None,
        "requests_per_s": requests / extra["seconds"],
        "server_note": note,
        **extra,
    }


def raise_own_nofile(want):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= want:
        return
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, max(want, hard)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
    if resource.getrlimit(resource.RLIMIT_NOFILE)[0] < want:
        raise RuntimeError(f"need {want} file descriptors; the hard limit is {hard}")


def measure_idle(server, logdir, tag):
    """Server RSS growth with IDLE_CONNECTIONS idle keep-alive connections."""
    raise_own_nofile(IDLE_CONNECTIONS + 1000)
    request = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n"
    running = RunningServer(server, logdir, tag)
    socks = []
    old_affinity = os.sched_getaffinity(0)
    try:
        running.wait_ready()
        time.sleep(0.5)
        rss_before = running.rss_kib()
        os.sched_setaffinity(0, {int(CLIENT_CPU)})
        # In batches, so no listen backlog overflows: connect a batch, send
        # each its request, then read each response (the server has accepted).
        while len(socks) < IDLE_CONNECTIONS:
            batch = []
            for _ in range(min(IDLE_BATCH, IDLE_CONNECTIONS - len(socks))):
                s = socket.create_connection((HOST, running.port), timeout=10)
                batch.append(s)
                socks.append(s)
            for s in batch:
                s.sendall(request)
            for s in batch:
                got = b""
                while not got.endswith(checks.BODY):
                    chunk = s.recv(4096)
                    if not chunk:
                        raise RuntimeError(f"connection {len(socks)} closed by the server")
                    got += chunk
        time.sleep(1.0)
        if running.proc.poll() is not None:
            raise RuntimeError(f"server exited with {running.proc.returncode}")
        rss_after = running.rss_kib()
    finally:
        os.sched_setaffinity(0, old_affinity)
        for s in socks:
            s.close()
        note = running.stop()
    growth = rss_after - rss_before
    return {
        "connections": IDLE_CONNECTIONS,
        "rss_before_mib": rss_before / 1024,
        "rss_after_mib": rss_after / 1024,
        "rss_growth_mib": growth / 1024,
        "kib_per_connection": growth / IDLE_CONNECTIONS,
        "server_note": note,
    }


# --- results ----------------------------------------------------------------

def median_or_none(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def summarize(runs):
    """Medians per mode and server, with the ratios to the C server and uvloop."""
    summary = {}
    for mode, per_server in runs.items():
        rows = {}
        for name, samples in per_server.items():
            ok = [s for s in samples if "failed" not in s]
            if mode == "idle10k":
                rows[name] = {"rss_growth_mib": median_or_none([s["rss_growth_mib"] for s in ok]),
                              "kib_per_connection": median_or_none([s["kib_per_connection"] for s in ok])}
            else:
                rows[name] = {
                    "cpu_us_per_request": median_or_none([s["cpu_us_per_request"] for s in ok]),
                    "requests_per_s": median_or_none([s["requests_per_s"] for s in ok]),
                    "errors": sum(s["errors"] for s in ok),
                }
            rows[name]["runs"] = len(ok)
            rows[name]["failures"] = len(samples) - len(ok)
        key = "rss_growth_mib" if mode == "idle10k" else "cpu_us_per_request"
        for ref in ("c", "uvloop"):
            base = rows.get(ref, {}).get(key)
            for row in rows.values():
                row[f"ratio_to_{ref}"] = row[key] / base if base and row[key] is not None else None
        summary[mode] = rows
    return summary


def label_for(mode, name):
    kind = mode_kind(mode)
    return next(s.label for s in SERVERS if s.name == name and s.kind == kind)


def fmt(value, spec, suffix=""):
    return "n/a" if value is None else format(value, spec) + suffix


def table_markdown(summary):
    lines = ["| mode | server | CPU µs/request | requests/s | CPU × C | CPU × uvloop | errors |",
             "|---|---|---:|---:|---:|---:|---:|"]
    idle = []
    for mode, rows in summary.items():
        for name, row in rows.items():
            label = label_for(mode, name)
            failed = f" ({row['failures']} failed)" if row["failures"] else ""
            if mode == "idle10k":
                idle.append(f"| {label}{failed} | {fmt(row['rss_growth_mib'], '.1f')} | "
                            f"{fmt(row['kib_per_connection'], '.2f')} | "
                            f"{fmt(row['ratio_to_c'], '.2f', '×')} | {fmt(row['ratio_to_uvloop'], '.2f', '×')} |")
                continue
            lines.append(
                f"| {mode} | {label}{failed} | {fmt(row['cpu_us_per_request'], '.2f')} | "
                f"{fmt(row['requests_per_s'], ',.0f')} | {fmt(row['ratio_to_c'], '.2f', '×')} | "
                f"{fmt(row['ratio_to_uvloop'], '.2f', '×')} | {row['errors']} |")
    out = "\n".join(lines) if len(lines) > 2 else ""
    if idle:
        out += ("\n\n" if out else "") + "\n".join(
            [f"{IDLE_CONNECTIONS:,} idle keep-alive connections, server RSS growth (median):", "",
             "| server | RSS growth MiB | KiB/connection | × C | × uvloop |",
             "|---|---:|---:|---:|---:|"] + idle)
    return out


def table_text(summary):
    rows = [("mode", "server", "CPU µs/req", "req/s", "CPU ×C", "CPU ×uvloop", "errors")]
    for mode, per in summary.items():
        for name, r in per.items():
            label = label_for(mode, name) + (f" ({r['failures']} failed)" if r["failures"] else "")
            if mode == "idle10k":
                rows.append((mode, label, fmt(r["rss_growth_mib"], ".1f", " MiB"),
                             fmt(r["kib_per_connection"], ".2f", " KiB/conn"),
                             fmt(r["ratio_to_c"], ".2f"), fmt(r["ratio_to_uvloop"], ".2f"), ""))
            else:
                rows.append((mode, label, fmt(r["cpu_us_per_request"], ".2f"),
                             fmt(r["requests_per_s"], ",.0f"), fmt(r["ratio_to_c"], ".2f"),
                             fmt(r["ratio_to_uvloop"], ".2f"), str(r["errors"])))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) if i < 2 else cell.rjust(w)
                               for i, (cell, w) in enumerate(zip(row, widths)))
                     for row in rows)


def plot(summary, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    modes = list(summary)
    cols = 2 if len(modes) > 1 else 1
    nrows = (len(modes) + cols - 1) // cols
    fig, axes = plt.subplots(nrows, cols, figsize=(6.5 * cols, 2.6 * nrows), squeeze=False)
    colours = {"c": "#555555", "cyreactor": "#d62728", "cy_app": "#ff9896",
               "asyncio": "#1f77b4", "uvloop": "#2ca02c"}
    for ax, mode in zip(axes.flat, modes):
        rows = summary[mode]
        key = "rss_growth_mib" if mode == "idle10k" else "cpu_us_per_request"
        names = [n for n in rows if rows[n][key] is not None]
        values = [rows[n][key] for n in names]
        bars = ax.barh([label_for(mode, n) for n in names], values,
                       color=[colours.get(n, "#999999") for n in names])
        ax.invert_yaxis()
        ax.bar_label(bars, fmt="%.2f" if mode != "idle10k" else "%.1f", padding=3, fontsize=8)
        ax.set_title(mode if mode != "idle10k" else f"idle10k: RSS growth, {IDLE_CONNECTIONS:,} connections",
                     fontsize=10)
        ax.set_xlabel("MiB (lower is better)" if mode == "idle10k"
                      else "server CPU µs per request (lower is better)", fontsize=8)
        ax.tick_params(labelsize=8)
        ax.set_xlim(0, max(values, default=1) * 1.25)
    for ax in list(axes.flat)[len(modes):]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def machine_info():
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            model = next(ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass

    def version(module):
        try:
            return __import__(module).__version__
        except Exception:
            return None

    # An in-place build older than its .pyx means the numbers are for old code.
    stale = []
    src = os.path.join(REPO, "src", "cyreactor")
    if os.path.isdir(src):
        for pyx in sorted(f for f in os.listdir(src) if f.endswith(".pyx")):
            stem = pyx[:-4]
            built = [f for f in os.listdir(src) if f.startswith(stem + ".") and f.endswith(".so")]
            if not built or max(os.path.getmtime(os.path.join(src, f)) for f in built) < \
                    os.path.getmtime(os.path.join(src, pyx)):
                stale.append(pyx)
    wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True)
    commit = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "wrk": (wrk.stdout + wrk.stderr).split(" [")[0].strip() or None,
        "uvloop": version("uvloop"),
        "httptools": version("httptools"),
        "git_commit": commit or None,
        "cyreactor_stale_build": stale,
        "load_average_at_start": os.getloadavg(),
    }


def write_markdown(path, summary, info, command, args, started, notes):
    kept = ""
    if os.path.exists(path):
        with open(path) as f:
            text = f.read()
        marker = text.find("\n## Observations")
        if marker >= 0:
            kept = text[marker + 1:]
    lines = [
        "# Benchmarks",
        "",
        "Generated by `bench/load.py` (see `bench/README.md`); everything above",
        "\"Observations\" is rewritten on each run.",
        "",
        f"- Date: {started:%Y-%m-%d %H:%M} UTC",
        f"- Machine: {info['nproc']} CPUs, {info['cpu_model']}, Linux {info['kernel']}, "
        f"Python {info['python']}",
        f"- Tools: {info['wrk']}; uvloop {info['uvloop']}; httptools {info['httptools']}; "
        f"cyreactor at {info['git_commit']}",
        f"- Command: `{command}`",
        f"- {args.rounds} rounds of {args.duration:g} s per server and mode, servers interleaved; "
        "medians shown. Server pinned to CPU 0, load generator to CPU 1.",
        "- Load average when the run started: "
        + ", ".join(f"{x:.2f}" for x in info["load_average_at_start"])
        + " (other work on the machine makes requests/s noisy; CPU per request much less so)",
        "",
        "**CPU µs/request** is the server process's user + system CPU time during the run",
        "divided by the requests completed (echo: round trips); lower is better and it is",
        "the number to compare. `CPU × C` and `CPU × uvloop` are its ratio to the C epoll",
        "server and to uvloop. HTTP load: wrk, 1 thread, 100 connections; echo load:",
        f"c_echoclient, {ECHO_CONNECTIONS} connections ping-ponging the payload.",
        "",
        table_markdown(summary),
        "",
        "![server CPU per request](benchmarks.png)",
        "",
    ]
    if info["cyreactor_stale_build"]:
        notes = notes + ["cyreactor's in-place build was older than "
                         + ", ".join(info["cyreactor_stale_build"]) + ": numbers are for the older code"]
    if notes:
        lines += ["Server messages and failures during this run:", ""]
        lines += [f"- {n}" for n in notes] + [""]
    with open(path, "w") as f:
        f.write("\n".join(lines) + ("\n" + kept if kept else ""))


# --- main -------------------------------------------------------------------

def parse_args(argv):
    parser = argparse.ArgumentParser(
        description="Server CPU per request: cyreactor vs C epoll, asyncio and uvloop.")
    parser.add_argument("--modes", default=",".join(ALL_MODES),
                        help=f"comma-separated, from {','.join(ALL_MODES)} (default: all)")
    parser.add_argument("--servers", default=",".join(SERVER_NAMES),
                        help=f"comma-separated, from {','.join(SERVER_NAMES)} (default: all)")
    parser.add_argument("--duration", type=int, default=5, help="whole seconds per run (default 5)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds, medians reported (default 3)")
    parser.add_argument("--out", default=os.path.join(REPO, "docs"),
                        help="directory for benchmarks.json/.png/.md (default docs/)")
    parser.add_argument("--no-check", action="store_true", help="skip the behaviour checks")
    args = parser.parse_args(argv)
    args.modes = [m for m in args.modes.split(",") if m]
    args.servers = [s for s in args.servers.split(",") if s]
    for m in args.modes:
        if m not in ALL_MODES:
            parser.error(f"unknown mode {m!r}")
    for s in args.servers:
        if s not in SERVER_NAMES:
            parser.error(f"unknown server {s!r}")
    if args.duration <= 0 or args.rounds < 1:
        parser.error("--duration and --rounds must be positive")
    return args


def build_peers():
    sources = [os.path.join(PEERS, f"{n}.c") for n in ("c_http", "c_echo", "c_echoclient")]
    sources.append(os.path.join(PEERS, "common.h"))
    binaries = [os.path.join(PEER_BIN, n) for n in ("c_http", "c_echo", "c_echoclient")]
    newest = max(os.path.getmtime(s) for s in sources)
    if all(os.path.exists(b) and os.path.getmtime(b) >= newest for b in binaries):
        return
    print("building the C peers (bench/peers/build.sh)")
    subprocess.run(["sh", os.path.join(PEERS, "build.sh")], check=True)


def main(argv=None):
    args = parse_args(argv)
    if not shutil.which("wrk") and any(m in HTTP_MODES for m in args.modes):
        sys.exit("load.py: wrk is not installed; install it with: apt-get install wrk")
    if not shutil.which("taskset"):
        sys.exit("load.py: taskset is missing; install it with: apt-get install util-linux")
    if (os.cpu_count() or 1) < 2:
        sys.exit("load.py: needs 2 CPUs (server on CPU 0, load generator on CPU 1)")
    build_peers()
    started = datetime.datetime.now(datetime.timezone.utc)
    command = "python bench/load.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))

    # Which (mode, server) pairs can run; say why the others cannot.
    plan = []
    skipped = {}
    for mode in args.modes:
        kind = mode_kind(mode)
        for name in args.servers:
            server = next((s for s in SERVERS if s.name == name and s.kind == kind), None)
            if server is None:
                continue   # e.g. cy_app has no echo variant
            why = skipped.get((kind, name)) or missing_requirement(server)
            if why:
                skipped[(kind, name)] = why
                continue
            plan.append((mode, server))
    for (kind, name), why in skipped.items():
        print(f"skipping {kind} server {name}: {why}")
    if not plan:
        sys.exit("load.py: nothing to run")

    tmpdir = tempfile.mkdtemp(prefix="cyreactor-bench-")
    logdir = os.path.join(tmpdir, "logs")
    os.makedirs(logdir)
    runs = {mode: {} for mode in args.modes}
    notes = [f"{kind} server {name} skipped: {why}" for (kind, name), why in skipped.items()]
    broken = set()

    if not args.no_check:
        for kind in ("http", "echo"):
            for server in {s.name: s for m, s in plan if s.kind == kind}.values():
                running = RunningServer(server, logdir, f"check-{kind}-{server.name}")
                try:
                    running.wait_ready()
                    (checks.check_http if kind == "http" else checks.check_echo)(HOST, running.port)
                    print(f"check ok: {server.label}")
                except (checks.CheckFailed, OSError, RuntimeError) as exc:
                    broken.add((kind, server.name))
                    notes.append(f"{server.label} failed the behaviour check, left out: {exc}")
                    print(f"check FAILED: {server.label}: {exc}")
                finally:
                    note = running.stop()
                if note:
                    notes.append(f"{server.label} (check): {note}")

    for rnd in range(1, args.rounds + 1):
        for mode, server in plan:
            if (server.kind, server.name) in broken:
                continue
            print(f"[round {rnd}/{args.rounds}] {mode} {server.label} ...", end=" ", flush=True)
            tag = f"r{rnd}-{mode}-{server.name}"
            try:
                if mode == "idle10k":
                    result = measure_idle(server, logdir, tag)
                    print(f"RSS +{result['rss_growth_mib']:.1f} MiB "
                          f"({result['kib_per_connection']:.2f} KiB/connection)")
                else:
                    result = measure_load(server, mode, args.duration, tmpdir, logdir, tag)
                    print(f"{result['requests_per_s']:,.0f} req/s, "
                          f"{result['cpu_us_per_request']:.2f} µs CPU/req"
                          + (f", {result['errors']} errors" if result["errors"] else ""))
            except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
                result = {"failed": str(exc)}
                print(f"FAILED: {exc}")
                notes.append(f"round {rnd} {mode} {server.label}: FAILED: {exc}")
            if result.get("server_note"):
                notes.append(f"round {rnd} {mode} {server.label}: {result['server_note']}")
            runs[mode].setdefault(server.name, []).append(result)

    summary = summarize({m: r for m, r in runs.items() if r})
    if not summary:
        sys.exit("load.py: no measurement succeeded" + "".join(f"\n  - {n}" for n in notes))
    info = machine_info()
    print()
    print(table_text(summary))
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "benchmarks.json"), "w") as f:
        json.dump({"date": started.isoformat(timespec="seconds"), "command": command,
                   "machine": info, "duration_s": args.duration, "rounds": args.rounds,
                   "summary": summary, "runs": runs, "notes": notes}, f, indent=1)
    plot(summary, os.path.join(args.out, "benchmarks.png"))
    write_markdown(os.path.join(args.out, "benchmarks.md"), summary, info, command, args,
                   started, notes)
    print(f"\nwrote {args.out}/benchmarks.json, .png and .md; server logs in {logdir}")
    if notes:
        print("notes:")
        for n in notes:
            print(f"  - {n}")


if __name__ == "__main__":
    main()
