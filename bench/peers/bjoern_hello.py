"""bjoern serving a WSGI app, wsgi_hello:app by default (bjoern has no
command line of its own).

usage: python bench/peers/bjoern_hello.py [--host 127.0.0.1] [--port 8080] [--app MODULE:ATTR]
"""
import argparse
import importlib

import bjoern

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--app", default="wsgi_hello:app")
    args = parser.parse_args()
    module, _, attr = args.app.partition(":")
    bjoern.run(getattr(importlib.import_module(module), attr), args.host, args.port)
