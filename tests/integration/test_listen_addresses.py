"""``kto run --metrics-address`` and ``--health-address``: each server listens where it is told and nowhere else.

The kto here stands by (the session's kto holds the Lease): /healthz and /metrics are served from the start,
and a standby writes nothing. 127.0.0.2 is a loopback address of its own on Linux.
"""

from __future__ import annotations

import sys
import urllib.error
import urllib.request

import pytest

from tests.support.env import localenv
from tests.support.operator import KtoProcess
from tests.support.wait import wait_until

HEALTH, METRICS = "127.0.0.1", "127.0.0.2"


def answers(address: str, port: int, path: str) -> int | None:
    """The HTTP status ``address:port`` answers ``path`` with; None when nothing listens there."""
    try:
        with urllib.request.urlopen(f"http://{address}:{port}{path}", timeout=2) as r:
            return r.status
    except urllib.error.HTTPError as err:
        return err.code
    except OSError:
        return None


@pytest.mark.parametrize("how", ["flags", "environment"])
def test_metrics_and_health_listen_on_their_own_addresses(env, kto, tmp_path, how) -> None:
    health_port, metrics_port = localenv.free_ports(2)
    argv = [sys.executable, "-m", "kto", "run", "--health-port", str(health_port), "--metrics-port", str(metrics_port)]
    extra_env = {}
    if how == "flags":
        argv += ["--health-address", HEALTH, "--metrics-address", METRICS]
    else:
        extra_env = {"KTO_HEALTH_ADDRESS": HEALTH, "KTO_METRICS_ADDRESS": METRICS}
    standby = KtoProcess(env, tmp_path / "kto.log", argv=argv, extra_env=extra_env)
    standby.health_port = health_port
    standby.start(wait=False)
    try:
        wait_until(standby.standing_by, timeout=60, what=f"the second kto to stand by (log: {standby.log})")
        wait_until(lambda: answers(METRICS, metrics_port, "/metrics") == 200, timeout=30,
                   what=f"/metrics on {METRICS}")
        assert answers(HEALTH, metrics_port, "/metrics") is None  # not on the health address
        assert answers(HEALTH, health_port, "/healthz") == 200
        assert answers(METRICS, health_port, "/healthz") is None  # not on the metrics address
    finally:
        standby.stop()
