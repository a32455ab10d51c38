"""Instructions the reactor spends per event, counted by callgrind (repeatable
on a busy machine, unlike time): 50 connections each receive one byte per
round, 400 rounds, a Python handler that counts; everything inside
Reactor._run_once is counted (dispatch, recv, the handler call).

    python bench/dispatch_instructions.py                 # this tree's build
    python bench/dispatch_instructions.py --src OTHER/src # another build, to compare

Needs valgrind (Debian package).
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

WORKLOAD = """
import socket, cyreactor
N, ROUNDS = 50, 400
r = cyreactor.Reactor()
seen = [0]
class H(cyreactor.Handler):
    def data_received(self, data):
        seen[0] += 1
l = r.listen("127.0.0.1", 0, H)
clients = [socket.create_connection(l.sockname) for _ in range(N)]
while r.stats()["open"] < N:
    r.run_once(0.01)
for _ in range(ROUNDS):
    for c in clients:
        c.send(b"x")
    target = seen[0] + N
    while seen[0] < target:
        r.run_once(1)
print(r.stats()["events"])
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", default=os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "callgrind.out")
        env = dict(os.environ, PYTHONPATH=args.src)
        proc = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                               "--toggle-collect=*Reactor__run_once*", os.path.realpath(sys.executable),
                               "-c", WORKLOAD], capture_output=True, text=True, env=env, check=True)
        events = int(proc.stdout.split()[-1])
        total = int(re.search(r"I\s+refs:\s+([\d,]+)", proc.stderr).group(1).replace(",", ""))
    print(f"{total:,} instructions in Reactor._run_once for {events:,} events: {total / events:.0f} per event")


if __name__ == "__main__":
    main()
