"""A TCP echo server on cyreactor's public API: the model of a custom handler.

    python -m cyreactor.examples.echo --host 127.0.0.1 --port 9000
    python -m cyreactor.examples.echo --ssl-certfile cert.pem --ssl-keyfile key.pem   # over TLS
"""
import argparse
import signal
import ssl

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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--ssl-certfile", help="serve TLS with this certificate chain (PEM)")
    parser.add_argument("--ssl-keyfile", help="its private key (PEM), unless the certificate file has it")
    args = parser.parse_args(argv)
    context = None
    if args.ssl_certfile:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.ssl_certfile, args.ssl_keyfile)
    with cyreactor.Reactor() as reactor:
        listener = reactor.listen(args.host, args.port, Echo, ssl=context)
        for signum in (signal.SIGINT, signal.SIGTERM):
            reactor.add_signal_handler(signum, reactor.stop)
        host, port = listener.sockname[:2]
        print(f"echo server on {host}:{port}{' (TLS)' if context else ''}", flush=True)
        reactor.run()


if __name__ == "__main__":
    main()
