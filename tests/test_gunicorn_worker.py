"""``gunicorn -k cyreactor.gunicorn.Worker``: gunicorn's process management
around cyreactor's server (tests/apps, tests/support/appserver.py): its
signals, max_requests, graceful_timeout, threads, and the ASGI lifespan in
each worker. The apps' own behaviour under the worker is in
tests/test_app_frameworks.py."""
import json
import signal
import threading
import time

import pytest
import requests
from support.appserver import AppServer

pytest.importorskip("gunicorn")


def pid(server):
    return requests.get(server.url + "/pid", timeout=10, headers={"Connection": "close"}).text


def test_max_requests_recycles_the_worker():
    s = AppServer("raw_asgi:app", "--max-requests", "5", kind="gunicorn")
    try:
        first = pid(s)
        seen = {first}
        deadline = time.monotonic() + 15
        while len(seen) < 2 and time.monotonic() < deadline:
            try:
                seen.add(pid(s))
            except requests.ConnectionError:
                time.sleep(0.05)        # between the old worker and the new one
        assert len(seen) >= 2, "the worker was not replaced after max_requests"
    finally:
        assert s.stop() == 0


def test_sigterm_finishes_the_request_in_flight():
    s = AppServer("raw_asgi:app", "--graceful-timeout", "10", kind="gunicorn")
    result = {}

    def slow():
        result["r"] = requests.get(s.url + "/slow?s=0.8", timeout=10)

    t = threading.Thread(target=slow)
    t.start()
    time.sleep(0.3)
    code = s.stop(signal.SIGTERM)
    t.join(10)
    assert code == 0
    assert result["r"].status_code == 200 and result["r"].text == "/slow?s=0.8"


def test_the_lifespan_runs_in_the_worker():
    s = AppServer("raw_asgi:app", kind="gunicorn")
    try:
        scope = requests.get(s.url + "/scope", timeout=10).json()
        assert scope["state"]["started"] is True
    finally:
        assert s.stop() == 0


def test_wsgi_threads_come_from_gunicorn():
    s = AppServer("raw_wsgi:app", "--threads", "4", kind="gunicorn")
    try:
        env = requests.get(s.url + "/environ", timeout=10).json()
        assert env["wsgi.multithread"] is True and env["thread"].startswith("cyreactor-wsgi")
    finally:
        assert s.stop() == 0
