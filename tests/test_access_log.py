"""The access log's formats (access_log_format): Apache's combined and
common, and JSON, one line per response, refusals included."""
import json
import logging
import re

import pytest
from support.http import exchange

from cyreactor import http

STAMP = r"\[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\]"
REQUEST = b'GET /x?y=1 HTTP/1.1\r\nHost: t\r\nUser-Agent: a "quoted" agent\r\nReferer: http://ref/\r\n\r\n'


def logged(start, caplog, fmt, *requests, app=None):
    port = start(app, access_log=True, access_log_format=fmt).port
    with caplog.at_level(logging.INFO, logger="cyreactor.http.access"):
        for request in requests:
            exchange(port, request)
    return [r.getMessage() for r in caplog.records if r.name == "cyreactor.http.access"]


def test_combined(start, caplog):
    line, = logged(start, caplog, "combined", REQUEST)
    assert re.fullmatch(rf'127\.0\.0\.1 - - {STAMP} "GET /x\?y=1 HTTP/1\.1" 200 28 "http://ref/" '
                        r'"a \\"quoted\\" agent"', line), line


def test_common(start, caplog):
    line, = logged(start, caplog, "common", REQUEST)
    assert re.fullmatch(rf'127\.0\.0\.1 - - {STAMP} "GET /x\?y=1 HTTP/1\.1" 200 28', line), line


def test_json_with_a_streamed_response_and_a_refusal(start, caplog):
    def app(request):
        return http.Response(201, body=iter([b"ab", b"cde"]))

    lines = logged(start, caplog, "json", REQUEST, b"GET / HTTP/1.1\r\nHost: t\r\nHost: u\r\n\r\n", app=app)
    first, refused = (json.loads(line) for line in lines)
    assert (first["status"], first["bytes"], first["request"], first["user_agent"]) == \
        (201, 5, "GET /x?y=1 HTTP/1.1", 'a "quoted" agent')
    assert first["time"].endswith(("+00:00", "Z")) or re.search(r"[+-]\d\d:\d\d$", first["time"])
    assert (refused["status"], refused["request"]) == (400, None)


def test_an_unknown_format_is_refused():
    with pytest.raises(ValueError, match="access_log_format"):
        http.HttpServer(None, access_log_format="apache")
