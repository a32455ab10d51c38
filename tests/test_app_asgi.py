"""ASGI 3.0 apps on cyreactor (asgiref specs/asgi.rst, www.rst,
lifespan.rst): tests/apps/raw_asgi.py served by ``python -m cyreactor``,
driven by requests, http.client and raw sockets."""
import http.client
import json
import socket
import time

import pytest
import requests
from support.appserver import AppServer, run_cli, wait_events
from support.http import connect

MiB = 1 << 20


@pytest.fixture(scope="module")
def server():
    s = AppServer("raw_asgi:app")
    yield s
    s.stop()


def get_json(server, path, **kwargs):
    r = requests.get(server.url + path, timeout=10, **kwargs)
    assert r.status_code == 200, r.text
    return r.json()


def test_the_http_scope_is_complete(server):
    sock, reader = connect(server.port)
    sock.sendall(b"GET /sc%6Fpe?x=1&y=%20 HTTP/1.1\r\nHost: example\r\nX-Rep: one\r\n"
                 b"x-rep: two\r\nCookie: a=1\r\n\r\n")
    status, _, body = reader.response()
    scope = json.loads(body)
    assert status == 200
    assert scope["type"] == "http" and scope["asgi"] == {"version": "3.0", "spec_version": "2.4"}
    assert (scope["http_version"], scope["method"], scope["scheme"]) == ("1.1", "GET", "http")
    assert (scope["path"], scope["raw_path"], scope["query_string"]) == ("/scope", "/sc%6Fpe", "x=1&y=%20")
    assert scope["root_path"] == ""
    # Lower-cased, in order, duplicates kept.
    assert scope["headers"] == [["host", "example"], ["x-rep", "one"], ["x-rep", "two"], ["cookie", "a=1"]]
    assert scope["client"] == ["127.0.0.1", sock.getsockname()[1]]
    assert scope["server"] == ["127.0.0.1", server.port]
    assert scope["types"]["raw_path"] == scope["types"]["query_string"] == "bytes"
    assert scope["types"]["headers"] == "list"
    assert scope["state"] == {"greeting": "hello from the lifespan", "started": True}
    sock.sendall(b"POST /scope HTTP/1.0\r\nContent-Length: 3\r\n\r\nabc")
    status, _, body = reader.response()
    scope = json.loads(body)
    assert (scope["http_version"], scope["method"], scope["body"]) == ("1.0", "POST", "abc")
    sock.close()


def test_root_path_and_utf8_paths():
    # Behind a proxy that strips /api: path and raw_path include root_path
    # (uvicorn's reading), and percent-escaped UTF-8 is decoded.
    s = AppServer("raw_asgi:app", "--root-path", "/api")
    try:
        scope = get_json(s, "/scope")
        assert (scope["path"], scope["root_path"], scope["raw_path"]) == ("/api/scope", "/api", "/api/scope")
        r = requests.get(s.url + "/caf%C3%A9", timeout=10)
        assert r.status_code == 404 and r.content.decode() == "not found: /api/café"
    finally:
        assert s.stop() == 0


def test_a_10_mib_upload_arrives_in_pieces(server):
    body = bytes(range(256)) * (10 * MiB // 256)
    r = requests.post(server.url + "/upload", data=body, timeout=30)
    got = r.json()
    assert (got["length"], got["sum"]) == (len(body), sum(body[::4096]))
    # Streamed as it arrived, never gathered whole by the server.
    assert got["messages"] > 10


def test_a_chunked_upload_streams_too(server):
    pieces = [b"x" * 100000] * 30
    r = requests.post(server.url + "/upload", data=iter(pieces), timeout=30)
    assert r.json()["length"] == 3000000 and r.json()["messages"] > 1


def test_streaming_both_ways_at_once(server):
    sock, reader = connect(server.port)
    sock.sendall(b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n")
    status = reader.line()
    assert status.startswith(b"HTTP/1.1 200")
    while reader.line():
        pass
    # The first piece comes back before the second is sent.
    assert reader.line() == b"5" and reader.line() == b"first"
    sock.sendall(b"6\r\nsecond\r\n0\r\n\r\n")
    assert reader.line() == b"6" and reader.line() == b"second"
    assert reader.line() == b"0" and reader.line() == b""
    sock.close()


@pytest.mark.parametrize("declared", [False, True], ids=["chunked", "content-length"])
def test_a_10_mib_download(server, declared):
    n = 10 * MiB + 7
    r = requests.get(server.url + f"/download?n={n}&cl={int(declared)}", timeout=30)
    assert len(r.content) == n and r.content[-1] == (n - 1) // 65536 % 256
    assert ("content-length" in r.headers) == declared
    assert (r.headers.get("transfer-encoding") == "chunked") != declared


def test_a_client_that_leaves_mid_stream_is_seen_by_the_app(server):
    sock, reader = connect(server.port)
    sock.sendall(b"GET /slow-stream HTTP/1.1\r\nHost: t\r\n\r\n")
    assert reader.line().startswith(b"HTTP/1.1 200")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    sock.close()     # a reset
    wait_events(server, "send raised ClientDisconnected", "http.disconnect")


def test_a_long_poll_learns_that_the_client_left(server):
    sock, _ = connect(server.port)
    sock.sendall(b"GET /long-poll HTTP/1.1\r\nHost: t\r\n\r\n")
    time.sleep(0.1)
    sock.close()
    wait_events(server, "long poll: http.disconnect")


def test_an_error_before_the_response_is_a_500_and_logged(server):
    r = requests.get(server.url + "/error-before", timeout=10)
    assert r.status_code == 500 and r.text == "Internal Server Error\n"
    out = server.wait_output("boom before the response")
    assert "Exception in the ASGI app" in out and "method: 'GET'" in out and "path: '/error-before'" in out
    assert "Traceback" in out
    # The server keeps serving, on the same connection too.
    with requests.Session() as s:
        assert s.get(server.url + "/error-before", timeout=10).status_code == 500
        assert s.get(server.url + "/scope", timeout=10).status_code == 200


def test_an_error_after_the_response_started_drops_the_connection(server):
    sock, reader = connect(server.port)
    sock.sendall(b"GET /error-after HTTP/1.1\r\nHost: t\r\n\r\n")
    with pytest.raises((EOFError, ConnectionResetError)):
        reader.response()
    server.wait_output("boom after the response started")
    assert requests.get(server.url + "/scope", timeout=10).status_code == 200


def test_malformed_messages_raise_inside_the_app(server):
    r = requests.get(server.url + "/bad-message", timeout=10)
    assert r.status_code == 500
    seen = wait_events(server, "bad message", "body first", "bad header")
    assert any("unexpected ASGI message type 'http.response.nonsense'" in e for e in seen)


def test_an_app_that_returns_without_answering_gets_a_500(server):
    r = requests.get(server.url + "/no-response", timeout=10)
    assert r.status_code == 500
    server.wait_output("returned without a response")


def test_expect_100_continue_is_answered_only_when_the_app_reads(server):
    sock, reader = connect(server.port)
    sock.sendall(b"POST /upload HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
    assert reader.line() == b"HTTP/1.1 100 Continue" and reader.line() == b""
    sock.sendall(b"hello")
    status, _, body = reader.response()
    assert status == 200 and json.loads(body)["length"] == 5
    sock.sendall(b"POST /no-read HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
    status, headers, body = reader.response()
    assert status == 200 and body == b"did not read\n"
    # The client may or may not send the body now: the connection ends.
    assert (b"connection", b"close") in headers
    sock.close()


def test_head_gets_the_head_only(server):
    sock, reader = connect(server.port)
    sock.sendall(b"HEAD /head HTTP/1.1\r\nHost: t\r\n\r\nGET /head HTTP/1.1\r\nHost: t\r\n\r\n")
    status, headers, body = reader.response(head_request=True)
    assert status == 200 and (b"content-length", b"26") in headers
    status, headers, body = reader.response()
    assert body == b"a body HEAD must not carry"
    sock.close()


def test_pipelined_requests_are_answered_in_order(server):
    sock, reader = connect(server.port)
    sock.sendall(b"".join(b"GET /slow?s=%s&i=%d HTTP/1.1\r\nHost: t\r\n\r\n" % (s, i)
                          for i, s in enumerate([b"0.15", b"0", b"0.05", b"0"])))
    for i, s in enumerate([b"0.15", b"0", b"0.05", b"0"]):
        status, _, body = reader.response()
        assert (status, body) == (200, b"/slow?s=%s&i=%d" % (s, i))
    sock.close()


def test_keep_alive_reuses_the_connection(server):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    ports = set()
    for _ in range(5):
        conn.request("GET", "/scope")
        ports.add(json.loads(conn.getresponse().read())["client"][1])
    assert len(ports) == 1
    conn.close()


def test_response_framing(server):
    r = requests.get(server.url + "/declared-length", timeout=10)
    assert r.text == "0123456789" and r.headers["content-length"] == "10"
    r = requests.get(server.url + "/headers", timeout=10)
    assert r.status_code == 201 and r.text == "made" and r.headers["x-custom"] == "yes"
    assert r.raw.headers.getlist("set-cookie") == ["a=1", "b=2"]
    # Fewer bytes than the declared length: the connection is dropped.
    sock, reader = connect(server.port)
    sock.sendall(b"GET /short-length HTTP/1.1\r\nHost: t\r\n\r\n")
    with pytest.raises(EOFError):
        reader.response()
    sock.close()


def test_the_app_runs_as_a_task_on_the_cyreactor_loop(server):
    assert requests.get(server.url + "/task", timeout=10).text == "Task Loop"


def test_a_websocket_upgrade_is_not_switched(server):
    sock, reader = connect(server.port)
    sock.sendall(b"GET /chat HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    status, _, _ = reader.response()
    assert status == 404          # served as plain HTTP, as uvicorn does without a WebSocket library
    sock.close()
    assert requests.get(server.url + "/scope", timeout=10).status_code == 200


def test_the_lifespan_shutdown_runs_at_exit(tmp_path):
    marker = tmp_path / "marker"
    s = AppServer("raw_asgi:app", env={"RAW_ASGI_SHUTDOWN_MARKER": str(marker)})
    assert get_json(s, "/scope")["state"]["started"] is True
    assert s.stop() == 0
    assert marker.read_text() == "shutdown"


def test_a_failed_startup_exits_with_an_error():
    code, out = run_cli("raw_asgi:app", "--port", "0", env={"RAW_ASGI_LIFESPAN": "fail"})
    assert code == 3 and "the database is down" in out and "Traceback" not in out
    code, out = run_cli("raw_asgi:app", "--port", "0", "--lifespan", "on", env={"RAW_ASGI_LIFESPAN": "raise"})
    assert code == 3 and "startup exploded" in out


@pytest.mark.parametrize("mode", ["unsupported", "raise"])
def test_an_app_that_raises_on_lifespan_still_serves(mode):
    s = AppServer("raw_asgi:app", env={"RAW_ASGI_LIFESPAN": mode})
    try:
        assert get_json(s, "/scope")["state"] == {}
    finally:
        assert s.stop() == 0


def test_lifespan_off_gives_no_state():
    s = AppServer("raw_asgi:app", "--lifespan", "off")
    try:
        assert "state" not in get_json(s, "/scope")["types"]
    finally:
        s.stop()
