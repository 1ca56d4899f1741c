"""KafkaTopic behaviour against real brokers, checked as a user would: with their own admin client, the
resource's status and its Events."""

from __future__ import annotations

import pytest
from kubernetes.client.rest import ApiException

from tests.support.resources import kafka_topic, ready, unique
from tests.support.wait import wait_until

DAY = 86_400_000


def test_create_sets_partitions_configs_and_status(ns, cluster, kafka_view) -> None:
    name = unique("create")
    ns.topic(kafka_topic(name, cluster, partitions=3, config={"retention.ms": 7 * DAY, "cleanup.policy": "delete"}))
    obj = ns.topic_ready(name)
    partitions, replication, topic_id = kafka_view.topic(name)
    assert (partitions, replication) == (3, 1)
    assert kafka_view.overrides(name) == {"retention.ms": str(7 * DAY), "cleanup.policy": "delete"}
    status = obj["status"]
    assert status["topicName"] == name
    assert status["topicId"] == topic_id
    assert (status["partitions"], status["replicationFactor"]) == (3, 1)
    assert "kto.dev/topic-protection" in obj["metadata"]["finalizers"]


def test_topic_name_differs_from_resource_name(ns, cluster, kafka_view) -> None:
    kafka_name = unique("Content_Ingested")
    ns.topic(kafka_topic("content-ingested", cluster, topicName=kafka_name, partitions=2))
    obj = ns.topic_ready("content-ingested")
    assert obj["status"]["topicName"] == kafka_name
    assert kafka_view.topic(kafka_name)[0] == 2


def test_partitions_grow_and_configs_converge(ns, cluster, kafka_view) -> None:
    name = unique("grow")
    ns.topic(kafka_topic(name, cluster, partitions=2, config={"retention.ms": DAY, "segment.ms": 3_600_000}))
    ns.topic_ready(name)
    ns.patch("kafkatopics", name, {"spec": {"partitions": 5, "config": {"retention.ms": 2 * DAY, "segment.ms": None}}})
    obj = ns.topic_ready(name)
    assert obj["status"]["partitions"] == 5
    assert kafka_view.topic(name)[0] == 5
    # segment.ms left the spec: its override is removed; retention.ms changed.
    assert kafka_view.overrides(name) == {"retention.ms": str(2 * DAY)}


def test_partitions_cannot_shrink_at_admission(ns, cluster) -> None:
    name = unique("shrink")
    ns.topic(kafka_topic(name, cluster, partitions=4))
    with pytest.raises(ApiException) as err:
        ns.patch("kafkatopics", name, {"spec": {"partitions": 2}})
    assert err.value.status == 422
    assert "spec.partitions cannot decrease" in err.value.body


def test_topic_name_is_immutable_and_validated_at_admission(ns, cluster) -> None:
    name = unique("immutable")
    ns.topic(kafka_topic(name, cluster, topicName="first.name"))
    with pytest.raises(ApiException) as err:
        ns.patch("kafkatopics", name, {"spec": {"topicName": "second.name"}})
    assert err.value.status == 422 and "spec.topicName is immutable" in err.value.body
    for bad in ("..", "has space", "x" * 250, "slash/no"):
        with pytest.raises(ApiException) as err:
            ns.topic(kafka_topic(unique("bad"), cluster, topicName=bad))
        assert err.value.status == 422, bad


def test_adopting_a_topic_that_differs_needs_the_overwrite_annotation(ns, cluster, kafka_view) -> None:
    name = unique("adopt")
    kafka_view.create(name, partitions=2, config={"retention.ms": "1000", "max.message.bytes": "2000000"})
    ns.topic(kafka_topic(name, cluster, partitions=4, config={"retention.ms": 30 * DAY}))
    message = ready(ns.wait_condition("kafkatopics", name, "False", "AdoptionRequired"))["message"]
    assert "partitions 2 would grow to 4" in message
    assert f"retention.ms would change from 1000 to {30 * DAY}" in message
    assert "max.message.bytes override 2000000 would be removed" in message
    assert kafka_view.topic(name)[0] == 2
    assert kafka_view.overrides(name) == {"retention.ms": "1000", "max.message.bytes": "2000000"}
    ns.patch("kafkatopics", name, {"metadata": {"annotations": {"kto.dev/adopt": "overwrite"}}})
    obj = ns.topic_ready(name)
    assert obj["status"]["adopted"] is True
    assert kafka_view.topic(name)[0] == 4
    # A topic changed a moment ago may not show its configs on every broker yet: the resync (10 s) sees them.
    wait_until(lambda: kafka_view.overrides(name) == {"retention.ms": str(30 * DAY)}, timeout=40,
               what="the adopted topic's overrides to converge")


def test_taking_over_refuses_to_shrink_and_says_what_to_write(ns, cluster, kafka_view) -> None:
    name = unique("refuse")
    kafka_view.create(name, partitions=6)
    ns.topic(kafka_topic(name, cluster, partitions=3, config={"retention.ms": DAY},
                         annotations={"kto.dev/adopt": "overwrite"}))
    obj = ns.wait_condition("kafkatopics", name, "False", "NotSupported")
    message = ready(obj)["message"]
    assert "Kafka has 6 partitions" in message and "asks for 3" in message and "6 or more" in message
    assert kafka_view.topic(name)[0] == 6
    # What can be done is still done.
    assert kafka_view.overrides(name) == {"retention.ms": str(DAY)}
    ns.wait_event(name, "NotSupported", "6 partitions")
    ns.patch("kafkatopics", name, {"spec": {"partitions": 6}})
    ns.topic_ready(name)


def test_cluster_topic_defaults_apply(env, ns, kto, kafka_view) -> None:
    from tests.support.resources import kafka_cluster

    ns.secret("kafka-admin", {"username": env.kafka.username, "password": env.kafka.password})
    ns.cluster(kafka_cluster("defaults", env.kafka, topicDefaults={
        "partitions": 4, "replicationFactor": 1, "config": {"retention.ms": 3 * DAY, "cleanup.policy": "delete"}}))
    name = unique("defaults")
    ns.topic(kafka_topic(name, "defaults", config={"retention.ms": 5 * DAY}))
    obj = ns.topic_ready(name)
    assert obj["status"]["partitions"] == 4
    assert kafka_view.overrides(name) == {"retention.ms": str(5 * DAY), "cleanup.policy": "delete"}


def test_replication_factor_above_brokers_is_refused(ns, cluster, kafka_view) -> None:
    name = unique("rf")
    ns.topic(kafka_topic(name, cluster, partitions=1, replicationFactor=3))
    obj = ns.wait_condition("kafkatopics", name, "False", "InsufficientBrokers")
    assert "replication" in ready(obj)["message"].lower()
    assert not kafka_view.exists(name)


def test_unknown_config_is_reported_then_fixed(ns, cluster, kafka_view) -> None:
    name = unique("badcfg")
    ns.topic(kafka_topic(name, cluster, partitions=1, config={"retention.mss": 1000}))
    obj = ns.wait_condition("kafkatopics", name, "False", "InvalidConfig")
    assert "retention.mss" in ready(obj)["message"]
    ns.wait_event(name, "InvalidConfig")
    ns.patch("kafkatopics", name, {"spec": {"config": {"retention.mss": None, "retention.ms": 1000}}})
    ns.topic_ready(name)
    assert kafka_view.overrides(name) == {"retention.ms": "1000"}


def test_observe_only_never_writes_and_shows_drift(ns, cluster, kafka_view) -> None:
    name = unique("observe")
    kafka_view.create(name, partitions=2, config={"retention.ms": "1000"})
    ns.topic(kafka_topic(name, cluster, annotations={"kto.dev/managed": "false"}, partitions=5,
                         config={"retention.ms": 2000}))
    obj = ns.wait_condition("kafkatopics", name, "True", "Unmanaged")
    message = ready(obj)["message"]
    assert "partitions 2 (spec 5)" in message and "retention.ms was 1000, set to 2000" in message
    assert kafka_view.topic(name)[0] == 2
    assert kafka_view.overrides(name) == {"retention.ms": "1000"}
    assert "kto.dev/topic-protection" not in (obj["metadata"].get("finalizers") or [])
    ns.delete("kafkatopics", name)
    ns.wait_gone("kafkatopics", name)
    assert kafka_view.exists(name)


def test_paused_applies_nothing_until_resumed(ns, cluster, kafka_view) -> None:
    name = unique("paused")
    ns.topic(kafka_topic(name, cluster, partitions=1))
    ns.topic_ready(name)
    ns.patch("kafkatopics", name, {"metadata": {"annotations": {"kto.dev/paused": "true"}},
                                   "spec": {"partitions": 3}})
    ns.wait_condition("kafkatopics", name, "Unknown", "Paused")
    assert kafka_view.topic(name)[0] == 1
    ns.patch("kafkatopics", name, {"metadata": {"annotations": {"kto.dev/paused": None}}})
    ns.topic_ready(name)
    assert kafka_view.topic(name)[0] == 3


def test_conflict_the_older_resource_owns_the_topic(ns, cluster, kafka_view) -> None:
    kafka_name = unique("shared")
    ns.topic(kafka_topic("older", cluster, topicName=kafka_name, partitions=2))
    ns.topic_ready("older")
    ns.topic(kafka_topic("newer", cluster, topicName=kafka_name, partitions=4))
    obj = ns.wait_condition("kafkatopics", "newer", "False", "ResourceConflict")
    assert "older" in ready(obj)["message"]
    assert kafka_view.topic(kafka_name)[0] == 2
    ns.delete("kafkatopics", "newer")
    ns.wait_gone("kafkatopics", "newer")
    assert kafka_view.exists(kafka_name)
    assert ready(ns.get("kafkatopics", "older"))["status"] == "True"


def test_delete_policy_delete_and_retain(ns, cluster, kafka_view) -> None:
    gone, kept = unique("gone"), unique("kept")
    ns.topic(kafka_topic(gone, cluster, partitions=1))
    ns.topic(kafka_topic(kept, cluster, partitions=1, deletionPolicy="Retain"))
    ns.topic_ready(gone)
    ns.topic_ready(kept)
    ns.delete("kafkatopics", gone)
    ns.delete("kafkatopics", kept)
    ns.wait_gone("kafkatopics", gone)
    ns.wait_gone("kafkatopics", kept)
    wait_until(lambda: not kafka_view.exists(gone), what=f"Kafka topic {gone} to be deleted")
    assert kafka_view.exists(kept)


def test_drift_is_corrected_and_recorded(ns, cluster, kafka_view) -> None:
    name = unique("drift")
    ns.topic(kafka_topic(name, cluster, partitions=2, config={"retention.ms": 7 * DAY}))
    ns.topic_ready(name)
    kafka_view.set_config(name, "retention.ms", "1000")
    # The cluster resyncs every 10 s: the change is found and undone, and said.
    event = ns.wait_event(name, "DriftCorrected", f"retention.ms was 1000, set to {7 * DAY}", timeout=40)[0]
    assert event.type == "Normal"
    wait_until(lambda: kafka_view.overrides(name) == {"retention.ms": str(7 * DAY)}, what="retention.ms restored")
    obj = ns.get("kafkatopics", name)
    assert "retention.ms was 1000" in obj["status"]["lastDriftCorrection"]["message"]


def test_topic_deleted_behind_ktos_back_is_recreated(ns, cluster, kafka_view) -> None:
    name = unique("recreate")
    ns.topic(kafka_topic(name, cluster, partitions=3))
    old_id = ns.topic_ready(name)["status"]["topicId"]
    kafka_view.delete(name)
    event = ns.wait_event(name, "TopicRecreated", timeout=40)[0]
    assert event.type == "Warning"
    obj = wait_until(lambda: (o := ns.get("kafkatopics", name))["status"].get("topicId") not in (None, old_id) and o,
                     timeout=30, what="a new topic id in status")
    assert kafka_view.topic(name)[:2] == (3, 1)
    assert obj["status"]["topicId"] == kafka_view.topic(name)[2]


def test_partitions_added_behind_ktos_back_are_reported(ns, cluster, kafka_view) -> None:
    name = unique("outofband")
    ns.topic(kafka_topic(name, cluster, partitions=2))
    ns.topic_ready(name)
    kafka_view.add_partitions(name, 4)
    obj = ns.wait_condition("kafkatopics", name, "False", "NotSupported", timeout=40)
    assert "Kafka has 4 partitions" in ready(obj)["message"]


def test_seed_media_gateway_topics(env, ns, kto, kafka_view) -> None:
    """The seed's 17 topics, applied from manifests/examples, land in Kafka with their partitions and retention."""
    import pathlib

    import yaml

    from tests.support.env import REPO
    from tests.support.resources import kafka_cluster

    ns.secret("kafka-admin", {"username": env.kafka.username, "password": env.kafka.password})
    ns.cluster(kafka_cluster("media-gateway", env.kafka))
    expected = {}
    suffix = ns.ns[-8:]
    for path in sorted(pathlib.Path(REPO / "manifests/examples/media-gateway/base/topics").glob("*.yaml")):
        doc = yaml.safe_load(path.read_text())
        name = doc["metadata"]["name"]
        doc["metadata"] = {"name": name}
        doc["spec"]["topicName"] = f"{name}.{suffix}"  # keep these Kafka names apart from the demo's
        ns.topic(doc)
        expected[name] = (doc["spec"]["partitions"], str(doc["spec"]["config"]["retention.ms"]))
    assert len(expected) == 17
    for name, (partitions, retention) in expected.items():
        obj = ns.topic_ready(name, timeout=90)
        kafka_name = obj["status"]["topicName"]
        assert kafka_view.topic(kafka_name)[0] == partitions, name
        assert kafka_view.overrides(kafka_name) == {"retention.ms": retention}, name
    assert expected["content-ingested"] == (5, str(30 * DAY))
    assert expected["dlq-events"] == (2, str(90 * DAY))
