"""A raw ASGI 3.0 app that pokes the spec's corners, one route each; served
by tests/test_app_asgi.py through ``python -m cyreactor raw_asgi:app``.

``RAW_ASGI_LIFESPAN``: "fail" answers lifespan.startup.failed, "raise"
raises in the startup, "unsupported" raises at once (an app without
lifespan support), anything else completes it and sets the state.
``/events`` reports what the app saw that a client cannot (disconnects,
errors its send() raised), in order.
"""
import asyncio
import json
import os

EVENTS = []
CHUNK = 65536


async def lifespan(scope, receive, send):
    mode = os.environ.get("RAW_ASGI_LIFESPAN", "")
    if mode == "unsupported":
        raise RuntimeError("no lifespan here")
    message = await receive()
    assert message["type"] == "lifespan.startup"
    if mode == "fail":
        await send({"type": "lifespan.startup.failed", "message": "the database is down"})
        return
    if mode == "raise":
        raise RuntimeError("startup exploded")
    scope["state"]["greeting"] = "hello from the lifespan"
    scope["state"]["started"] = True
    await send({"type": "lifespan.startup.complete"})
    message = await receive()
    assert message["type"] == "lifespan.shutdown"
    marker = os.environ.get("RAW_ASGI_SHUTDOWN_MARKER")
    if marker:
        with open(marker, "w") as f:
            f.write("shutdown")
    await send({"type": "lifespan.shutdown.complete"})


async def read_body(receive):
    body = bytearray()
    messages = 0
    while True:
        message = await receive()
        assert message["type"] == "http.request", message
        messages += 1
        body += message.get("body", b"")
        if not message.get("more_body", False):
            return bytes(body), messages


async def respond(send, status=200, body=b"", headers=(), content_type=b"text/plain"):
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", content_type), *headers]})
    await send({"type": "http.response.body", "body": body})


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        return await lifespan(scope, receive, send)
    assert scope["type"] == "http"
    path = scope["path"]
    route = ROUTES.get(path.removeprefix(scope["root_path"]) if scope["root_path"] else path)
    if route is None:
        return await respond(send, 404, f"not found: {path}".encode())
    return await route(scope, receive, send)


async def scope_route(scope, receive, send):
    body, _ = await read_body(receive)
    view = {k: v for k, v in scope.items() if k not in ("headers", "raw_path", "query_string", "state")}
    view["headers"] = [[k.decode("latin-1"), v.decode("latin-1")] for k, v in scope["headers"]]
    view["raw_path"] = scope["raw_path"].decode("latin-1")
    view["query_string"] = scope["query_string"].decode("latin-1")
    view["types"] = {k: type(v).__name__ for k, v in scope.items()}
    view["state"] = dict(scope.get("state", {}))
    view["body"] = body.decode("latin-1")
    await respond(send, 200, json.dumps(view).encode(), content_type=b"application/json")


async def upload(scope, receive, send):
    body, messages = await read_body(receive)
    await respond(send, 200, json.dumps({"length": len(body), "messages": messages,
                                         "sum": sum(body[::4096])}).encode())


async def echo(scope, receive, send):
    # Streams the body back as it arrives: chunked, both ways at once.
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    while True:
        message = await receive()
        await send({"type": "http.response.body", "body": message.get("body", b""), "more_body": True})
        if not message.get("more_body"):
            break
    await send({"type": "http.response.body", "body": b""})


def query(scope):
    return dict(p.split("=", 1) for p in scope["query_string"].decode().split("&") if "=" in p)


async def download(scope, receive, send):
    n = int(query(scope).get("n", "0"))
    declared = query(scope).get("cl") == "1"
    headers = [(b"content-type", b"application/octet-stream")]
    if declared:
        headers.append((b"content-length", str(n).encode()))
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    sent = 0
    while sent < n:
        piece = bytes([sent // CHUNK % 256]) * min(CHUNK, n - sent)
        sent += len(piece)
        await send({"type": "http.response.body", "body": piece, "more_body": sent < n})
    if n == 0:
        await send({"type": "http.response.body"})


async def slow_stream(scope, receive, send):
    # Streams until the client goes: send() must raise, and receive() must
    # then say http.disconnect.
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    try:
        for i in range(1000):
            await send({"type": "http.response.body", "body": b"tick %d\n" % i, "more_body": True})
            await asyncio.sleep(0.01)
    except OSError as exc:
        EVENTS.append(f"send raised {type(exc).__name__}")
    message = await receive()
    EVENTS.append(message["type"])


async def wait_disconnect(scope, receive, send):
    # A long poll: nothing to send until the client goes.
    await read_body(receive)
    message = await receive()
    EVENTS.append(f"long poll: {message['type']}")


async def events(scope, receive, send):
    await respond(send, 200, json.dumps(EVENTS).encode(), content_type=b"application/json")


async def error_before(scope, receive, send):
    raise ValueError("boom before the response")


async def error_after(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"partial", "more_body": True})
    raise ValueError("boom after the response started")


async def bad_message(scope, receive, send):
    try:
        await send({"type": "http.response.nonsense"})
    except RuntimeError as exc:
        EVENTS.append(f"bad message: {exc}")
    try:
        await send({"type": "http.response.body", "body": b"x"})
    except RuntimeError as exc:
        EVENTS.append(f"body first: {exc}")
    try:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"bad header", b"x")]})
        await send({"type": "http.response.body", "body": b"x"})
    except ValueError as exc:
        EVENTS.append(f"bad header: {exc}")
        raise


async def no_response(scope, receive, send):
    return None


async def no_read(scope, receive, send):
    # Answers without reading the body (Expect: 100-continue gets no 100).
    await respond(send, 200, b"did not read\n")


async def head(scope, receive, send):
    await respond(send, 200, b"a body HEAD must not carry")


async def declared_length(scope, receive, send):
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", b"10")]})
    await send({"type": "http.response.body", "body": b"01234", "more_body": True})
    await send({"type": "http.response.body", "body": b"56789"})


async def short_length(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"10")]})
    await send({"type": "http.response.body", "body": b"01234"})


async def headers_route(scope, receive, send):
    await send({"type": "http.response.start", "status": 201, "headers": [
        (b"set-cookie", b"a=1"), (b"set-cookie", b"b=2"), (b"x-custom", b"yes")]})
    await send({"type": "http.response.body", "body": b"", "more_body": True})
    await send({"type": "http.response.body", "body": b"made", "more_body": True})
    await send({"type": "http.response.body", "body": b""})


async def slow(scope, receive, send):
    await read_body(receive)
    await asyncio.sleep(float(query(scope).get("s", "0.2")))
    await respond(send, 200, scope["path"].encode() + b"?" + scope["query_string"])


async def current_task(scope, receive, send):
    task = asyncio.current_task()
    await respond(send, 200, (type(task).__name__ + " " + type(asyncio.get_running_loop()).__name__).encode())


async def pid(scope, receive, send):
    await respond(send, 200, str(os.getpid()).encode())


def create():
    """For --factory."""
    return app


ROUTES = {
    "/pid": pid,
    "/scope": scope_route,
    "/upload": upload,
    "/echo": echo,
    "/download": download,
    "/slow-stream": slow_stream,
    "/long-poll": wait_disconnect,
    "/events": events,
    "/error-before": error_before,
    "/error-after": error_after,
    "/bad-message": bad_message,
    "/no-response": no_response,
    "/no-read": no_read,
    "/head": head,
    "/declared-length": declared_length,
    "/short-length": short_length,
    "/headers": headers_route,
    "/slow": slow,
    "/task": current_task,
}
