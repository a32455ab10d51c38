"""bench/load.py's parts, one concern per module:

registry  the peers and suites of bench/peers/peers.toml
cases     what a mode measures: the load, its parameters, the case keys
procs     a server process (pinned, its process tree's CPU and RSS) and the clients
meter     one measured window: the server's CPU, the client's, everyone else's
loads     the load generators: wrk, c_echoclient, idle connections
tls       the certificates made per run
machine   versions of everything measured, the machine
report    medians, per-round ratios, tables, charts, JSON, the docs sections

The facts every part shares are here.
"""
import os

BENCH = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO = os.path.dirname(BENCH)
SRC = os.path.join(REPO, "src")
PEERS = os.path.join(BENCH, "peers")
PEER_BIN = os.path.join(PEERS, "bin")
REGISTRY = os.path.join(PEERS, "peers.toml")

HOST = "127.0.0.1"
# The server on CPU 0, the load generator on CPU 1: on a 2-core machine
# neither steals the other's core.
SERVER_CPUS = "0"
CLIENT_CPU = 1
