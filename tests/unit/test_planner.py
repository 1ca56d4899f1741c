"""The planner decides everything kto does to a topic: tables of (desired, observed) -> plan."""

from __future__ import annotations

from types import MappingProxyType

import pytest
from kto.api.domain import (
    AlterConfigs,
    ChangeReplicationFactor,
    ConfigChange,
    CreatePartitions,
    CreateTopic,
    DesiredTopic,
    ObservedTopic,
)
from kto.api.models import KafkaClusterSpec, KafkaTopicSpec
from kto.api.reasons import Reason
from kto.reconcile.ownership import Claim, owner_of
from kto.topics.planner import build_desired, deletion_policy, plan_topic


def desired(partitions=3, rf=1, **config) -> DesiredTopic:
    return DesiredTopic("t", partitions, rf, MappingProxyType(config))


def observed(partitions=3, rf=1, overrides=None, defaults=None) -> ObservedTopic:
    return ObservedTopic("t", "id", partitions, rf, MappingProxyType(overrides or {}),
                         MappingProxyType(defaults or {"retention.ms": "604800000"}))


def test_missing_topic_is_created_with_everything() -> None:
    plan = plan_topic(desired(5, 3, **{"retention.ms": "1"}), None)
    assert plan.actions == (CreateTopic("t", 5, 3, MappingProxyType({"retention.ms": "1"})),)
    assert not plan.refusals


def test_unset_partitions_and_rf_use_broker_defaults() -> None:
    assert plan_topic(desired(None, None), None).actions == (CreateTopic("t", None, None, MappingProxyType({})),)
    assert plan_topic(desired(None, None), observed(7, 2)).in_sync


@pytest.mark.parametrize(("want", "have", "actions", "refused"), [
    (3, 3, (), False),
    (5, 3, (CreatePartitions("t", 3, 5),), False),
    (2, 3, (), True),
])
def test_partitions(want, have, actions, refused) -> None:
    plan = plan_topic(desired(want), observed(have))
    assert plan.actions == actions
    assert bool(plan.refusals) == refused
    if refused:
        refusal = plan.refusals[0]
        assert refusal.reason == Reason.NOT_SUPPORTED
        assert f"Kafka has {have} partitions" in refusal.message and f"set spec.partitions to {have}" in refusal.message


@pytest.mark.parametrize(("spec", "overrides", "changes"), [
    ({"retention.ms": "1"}, {"retention.ms": "1"}, ()),
    ({"retention.ms": "2"}, {"retention.ms": "1"}, (ConfigChange("retention.ms", "1", "2"),)),
    # Not overridden yet: the message shows the default that applied.
    ({"retention.ms": "2"}, {}, (ConfigChange("retention.ms", "604800000", "2"),)),
    # The broker's default already gives the topic what the spec asks: no override is written.
    ({"retention.ms": "604800000"}, {}, ()),
    ({"retention.ms": "604800000"}, {"retention.ms": "1"}, (ConfigChange("retention.ms", "1", "604800000"),)),
    # Overrides that the spec does not list are removed.
    ({}, {"segment.ms": "5"}, (ConfigChange("segment.ms", "5", None),)),
    ({"a": "1"}, {"a": "1", "b": "2"}, (ConfigChange("b", "2", None),)),
])
def test_configs(spec, overrides, changes) -> None:
    plan = plan_topic(desired(**spec), observed(overrides=overrides))
    if changes:
        assert plan.actions == (AlterConfigs("t", changes),)
    else:
        assert plan.in_sync


def test_alter_configs_splits_set_and_delete() -> None:
    action = AlterConfigs("t", (ConfigChange("a", None, "1"), ConfigChange("b", "2", None)))
    assert action.to_set == {"a": "1"}
    assert action.to_delete == ["b"]


def test_replication_factor_change_comes_with_the_rest() -> None:
    plan = plan_topic(desired(5, 3, **{"retention.ms": "9"}), observed(3, 1), brokers=3)
    assert CreatePartitions("t", 3, 5) in plan.actions
    assert any(isinstance(a, AlterConfigs) for a in plan.actions)
    assert ChangeReplicationFactor("t", 1, 3) in plan.actions
    assert not plan.refusals


@pytest.mark.parametrize("existing", [True, False])
def test_factor_above_live_brokers_is_refused_before_anything_moves(existing) -> None:
    plan = plan_topic(desired(3, 4), observed(3, 1) if existing else None, brokers=3)
    assert not any(isinstance(a, (ChangeReplicationFactor, CreateTopic)) for a in plan.actions)
    assert plan.refusals[0].reason == Reason.INSUFFICIENT_BROKERS
    assert "replication factor 4" in plan.refusals[0].message and "3 live broker" in plan.refusals[0].message


def test_factor_below_min_insync_replicas_is_refused() -> None:
    plan = plan_topic(desired(3, 1), observed(3, 3, defaults={"min.insync.replicas": "2"}), brokers=3)
    assert not plan.actions
    assert plan.refusals[0].reason == Reason.BELOW_MIN_INSYNC_REPLICAS
    assert "acks=all" in plan.refusals[0].message
    # Lowering min.insync.replicas in the same change makes it possible.
    plan = plan_topic(desired(3, 1, **{"min.insync.replicas": "1"}),
                      observed(3, 3, defaults={"min.insync.replicas": "2"}), brokers=3)
    assert ChangeReplicationFactor("t", 3, 1) in plan.actions


def test_the_replication_throttle_is_not_a_user_override() -> None:
    plan = plan_topic(desired(), observed(overrides={"leader.replication.throttled.replicas": "*"}))
    assert plan.in_sync


def test_differences_are_described_for_people() -> None:
    plan = plan_topic(desired(5, **{"retention.ms": "2"}), observed(3, overrides={"retention.ms": "1"}))
    assert plan.differences == ("partitions 3 (spec 5)", "retention.ms was 1, set to 2")


def cluster_spec(**kw) -> KafkaClusterSpec:
    return KafkaClusterSpec.model_validate({"bootstrapServers": ["k:9092"], **kw})


def test_build_desired_merges_cluster_defaults_under_the_topic() -> None:
    cluster = cluster_spec(topicDefaults={"partitions": 6, "replicationFactor": 3,
                                          "config": {"min.insync.replicas": "2", "retention.ms": 1}})
    spec = KafkaTopicSpec.model_validate({"clusterRef": {"name": "c"}, "config": {"retention.ms": 2592000000}})
    got = build_desired("content-ingested", spec, cluster)
    assert got.name == "content-ingested"
    assert (got.partitions, got.replication_factor) == (6, 3)
    assert dict(got.config) == {"min.insync.replicas": "2", "retention.ms": "2592000000"}
    spec = KafkaTopicSpec.model_validate({"clusterRef": {"name": "c"}, "topicName": "Content_Ingested",
                                          "partitions": 5, "replicationFactor": 1})
    got = build_desired("content-ingested", spec, cluster)
    assert (got.name, got.partitions, got.replication_factor) == ("Content_Ingested", 5, 1)


@pytest.mark.parametrize(("topic", "cluster", "expected"), [
    (None, None, "Delete"),
    (None, "Retain", "Retain"),
    ("Delete", "Retain", "Delete"),
    ("Retain", None, "Retain"),
])
def test_deletion_policy(topic, cluster, expected) -> None:
    spec = KafkaTopicSpec.model_validate({"clusterRef": {"name": "c"}, **({"deletionPolicy": topic} if topic else {})})
    cspec = cluster_spec(**({"deletionPolicy": cluster} if cluster else {}))
    assert deletion_policy(spec, cspec) == expected


def test_the_oldest_claim_owns() -> None:
    a = Claim("2026-01-01T00:00:00Z", "ns", "a")
    b = Claim("2026-01-02T00:00:00Z", "aa", "b")
    c = Claim("2026-01-01T00:00:00Z", "ns", "0")  # same second: namespace, then name decide
    assert owner_of([b, a]) == a
    assert owner_of([a, b, c]) == c
    assert owner_of([]) is None
    # The one whose status records ownership keeps the name, even against an older claim: ownership never moves.
    holder = Claim("2026-01-03T00:00:00Z", "ns", "z", established=True)
    assert owner_of([a, b, c, holder]) == holder
    older_holder = Claim("2026-01-02T00:00:00Z", "ns", "y", established=True)  # two (from before): the older
    assert owner_of([holder, older_holder, a]) == older_holder


@pytest.mark.parametrize(("refused", "newer_wins"), [
    (None, False),  # a claim kto has not refused keeps its age
    ("ResourceConflict", False),  # refused only because another held the name: still before refused ones
    ("AdoptionRequired", True),  # a claim refused for what it is owns nothing while a better one exists
    ("NotPermitted", True),
    ("Protected", True),
])
def test_a_refused_claim_owns_nothing_against_a_better_one(refused: str | None, newer_wins: bool) -> None:
    old = Claim("2026-01-01T00:00:00Z", "team-z", "orders", refused=refused)
    new = Claim("2026-01-02T00:00:00Z", "platform", "orders", refused="ResourceConflict")
    assert owner_of([old, new]) == (new if newer_wins else old)
    assert owner_of([old]) == old  # alone, it is still the one that decides (it writes nothing it does not own)


def test_a_finalizer_is_not_a_claim_on_the_name() -> None:
    """A tenant can set kto's finalizer at creation: only status (``established``) ranks a claim first."""
    forged = Claim("2026-01-05T00:00:00Z", "team-z", "orders-v2")  # held a finalizer: it is not in the claim
    platform = Claim("2026-01-06T00:00:00Z", "platform", "orders-v2")
    # Among claims from allowed namespaces the older fresh one decides, as with any two new claims (a claim from a
    # namespace the KafkaCluster does not allow never reaches owner_of: Reconciler._owner leaves it out).
    assert owner_of([forged, platform]) == forged
    assert owner_of([forged, Claim("2026-01-06T00:00:00Z", "platform", "orders-v2", established=True)]).namespace \
        == "platform"


# (id, desired, observed, live brokers, reasons of the refusals, kinds of the actions, differences: how many)
COMBINED = [
    ("a factor the brokers cannot hold, already in place: left as it is", desired(3, 4), observed(3, 4), 3,
     (), (), 0),
    ("broker count unknown: the factor changes", desired(3, 4), observed(3, 1), None, (),
     (ChangeReplicationFactor,), 1),
    ("fewer partitions and too few brokers: both refused, partitions first", desired(2, 4), observed(3, 1), 3,
     (Reason.NOT_SUPPORTED, Reason.INSUFFICIENT_BROKERS), (), 2),
    ("too few brokers does not hold back partitions and configs", desired(5, 4, **{"retention.ms": "9"}),
     observed(3, 1), 3, (Reason.INSUFFICIENT_BROKERS,), (CreatePartitions, AlterConfigs), 3),
    ("below min.insync.replicas does not hold back partitions", desired(5, 1),
     observed(3, 3, defaults={"min.insync.replicas": "2"}), 3, (Reason.BELOW_MIN_INSYNC_REPLICAS,),
     (CreatePartitions,), 2),
    ("a missing topic with too few brokers: refused, not created", desired(3, 4), None, 3,
     (Reason.INSUFFICIENT_BROKERS,), (), 1),
]


@pytest.mark.parametrize(("want", "seen", "brokers", "refusals", "actions", "differences"),
                         [c[1:] for c in COMBINED], ids=[c[0] for c in COMBINED])
def test_each_part_of_a_topic_is_planned_on_its_own(want, seen, brokers, refusals, actions, differences) -> None:
    plan = plan_topic(want, seen, brokers=brokers)
    assert tuple(r.reason for r in plan.refusals) == refusals
    assert tuple(type(a) for a in plan.actions) == actions
    assert len(plan.differences) == differences
