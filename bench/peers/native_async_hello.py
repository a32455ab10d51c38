"""An ``async def app(request)`` on cyreactor's own API, served by
``python -m cyreactor native_async_hello:app``: the demo's body, the request
body read whole by the server first, the coroutine run as a Task on the
cyreactor Loop."""
from cyreactor.http import Response

BODY = b"Hello! I am an epoll server."
HEADERS = [(b"content-type", b"text/html")]


async def app(request):
    return Response(200, HEADERS, BODY)
