"""asyncio or uvloop TCP echo server: the Python peers of c_echo.

usage: python bench/peers/py_echo.py --loop asyncio|uvloop [--host H] [--port P]
"""
import asyncio

from _pyserve import parse_args, serve_forever


class EchoProtocol(asyncio.Protocol):
    __slots__ = ("transport",)

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.transport.write(data)

    # Back-pressure: a client that does not read stops our reads.
    def pause_writing(self):
        self.transport.pause_reading()

    def resume_writing(self):
        self.transport.resume_reading()


if __name__ == "__main__":
    serve_forever(EchoProtocol, parse_args(__doc__.splitlines()[0], 9000))
