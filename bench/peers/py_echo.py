"""TCP echo servers on an asyncio loop (asyncio, uvloop or cyreactor's), in
the three shapes of uvloop's own echo benchmark: a Protocol, streams
(StreamReader/StreamWriter) and the loop's sock_recv/sock_sendall. Reads
ask for up to READ_SIZE bytes, the C peers' buffer size.

usage: python bench/peers/py_echo.py --loop asyncio|uvloop|cyreactor
                                     [--shape protocol|streams|sockets] [--host H] [--port P]
"""
import asyncio
import socket

from _pyserve import parse_args, protocol_server, serve_forever

READ_SIZE = 256 * 1024


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


async def echo_stream(reader, writer):
    try:
        while data := await reader.read(READ_SIZE):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


def streams_server(args):
    return lambda loop: asyncio.start_server(echo_stream, args.host, args.port, backlog=4096)


async def echo_socket(loop, client):
    with client:
        try:
            while data := await loop.sock_recv(client, READ_SIZE):
                await loop.sock_sendall(client, data)
        except ConnectionError:
            pass


class SocketServer:
    """accept() in a task; each client in its own task (uvloop's echoserver.py)."""

    def __init__(self, loop, args):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((args.host, args.port))
        self.sock.listen(4096)
        self.sock.setblocking(False)
        self.task = loop.create_task(self.accept(loop))

    async def accept(self, loop):
        # The socket is closed here, once the cancelled sock_accept has
        # removed its reader: a loop may not be handed a closed socket.
        with self.sock:
            while True:
                client, _ = await loop.sock_accept(self.sock)
                client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                client.setblocking(False)
                loop.create_task(echo_socket(loop, client))

    def close(self):
        self.task.cancel()


def sockets_server(args):
    async def start(loop):
        return SocketServer(loop, args)
    return start


SHAPES = {"protocol": lambda args: protocol_server(EchoProtocol, args),
          "streams": streams_server, "sockets": sockets_server}

if __name__ == "__main__":
    args = parse_args(__doc__.splitlines()[0], 9000, tuple(SHAPES))
    serve_forever(SHAPES[args.shape](args), args)
