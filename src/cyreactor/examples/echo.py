"""A TCP echo server on cyreactor's public API: the model of a custom handler.

    python -m cyreactor.examples.echo --host 127.0.0.1 --port 9000
    python -m cyreactor.examples.echo --ssl-certfile cert.pem --ssl-keyfile key.pem   # over TLS
    python -m cyreactor.examples.echo --buffered      # receives into its own buffer

``Echo`` receives each read as a new ``bytes`` (``data_received``);
``BufferedEcho`` has the reactor receive straight into a buffer it owns
(``get_buffer``/``buffer_updated``, asyncio's ``BufferedProtocol``), so no
object is made per read. ``write()`` copies only what the kernel does not
take at once, which is what makes reusing the buffer safe.
"""
import argparse
import signal
import ssl
import threading

import cyreactor


class Echo(cyreactor.Handler):
    """Sends every byte back. Stops reading while the peer is not reading."""

    def connection_made(self, conn):
        self.conn = conn

    def data_received(self, data):
        self.conn.write(data)

    def pause_writing(self):
        self.conn.pause_reading()

    def resume_writing(self):
        self.conn.resume_reading()


_per_thread = threading.local()


def _thread_buffer(size=256 * 1024):
    # One buffer serves every connection of a reactor's thread: handlers run
    # one at a time there, and write() has copied whatever the kernel did
    # not take by the time buffer_updated() returns.
    view = getattr(_per_thread, "view", None)
    if view is None:
        view = _per_thread.view = memoryview(bytearray(size))
    return view


class BufferedEcho(Echo):
    """Echo without a ``bytes`` per read."""

    def connection_made(self, conn):
        self.conn = conn
        self.view = _thread_buffer()

    def get_buffer(self, sizehint):
        return self.view

    def buffer_updated(self, nbytes):
        self.conn.write(self.view[:nbytes])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--ssl-certfile", help="serve TLS with this certificate chain (PEM)")
    parser.add_argument("--ssl-keyfile", help="its private key (PEM), unless the certificate file has it")
    parser.add_argument("--buffered", action="store_true",
                        help="receive into the handler's own buffer (get_buffer/buffer_updated)")
    parser.add_argument("--read-buffer-size", type=int, default=None,
                        help="the reactor's shared read buffer, bytes (default: the Reactor's)")
    args = parser.parse_args(argv)
    context = None
    if args.ssl_certfile:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.ssl_certfile, args.ssl_keyfile)
    sizing = {} if args.read_buffer_size is None else {"read_buffer_size": args.read_buffer_size}
    with cyreactor.Reactor(**sizing) as reactor:
        listener = reactor.listen(args.host, args.port, BufferedEcho if args.buffered else Echo, ssl=context)
        for signum in (signal.SIGINT, signal.SIGTERM):
            reactor.add_signal_handler(signum, reactor.stop)
        host, port = listener.sockname[:2]
        print(f"echo server on {host}:{port}{' (TLS)' if context else ''}", flush=True)
        reactor.run()


if __name__ == "__main__":
    main()
