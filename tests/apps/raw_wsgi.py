"""A raw WSGI app (PEP 3333) that pokes the spec's corners, one route
each; served by tests/test_app_wsgi.py through ``python -m cyreactor``.
``validated`` is the same app inside ``wsgiref.validate.validator``, which
checks both sides of the interface and raises on a violation. ``/events``
reports what the app saw that a client cannot (close() calls), in order.
"""
import json
import os
import sys
import threading
import wsgiref.validate

EVENTS = []
CHUNK = 65536


class Body:
    """An iterable whose close() is recorded (PEP 3333: always called)."""

    def __init__(self, name, pieces):
        self.name = name
        self.pieces = pieces

    def __iter__(self):
        return iter(self.pieces)

    def close(self):
        EVENTS.append(f"closed {self.name}")


def query(environ):
    return dict(p.split("=", 1) for p in environ["QUERY_STRING"].split("&") if "=" in p)


def reply(start_response, body, status="200 OK", content_type="text/plain", headers=()):
    start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(body))), *headers])
    return [body]


def environ_route(environ, start_response):
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    view = {k: v for k, v in environ.items() if isinstance(v, (str, bool, int, tuple))}
    view["types"] = {k: type(v).__name__ for k, v in environ.items()}
    view["body"] = body.decode("latin-1")
    view["thread"] = threading.current_thread().name
    return reply(start_response, json.dumps(view).encode(), content_type="application/json")


def upload(environ, start_response):
    stream = environ["wsgi.input"]
    mode = query(environ).get("mode", "read")
    total = reads = 0
    if mode == "lines":
        for line in stream:
            total += len(line)
            reads += 1
    elif mode == "readline":
        while True:
            line = stream.readline(100)
            if not line:
                break
            assert len(line) <= 100
            total += len(line)
            reads += 1
    elif mode == "all":
        total = len(stream.read())
        reads = 1
    else:
        while True:
            chunk = stream.read(CHUNK)
            if not chunk:
                break
            total += len(chunk)
            reads += 1
    return reply(start_response, json.dumps({"length": total, "reads": reads}).encode())


def download(environ, start_response):
    n = int(query(environ).get("n", "0"))
    headers = [("Content-Type", "application/octet-stream")]
    if query(environ).get("cl") == "1":
        headers.append(("Content-Length", str(n)))
    start_response("200 OK", headers)

    def pieces():
        sent = 0
        while sent < n:
            piece = bytes([sent // CHUNK % 256]) * min(CHUNK, n - sent)
            sent += len(piece)
            yield piece

    return Body("download", pieces())


def file_route(environ, start_response):
    path = os.environ["RAW_WSGI_FILE"]
    f = open(path, "rb")
    skip = int(query(environ).get("skip", "0"))
    f.seek(skip)
    headers = [("Content-Type", "application/octet-stream")]
    if query(environ).get("cl") == "1":
        headers.append(("Content-Length", str(os.path.getsize(path) - skip)))
    start_response("200 OK", headers)
    return environ["wsgi.file_wrapper"](f, 8192)


def yields_str(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return ["not bytes"]


def hop_by_hop(environ, start_response):
    start_response("200 OK", [("Connection", "keep-alive")])
    return [b"x"]


def exc_info_route(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    try:
        raise ValueError("failed after start_response")
    except ValueError:
        start_response("500 Internal Server Error", [("Content-Type", "text/plain")], sys.exc_info())
    return [b"replaced by the error page\n"]


def error_route(environ, start_response):
    raise ValueError("boom in the WSGI app")


def error_in_iterable(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])

    def pieces():
        yield b"partial"
        raise ValueError("boom in the iterable")

    return Body("error-in-iterable", pieces())


def write_route(environ, start_response):
    write = start_response("200 OK", [("Content-Type", "text/plain")])
    write(b"written, ")
    return [b"then returned"]


def short_route(environ, start_response):
    start_response("200 OK", [("Content-Length", "10")])
    return [b"01234"]


def empty_chunks(environ, start_response):
    # Nothing may be sent before the first non-empty piece: the app can
    # still change its mind about the status until then.
    start_response("200 OK", [("Content-Type", "text/plain")])

    def pieces():
        yield b""
        yield b""
        yield b"late"

    return pieces()


def head_route(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])

    def pieces():
        EVENTS.append("head body iterated")
        yield b"a body HEAD must not carry"

    return Body("head", pieces())


def events(environ, start_response):
    return reply(start_response, json.dumps(EVENTS).encode(), content_type="application/json")


def not_found(environ, start_response):
    return reply(start_response, b"not found\n", "404 Not Found")


ROUTES = {
    "/environ": environ_route,
    "/upload": upload,
    "/download": download,
    "/file": file_route,
    "/str": yields_str,
    "/hop": hop_by_hop,
    "/exc-info": exc_info_route,
    "/error": error_route,
    "/error-in-iterable": error_in_iterable,
    "/write": write_route,
    "/short": short_route,
    "/empty-chunks": empty_chunks,
    "/head": head_route,
    "/events": events,
}


def app(environ, start_response):
    return ROUTES.get(environ["PATH_INFO"], not_found)(environ, start_response)


validated = wsgiref.validate.validator(app)
