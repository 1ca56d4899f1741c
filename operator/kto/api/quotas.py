"""Pure logic for client quotas: what a KafkaUser's spec asks for, and what to change to get there.

A quota lives on the user's principal entity (entity type ``user``, name = the Kafka user name). kto sets the
keys the spec names and removes only the keys it set before (recorded in the KafkaUser's ``status.quotas``):
a quota someone set by hand on a key the spec never named is left alone. No I/O, no clock, no logging.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from kto.api.models import UserQuotas

# spec.quotas field -> Kafka quota key
QUOTA_KEYS = {
    "producerByteRate": "producer_byte_rate",
    "consumerByteRate": "consumer_byte_rate",
    "requestPercentage": "request_percentage",
    "controllerMutationRate": "controller_mutation_rate",
}


@dataclass(frozen=True)
class QuotaChange:
    """One user's AlterClientQuotas entry: keys to set, keys to remove."""

    user: str | None  # None: Kafka's default user entity (every user without a quota of its own)
    to_set: Mapping[str, float] = field(default_factory=dict)
    to_remove: tuple[str, ...] = ()

    @property
    def in_sync(self) -> bool:
        return not self.to_set and not self.to_remove


def desired_quotas(quotas: UserQuotas | None) -> dict[str, float]:
    """The Kafka quota keys and values the spec asks for."""
    if quotas is None:
        return {}
    return {key: float(value) for name, key in QUOTA_KEYS.items()
            if (value := getattr(quotas, name)) is not None}


def above_defaults(quotas: UserQuotas | None, defaults: UserQuotas | None,
                   live: Mapping[str, float] | None = None) -> list[str]:
    """What a tenant's KafkaUser asks above the cluster's default user quotas, each with why: a user quota
    replaces the default for its principal, so a tenant could otherwise raise its own limit. The cap per key is
    the lower of the KafkaCluster's spec.defaultUserQuotas and what Kafka's default user entity has (``live``,
    set by kto or by hand). A key without any default is the tenant's to choose."""
    asked, spec = desired_quotas(quotas), desired_quotas(defaults)
    caps = {k: min(v for v in (spec.get(k), (live or {}).get(k)) if v is not None)
            for k in spec.keys() | (live or {}).keys()}
    refused = []
    for key in sorted(asked):
        if key in caps and asked[key] > caps[key]:
            where = "the KafkaCluster's spec.defaultUserQuotas" if spec.get(key) == caps[key] else \
                "Kafka's default user quota"
            refused.append(f"quotas ({key} {_number(asked[key])}): above {where} ({_number(caps[key])}): lower it, "
                           "or ask for a higher default")
    return refused


def _number(value: float) -> str:
    return str(int(value)) if value == int(value) else str(value)


def plan_quotas(user: str | None, desired: Mapping[str, float], observed: Mapping[str, float],
                recorded: Iterable[str]) -> QuotaChange:
    """Set what the spec asks and Kafka lacks (or has otherwise); remove the keys kto set before that the spec
    no longer names and Kafka still has. Keys kto never set and the spec does not name are not touched."""
    to_set = {k: v for k, v in desired.items() if observed.get(k) != v}
    to_remove = tuple(sorted(k for k in set(recorded) - set(desired) if k in observed))
    return QuotaChange(user, to_set, to_remove)


def drifted(change: QuotaChange, recorded: Iterable[str]) -> QuotaChange:
    """The part of a plan that undoes an out-of-band change: keys kto had set whose value Kafka no longer has.
    (A key the spec just added, or just removed, is a spec change, not drift.)"""
    recorded = set(recorded)
    return QuotaChange(change.user, {k: v for k, v in change.to_set.items() if k in recorded})


def describe_quota_change(change: QuotaChange, observed: Mapping[str, float]) -> str:
    parts = [f"{k} {_num(observed[k]) if k in observed else 'unset'} -> {_num(v)}"
             for k, v in sorted(change.to_set.items())]
    parts += [f"{k} removed" for k in change.to_remove]
    return ", ".join(parts)


@dataclass(frozen=True)
class DefaultQuotaPlan:
    """A KafkaCluster's defaultUserQuotas: the change, what is refused, and the keys kto holds afterwards."""

    change: QuotaChange
    refused: tuple[str, ...] = ()
    drift: QuotaChange | None = None
    keys: tuple[str, ...] = ()


def plan_default_quotas(desired: Mapping[str, float], observed: Mapping[str, float], recorded: Iterable[str],
                        overwrite: bool = False) -> DefaultQuotaPlan:
    """Like ``plan_quotas`` for the default user entity, which is the whole cluster's: a key someone set by hand
    to another value is refused (nothing written) unless the KafkaCluster says overwrite; a key already at the
    spec's value stays someone else's (kto does not remove it later)."""
    recorded = set(recorded)
    refused = tuple(f"{k} of the default user quota was set by hand to {_num(observed[k])} (kto did not set it): "
                    "annotate the KafkaCluster kto.dev/adopt=overwrite to let kto replace it, or remove it from the "
                    "spec" for k in sorted(desired)
                    if k in observed and observed[k] != desired[k] and k not in recorded and not overwrite)
    if refused:
        return DefaultQuotaPlan(QuotaChange(None), refused, keys=tuple(sorted(recorded)))
    change = plan_quotas(None, desired, observed, recorded)
    keys = tuple(sorted(k for k in desired if k in recorded or k in change.to_set))
    return DefaultQuotaPlan(change, (), drifted(change, recorded), keys)


def recorded_quotas(status: Mapping[str, object] | None) -> set[str]:
    """The quota keys kto set for a KafkaUser, as its status records them."""
    entries = (status or {}).get("quotas")
    if not isinstance(entries, list):
        return set()
    return {e["key"] for e in entries if isinstance(e, Mapping) and "key" in e}


def status_quotas(desired: Mapping[str, float]) -> list[dict[str, object]] | None:
    """``status.quotas``: the keys kto set and their values (None: none)."""
    return [{"key": k, "value": v} for k, v in sorted(desired.items())] or None


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)
