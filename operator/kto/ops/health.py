"""kto's own health endpoint (``GET /healthz``, served from the start of ``kto run``) and the checks the rest of
kto registers for it.

The answer is JSON: ``{"leader": bool, "started": bool, "problems": {name: text}, ...}`` plus what the leader
election says about itself (``lease``, ``identity``, ``holder``, ``renewedSecondsAgo``, ``leaderElection``).
- 200 while the process stands by (it has nothing to do but wait for the Lease), and while it leads with no
  problem;
- 500 while it leads and something is wrong: the Lease was not renewed within the renew deadline; kto's startup (the
  LIST of every object, then the watches) has not finished ``STARTUP_GRACE`` seconds after it took the lead; or
  a registered check reports a problem.
The Deployment's liveness and readiness probes both use it: a leader that fails is restarted and a standby
takes over.

A check is a function that returns a problem (a short sentence) or None; it runs on the event loop at every
request, so it must be quick and must not block. For example, a check that a cluster's batch queue is not
stuck::

    health.register(f"queue {cluster}", lambda: (f"a batch has been running for {queue.busy_for():.0f}s"
                                                 if queue.busy_for() > 300 else None))

and ``health.unregister(name)`` when the queue goes away.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

from aiohttp import web

log = logging.getLogger("kto.ops.health")

Check = Callable[[], str | None]
STARTUP_GRACE = 120.0  # seconds a leader may take to start before /healthz says so

_checks: dict[str, Check] = {}


def register(name: str, check: Check) -> None:
    """Add (or replace) the check ``name``; /healthz fails while the process leads and it returns a problem."""
    _checks[name] = check


def unregister(name: str) -> None:
    _checks.pop(name, None)


def run_checks() -> dict[str, str]:
    """The problems the registered checks report now, by check name; a check that raises is a problem too."""
    found: dict[str, str] = {}
    for name, check in list(_checks.items()):
        try:
            problem = check()
        except Exception as err:  # noqa: BLE001 - a broken check must show, not break /healthz
            problem = f"the check failed: {type(err).__name__}: {err}"
        if problem:
            found[name] = problem
    return found


class Leadership(Protocol):
    """What /healthz needs from leader election (``leader.LeaderElector``, or ``leader.Unelected``)."""

    @property
    def leading(self) -> bool: ...

    @property
    def leading_since(self) -> float | None: ...

    def problem(self) -> str | None: ...

    def describe(self) -> dict[str, Any]: ...


def report(leadership: Leadership, started: bool, now: float, checks: Callable[[], dict[str, str]] = run_checks,
           grace: float = STARTUP_GRACE) -> tuple[int, dict[str, Any]]:
    """The status code and body of /healthz. A standby is healthy and runs no checks."""
    problems: dict[str, str] = {}
    if leadership.leading:
        if (lease := leadership.problem()) is not None:
            problems["lease"] = lease
        since = leadership.leading_since
        if not started and since is not None and now - since > grace:
            problems["startup"] = f"kto has not finished starting {now - since:.0f}s after it took the lead"
        problems |= checks()
    body = {"leader": leadership.leading, "started": started, "problems": problems, **leadership.describe()}
    return (500 if problems else 200), body


class HealthServer:
    """``GET /healthz`` on ``address:port``, on the event loop (a stuck loop answers nothing, which fails the
    liveness probe too)."""

    def __init__(self, address: str, port: int, leadership: Leadership, started: Callable[[], bool],
                 monotonic: Callable[[], float] = time.monotonic):
        self.address, self.port = address, port
        self.leadership, self.started, self._mono = leadership, started, monotonic
        self._runner: web.AppRunner | None = None

    async def _healthz(self, _request: web.Request) -> web.Response:
        code, body = report(self.leadership, self.started(), self._mono())
        if code != 200:
            log.warning("Unhealthy problems=%s", "; ".join(f"{k}: {v}" for k, v in body["problems"].items()))
        return web.json_response(body, status=code)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.address, self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
