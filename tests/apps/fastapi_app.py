"""A FastAPI app (ASGI) with the routes tests/test_app_frameworks.py
drives on every framework."""
from fastapi import FastAPI, Form, Request, UploadFile
from fastapi.responses import PlainTextResponse, RedirectResponse, StreamingResponse

app = FastAPI()


@app.get("/", response_class=PlainTextResponse)
async def hello():
    return "hello"


@app.get("/query")
async def query(name: str, n: int):
    return {"name": name, "n": str(n)}


@app.post("/json")
async def json_echo(request: Request):
    return {"got": await request.json()}


@app.post("/form")
async def form(a: str = Form(), b: str = Form()):
    return {"a": a, "b": b}


@app.get("/cookie/set", response_class=PlainTextResponse)
async def cookie_set():
    r = PlainTextResponse("set")
    r.set_cookie("flavour", "oat")
    return r


@app.get("/cookie/get", response_class=PlainTextResponse)
async def cookie_get(request: Request):
    return request.cookies.get("flavour", "none")


@app.get("/redirect")
async def to_root():
    return RedirectResponse("/", status_code=302)


@app.get("/error")
async def error():
    raise ValueError("fastapi view failed")


@app.post("/upload")
async def upload(request: Request):
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
    return {"length": total}


@app.post("/file")
async def file(doc: UploadFile):
    return {"name": doc.filename, "length": len(await doc.read())}


@app.get("/download")
def download(n: int):
    def pieces():
        sent = 0
        while sent < n:
            piece = b"d" * min(65536, n - sent)
            sent += len(piece)
            yield piece

    return StreamingResponse(pieces(), media_type="application/octet-stream")


@app.get("/stream")
async def stream():
    async def lines():
        for i in range(5):
            yield f"line {i}\n"

    return StreamingResponse(lines(), media_type="text/plain")
