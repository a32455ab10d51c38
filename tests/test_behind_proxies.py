"""cyreactor behind the real load balancers, from the files in deploy/:
nginx (upstream keep-alive, proxy_next_upstream) and HAProxy (plain HTTP,
health checks on the server's own /healthz) in front of three instances.
A bounded load runs through the balancer while one instance is SIGKILLed
and another SIGTERMed (draining: health 503 for a second, then a graceful
stop), and goes on until well after that one has exited; no GET may fail
at the client. Slow: run with -m slow (.ci/run's
slow job does, and installs nginx and haproxy when missing)."""
import signal
import time

import pytest
from support.balancers import HAProxyHttp, Load, Nginx
from support.reactor import wait_for

pytestmark = pytest.mark.slow

TOTAL = 200_000          # bounds: the load stops itself at either
SECONDS = 60
STEP = 2000              # requests between the events


@pytest.mark.parametrize("balancer", [Nginx, HAProxyHttp], ids=["nginx", "haproxy"])
def test_no_get_fails_while_instances_die_and_drain(demo, tmp_path, balancer, capsys):
    instances = [demo("--health-path", "/healthz", "--drain-delay", "1", "--keepalive-timeout", "75")
                 for _ in range(3)]
    with balancer(tmp_path, [d.port for d in instances]) as lb:
        load = Load(lb.port, total=TOTAL, seconds=SECONDS).start()
        try:
            wait_for(lambda: load.sent >= STEP, timeout=SECONDS)
            killed_at = load.sent
            instances[0].proc.send_signal(signal.SIGKILL)
            wait_for(lambda: load.sent >= killed_at + STEP, timeout=SECONDS)
            terminated_at = load.sent
            t0 = time.monotonic()
            instances[1].proc.send_signal(signal.SIGTERM)
            assert instances[1].proc.wait(15) == 0
            drained = time.monotonic() - t0
            exited_at = load.sent
            wait_for(lambda: load.sent >= exited_at + STEP, timeout=SECONDS)
        finally:
            load.stop()
    with capsys.disabled():
        print(f"\n{balancer.program}: {load.sent} GETs sent, {load.ok} answered 200, {load.failed} failed; "
              f"SIGKILL at #{killed_at}, SIGTERM at #{terminated_at}, that instance drained and "
              f"exited {drained:.1f} s later at #{exited_at}")
    assert load.failed == 0, load.errors[:5]
    assert load.ok == load.sent > exited_at + STEP - 10
