"""An HTTP app written as a plain Python function on cyreactor's handler API,
served by cyreactor.http.serve: what an application pays above the demo
server's canned response (a Request object per request, a Python call, a
Response object turned into bytes; the function form also reads the whole
request body into request.body before calling the app).

usage: python bench/peers/cy_app.py [--host 127.0.0.1] [--port 8080]
"""
import argparse

from _pyserve import raise_nofile

from cyreactor import http

BODY = b"Hello! I am an epoll server."
HEADERS = [(b"content-type", b"text/html")]


def app(request):
    return http.Response(200, headers=HEADERS, body=BODY)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args()
    raise_nofile()
    http.serve(app, host=args.host, port=args.port)


if __name__ == "__main__":
    main()
