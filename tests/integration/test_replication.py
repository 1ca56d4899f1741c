"""Replication-factor changes, in place, by partition reassignment, on a real three-node cluster; the data
stays: the same messages before and after."""

from __future__ import annotations

import time

import pytest

from tests.support.kafka import KafkaView, consume_all, produce
from tests.support.resources import kafka_cluster, kafka_topic, ready, unique
from tests.support.wait import wait_until


@pytest.fixture
def kafka3_view(kafka3):
    return KafkaView(kafka3.client_config())


def make_cluster(env, ns, kafka3, name: str = "three", **spec) -> str:
    ns.secret("kafka-admin", {"username": kafka3.username, "password": kafka3.password})
    ns.cluster(kafka_cluster(name, kafka3, resyncIntervalSeconds=10, **spec))
    obj = ns.wait_condition("kafkaclusters", name, "True", "Connected")
    assert obj["status"]["brokers"] == 3
    return name


def replicas(view: KafkaView, topic: str) -> list[list[int]]:
    from confluent_kafka import TopicCollection

    desc = view.admin.describe_topics(TopicCollection([topic]))[topic].result(timeout=15)
    return [[n.id for n in p.replicas] for p in sorted(desc.partitions, key=lambda p: p.id)]


def fully_in_sync(view: KafkaView, topic: str, rf: int) -> bool:
    from confluent_kafka import TopicCollection

    desc = view.admin.describe_topics(TopicCollection([topic]))[topic].result(timeout=15)
    return all(len(p.replicas) == rf and len(p.isr) == rf for p in desc.partitions)


def change_and_wait(ns, name: str, rf: int, timeout: float = 120, **more) -> dict:
    ns.patch("kafkatopics", name, {"spec": {"replicationFactor": rf, **more}})
    obj = wait_until(lambda: (o := ns.get("kafkatopics", name))
                     and (o["status"].get("observedGeneration") == o["metadata"]["generation"])
                     and ready(o)["status"] == "True" and o["status"].get("replicationFactor") == rf
                     and "replicasChange" not in o["status"] and o,
                     timeout=timeout, what=f"{name} at replication factor {rf}, Ready")
    return obj


def test_one_to_three_keeps_every_message(env, ns, kto, kafka3, kafka3_view) -> None:
    cluster = make_cluster(env, ns, kafka3)
    name = unique("rf13")
    ns.topic(kafka_topic(name, cluster, partitions=12, replicationFactor=1))
    ns.topic_ready(name)
    sent = produce(kafka3.client_config(), name, 10_000)
    started = time.monotonic()
    ns.patch("kafkatopics", name, {"spec": {"replicationFactor": 3}})
    # While it moves the resource says so, and is not Ready.
    moving = wait_until(lambda: (o := ns.get("kafkatopics", name))["status"].get("replicasChange") and o,
                        timeout=30, what="status.replicasChange")
    assert moving["status"]["replicasChange"]["targetReplicas"] == 3
    assert ready(moving)["status"] == "False" and ready(moving)["reason"] == "ReplicasChanging"
    obj = change_and_wait(ns, name, 3)
    took = time.monotonic() - started
    print(f"\nreplication factor 1 -> 3, 12 partitions, 10,000 messages: {took:.1f}s")
    wait_until(lambda: fully_in_sync(kafka3_view, name, 3), timeout=60, what="three in-sync replicas everywhere")
    assert obj["status"]["partitions"] == 12
    assert sorted(consume_all(kafka3.client_config(), name, len(sent))) == sorted(sent)


def test_three_to_two_keeps_preferred_leaders(env, ns, kto, kafka3, kafka3_view) -> None:
    cluster = make_cluster(env, ns, kafka3)
    name = unique("rf32")
    ns.topic(kafka_topic(name, cluster, partitions=6, replicationFactor=3))
    ns.topic_ready(name)
    sent = produce(kafka3.client_config(), name, 2_000)
    before = replicas(kafka3_view, name)
    change_and_wait(ns, name, 2)
    after = replicas(kafka3_view, name)
    assert all(len(r) == 2 for r in after)
    assert [r[0] for r in after] == [r[0] for r in before]
    assert sorted(consume_all(kafka3.client_config(), name, len(sent))) == sorted(sent)


def test_two_to_three_with_partition_growth(env, ns, kto, kafka3, kafka3_view) -> None:
    cluster = make_cluster(env, ns, kafka3)
    name = unique("rf23")
    ns.topic(kafka_topic(name, cluster, partitions=3, replicationFactor=2))
    ns.topic_ready(name)
    sent = produce(kafka3.client_config(), name, 3_000)
    obj = change_and_wait(ns, name, 3, partitions=6)
    assert obj["status"]["partitions"] == 6
    assert all(len(r) == 3 for r in replicas(kafka3_view, name))
    assert sorted(consume_all(kafka3.client_config(), name, len(sent))) == sorted(sent)


def test_refusals_come_before_anything_moves(env, ns, kto, kafka3, kafka3_view) -> None:
    cluster = make_cluster(env, ns, kafka3)
    name = unique("rf4")
    ns.topic(kafka_topic(name, cluster, partitions=3, replicationFactor=2, config={"min.insync.replicas": 2}))
    ns.topic_ready(name)
    before = replicas(kafka3_view, name)
    ns.patch("kafkatopics", name, {"spec": {"replicationFactor": 4}})
    obj = ns.wait_condition("kafkatopics", name, "False", "InsufficientBrokers")
    assert "replication factor 4" in ready(obj)["message"] and "3 live broker" in ready(obj)["message"]
    assert replicas(kafka3_view, name) == before
    ns.patch("kafkatopics", name, {"spec": {"replicationFactor": 1}})
    obj = ns.wait_condition("kafkatopics", name, "False", "BelowMinInSyncReplicas")
    assert "min.insync.replicas 2" in ready(obj)["message"] and "acks=all" in ready(obj)["message"]
    ns.wait_event(name, "BelowMinInSyncReplicas")
    assert replicas(kafka3_view, name) == before


def broker_throttle(view: KafkaView, broker: int) -> str | None:
    from confluent_kafka.admin import ConfigResource

    res = ConfigResource(ConfigResource.Type.BROKER, str(broker))
    entries = view.admin.describe_configs([res])[res].result(timeout=15)
    entry = entries.get("leader.replication.throttled.rate")
    return entry.value if entry is not None and not entry.is_default else None


def test_restart_mid_move_and_the_throttle(env, ns, kto, kafka3, kafka3_view) -> None:
    # A throttle slow enough that the move is still running when kto is killed.
    cluster = make_cluster(env, ns, kafka3, replicationThrottleBytesPerSecond=200_000)
    name = unique("rfkill")
    ns.topic(kafka_topic(name, cluster, partitions=4, replicationFactor=1))
    ns.topic_ready(name)
    sent = produce(kafka3.client_config(), name, 10_000, size=400)
    ns.patch("kafkatopics", name, {"spec": {"replicationFactor": 3}})
    wait_until(lambda: (ns.get("kafkatopics", name)["status"].get("replicasChange") or {}).get("state")
               == "InProgress", timeout=60, what="the move to start")
    wait_until(lambda: all(broker_throttle(kafka3_view, b) == "200000" for b in (1, 2, 3)), timeout=60,
               what="the replication throttle on every broker")
    assert kafka3_view.overrides(name).get("leader.replication.throttled.replicas") == "*"
    kto.stop(kill=True)
    try:
        # kto is gone; the move goes on in Kafka.
        assert not fully_in_sync(kafka3_view, name, 3)
    finally:
        kto.start()
    change_and_wait(ns, name, 3, timeout=180)
    wait_until(lambda: all(broker_throttle(kafka3_view, b) is None for b in (1, 2, 3)), timeout=60,
               what="the throttle to be lifted from the brokers")
    assert "leader.replication.throttled.replicas" not in kafka3_view.overrides(name)
    assert sorted(consume_all(kafka3.client_config(), name, len(sent))) == sorted(sent)
