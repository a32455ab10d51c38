"""An asyncio-loop (asyncio, uvloop or cyreactor's) HTTP/1.1 server on httptools: the Python peers of c_http.

Same response bytes as cyreactor's demo server and c_http: the fixed body, a
Date header refreshed once a second (by a loop timer), and "connection:
close" (or "keep-alive" to an HTTP/1.0 client that asked) when it applies.
Keep-alive by default; pipelined requests are answered in order, all the
complete requests of one read with one write; a Content-Length body is parsed
past and dropped (httptools calls no on_body we do not define); Connection:
close and HTTP/1.0 are honoured through the parser's should_keep_alive().

usage: python bench/peers/py_http.py --loop asyncio|uvloop|cyreactor [--host H] [--port P]
"""
import asyncio
from email.utils import formatdate

import httptools

from _pyserve import parse_args, protocol_server, serve_forever

BODY = b"Hello! I am an epoll server."
RESPONSE_400 = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
KEEP_ALIVE, KEEP_ALIVE_10, CLOSE = 0, 1, 2
CONNECTION = (b"", b"connection: keep-alive\r\n", b"connection: close\r\n")
responses = [b"", b"", b""]   # rebuilt every second with the new date


def refresh_responses(loop):
    date = formatdate(usegmt=True).encode()
    for i, connection in enumerate(CONNECTION):
        responses[i] = (b"HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: 28\r\n"
                        b"%sdate: %s\r\n\r\n%s" % (connection, date, BODY))
    loop.call_later(1.0, refresh_responses, loop)


class HttpProtocol(asyncio.Protocol):
    __slots__ = ("transport", "parser", "pending", "closing")

    def __init__(self):
        self.transport = None
        self.parser = httptools.HttpRequestParser(self)
        self.pending = []       # responses owed for this read, in order
        self.closing = False    # a request asked to close: answer nothing after it

    def connection_made(self, transport):
        self.transport = transport

    def on_message_complete(self):
        if self.closing:
            return
        if not self.parser.should_keep_alive():
            self.closing = True
            self.pending.append(responses[CLOSE])
        elif self.parser.get_http_version() == "1.0":
            self.pending.append(responses[KEEP_ALIVE_10])
        else:
            self.pending.append(responses[KEEP_ALIVE])

    def data_received(self, data):
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.pending.append(RESPONSE_400)
            self.closing = True
        pending = self.pending
        if pending:
            self.transport.write(pending[0] if len(pending) == 1 else b"".join(pending))
            pending.clear()
        if self.closing:
            self.transport.close()

    # Back-pressure: a client that pipelines without reading stops our reads.
    def pause_writing(self):
        self.transport.pause_reading()

    def resume_writing(self):
        self.transport.resume_reading()


if __name__ == "__main__":
    args = parse_args(__doc__.splitlines()[0], 8080)
    serve_forever(protocol_server(HttpProtocol, args), args, refresh_responses)
