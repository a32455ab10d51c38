"""bench/load.py, the load-comparison tool: its arithmetic and its files in
the default run; a whole `--quick` run (about a minute of load) under -m slow."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

BENCH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench")
sys.path.insert(0, BENCH)

from harness import registry, report  # noqa: E402
from harness.cases import Case, expand, size_label  # noqa: E402

import load  # noqa: E402


def _case(key="keepalive"):
    return Case(key=key, mode=key, serves="http", load="wrk", batch=key, wrk=key)


def _run(rnd, peer, value, case="keepalive"):
    return {"round": rnd, "case": case, "peer": peer, "ok": True, "kept": True, "disturbed": rnd == 2,
            "cpu_us_per_op": value, "ops_per_s": 1e6 / value, "errors": 0, "ops": 1000,
            "window": {"client_cpu_s": 0.5}}


def test_ratios_are_medians_of_per_round_ratios():
    # Drift: both servers twice as expensive in round 3. Per-round ratios
    # are 2, 2, 2; the ratio of the medians would be 4/2 = 2 as well, so
    # make the rounds disagree: medians 2 and 4 -> 2.0, per round 2,2,2.
    runs = [_run(1, "c", 1.0), _run(1, "x", 2.0),
            _run(2, "c", 2.0), _run(2, "x", 4.0),
            _run(3, "c", 8.0), _run(3, "x", 16.0),
            _run(4, "c", 2.0), _run(4, "x", 4.0),
            _run(5, "c", 1.0), _run(5, "x", 3.0)]
    summary = report.summarize(runs, [_case()], {"keepalive": ["c", "x"]}, ("c",), 5)
    row = summary["keepalive"]["x"]
    assert row["ratios"]["c"]["per_round"] == [2.0, 2.0, 2.0, 2.0, 3.0]
    assert row["ratios"]["c"]["median"] == 2.0
    assert row["value"] == 4.0 and summary["keepalive"]["c"]["value"] == 2.0
    assert row["disturbed_rounds"] == [2]


def test_a_failed_round_has_no_ratio():
    runs = [_run(1, "c", 1.0), _run(1, "x", 2.0), _run(2, "x", 3.0),
            {"round": 2, "case": "keepalive", "peer": "c", "ok": False, "kept": True,
             "disturbed": False, "failed": "boom"}]
    row = report.summarize(runs, [_case()], {"keepalive": ["c", "x"]}, ("c",), 2)["keepalive"]
    assert row["x"]["ratios"]["c"]["per_round"] == [2.0, None]
    assert row["c"]["failures"] == 1


def test_rotation_puts_every_unit_first_once_in_as_many_rounds():
    units = list("abcde")
    firsts = [load.rotated(units, r, 5)[0] for r in range(1, 6)]
    assert sorted(firsts) == units
    assert all(sorted(load.rotated(units, r, 10)) == units for r in range(1, 11))


def test_markdown_update_keeps_hand_written_text(tmp_path):
    path = tmp_path / "benchmarks.md"
    report.update_markdown(str(path), {"echo": "first\n"}, {"echo": "Echo"})
    path.write_text(path.read_text() + "\n## Observations\n\nby hand\n")
    report.update_markdown(str(path), {"echo": "second\n", "tls": "tls\n"}, {"echo": "Echo", "tls": "TLS"})
    text = path.read_text()
    assert "first" not in text and "second" in text and "by hand" in text
    assert text.index("by hand") < text.index("## TLS")
    assert text.count("load.py:echo begin") == 1


def test_echo_sweep_cases():
    cases = expand("echo", (64, 1 << 20), (1, 100), ("pingpong", "stream"))
    assert len(cases) == 8
    assert cases[0].key == "echo/pingpong/c1/64" and cases[-1].key == "echo/stream/c100/1M"
    assert {c.batch for c in cases} == {"echo/pingpong/c1", "echo/pingpong/c100",
                                        "echo/stream/c1", "echo/stream/c100"}
    assert size_label(256 * 1024) == "256K" and size_label(1000) == "1000"


def test_registry_is_consistent():
    peers, suites = registry.load()
    for suite in suites.values():
        assert set(suite.refs) <= set(suite.peers), suite.name
        for mode in suite.modes:
            serves = load.MODES[mode][0]
            assert any(peers[n].serves == serves for n in suite.peers), (suite.name, mode)
    assert set(load.DEFAULT_SUITES) == set(suites)


def test_registry_refuses_unknown_fields(tmp_path):
    path = tmp_path / "peers.toml"
    path.write_text('[peer.x]\nwhat = "x"\nserves = "http"\nargv = ["x"]\nport = 1\n')
    with pytest.raises(ValueError, match="peer x"):
        registry.load(str(path))


def test_pending_peers_are_skipped_with_their_reason(tmp_path):
    path = tmp_path / "peers.toml"
    path.write_text('[peer.x]\nwhat = "x"\nserves = "http"\nargv = ["true"]\n'
                    'pending = "waits for the TLS engine"\n')
    peers, _ = registry.load(str(path))
    assert registry.unavailable(peers["x"]) == "pending: waits for the TLS engine"
    assert registry.unavailable(peers["x"], include_pending=True) is None


@pytest.mark.slow
def test_quick_run_writes_its_results(tmp_path):
    done = subprocess.run([sys.executable, os.path.join(BENCH, "load.py"), "--quick",
                           "--out", str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    for suite, ref in (("echo", "c-echo"), ("http", "c-http")):
        data = json.loads((tmp_path / f"benchmarks-{suite}.json").read_text())
        assert data["schema"] == load.JSON_SCHEMA and data["settings"]["rounds"] == 1
        assert data["machine"]["kernel"] and "uvloop" in data["machine"]["packages"]
        assert data["summary"], suite
        for case, rows in data["summary"].items():
            assert rows[ref]["ratios"][ref]["median"] == 1.0, case
            for name, row in rows.items():
                assert row["rounds_ok"] == 1 and row["errors"] == 0, (case, name)
        for run in data["runs"]:
            assert run["ok"], run
            assert {"others_cpu_frac", "load_average", "disturbed"} <= set(run["window"])
    assert (tmp_path / "benchmarks-echo-c10.png").stat().st_size > 10_000
    text = (tmp_path / "benchmarks.md").read_text()
    assert "load.py:echo begin" in text and "load.py:http begin" in text


def _cmdline(pid):
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        return f.read()


def _children(pid):
    found = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/stat") as f:
                if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry))
        except (ValueError, OSError, IndexError):
            continue
    return found


@pytest.mark.slow
def test_a_terminated_run_stops_the_server_it_started(tmp_path):
    run = subprocess.Popen([sys.executable, os.path.join(BENCH, "load.py"), "--quick", "--suites", "http",
                            "--servers", "cyreactor-demo", "--no-check", "--out", str(tmp_path)],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        for line in run.stdout:
            if "[1/1 1/" in line:           # a measurement has begun: its server is up
                break
        servers = [pid for pid in _children(run.pid) if b"cyreactor" in _cmdline(pid)]
        assert servers, "no server under load.py"
        run.send_signal(signal.SIGTERM)
        run.wait(timeout=30)
    finally:
        if run.poll() is None:
            run.kill()
    deadline = time.monotonic() + 5
    while any(os.path.exists(f"/proc/{pid}") for pid in servers) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = [pid for pid in servers if os.path.exists(f"/proc/{pid}")]
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert not left and run.returncode == 128 + signal.SIGTERM
