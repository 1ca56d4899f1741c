"""The one place conditions are built: ``Ready`` with a documented reason, ``observedGeneration`` set, and
``lastTransitionTime`` kept while the condition's status does not change."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from kto.api.reasons import Reason

READY = "Ready"
STALLED = "Stalled"
MAX_MESSAGE = 2048


def now_rfc3339(now: datetime | None = None) -> str:
    return (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")


def find(conditions: Sequence[Mapping[str, Any]] | None, type_: str = READY) -> Mapping[str, Any] | None:
    for c in conditions or ():
        if c.get("type") == type_:
            return c
    return None


def build_condition(
    previous: Sequence[Mapping[str, Any]] | None,
    status: bool | None,
    reason: Reason | str,
    message: str,
    generation: int | None,
    now: datetime,
    type_: str = READY,
) -> dict[str, Any]:
    """A metav1.Condition; its ``lastTransitionTime`` moves only when ``status`` changes."""
    value = "Unknown" if status is None else ("True" if status else "False")
    old = find(previous, type_)
    since = old["lastTransitionTime"] if old and old.get("status") == value and old.get("lastTransitionTime") \
        else now_rfc3339(now)
    if len(message) > MAX_MESSAGE:
        message = message[: MAX_MESSAGE - 3] + "..."
    cond: dict[str, Any] = {
        "type": type_,
        "status": value,
        "lastTransitionTime": since,
        "reason": str(reason),
        "message": message,
    }
    if generation is not None:
        cond["observedGeneration"] = generation
    return cond


def stalled(conditions: Sequence[Mapping[str, Any]], reason: str, after: float, now: datetime
            ) -> dict[str, Any] | None:
    """kstatus's ``Stalled`` condition for a Ready=False of ``reason`` that has lasted ``after`` seconds or more
    (None: not stalled, or not that reason): what tools that cannot read a clock (Argo CD's health checks) need
    to tell a wait from a failure."""
    ready = find(conditions)
    if ready is None or ready.get("status") != "False" or ready.get("reason") != reason:
        return None
    since = datetime.fromisoformat(str(ready["lastTransitionTime"]).replace("Z", "+00:00"))
    if (now - since).total_seconds() < after:
        return None
    return {"type": STALLED, "status": "True", "lastTransitionTime": now_rfc3339(now), "reason": reason,
            "message": f"{reason} since {ready['lastTransitionTime']} ({int(after)} s or more): "
                       f"{ready.get('message', '')}"[:MAX_MESSAGE]}


def set_condition(previous: Sequence[Mapping[str, Any]] | None, condition: dict[str, Any]) -> list[dict[str, Any]]:
    """The condition list with ``condition`` replacing the one of its type (others kept, in order)."""
    out = [dict(c) for c in previous or () if c.get("type") != condition["type"]]
    out.append(condition)
    return sorted(out, key=lambda c: (c["type"] != READY, c["type"]))
