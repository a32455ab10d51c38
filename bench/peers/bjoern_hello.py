"""bjoern serving wsgi_hello.app (bjoern has no command line of its own).

usage: python bench/peers/bjoern_hello.py [--host 127.0.0.1] [--port 8080]
"""
import argparse

import bjoern

from wsgi_hello import app

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args()
    bjoern.run(app, args.host, args.port)
