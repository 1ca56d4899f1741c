"""Consumer lag and topic size on the real apiserver and Kafka: a group that read part of a managed topic shows
the rest as lag, and none once it caught up; the size grows after producing; unmanaged topics and their groups
never show.

A kto of this module's own collects every 2 s (``--lag-interval 2``); the session's kto is stopped meanwhile
(``sole_operator``), so that this one is the only operator and holds its own Lease.
"""

from __future__ import annotations

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from tests.support.env import LocalEnv
from tests.support.operator import KtoProcess
from tests.support.resources import kafka_cluster, kafka_topic, unique
from tests.support.wait import wait_until

PRODUCED = 10  # half to each of the two partitions
READ_FIRST = 4  # half from each partition
MAX_SERIES = 3  # this module's kto publishes at most 3 lag series per KafkaCluster


@pytest.fixture(scope="module")
def lag_kto(env: LocalEnv, sole_operator, tmp_path_factory: pytest.TempPathFactory):
    proc = KtoProcess(env, tmp_path_factory.mktemp("kto-lag") / "kto.log",
                      args=["--lag-interval", "2", "--lag-max-series", str(MAX_SERIES),
                            "--leader-election-namespace", "default",
                            "--leader-election-name", unique("kto-lag")]).start()
    yield proc
    proc.stop()


def samples(kto: KtoProcess, name: str, cluster: str) -> dict[tuple[str, ...], float]:
    """Every series of one metric for one cluster, by its other labels' values (in label-name order)."""
    out = {}
    for family in text_string_to_metric_families(kto.metrics()):
        for s in family.samples:
            if s.name == name and s.labels.get("kafka_cluster") == cluster:
                out[tuple(v for k, v in sorted(s.labels.items()) if k != "kafka_cluster")] = s.value
    return out


def wait_samples(kto: KtoProcess, name: str, cluster: str, expected: dict, what: str) -> None:
    try:
        wait_until(lambda: samples(kto, name, cluster) == expected, timeout=30, what=what)
    except AssertionError as err:
        raise AssertionError(f"{err}; {name} of {cluster}: {samples(kto, name, cluster)}") from None


def produce(conf: dict, topic: str, count: int) -> None:
    producer = Producer(conf)
    for i in range(count):
        producer.produce(topic, f"message {i}".encode() * 10, partition=i % 2)
    assert producer.flush(30) == 0


COORDINATOR_MOVING = (KafkaError.NOT_COORDINATOR, KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
                      KafkaError.COORDINATOR_NOT_AVAILABLE)


def transient_ok(call, *args, **kwargs):
    """``call``'s result (True when it returns None), or None while the broker answers that it is not (yet) the
    group's coordinator: after a broker was stopped and continued (the fault tests run before), the group
    coordinator takes a moment to load."""
    try:
        result = call(*args, **kwargs)
    except KafkaException as err:
        if err.args[0].code() in COORDINATOR_MOVING:
            return None
        raise
    return True if result is None else result


def committed(consumer: Consumer, topic: str, partition: int) -> list | None:
    return transient_ok(consumer.committed, [TopicPartition(topic, partition)], timeout=20)


def consume(conf: dict, group: str, topic: str, counts: dict[int, int]) -> None:
    """Read ``counts[p]`` more messages of each partition ``p`` of ``topic`` as consumer group ``group``, and
    commit where it got."""
    consumer = Consumer({**conf, "group.id": group, "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    try:
        for partition, count in counts.items():
            [start] = wait_until(lambda p=partition: committed(consumer, topic, p), timeout=60,
                                 what=f"the committed offset of {group} on {topic}/{partition}")
            consumer.assign([TopicPartition(topic, partition, max(start.offset, 0))])
            read = 0

            def one_more(c: int = count) -> bool:
                nonlocal read
                message = consumer.poll(0.5)
                if message is not None and message.error() is None:
                    read += 1
                return read >= c

            wait_until(one_more, timeout=30, interval=0, what=f"{count} messages of {topic}/{partition} read")
            wait_until(lambda: transient_ok(consumer.commit, asynchronous=False), timeout=60,
                       what=f"{group} to commit on {topic}/{partition}")
    finally:
        consumer.close()


def test_lag_appears_for_a_group_behind_and_drops_to_zero_when_it_catches_up(env, ns, lag_kto, kafka_view) -> None:
    ns.secret("kafka-admin", {"username": env.kafka.username, "password": env.kafka.password})
    ns.cluster(kafka_cluster("kafka", env.kafka, resyncIntervalSeconds=10))
    ns.wait_condition("kafkaclusters", "kafka", "True", "Connected")
    label = f"{ns.ns}/kafka"
    managed, unmanaged = unique("lag"), unique("unmanaged")
    reader, other = unique("reader"), unique("other")
    ns.topic(kafka_topic(managed, "kafka", partitions=2))
    ns.topic_ready(managed)
    kafka_view.create(unmanaged, partitions=2)
    conf = env.kafka.client_config()

    # Managed and empty: size and end offsets show, at 0, and no group yet.
    wait_samples(lag_kto, "kto_topic_end_offsets", label, {(managed,): 0}, "the managed topic's end offsets at 0")
    empty_size = samples(lag_kto, "kto_topic_size_bytes", label)[(managed,)]

    produce(conf, managed, PRODUCED)
    produce(conf, unmanaged, PRODUCED)
    consume(conf, reader, managed, {0: READ_FIRST // 2, 1: READ_FIRST // 2})
    consume(conf, other, unmanaged, {0: 1})

    wait_samples(lag_kto, "kto_consumer_group_lag", label, {(reader, managed): PRODUCED - READ_FIRST},
                 f"the lag of {reader} on {managed} at {PRODUCED - READ_FIRST}")
    assert samples(lag_kto, "kto_topic_end_offsets", label) == {(managed,): PRODUCED}
    wait_until(lambda: samples(lag_kto, "kto_topic_size_bytes", label)[(managed,)] > empty_size, timeout=30,
               what="the managed topic's size to grow after producing")
    assert set(samples(lag_kto, "kto_topic_size_bytes", label)) == {(managed,)}  # never the unmanaged topic

    consume(conf, reader, managed, {p: (PRODUCED - READ_FIRST) // 2 for p in (0, 1)})
    wait_samples(lag_kto, "kto_consumer_group_lag", label, {(reader, managed): 0}, f"the lag of {reader} to drop to 0")
    text = lag_kto.metrics()
    assert unmanaged not in text and other not in text

    # A topic no longer managed leaves no series behind.
    ns.delete("kafkatopics", managed)
    ns.wait_gone("kafkatopics", managed)
    wait_until(lambda: managed not in lag_kto.metrics(), timeout=30, what=f"the series of {managed} to go")
    assert "Traceback" not in lag_kto.log_text()


def test_lag_collection_writes_nothing_to_kubernetes(env, ns, lag_kto) -> None:
    ns.secret("kafka-admin", {"username": env.kafka.username, "password": env.kafka.password})
    ns.cluster(kafka_cluster("kafka", env.kafka, resyncIntervalSeconds=3600))
    ns.wait_condition("kafkaclusters", "kafka", "True", "Connected")
    name = unique("quiet")
    ns.topic(kafka_topic(name, "kafka", partitions=1))
    ns.topic_ready(name)
    label = f"{ns.ns}/kafka"
    # The cluster probes once an hour: between probes, what writes is kto's reconcile alone, and it is done.
    wait_samples(lag_kto, "kto_topic_end_offsets", label, {(name,): 0}, "the topic collected")
    versions = (ns.get("kafkatopics", name)["metadata"]["resourceVersion"],
                ns.get("kafkaclusters", "kafka")["metadata"]["resourceVersion"])
    start = _collections(lag_kto, label)
    wait_until(lambda: _collections(lag_kto, label) >= start + 3, timeout=30, what="three more lag collections")
    assert (ns.get("kafkatopics", name)["metadata"]["resourceVersion"],
            ns.get("kafkaclusters", "kafka")["metadata"]["resourceVersion"]) == versions


def _collections(kto: KtoProcess, cluster: str) -> float:
    return samples(kto, "kto_lag_collection_duration_seconds_count", cluster).get((), 0.0)


def commit_at(conf: dict, group: str, topic: str, offsets: dict[int, int]) -> None:
    """Commit ``offsets`` (partition -> offset) of ``topic`` as consumer group ``group``, reading nothing."""
    consumer = Consumer({**conf, "group.id": group, "enable.auto.commit": False})
    try:
        wait_until(lambda: transient_ok(consumer.commit, offsets=[TopicPartition(topic, p, o)
                                                                  for p, o in offsets.items()], asynchronous=False),
                   timeout=60, what=f"{group} to commit on {topic}")
    finally:
        consumer.close()


def test_lag_series_are_capped_to_the_largest_and_the_rest_counted(env, ns, lag_kto) -> None:
    ns.secret("kafka-admin", {"username": env.kafka.username, "password": env.kafka.password})
    ns.cluster(kafka_cluster("kafka", env.kafka, resyncIntervalSeconds=10))
    ns.wait_condition("kafkaclusters", "kafka", "True", "Connected")
    label = f"{ns.ns}/kafka"
    name = unique("capped")
    ns.topic(kafka_topic(name, "kafka", partitions=2))
    ns.topic_ready(name)
    conf = env.kafka.client_config()
    produce(conf, name, PRODUCED)
    # Five groups under one tenant's prefix, each further behind than the one before: lags 1 to 5.
    groups = {unique(f"team-a-{behind}"): behind for behind in range(1, 6)}
    for group, behind in groups.items():
        commit_at(conf, group, name, {0: PRODUCED // 2, 1: PRODUCED // 2 - behind})
    largest = {(g, name): b for g, b in groups.items() if b > len(groups) - MAX_SERIES}
    wait_samples(lag_kto, "kto_consumer_group_lag", label, largest, f"the {MAX_SERIES} largest lags only")
    assert samples(lag_kto, "kto_lag_series_dropped", label) == {(): len(groups) - MAX_SERIES}
    # A group that catches up makes room for the next largest.
    top = max(groups, key=groups.get)
    commit_at(conf, top, name, {0: PRODUCED // 2, 1: PRODUCED // 2})
    after = {(g, name): b for g, b in groups.items() if len(groups) - MAX_SERIES - 1 < b < len(groups)}
    wait_samples(lag_kto, "kto_consumer_group_lag", label, after, "the next largest lag to take the freed place")
    assert samples(lag_kto, "kto_lag_series_dropped", label) == {(): len(groups) - MAX_SERIES}
