"""Request.client and Request.scheme: the connection's, unless a trusted
proxy (forwarded_allow_ips) says otherwise in X-Forwarded-*/Forwarded; the
access log reports the same client. The header grammar itself is
tests/test_forwarded.py's."""
import json
import logging

import pytest
from support.http import exchange

from cyreactor import http


def whoami(request):
    client = request.client
    return http.Response(200, body=f"{client[0]} {client[1]} {request.scheme}".encode())


def ask(port, *headers):
    head = b"GET / HTTP/1.1\r\nHost: t\r\n" + b"".join(h + b"\r\n" for h in headers) + b"\r\n"
    status, _, body = exchange(port, head)
    assert status == 200
    host, port_, scheme = body.decode().split()
    return host, int(port_), scheme


def test_the_peer_without_forwarding_headers(start):
    host, port, scheme = ask(start(whoami).port)
    assert (host, scheme) == ("127.0.0.1", "http") and port > 0


def test_a_trusted_proxy_names_the_client_and_scheme(start):
    port = start(whoami).port           # 127.0.0.1 is trusted by default
    assert ask(port, b"X-Forwarded-For: 203.0.113.7, 10.1.1.1", b"X-Forwarded-Proto: https") == \
        ("10.1.1.1", 0, "https")
    assert ask(port, b'Forwarded: for="[2001:db8::1]:4711";proto=https') == ("2001:db8::1", 4711, "https")


def test_walks_past_every_trusted_hop(start):
    port = start(whoami, forwarded_allow_ips="127.0.0.1,10.0.0.0/8").port
    assert ask(port, b"X-Forwarded-For: 203.0.113.7, 10.1.1.1")[0] == "203.0.113.7"


@pytest.mark.parametrize("options", [{"forwarded_allow_ips": "192.0.2.1"}, {"proxy_headers": False}],
                         ids=["untrusted-peer", "no-proxy-headers"])
def test_headers_from_anyone_else_are_ignored(start, options):
    port = start(whoami, **options).port
    host, _, scheme = ask(port, b"X-Forwarded-For: 203.0.113.7", b"X-Forwarded-Proto: https")
    assert (host, scheme) == ("127.0.0.1", "http")


def test_a_bad_allow_list_fails_at_start():
    with pytest.raises(ValueError, match="forwarded_allow_ips"):
        http.HttpServer(whoami, forwarded_allow_ips="10.0.0.300")


@pytest.mark.parametrize("app", [None, whoami], ids=["demo", "app"])
def test_the_access_log_reports_the_forwarded_client(start, caplog, app):
    port = start(app, access_log=True, access_log_format="json").port
    with caplog.at_level(logging.INFO, logger="cyreactor.http.access"):
        exchange(port, b"GET /a?b HTTP/1.1\r\nHost: t\r\nX-Forwarded-For: 198.51.100.2\r\n"
                       b"User-Agent: probe/1\r\nReferer: http://r/\r\n\r\n")
    entry = json.loads([r.getMessage() for r in caplog.records if r.name == "cyreactor.http.access"][0])
    assert entry["client"] == "198.51.100.2"
    assert (entry["request"], entry["status"], entry["user_agent"], entry["referer"]) == \
        ("GET /a?b HTTP/1.1", 200, "probe/1", "http://r/")
