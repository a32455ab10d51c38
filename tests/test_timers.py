"""Timers and callbacks on the reactor's monotonic clock."""
import threading
import time

import pytest
from support.reactor import run_until

import cyreactor


def test_call_later_runs_in_deadline_order(reactor):
    fired = []
    for delay, name in [(0.05, "c"), (0.01, "a"), (0.03, "b"), (0.03, "b2")]:
        reactor.call_later(delay, fired.append, name)
    run_until(reactor, lambda: len(fired) == 4)
    assert fired == ["a", "b", "b2", "c"]  # equal deadlines keep scheduling order


def test_call_soon_runs_in_order_before_timers(reactor):
    fired = []
    reactor.call_later(0, fired.append, "timer")
    reactor.call_soon(fired.append, 1)
    reactor.call_soon(fired.append, 2)
    run_until(reactor, lambda: len(fired) == 3)
    assert fired[:2] == [1, 2]


def test_cancelled_timer_never_runs(reactor):
    fired = []
    handle = reactor.call_later(0.02, fired.append, "no")
    keep = reactor.call_later(0.04, fired.append, "yes")
    handle.cancel()
    handle.cancel()
    assert handle.cancelled() and not keep.cancelled()
    run_until(reactor, lambda: fired)
    time.sleep(0.03)
    reactor.run_once(0)
    assert fired == ["yes"]


def test_timers_never_fire_early_and_are_not_late(reactor):
    lateness = []

    def check(due):
        now = time.monotonic()
        assert now >= due - 1e-4, "timer fired early"
        lateness.append(now - due)

    for delay in (0.001, 0.01, 0.02, 0.05, 0.1):
        reactor.call_later(delay, check, time.monotonic() + delay)
    run_until(reactor, lambda: len(lateness) == 5)
    assert max(lateness) < 0.05, lateness


def test_call_at_uses_reactor_time(reactor):
    fired = []
    when = reactor.time() + 0.02
    handle = reactor.call_at(when, fired.append, "x")
    assert handle.when() == pytest.approx(when)
    run_until(reactor, lambda: fired)
    assert reactor.time() >= when


def test_many_cancelled_timers_are_compacted(reactor):
    handles = [reactor.call_later(100, print) for _ in range(10_000)]
    for h in handles:
        h.cancel()
    assert reactor.stats()["timers"] == 0
    reactor.run_once(0)


def test_call_soon_threadsafe_wakes_a_sleeping_reactor(reactor):
    fired = threading.Event()
    reactor.call_later(30, lambda: None)  # the reactor would sleep 30 s

    def other_thread():
        time.sleep(0.1)
        reactor.call_soon_threadsafe(fired.set)

    t = threading.Thread(target=other_thread)
    t.start()
    start = time.monotonic()
    reactor.run_once()  # woken by the eventfd, not the 30 s timer
    t.join()
    assert fired.is_set()
    assert time.monotonic() - start < 5


def test_stop_from_another_thread(reactor):
    t = threading.Timer(0.1, reactor.call_soon_threadsafe, args=(reactor.stop,))
    t.start()
    start = time.monotonic()
    reactor.run()
    assert time.monotonic() - start < 5
    assert not reactor.is_running()


def test_raising_callback_is_reported_and_loop_continues(reactor, errors):
    fired = []
    errors.expect(1)

    def bad():
        raise ValueError("boom")

    reactor.call_soon(bad)
    reactor.call_soon(fired.append, "after")
    run_until(reactor, lambda: fired)
    assert len(errors.contexts) == 1
    assert isinstance(errors.contexts[0]["exception"], ValueError)
    assert reactor.stats()["callback_errors"] == 1


def test_default_exception_handler_logs_traceback(caplog):
    with cyreactor.Reactor() as reactor:
        def bad():
            raise ValueError("logged boom")

        reactor.call_soon(bad)
        with caplog.at_level("ERROR", logger="cyreactor"):
            reactor.run_once(0)
    assert any(r.name == "cyreactor" and r.exc_info and "logged boom" in str(r.exc_info[1])
               for r in caplog.records)
    assert "Traceback" in caplog.text


def test_keyboard_interrupt_in_callback_stops_run_and_is_reraised(reactor):
    def interrupt():
        raise KeyboardInterrupt

    later = []
    reactor.call_soon(interrupt)
    reactor.call_later(0.5, later.append, 1)
    with pytest.raises(KeyboardInterrupt):
        reactor.run()
    assert not reactor.is_running() and not later


def test_non_callable_is_refused(reactor):
    with pytest.raises(TypeError):
        reactor.call_soon(42)
    with pytest.raises(TypeError):
        reactor.call_later(1, "nope")
