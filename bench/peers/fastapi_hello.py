"""FastAPI hello world (the demo's body), for the servers that run ASGI apps."""
from fastapi import FastAPI
from fastapi.responses import HTMLResponse

app = FastAPI()


@app.api_route("/", methods=["GET", "POST"], response_class=HTMLResponse)
async def hello():
    return HTMLResponse(b"Hello! I am an epoll server.")
