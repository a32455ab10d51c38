"""The server's counters in the Prometheus text format (cyreactor.metrics):
read back with prometheus_client's own parser, the figures match the
traffic sent; the collector form; the scoreboard that adds up workers."""
import signal
import socket

import pytest
from support.haproxy import free_port
from support.http import GET, connect, exchange
from support.reactor import wait_for

from cyreactor import http, metrics
from cyreactor.http import DEMO_BODY
from cyreactor._http import DURATION_BOUNDS

parser = pytest.importorskip("prometheus_client.parser")
prometheus_client = pytest.importorskip("prometheus_client")


METRICS = b"GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n"


def scrape(port, path="/metrics"):
    status, headers, body = exchange(port, f"GET {path} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
    assert status == 200
    assert dict(headers)[b"content-type"].startswith(b"text/plain; version=0.0.4")
    return samples(body.decode())


def samples(text):
    """{(name, frozenset(labels)): value} of every sample."""
    out = {}
    for family in parser.text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(found, name, **labels):
    return found[(name, frozenset(labels.items()))]


def app(request):
    if request.path == "/missing":
        return http.Response(404, body=b"no\n")
    if request.path == "/boom":
        raise RuntimeError("boom")
    return http.Response(200, body=b"x" * 10)


def test_the_figures_match_the_traffic(start, errors):
    errors.expect(1)
    server = start(app, metrics_path="/metrics")
    sock, reader = connect(server.port)
    with sock:
        for _ in range(7):
            sock.sendall(b"POST /p HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc")
            assert reader.response()[0] == 200
        sock.sendall(b"GET /missing HTTP/1.1\r\nHost: t\r\n\r\n")
        assert reader.response()[0] == 404
        sock.sendall(b"GET /boom HTTP/1.1\r\nHost: t\r\n\r\n")
        assert reader.response()[0] == 500
    assert exchange(server.port, b"GET / HTTP/1.1\r\n\r\n")[0] == 400           # no Host
    assert exchange(server.port, b"GET / HTTP/9.9\r\nHost: t\r\n\r\n")[0] == 505
    found = scrape(server.port)
    assert value(found, "cyreactor_http_responses_total", status_class="2xx") == 7
    assert value(found, "cyreactor_http_responses_total", status_class="4xx") == 2
    assert value(found, "cyreactor_http_responses_total", status_class="5xx") == 2
    assert value(found, "cyreactor_http_request_body_bytes_total") == 21
    # 7 bodies of 10 bytes, b"no\n", then the 500's and the two refusals' texts.
    assert value(found, "cyreactor_http_response_body_bytes_total") > 73
    assert value(found, "cyreactor_http_refused_total", status="400", reason="missing Host") == 1
    assert value(found, "cyreactor_http_refused_total", status="505",
                 reason="HTTP version not supported") == 1
    assert value(found, "cyreactor_http_app_errors_total") == 1
    # Every request whose head was complete is in the histogram (not the
    # two refused ones); the scrape itself is counted after it is rendered.
    assert value(found, "cyreactor_http_request_duration_seconds_count") == 9
    assert value(found, "cyreactor_http_request_duration_seconds_bucket", le="+Inf") == 9
    assert value(found, "cyreactor_http_request_duration_seconds_sum") < 1.0
    assert len([k for k in found if k[0] == "cyreactor_http_request_duration_seconds_bucket"]) == \
        len(DURATION_BOUNDS) + 1
    assert value(found, "cyreactor_http_connections_open") == 1          # the scrape's own
    assert value(found, "cyreactor_reactor_accepted_total") >= 4
    assert value(found, "cyreactor_workers") == 1


def test_timeouts_by_kind_and_idle_connections(start):
    server = start(app, metrics_path="/metrics", header_timeout=0.2, keepalive_timeout=0.2)
    slow = socket.create_connection(("127.0.0.1", server.port))
    idle, reader = connect(server.port)
    with slow, idle:
        slow.sendall(b"GET / HTTP/1.1\r\n")          # a head that never ends
        idle.sendall(GET)
        assert reader.response()[0] == 200
        found = scrape(server.port)
        assert value(found, "cyreactor_http_connections_idle") == 1
        assert value(found, "cyreactor_http_connections_open") == 3
        assert slow.recv(100).startswith(b"HTTP/1.1 408")
        assert reader.at_eof()
    found = scrape(server.port)
    assert value(found, "cyreactor_http_timeouts_total", kind="header") == 1
    assert value(found, "cyreactor_http_timeouts_total", kind="keepalive") >= 1


def test_a_collector_for_an_existing_registry(start):
    server = start(app)
    for _ in range(3):
        assert exchange(server.port, GET)[0] == 200
    registry = prometheus_client.CollectorRegistry()
    registry.register(metrics.Collector(server))
    found = samples(prometheus_client.generate_latest(registry).decode())
    assert value(found, "cyreactor_http_responses_total", status_class="2xx") == 3
    assert value(found, "cyreactor_http_request_duration_seconds_count") == 3
    assert registry.get_sample_value("cyreactor_http_responses_total", {"status_class": "2xx"}) == 3


def test_the_scoreboard_adds_up_workers_and_keeps_the_dead_ones_counts():
    board = metrics.Scoreboard(3)
    a, b = board.claim(), board.claim()
    cores = []
    for slot in (a, b):
        core = http.HttpServer(app).core
        core.attach_metrics(board.buffer, board.http_offset(slot))
        cores.append(core)
    stats = dict.fromkeys(metrics.REACTOR_COUNTERS + metrics.REACTOR_GAUGES, 0)
    for slot, accepted in ((a, 5), (b, 7)):
        board.mine = slot
        board.beat(dict(stats, accepted=accepted, open=2))
    totals = board.totals()
    assert totals["workers"] == 2 and totals["reactor"]["accepted"] == 12 and totals["reactor"]["open"] == 4
    before = render_samples(board)
    board.release(a)                        # a worker died
    after = render_samples(board)
    assert value(after, "cyreactor_reactor_accepted_total") == 12        # never backwards
    assert value(after, "cyreactor_reactor_open") == 2                   # its gauges are gone
    assert value(after, "cyreactor_workers") == 1
    assert value(before, "cyreactor_workers") == 2
    assert board.claim() == a                                            # the slot is reused


def render_samples(board):
    return samples(metrics.render(board.totals()).decode())


def test_a_metrics_port_of_its_own_across_workers(demo):
    port = free_port()
    d = demo("--workers", "2", "--metrics-port", str(port), "--drain-delay", "2")
    for _ in range(5):
        assert exchange(d.port, GET)[0] == 200
    found = scrape(port)                     # /metrics by default
    assert value(found, "cyreactor_http_responses_total", status_class="2xx") == 5   # the app port's only
    assert value(found, "cyreactor_workers") == 2
    assert exchange(port, GET)[0] == 404                                             # nothing else there
    assert exchange(port, b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n")[0] == 200
    assert exchange(d.port, METRICS)[0] == 200 and exchange(d.port, METRICS)[2] == DEMO_BODY  # the app's path
    d.proc.send_signal(signal.SIGTERM)           # draining: the health path there fails too
    wait_for(lambda: exchange(port, b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n")[0] == 503)
