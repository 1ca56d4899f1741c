"""The pure topic planner: from what a KafkaTopic asks and what Kafka has, decide what to change in Kafka
(``plan_topic``), and who owns a claimed Kafka name (``owner_of``).

No I/O, no clock, no logging; tested with tables. What the reconciler does with a resource before asking
the planner is decided by ``kto.gates``; replica moves by ``kto.replicas``.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from kto.api.domain import (
    THROTTLED_REPLICAS,
    AlterConfigs,
    ChangeReplicationFactor,
    ConfigChange,
    CreatePartitions,
    CreateTopic,
    DesiredTopic,
    ObservedTopic,
    Refusal,
    TopicPlan,
)
from kto.api.models import ConfigMap, DeletionPolicy, KafkaClusterSpec, KafkaTopicSpec
from kto.api.reasons import Reason


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


def deletion_policy(spec: KafkaTopicSpec, cluster: KafkaClusterSpec | None) -> DeletionPolicy:
    if spec.deletionPolicy:
        return DeletionPolicy(spec.deletionPolicy)
    return cluster.deletion_policy if cluster else DeletionPolicy.DELETE


def plan_topic(desired: DesiredTopic, observed: ObservedTopic | None, brokers: int | None = None) -> TopicPlan:
    """What to do to make Kafka's topic match ``desired``; ``brokers`` is the live broker count, if known."""
    short = _insufficient_brokers(desired, observed, brokers)
    if observed is None:
        if short is not None:
            return TopicPlan(refusals=(short,), differences=("topic does not exist in Kafka",))
        return TopicPlan(
            actions=(CreateTopic(desired.name, desired.partitions, desired.replication_factor, desired.config),),
            differences=("topic does not exist in Kafka",),
        )
    parts = (_plan_partitions(desired, observed), _plan_replication_factor(desired, observed, short),
             _plan_configs(desired, observed))
    return TopicPlan(actions=tuple(a for p in parts for a in p.actions),
                     refusals=tuple(r for p in parts for r in p.refusals),
                     differences=tuple(d for p in parts for d in p.differences))


def _insufficient_brokers(desired: DesiredTopic, observed: ObservedTopic | None, brokers: int | None
                          ) -> Refusal | None:
    """A replication factor the live brokers cannot hold, when it is a change (a topic that has it already is
    left as it is)."""
    rf = desired.replication_factor
    if rf is None or brokers is None or rf <= brokers:
        return None
    if observed is not None and observed.replication_factor == rf:
        return None
    return Refusal(
        Reason.INSUFFICIENT_BROKERS,
        f"the spec asks for replication factor {rf} and the cluster has {brokers} live broker(s): lower "
        "spec.replicationFactor or add brokers")


def _plan_partitions(desired: DesiredTopic, observed: ObservedTopic) -> TopicPlan:
    """More partitions are added; fewer are refused (Kafka cannot remove partitions)."""
    if desired.partitions is None or desired.partitions == observed.partitions:
        return TopicPlan()
    difference = (f"partitions {observed.partitions} (spec {desired.partitions})",)
    if observed.partitions > desired.partitions:
        return TopicPlan(refusals=(Refusal(
            Reason.NOT_SUPPORTED,
            f"Kafka has {observed.partitions} partitions and the spec asks for {desired.partitions}: Kafka cannot "
            f"remove partitions; set spec.partitions to {observed.partitions} or more",
        ),), differences=difference)
    return TopicPlan(actions=(CreatePartitions(desired.name, observed.partitions, desired.partitions),),
                     differences=difference)


def _plan_replication_factor(desired: DesiredTopic, observed: ObservedTopic, short: Refusal | None) -> TopicPlan:
    """A new replication factor, unless the brokers are too few (``short``) or it goes below
    min.insync.replicas."""
    rf = desired.replication_factor
    if rf is None or rf == observed.replication_factor:
        return TopicPlan()
    difference = (f"replication factor {observed.replication_factor} (spec {rf})",)
    min_isr = _min_insync_replicas(desired, observed)
    if short is not None:
        return TopicPlan(refusals=(short,), differences=difference)
    if min_isr is not None and rf < min_isr:
        return TopicPlan(refusals=(Refusal(
            Reason.BELOW_MIN_INSYNC_REPLICAS,
            f"replication factor {rf} is below the topic's min.insync.replicas {min_isr}: producers with "
            f"acks=all would fail; lower min.insync.replicas in spec.config first, or keep replication factor "
            f"{observed.replication_factor}"),), differences=difference)
    return TopicPlan(actions=(ChangeReplicationFactor(desired.name, observed.replication_factor, rf),),
                     differences=difference)


def _plan_configs(desired: DesiredTopic, observed: ObservedTopic) -> TopicPlan:
    changes = diff_configs(desired.config, observed)
    if not changes:
        return TopicPlan()
    return TopicPlan(actions=(AlterConfigs(desired.name, changes),),
                     differences=tuple(describe_change(c) for c in changes))


def _min_insync_replicas(desired: DesiredTopic, observed: ObservedTopic) -> int | None:
    value = desired.config.get("min.insync.replicas") or observed.overrides.get("min.insync.replicas") \
        or observed.defaults.get("min.insync.replicas")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def diff_configs(desired: Mapping[str, str], observed: ObservedTopic) -> tuple[ConfigChange, ...]:
    """Keys in spec are set as overrides; overrides not in spec are removed. Defaults are never written: a spec
    value that the topic already has from the broker's default, with no override, is in sync (so a KafkaCluster's
    topicDefaults that the broker already applies cost no write, and ``kto import`` can state them). The
    replication throttle kto sets while replicas move is not the user's and is left alone."""
    changes = [
        ConfigChange(key, observed.overrides.get(key, observed.defaults.get(key)), value)
        for key, value in desired.items()
        if observed.overrides.get(key) != value
        and not (key not in observed.overrides and observed.defaults.get(key) == value)
    ]
    changes += [
        ConfigChange(key, value, None)
        for key, value in sorted(observed.overrides.items())
        if key not in desired and key not in THROTTLED_REPLICAS
    ]
    return tuple(changes)


# How a config change reads (removed, added, changed): once made, and as a takeover would make it.
_MADE = ("{key} override {old} removed", "{key} was unset, set to {new}", "{key} was {old}, set to {new}")
_WOULD = ("{key} override {old} would be removed", "{key} would be set to {new}",
          "{key} would change from {old} to {new}")


def describe_change(change: ConfigChange, would: bool = False) -> str:
    removed, added, changed = _WOULD if would else _MADE
    template = removed if change.new is None else added if change.old is None else changed
    return template.format(key=change.key, old=change.old, new=change.new)


def describe_drift(plan: TopicPlan) -> str:
    """One line for people: what differs between the spec and Kafka."""
    return "; ".join(plan.differences)


# --- Adoption --------------------------------------------------------------------------------------


def is_ours(recorded_topic_id: str | None, owned: bool, observed: ObservedTopic) -> bool:
    """Whether kto made (or adopted) this Kafka topic for the resource. ``owned``: the resource's status records
    that it owns the topic (``objects.ownership_of``), or kto's ledger holds its intent to create it (a create
    whose status was not written yet). Then the topic id in its status must be Kafka's (another id: the topic was
    replaced outside kto); before any id was recorded, the record itself is the proof. A finalizer proves
    nothing: a tenant can set one."""
    if not owned:
        return False
    if recorded_topic_id is not None:
        return observed.topic_id == recorded_topic_id
    return True


def describe_takeover(plan: TopicPlan) -> str:
    """What applying the spec to an existing topic would change, for people deciding whether to take it over."""
    parts = []
    for action in plan.actions:
        match action:
            case CreatePartitions(current=current, target=target):
                parts.append(f"partitions {current} would grow to {target}")
            case ChangeReplicationFactor(current=current, target=target):
                parts.append(f"replication factor {current} would change to {target}")
            case AlterConfigs(changes=changes):
                parts.extend(describe_change(c, would=True) for c in changes)
    parts.extend(r.message for r in plan.refusals)
    return "; ".join(parts)
