"""The pure planner: from what a resource asks and what Kafka has, decide what to do.

No I/O, no clock, no logging. Everything kto decides about a topic is decided here, and tested with tables.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from kto.domain import (
    AlterConfigs,
    ConfigChange,
    CreatePartitions,
    CreateTopic,
    DesiredTopic,
    ObservedTopic,
    Refusal,
    TopicPlan,
)
from kto.models import ConfigMap, KafkaClusterSpec, KafkaTopicSpec
from kto.reasons import Reason


def config_value(value: int | str | bool) -> str:
    """A spec config value as Kafka spells it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def build_desired(resource_name: str, spec: KafkaTopicSpec, cluster: KafkaClusterSpec | None) -> DesiredTopic:
    """The topic a resource asks for, with its cluster's ``topicDefaults`` filled in."""
    defaults = cluster.topicDefaults if cluster else None
    config: ConfigMap = {**((defaults.config if defaults else None) or {}), **(spec.config or {})}
    return DesiredTopic(
        name=spec.topicName or resource_name,
        partitions=spec.partitions if spec.partitions is not None else (defaults.partitions if defaults else None),
        replication_factor=(spec.replicationFactor if spec.replicationFactor is not None
                            else (defaults.replicationFactor if defaults else None)),
        config=MappingProxyType({k: config_value(v) for k, v in sorted(config.items())}),
    )


def deletion_policy(spec: KafkaTopicSpec, cluster: KafkaClusterSpec | None) -> str:
    if spec.deletionPolicy:
        return spec.deletionPolicy
    return cluster.deletion_policy if cluster else "Delete"


def plan_topic(desired: DesiredTopic, observed: ObservedTopic | None) -> TopicPlan:
    """What to do to make Kafka's topic match ``desired``."""
    if observed is None:
        return TopicPlan(
            actions=(CreateTopic(desired.name, desired.partitions, desired.replication_factor, desired.config),),
            differences=("topic does not exist in Kafka",),
        )
    actions: list = []
    refusals: list[Refusal] = []
    differences: list[str] = []

    if desired.partitions is not None and desired.partitions != observed.partitions:
        differences.append(f"partitions {observed.partitions} (spec {desired.partitions})")
        if observed.partitions > desired.partitions:
            refusals.append(Refusal(
                Reason.NOT_SUPPORTED,
                f"Kafka has {observed.partitions} partitions and the spec asks for {desired.partitions}: Kafka cannot "
                f"remove partitions; set spec.partitions to {observed.partitions} or more",
            ))
        else:
            actions.append(CreatePartitions(desired.name, observed.partitions, desired.partitions))

    if desired.replication_factor is not None and desired.replication_factor != observed.replication_factor:
        differences.append(f"replication factor {observed.replication_factor} (spec {desired.replication_factor})")
        refusals.append(Refusal(
            Reason.NOT_SUPPORTED,
            f"Kafka has replication factor {observed.replication_factor} and the spec asks for "
            f"{desired.replication_factor}: changing the replication factor of an existing topic is not supported "
            f"yet; set spec.replicationFactor to {observed.replication_factor}",
        ))

    changes = diff_configs(desired.config, observed)
    if changes:
        actions.append(AlterConfigs(desired.name, changes))
        differences.extend(describe_change(c) for c in changes)
    return TopicPlan(actions=tuple(actions), refusals=tuple(refusals), differences=tuple(differences))


def diff_configs(desired: Mapping[str, str], observed: ObservedTopic) -> tuple[ConfigChange, ...]:
    """Keys in spec are set as overrides; overrides not in spec are removed. Defaults are never written."""
    changes = [
        ConfigChange(key, observed.overrides.get(key, observed.defaults.get(key)), value)
        for key, value in desired.items()
        if observed.overrides.get(key) != value
    ]
    changes += [
        ConfigChange(key, value, None)
        for key, value in sorted(observed.overrides.items())
        if key not in desired
    ]
    return tuple(changes)


def describe_change(change: ConfigChange) -> str:
    if change.new is None:
        return f"{change.key} override {change.old} removed"
    if change.old is None:
        return f"{change.key} was unset, set to {change.new}"
    return f"{change.key} was {change.old}, set to {change.new}"


def describe_drift(plan: TopicPlan) -> str:
    """One line for people: what differs between the spec and Kafka."""
    return "; ".join(plan.differences)


# --- Ownership -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    """A KafkaTopic's claim on a Kafka topic name of a cluster; the oldest claim owns the topic."""

    created: str  # RFC 3339 creationTimestamp: sorts chronologically, to the second
    namespace: str
    name: str
    uid: str = ""
    holds: bool = False  # carries kto's finalizer: it already owns the topic

    @property
    def rank(self) -> tuple:
        # Within the same second, the resource that already holds the topic keeps it: ownership never flips.
        return self.created, not self.holds, self.namespace, self.name


def owner_of(claims: Iterable[Claim]) -> Claim | None:
    return min(claims, key=lambda c: c.rank, default=None)
