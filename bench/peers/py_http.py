"""asyncio or uvloop HTTP/1.1 server on httptools: the Python peers of c_http.

Same fixed response as every server in the comparison. Keep-alive by
default; pipelined requests are answered in order, every complete request of
one read answered with one write; a Content-Length body is parsed past and
dropped (httptools calls no on_body we do not define); Connection: close and
HTTP/1.0 are honoured through the parser's should_keep_alive().

usage: python bench/peers/py_http.py --loop asyncio|uvloop [--host H] [--port P]
"""
import asyncio

import httptools

from _pyserve import parse_args, serve_forever

RESPONSE = (
    b"HTTP/1.1 200 OK\r\n"
    b"content-type: text/html\r\n"
    b"content-length: 28\r\n"
    b"\r\n"
    b"Hello! I am an epoll server."
)
RESPONSE_400 = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"


class HttpProtocol(asyncio.Protocol):
    __slots__ = ("transport", "parser", "pending", "closing")

    def __init__(self):
        self.transport = None
        self.parser = httptools.HttpRequestParser(self)
        self.pending = 0        # responses owed for this read, in order
        self.closing = False    # a request asked to close: answer nothing after it

    def connection_made(self, transport):
        self.transport = transport

    def on_message_complete(self):
        if self.closing:
            return
        self.pending += 1
        if not self.parser.should_keep_alive():
            self.closing = True

    def data_received(self, data):
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.transport.write(RESPONSE * self.pending + RESPONSE_400)
            self.transport.close()
            return
        n = self.pending
        if n:
            self.pending = 0
            self.transport.write(RESPONSE if n == 1 else RESPONSE * n)
        if self.closing:
            self.transport.close()

    # Back-pressure: a client that pipelines without reading stops our reads.
    def pause_writing(self):
        self.transport.pause_reading()

    def resume_writing(self):
        self.transport.resume_reading()


if __name__ == "__main__":
    serve_forever(HttpProtocol, parse_args(__doc__.splitlines()[0], 8080))
