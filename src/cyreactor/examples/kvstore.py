"""A small JSON key-value store over HTTP, on ``cyreactor.http``.

    python -m cyreactor.examples.kvstore --host 127.0.0.1 --port 8080

    GET    /keys          {"keys": [...]}            200
    GET    /keys/NAME     {"key": NAME, "value": V}  200, or 404
    PUT    /keys/NAME     body: any JSON value        201 created, 200 replaced
    DELETE /keys/NAME                                 204, or 404
    GET    /              {"keys": count, "requests": n}

Bad JSON gets 400, another method 405 (with Allow), another path 404.
"""
import argparse
import json
import logging
from urllib.parse import unquote

from cyreactor import http

JSON = [("content-type", "application/json")]


def reply(status, value=None, headers=()):
    body = b"" if value is None else json.dumps(value).encode() + b"\n"
    return http.Response(status, JSON + list(headers) if body else list(headers), body)


class KVStore:
    """The app: ``KVStore()(request) -> Response``."""

    def __init__(self):
        self.data = {}
        self.requests = 0

    def __call__(self, request):
        self.requests += 1
        path = request.path
        method = request.method
        if path == "/":
            return reply(200, {"keys": len(self.data), "requests": self.requests})
        if path == "/keys":
            if method not in ("GET", "HEAD"):
                return reply(405, {"error": "method not allowed"}, [("allow", "GET, HEAD")])
            return reply(200, {"keys": sorted(self.data)})
        if not path.startswith("/keys/") or len(path) == len("/keys/"):
            return reply(404, {"error": "not found"})
        key = unquote(path[len("/keys/"):])
        if method in ("GET", "HEAD"):
            if key not in self.data:
                return reply(404, {"error": "no such key", "key": key})
            return reply(200, {"key": key, "value": self.data[key]})
        if method == "PUT":
            try:
                value = json.loads(request.body)
            except ValueError as exc:
                return reply(400, {"error": f"invalid JSON: {exc}"})
            created = key not in self.data
            self.data[key] = value
            return reply(201 if created else 200, {"key": key, "value": value})
        if method == "DELETE":
            if self.data.pop(key, _MISSING) is _MISSING:
                return reply(404, {"error": "no such key", "key": key})
            return reply(204)
        return reply(405, {"error": "method not allowed"}, [("allow", "GET, HEAD, PUT, DELETE")])


_MISSING = object()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--max-body-size", type=int, default=1 << 20,
                        help="largest value accepted, bytes (default: %(default)s)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    http.serve(KVStore(), host=args.host, port=args.port, max_body_size=args.max_body_size,
               ready=lambda sockname: print(f"kvstore listening on {http.url_for(sockname)}", flush=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
