"""/healthz: what it answers for a standby, a healthy leader and a leader with problems; the check registry."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

import pytest
from kto.ops import health
from kto.ops.health import HealthServer, report


@dataclass
class FakeLeadership:
    leading: bool = True
    leading_since: float | None = 100.0
    lease_problem: str | None = None
    details: dict[str, Any] = field(default_factory=lambda: {"leaderElection": True, "identity": "kto-a_1"})

    def problem(self) -> str | None:
        return self.lease_problem

    def describe(self) -> dict[str, Any]:
        return self.details


def no_checks() -> dict[str, str]:
    return {}


def queue_stuck() -> dict[str, str]:
    return {"queue ns/kafka": "a batch has been running for 400s"}


@pytest.mark.parametrize("leadership, started, now, checks, code, problems", [
    # A standby is healthy whatever the checks say (it runs none).
    (FakeLeadership(leading=False, leading_since=None), False, 500.0, queue_stuck, 200, {}),
    (FakeLeadership(leading=False, leading_since=None, lease_problem="x"), False, 500.0, no_checks, 200, {}),
    # A leader: healthy while starting, and once started with nothing wrong.
    (FakeLeadership(), False, 150.0, no_checks, 200, {}),
    (FakeLeadership(), True, 5000.0, no_checks, 200, {}),
    # ... unhealthy when its Lease was not renewed in time, when startup takes too long, or a check says so.
    (FakeLeadership(lease_problem="the leader Lease was last renewed 16s ago (it lasts 15s)"), True, 200.0,
     no_checks, 500, {"lease": "the leader Lease was last renewed 16s ago (it lasts 15s)"}),
    (FakeLeadership(), False, 221.0, no_checks, 500,
     {"startup": "kto has not finished starting 121s after it took the lead"}),
    (FakeLeadership(), True, 221.0, queue_stuck, 500, queue_stuck()),
])
def test_report(leadership, started: bool, now: float, checks, code: int, problems: dict[str, str]) -> None:
    got_code, body = report(leadership, started, now, checks=checks)
    assert (got_code, body["problems"]) == (code, problems)
    assert body["leader"] is leadership.leading and body["started"] is started
    assert body["identity"] == "kto-a_1"  # what the leader election says about itself comes along


def test_registered_checks_run_and_a_broken_one_is_a_problem() -> None:
    health.register("fine", lambda: None)
    health.register("wedged", lambda: "the watch is dead")
    health.register("broken", lambda: 1 / 0)
    try:
        assert health.run_checks() == {"wedged": "the watch is dead",
                                       "broken": "the check failed: ZeroDivisionError: division by zero"}
        health.register("wedged", lambda: None)  # replaced
        health.unregister("broken")
        health.unregister("never-registered")
        assert health.run_checks() == {}
    finally:
        for name in ("fine", "wedged", "broken"):
            health.unregister(name)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(port: int) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


async def test_the_server_answers_json() -> None:
    import asyncio

    port, leadership, started = free_port(), FakeLeadership(), [False]
    server = HealthServer("127.0.0.1", port, leadership, lambda: started[0], monotonic=lambda: 110.0)
    await server.start()
    try:
        code, body = await asyncio.to_thread(get, port)
        assert (code, body["leader"], body["started"], body["problems"]) == (200, True, False, {})
        leadership.lease_problem = "the leader Lease was last renewed 15s ago (it lasts 15s)"
        code, body = await asyncio.to_thread(get, port)
        assert (code, body["problems"]) == (500, {"lease": leadership.lease_problem})
    finally:
        await server.stop()
