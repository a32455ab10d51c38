"""The minimal raw WSGI app the WSGI servers serve: the demo's body and
content type; the request body is read to the end (PEP 3333's wsgi.input),
no framework."""
BODY = b"Hello! I am an epoll server."
HEADERS = [("Content-Type", "text/html"), ("Content-Length", str(len(BODY)))]
CHUNK = 64 * 1024


def app(environ, start_response):
    left = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"]
    while left > 0:
        chunk = body.read(min(left, CHUNK))
        if not chunk:
            break
        left -= len(chunk)
    start_response("200 OK", HEADERS)
    return [BODY]
