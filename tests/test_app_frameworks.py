"""Real apps as users run them: a Flask app, a small Django project (WSGI
and ASGI), a Starlette and a FastAPI app, each served by ``python -m
cyreactor MODULE:ATTR`` and by ``gunicorn -k cyreactor.gunicorn.Worker``,
driven by requests, http.client, curl and raw sockets (tests/apps)."""
import http.client
import json
import shutil
import subprocess

import pytest
import requests
from support.appserver import KINDS, AppServer
from support.http import connect

MiB = 1 << 20

APPS = {
    "flask": "flask_app:app",
    "django-wsgi": "djangoproject.wsgi:application",
    "django-asgi": "djangoproject.asgi:application",
    "starlette": "starlette_app:app",
    "fastapi": "fastapi_app:app",
}
SERVERS = [(name, kind) for name in APPS for kind in KINDS]


@pytest.fixture(scope="module", params=SERVERS, ids=[f"{name}-{kind}" for name, kind in SERVERS])
def server(request):
    name, kind = request.param
    pytest.importorskip(name.split("-")[0])
    s = AppServer(APPS[name], kind=kind)
    s.name = name
    yield s
    assert s.stop() == 0, s.output()


def test_routing_and_404(server):
    r = requests.get(server.url + "/", timeout=10)
    assert (r.status_code, r.text) == (200, "hello") and r.headers["content-type"].startswith("text/plain")
    assert requests.get(server.url + "/no/such/route", timeout=10).status_code == 404


def test_query_string(server):
    assert requests.get(server.url + "/query?name=ann%20b&n=2", timeout=10).json() == {"name": "ann b", "n": "2"}


def test_json(server):
    payload = {"a": [1, 2, {"b": "ü"}], "c": None}
    assert requests.post(server.url + "/json", json=payload, timeout=10).json() == {"got": payload}


def test_form(server):
    assert requests.post(server.url + "/form", data={"a": "1", "b": "two words"}, timeout=10).json() == \
        {"a": "1", "b": "two words"}


def test_cookies(server):
    with requests.Session() as s:
        r = s.get(server.url + "/cookie/set", timeout=10)
        assert r.text == "set" and "flavour=oat" in r.headers["set-cookie"]
        assert s.get(server.url + "/cookie/get", timeout=10).text == "oat"


def test_redirect(server):
    r = requests.get(server.url + "/redirect", timeout=10, allow_redirects=False)
    assert r.status_code == 302 and r.headers["location"].endswith("/")
    assert requests.get(server.url + "/redirect", timeout=10).text == "hello"


def test_an_error_is_a_500_and_the_server_keeps_serving(server):
    assert requests.get(server.url + "/error", timeout=10).status_code == 500
    assert requests.get(server.url + "/", timeout=10).text == "hello"


def test_a_10_mib_upload(server):
    r = requests.post(server.url + "/upload", data=b"u" * (10 * MiB), timeout=30)
    assert r.json()["length"] == 10 * MiB


def test_a_chunked_upload(server):
    if server.name == "django-wsgi":
        pytest.skip("Django's WSGI handler reads CONTENT_LENGTH only: a chunked body reads as empty")
    r = requests.post(server.url + "/upload", data=iter([b"c" * 100000] * 10), timeout=30)
    assert r.json()["length"] == 1000000


def test_a_multipart_file_upload(server):
    r = requests.post(server.url + "/file", files={"doc": ("notes.txt", b"n" * 300000)}, timeout=30)
    assert r.json() == {"name": "notes.txt", "length": 300000}


def test_a_10_mib_download(server):
    r = requests.get(server.url + f"/download?n={10 * MiB}", timeout=30)
    assert len(r.content) == 10 * MiB


def test_a_streamed_response(server):
    with requests.get(server.url + "/stream", timeout=10, stream=True) as r:
        assert b"".join(r.iter_content(None)) == b"".join(b"line %d\n" % i for i in range(5))


def test_head(server):
    r = requests.head(server.url + "/", timeout=10)
    assert r.status_code in (200, 405) and r.content == b""


def test_keep_alive_with_http_client(server):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    for _ in range(3):
        conn.request("GET", "/")
        r = conn.getresponse()
        assert r.read() == b"hello" and not r.will_close
    sock = conn.sock
    conn.request("GET", "/query?name=x&n=1")
    assert json.loads(conn.getresponse().read()) == {"name": "x", "n": "1"}
    assert conn.sock is sock
    conn.close()


def test_pipelining(server):
    sock, reader = connect(server.port)
    sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\nGET /query?name=p&n=3 HTTP/1.1\r\nHost: t\r\n\r\n"
                 b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    assert reader.response()[2] == b"hello"
    assert json.loads(reader.response()[2]) == {"name": "p", "n": "3"}
    assert reader.response()[2] == b"hello"
    sock.close()


def test_expect_100_continue_with_curl(server):
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    out = subprocess.run(["curl", "-sS", "-v", "-H", "Expect: 100-continue", "--data-binary", "@-",
                          server.url + "/upload"], input=b"e" * 200000, capture_output=True, timeout=30)
    assert json.loads(out.stdout)["length"] == 200000
    assert b"100 Continue" in out.stderr


def test_starlette_lifespan_state_reaches_requests():
    s = AppServer(APPS["starlette"])
    try:
        r = requests.post(s.url + "/upload", data=b"x", timeout=10)
        assert r.json() == {"length": 1, "state": "from the lifespan"}
    finally:
        assert s.stop() == 0
