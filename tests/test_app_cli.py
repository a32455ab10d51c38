"""``python -m cyreactor MODULE:ATTR`` as a user meets it: the interface
told from the app, one-line errors with their exit status, --factory,
--workers, --uds, --fd, and the app loader and detector themselves."""
import os
import re
import socket

import pytest
import requests
from support.appserver import APPS, AppServer, run_cli
from support.http import Reader

from cyreactor import apps, http


@pytest.mark.parametrize("spec,message", [
    ("raw_asgi", 'import string "raw_asgi" must be in the format "<module>:<attribute>"'),
    ("no_such_module:app", 'could not import module "no_such_module"'),
    ("raw_asgi:nope", 'attribute "nope" not found in module "raw_asgi"'),
    ("raw_asgi:EVENTS", "list object is not an app (not callable)"),
    ("raw_wsgi:Body", "Body is a class, not an app (did you mean an instance, or --factory?)"),
])
def test_a_wrong_app_is_one_line_and_exit_2(spec, message):
    code, out = run_cli(spec, "--port", "0")
    assert code == 2 and out.strip() == f"error: {message}"


def test_a_port_in_use_is_one_line_and_exit_1():
    s = AppServer("raw_asgi:app")
    try:
        code, out = run_cli("raw_asgi:app", "--port", str(s.port))
        assert code == 1 and out.strip().endswith(f"cannot listen on 127.0.0.1:{s.port}: Address already in use")
        assert "Traceback" not in out
    finally:
        s.stop()


def test_a_command_line_mistake_is_exit_2():
    assert run_cli("raw_asgi:app", "--threads", "2")[0] == 2
    assert run_cli("raw_asgi:app", "--interface", "cgi")[0] == 2


def test_detect(monkeypatch):
    monkeypatch.syspath_prepend(APPS)
    from raw_asgi import app as asgi_app
    from raw_wsgi import app as wsgi_app

    async def native_async(request):
        return http.Response()

    class Asgi:
        async def __call__(self, scope, receive, send):
            pass

    assert [apps.detect(a) for a in (asgi_app, Asgi(), wsgi_app, native_async, lambda request: None,
                                      http.Router(), http.RequestHandler)] == \
        ["asgi", "asgi", "wsgi", "native", "native", "native", "native"]
    with pytest.raises(apps.AppError, match="pass --interface"):
        apps.detect(lambda *args: None)


def test_factory_and_explicit_interface():
    s = AppServer("raw_asgi:create", "--factory", "--interface", "asgi")
    try:
        assert requests.get(s.url + "/task", timeout=10).text == "Task Loop"
    finally:
        assert s.stop() == 0


def test_workers_share_the_port_and_stop_together():
    s = AppServer("raw_asgi:app", "--workers", "2")
    try:
        assert "(2 workers, supervisor pid" in s.output()
        pids = {requests.get(s.url + "/pid", timeout=10, headers={"Connection": "close"}).text
                for _ in range(40)}
        assert len(pids) == 2
    finally:
        assert s.stop() == 0
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(int(pid), 0)


def request_over(sock):
    sock.sendall(b"GET /pid HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    return Reader(sock).response()


def test_unix_socket(tmp_path):
    path = str(tmp_path / "app.sock")
    s = AppServer("raw_wsgi:app", "--uds", path, pattern=r"listening on unix:(\S+)")
    try:
        sock = socket.socket(socket.AF_UNIX)
        sock.connect(path)
        sock.sendall(b"GET /environ HTTP/1.1\r\nHost: t\r\n\r\n")
        status, _, body = Reader(sock).response()
        assert status == 200 and b'"REQUEST_METHOD": "GET"' in body
        sock.close()
    finally:
        assert s.stop() == 0
    assert not os.path.exists(path)


def test_an_inherited_socket():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    s = AppServer("raw_asgi:app", "--fd", str(listener.fileno()), pass_fds=[listener.fileno()],
                  pattern=r"listening on http://127\.0\.0\.1:(\d+)/")
    listener.close()
    try:
        assert s.port == port
        assert requests.get(s.url + "/task", timeout=10).text == "Task Loop"
    finally:
        assert s.stop() == 0


@pytest.mark.parametrize("spec", ["raw_asgi:app", "raw_wsgi:app"])
def test_access_log(spec):
    s = AppServer(spec, "--access-log")
    try:
        requests.get(s.url + "/environ?x=1", timeout=10)
        out = s.wait_output('"GET /environ?x=1 HTTP/1.1"')
        # Apache's combined format, the status and body size the server sent.
        assert re.search(r'access 127\.0\.0\.1 - - \[[^]]+\] "GET /environ\?x=1 HTTP/1\.1" (200|404) \d+ ', out)
    finally:
        s.stop()
