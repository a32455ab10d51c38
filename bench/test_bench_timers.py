"""Timer scheduling: call_later + cancel of 10,000 timers, and 10,000
call_soon callbacks run, on cyreactor's Reactor vs asyncio and uvloop loops.
Each benchmarked call ends with one loop pass, so every loop also pays for
dropping its cancelled timers (asyncio removes them lazily, in that pass).

    pytest bench/test_bench_timers.py --benchmark-only
"""
import pytest

from _benchutil import LOOP_KINDS, Loop, _bench_process  # noqa: F401

COUNT = 10_000


@pytest.fixture(params=LOOP_KINDS)
def loop(request):
    lp = Loop(request.param)
    yield lp
    lp.close()


def noop():
    pass


def test_call_later_cancel(benchmark, loop):
    benchmark.group = f"call_later + cancel x{COUNT:,}"
    # Distinct deadlines, far in the future, so the heap does real work.
    delays = [60.0 + i * 1e-4 for i in range(COUNT)]

    def schedule_and_cancel():
        handles = [loop.call_later(d, noop) for d in delays]
        for h in handles:
            h.cancel()
        loop.run_one_pass()

    benchmark(schedule_and_cancel)


def test_call_soon_run(benchmark, loop):
    benchmark.group = f"call_soon x{COUNT:,} then run them"
    ran = [0]

    def count():
        ran[0] += 1

    def schedule_and_run():
        for _ in range(COUNT):
            loop.call_soon(count)
        loop.run_one_pass()

    benchmark(schedule_and_run)
    assert ran[0] and ran[0] % COUNT == 0
