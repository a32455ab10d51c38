"""The minimal raw ASGI app the third-party ASGI servers serve: the demo's
body and content type, the request body read to the end (the 1 MiB POST
must cost the server its receive), no framework.

    uvicorn --app-dir bench/peers asgi_hello:app   (load.py puts bench/peers on PYTHONPATH)
"""
BODY = b"Hello! I am an epoll server."
START = {
    "type": "http.response.start",
    "status": 200,
    "headers": [(b"content-type", b"text/html"), (b"content-length", b"%d" % len(BODY))],
}
RESPONSE = {"type": "http.response.body", "body": BODY}


async def app(scope, receive, send):
    if scope["type"] != "http":
        return   # lifespan: nothing to set up; returning is allowed (ASGI spec)
    message = await receive()
    while message.get("more_body"):
        message = await receive()
    await send(START)
    await send(RESPONSE)
