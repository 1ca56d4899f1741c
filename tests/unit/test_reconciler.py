"""The batch reconciler driven end to end with a fake Kafka and a fake Kubernetes: each outcome as a user sees
it (the status written, the Events, the Kafka requests made or not made)."""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import logging
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import pytest
from kto.api import names
from kto.api.conditions import find
from kto.api.domain import THROTTLED_REPLICAS, Acl, KafkaFailure
from kto.api.objects import Key, key_of, own
from kto.api.reasons import Reason
from kto.app import Operator
from kto.kube.ledger import Ledger
from kto.reconcile.batching import Backoff
from kto.reconcile.cluster_state import NotProbed, Unreachable
from kto.reconcile.engine import QUIET_SECONDS, Reconciler
from kto.reconcile.status import StatusWriter
from kto.topics.kind import TopicKind
from kto.users.access import credential_matches
from kto.users.kind import UserKind
from prometheus_client import REGISTRY

from tests.support.fakes import FakeClusters, FakeGateway, FakeKube, connected

CLUSTER = ("apps", "kafka")
MARKED = {names.LABEL_CREDENTIALS: "true"}
NOW = datetime(2025, 5, 1, 12, 0, tzinfo=UTC)
OLDER, NEWER = "2025-01-01T00:00:00Z", "2025-01-02T00:00:00Z"
READ_ORDERS = {"acls": [{"resource": {"type": "topic", "name": "orders"}, "operations": ["Read", "Describe"]}]}
TIMEOUT = KafkaFailure(Reason.KAFKA_ERROR, "timed out waiting for the controller", retriable=True)


# --- builders -----------------------------------------------------------------------------------------------


def resource(kind: str, name: str, ns: str = "apps", gen: int = 1, created: str = OLDER,
             annotations: dict[str, str] | None = None, ours: bool = False, **spec: Any) -> dict[str, Any]:
    """``ours``: kto already made what the resource names (its status records ownership; it holds kto's
    finalizer)."""
    meta = {"name": name, "namespace": ns, "generation": gen, "creationTimestamp": created,
            "uid": f"uid-{ns}-{name}", "annotations": annotations or {}}
    body = {"apiVersion": names.API_VERSION, "kind": kind, "metadata": meta,
            "spec": {"clusterRef": {"name": CLUSTER[1]}, **spec}}
    if ours:
        meta["finalizers"] = [names.FINALIZER if kind == names.TOPIC_KIND else names.USER_FINALIZER]
        body["status"] = {"ownership": "Created"}
    return body


def topic(name: str = "orders", **kw: Any) -> dict[str, Any]:
    return resource(names.TOPIC_KIND, name, **kw)


def user(name: str = "ingest", **kw: Any) -> dict[str, Any]:
    kw.setdefault("authentication", {"type": "scram-sha-512"})
    return resource(names.USER_KIND, name, **kw)


def bump(body: dict[str, Any], **spec: Any) -> dict[str, Any]:
    """The user edits the spec: a new generation."""
    body["metadata"]["generation"] += 1
    body["spec"] = {**body["spec"], **spec}
    return body


def deleting(body: dict[str, Any]) -> dict[str, Any]:
    body["metadata"]["deletionTimestamp"] = "2025-05-01T11:59:00Z"
    return body


def ready(status: dict[str, Any]) -> tuple[str, str]:
    cond = find(status.get("conditions"))
    return cond["status"], cond["reason"]


def message(status: dict[str, Any]) -> str:
    return find(status["conditions"])["message"]


def not_ready(gateway: FakeGateway) -> Unreachable:
    was = connected(CLUSTER, gateway)
    return Unreachable(CLUSTER, was.spec, Reason.UNREACHABLE, "cannot reach the brokers: timed out", was.facts)


@dataclass
class World:
    kube: FakeKube
    kafka: FakeGateway
    clusters: FakeClusters
    rec: Reconciler

    def put(self, body: dict[str, Any]) -> Key:
        key = key_of(body)
        self.rec.store.put(key, body)
        return key

    async def run(self, *keys: Key) -> dict[Key, float]:
        return await self.rec.reconcile(CLUSTER, list(keys))

    def status(self, key: Key) -> dict[str, Any]:
        return self.kube.statuses.get(key, {})

    def connect(self, **cluster_spec: Any) -> None:
        self.clusters.set(connected(CLUSTER, self.kafka, **cluster_spec))


def world(kind: str = "topic", brokers: tuple[int, ...] = (1, 2, 3), **cluster_spec: Any) -> World:
    calls: list = []
    kube, kafka, clusters = FakeKube(calls), FakeGateway(brokers, calls), FakeClusters()
    rec = Reconciler(TopicKind() if kind == "topic" else UserKind(kube), kube, clusters,
                     StatusWriter(kube, lambda: NOW), batch_window=0, max_batch=100, backoff=Backoff(),
                     ledger=Ledger(kube, "kto", kind))
    w = World(kube, kafka, clusters, rec)
    w.connect(**cluster_spec)
    return w


async def made(w: World, body: dict[str, Any]) -> Key:
    """A resource reconciled once, Ready."""
    key = w.put(body)
    assert await w.run(key) == {}
    assert ready(w.status(key)) == ("True", "Reconciled")
    return key


# --- topics ------------------------------------------------------------------------------------------------


async def test_create_adds_the_finalizer_first_and_reports_what_kafka_has() -> None:
    w = world()
    key = w.put(topic(partitions=3, replicationFactor=2, config={"retention.ms": 60000}))
    assert await w.run(key) == {}
    calls = w.kube.methods()
    assert calls.index("add_finalizer") < calls.index("create_topics")
    assert w.kube.finalizers[key] == [names.FINALIZER]
    made_topic = w.kafka.topics["orders"]
    assert made_topic.replicas == [(1, 2), (2, 3), (3, 1)] and made_topic.overrides == {"retention.ms": "60000"}
    status = w.status(key)
    assert ready(status) == ("True", "Reconciled")
    assert len(status.pop("desiredHash")) == 16  # what kto made the topic match, as a digest
    assert {k: v for k, v in status.items() if k != "conditions"} == {
        "observedGeneration": 1, "topicName": "orders", "topicId": made_topic.topic_id, "partitions": 3,
        "replicationFactor": 2, "ownership": "Created"}
    assert w.kube.events == []
    # kto's intent to create was in its ledger (its own namespace) before the create.
    assert calls.index("write_config_map") < calls.index("add_finalizer") < calls.index("create_topics")


async def test_a_second_batch_in_sync_writes_nothing() -> None:
    w = world()
    key = await made(w, topic(partitions=3))
    writes = len(w.kube.calls)
    assert await w.run(key) == {}
    assert w.kube.methods()[writes:] == ["describe_topics"]


async def test_missing_cluster_is_reported_without_kafka() -> None:
    w = world()
    w.clusters.set(None, CLUSTER)
    key = w.put(topic())
    assert await w.run(key) == {}
    assert ready(w.status(key)) == ("False", "ClusterNotFound")
    assert "KafkaCluster apps/kafka does not exist" in message(w.status(key))
    assert w.kube.events_of(key) == [("Warning", "ClusterNotFound")]
    assert w.kafka.total() == 0 and "add_finalizer" not in w.kube.methods()


async def test_a_cluster_not_probed_yet_writes_nothing_at_all() -> None:
    w = world()
    w.clusters.set(NotProbed(CLUSTER, w.clusters.snapshot(CLUSTER).spec))
    key = w.put(topic())
    assert await w.run(key) == {}
    assert w.kube.calls == []


@pytest.mark.parametrize(("allowed", "reason"), [
    (None, "NamespaceNotAllowed"),
    (["other"], "NamespaceNotAllowed"),
    (["team-b"], "Reconciled"),
    (["*"], "Reconciled"),
])
async def test_namespaces_the_cluster_allows(allowed: list[str] | None, reason: str) -> None:
    w = world(allowedNamespaces=allowed)
    key = w.put(topic(ns="team-b", clusterRef={"name": "kafka", "namespace": "apps"}))
    await w.run(key)
    assert ready(w.status(key))[1] == reason
    assert ("orders" in w.kafka.topics) == (reason == "Reconciled")
    if reason == "NamespaceNotAllowed":
        assert "does not allow topics from namespace team-b" in message(w.status(key))


async def test_two_resources_naming_one_topic_the_older_owns_it() -> None:
    w = world()
    newer = w.put(topic("b", created=NEWER, topicName="shared"))
    older = w.put(topic("a", created=OLDER, topicName="shared"))
    await w.run(newer, older)
    assert ready(w.status(older)) == ("True", "Reconciled")
    assert ready(w.status(newer)) == ("False", "ResourceConflict")
    assert "already managed by KafkaTopic apps/a" in message(w.status(newer))
    assert [d for m, d in w.kafka.calls if m == "create_topics"] == [("shared",)]
    assert newer not in w.kube.finalizers


async def test_an_older_claim_from_a_namespace_not_allowed_does_not_own() -> None:
    w = world()
    outsider = w.put(topic("a", ns="team-b", created=OLDER, topicName="shared",
                           clusterRef={"name": "kafka", "namespace": "apps"}))
    local = w.put(topic("b", created=NEWER, topicName="shared"))
    await w.run(outsider, local)
    assert ready(w.status(local)) == ("True", "Reconciled")
    assert ready(w.status(outsider)) == ("False", "NamespaceNotAllowed")


async def test_a_batch_sends_one_request_per_kind_of_change() -> None:
    w = world()
    w.kafka.add_topic("grown", [(1,)], {"retention.ms": "1"})
    keys = [w.put(topic(n, partitions=2)) for n in ("a", "b", "c")]
    keys.append(w.put(topic("grown", partitions=2, config={"retention.ms": 1000}, ours=True)))
    assert await w.run(*keys) == {}
    assert w.kafka.requests == {"describe_topics": 2, "create_topics": 1, "create_partitions": 1,
                                "alter_configs": 1}
    assert all(ready(w.status(k)) == ("True", "Reconciled") for k in keys)


async def test_paused_reports_unknown_and_touches_nothing() -> None:
    w = world()
    key = w.put(topic(annotations={names.ANNOTATION_PAUSED: "true"}, partitions=3))
    assert await w.run(key) == {}
    assert ready(w.status(key)) == ("Unknown", "Paused")
    assert w.kafka.total() == 0 and w.kafka.topics == {}
    assert w.kube.events == [] and "add_finalizer" not in w.kube.methods()


async def test_observe_only_reports_the_differences_and_never_writes() -> None:
    w = world()
    w.kafka.add_topic("orders", [(1,), (2,), (3,)], {"retention.ms": "1000", "cleanup.policy": "compact"})
    key = w.put(topic(annotations={names.ANNOTATION_MANAGED: "false"}, partitions=6,
                      config={"retention.ms": 2000}))
    assert await w.run(key) == {}
    status = w.status(key)
    assert ready(status) == ("True", "Unmanaged")
    assert "partitions 3 (spec 6)" in message(status) and "retention.ms was 1000" in message(status)
    assert "cleanup.policy override compact removed" in message(status)
    assert set(w.kafka.requests) == {"describe_topics"}
    assert len(w.kafka.topics["orders"].replicas) == 3
    assert w.kafka.topics["orders"].overrides == {"retention.ms": "1000", "cleanup.policy": "compact"}


async def test_observe_only_does_not_create_a_missing_topic() -> None:
    w = world()
    key = w.put(topic(annotations={names.ANNOTATION_MANAGED: "false"}))
    await w.run(key)
    assert ready(w.status(key)) == ("False", "Unmanaged")
    assert w.kafka.topics == {} and "create_topics" not in w.kafka.requests


async def test_a_refused_shrink_is_blocked_until_the_spec_changes() -> None:
    w = world()
    w.kafka.add_topic("orders", [(1,)] * 6)
    body = topic(partitions=3, ours=True)
    key = w.put(body)
    assert await w.run(key) == {}
    assert ready(w.status(key)) == ("False", "NotSupported")
    assert "Kafka cannot remove partitions" in message(w.status(key))
    assert w.kube.events_of(key) == [("Warning", "NotSupported")]
    requests = w.kafka.total()
    assert await w.run(key) == {}
    assert w.kafka.total() == requests  # blocked: Kafka is not asked again
    assert ready(w.status(key)) == ("False", "NotSupported")
    w.put(bump(body, partitions=6))
    await w.run(key)
    assert w.kafka.requests["describe_topics"] == 2
    assert ready(w.status(key)) == ("True", "Reconciled")


async def test_a_transient_failure_of_an_in_sync_resource_is_retried_quietly_for_a_while() -> None:
    w = world()
    key = await made(w, topic(partitions=3))
    patches = len(w.kube.patches)
    now = [1000.0]
    w.rec.clock = lambda: now[0]
    w.kafka.fail("describe_topics", "orders", TIMEOUT)
    for _ in range(5):
        assert key in await w.run(key)  # retried with backoff
        assert ready(w.status(key)) == ("True", "Reconciled")
        now[0] += QUIET_SECONDS / 5 - 1
    assert len(w.kube.patches) == patches and w.kube.events_of(key) == []
    now[0] += 5
    await w.run(key)  # a minute of failures: now the status says it
    assert ready(w.status(key)) == ("False", "KafkaError") and w.kube.events_of(key) == [("Warning", "KafkaError")]
    w.kafka.heal("describe_topics", "orders")
    await w.run(key)
    assert ready(w.status(key)) == ("True", "Reconciled")
    # A resource waiting for a change says at once why it waits.
    fresh = w.put(topic("fresh"))
    w.kafka.fail("create_topics", "fresh", TIMEOUT)
    await w.run(fresh)
    assert ready(w.status(fresh)) == ("False", "KafkaError")


async def test_drift_is_corrected_and_recorded() -> None:
    w = world()
    key = await made(w, topic(partitions=3, config={"retention.ms": 60000}))
    w.kafka.topics["orders"].overrides["retention.ms"] = "1"  # changed outside kto
    await w.run(key)
    assert w.kafka.requests["alter_configs"] == 1
    assert w.kafka.topics["orders"].overrides == {"retention.ms": "60000"}
    assert w.kube.events_of(key) == [("Normal", "DriftCorrected")]
    assert "retention.ms was 1, set to 60000" in w.kube.messages_of(key, "DriftCorrected")[0]
    status = w.status(key)
    assert ready(status) == ("True", "Reconciled")
    assert status["lastDriftCorrection"] == {
        "time": "2025-05-01T12:00:00Z", "message": "corrected out-of-band changes: retention.ms was 1, set to 60000"}


async def test_a_spec_change_is_not_drift() -> None:
    w = world()
    body = topic(config={"retention.ms": 60000})
    key = await made(w, body)
    w.put(bump(body, config={"retention.ms": 1000}))
    await w.run(key)
    assert w.kafka.topics["orders"].overrides == {"retention.ms": "1000"}
    assert w.kube.events == [] and "lastDriftCorrection" not in w.status(key)


async def test_a_topic_deleted_out_of_band_is_recreated_with_a_warning() -> None:
    w = world()
    key = await made(w, topic(partitions=2))
    first_id = w.status(key)["topicId"]
    del w.kafka.topics["orders"]
    await w.run(key)
    assert w.kafka.requests["create_topics"] == 2
    assert w.kube.events_of(key) == [("Warning", "TopicRecreated")]
    status = w.status(key)
    assert ready(status) == ("True", "Reconciled")
    assert status["topicId"] == w.kafka.topics["orders"].topic_id != first_id
    assert status["lastDriftCorrection"]["message"] == "topic was deleted outside kto and has been recreated"


async def test_retriable_failures_back_off_and_reset_after_success() -> None:
    w = world()
    body = topic()
    key = w.put(body)
    w.kafka.fail("create_topics", "orders", TIMEOUT)
    assert [(await w.run(key))[key] for _ in range(3)] == [1.0, 2.0, 4.0]
    assert ready(w.status(key)) == ("False", "KafkaError")
    assert w.kube.events_of(key) == [("Warning", "KafkaError")]  # the same failure again stays quiet
    w.kafka.heal("create_topics", "orders")
    assert await w.run(key) == {}
    w.put(bump(body, config={"retention.ms": 1000}))
    w.kafka.fail("alter_configs", "orders", TIMEOUT)
    assert await w.run(key) == {key: 1.0}


async def test_a_refused_finalizer_patch_holds_back_only_that_topic() -> None:
    w = world()
    a, b = w.put(topic("a")), w.put(topic("b"))
    w.kube.refused.add(a)
    assert await w.run(a, b) == {a: 1.0}
    assert [d for m, d in w.kafka.calls if m == "create_topics"] == [("b",)]
    assert "a" not in w.kafka.topics and w.kube.patches_of(a) == []
    assert ready(w.status(b)) == ("True", "Reconciled")
    w.kube.refused.clear()
    assert await w.run(a) == {}
    assert "a" in w.kafka.topics


async def test_deletion_deletes_the_topic_then_releases(caplog: pytest.LogCaptureFixture) -> None:
    w = world()
    body = topic()
    key = await made(w, body)
    w.put(deleting(body))
    with caplog.at_level(logging.INFO, logger="kto.reconcile.engine"):
        assert await w.run(key) == {}
    calls = w.kube.methods()
    assert calls.index("delete_topics") < calls.index("remove_finalizer")
    assert "orders" not in w.kafka.topics and w.kube.finalizers[key] == []
    # Logged, not posted: an Event about a resource that vanishes a moment later costs an API write per topic.
    assert w.kube.events_of(key) == []
    (released,) = [r for r in caplog.records if r.getMessage() == "Released"]
    assert released.detail == "Kafka topic orders deleted (deletionPolicy Delete)"


async def test_a_failed_deletion_keeps_the_finalizer_and_retries() -> None:
    w = world()
    body = topic()
    key = await made(w, body)
    w.put(deleting(body))
    w.kafka.fail("delete_topics", "orders", TIMEOUT)
    assert await w.run(key) == {key: 1.0}
    assert "remove_finalizer" not in w.kube.methods() and "orders" in w.kafka.topics
    assert ready(w.status(key)) == ("False", "KafkaError")
    assert w.status(key)["topicId"]  # what Kafka has is kept while the deletion waits


@pytest.mark.parametrize(("topic_policy", "cluster_policy"), [("Retain", None), (None, "Retain"), ("Retain", "Delete")])
async def test_retain_releases_without_deleting(topic_policy: str | None, cluster_policy: str | None) -> None:
    w = world(deletionPolicy=cluster_policy)
    body = topic(**({"deletionPolicy": topic_policy} if topic_policy else {}))
    key = await made(w, body)
    w.put(deleting(body))
    await w.run(key)
    assert "delete_topics" not in w.kafka.requests and "orders" in w.kafka.topics
    assert w.kube.events_of(key) == [("Normal", "TopicRetained")]
    assert w.kube.finalizers[key] == []


async def test_a_topic_policy_delete_wins_over_a_cluster_retain() -> None:
    w = world(deletionPolicy="Retain")
    body = topic(deletionPolicy="Delete")
    key = await made(w, body)
    w.put(deleting(body))
    await w.run(key)
    assert "orders" not in w.kafka.topics


async def test_deletion_after_the_cluster_is_gone_releases_with_a_warning() -> None:
    w = world()
    body = topic()
    key = await made(w, body)
    w.put(deleting(body))
    w.clusters.set(None, CLUSTER)
    requests = w.kafka.total()
    await w.run(key)
    assert w.kafka.total() == requests
    assert w.kube.events_of(key) == [("Warning", "ClusterNotFound")]
    assert "finalizer released" in w.kube.messages_of(key, "ClusterNotFound")[0]
    assert w.kube.finalizers[key] == []


async def test_an_unreachable_cluster_is_told_by_the_cluster_not_by_each_resource() -> None:
    """A Ready topic keeps its status; a topic waiting to be created says it waits, without an Event of its own
    (the KafkaCluster posts one)."""
    w = world()
    ready_one = await made(w, topic("ready-one"))
    patches, requests = len(w.kube.patches), w.kafka.total()
    w.clusters.set(not_ready(w.kafka))
    waiting = w.put(topic("waiting"))
    await w.run(ready_one, waiting)
    assert ready(w.status(ready_one)) == ("True", "Reconciled")
    assert ready(w.status(waiting)) == ("False", "ClusterNotReady")
    assert len(w.kube.patches) == patches + 1
    assert w.kube.events == []
    assert w.kafka.total() == requests  # nothing sent to the unreachable cluster


async def test_deletion_waits_for_a_cluster_that_is_not_ready() -> None:
    w = world()
    body = topic()
    key = await made(w, body)
    w.put(deleting(body))
    w.clusters.set(not_ready(w.kafka))
    assert await w.run(key) == {key: 1.0}
    assert ready(w.status(key)) == ("False", "ClusterNotReady")
    assert "waiting to delete Kafka topic orders" in message(w.status(key))
    assert "remove_finalizer" not in w.kube.methods() and "orders" in w.kafka.topics
    w.connect()
    await w.run(key)
    assert "orders" not in w.kafka.topics and w.kube.finalizers[key] == []


# --- replica moves -----------------------------------------------------------------------------------------


def moving_world(**cluster_spec: Any) -> tuple[World, dict[str, Any], Key]:
    """Three brokers; topic orders with three partitions of one replica each, its spec asking for three."""
    w = world(**cluster_spec)
    w.kafka.add_topic("orders", [(1,), (2,), (3,)])
    body = topic(partitions=3, replicationFactor=3, ours=True)
    return w, body, w.put(body)


def last_moves(w: World) -> dict[str, dict[int, list[int] | None]]:
    return [d for m, d in w.kafka.calls if m == "alter_reassignments"][-1]


async def test_a_replication_factor_change_starts_a_reassignment() -> None:
    w, _, key = moving_world()
    assert await w.run(key) == {key: 2.0}
    assert {p: len(r) for p, r in last_moves(w)["orders"].items()} == {0: 3, 1: 3, 2: 3}
    assert {p: m.target for p, m in w.kafka.reassignments["orders"].items()} == {
        0: (1, 2, 3), 1: (2, 1, 3), 2: (3, 1, 2)}
    status = w.status(key)
    assert ready(status) == ("False", "ReplicasChanging")
    assert status["replicasChange"] == {"targetReplicas": 3, "state": "InProgress",
                                        "message": "replication factor 1 to 3: 0 of 3 partitions moved"}


async def test_a_move_to_another_size_is_retargeted() -> None:
    w, body, key = moving_world()
    await w.run(key)
    w.put(bump(body, replicationFactor=2))
    assert await w.run(key) == {key: 2.0}
    assert {p: len(r) for p, r in last_moves(w)["orders"].items()} == {0: 2, 1: 2, 2: 2}
    assert all(len(m.target) == 2 for m in w.kafka.reassignments["orders"].values())
    assert w.status(key)["replicasChange"]["targetReplicas"] == 2


async def test_going_back_to_the_original_size_cancels_the_move() -> None:
    w, body, key = moving_world()
    await w.run(key)
    w.put(bump(body, replicationFactor=1))
    assert await w.run(key) == {key: 2.0}
    assert last_moves(w) == {"orders": {0: None, 1: None, 2: None}}
    assert w.kafka.reassignments == {} and w.kafka.topics["orders"].replicas == [(1,), (2,), (3,)]
    assert await w.run(key) == {}
    assert ready(w.status(key)) == ("True", "Reconciled") and "replicasChange" not in w.status(key)


async def test_a_finished_move_is_ready_and_its_status_goes() -> None:
    w, _, key = moving_world()
    await w.run(key)
    moves = w.kafka.requests["alter_reassignments"]
    w.kafka.finish_reassignments()
    assert await w.run(key) == {}
    assert w.kafka.requests["alter_reassignments"] == moves
    status = w.status(key)
    assert ready(status) == ("True", "Reconciled")
    assert "replicasChange" not in status and status["replicationFactor"] == 3
    assert w.kube.patches_of(key)[-1]["replicasChange"] is None  # removed explicitly (merge patch)


THROTTLE = 10 * 1024 * 1024


async def test_a_throttled_move_sets_the_throttle_first_and_lifts_it_when_done() -> None:
    w, _, key = moving_world(replicationThrottleBytesPerSecond=THROTTLE)
    await w.run(key)
    calls = w.kafka.calls
    order = [m for m, _ in calls if m in ("set_replication_throttle", "set_topic_throttle", "alter_reassignments")]
    assert order == ["set_replication_throttle"] * 3 + ["set_topic_throttle", "alter_reassignments"]
    assert w.kafka.broker_throttle == {1: THROTTLE, 2: THROTTLE, 3: THROTTLE}
    assert all(w.kafka.topics["orders"].overrides[k] == "*" for k in THROTTLED_REPLICAS)
    assert await w.run(key) == {key: 2.0}  # still moving: kto's throttle is not taken for drift
    assert all(k in w.kafka.topics["orders"].overrides for k in THROTTLED_REPLICAS)
    w.kafka.finish_reassignments()
    assert await w.run(key) == {}
    assert w.kafka.broker_throttle == {} and w.kafka.topics["orders"].overrides == {}
    assert ready(w.status(key)) == ("True", "Reconciled")


async def test_a_transient_failure_while_moving_keeps_following_the_move() -> None:
    w, _, key = moving_world(replicationThrottleBytesPerSecond=THROTTLE)
    await w.run(key)
    w.kafka.fail("list_reassignments", None, TIMEOUT)
    assert await w.run(key) == {key: 1.0}
    assert w.status(key)["replicasChange"]["targetReplicas"] == 3
    w.kafka.heal("list_reassignments", None)
    assert await w.run(key) == {key: 2.0}  # still moving
    w.kafka.finish_reassignments()
    await w.run(key)
    assert w.kafka.broker_throttle == {} and w.kafka.topics["orders"].overrides == {}


async def test_a_block_is_forgotten_once_the_topic_succeeds() -> None:
    w = world(brokers=(1, 2))
    key = w.put(topic(replicationFactor=3))
    await w.run(key)
    assert ready(w.status(key)) == ("False", "InsufficientBrokers")
    w.kafka.brokers = (1, 2, 3)
    w.connect()
    await w.run(key)
    assert ready(w.status(key)) == ("True", "Reconciled")
    w.kafka.brokers = (1, 2)  # one broker restarts; the topic exists with replication factor 3
    w.connect()
    await w.run(key)
    assert ready(w.status(key)) == ("True", "Reconciled")


# --- users ---------------------------------------------------------------------------------------------------


def application_secret(w: World, name: str = "ingest-kafka") -> dict[str, Any]:
    return w.kube.secrets[("apps", name)]


async def test_a_user_gets_credentials_a_secret_and_acls() -> None:
    w = world("user")
    key = w.put(user(authorization=READ_ORDERS))
    assert await w.run(key) == {}
    calls = w.kube.methods()
    assert calls.index("add_finalizer") < calls.index("alter_scram") < calls.index("write_secret")
    _, password = w.kafka.scram["ingest"]["SCRAM-SHA-512"]
    secret = application_secret(w)
    assert secret["data"]["password"] == password.encode() and secret["data"]["username"] == b"ingest"
    assert credential_matches(secret["annotations"][names.ANNOTATION_CREDENTIAL_HASH], "ingest", "SCRAM-SHA-512",
                              password)
    assert [r["uid"] for r in secret["ownerReferences"]] == ["uid-apps-ingest"]
    assert w.kafka.acls["User:ingest"] == {Acl("TOPIC", "orders", "LITERAL", "*", op, "ALLOW")
                                           for op in ("READ", "DESCRIBE")}
    status = w.status(key)
    assert ready(status) == ("True", "Reconciled")
    assert (status["userName"], status["secretName"], status["acls"]) == ("ingest", "ingest-kafka", 2)
    assert w.kube.events == []
    before = len(w.kube.calls)
    assert await w.run(key) == {}  # in sync: nothing written
    assert set(w.kube.methods()[before:]) == {"read_secret", "describe_scram", "describe_acls"}


async def test_a_password_secret_not_marked_for_kto_is_not_read() -> None:
    w = world("user")
    w.kube.put_secret("apps", "db-password", {"password": "not-for-kafka"})
    key = w.put(user(authentication={"type": "scram-sha-512", "passwordSecretRef": {"name": "db-password"}}))
    assert await w.run(key) == {key: 1.0}
    assert ready(w.status(key)) == ("False", "SecretNotMarked")
    assert "kubectl label secret db-password kto.dev/credentials=true" in message(w.status(key))
    assert "scram" not in " ".join(w.kafka.requests)  # nothing sent to Kafka
    assert "not-for-kafka" not in repr(w.kube.events) + repr(w.kube.patches)


async def test_a_changed_password_is_rotated() -> None:
    w = world("user")
    w.kube.put_secret("apps", "ingest-password", {"password": "s3cret-one"}, labels=MARKED)
    key = w.put(user(authentication={"type": "scram-sha-512", "passwordSecretRef": {"name": "ingest-password"}}))
    await w.run(key)
    assert w.kafka.scram["ingest"]["SCRAM-SHA-512"][1] == "s3cret-one"
    w.kube.put_secret("apps", "ingest-password", {"password": "s3cret-two"}, labels=MARKED)
    assert await w.run(key) == {}
    assert w.kafka.requests["alter_scram"] == 2
    assert w.kafka.scram["ingest"]["SCRAM-SHA-512"][1] == "s3cret-two"
    assert application_secret(w)["data"]["password"] == b"s3cret-two"
    assert w.kube.events_of(key) == [("Normal", "CredentialsRotated")]
    assert "s3cret" not in repr(w.kube.events) + repr(w.kube.patches)


async def test_an_acl_added_out_of_band_is_removed_as_drift() -> None:
    w = world("user")
    key = await made(w, user(authorization=READ_ORDERS))
    extra = Acl("TOPIC", "orders", "LITERAL", "*", "WRITE", "ALLOW")
    w.kafka.acls["User:ingest"].add(extra)
    assert await w.run(key) == {}
    assert extra not in w.kafka.acls["User:ingest"] and len(w.kafka.acls["User:ingest"]) == 2
    assert w.kube.events_of(key) == [("Normal", "DriftCorrected")]
    assert "1 removed (allow WRITE on topic orders)" in w.kube.messages_of(key, "DriftCorrected")[0]


async def test_two_users_naming_one_kafka_user_the_older_owns_it() -> None:
    w = world("user")
    newer = w.put(user("b", created=NEWER, userName="svc"))
    older = w.put(user("a", created=OLDER, userName="svc"))
    await w.run(newer, older)
    assert ready(w.status(older)) == ("True", "Reconciled")
    assert ready(w.status(newer)) == ("False", "ResourceConflict")
    assert "already managed by KafkaUser apps/a" in message(w.status(newer))
    assert [d for m, d in w.kafka.calls if m == "alter_scram"] == [((("svc", "SCRAM-SHA-512"),), ())]
    assert ("apps", "b-kafka") not in w.kube.secrets


NO_AUTHORIZER = KafkaFailure(Reason.AUTHORIZER_NOT_ENABLED, "listing ACLs: security features are disabled", False)


@pytest.mark.parametrize(("authorization", "reason"), [(None, "Reconciled"), (READ_ORDERS, "AuthorizerNotEnabled")])
async def test_without_an_authorizer_only_users_without_acls_are_ready(authorization, reason: str) -> None:
    w = world("user")
    w.kafka.fail("describe_acls", None, NO_AUTHORIZER)
    key = w.put(user(**({"authorization": authorization} if authorization else {})))
    assert await w.run(key) == {}  # no retry loop: the cluster's resync looks again
    assert ready(w.status(key))[1] == reason
    assert ("apps", "ingest-kafka") in w.kube.secrets  # the credentials work either way
    requests = w.kafka.requests["describe_acls"]
    await w.run(key)
    assert w.kafka.requests["describe_acls"] == requests + 1  # not blocked


async def test_a_missing_password_secret_is_retried_without_kafka() -> None:
    w = world("user")
    key = w.put(user(authentication={"type": "scram-sha-512", "passwordSecretRef": {"name": "nope"}}))
    assert await w.run(key) == {key: 1.0}
    assert ready(w.status(key)) == ("False", "SecretNotFound")
    assert "Secret nope does not exist" in message(w.status(key))
    assert w.kafka.total() == 0 and ("apps", "ingest-kafka") not in w.kube.secrets


async def test_a_permanent_user_failure_waits_for_a_new_generation() -> None:
    w = world("user")
    body = user()
    key = w.put(body)
    w.kafka.fail("describe_scram", "ingest", KafkaFailure(
        Reason.NOT_SUPPORTED, "describing the SCRAM credentials of user ingest: unsupported version", False))
    assert await w.run(key) == {}
    assert ready(w.status(key)) == ("False", "NotSupported")
    requests = w.kafka.total()
    assert await w.run(key) == {}
    assert w.kafka.total() == requests
    w.kafka.heal("describe_scram", "ingest")
    w.put(bump(body, authorization=READ_ORDERS))
    await w.run(key)
    assert ready(w.status(key)) == ("True", "Reconciled")


async def test_deleting_a_user_deletes_its_credentials_and_every_acl() -> None:
    w = world("user")
    body = user(authorization=READ_ORDERS)
    key = await made(w, body)
    w.kafka.acls["User:ingest"].add(Acl("GROUP", "g", "LITERAL", "*", "READ", "ALLOW"))
    w.kafka.acls["User:other"] = {Acl("TOPIC", "orders", "LITERAL", "*", "READ", "ALLOW")}
    w.put(deleting(body))
    assert await w.run(key) == {}
    assert "ingest" not in w.kafka.scram
    assert "User:ingest" not in w.kafka.acls and "User:other" in w.kafka.acls
    calls = w.kube.methods()
    assert calls.index("delete_acls") < calls.index("remove_finalizer")
    assert w.kube.events_of(key) == [("Normal", "UserDeleted")]
    assert w.kube.finalizers[key] == []


async def test_a_retained_user_is_released_and_kept() -> None:
    w = world("user")
    body = user(authorization=READ_ORDERS, deletionPolicy="Retain")
    key = await made(w, body)
    requests = w.kafka.total()
    w.put(deleting(body))
    await w.run(key)
    assert w.kafka.total() == requests
    assert "ingest" in w.kafka.scram and w.kafka.acls["User:ingest"]
    assert w.kube.events_of(key) == [("Normal", "UserRetained")]
    assert w.kube.finalizers[key] == []


async def test_a_secret_conflict_clears_once_the_secret_is_gone() -> None:
    w = world("user")
    w.kube.put_secret("apps", "ingest-kafka", {"password": "theirs"})
    key = w.put(user())
    await w.run(key)
    assert ready(w.status(key)) == ("False", "ResourceConflict")
    assert "Secret ingest-kafka exists" in message(w.status(key))
    del w.kube.secrets[("apps", "ingest-kafka")]
    await w.run(key)  # the cluster's next resync
    assert ready(w.status(key)) == ("True", "Reconciled")


# --- events: what is enqueued ------------------------------------------------------------------------------


class FakeQueue:
    def __init__(self) -> None:
        self.keys: list[Key] = []

    def enqueue(self, key: Key, delay: float = 0.0) -> None:
        self.keys.append(key)


def queued(w: World, monkeypatch: pytest.MonkeyPatch) -> FakeQueue:
    q = FakeQueue()
    monkeypatch.setattr(w.rec, "queue", {CLUSTER: q}.__getitem__)  # only the cluster's own queue
    return q


def status_only(body: dict[str, Any]) -> None:
    body["status"] = {"observedGeneration": 1}
    body["metadata"]["resourceVersion"] = "2"


def other_finalizer(body: dict[str, Any]) -> None:
    body["metadata"]["finalizers"] = ["example.com/other"]


def new_generation(body: dict[str, Any]) -> None:
    body["metadata"]["generation"] = 2


def paused(body: dict[str, Any]) -> None:
    body["metadata"]["annotations"] = {names.ANNOTATION_PAUSED: "true"}


def unmanaged(body: dict[str, Any]) -> None:
    body["metadata"]["annotations"] = {names.ANNOTATION_MANAGED: "false"}


def kto_finalizer(body: dict[str, Any]) -> None:
    body["metadata"]["finalizers"] = [names.FINALIZER]


@pytest.mark.parametrize(("change", "enqueued"), [
    (status_only, False), (other_finalizer, False), (new_generation, True), (paused, True), (unmanaged, True),
    (kto_finalizer, True), (deleting, True),
])
def test_only_changes_that_matter_are_enqueued(change, enqueued: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    w = world()
    q = queued(w, monkeypatch)
    body = topic()
    w.rec.event("ADDED", body)
    assert q.keys == [("apps", "orders")]
    changed = copy.deepcopy(body)
    change(changed)
    w.rec.event("MODIFIED", changed)
    assert len(q.keys) == (2 if enqueued else 1)
    assert w.rec.store.get(("apps", "orders"))["metadata"] == own(changed)["metadata"]  # kept either way


def test_the_store_keeps_only_what_kto_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    w = world()
    queued(w, monkeypatch)
    body = topic()
    body["metadata"].update(
        managedFields=[{"manager": "kubectl", "fieldsV1": {"f:spec": {"f:partitions": {}}}}], labels={"team": "a"},
        annotations={names.ANNOTATION_ADOPT: "true", "kubectl.kubernetes.io/last-applied-configuration": "{}"},
        finalizers=[names.FINALIZER], deletionTimestamp="2026-01-01T00:00:00Z", resourceVersion="7")
    w.rec.event("ADDED", body)
    kept = w.rec.store.get(("apps", "orders"))
    assert set(kept["metadata"]) == {"name", "namespace", "uid", "generation", "resourceVersion", "creationTimestamp",
                                     "deletionTimestamp", "finalizers", "annotations"} & set(body["metadata"])
    assert kept["metadata"]["annotations"] == {names.ANNOTATION_ADOPT: "true"}
    assert kept["spec"] is body["spec"] and kept.get("status") == body.get("status")
    assert "managedFields" in body["metadata"]  # the watched object itself is not changed


def test_a_deleted_resource_hands_its_name_to_the_other_claimants(monkeypatch: pytest.MonkeyPatch) -> None:
    w = world()
    q = queued(w, monkeypatch)
    older, newer = topic("a", topicName="shared"), topic("b", created=NEWER, topicName="shared")
    w.rec.event("ADDED", older)
    w.rec.event("ADDED", newer)
    w.rec.event("ADDED", topic("c", topicName="unrelated"))
    q.keys.clear()
    w.rec.event("DELETED", older)
    assert q.keys == [("apps", "b")]
    assert ("apps", "a") not in w.rec.store


def test_a_cluster_resync_enqueues_each_of_its_resources(monkeypatch: pytest.MonkeyPatch) -> None:
    w = world()
    q = queued(w, monkeypatch)
    for name in ("a", "b"):
        w.put(topic(name))
    w.put(topic("elsewhere", clusterRef={"name": "other"}))
    for listener in w.clusters.listeners:
        listener(CLUSTER)
    assert sorted(q.keys) == [("apps", "a"), ("apps", "b")]


# --- what was there before: adoption, one claim space per Kafka cluster, ownership that never moves ----------


async def test_an_existing_topic_that_matches_is_adopted_without_a_kafka_write() -> None:
    w = world()
    w.kafka.add_topic("legacy", [(1,), (2,)], {"cleanup.policy": "compact", "retention.ms": "-1"})
    key = w.put(topic("legacy", partitions=2, config={"cleanup.policy": "compact", "retention.ms": -1}))
    retries = await w.run(key)
    assert retries == {key: 0.2}  # looked at again soon, to add the finalizer
    assert "add_finalizer" not in w.kube.methods()  # the adoption is recorded before kto's finalizer
    assert w.status(key)["adopted"] is True and w.status(key)["topicId"] == w.kafka.topics["legacy"].topic_id
    assert w.kube.events_of(key) == [("Normal", "TopicAdopted")]
    await w.run(key)
    assert w.kube.finalizers[key] == [names.FINALIZER]
    assert set(w.kafka.requests) == {"describe_topics"}  # nothing written to Kafka, ever
    assert ready(w.status(key)) == ("True", "Reconciled") and w.status(key)["adopted"] is True


async def test_an_existing_topic_that_differs_is_refused_with_every_difference() -> None:
    w = world()
    w.kafka.add_topic("legacy", [(1,), (2,)], {"cleanup.policy": "compact", "retention.ms": "-1"})
    key = w.put(topic("legacy"))  # no config: adopting would strip both overrides
    assert await w.run(key) == {}
    status = w.status(key)
    assert ready(status) == ("False", "AdoptionRequired")
    text = message(status)
    assert "cleanup.policy override compact would be removed" in text
    assert "retention.ms override -1 would be removed" in text
    assert f"{names.ANNOTATION_ADOPT}={names.ADOPT_OVERWRITE}" in text
    assert w.kafka.topics["legacy"].overrides == {"cleanup.policy": "compact", "retention.ms": "-1"}
    assert set(w.kafka.requests) == {"describe_topics"} and "add_finalizer" not in w.kube.methods()
    requests = w.kafka.total()
    assert await w.run(key) == {} and w.kafka.total() == requests  # waits for the spec or the annotation


async def test_the_overwrite_annotation_takes_the_topic_over_in_two_passes() -> None:
    w = world()
    w.kafka.add_topic("legacy", [(1,)], {"cleanup.policy": "compact"})
    key = w.put(topic("legacy", annotations={names.ANNOTATION_ADOPT: names.ADOPT_OVERWRITE}))
    assert await w.run(key) == {key: 0.2}
    assert ready(w.status(key)) == ("False", "Adopting") and w.status(key)["adopted"] is True
    assert w.kafka.topics["legacy"].overrides == {"cleanup.policy": "compact"}  # recorded first, changed next
    await w.run(key)
    assert w.kafka.topics["legacy"].overrides == {}
    assert ready(w.status(key)) == ("True", "Reconciled") and w.status(key)["adopted"] is True


async def test_an_adopted_topic_is_kept_unless_the_resource_itself_says_delete() -> None:
    w = world(deletionPolicy="Delete")  # the cluster's default does not count for an adopted topic
    w.kafka.add_topic("legacy", [(1,)])
    key = w.put(topic("legacy"))
    await w.run(key)
    await w.run(key)
    body = w.rec.store.get(key)
    body["status"] = w.status(key)
    w.put(deleting(body))
    await w.run(key)
    assert "legacy" in w.kafka.topics and w.kube.finalizers[key] == []
    assert "kto adopted it" in w.kube.messages_of(key, "TopicRetained")[0]


async def test_a_topic_kto_created_but_could_not_record_is_its_own() -> None:
    """kto wrote its intent in the ledger, created the topic and was stopped before writing status."""
    w = world()
    body = topic(partitions=1)
    body["metadata"]["finalizers"] = [names.FINALIZER]
    key = w.put(body)
    await w.rec.ledger.record(CLUSTER, [(body["metadata"]["uid"], "orders")], [])
    w.kafka.add_topic("orders", [(1,)], {"retention.ms": "5"})  # differs from the spec: only the ledger says ours
    assert await w.run(key) == {}
    status = w.status(key)
    assert ready(status) == ("True", "Reconciled") and "adopted" not in status
    assert status["ownership"] == "Created" and w.kafka.topics["orders"].overrides == {}


async def test_a_forged_finalizer_owns_nothing() -> None:
    """A tenant sets kto's finalizer at creation: adoption rules apply in full, and deleting touches nothing."""
    w = world()
    w.kafka.add_topic("orders", [(1,)], {"retention.ms": "604800000"})
    body = topic(partitions=1, config={"retention.ms": 1000})
    body["metadata"]["finalizers"] = [names.FINALIZER]
    key = w.put(body)
    await w.run(key)
    assert ready(w.status(key)) == ("False", "AdoptionRequired")
    assert w.kafka.topics["orders"].overrides == {"retention.ms": "604800000"}
    body["metadata"]["deletionTimestamp"] = NOW.isoformat()
    await w.run(key)
    assert "orders" in w.kafka.topics and w.kafka.requests["delete_topics"] == 0
    assert "remove_finalizer" in w.kube.methods()


async def test_one_ledger_write_per_batch_of_creates() -> None:
    w = world()
    keys = [w.put(topic(f"t{i}", partitions=1)) for i in range(20)]
    await w.run(*keys)
    # One write for the batch (and one the first time, creating the ledger's ConfigMap).
    assert w.kube.methods().count("write_config_map") == 2 and w.kafka.requests["create_topics"] == 1
    assert all(w.status(k)["ownership"] == "Created" for k in keys)
    # The next creates drop the intents whose status now records ownership.
    more = w.put(topic("t-more", partitions=1))
    await w.run(more)
    (data, _), = w.kube.config_maps.values()
    assert len(data["intents"].split()) == 1


async def test_an_uninstall_never_deletes_data() -> None:
    """The KafkaTopic CRD is being deleted: its objects go with it, their Kafka topics stay."""
    w = world()
    key = await made(w, topic(partitions=1))
    w.kube.crd_terminating.add(names.TOPIC_PLURAL)
    body = w.rec.store.get(key)
    body["metadata"]["deletionTimestamp"] = NOW.isoformat()
    body["metadata"]["finalizers"] = [names.FINALIZER]
    await w.run(key)
    assert "orders" in w.kafka.topics and w.kafka.requests["delete_topics"] == 0
    assert w.kube.events_of(key)[-1] == ("Warning", "KindDeleted")


async def test_a_refused_claim_grants_no_acls_on_the_topic() -> None:
    """Only a KafkaTopic whose status records ownership makes its namespace the topic's owner for ACLs."""
    w = world(allowedNamespaces=["team-a"], protectedTopics=["payments"])
    refused = w.put(topic("payments", ns="team-a", clusterRef={"name": "kafka", "namespace": "apps"}))
    fresh = w.put(topic("fresh", ns="team-a", clusterRef={"name": "kafka", "namespace": "apps"}))
    snap = w.clusters.snapshot(CLUSTER)
    assert w.rec.owner_namespace(snap, "payments") is None and w.rec.owner_namespace(snap, "fresh") is None
    await w.run(refused, fresh)
    assert ready(w.status(refused)) == ("False", "Protected")
    assert w.rec.owner_namespace(snap, "payments") is None
    assert w.rec.owner_namespace(snap, "fresh") == "team-a"  # created by kto for it: now it owns the name


async def test_a_user_refused_for_another_principal_touches_nothing_of_it() -> None:
    """A tenant's KafkaUser naming the platform's principal (finalizer forged or not) revokes nothing of it."""
    grant = {"namespace": "team-a", "topicPrefixes": ["team-a-"]}
    w = world("user", users={"allowedNamespaces": ["team-a"], "grants": [grant]})
    platform = {Acl("TOPIC", "billing", "LITERAL", "*", op, "ALLOW") for op in ("READ", "WRITE", "DESCRIBE")}
    w.kafka.acls["User:billing-app"] = set(platform)
    w.kafka.scram["billing-app"] = {"SCRAM-SHA-512": (8192, "theirs")}
    body = user("x", ns="team-a", userName="billing-app", clusterRef={"name": "kafka", "namespace": "apps"},
                authorization={"acls": [{"resource": {"type": "topic", "name": "billing"}, "operations": ["Read"]}]})
    body["metadata"]["finalizers"] = [names.USER_FINALIZER]
    key = w.put(body)
    for _ in range(2):
        await w.run(key)
    assert ready(w.status(key)) == ("False", "NotPermitted")
    assert w.kafka.acls["User:billing-app"] == platform
    assert w.kafka.scram["billing-app"]["SCRAM-SHA-512"][1] == "theirs"
    body["metadata"]["deletionTimestamp"] = NOW.isoformat()
    await w.run(key)
    assert w.kafka.acls["User:billing-app"] == platform and "billing-app" in w.kafka.scram


async def test_a_tenant_cannot_take_over_a_principal_with_credentials() -> None:
    w = world("user", users={"allowedNamespaces": ["team-a"],
                             "grants": [{"namespace": "team-a", "topicPrefixes": ["team-a-"]}]})
    w.kafka.scram["team-a-app"] = {"SCRAM-SHA-512": (8192, "theirs")}
    key = w.put(user("app", ns="team-a", userName="team-a-app", clusterRef={"name": "kafka", "namespace": "apps"},
                     annotations={names.ANNOTATION_ADOPT: names.ADOPT_OVERWRITE}))
    await w.run(key)
    assert ready(w.status(key)) == ("False", "AdoptionRequired")
    assert "only a KafkaUser in the KafkaCluster's namespace apps" in message(w.status(key))
    assert w.kafka.scram["team-a-app"]["SCRAM-SHA-512"][1] == "theirs"


@pytest.mark.parametrize("name", ["ANONYMOUS", "root"])
async def test_super_users_and_anonymous_are_protected(name: str) -> None:
    w = world("user")
    snap = w.clusters.snapshot(CLUSTER)
    w.clusters.set(replace(snap, facts=replace(snap.facts, super_users=frozenset({"root"}))))
    key = w.put(user("x", userName=name))
    await w.run(key)
    assert ready(w.status(key)) == ("False", "Protected")
    assert w.kafka.total() == 0 and name not in w.kafka.scram


async def test_a_namespace_no_longer_allowed_loses_what_kto_gave_its_users() -> None:
    grant = {"namespace": "team-a", "topicPrefixes": ["team-a-"]}
    w = world("user", users={"allowedNamespaces": ["team-a"], "grants": [grant]})
    acls = {"acls": [{"resource": {"type": "topic", "name": "team-a-events"}, "operations": ["Read"]}]}
    body = user("app", ns="team-a", authorization=acls, clusterRef={"name": "kafka", "namespace": "apps"})
    key = await made(w, body)
    assert w.status(key)["ownership"] == "Created" and w.kafka.scram.get("app")
    w.connect(users={"allowedNamespaces": [], "grants": [grant]})
    await w.run(key)
    status = w.status(key)
    assert ready(status) == ("False", "NamespaceNotAllowed") and "ownership" not in status
    assert not w.kafka.scram.get("app") and not w.kafka.acls.get("User:app")
    assert ("Warning", "AccessRevoked") in w.kube.events_of(key)


async def test_a_tenant_user_cannot_retain() -> None:
    w = world("user", users={"allowedNamespaces": ["team-a"]})
    key = await made(w, user("app", ns="team-a", deletionPolicy="Retain",
                              clusterRef={"name": "kafka", "namespace": "apps"}))
    body = w.rec.store.get(key)
    body["metadata"]["deletionTimestamp"] = NOW.isoformat()
    await w.run(key)
    assert not w.kafka.scram.get("app")


async def test_a_topic_replaced_outside_kto_needs_adoption_again() -> None:
    w = world()
    key = await made(w, topic(partitions=1))
    body = w.rec.store.get(key)
    body["status"] = w.status(key)
    del w.kafka.topics["orders"]
    w.kafka.add_topic("orders", [(1,)], {"retention.ms": "5"})  # someone else's topic now, another id
    await w.run(key)
    assert ready(w.status(key)) == ("False", "AdoptionRequired")
    assert w.kafka.topics["orders"].overrides == {"retention.ms": "5"}


async def test_an_existing_kafka_user_needs_the_opt_in() -> None:
    w = world("user")
    w.kafka.scram["ingest"] = {"SCRAM-SHA-512": (8192, "theirs")}
    key = w.put(user(authorization=READ_ORDERS))
    assert await w.run(key) == {}
    assert ready(w.status(key)) == ("False", "AdoptionRequired")
    assert "SCRAM-SHA-512 credentials" in message(w.status(key))
    assert w.kafka.scram["ingest"]["SCRAM-SHA-512"][1] == "theirs" and "User:ingest" not in w.kafka.acls
    assert ("apps", "ingest-kafka") not in w.kube.secrets


async def test_an_existing_kafka_user_is_taken_over_with_the_opt_in() -> None:
    w = world("user")
    w.kafka.scram["ingest"] = {"SCRAM-SHA-512": (8192, "theirs")}
    key = w.put(user(annotations={names.ANNOTATION_ADOPT: names.ADOPT_OVERWRITE}, authorization=READ_ORDERS))
    assert await w.run(key) == {key: 0.2}
    assert ready(w.status(key)) == ("False", "Adopting") and w.status(key)["adopted"] is True
    body = w.rec.store.get(key)
    body["status"] = w.status(key)
    await w.run(key)
    assert ready(w.status(key)) == ("True", "Reconciled")
    assert w.kafka.scram["ingest"]["SCRAM-SHA-512"][1] != "theirs"


async def test_two_kafka_clusters_reaching_the_same_brokers_share_one_claim_space() -> None:
    w = world()
    other = ("team-b", "same-brokers")
    w.clusters.set(connected(other, w.kafka))
    await made(w, topic("orders", created=NEWER))
    rival_body = topic("orders", ns="team-b", created=OLDER)
    rival_body["spec"]["clusterRef"] = {"name": "same-brokers"}
    rival = w.put(rival_body)
    await w.rec.reconcile(other, [rival])
    assert ready(w.status(rival)) == ("False", "ResourceConflict")
    assert "through KafkaCluster apps/kafka, which reaches the same Kafka cluster" in message(w.status(rival))
    assert w.kafka.requests["create_topics"] == 1 and w.kube.finalizers.get(rival) is None


async def test_allowing_a_namespace_later_never_hands_a_topic_over() -> None:
    w = world()
    owner = await made(w, topic("orders", created=NEWER, partitions=1))
    older = w.put(topic("orders", ns="team-b", created=OLDER, partitions=4))
    w.connect(allowedNamespaces=["team-b"])
    await w.run(owner, older)
    assert ready(w.status(older)) == ("False", "ResourceConflict")
    assert ready(w.status(owner)) == ("True", "Reconciled")
    assert len(w.kafka.topics["orders"].replicas) == 1


# --- tenants stay in their lane ------------------------------------------------------------------------------


@pytest.mark.parametrize(("topic_name", "protected", "why"), [
    ("orders", ["orders"], "spec.protectedTopics"),
    ("audit.logins", ["audit.*"], "spec.protectedTopics"),
])
async def test_a_protected_topic_is_never_touched(topic_name, protected, why) -> None:
    w = world(protectedTopics=protected)
    w.kafka.add_topic(topic_name, [(1,)], {"retention.ms": "1"})
    key = w.put(topic("t", topicName=topic_name, partitions=3, ours=True))
    await w.run(key)
    assert ready(w.status(key)) == ("False", "Protected") and why in message(w.status(key))
    assert w.kafka.total() == 0
    w.put(deleting(topic("t", topicName=topic_name, ours=True, deletionPolicy="Delete")))
    await w.run(key)
    assert topic_name in w.kafka.topics and w.kube.finalizers[key] == []  # released, never deleted
    assert w.kube.events_of(key)[-1] == ("Warning", "Protected")


async def test_kto_s_own_user_and_protected_principals_are_nobody_s() -> None:
    w = world("user", protectedPrincipals=["svc-*"])
    w.clusters.set(dataclasses.replace(w.clusters.snapshot(CLUSTER), principal="admin"))
    mine, theirs = w.put(user("a", userName="admin")), w.put(user("b", userName="svc-billing"))
    await w.run(mine, theirs)
    assert ready(w.status(mine)) == ("False", "Protected") and "kto itself connects as" in message(w.status(mine))
    assert ready(w.status(theirs)) == ("False", "Protected")
    assert w.kafka.total() == 0 and w.kube.secrets == {}


async def test_a_tenant_may_grant_only_what_the_cluster_grants_it() -> None:
    w = world("user", users={"allowedNamespaces": ["team-a"],
                             "grants": [{"namespace": "team-a", "groupPrefixes": ["team-a-"]}]})
    acls = {"acls": [{"resource": {"type": "topic", "name": "payments"}, "operations": ["Read"]},
                     {"resource": {"type": "group", "name": "team-a-app"}, "operations": ["Read"]},
                     {"resource": {"type": "cluster"}, "operations": ["Alter"]}]}
    key = w.put(user("app", ns="team-a", authorization=acls, clusterRef={"name": "kafka", "namespace": "apps"}))
    await w.run(key)
    status = w.status(key)
    assert ready(status) == ("False", "NotPermitted")
    assert "acls[0] (topic payments)" in message(status) and "acls[2] (cluster kafka-cluster)" in message(status)
    assert "acls[1]" not in message(status)
    assert w.kafka.total() == 0 and w.kube.secrets == {}  # nothing of it applied


async def test_a_narrowed_grant_revokes_what_it_no_longer_permits_and_nothing_else() -> None:
    grant = {"namespace": "team-a", "groupPrefixes": ["team-a-"], "topicPrefixes": ["team-a-"]}
    w = world("user", users={"allowedNamespaces": ["team-a"], "grants": [grant]})
    acls = {"acls": [{"resource": {"type": "topic", "name": "team-a-events"}, "operations": ["Read", "Write"]},
                     {"resource": {"type": "group", "name": "team-a-app"}, "operations": ["Read"]}]}
    body = user("app", ns="team-a", authorization=acls, clusterRef={"name": "kafka", "namespace": "apps"})
    key = await made(w, body)
    p = "User:app"
    assert len(w.kafka.acls[p]) == 3
    w.kafka.acls[p].add(Acl("GROUP", "other", "LITERAL", "*", "READ", "ALLOW"))  # set by hand: not kto's to judge
    body["metadata"]["finalizers"] = [names.USER_FINALIZER]
    w.connect(users={"allowedNamespaces": ["team-a"], "grants": [{**grant, "topicPrefixes": []}]})
    await w.run(key)
    status = w.status(key)
    assert ready(status) == ("False", "NotPermitted")
    assert "acls[0] (topic team-a-events)" in message(status)
    assert "that kto applied before the grant was narrowed are revoked" in message(status)
    assert {(a.name, a.operation) for a in w.kafka.acls[p]} == {("team-a-app", "READ"), ("other", "READ")}
    assert [e[2] for e in w.kube.events if e[0] == key] == ["AclsRevoked", "NotPermitted"]
    # Nothing left to revoke: the next look deletes nothing and says nothing new.
    deletes = w.kafka.requests["delete_acls"]
    await w.run(key)
    assert w.kafka.requests["delete_acls"] == deletes
    assert [e[2] for e in w.kube.events if e[0] == key] == ["AclsRevoked", "NotPermitted"]


async def test_users_follow_their_own_namespace_list() -> None:
    w = world("user", allowedNamespaces=["team-a"])  # lets team-a's topics in, not its users
    key = w.put(user("app", ns="team-a", clusterRef={"name": "kafka", "namespace": "apps"}))
    await w.run(key)
    assert ready(w.status(key)) == ("False", "NamespaceNotAllowed")
    assert "spec.users.allowedNamespaces" in message(w.status(key))


# --- faults: one bad resource never blocks the others; the store stays true ------------------------------------


async def test_a_resource_that_makes_kto_fail_is_isolated_from_its_batch(monkeypatch) -> None:
    w = world()
    keys = [w.put(topic(f"t{i}", partitions=1)) for i in range(7)] + [w.put(topic("bad", partitions=1))]
    create = w.kafka.create_topics

    async def failing(actions):
        if any(a.name == "bad" for a in actions):
            raise RuntimeError("boom")
        return await create(actions)

    monkeypatch.setattr(w.kafka, "create_topics", failing)
    retries = await w.run(*keys)
    assert all(ready(w.status(k)) == ("True", "Reconciled") for k in keys[:-1])
    assert ready(w.status(keys[-1])) == ("False", "KafkaError")
    assert "RuntimeError: boom" in message(w.status(keys[-1])) and retries == {keys[-1]: 1.0}


async def test_a_sweep_forgets_objects_the_apiserver_no_longer_has() -> None:
    w = world()
    kept, vanished = w.put(topic("kept")), w.put(topic("vanished", topicName="shared"))
    newer = w.put(topic("newer", created=NEWER, topicName="shared"))
    for key in (kept, vanished, newer):
        w.rec.store.get(key)["metadata"] |= {"uid": f"u-{key[1]}", "resourceVersion": "1"}

    async def list_keys(plural, namespaces=None):
        return {("apps", "kept", "u-kept", "1"), ("apps", "newer", "u-newer", "1")}

    w.kube.list_keys = list_keys
    w.rec.queue = lambda ckey: type("Q", (), {"enqueue": lambda self, key, delay=0.0: None})()
    assert await w.rec.sweep() == [vanished]
    assert vanished not in w.rec.store and kept in w.rec.store
    assert [c.name for c in w.rec.store.claims(("apps", "kafka", "shared"))] == ["newer"]  # the claim went with it
    assert w.rec.watch_missed == 0


async def test_sweeps_tell_a_watch_that_misses_changes_from_one_that_is_a_moment_behind() -> None:
    w = world()
    key = w.put(topic("orders"))
    w.rec.store.get(key)["metadata"] |= {"uid": "u-orders", "resourceVersion": "1"}
    listing = {("apps", "orders", "u-orders", "1")}

    async def list_keys(plural, namespaces=None):
        return set(listing)

    w.kube.list_keys = list_keys
    await w.rec.sweep()
    assert w.rec.watch_missed == 0
    # Changed in the apiserver: behind at one sweep is normal; the watch delivers the change before the next.
    listing = {("apps", "orders", "u-orders", "2"), ("apps", "new", "u-new", "5")}
    await w.rec.sweep()
    assert w.rec.watch_missed == 0
    w.rec.store.get(key)["metadata"]["resourceVersion"] = "2"
    w.put(topic("new"))
    w.rec.store.get(("apps", "new"))["metadata"] |= {"uid": "u-new", "resourceVersion": "5"}
    await w.rec.sweep()
    assert w.rec.watch_missed == 0
    # Changed again, and the watch delivers nothing for two sweeps: missed, twice in a row.
    listing = {("apps", "orders", "u-orders", "3"), ("apps", "new", "u-new", "5"), ("apps", "later", "u-l", "9")}
    for expected in (0, 1, 2):
        await w.rec.sweep()
        assert w.rec.watch_missed == expected
    # The watch delivers again: back to zero.
    w.rec.store.get(key)["metadata"]["resourceVersion"] = "3"
    w.put(topic("later"))
    w.rec.store.get(("apps", "later"))["metadata"] |= {"uid": "u-l", "resourceVersion": "9"}
    await w.rec.sweep()
    assert w.rec.watch_missed == 0


async def test_an_authentication_failure_in_a_batch_reprobes_the_cluster() -> None:
    w = world()
    w.kafka.fail("describe_topics", "orders", KafkaFailure(Reason.AUTHENTICATION_FAILED, "SASL authentication failed",
                                                       retriable=True))
    key = w.put(topic())
    await w.run(key)
    assert w.clusters.reprobed == [CLUSTER]


@pytest.mark.parametrize("reason", ["Unmanaged", "AdoptionRequired"])
async def test_a_topic_id_seen_without_owning_the_topic_proves_nothing(reason) -> None:
    w = world()
    w.kafka.add_topic("legacy", [(1,)], {"cleanup.policy": "compact"})
    body = topic("legacy", partitions=1, gen=2)
    body["status"] = {"topicId": w.kafka.topics["legacy"].topic_id, "observedGeneration": 1,
                      "conditions": [{"type": "Ready", "status": "False", "reason": reason, "message": "...",
                                      "lastTransitionTime": "2025-01-01T00:00:00Z"}]}
    key = w.put(body)  # observe-only removed, or the spec edited after a refusal: still not kto's topic
    await w.run(key)
    assert ready(w.status(key)) == ("False", "AdoptionRequired")
    assert w.kafka.topics["legacy"].overrides == {"cleanup.policy": "compact"}


async def test_a_topic_replaced_outside_kto_is_never_deleted_with_the_resource() -> None:
    w = world()
    key = await made(w, topic(partitions=1, deletionPolicy="Delete"))
    body = w.rec.store.get(key)
    body["status"] = w.status(key)
    del w.kafka.topics["orders"]
    w.kafka.add_topic("orders", [(1,)])  # somebody else's topic of the same name, another id
    w.put(deleting(body))
    await w.run(key)
    assert "orders" in w.kafka.topics and "delete_topics" not in w.kafka.requests
    assert w.kube.events_of(key)[-1] == ("Warning", "TopicNotDeleted") and w.kube.finalizers[key] == []


async def test_an_unreachable_apiserver_fails_the_batch_instead_of_splitting_it(monkeypatch) -> None:
    import urllib3

    w = world()
    keys = [w.put(topic(f"t{i}", partitions=1)) for i in range(4)]

    async def down(*args, **kwargs):
        raise urllib3.exceptions.MaxRetryError(None, "/apis", "connection refused")

    monkeypatch.setattr(w.kube, "add_finalizer", down)
    with pytest.raises(urllib3.exceptions.MaxRetryError):
        await w.run(*keys)
    assert w.kafka.requests.get("describe_topics", 0) == 1  # tried once, not once per half


def test_a_relisted_copy_older_than_kto_s_own_writes_is_ignored() -> None:
    w = world()
    enqueued: list = []
    w.rec.queue = lambda ckey: type("Q", (), {"enqueue": lambda self, key, delay=0.0: enqueued.append(key)})()
    body = topic(ours=True)
    body["metadata"] |= {"uid": "u1", "resourceVersion": "10"}
    w.rec.event("MODIFIED", body)
    stale = topic()  # as a relist after a watch expiry may deliver it: before kto's finalizer and status
    stale["metadata"] |= {"uid": "u1", "resourceVersion": "7"}
    w.rec.event("MODIFIED", stale)
    assert names.FINALIZER in w.rec.store.get(("apps", "orders"))["metadata"]["finalizers"]
    recreated = topic()
    recreated["metadata"] |= {"uid": "u2", "resourceVersion": "3"}  # another object of the same name: taken
    w.rec.event("ADDED", recreated)
    assert w.rec.store.get(("apps", "orders"))["metadata"]["uid"] == "u2"


def test_healthz_names_a_watch_that_missed_changes_two_sweeps_in_a_row() -> None:
    op = Operator(FakeKube())
    assert op.problems() == []
    op.users.watch_missed = 1
    assert op.problems() == []
    op.topics.watch_missed = 2
    assert op.problems() == ["the topic watch missed changes for 2 sweeps in a row"]


# --- metrics -----------------------------------------------------------------------------------------------


def sample(name: str, **labels: str) -> float:
    """The current value of one series of kto's metrics (0 when it does not exist)."""
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_a_failing_topic_counts_a_reconcile_an_error_and_reads_not_ready() -> None:
    w = world()
    key = w.put(topic())
    labels = {"kind": "topic", "kafka_cluster": "apps/kafka", "reason": "KafkaError"}
    before = sample("kto_reconcile_errors_total", **labels), sample("kto_reconciles_total", **labels)
    w.kafka.fail("create_topics", "orders", TIMEOUT)
    await w.run(key)
    assert (sample("kto_reconcile_errors_total", **labels), sample("kto_reconciles_total", **labels)) == \
        (before[0] + 1, before[1] + 1)
    assert REGISTRY.get_sample_value("kto_topic_ready", {"namespace": "apps", "name": "orders"}) == 0
    w.kafka.heal("create_topics", "orders")
    ok = {**labels, "reason": "Reconciled"}
    errors_ok = sample("kto_reconcile_errors_total", **ok)
    await w.run(key)
    assert REGISTRY.get_sample_value("kto_topic_ready", {"namespace": "apps", "name": "orders"}) == 1
    assert sample("kto_reconcile_errors_total", **ok) == errors_ok  # Ready is no error
    assert sample("kto_reconcile_errors_total", **labels) == before[0] + 1


async def test_a_deleted_resource_loses_its_ready_series() -> None:
    w = world("user")
    body = user(ours=True)
    key = w.put(body)
    await w.run(key)
    assert REGISTRY.get_sample_value("kto_user_ready", {"namespace": "apps", "name": "ingest"}) is not None
    w.rec.event("DELETED", body)
    assert REGISTRY.get_sample_value("kto_user_ready", {"namespace": "apps", "name": "ingest"}) is None


async def test_a_queued_batch_shows_its_depth_until_it_is_done() -> None:
    w = world()
    keys = [w.put(topic(name)) for name in ("q1", "q2", "q3")]
    queue = w.rec.queue(CLUSTER)
    labels = {"kind": "topic", "kafka_cluster": "apps/kafka"}
    try:
        for key in keys:
            queue.enqueue(key)
        assert sample("kto_queue_depth", **labels) == 3  # the queue's task has not run yet
        deadline = asyncio.get_running_loop().time() + 10
        while not all(w.status(k) for k in keys) and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.01)
        assert all(ready(w.status(k)) == ("True", "Reconciled") for k in keys)
        assert sample("kto_queue_depth", **labels) == 0
    finally:
        await w.rec.stop()
    assert REGISTRY.get_sample_value("kto_queue_depth", labels) is None  # a stopped queue is not shown


async def test_names_that_collide_in_kafka_share_one_claim() -> None:
    """``billing_v2`` and ``billing.v2`` are one name to Kafka: the older claim owns it, the newer is told which."""
    w = world(allowedNamespaces=["team-a"])
    squat = w.put(topic("billing-v2", ns="team-a", topicName="billing_v2", created=OLDER,
                        clusterRef={"name": "kafka", "namespace": "apps"}))
    platform = w.put(topic("billing-v2", topicName="billing.v2", created=NEWER))
    await w.run(squat, platform)
    assert ready(w.status(squat)) == ("True", "Reconciled")
    assert ready(w.status(platform)) == ("False", "ResourceConflict")
    assert "collides with billing_v2, claimed by KafkaTopic team-a/billing-v2" in message(w.status(platform))
    assert set(w.kafka.topics) == {"billing_v2"}


@pytest.mark.parametrize(("kind", "name", "ok"), [("topic", "team-a.orders", True), ("topic", "billing.v2", False),
                                                  ("user", "team-a.app", True), ("user", "billing-app", False)])
async def test_a_cluster_can_require_its_prefixes_of_a_tenant(kind: str, name: str, ok: bool) -> None:
    grant = {"namespace": "team-a", "topicPrefixes": ["team-a."], "requiredNamePrefixes": ["team-a."]}
    w = world(kind, allowedNamespaces=["team-a"], users={"allowedNamespaces": ["team-a"], "grants": [grant]})
    ref = {"clusterRef": {"name": "kafka", "namespace": "apps"}}
    body = topic("x", ns="team-a", topicName=name, **ref) if kind == "topic" else \
        user("x", ns="team-a", userName=name, **ref)
    key = w.put(body)
    await w.run(key)
    if ok:
        assert ready(w.status(key)) == ("True", "Reconciled")
    else:
        assert ready(w.status(key)) == ("False", "NotPermitted")
        assert "requires the names of namespace team-a to start with team-a." in message(w.status(key))
        assert w.kafka.total() == 0


async def test_a_topic_defaults_change_is_intent_not_drift() -> None:
    """The KafkaCluster's topicDefaults gain a key: applying it to topics that were in sync is not an out-of-band
    change (no DriftCorrected, no drift counter); a change made in Kafka by hand still is."""
    w = world()
    key = await made(w, topic(partitions=1))
    w.rec.store.get(key)["status"] = w.status(key)
    w.connect(topicDefaults={"config": {"compression.type": "lz4"}})
    await w.run(key)
    assert w.kafka.topics["orders"].overrides == {"compression.type": "lz4"}
    assert w.kube.events_of(key) == [("Normal", "ClusterDefaultsApplied")]
    assert "lastDriftCorrection" not in w.status(key)
    # Then someone changes it by hand: that is drift.
    w.rec.store.get(key)["status"] = w.status(key)
    w.kafka.topics["orders"].overrides["compression.type"] = "gzip"
    await w.run(key)
    assert w.kube.events_of(key)[-1] == ("Normal", "DriftCorrected")
    assert "compression.type was gzip, set to lz4" in w.status(key)["lastDriftCorrection"]["message"]


async def test_a_default_quota_set_in_kafka_since_the_last_probe_still_caps_a_tenant() -> None:
    """The probe has not seen the default set by hand a moment ago: the batch reads it before writing anything."""
    w = world("user", users={"allowedNamespaces": ["team-a"]})
    w.kafka.quotas[None] = {"producer_byte_rate": 1048576.0}
    key = w.put(user("app", ns="team-a", clusterRef={"name": "kafka", "namespace": "apps"},
                     quotas={"producerByteRate": 10**10}))
    await w.run(key)
    assert ready(w.status(key)) == ("False", "NotPermitted")
    assert "above Kafka's default user quota (1048576)" in message(w.status(key))
    assert "app" not in w.kafka.scram and "app" not in w.kafka.quotas


# --- KafkaPolicy: clamps and out of policy, through the topic kind and the engine ---------------------------


def policed(**rules: Any) -> World:
    from kto.api.policy import KafkaPolicySpec
    from kto.policy.rules import Applied

    w = world()
    spec = KafkaPolicySpec.model_validate({"namespaces": ["apps"], **rules})
    w.rec.kind = TopicKind(lambda ns: [Applied("team", spec)] if ns == "apps" else [])
    return w


def in_policy(status: dict[str, Any]) -> tuple[str, str, str]:
    cond = find(status.get("conditions"), "InPolicy")
    assert cond is not None, status
    return cond["status"], cond["reason"], cond["message"]


async def test_a_clamp_changes_what_kafka_gets_and_says_so_once() -> None:
    w = policed(retention={"maxMs": 1000, "action": "Clamp"})
    key = w.put(topic(partitions=1, config={"retention.ms": 5000}))
    assert await w.run(key) == {}
    assert w.kafka.topics["orders"].overrides == {"retention.ms": "1000"}
    assert ready(w.status(key)) == ("True", "Reconciled")
    assert in_policy(w.status(key)) == ("True", "Clamped", "retention.ms 5000 lowered to the team policy's maximum "
                                        "1000 (KafkaPolicy team: retention.maxMs)")
    assert w.kube.events_of(key) == [("Normal", "PolicyClamped")]
    w.rec.store.put(key, {**w.rec.store.get(key), "status": w.status(key)})
    assert await w.run(key) == {}
    assert w.kube.events_of(key) == [("Normal", "PolicyClamped")]  # not news the second time


async def test_a_topic_out_of_policy_is_reported_and_left_as_it_is() -> None:
    w = policed(partitions={"max": 2})
    key = w.put(topic(partitions=3))
    assert await w.run(key) == {}
    assert len(w.kafka.topics["orders"].replicas) == 3  # a Refuse rule never changes the topic
    assert ready(w.status(key)) == ("True", "Reconciled")
    assert in_policy(w.status(key))[:2] == ("False", "OutOfPolicy")
    assert w.kube.events_of(key) == [("Warning", "OutOfPolicy")]
    sample = REGISTRY.get_sample_value("kto_topics_out_of_policy", {"kafka_cluster": f"{CLUSTER[0]}/{CLUSTER[1]}",
                                                                    "policy": "team"})
    assert sample == 1


async def test_a_topic_no_policy_applies_to_has_no_policy_condition() -> None:
    w = policed(partitions={"max": 2})
    key = w.put(topic(ns="elsewhere", partitions=3))
    assert await w.run(key) == {}
    assert find(w.status(key).get("conditions"), "InPolicy") is None
