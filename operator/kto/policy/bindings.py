"""KafkaPolicies as kto keeps them: each policy's ValidatingAdmissionPolicyBinding created and updated in step with
it (deleted with it by Kubernetes' garbage collector: the binding is owned by the policy), its status written, and
the parsed policies handed to the topic kind (``policies_for``).

The wiring (``kto.app``) owns one ``PolicyBindings``; ``kto.handlers`` feeds it kopf's KafkaPolicy events. Each
policy is synced by one task at a time (a lock per name), always from the latest object kto saw.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from kto.api import names
from kto.api.conditions import build_condition, set_condition
from kto.api.policy import KafkaPolicySpec, KafkaPolicyStatus
from kto.kube.client import KubeClient
from kto.policy.admission import binding_name, build_binding, plan_binding
from kto.policy.rules import Applied, selects
from kto.telemetry import logs

log = logging.getLogger("kto.policy")

BOUND, BINDING_CONFLICT, INVALID_SPEC, BINDING_FAILED = "Bound", "BindingConflict", "InvalidSpec", "BindingFailed"


class PolicyBindings:
    def __init__(self, kube: KubeClient, clock: Callable[[], datetime] | None = None):
        self.kube = kube
        self.clock = clock or (lambda: datetime.now(UTC))
        self.specs: dict[str, KafkaPolicySpec] = {}  # the valid policies, by name
        self._bodies: dict[str, dict[str, Any]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.listeners: list[Callable[[], None]] = []  # told when the policies in force change

    def __len__(self) -> int:
        return len(self.specs)

    def policies_for(self, namespace: str, labels: Mapping[str, str] | None = None) -> list[Applied]:
        """The valid policies that choose ``namespace`` (by name, or by its ``labels`` when they are known)."""
        return [Applied(name, spec) for name, spec in sorted(self.specs.items()) if selects(spec, namespace, labels)]

    def event(self, type_: str | None, body: Mapping[str, Any]) -> None:
        meta = body.get("metadata", {})
        name = meta.get("name")
        if not name:
            return
        before = self.specs.get(name)
        if type_ == "DELETED" or meta.get("deletionTimestamp"):
            self._bodies.pop(name, None)
            self.specs.pop(name, None)
        else:
            self._bodies[name] = dict(body)
            try:
                self.specs[name] = KafkaPolicySpec.model_validate(body.get("spec") or {})
            except ValidationError:
                self.specs.pop(name, None)
        if self.specs.get(name) != before:
            for listener in self.listeners:
                listener()
        task = asyncio.get_running_loop().create_task(self._sync_logged(name), name=f"policy-{name}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _sync_logged(self, name: str) -> None:
        try:
            async with self._locks.setdefault(name, asyncio.Lock()):
                await self.sync(name)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.warning("Syncing the KafkaPolicy's binding failed", extra=logs.fields(names.POLICY_KIND, ("", name)),
                        exc_info=True)

    async def sync(self, name: str) -> None:
        """Make the policy's binding what the policy says (or delete it with the policy); write its status."""
        body = self._bodies.get(name)
        bname = binding_name(name)
        existing = await self.kube.read_policy_binding(bname)
        if body is None:
            # Deleted: Kubernetes' garbage collector deletes the binding with its owner (kto deletes no Kubernetes
            # object, and has no right to).
            return
        spec = self.specs.get(name)
        if spec is None:
            try:
                KafkaPolicySpec.model_validate(body.get("spec") or {})
            except ValidationError as err:
                await self._status(body, False, INVALID_SPEC, f"the spec is invalid: {err}", None)
            return
        desired = build_binding(body, spec)
        plan = plan_binding(desired, existing, body["metadata"]["uid"])
        if plan.action == "conflict":
            await self._status(body, False, BINDING_CONFLICT, f"a ValidatingAdmissionPolicyBinding {bname} exists "
                               "and this policy does not own it: kto does not change it; delete or rename it", None)
            return
        try:
            if plan.action != "keep":
                await self.kube.write_policy_binding(desired, plan.resource_version)
                log.info("Wrote the KafkaPolicy's binding", extra=logs.fields(names.POLICY_KIND, ("", name),
                                                                              detail=plan.action))
        except Exception as err:  # the apiserver's refusal (kube.client raises the kubernetes client's ApiException)
            why = " ".join(str(getattr(err, a, "") or "") for a in ("reason", "body")).strip() or str(err)
            await self._status(body, False, BINDING_FAILED, f"writing the ValidatingAdmissionPolicyBinding {bname} "
                               f"failed: {why[:300]}", None)
            raise
        caveat = "" if spec.namespaceSelector is None else (
            "; kto's clamps and out-of-policy reports follow only the namespaces listed in spec.namespaces "
            "(namespaceSelector is enforced at admission only)")
        await self._status(body, True, BOUND, f"enforced at admission through the ValidatingAdmissionPolicyBinding "
                           f"{bname}{caveat}", bname)

    async def _status(self, body: dict[str, Any], ready: bool, reason: str, message: str, binding: str | None) -> None:
        old = body.get("status") or {}
        generation = body["metadata"].get("generation")
        cond = build_condition(old.get("conditions"), ready, reason, message, generation, self.clock())
        status = KafkaPolicyStatus.model_validate({
            "observedGeneration": generation, "binding": binding,
            "conditions": set_condition(old.get("conditions"), cond)}).model_dump(exclude_none=True)
        if {k: v for k, v in old.items() if v is not None} == status:
            return
        patch = {**{k: None for k in old if k not in status}, **status}
        if await self.kube.patch_cluster_status(names.POLICY_PLURAL, body["metadata"]["name"], patch):
            body["status"] = status
