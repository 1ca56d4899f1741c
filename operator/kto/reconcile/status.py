"""Status: built through the typed models of ``kto.models``, merge-patched only when it changed.

The condition comes from the one builder in ``kto.conditions``; which failures deserve an Event is decided
here (``is_news``) for every kind.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel

from kto.api.conditions import build_condition, set_condition
from kto.api.objects import key_of
from kto.api.reasons import Reason
from kto.kube.client import KubeClient
from kto.reconcile.outcomes import Verdict
from kto.telemetry import metrics

Clock = Callable[[], datetime]


def condition_status(old: Mapping[str, Any], body: Mapping[str, Any], ready: bool | None, reason: Reason | str,
                     message: str, now: datetime) -> dict[str, Any]:
    """``observedGeneration`` and the conditions with ``Ready`` set (its transition time kept while it holds)."""
    generation = body["metadata"].get("generation")
    cond = build_condition(old.get("conditions"), ready, reason, message, generation, now)
    return {"observedGeneration": generation, "conditions": set_condition(old.get("conditions"), cond)}


def is_news(verdict: Verdict, old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> bool:
    """A failure worth an Event: new or changed (retries of the same failure stay quiet); not the states a
    person chose (paused, observe only, replicas moving as asked), not a short wait (under a second), not a
    KafkaCluster that cannot be reached (its own status and Event say so, once, not once per resource)."""
    if verdict.ready is True or verdict.reason in (Reason.PAUSED, Reason.UNMANAGED, Reason.REPLICAS_CHANGING,
                                                   Reason.CLUSTER_NOT_READY):
        return False
    if isinstance(verdict.retry, float | int) and verdict.retry < 1:
        return False
    return old is None or old.get("reason") != new["reason"] or old.get("message") != new["message"]


def same_status(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    return {k: v for k, v in old.items() if v is not None} == {k: v for k, v in new.items() if v is not None}


class StatusWriter:
    """Writes a status when, and only when, it differs from what the object shows."""

    def __init__(self, kube: KubeClient, clock: Clock | None = None):
        self.kube = kube
        self.clock: Clock = clock or (lambda: datetime.now(UTC))

    async def patch(self, plural: str, body: dict[str, Any], model: type[BaseModel], status: dict[str, Any]) -> None:
        """Validate ``status`` with the kind's status model and merge-patch it; keys that disappeared are
        removed explicitly."""
        status = model.model_validate(status).model_dump(exclude_none=True)
        old = body.get("status") or {}
        if same_status(old, status):
            return
        patch = {**{k: None for k in old if k not in status}, **status}
        ns, name = key_of(body)
        version = await self.kube.patch_status(plural, ns, name, patch)
        if version:
            metrics.KUBE_WRITES.labels("status").inc()
            body["status"] = status
            body["metadata"]["resourceVersion"] = version  # a finalizer patch guarded by it must see this one
