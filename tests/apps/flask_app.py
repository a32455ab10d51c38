"""A Flask app (WSGI) with the routes tests/test_app_frameworks.py drives
on every framework."""
from flask import Flask, Response, jsonify, redirect, request

app = Flask(__name__)
app.config["MAX_CONTENT_LENGTH"] = None


@app.get("/")
def hello():
    return Response("hello", content_type="text/plain")


@app.get("/query")
def query():
    return jsonify(dict(request.args))


@app.post("/json")
def json_echo():
    return jsonify({"got": request.get_json()})


@app.post("/form")
def form():
    return jsonify(dict(request.form))


@app.get("/cookie/set")
def cookie_set():
    r = Response("set", content_type="text/plain")
    r.set_cookie("flavour", "oat")
    return r


@app.get("/cookie/get")
def cookie_get():
    return Response(request.cookies.get("flavour", "none"), content_type="text/plain")


@app.get("/redirect")
def to_root():
    return redirect("/")


@app.get("/error")
def error():
    raise ValueError("flask view failed")


@app.post("/upload")
def upload():
    total = 0
    while True:
        chunk = request.stream.read(65536)
        if not chunk:
            break
        total += len(chunk)
    return jsonify({"length": total})


@app.post("/file")
def file():
    f = request.files["doc"]
    return jsonify({"name": f.filename, "length": len(f.read())})


@app.get("/download")
def download():
    n = int(request.args["n"])

    def pieces():
        sent = 0
        while sent < n:
            piece = b"d" * min(65536, n - sent)
            sent += len(piece)
            yield piece

    return Response(pieces(), content_type="application/octet-stream")


@app.get("/stream")
def stream():
    return Response((f"line {i}\n" for i in range(5)), content_type="text/plain")
