"""The native demo server inside cyreactor's asyncio event loop (mixed
mode): http.serve_async on the loop that cyreactor.run() drives, next to
an asyncio task, to show what running native handlers under asyncio costs.

usage: python bench/peers/cy_mixed.py [--host 127.0.0.1] [--port 8080]
"""
import argparse
import asyncio

from _pyserve import raise_nofile

import cyreactor
from cyreactor import http


async def ticker():
    # An asyncio task sharing the loop, as an application's would.
    while True:
        await asyncio.sleep(1)


async def main(host, port):
    asyncio.get_running_loop().create_task(ticker())
    await http.serve_async(None, host=host, port=port)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args()
    raise_nofile()
    cyreactor.run(main(args.host, args.port))
