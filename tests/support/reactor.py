"""Running a reactor under test: an exception-handler log the fixtures check,
a reactor on a thread for blocking clients, and polling helpers."""
import threading
import time


class ErrorLog:
    """Collects what the reactor hands its exception handler."""

    def __init__(self):
        self.contexts = []
        self.expected = 0

    def __call__(self, reactor, context):
        self.contexts.append(context)

    def expect(self, count=1):
        self.expected += count


class ReactorThread:
    """Runs ``reactor.run()`` on a daemon thread; ``call(fn, *args,
    **kwargs)`` runs fn on the reactor's thread and returns its result."""

    def __init__(self, reactor):
        self.reactor = reactor
        self.thread = threading.Thread(target=self._run, name="reactor", daemon=True)
        self.error = None

    def _run(self):
        try:
            # An asyncio loop (cyreactor.Loop) runs as one, so that it is
            # the thread's running loop.
            getattr(self.reactor, "run_forever", self.reactor.run)()
        except BaseException as exc:  # surfaced by stop()
            self.error = exc

    def start(self):
        self.thread.start()
        return self

    def call(self, fn, *args, timeout=10, **kwargs):
        done = threading.Event()
        box = {}

        def run():
            try:
                box["value"] = fn(*args, **kwargs)
            except BaseException as exc:
                box["error"] = exc
            done.set()

        self.reactor.call_soon_threadsafe(run)
        assert done.wait(timeout), "the reactor did not run the call in time"
        if "error" in box:
            raise box["error"]
        return box.get("value")

    def stop(self):
        if self.thread.is_alive():
            self.reactor.call_soon_threadsafe(self.reactor.stop)
            self.thread.join(10)
            assert not self.thread.is_alive(), "reactor thread did not stop"
        if self.error is not None:
            raise self.error


def wait_for(predicate, timeout=5.0):
    """Polls ``predicate`` (state a reactor thread changes) until true."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)
    return True


def run_until(reactor, predicate, timeout=5.0):
    """Runs ``reactor`` on this thread until ``predicate`` is true."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        reactor.run_once(0.05)
