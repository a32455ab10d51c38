"""A TCP echo server on cyreactor's public API: the model of a custom handler.

    python -m cyreactor.examples.echo --host 127.0.0.1 --port 9000
"""
import argparse
import signal

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
    args = parser.parse_args(argv)
    with cyreactor.Reactor() as reactor:
        listener = reactor.listen(args.host, args.port, Echo)
        for signum in (signal.SIGINT, signal.SIGTERM):
            reactor.add_signal_handler(signum, reactor.stop)
        host, port = listener.sockname[:2]
        print(f"echo server on {host}:{port}", flush=True)
        reactor.run()


if __name__ == "__main__":
    main()
