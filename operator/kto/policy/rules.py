"""The pure KafkaPolicy rules kto applies to a topic it is about to make match its spec (``judge_topic``).

Admission (``kto.policy.admission``) refuses what a spec says; this judges the topic kto would make, with the
KafkaCluster's topicDefaults filled in and what Kafka already has:
- a ``Clamp`` rule changes the topic to fit and says so (a ``Finding`` with ``clamped``);
- a ``Refuse`` rule never changes anything: a topic that breaks it (admitted before the policy tightened, or
  breaking it only through the cluster's defaults) is reported out of policy;
- a clamp that lowers (partitions, retention) never goes below what Kafka has: kto never shrinks a topic for a
  policy; a topic that is over the limit already is reported out of policy instead.
No I/O, no clock, no logging.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, Literal, NamedTuple

from kto.api.domain import DesiredTopic, ObservedTopic
from kto.api.policy import MIN_ISR_KEY, RETENTION_KEY, KafkaPolicySpec, LabelSelector

IN_POLICY = "InPolicy"  # the KafkaTopic condition's type
REASON_IN_POLICY, REASON_CLAMPED, REASON_OUT_OF_POLICY = "InPolicy", "Clamped", "OutOfPolicy"
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"


class Applied(NamedTuple):
    """A policy in force for a topic's namespace: its name and its spec."""

    name: str
    spec: KafkaPolicySpec


@dataclass(frozen=True)
class Finding:
    policy: str
    rule: str  # e.g. partitions.max
    message: str
    clamped: bool  # True: kto changed the topic to fit; False: the topic is out of policy, left as it is


@dataclass(frozen=True)
class Judged:
    desired: DesiredTopic
    findings: tuple[Finding, ...] = ()
    policies: tuple[str, ...] = ()

    @property
    def violations(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if not f.clamped)

    @property
    def clamps(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.clamped)


# --- which namespaces a policy chooses --------------------------------------------------------------------


def matches_selector(selector: LabelSelector, labels: Mapping[str, str]) -> bool:
    """Kubernetes' label selector semantics: every matchLabels pair and every expression holds."""
    if any(labels.get(k) != v for k, v in (selector.matchLabels or {}).items()):
        return False
    for e in selector.matchExpressions or ():
        present, values = e.key in labels, set(e.values or ())
        ok = {"In": present and labels.get(e.key) in values, "NotIn": not present or labels.get(e.key) not in values,
              "Exists": present, "DoesNotExist": not present}[e.operator]
        if not ok:
            return False
    return True


def selects(spec: KafkaPolicySpec, namespace: str, labels: Mapping[str, str] | None) -> bool:
    """Whether the policy chooses ``namespace``: listed (when it lists), and matching its selector (when it has
    one; without the namespace's ``labels`` a selector chooses nothing)."""
    if spec.namespaces and namespace not in spec.namespaces:
        return False
    if spec.namespaceSelector is None:
        return True
    if labels is None:
        return False
    return matches_selector(spec.namespaceSelector, {NAMESPACE_NAME_LABEL: namespace, **labels})


# --- the rules --------------------------------------------------------------------------------------------


def _who(policy: str, rule: str) -> str:
    return f"(KafkaPolicy {policy}: {rule})"


def _int(value: Any) -> int | None:
    try:
        return int(str(value))
    except ValueError:
        return None


@dataclass
class _Judging:
    """One topic under one policy: the desired topic as clamped so far, and what was found."""

    policy: str
    desired: DesiredTopic
    observed: ObservedTopic | None
    tenant_keys: frozenset[str]
    brokers: int | None
    findings: list[Finding] = field(default_factory=list)

    def out(self, rule: str, message: str) -> None:
        self.findings.append(Finding(self.policy, rule, f"{message} {_who(self.policy, rule)}", False))

    def clamp(self, rule: str, message: str, **changes: Any) -> None:
        self.findings.append(Finding(self.policy, rule, f"{message} {_who(self.policy, rule)}", True))
        self.desired = replace(self.desired, **changes)

    def set_config(self, rule: str, message: str, key: str, value: str | None) -> None:
        config = {k: v for k, v in self.desired.config.items() if k != key}
        if value is not None:
            config[key] = value
        self.clamp(rule, message, config=MappingProxyType(dict(sorted(config.items()))))

    def current(self, key: str) -> str | None:
        """What the topic will have for a config: the desired value, else what Kafka has (override or default)."""
        if key in self.desired.config:
            return self.desired.config[key]
        if self.observed is None:
            return None
        return self.observed.overrides.get(key, self.observed.defaults.get(key))

    def number(self, key: str) -> tuple[str | None, int | None]:
        """``current(key)`` and its value as a number (None when unset or not a number)."""
        raw = self.current(key)
        return raw, (_int(raw) if raw is not None else None)


def _names(j: _Judging, spec: KafkaPolicySpec) -> None:
    rule, name = spec.topics, j.desired.name
    if rule is None:
        return
    if rule.namePrefixes and not any(name.startswith(p) for p in rule.namePrefixes):
        j.out("topics.namePrefixes", f"topic name {name} does not start with one of the team policy's prefixes "
                                     f"{', '.join(rule.namePrefixes)}")
    if rule.namePattern:
        try:
            matched = re.search(rule.namePattern, name) is not None
        except re.error:
            matched = False
        if not matched:
            j.out("topics.namePattern", f"topic name {name} does not match the team policy's pattern "
                                        f"{rule.namePattern}")


def _partitions(j: _Judging, spec: KafkaPolicySpec) -> None:
    rule, value = spec.partitions, j.desired.partitions
    if rule is None or value is None:
        return
    if rule.max is not None and value > rule.max:
        _partitions_max(j, rule.max, rule.refuses, value)
    elif rule.min is not None and value < rule.min:
        if rule.refuses:
            j.out("partitions.min", f"partitions {value} is under the team policy's minimum {rule.min}")
        else:
            j.clamp("partitions.min", f"partitions {value} raised to the team policy's minimum {rule.min}",
                    partitions=rule.min)


def _partitions_max(j: _Judging, maximum: int, refuses: bool, value: int) -> None:
    has = j.observed.partitions if j.observed else 0
    if refuses or has > maximum:
        j.out("partitions.max", f"partitions {value} is over the team policy's maximum {maximum}"
                                + ("" if refuses else f"; Kafka has {has} and cannot remove partitions"))
    limit = max(maximum, has)
    if not refuses and limit < value:
        j.clamp("partitions.max", f"partitions {value} lowered to {limit}", partitions=limit)


def _replication(j: _Judging, spec: KafkaPolicySpec) -> None:
    rule = spec.replicationFactor
    if rule is None:
        return
    floor, which = rule.min or 0, "replicationFactor.min"
    if rule.atLeastBrokersUpTo3 and j.brokers and min(j.brokers, 3) > floor:
        floor, which = min(j.brokers, 3), "replicationFactor.atLeastBrokersUpTo3"
    value = j.desired.replication_factor
    if value is None and j.observed is not None:
        value = j.observed.replication_factor
    if value is None or value >= floor:
        return
    if rule.refuses:
        j.out(which, f"replicationFactor {value} is under the team policy's minimum {floor}")
    else:
        j.clamp(which, f"replicationFactor {value} raised to the team policy's minimum {floor}",
                replication_factor=floor)


def _min_insync(j: _Judging, spec: KafkaPolicySpec) -> None:
    rule = spec.minInsyncReplicas
    if rule is None or rule.min is None:
        return
    raw, value = j.number(MIN_ISR_KEY)
    if rule.refuses:
        if value is not None and value < rule.min:
            j.out("minInsyncReplicas.min", f"min.insync.replicas {raw} is under the team policy's minimum {rule.min}")
    elif value is None or value < rule.min:
        j.set_config("minInsyncReplicas.min", f"min.insync.replicas {raw if raw is not None else '(unset)'} raised "
                     f"to the team policy's minimum {rule.min}", MIN_ISR_KEY, str(rule.min))


def _retention(j: _Judging, spec: KafkaPolicySpec) -> None:
    rule = spec.retention
    if rule is None or rule.maxMs is None:
        return
    raw, value = j.number(RETENTION_KEY)
    if value is None or 0 <= value <= rule.maxMs:
        return
    over = f"retention.ms {raw} is over the team policy's maximum {rule.maxMs}"
    if rule.refuses or _kafka_retention_over(j.observed, rule.maxMs):
        j.out("retention.maxMs", over + ("" if rule.refuses else "; kto does not lower what Kafka has"))
        return
    j.set_config("retention.maxMs", f"retention.ms {raw} lowered to the team policy's maximum {rule.maxMs}",
                 RETENTION_KEY, str(rule.maxMs))


def _kafka_retention_over(observed: ObservedTopic | None, maximum: int) -> bool:
    """Whether the topic already keeps data longer than ``maximum`` in Kafka (a clamp never lowers that)."""
    if observed is None:
        return False
    kafka = _int(observed.overrides.get(RETENTION_KEY, observed.defaults.get(RETENTION_KEY, "0")))
    return kafka is not None and (kafka < 0 or kafka > maximum)


def _configs(j: _Judging, spec: KafkaPolicySpec) -> None:
    rule = spec.configs
    if rule is None:
        return
    if rule.allowedKeys is not None:
        _allowed_keys(j, rule.allowedKeys, rule.platformKeys or {}, rule.refuses)
    for key, value in sorted((rule.platformKeys or {}).items()):
        _platform_key(j, key, value, rule.refuses)


def _allowed_keys(j: _Judging, allowed: list[str], platform: Mapping[str, str], refuses: bool) -> None:
    extra = sorted(k for k in j.tenant_keys if k not in allowed and k not in platform)
    if extra and refuses:
        j.out("configs.allowedKeys", f"config keys {', '.join(extra)} are not among the keys the team policy "
                                     f"allows ({', '.join(allowed)})")
    for key in extra if not refuses else ():
        j.set_config("configs.allowedKeys", f"config key {key} dropped: the team policy allows only "
                     f"{', '.join(allowed)}", key, None)


def _platform_key(j: _Judging, key: str, value: str, refuses: bool) -> None:
    mine = j.desired.config.get(key)
    if mine == value:
        return
    if key not in j.tenant_keys:  # the platform's key, applied (the cluster's defaults are the platform's too)
        config = {**j.desired.config, key: value}
        j.desired = replace(j.desired, config=MappingProxyType(dict(sorted(config.items()))))
    elif refuses:
        j.out("configs.platformKeys", f"config key {key} is {mine}, but the platform sets it to {value}")
    else:
        j.set_config("configs.platformKeys", f"config key {key} set to the platform's {value} "
                     f"(the KafkaTopic says {mine})", key, value)


RULES = (_names, _partitions, _replication, _min_insync, _retention, _configs)


def judge_topic(desired: DesiredTopic, policies: Sequence[Applied], tenant_keys: frozenset[str] = frozenset(),
                observed: ObservedTopic | None = None, brokers: int | None = None) -> Judged:
    """The topic kto should make under ``policies`` (in name order; each clamps what the previous left), and what
    each rule found. ``tenant_keys``: the config keys the KafkaTopic's own spec sets (the cluster's topicDefaults
    are the platform's); ``observed``: what Kafka has; ``brokers``: the live broker count, when known."""
    findings: list[Finding] = []
    for policy in sorted(policies, key=lambda p: p.name):
        j = _Judging(policy.name, desired, observed, tenant_keys, brokers)
        for rule in RULES:
            rule(j, policy.spec)
        desired, findings = j.desired, findings + j.findings
    return Judged(desired, tuple(findings), tuple(sorted(p.name for p in policies)))


# --- what the KafkaTopic shows ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PolicyCondition:
    """The KafkaTopic's ``InPolicy`` condition, and the Event to post when it is news."""

    status: bool
    reason: str
    message: str
    event_type: Literal["Normal", "Warning"] | None = None  # post an Event: the condition is new or changed


def policy_condition(judged: Judged, old: Mapping[str, Any] | None) -> PolicyCondition | None:
    """``InPolicy``: False with every rule the topic breaks; True with what kto clamped, or that the policies
    hold. None when no policy applies and the topic never had the condition."""
    cond = _condition(judged, had=old is not None)
    if cond is None:
        return None
    news = old is None or old.get("reason") != cond.reason or old.get("message") != cond.message
    if news and cond.reason != REASON_IN_POLICY:
        return replace(cond, event_type="Warning" if cond.reason == REASON_OUT_OF_POLICY else "Normal")
    return cond


def _condition(judged: Judged, had: bool) -> PolicyCondition | None:
    if judged.violations:
        return PolicyCondition(False, REASON_OUT_OF_POLICY, "; ".join(f.message for f in judged.violations))
    if judged.clamps:
        return PolicyCondition(True, REASON_CLAMPED, "; ".join(f.message for f in judged.clamps))
    if judged.policies:
        return PolicyCondition(True, REASON_IN_POLICY, f"the topic meets KafkaPolicy {', '.join(judged.policies)}")
    if had:
        return PolicyCondition(True, REASON_IN_POLICY, "no KafkaPolicy applies to this namespace")
    return None


class OutOfPolicy:
    """Which KafkaTopics are out of which policy, as the gauge kto_topics_out_of_policy{kafka_cluster, policy}
    counts them (the series of a count that went to 0 stays at 0 until the policy is gone from every topic)."""

    def __init__(self, set_count: Callable[[str, str, int], None]):
        self._set_count = set_count
        self._of: dict[tuple[str, str], tuple[str, frozenset[str]]] = {}  # topic key -> (cluster, policies)
        self._counts: dict[tuple[str, str], int] = {}

    def set(self, key: tuple[str, str], cluster: str, judged: Judged | None) -> None:
        """Record the topic's findings (None: the topic is gone, or no longer judged)."""
        policies = frozenset(f.policy for f in judged.violations) if judged is not None else frozenset()
        before = self._of.pop(key, None)
        if policies:
            self._of[key] = (cluster, policies)
        changed = {(before[0], p) for p in before[1]} if before else set()
        changed ^= {(cluster, p) for p in policies}
        for series in changed:
            self._counts[series] = self._counts.get(series, 0) + (1 if series[1] in policies and
                                                                  series[0] == cluster else -1)
            self._set_count(series[0], series[1], self._counts[series])
