"""What the Python peers share: the --loop switch, the fd limit, SIGTERM."""
import argparse
import asyncio
import resource
import signal

LOOPS = ("asyncio", "uvloop", "cyreactor")


def parse_args(description, default_port, shapes=None):
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=default_port)
    parser.add_argument("--loop", choices=LOOPS, default="asyncio")
    if shapes:
        parser.add_argument("--shape", choices=shapes, default=shapes[0])
    return parser.parse_args()


def raise_nofile():
    """The idle-connections benchmark opens 10,000 sockets: take the hard limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def new_loop(kind):
    if kind == "uvloop":
        import uvloop

        return uvloop.new_event_loop()
    if kind == "cyreactor":
        import cyreactor

        return cyreactor.new_event_loop()
    return asyncio.new_event_loop()


def serve_forever(start, args, on_loop=None):
    """Run ``await start(loop)`` (it returns something with ``close()``: the
    server), then serve until SIGTERM or SIGINT. ``on_loop(loop)`` runs
    first, to schedule the server's own timers."""
    raise_nofile()
    loop = new_loop(args.loop)
    asyncio.set_event_loop(loop)
    if on_loop is not None:
        on_loop(loop)
    server = loop.run_until_complete(start(loop))
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, loop.stop)
    try:
        loop.run_forever()
    finally:
        server.close()
        loop.run_until_complete(asyncio.sleep(0))   # let cancellations land
        loop.close()


def protocol_server(protocol_factory, args):
    """A ``start`` for serve_forever: loop.create_server with this protocol."""
    return lambda loop: loop.create_server(protocol_factory, args.host, args.port, backlog=4096)
