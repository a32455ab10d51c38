"""WSGI apps on cyreactor (PEP 3333): tests/apps/raw_wsgi.py served by
``python -m cyreactor``, on the loop thread and with ``--threads``, and
inside ``wsgiref.validate`` (which raises on any violation of the
interface, the server's side included)."""
import json
import socket
import time

import pytest
import requests
from support.appserver import AppServer, events, wait_events
from support.http import connect

MiB = 1 << 20
MODES = {"loop": [], "threads": ["--threads", "4"]}


@pytest.fixture(scope="module", params=list(MODES))
def server(request, tmp_path_factory):
    data = tmp_path_factory.mktemp("wsgi") / "data.bin"
    data.write_bytes(bytes(range(256)) * (3 * MiB // 256 + 1))
    s = AppServer("raw_wsgi:app", *MODES[request.param], env={"RAW_WSGI_FILE": str(data)})
    s.mode = request.param
    s.data = data.read_bytes()
    yield s
    assert s.stop() == 0


@pytest.fixture(scope="module")
def validated(tmp_path_factory):
    data = tmp_path_factory.mktemp("validated") / "data.bin"
    data.write_bytes(b"v" * 100000)
    # validator's app takes (*args): not detectable, so the interface is given.
    s = AppServer("raw_wsgi:validated", "--interface", "wsgi", env={"RAW_WSGI_FILE": str(data)})
    yield s
    s.stop()
    assert "AssertionError" not in s.output() and "WSGIWarning" not in s.output(), s.output()


def test_the_environ_has_every_required_key(server):
    r = requests.post(server.url + "/environ?a=1&b=%20", data=b"xyz",
                      headers={"X-Rep": "one", "Cookie": "a=1", "Content-Type": "text/x"}, timeout=10)
    env = r.json()
    assert (env["REQUEST_METHOD"], env["SCRIPT_NAME"], env["PATH_INFO"]) == ("POST", "", "/environ")
    assert (env["QUERY_STRING"], env["CONTENT_TYPE"], env["CONTENT_LENGTH"]) == ("a=1&b=%20", "text/x", "3")
    assert (env["SERVER_NAME"], env["SERVER_PORT"], env["SERVER_PROTOCOL"]) == ("127.0.0.1", str(server.port),
                                                                               "HTTP/1.1")
    assert env["REMOTE_ADDR"] == "127.0.0.1" and env["REMOTE_PORT"].isdigit()
    assert (env["HTTP_X_REP"], env["HTTP_COOKIE"], env["HTTP_HOST"]) == ("one", "a=1", f"127.0.0.1:{server.port}")
    assert env["wsgi.version"] == [1, 0] and env["wsgi.url_scheme"] == "http"
    assert env["wsgi.multithread"] is (server.mode == "threads")
    assert env["wsgi.multiprocess"] is False and env["wsgi.run_once"] is False
    assert env["wsgi.input_terminated"] is True
    assert env["types"]["wsgi.errors"] == "TextIOWrapper" and env["types"]["wsgi.file_wrapper"] == "type"
    assert all(env["types"][k] == "str" for k in env if k.isupper())
    assert env["body"] == "xyz"
    assert env["thread"].startswith("cyreactor-wsgi") == (server.mode == "threads")


def test_repeated_fields_are_joined_and_underscores_dropped(server):
    sock, reader = connect(server.port)
    sock.sendall(b"GET /en%76iron HTTP/1.1\r\nHost: t\r\nX-Rep: one\r\nx-rep: two\r\nCookie: a=1\r\n"
                 b"Cookie: b=2\r\nX_Rep: spoofed\r\n\r\n")
    env = json.loads(reader.response()[2])
    assert env["PATH_INFO"] == "/environ" and env["RAW_URI"] == "/en%76iron"
    assert (env["HTTP_X_REP"], env["HTTP_COOKIE"]) == ("one,two", "a=1; b=2")
    sock.close()


@pytest.mark.parametrize("mode", ["read", "lines", "readline", "all"])
def test_wsgi_input(server, mode):
    body = b"".join(b"line %d %s\n" % (i, b"x" * (i % 300)) for i in range(20000))
    r = requests.post(server.url + f"/upload?mode={mode}", data=body, timeout=30)
    got = r.json()
    assert got["length"] == len(body)
    if mode in ("lines", "readline"):
        assert got["reads"] >= 20000


def test_a_chunked_upload_ends_at_its_end(server):
    r = requests.post(server.url + "/upload", data=iter([b"a" * 70000] * 20), timeout=30)
    assert r.json()["length"] == 1400000


def test_a_10_mib_upload(server):
    r = requests.post(server.url + "/upload", data=b"u" * (10 * MiB), timeout=30)
    assert r.json()["length"] == 10 * MiB


@pytest.mark.parametrize("declared", [False, True], ids=["chunked", "content-length"])
def test_a_10_mib_download_is_closed(server, declared):
    n = 10 * MiB + 3
    r = requests.get(server.url + f"/download?n={n}&cl={int(declared)}", timeout=30)
    assert len(r.content) == n and r.content[-1] == (n - 1) // 65536 % 256
    assert ("content-length" in r.headers) == declared
    wait_events(server, "closed download")


def test_a_client_that_leaves_mid_stream_gets_the_iterable_closed(server):
    # 1 GiB, pulled only as the client reads: it reads a little and resets.
    before = events(server).count("closed download")
    sock, reader = connect(server.port)
    sock.sendall(b"GET /download?n=1073741824 HTTP/1.1\r\nHost: t\r\n\r\n")
    assert reader.line().startswith(b"HTTP/1.1 200")
    reader.exactly(100000)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    sock.close()
    deadline = time.monotonic() + 5
    while events(server).count("closed download") == before:
        assert time.monotonic() < deadline
        time.sleep(0.05)


@pytest.mark.parametrize("skip,declared", [(0, True), (1000, True), (0, False)])
def test_file_wrapper(server, skip, declared):
    r = requests.get(server.url + f"/file?skip={skip}&cl={int(declared)}", timeout=30)
    assert r.content == server.data[skip:]
    assert ("content-length" in r.headers) == declared


def test_str_from_the_app_is_a_clear_error(server):
    r = requests.get(server.url + "/str", timeout=10)
    assert r.status_code == 500
    out = server.wait_output("a WSGI body is bytes")
    assert "gave str 'not bytes'" in out


def test_hop_by_hop_headers_are_refused(server):
    assert requests.get(server.url + "/hop", timeout=10).status_code == 500
    server.wait_output("hop-by-hop header 'Connection'")


def test_exc_info_replaces_the_response_before_it_is_sent(server):
    r = requests.get(server.url + "/exc-info", timeout=10)
    assert r.status_code == 500 and r.text == "replaced by the error page\n"


def test_errors_answer_500_or_drop_and_are_logged(server):
    r = requests.get(server.url + "/error", timeout=10)
    assert r.status_code == 500
    out = server.wait_output("boom in the WSGI app")
    assert "method: 'GET'" in out and "path: '/error'" in out and "Traceback" in out
    sock, reader = connect(server.port)
    sock.sendall(b"GET /error-in-iterable HTTP/1.1\r\nHost: t\r\n\r\n")
    with pytest.raises((EOFError, ConnectionResetError)):
        reader.response()
    wait_events(server, "closed error-in-iterable")
    assert requests.get(server.url + "/write", timeout=10).text == "written, then returned"


def test_never_more_than_the_content_length_and_a_close_if_less(server):
    sock, reader = connect(server.port)
    sock.sendall(b"GET /short HTTP/1.1\r\nHost: t\r\n\r\n")
    with pytest.raises(EOFError):
        reader.response()
    sock.close()


def test_nothing_is_sent_before_the_first_non_empty_piece(server):
    r = requests.get(server.url + "/empty-chunks", timeout=10)
    assert r.text == "late"


def test_head_does_not_run_the_body(server):
    before = events(server).count("head body iterated")
    sock, reader = connect(server.port)
    sock.sendall(b"HEAD /head HTTP/1.1\r\nHost: t\r\n\r\n")
    status, _, _ = reader.response(head_request=True)
    assert status == 200
    sock.sendall(b"GET /events HTTP/1.1\r\nHost: t\r\n\r\n")
    seen = json.loads(reader.response()[2])
    assert seen.count("head body iterated") == before and seen[-1] == "closed head"
    sock.close()


def test_expect_100_continue(server):
    sock, reader = connect(server.port)
    sock.sendall(b"POST /upload HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
    assert reader.line() == b"HTTP/1.1 100 Continue" and reader.line() == b""
    sock.sendall(b"hello")
    assert json.loads(reader.response()[2])["length"] == 5
    sock.close()


def test_pipelining_and_keep_alive(server):
    # Long bodies are received straight into place: never past their end.
    sizes = (1, 70000, 3, 1 << 20, 65536, 2)
    sock, reader = connect(server.port)
    sock.sendall(b"".join(b"POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n%s" % (n, b"p" * n)
                          for n in sizes))
    for n in sizes:
        assert json.loads(reader.response()[2])["length"] == n
    sock.close()


def test_the_validator_is_satisfied(validated):
    for path in ("/environ", "/download?n=200000", "/file?cl=1", "/write", "/empty-chunks", "/exc-info"):
        r = requests.get(validated.url + path, timeout=10)
        assert r.status_code in (200, 500)
    assert requests.post(validated.url + "/upload?mode=lines", data=b"a\nb\n" * 1000, timeout=10).json() == \
        {"length": 4000, "reads": 2000}
    assert requests.head(validated.url + "/head", timeout=10).status_code == 200
