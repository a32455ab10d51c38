#!/usr/bin/env python3
"""Load comparison: cyreactor against C, uvloop, asyncio and the Python
servers people deploy, as server CPU time per request or message.

The suites (docs/benchmarks.md sections) and the servers (peers) are in
bench/peers/peers.toml; the modes in bench/harness/cases.py. For every
round, every (server, case) pair is measured once, in an order rotated
from round to round so drift on the machine hits every server alike. A
measurement starts the server pinned to CPU 0, waits until it is ready,
warms it up, and runs the load generator pinned to CPU 1; the server's CPU
time (its whole process tree) over the measured window divided by the
operations completed is the figure. Each window also records what other
processes used; a disturbed window is repeated (--retries) and the round
is named in the tables if it stays disturbed. Ratios to the reference
servers are medians of per-round ratios.

    python bench/load.py                      # the full run (see bench/README.md)
    python bench/load.py --quick              # a smoke run, about a minute
    python bench/load.py --suites echo --sizes 64K,1M --conns 10 --rounds 3

Writes, into --out (default docs/): benchmarks-SUITE.json, the charts
benchmarks-SUITE*.png, and each suite's marked block of benchmarks.md.
"""
import argparse
import datetime
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import checks  # noqa: E402
from harness import HOST, PEERS, PEER_BIN, REPO, registry  # noqa: E402
from harness import machine, report  # noqa: E402
from harness.cases import (ECHO_CONNS, ECHO_PATTERNS, ECHO_SIZES, IDLE_CONNECTIONS, MODES,  # noqa: E402
                           QUICK_CONNS, QUICK_SIZES, expand)
from harness.loads import RUNNERS, LoadFailed  # noqa: E402
from harness.meter import Meter  # noqa: E402
from harness.procs import RunningServer  # noqa: E402
from harness.tls import make_certs  # noqa: E402

JSON_SCHEMA = 2
DEFAULT_SUITES = ("echo", "http", "app", "frameworks", "loop", "tls", "idle", "workers")
QUICK_SUITES = ("echo", "http")


@dataclass
class Settings:
    suites: tuple
    servers: tuple
    rounds: int = 10
    duration: int = 5           # wrk, whole seconds
    warmup: int = 1             # wrk, whole seconds; 0: none
    echo_duration: float = 2.0
    echo_warmup: float = 0.5
    retries: int = 2
    threshold: float = 0.10
    idle_connections: int = IDLE_CONNECTIONS
    sizes: tuple = ()           # () = each suite's own, else ECHO_SIZES
    conns: tuple = ()
    patterns: tuple = ()
    include_pending: bool = False
    check: bool = True
    quick: bool = False
    out: str = os.path.join(REPO, "docs")


QUICK = dict(rounds=1, duration=1, warmup=0, echo_duration=0.5, echo_warmup=0.2, retries=0,
             idle_connections=1000)


def parse_size(text):
    scale = {"K": 1 << 10, "M": 1 << 20}.get(text[-1:].upper(), 1)
    return int(text[:-1] if scale > 1 else text) * scale


def parse_args(argv, suites):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--suites", help=f"comma-separated, from {','.join(suites)} "
                                    f"(default: all; --quick: {','.join(QUICK_SUITES)})")
    p.add_argument("--servers", help="only these peers (names in bench/peers/peers.toml)")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: 1 round, short runs, sizes 1K,64K,1M, 10 connections, "
                        "no repeats, 1,000 idle connections")
    p.add_argument("--rounds", type=int, help="interleaved rounds (default 10)")
    p.add_argument("--duration", type=int, help="seconds per wrk run (default 5)")
    p.add_argument("--warmup", type=int, help="seconds of wrk warm-up per run (default 1)")
    p.add_argument("--echo-duration", type=float, help="seconds per echo case (default 2)")
    p.add_argument("--echo-warmup", type=float, help="seconds of echo warm-up per case (default 0.5)")
    p.add_argument("--retries", type=int, help="repeats of a disturbed run (default 2)")
    p.add_argument("--threshold", type=float,
                   help="disturbed when others used more than this share of one CPU (default 0.10)")
    p.add_argument("--idle-connections", type=int, help=f"default {IDLE_CONNECTIONS}")
    p.add_argument("--sizes", help="echo message sizes, e.g. 64,1K,64K,1M (default: the sweep)")
    p.add_argument("--conns", help="echo connection counts, e.g. 1,10,100")
    p.add_argument("--patterns", help="pingpong,stream")
    p.add_argument("--include-pending", action="store_true",
                   help="also start the registry's pending placeholders")
    p.add_argument("--no-check", action="store_true", help="skip the behaviour checks")
    p.add_argument("--out", help="directory for the results (default docs/)")
    a = p.parse_args(argv)

    fields = dict(QUICK) if a.quick else {}
    for name in ("rounds", "duration", "warmup", "echo_duration", "echo_warmup", "retries",
                 "threshold", "idle_connections", "out"):
        if getattr(a, name) is not None:
            fields[name] = getattr(a, name)
    chosen = tuple(a.suites.split(",")) if a.suites else QUICK_SUITES if a.quick else DEFAULT_SUITES
    for s in chosen:
        if s not in suites:
            p.error(f"unknown suite {s!r}")
    try:
        fields["sizes"] = tuple(parse_size(x) for x in a.sizes.split(",")) if a.sizes else ()
        fields["conns"] = tuple(int(x) for x in a.conns.split(",")) if a.conns else ()
    except ValueError as exc:
        p.error(str(exc))
    fields["patterns"] = tuple(a.patterns.split(",")) if a.patterns else ()
    if any(x not in ECHO_PATTERNS for x in fields["patterns"]):
        p.error(f"--patterns: from {','.join(ECHO_PATTERNS)}")
    settings = Settings(suites=chosen, servers=tuple(a.servers.split(",")) if a.servers else (),
                        include_pending=a.include_pending, check=not a.no_check, quick=a.quick,
                        **fields)
    if settings.rounds < 1 or settings.duration < 1 or settings.echo_duration <= 0 \
            or settings.retries < 0 or settings.warmup < 0:
        p.error("--rounds and the durations must be positive, --warmup and --retries >= 0")
    return settings


# --- the plan ----------------------------------------------------------------------

def sweep(settings, suite):
    """The echo sizes, connection counts and patterns of a suite: the command
    line's, else the suite's own, else the full sweep (--quick: a short one)."""
    return (settings.sizes or suite.echo_sizes or (QUICK_SIZES if settings.quick else ECHO_SIZES),
            settings.conns or suite.echo_conns or (QUICK_CONNS if settings.quick else ECHO_CONNS),
            settings.patterns or suite.echo_patterns or ECHO_PATTERNS)


def plan(settings, peers, suites):
    """(cases, peers_by_case, units, skipped): the cases in order, the peers
    measuring each, the server starts of one round as (peer, [cases]), and
    the peers left out with the reason."""
    cases, peers_by_case, skipped = {}, {}, {}
    for sname in settings.suites:
        suite = suites[sname]
        sizes, conns, patterns = sweep(settings, suite)
        for mode in suite.modes:
            for case in expand(mode, sizes, conns, patterns):
                cases.setdefault(case.key, case)
                for name in suite.peers:
                    peer = peers[name]
                    if peer.serves != case.serves or (settings.servers and name not in settings.servers):
                        continue
                    why = skipped.get(name) or registry.unavailable(peer, settings.include_pending)
                    if case.cert and not why and not os.access(os.path.join(PEER_BIN, "c_tls_echo"), os.X_OK):
                        why = "not installed: OpenSSL headers (libssl-dev), no TLS echo client"
                    if why:
                        skipped[name] = why
                        continue
                    names = peers_by_case.setdefault(case.key, [])
                    if name not in names:
                        names.append(name)
    units = {}
    for key, names in peers_by_case.items():
        for name in names:
            units.setdefault((name, cases[key].batch), []).append(cases[key])
    return list(cases.values()), peers_by_case, [(peers[n], cs) for (n, _), cs in units.items()], skipped


def rotated(items, round_no, rounds):
    """The round's order: shifted by an even share per round, so that over
    the rounds every item is early, middle and late alike."""
    if not items:
        return items
    k = ((round_no - 1) * len(items)) // rounds % len(items)
    return items[k:] + items[:k]


# --- running ----------------------------------------------------------------------

class Runner:
    def __init__(self, settings, certs, tmpdir):
        self.settings = settings
        self.certs = certs
        self.tmpdir = tmpdir
        self.logdir = os.path.join(tmpdir, "logs")
        os.makedirs(self.logdir)
        self.notes = []
        self.starts = 0

    def start(self, peer, cert):
        self.starts += 1
        values = {"python": sys.executable, **(self.certs.get(cert or "ecdsa", {}))}
        server = RunningServer(peer, values, self.logdir, f"{self.starts:04d}-{peer.name}")
        try:
            server.wait_ready()
        except RuntimeError:
            note = server.stop()
            raise RuntimeError(f"{server.argv[0]}...: not ready" + (f" ({note})" if note else ""))
        return server

    def check(self, peer):
        """The behaviour check (bench/checks.py): {"check": "ok" or why it
        failed, and for HTTPS servers "tls_resumes"}."""
        try:
            server = self.start(peer, "ecdsa" if peer.tls else "")
        except RuntimeError as exc:
            return {"check": str(exc)}
        try:
            checks.CHECKS[peer.check](HOST, server.port, peer.tls)
            result = {"check": "ok"}
            if peer.serves == "https":
                result["tls_resumes"] = checks.tls_resumes(HOST, server.port)
                if result["tls_resumes"]:
                    self.notes.append(f"{peer.name} resumes TLS sessions: its https-close figures are "
                                      "for resumed handshakes, not full ones")
            return result
        except (checks.CheckFailed, OSError) as exc:
            return {"check": f"{type(exc).__name__}: {exc}"}
        finally:
            note = server.stop()
            if note:
                self.notes.append(f"{peer.name} (check): {note}")

    def measure(self, server, case):
        """One case on a started server: repeated while disturbed, up to
        --retries times (idle cases: never). Returns every attempt; the least
        disturbed is kept."""
        attempts = []
        # An idle case measures memory, which other processes' CPU does not
        # disturb; and a repeat on the same server would reuse what its
        # allocator freed after the first attempt, reporting too little.
        retries = 0 if case.load == "idle" else self.settings.retries
        for attempt in range(retries + 1):
            meter = Meter(server, self.settings.threshold)
            try:
                result = RUNNERS[case.load](case, server, self.settings, meter, self.tmpdir)
                result["ok"] = True
                result["disturbed"] = result["window"]["disturbed"]
            except (LoadFailed, OSError, RuntimeError, ValueError) as exc:
                result = {"ok": False, "failed": str(exc), "disturbed": False}
            if result["ok"] and not server.alive():
                result = {"ok": False, "failed": f"server exited with {server.proc.returncode}",
                          "disturbed": False}
            result["attempt"] = attempt
            attempts.append(result)
            if not result["ok"] or not result["disturbed"]:
                break
        ok = [a for a in attempts if a["ok"]]
        kept = min(ok, key=lambda a: a["window"]["others_cpu_frac"]) if ok else attempts[-1]
        for a in attempts:
            a["kept"] = a is kept
        return attempts


def progress(result, case):
    if not result["ok"]:
        return f"FAILED: {result['failed']}"
    w = result["window"]
    text = (f"RSS +{result['rss_growth_mib']:.1f} MiB ({result['bytes_per_connection']:,.0f} B/conn)"
            if case.load == "idle" else
            f"{result['cpu_us_per_op']:.2f} µs/{case.unit}, {result['ops_per_s']:,.0f}/s")
    if result["errors"]:
        text += f", {result['errors']} errors"
    if result["disturbed"]:
        who = ", ".join(f"{o['comm']} {o['cpu_s']:.2f}s" for o in w["top_others"])
        text += f"  [disturbed: others {w['others_cpu_frac']:.2f} CPU, steal {w['steal_frac']:.2f}; {who}]"
    return text


def run(settings, peers, suites):
    cases, peers_by_case, units, skipped = plan(settings, peers, suites)
    for name, why in skipped.items():
        print(f"skipping {name}: {why}")
    if not units:
        sys.exit("load.py: nothing to run")
    tmpdir = tempfile.mkdtemp(prefix="cyreactor-bench-")
    certs = make_certs(tmpdir) if any(c.cert for c in cases) else {}
    runner = Runner(settings, certs, tmpdir)
    checked = {}
    if settings.check:
        for peer in dict.fromkeys(p for p, _ in units):
            checked[peer.name] = result = runner.check(peer)
            why = None if result["check"] == "ok" else result["check"]
            print(f"check {'ok' if not why else 'FAILED'}: {peer.name}" + (f": {why}" if why else "")
                  + (" (resumes TLS sessions)" if result.get("tls_resumes") else ""))
            if why:
                skipped[peer.name] = f"failed the behaviour check: {why}"
        units = [(p, cs) for p, cs in units if p.name not in skipped]

    runs = []
    total = sum(len(cs) for _, cs in units)
    for rnd in range(1, settings.rounds + 1):
        done = 0
        for peer, unit_cases in rotated(units, rnd, settings.rounds):
            try:
                server = runner.start(peer, unit_cases[0].cert)
            except RuntimeError as exc:
                for case in unit_cases:
                    runs.append({"round": rnd, "case": case.key, "peer": peer.name, "ok": False,
                                 "failed": str(exc), "attempt": 0, "kept": True, "disturbed": False})
                runner.notes.append(f"round {rnd} {peer.name}: {exc}")
                print(f"[{rnd}/{settings.rounds}] {peer.name}: FAILED to start: {exc}")
                continue
            try:
                for case in rotated(unit_cases, rnd, settings.rounds):
                    done += 1
                    print(f"[{rnd}/{settings.rounds} {done}/{total}] {case.key} {peer.name} ...",
                          end=" ", flush=True)
                    attempts = runner.measure(server, case)
                    for a in attempts:
                        runs.append({"round": rnd, "case": case.key, "peer": peer.name, **a})
                    kept = next(a for a in attempts if a["kept"])
                    print(progress(kept, case) + (f" ({len(attempts)} attempts)" if len(attempts) > 1 else ""))
                    if not kept["ok"]:
                        runner.notes.append(f"round {rnd} {case.key} {peer.name}: {kept['failed']}")
                    if not server.alive():
                        break
            finally:
                note = server.stop()
                if note:
                    runner.notes.append(f"round {rnd} {peer.name}: {note}")
    return cases, peers_by_case, runs, skipped, checked, runner


def publish(settings, peers, suites, cases, peers_by_case, runs, skipped, checked, notes,
            started, command):
    info = machine.info()
    kept = [r for r in runs if r.get("kept")]
    os.makedirs(settings.out, exist_ok=True)
    sections, titles, written = {}, {}, []
    for sname in settings.suites:
        suite = suites[sname]
        mine = [c for c in cases if c.mode in suite.modes and c.key in peers_by_case
                and any(n in suite.peers for n in peers_by_case[c.key])]
        sizes, conns, patterns = sweep(settings, suite)
        mine = [c for c in mine if c.load != "echo" or
                c.size in sizes and c.conns in conns and c.pattern in patterns]
        if not mine:
            continue
        by_case = {c.key: [n for n in peers_by_case[c.key] if n in suite.peers] for c in mine}
        names = set(n for ns in by_case.values() for n in ns)
        summary = report.summarize(kept, mine, by_case, suite.refs, settings.rounds)
        print(f"\n== {suite.title} ==\n" + report.text_table(summary, mine, suite.refs))
        prefix = os.path.join(settings.out, f"benchmarks-{sname}")
        charts = []
        echo = [c for c in mine if c.load == "echo"]
        if echo:
            charts += report.echo_charts(prefix, echo, summary, suite.refs)
        if len(echo) < len(mine):
            charts += report.bar_chart(prefix + ".png", [c for c in mine if c.load != "echo"], summary)
        suite_skipped = {n: skipped[n] for n in suite.peers if n in skipped}
        meta = {"date": f"{started:%Y-%m-%d %H:%M}", "command": command, "settings": asdict(settings),
                "machine": info, "json": os.path.basename(prefix) + ".json"}
        report.write_json(prefix + ".json", {
            "schema": JSON_SCHEMA, "suite": sname, "title": suite.title, "refs": list(suite.refs),
            "date": started.isoformat(timespec="seconds"), "command": command,
            "settings": asdict(settings), "machine": info,
            "peers": {n: {**asdict(peers[n]), **checked.get(n, {})} for n in suite.peers if n in names},
            "skipped": suite_skipped,
            "cases": {c.key: asdict(c) for c in mine},
            "summary": summary,
            "runs": [r for r in runs if r["case"] in by_case and r["peer"] in by_case[r["case"]]],
            "notes": notes,
        })
        sections[sname] = report.section(suite, mine, summary, suite.refs, meta, charts, suite_skipped,
                                         peers, [n for n in suite.peers if n in names])
        titles[sname] = suite.title
        written += [prefix + ".json"] + charts
    report.update_markdown(os.path.join(settings.out, "benchmarks.md"), sections, titles)
    print("\nwrote " + ", ".join(os.path.relpath(p, settings.out) for p in written)
          + f" and the sections of benchmarks.md into {settings.out}")


def build_peers():
    sources = [os.path.join(PEERS, f) for f in os.listdir(PEERS) if f.endswith((".c", ".h"))]
    sources.append(os.path.join(PEERS, "build.sh"))
    binaries = [os.path.join(PEER_BIN, n) for n in ("c_http", "c_echo", "c_echoclient")]
    newest = max(os.path.getmtime(s) for s in sources)
    if all(os.path.exists(b) and os.path.getmtime(b) >= newest for b in binaries):
        return
    print("building the C peers (bench/peers/build.sh)")
    subprocess.run(["sh", os.path.join(PEERS, "build.sh")], check=True)


def _unwind(signum, frame):
    raise SystemExit(128 + signum)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    # Stopped from outside (kill, a CI timeout), load.py unwinds as on
    # Ctrl-C: the finally blocks stop the server under test.
    signal.signal(signal.SIGTERM, _unwind)
    signal.signal(signal.SIGHUP, _unwind)
    peers, suites = registry.load()
    settings = parse_args(argv, suites)
    if not shutil.which("taskset"):
        sys.exit("load.py: taskset is missing; install it with: apt-get install util-linux")
    if (os.cpu_count() or 1) < 2:
        sys.exit("load.py: needs 2 CPUs (server on CPU 0, load generator on CPU 1)")
    wants_wrk = any(MODES[m][1] == "wrk" for s in settings.suites for m in suites[s].modes)
    if wants_wrk and not shutil.which("wrk"):
        sys.exit("load.py: wrk is not installed; install it with: apt-get install wrk")
    build_peers()
    started = datetime.datetime.now(datetime.timezone.utc)
    command = "python bench/load.py " + " ".join(shlex.quote(a) for a in argv)
    cases, peers_by_case, runs, skipped, checked, runner = run(settings, peers, suites)
    if not any(r.get("ok") for r in runs):
        sys.exit("load.py: no measurement succeeded" + "".join(f"\n  - {n}" for n in runner.notes))
    publish(settings, peers, suites, cases, peers_by_case, runs, skipped, checked, runner.notes,
            started, command)
    print(f"server logs in {runner.logdir}")
    disturbed = sorted({(r["round"], r["case"], r["peer"]) for r in runs if r.get("kept") and r["disturbed"]})
    if disturbed:
        print(f"{len(disturbed)} of {sum(1 for r in runs if r.get('kept'))} measurements stayed disturbed")
    for n in runner.notes:
        print(f"  - {n}")


if __name__ == "__main__":
    main()
