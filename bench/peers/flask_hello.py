"""Flask hello world (the demo's body), for the servers that run WSGI apps."""
from flask import Flask, Response

app = Flask(__name__)


@app.route("/", methods=["GET", "POST"])
def hello():
    return Response(b"Hello! I am an epoll server.", content_type="text/html")
