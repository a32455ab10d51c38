"""The server's counters for Prometheus: the text exposition format (0.0.4),
a ``prometheus_client`` collector, and the scoreboard that adds up the
workers of ``--workers N``.

What is counted, and where: the reactor's counters (``Reactor.stats()``)
and the HTTP server's (``ServerCore.metrics()``: responses by status class,
body bytes, open and idle connections, refusals by reason, timeouts by
kind, app errors, a request-duration histogram), all kept in C and always
on. ``METRICS`` below is the one list of metric names, types and help
texts; the text format and the collector are both made from it.

**Across workers.** A ``Scoreboard`` is one anonymous shared mapping made
by the supervisor before it forks: a slot per worker. A worker's HTTP
counters live in its slot (``ServerCore.attach_metrics``: the C counters
are incremented there directly, nothing is copied per request), and once a
second its heartbeat writes the time and the reactor's counters next to
them. Whichever worker answers a scrape reads every slot, so any of them
gives the same totals. When a worker dies, however it dies, the supervisor
adds its counters to slot 0 (the totals of workers gone) and frees the
slot: totals never go backwards, and the dead worker's gauges vanish. Slot
0 is changed only under a sequence lock, so a reader never sees a worker
counted twice or not at all. The heartbeat is also how the supervisor finds
a worker that stopped answering (``Supervisor(heartbeat_timeout=...)``).
"""
import mmap
import os
import struct
import time
from dataclasses import dataclass

from cyreactor._http import (
    CONN_REFUSALS,
    DURATION_BOUNDS,
    METRICS_SIZE,
    TIMEOUT_KINDS,
    metrics_read,
    metrics_retire,
)

__all__ = ["METRICS", "Collector", "Scoreboard", "render", "snapshot"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
PREFIX = "cyreactor_"

# Reactor.stats() keys exposed: counters, then gauges.
REACTOR_COUNTERS = ("accepted", "connected", "closed", "accept_errors", "emfile", "read_paused",
                    "write_paused", "bytes_in", "bytes_out", "callback_errors", "timeouts",
                    "epoll_rebuilds", "iterations", "events")
REACTOR_GAUGES = ("open", "timers", "listeners")


@dataclass(frozen=True)
class Metric:
    name: str            # without the prefix; counters without "_total"
    kind: str            # counter | gauge | histogram
    help: str
    label: str = ""      # the label of a family with one series per key


METRICS = (
    Metric("http_responses", "counter", "HTTP responses sent, by status class.", "status_class"),
    Metric("http_request_body_bytes", "counter", "Request body bytes received (decoded)."),
    Metric("http_response_body_bytes", "counter", "Response body bytes sent (heads and framing excluded)."),
    Metric("http_refused", "counter", "Requests refused by the parser, by reason.", "reason"),
    Metric("http_connections_refused", "counter", "Connections refused before a request: too many, "
           "shutting down, or ended by the client mid-request.", "reason"),
    Metric("http_timeouts", "counter", "Connection deadlines that passed, by kind.", "kind"),
    Metric("http_app_errors", "counter", "Exceptions raised by user code."),
    Metric("http_request_duration_seconds", "histogram", "From a request's complete head to its "
           "response written to the connection."),
    Metric("http_connections_open", "gauge", "HTTP connections open."),
    Metric("http_connections_idle", "gauge", "HTTP connections idle between requests."),
    *(Metric(f"reactor_{name}", "counter", f"Reactor counter {name!r} (Reactor.stats()).")
      for name in REACTOR_COUNTERS),
    *(Metric(f"reactor_{name}", "gauge", f"Reactor gauge {name!r} (Reactor.stats()).")
      for name in REACTOR_GAUGES),
    Metric("workers", "gauge", "Worker processes counted (1 without a supervisor)."),
)


def snapshot(core=None, reactor=None):
    """One process's figures as ``render()`` takes them: ``core`` a
    ServerCore (or HttpServer), ``reactor`` a Reactor; either may be None."""
    core = getattr(core, "core", core)
    figures = {"http": core.metrics() if core is not None else None, "workers": 1,
               "reactor": {}}
    if reactor is not None:
        stats = reactor.stats()
        figures["reactor"] = {k: stats[k] for k in REACTOR_COUNTERS + REACTOR_GAUGES}
    return figures


def _families(figures):
    """(Metric, [(labels dict, value)] or histogram dict) for each metric."""
    http = figures.get("http")
    reactor = figures.get("reactor") or {}
    for m in METRICS:
        if m.name.startswith("reactor_"):
            key = m.name[len("reactor_"):]
            if key in reactor:
                yield m, [({}, reactor[key])]
        elif m.name == "workers":
            yield m, [({}, figures.get("workers", 1))]
        elif http is None:
            continue
        elif m.name == "http_responses":
            yield m, [({m.label: cls}, n) for cls, n in sorted(http["responses"].items())]
        elif m.name == "http_request_body_bytes":
            yield m, [({}, http["body_bytes_in"])]
        elif m.name == "http_response_body_bytes":
            yield m, [({}, http["body_bytes_out"])]
        elif m.name == "http_refused":
            yield m, [({"status": str(status), m.label: reason}, n)
                      for (status, reason), n in sorted(http["refused"].items())]
        elif m.name == "http_connections_refused":
            yield m, [({m.label: reason}, http["conn_refused"][reason]) for reason in CONN_REFUSALS]
        elif m.name == "http_timeouts":
            yield m, [({m.label: kind}, http["timeouts"][kind]) for kind in TIMEOUT_KINDS]
        elif m.name == "http_app_errors":
            yield m, [({}, http["app_errors"])]
        elif m.name == "http_request_duration_seconds":
            yield m, {"buckets": http["duration_buckets"], "sum": http["duration_sum"]}
        elif m.name == "http_connections_open":
            yield m, [({}, http["open"])]
        elif m.name == "http_connections_idle":
            yield m, [({}, http["idle"])]


def _cumulative(buckets):
    total, out = 0, []
    for bound, n in zip(DURATION_BOUNDS + (float("inf"),), buckets):
        total += n
        out.append((bound, total))
    return out


def _escape(value):
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(labels):
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items()) + "}"


def _number(value):
    if value == float("inf"):
        return "+Inf"
    return repr(float(value)) if isinstance(value, float) else str(value)


def render(figures):
    """The Prometheus text exposition format (version 0.0.4) of
    ``figures`` (``snapshot()`` or ``Scoreboard.totals()``), as bytes."""
    lines = []
    for m, series in _families(figures):
        name = PREFIX + m.name
        lines.append(f"# HELP {name}{'_total' if m.kind == 'counter' else ''} {m.help}")
        lines.append(f"# TYPE {name}{'_total' if m.kind == 'counter' else ''} {m.kind}")
        if m.kind == "histogram":
            for bound, count in _cumulative(series["buckets"]):
                lines.append(f'{name}_bucket{{le="{_number(bound)}"}} {count}')
            lines.append(f"{name}_sum {_number(series['sum'])}")
            lines.append(f"{name}_count {sum(series['buckets'])}")
            continue
        suffix = "_total" if m.kind == "counter" else ""
        for labels, value in series:
            lines.append(f"{name}{suffix}{_labels(labels)} {_number(value)}")
    return ("\n".join(lines) + "\n").encode("utf-8")


class Collector:
    """A ``prometheus_client`` collector of a server's counters, for a
    registry you already have::

        from prometheus_client import REGISTRY
        REGISTRY.register(cyreactor.metrics.Collector(server, reactor))

    ``source``: an HttpServer, a ServerCore, or a Scoreboard (every
    worker's totals); ``reactor``: the Reactor to report with it (not with
    a Scoreboard, which has the workers' own)."""

    def __init__(self, source, reactor=None):
        self.source = source
        self.reactor = reactor

    def _figures(self):
        if isinstance(self.source, Scoreboard):
            return self.source.totals()
        return snapshot(self.source, self.reactor)

    def collect(self):
        from prometheus_client.core import (
            CounterMetricFamily,
            GaugeMetricFamily,
            HistogramMetricFamily,
        )

        for m, series in _families(self._figures()):
            name = PREFIX + m.name
            if m.kind == "histogram":
                buckets = [(_number(bound), count) for bound, count in _cumulative(series["buckets"])]
                yield HistogramMetricFamily(name, m.help, buckets=buckets, sum_value=series["sum"])
                continue
            keys = list(series[0][0]) if series else []
            family = (CounterMetricFamily if m.kind == "counter" else GaugeMetricFamily)(
                name, m.help, labels=keys)
            for labels, value in series:
                family.add_metric([str(labels[k]) for k in keys], value)
            yield family


# ---- the scoreboard ---------------------------------------------------------------

# Slot states.
FREE, LIVE = 0, 1

_HEADER = struct.Struct("=QQ")            # sequence lock, slots
# state, pid, heartbeat (CLOCK_MONOTONIC, system-wide), retire requested,
# then the reactor's counters and gauges.
_SLOT = struct.Struct("=QQdQ" + "Q" * len(REACTOR_COUNTERS) + "q" * len(REACTOR_GAUGES))
_HEARTBEAT = struct.Struct("=d")
_HEARTBEAT_OFFSET = struct.calcsize("=QQ")
_HTTP_OFFSET = (_SLOT.size + 7) // 8 * 8
_SLOT_SIZE = (_HTTP_OFFSET + METRICS_SIZE + 63) // 64 * 64   # a cache line apart


class Scoreboard:
    """Shared counters and heartbeats of a supervisor's workers: an
    anonymous ``MAP_SHARED`` mapping, made before the workers are forked.
    Slot 0 holds the totals of workers that are gone; ``slots`` more are
    for the live ones (the supervisor needs a few more than its workers
    while it replaces some)."""

    def __init__(self, slots):
        self.slots = slots
        self.buffer = mmap.mmap(-1, _HEADER.size + (slots + 1) * _SLOT_SIZE)
        _HEADER.pack_into(self.buffer, 0, 0, slots)
        self.mine = None            # in a worker: its slot

    def _offset(self, slot):
        return _HEADER.size + slot * _SLOT_SIZE

    def http_offset(self, slot):
        """Where slot's HttpMetrics are (ServerCore.attach_metrics)."""
        return self._offset(slot) + _HTTP_OFFSET

    def _read(self, slot):
        return _SLOT.unpack_from(self.buffer, self._offset(slot))

    # -- the supervisor's side

    def claim(self):
        """A free slot for a worker about to start, its heartbeat now; or
        None when all are taken."""
        for slot in range(1, self.slots + 1):
            if self._read(slot)[0] == FREE:
                self._write(slot, LIVE, 0, time.monotonic())
                return slot
        return None

    def free_slots(self):
        return sum(self._read(slot)[0] == FREE for slot in range(1, self.slots + 1))

    def heartbeat_of(self, slot):
        return self._read(slot)[2]

    def beat_for(self, slot, when):
        """Sets ``slot``'s heartbeat alone (the supervisor: the time a worker
        reported ready, or killed it, so that it kills once per timeout)."""
        _HEARTBEAT.pack_into(self.buffer, self._offset(slot) + _HEARTBEAT_OFFSET, when)

    def retire_requested(self, slot):
        return bool(self._read(slot)[3])

    def release(self, slot):
        """The worker in ``slot`` is gone: its counters join slot 0's."""
        seq = _HEADER.unpack_from(self.buffer, 0)[0]
        _HEADER.pack_into(self.buffer, 0, seq + 1, self.slots)        # odd: being changed
        gone = dict(zip(REACTOR_COUNTERS, self._read(slot)[4:]))
        totals = dict(zip(REACTOR_COUNTERS, self._read(0)[4:]))
        self._write(0, FREE, 0, 0.0, reactor={k: totals[k] + gone[k] for k in REACTOR_COUNTERS}
                    | dict.fromkeys(REACTOR_GAUGES, 0))
        metrics_retire(self.buffer, self.http_offset(0), self.http_offset(slot))
        self._write(slot, FREE, 0, 0.0)
        _HEADER.pack_into(self.buffer, 0, seq + 2, self.slots)

    def _write(self, slot, state, pid, heartbeat, retire=0, reactor=None):
        """The whole slot but its HTTP counters; ``reactor``: Reactor.stats()
        (None: zeros)."""
        values = [reactor[k] if reactor is not None else 0 for k in REACTOR_COUNTERS + REACTOR_GAUGES]
        _SLOT.pack_into(self.buffer, self._offset(slot), state, pid, heartbeat, retire, *values)

    # -- a worker's side

    def beat(self, reactor_stats, retire=False):
        """The worker's heartbeat: now, and its reactor's counters."""
        self._write(self.mine, LIVE, os.getpid(), time.monotonic(), int(retire), reactor_stats)

    # -- anyone

    def totals(self):
        """Every worker's figures added up (``render()`` takes them)."""
        while True:
            seq = _HEADER.unpack_from(self.buffer, 0)[0]
            if seq & 1:
                time.sleep(0)
                continue
            figures = self._sum()
            if _HEADER.unpack_from(self.buffer, 0)[0] == seq:
                return figures

    def _sum(self):
        reactor = dict.fromkeys(REACTOR_COUNTERS + REACTOR_GAUGES, 0)
        http = None
        workers = 0
        for slot in range(self.slots + 1):
            fields = self._read(slot)
            if slot and fields[0] != LIVE:
                continue
            workers += slot > 0
            for key, value in zip(REACTOR_COUNTERS + REACTOR_GAUGES, fields[4:]):
                reactor[key] += value
            http = _add(http, metrics_read(self.buffer, self.http_offset(slot)))
        return {"http": http, "reactor": reactor, "workers": workers}


def _add(a, b):
    if a is None:
        return b
    out = {}
    for key, value in a.items():
        other = b[key]
        if isinstance(value, dict):
            out[key] = {k: value.get(k, 0) + other.get(k, 0) for k in value.keys() | other.keys()}
        elif isinstance(value, list):
            out[key] = [x + y for x, y in zip(value, other)]
        else:
            out[key] = value + other
    return out
