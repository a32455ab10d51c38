"""A Starlette app (ASGI) with the routes tests/test_app_frameworks.py
drives on every framework, and a lifespan that sets state."""
import contextlib

from starlette.applications import Starlette
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, StreamingResponse
from starlette.routing import Route


async def hello(request):
    return PlainTextResponse("hello")


async def query(request):
    return JSONResponse(dict(request.query_params))


async def json_echo(request):
    return JSONResponse({"got": await request.json()})


async def form(request):
    async with request.form() as f:
        return JSONResponse({k: v for k, v in f.items()})


async def cookie_set(request):
    r = PlainTextResponse("set")
    r.set_cookie("flavour", "oat")
    return r


async def cookie_get(request):
    return PlainTextResponse(request.cookies.get("flavour", "none"))


async def to_root(request):
    return RedirectResponse("/", status_code=302)


async def error(request):
    raise ValueError("starlette view failed")


async def upload(request):
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
    return JSONResponse({"length": total, "state": request.state.greeting})


async def file(request):
    async with request.form() as f:
        doc = f["doc"]
        return JSONResponse({"name": doc.filename, "length": len(await doc.read())})


async def download(request):
    n = int(request.query_params["n"])

    async def pieces():
        sent = 0
        while sent < n:
            piece = b"d" * min(65536, n - sent)
            sent += len(piece)
            yield piece

    return StreamingResponse(pieces(), media_type="application/octet-stream")


async def stream(request):
    async def lines():
        for i in range(5):
            yield f"line {i}\n"

    return StreamingResponse(lines(), media_type="text/plain")


@contextlib.asynccontextmanager
async def lifespan(app):
    yield {"greeting": "from the lifespan"}


app = Starlette(lifespan=lifespan, routes=[
    Route("/", hello), Route("/query", query), Route("/json", json_echo, methods=["POST"]),
    Route("/form", form, methods=["POST"]), Route("/cookie/set", cookie_set), Route("/cookie/get", cookie_get),
    Route("/redirect", to_root), Route("/error", error), Route("/upload", upload, methods=["POST"]),
    Route("/file", file, methods=["POST"]), Route("/download", download), Route("/stream", stream),
])
