"""Runs CPython's own asyncio test suite (``test.test_asyncio``) against
cyreactor's event loop, and against the stock loop for comparison.

Every loop the suite makes is a ``cyreactor.Loop``: ``asyncio.new_event_loop()``
and ``asyncio.Runner`` through the default policy's loop factory, and the
mixin test classes' ``create_event_loop()`` through ``asyncio.SelectorEventLoop``
(the selector argument they pass is ignored: the reactor does the selecting).
The variants that differ only by selector (poll, select) are dropped: with
the selector ignored they would run the same tests again.

Each module runs in its own interpreter, with a watchdog, so a hang costs
one module. Tests that inspect the stock loop's internals (its selector, its
``_ready`` deque, its self-pipe, mocked selectors) cannot say anything about
another loop; they are listed in ``INTERNALS`` with the reason and skipped.

    python scripts/asyncio_suite.py                     # cyreactor's loop, summary
    python scripts/asyncio_suite.py --loop stock        # the stock loop
    python scripts/asyncio_suite.py --compare           # both; lists what fails only on ours
    python scripts/asyncio_suite.py -m test_streams -v  # one module, failures in full
"""
import argparse
import fnmatch
import json
import os
import subprocess
import sys
import time

MODULES = [
    "test_buffered_proto", "test_context", "test_events", "test_futures", "test_futures2",
    "test_locks", "test_pep492", "test_protocols", "test_queues", "test_runners", "test_sendfile",
    "test_server", "test_sock_lowlevel", "test_ssl", "test_sslproto", "test_streams",
    "test_subprocess", "test_taskgroups", "test_tasks", "test_threads", "test_timeouts",
    "test_transports", "test_unix_events", "test_waitfor",
]

# Test classes that repeat another class's tests with a different selector.
SELECTOR_VARIANTS = ["*.PollEventLoopTests.*", "*.SelectEventLoopTests.*", "*.KqueueEventLoopTests.*"]

# (test id pattern, reason): tests of the stock loop's implementation, not
# of the event loop interface.
INTERNALS = [
    ("test_unix_events.SelectorEventLoopSignalTests.*",
     "mocks the signal module and inspects _signal_handlers / the self-pipe"),
    ("test_unix_events.UnixReadPipeTransportTests.*", "drives _UnixReadPipeTransport with a mock loop"),
    ("test_unix_events.UnixWritePipeTransportTests.*", "drives _UnixWritePipeTransport with a mock loop"),
    ("test_unix_events.*ChildWatcher*", "child watchers with a mock loop"),
    ("test_unix_events.SelectorEventLoopUnixSockSendfileTests.*",
     "calls the stock loop's private _sock_sendfile_native with mocked os.sendfile"),
    ("test_sslproto.SslProtoHandshakeTests.*", "SSLProtocol with a mock loop and transport"),
    ("test_subprocess.SubprocessTransportTests.*", "BaseSubprocessTransport with a mock loop"),
    ("test_events.*.test_internal_fds", "counts the stock loop's self-pipe descriptors (_internal_fds)"),
    ("test_events.HandleTests.*", "asyncio.Handle itself, with a mock loop"),
    ("test_events.TimerTests.*", "asyncio.TimerHandle itself, with a mock loop"),
    ("test_events.AbstractEventLoopTests.*", "the abstract base class's NotImplementedError stubs"),
    ("test_events.PolicyTests.*", "the stock policy objects"),
    ("test_transports.*", "the abstract transport base classes"),
    ("test_protocols.*", "the abstract protocol base classes"),
]

WATCHDOG = 300          # seconds per module


def install_cyreactor_loop():
    import asyncio
    from asyncio import unix_events

    import cyreactor

    class CountedLoop(cyreactor.Loop):
        made = 0

        def __init__(self):
            super().__init__()
            CountedLoop.made += 1

    def selector_loop(selector=None):
        if selector is not None:
            selector.close()
        return CountedLoop()

    unix_events._UnixDefaultEventLoopPolicy._loop_factory = CountedLoop
    asyncio.SelectorEventLoop = selector_loop
    unix_events.SelectorEventLoop = selector_loop
    return CountedLoop


def _matches(test_id, patterns):
    short = test_id.replace("test.test_asyncio.", "")
    return any(fnmatch.fnmatch(short, p) for p in patterns)


def run_module(module, loop, verbose):
    """In the child: runs one module, prints a JSON summary line."""
    import faulthandler
    import unittest

    faulthandler.dump_traceback_later(WATCHDOG, exit=True)
    counted = install_cyreactor_loop() if loop == "cyreactor" else None
    from test import support
    support.requires = lambda *args, **kwargs: None      # allow the 'network'-resource tests on loopback
    suite = unittest.defaultTestLoader.loadTestsFromName(f"test.test_asyncio.{module}")
    kept = unittest.TestSuite()
    internal = []

    def walk(s):
        for t in s:
            if isinstance(t, unittest.TestSuite):
                walk(t)
            elif _matches(t.id(), SELECTOR_VARIANTS):
                continue
            elif _matches(t.id(), [p for p, _ in INTERNALS]):
                internal.append(t.id())
            else:
                kept.addTest(t)

    walk(suite)
    stream = sys.stderr if verbose else open(os.devnull, "w")
    result = unittest.TextTestRunner(stream=stream, verbosity=2 if verbose else 0).run(kept)
    print(json.dumps({
        "module": module,
        "run": result.testsRun,
        "failed": sorted(t.id() for t, _ in result.failures + result.errors),
        "skipped": len(result.skipped),
        "internal": len(internal),
        "loops": counted.made if counted is not None else None,
    }))


def run_all(loop, modules, verbose):
    results = {}
    for module in modules:
        start = time.monotonic()
        proc = subprocess.run([sys.executable, __file__, "--child", module, "--loop", loop]
                              + (["-v"] if verbose else []),
                              capture_output=not verbose, text=True, timeout=WATCHDOG + 60)
        lines = [line for line in (proc.stdout or "").splitlines() if line.startswith("{")]
        if lines:
            summary = json.loads(lines[-1])
        else:
            summary = {"module": module, "run": 0, "failed": [f"{module}: crashed or hung (rc {proc.returncode})"],
                       "skipped": 0, "internal": 0}
        summary["seconds"] = round(time.monotonic() - start, 1)
        results[module] = summary
        print(f"{loop:9} {module:20} run {summary['run']:4}  failed {len(summary['failed']):3}  "
              f"skipped {summary['skipped']:3}  internals {summary['internal']:3}  "
              f"{summary['seconds']:6.1f}s" + (f"  cyreactor loops made {summary['loops']}"
                                               if summary.get("loops") is not None else ""), flush=True)
    return results


def totals(results):
    return {key: sum(len(r[key]) if key == "failed" else r[key] for r in results.values())
            for key in ("run", "failed", "skipped", "internal")}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--loop", choices=["cyreactor", "stock"], default="cyreactor")
    ap.add_argument("--compare", action="store_true", help="run both loops; list what fails only on ours")
    ap.add_argument("-m", "--module", action="append", help="only these modules")
    ap.add_argument("-v", "--verbose", action="store_true")
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return run_module(args.child, args.loop, args.verbose)
    modules = args.module or MODULES
    loops = ["stock", "cyreactor"] if args.compare else [args.loop]
    results = {loop: run_all(loop, modules, args.verbose) for loop in loops}
    for loop in loops:
        t = totals(results[loop])
        print(f"{loop}: {t['run']} run, {t['run'] - t['failed'] - t['skipped']} passed, {t['failed']} failed, "
              f"{t['skipped']} skipped, {t['internal']} stock-internals tests not run")
    if args.compare:
        stock = {f for r in results["stock"].values() for f in r["failed"]}
        ours = sorted({f for r in results["cyreactor"].values() for f in r["failed"]} - stock)
        print(f"fail on cyreactor only ({len(ours)}):")
        for test_id in ours:
            print("  ", test_id)
    else:
        for r in results[loops[0]].values():
            for test_id in r["failed"]:
                print("  FAILED", test_id)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
