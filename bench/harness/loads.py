"""The load generators, each run against one started server inside one
Meter window: wrk (HTTP, HTTPS), c_echoclient (echo, TLS echo) and the
idle-connections client (this process). Every client stops by itself: wrk
and c_echoclient after their duration (killed if they overrun it by
CLIENT_SLACK), the idle client after IDLE_CONNECTIONS connections with a
timeout on each."""
import json
import os
import resource
import socket
import time

from harness import BENCH, CLIENT_CPU, HOST, PEER_BIN
from harness.cases import IDLE_CONNECTIONS, WRK_CONNECTIONS
from harness.procs import Client, client_context

CLIENT_SLACK = 60.0
IDLE_BATCH = 500
IDLE_TIMEOUT = 10.0
BODY = b"Hello! I am an epoll server."


class LoadFailed(RuntimeError):
    pass


def _result(ops, seconds, window, errors=0, **extra):
    cpu = window["server_cpu_s"]
    return {"ops": ops, "seconds": seconds, "ops_per_s": ops / seconds if seconds else None,
            "server_cpu_s": cpu, "cpu_us_per_op": cpu * 1e6 / ops if ops else None,
            "errors": errors, "window": window, **extra}


# --- wrk ------------------------------------------------------------------------

def wrk_script(mode, tmpdir):
    """The mode's request script with report.lua's done() appended."""
    path = os.path.join(tmpdir, f"wrk-{mode}.lua")
    if not os.path.exists(path):
        parts = [f"{mode}.lua"] if mode in ("pipeline16", "post1m") else []
        with open(path, "w") as out:
            for part in parts + ["report.lua"]:
                with open(os.path.join(BENCH, "wrk", part)) as f:
                    out.write(f.read() + "\n")
    return path


def wrk_argv(case, port, seconds, tmpdir):
    argv = ["wrk", "-t1", f"-c{WRK_CONNECTIONS}", f"-d{seconds:g}s", "--timeout", "5s",
            "-s", wrk_script(case.wrk, tmpdir)]
    if case.wrk == "close":
        argv += ["-H", "Connection: close"]
    scheme = "https" if case.cert else "http"
    return argv + [f"{scheme}://{HOST}:{port}/"]


def _wrk_report(case, rc, out, err):
    line = next((ln for ln in out.splitlines() if ln.startswith("WRK_JSON ")), None)
    if rc or line is None:
        raise LoadFailed(f"wrk failed ({rc}): {(out + err).strip()[-500:]}")
    report = json.loads(line[len("WRK_JSON "):])
    errors = dict(report["errors"])
    if case.wrk == "close":
        # wrk 4.1 counts the server's orderly close after each "Connection:
        # close" response as a read error, so up to one per request is normal.
        errors["read"] = max(0, errors["read"] - report["requests"])
    return report, sum(errors.values())


def run_wrk(case, server, settings, meter, tmpdir):
    if settings.warmup > 0:
        Client(wrk_argv(case, server.port, settings.warmup, tmpdir)).finish(settings.warmup + CLIENT_SLACK)
    meter.begin()
    client = Client(wrk_argv(case, server.port, settings.duration, tmpdir))
    rc, out, err, cpu = client.finish(settings.duration + CLIENT_SLACK)
    window = meter.end(client.pid, cpu)
    report, errors = _wrk_report(case, rc, out, err)
    return _result(report["requests"], report["duration_us"] / 1e6, window, errors,
                   latency_us=report["latency_us"], wrk_errors=report["errors"])


# --- c_echoclient ------------------------------------------------------------

def echo_argv(case, port, settings):
    argv = [os.path.join(PEER_BIN, "c_echoclient"), "--host", HOST, "--port", str(port),
            "--conns", str(case.conns), "--size", str(case.size), "--pattern", case.pattern,
            "--duration", f"{settings.echo_duration:g}", "--warmup", f"{settings.echo_warmup:g}",
            "--sync"]
    return argv + (["--tls"] if case.cert else [])


def run_echo(case, server, settings, meter, tmpdir):
    client = Client(echo_argv(case, server.port, settings), interactive=True)
    try:
        ready = client.readline(settings.echo_warmup + CLIENT_SLACK)
        if ready != "READY":
            raise LoadFailed(f"echo client: {ready or 'no READY line'}")
        meter.begin()
        client.send("go\n")
        line = client.readline(settings.echo_duration + CLIENT_SLACK)
        report = json.loads(line) if line.startswith("{") else {"error": line or "no report"}
        window = meter.end(client.pid, report.get("client_cpu_s"))
    finally:
        rc, out, err, _ = client.finish(10.0)
    if "error" in report:
        raise LoadFailed(f"echo client: {report['error']} {(out + err).strip()[-300:]}")
    return _result(report["messages"], report["seconds"], window,
                   mib_per_s=report["mib_per_s"], inflight=report["inflight"])


# --- idle connections --------------------------------------------------------

def raise_own_nofile(want):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= want:
        return
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, max(want, hard)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
    if resource.getrlimit(resource.RLIMIT_NOFILE)[0] < want:
        raise LoadFailed(f"need {want} file descriptors; the hard limit is {hard}")


def _read_response(sock):
    got = b""
    while not got.endswith(BODY):
        chunk = sock.recv(4096)
        if not chunk:
            raise LoadFailed("an idle connection was closed by the server")
        got += chunk


def run_idle(case, server, settings, meter, tmpdir):
    """Server RSS growth with ``settings.idle_connections`` idle keep-alive
    connections, each having had one request answered (TLS: handshake too)."""
    count = settings.idle_connections
    raise_own_nofile(count + 1000)
    request = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n"
    ctx = client_context() if case.cert else None
    socks = []
    old_affinity = os.sched_getaffinity(0)
    time.sleep(0.5)
    rss_before = server.rss_kib()
    meter.begin()
    try:
        os.sched_setaffinity(0, {CLIENT_CPU})
        # In batches, so no listen backlog overflows: connect a batch, send
        # each its request, then read each response (the server has accepted).
        while len(socks) < count:
            batch = []
            for _ in range(min(IDLE_BATCH, count - len(socks))):
                s = socket.create_connection((HOST, server.port), timeout=IDLE_TIMEOUT)
                socks.append(s)
                batch.append(ctx.wrap_socket(s) if ctx else s)
                socks[-1] = batch[-1]
            for s in batch:
                s.sendall(request)
            for s in batch:
                _read_response(s)
        time.sleep(1.0)
        if not server.alive():
            raise LoadFailed(f"server exited with {server.proc.returncode}")
        rss_after = server.rss_kib()
        window = meter.end()
    finally:
        os.sched_setaffinity(0, old_affinity)
        for s in socks:
            s.close()
    growth = rss_after - rss_before
    return _result(count, window["wall_s"], window, rss_before_mib=rss_before / 1024,
                   rss_after_mib=rss_after / 1024, rss_growth_mib=growth / 1024,
                   bytes_per_connection=growth * 1024 / count)


RUNNERS = {"wrk": run_wrk, "echo": run_echo, "idle": run_idle}
