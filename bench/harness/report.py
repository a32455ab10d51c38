"""From the runs to what a reader sees: medians, per-round ratios, the
text table, the docs sections, the charts and the JSON.

A ratio to a reference peer is taken within each round (the peer's value
over the reference's value in the same round, both measured minutes apart
under the same conditions), and the median of those per-round ratios is
reported, not the ratio of the medians."""
import json
import os
import re
import statistics

from harness.cases import size_label

MARK_BEGIN = "<!-- load.py:{} begin -->"
MARK_END = "<!-- load.py:{} end -->"


def metric(case):
    return "rss_growth_mib" if case.load == "idle" else "cpu_us_per_op"


def _median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def summarize(runs, cases, peers_by_case, refs, rounds):
    """{case key: {peer: row}}; ``runs`` are the kept attempts."""
    summary = {}
    for case in cases:
        key = metric(case)
        per = {}
        for name in peers_by_case[case.key]:
            mine = {r["round"]: r for r in runs if r["case"] == case.key and r["peer"] == name}
            ok = {n: r for n, r in mine.items() if r.get("ok")}
            if not mine:
                continue
            per_round = [ok[n][key] if n in ok else None for n in range(1, rounds + 1)]
            row = {
                "value": _median(per_round),
                "per_round": per_round,
                "ops_per_s": _median([r["ops_per_s"] for r in ok.values()]),
                "cpu_us_per_op": _median([r["cpu_us_per_op"] for r in ok.values()]),
                "client_cpu_us_per_op": _median(
                    [r["window"]["client_cpu_s"] * 1e6 / r["ops"] for r in ok.values()
                     if r["window"].get("client_cpu_s") is not None and r["ops"]]),
                "errors": sum(r["errors"] for r in ok.values()),
                "rounds_ok": len(ok),
                "failures": len(mine) - len(ok),
                "disturbed_rounds": sorted(n for n, r in mine.items() if r.get("disturbed")),
            }
            if case.load == "idle":
                row["bytes_per_connection"] = _median([r["bytes_per_connection"] for r in ok.values()])
            per[name] = row
        for ref in refs:
            base = per.get(ref)
            if base is None:
                continue
            for row in per.values():
                ratios = [v / b if v is not None and b else None
                          for v, b in zip(row["per_round"], base["per_round"])]
                row.setdefault("ratios", {})[ref] = {"median": _median(ratios), "per_round": ratios}
        summary[case.key] = per
    return summary


def _fmt(value, spec, suffix=""):
    return "n/a" if value is None else format(value, spec) + suffix


def _ratio(row, ref):
    r = row.get("ratios", {}).get(ref)
    return None if r is None else r["median"]


def _spread(row, ref):
    r = row.get("ratios", {}).get(ref)
    vals = [v for v in (r or {}).get("per_round", []) if v is not None]
    return f"{min(vals):.2f}–{max(vals):.2f}" if len(vals) > 1 else ""


def _rounds(row):
    return ",".join(map(str, row["disturbed_rounds"])) or "–"


def text_table(summary, cases, refs):
    """The terminal summary: one line per case and peer."""
    lines = [("case", "peer", "value", "ops/s", *(f"×{r}" for r in refs), "disturbed", "errors")]
    for case in cases:
        for name, row in summary.get(case.key, {}).items():
            unit = " MiB" if case.load == "idle" else " µs"
            rate = "" if case.load == "idle" else _fmt(row["ops_per_s"], ",.0f")
            lines.append((case.key, name, _fmt(row["value"], ".2f", unit), rate,
                          *(_fmt(_ratio(row, r), ".2f") for r in refs), _rounds(row),
                          str(row["errors"]) + (f" ({row['failures']} failed)" if row["failures"] else "")))
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    return "\n".join("  ".join(c.ljust(w) if i < 2 else c.rjust(w)
                               for i, (c, w) in enumerate(zip(line, widths))) for line in lines)


# --- markdown --------------------------------------------------------------------

def _load_table(suite, cases, summary, refs):
    head = ["mode", "server", "CPU µs/op", "ops/s"] + [f"× {r}" for r in refs] + \
           [f"per round × {refs[0]}" if refs else "", "disturbed rounds", "errors"]
    lines = ["| " + " | ".join(h for h in head if h) + " |",
             "|" + "---|" * 2 + "---:|" * (len([h for h in head if h]) - 2)]
    for case in cases:
        for name, row in summary.get(case.key, {}).items():
            cells = [case.key, name + (f" ({row['failures']} failed)" if row["failures"] else ""),
                     _fmt(row["value"], ".2f"), _fmt(row["ops_per_s"], ",.0f")]
            cells += [_fmt(_ratio(row, r), ".2f", "×") for r in refs]
            if refs:
                per = row.get("ratios", {}).get(refs[0], {}).get("per_round", [])
                cells.append(" ".join(_fmt(v, ".2f") for v in per))
            cells += [_rounds(row), str(row["errors"])]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _idle_table(cases, summary, refs):
    lines = ["| mode | server | RSS growth MiB | bytes/connection | " + " | ".join(f"× {r}" for r in refs)
             + " | disturbed rounds |", "|---|---|" + "---:|" * (len(refs) + 3)]
    for case in cases:
        for name, row in summary.get(case.key, {}).items():
            lines.append(f"| {case.key} | {name} | {_fmt(row['value'], '.1f')} | "
                         f"{_fmt(row.get('bytes_per_connection'), ',.0f')} | "
                         + " | ".join(_fmt(_ratio(row, r), ".2f", "×") for r in refs)
                         + f" | {_rounds(row)} |")
    return "\n".join(lines)


def _echo_tables(cases, summary, refs):
    """One table per mode, pattern and connection count: a row per size, a
    column per server, each cell "µs/message (× first ref) [per-round range]"."""
    out, groups = [], {}
    for case in cases:
        groups.setdefault(case.batch, []).append(case)
    ref = refs[0] if refs else None
    for batch, group in groups.items():
        names = list(dict.fromkeys(n for c in group for n in summary.get(c.key, {})))
        if not names:
            continue
        first = group[0]
        out.append(f"**{first.mode}, {first.pattern}, {first.conns} connection"
                   f"{'s' if first.conns > 1 else ''}**: server CPU µs per message"
                   + (f" (× {ref}, median of per-round ratios; per-round range)" if ref else ""))
        out.append("")
        out.append("| size | " + " | ".join(names) + " |")
        out.append("|---:|" + "---:|" * len(names))
        disturbed = []
        for case in group:
            cells = []
            for n in names:
                row = summary.get(case.key, {}).get(n)
                if row is None:
                    cells.append("")
                    continue
                cell = _fmt(row["value"], ".2f")
                if ref and n != ref and _ratio(row, ref) is not None:
                    cell += f" ({_ratio(row, ref):.2f}×"
                    cell += f" {_spread(row, ref)})" if _spread(row, ref) else ")"
                cells.append(cell)
                if row["disturbed_rounds"]:
                    disturbed.append(f"{n} {size_label(case.size)}: {_rounds(row)}")
            out.append(f"| {size_label(case.size)} | " + " | ".join(cells) + " |")
        if disturbed:
            out += ["", "Disturbed rounds: " + "; ".join(disturbed) + "."]
        out.append("")
    return "\n".join(out)


def section(suite, cases, summary, refs, meta, charts, skipped, peers, measured):
    """The generated body of one suite's docs section."""
    s = meta["settings"]
    m = meta["machine"]
    pk = ", ".join(f"{k} {v}" for k, v in m["packages"].items() if v)
    lines = [
        f"- Run: {meta['date']} UTC, `{meta['command']}`",
        f"- {s['rounds']} interleaved rounds; HTTP {s['duration']:g} s, echo {s['echo_duration']:g} s "
        f"per run (after {s['warmup']:g} s / {s['echo_warmup']:g} s of warm-up); disturbed above "
        f"{s['threshold']:.0%} of a CPU used by others, up to {s['retries']} repeats",
        f"- Machine: {m['nproc']} CPUs, {m['cpu_model']}, Linux {m['kernel']}, Python {m['python']}; "
        f"{m['gcc']}; {m['openssl']}; {m['wrk']}; {m['nginx'] or 'no nginx'}",
        f"- Packages: {pk}; cyreactor at {m['git_commit']}{' (dirty)' if m['git_dirty'] else ''}",
        f"- Results: `{meta['json']}`",
        "",
    ]
    if m["cyreactor_stale_build"]:
        lines += ["**The in-place build was older than " + ", ".join(m["cyreactor_stale_build"])
                  + ": these numbers are for older code.**", ""]
    idle = [c for c in cases if c.load == "idle"]
    echo = [c for c in cases if c.load == "echo"]
    other = [c for c in cases if c.load == "wrk"]
    if other:
        lines += [_load_table(suite, other, summary, refs), ""]
    if echo:
        lines += [_echo_tables(echo, summary, refs), ""]
    if idle:
        lines += [f"{s['idle_connections']:,} idle connections per server.", "",
                  _idle_table(idle, summary, refs), ""]
    lines += [f"![{os.path.basename(c)}]({os.path.basename(c)})" for c in charts]
    lines += ["", "Servers: " + "; ".join(f"**{n}**: {peers[n].what}" for n in measured) + "."]
    if skipped:
        lines += ["", "Not run: " + "; ".join(f"{n} ({why})" for n, why in skipped.items()) + "."]
    return "\n".join(lines).rstrip() + "\n"


def update_markdown(path, sections, titles):
    """Replace each suite's marked block in ``path``; a suite without one is
    appended. Everything outside the markers is hand-written and kept."""
    text = ""
    if os.path.exists(path):
        with open(path) as f:
            text = f.read()
    else:
        text = "# Benchmarks\n\nGenerated by `bench/load.py` (see `bench/README.md`).\n"
    for name, body in sections.items():
        begin, end = MARK_BEGIN.format(name), MARK_END.format(name)
        block = f"{begin}\n{body}{end}"
        pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
        if pattern.search(text):
            text = pattern.sub(lambda _: block, text)
        else:
            text = text.rstrip("\n") + f"\n\n## {titles[name]}\n\n{block}\n"
    with open(path, "w") as f:
        f.write(text)


# --- charts ---------------------------------------------------------------------

def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def echo_charts(prefix, cases, summary, refs):
    """One PNG per mode and connection count: the size sweep, a line per
    server; left CPU µs per message, right the ratio to the first ref."""
    plt = _pyplot()
    from matplotlib import ticker

    paths = []
    ref = refs[0] if refs else None
    for mode in dict.fromkeys(c.mode for c in cases):
        for conns in sorted({c.conns for c in cases if c.mode == mode}):
            mine = [c for c in cases if c.mode == mode and c.conns == conns]
            patterns = list(dict.fromkeys(c.pattern for c in mine))
            fig, axes = plt.subplots(len(patterns), 2, figsize=(11, 3.6 * len(patterns)), squeeze=False)
            for row, pattern in zip(axes, patterns):
                pc = sorted((c for c in mine if c.pattern == pattern), key=lambda c: c.size)
                names = list(dict.fromkeys(n for c in pc for n in summary.get(c.key, {})))
                for n in names:
                    xs = [c.size for c in pc if summary[c.key].get(n, {}).get("value") is not None]
                    ys = [summary[c.key][n]["value"] for c in pc if summary[c.key].get(n, {}).get("value") is not None]
                    row[0].plot(xs, ys, marker="o", label=n)
                    rs = [(c.size, _ratio(summary[c.key][n], ref)) for c in pc
                          if n in summary[c.key] and ref and _ratio(summary[c.key][n], ref) is not None]
                    if rs:
                        row[1].plot(*zip(*rs), marker="o", label=n)
                for ax in row:
                    ax.set_xscale("log", base=2)
                    ax.set_xticks([c.size for c in pc], [size_label(c.size) for c in pc], fontsize=8)
                    ax.grid(True, alpha=0.3)
                row[0].set_yscale("log")
                row[0].yaxis.set_major_formatter(ticker.FormatStrFormatter("%g"))
                row[0].yaxis.set_minor_formatter(ticker.NullFormatter())
                row[0].tick_params(axis="y", which="both", labelsize=7)
                row[0].set_ylabel("server CPU µs / message", fontsize=8)
                row[0].set_title(f"{mode}, {pattern}, {conns} conn.", fontsize=10)
                row[1].set_ylabel(f"× {ref}", fontsize=8)
                row[1].set_title(f"{mode}, {pattern}, {conns} conn.: ratio to {ref}", fontsize=10)
                row[1].axhline(1.0, color="#888888", lw=0.8)
                row[0].legend(fontsize=7)
            fig.tight_layout()
            path = f"{prefix}{'' if mode == 'echo' else '-' + mode}-c{conns}.png"
            fig.savefig(path, dpi=100)
            plt.close(fig)
            paths.append(path)
    return paths


def bar_chart(path, cases, summary):
    """One panel per case: a bar per server (CPU µs per op, or RSS growth)."""
    plt = _pyplot()
    cols = 2 if len(cases) > 1 else 1
    nrows = (len(cases) + cols - 1) // cols
    fig, axes = plt.subplots(nrows, cols, figsize=(6.5 * cols, 2.8 * nrows), squeeze=False)
    for ax, case in zip(axes.flat, cases):
        rows = {n: r for n, r in summary.get(case.key, {}).items() if r["value"] is not None}
        bars = ax.barh(list(rows), [r["value"] for r in rows.values()])
        ax.invert_yaxis()
        ax.bar_label(bars, fmt="%.2f", padding=3, fontsize=7)
        ax.set_title(case.key, fontsize=10)
        ax.set_xlabel("RSS growth MiB" if case.load == "idle" else f"server CPU µs per {case.unit}",
                      fontsize=8)
        ax.tick_params(labelsize=7)
        ax.set_xlim(0, max((r["value"] for r in rows.values()), default=1) * 1.3)
    for ax in list(axes.flat)[len(cases):]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return [path]


def write_json(path, data):
    with open(path, "w") as f:
        json.dump(data, f, indent=1, default=str)
