"""Which brokers kto works with (kto.compat), and the differences between Kafka versions and modes the gateway and
the cluster probe handle: a topic still being deleted by ZooKeeper, the authorizer each mode needs, brokers too old."""

from __future__ import annotations

import asyncio
from concurrent.futures import Future
from types import MappingProxyType

import pytest
from confluent_kafka import KafkaError, KafkaException
from kto.api.domain import ClusterFacts, KafkaFailure
from kto.api.reasons import Reason
from kto.clusters.registry import ClusterRegistry
from kto.kafka.compat import (
    KRAFT,
    LEADER_AND_ISR,
    REQUIRED_APIS,
    ZOOKEEPER,
    BrokerApis,
    authorizer_hint,
    missing_apis,
    support_problem,
)
from kto.kafka.errors import classify
from kto.kafka.gateway import KafkaGateway
from kto.reconcile.cluster_state import Connected
from kto.reconcile.status import StatusWriter

from tests.support.fakes import FakeKube

# What brokers answered to ApiVersions (key: (min, max)), cut to the keys that matter here.
KAFKA_3_0_ZK = {0: (0, 9), 3: (0, 11), 4: (0, 5), 19: (0, 7), 20: (0, 6), 29: (0, 2), 30: (0, 2), 31: (0, 2),
                32: (0, 4), 37: (0, 3), 44: (0, 1), 45: (0, 0), 46: (0, 0), 50: (0, 0), 51: (0, 0), 60: (0, 0)}
KAFKA_4_1_KRAFT = {k: v for k, v in KAFKA_3_0_ZK.items() if k != 4} | {3: (0, 13), 19: (2, 7)}
# Kafka 2.7: SCRAM through the admin API, but neither DescribeCluster nor topic ids in Metadata.
KAFKA_2_7_ZK = {k: v for k, v in KAFKA_3_0_ZK.items() if k != 60} | {3: (0, 9)}


def apis(versions: dict, release: tuple[int, ...] | None) -> BrokerApis:
    return BrokerApis(MappingProxyType(versions), release)


@pytest.mark.parametrize(("versions", "release", "mode"), [
    (KAFKA_3_0_ZK, (3, 0), ZOOKEEPER),
    (KAFKA_4_1_KRAFT, (4, 1), KRAFT),
    (KAFKA_4_1_KRAFT, None, KRAFT),
])
def test_supported_brokers(versions, release, mode) -> None:
    broker = apis(versions, release)
    assert missing_apis(broker) == []
    assert support_problem(broker) is None
    assert broker.mode == mode


def test_a_broker_without_the_apis_kto_needs_is_refused_by_name() -> None:
    problem = support_problem(apis(KAFKA_2_7_ZK, (2, 7)))
    assert problem is not None
    assert "Apache Kafka 2.7 (ZooKeeper mode)" in problem
    assert "kto supports Kafka 3.0 and later" in problem
    assert "DescribeCluster v0+ (Kafka 2.8+" in problem
    assert "Metadata v10+ (Kafka 2.8+, for topic ids)" in problem
    assert "CreateTopics" not in problem


def test_a_broker_older_than_3_0_is_refused_even_with_every_api() -> None:
    problem = support_problem(apis(KAFKA_3_0_ZK, (2, 8)))
    assert problem is not None and "Apache Kafka 2.8" in problem and "missing" not in problem


def test_every_required_api_is_checked() -> None:
    for api in REQUIRED_APIS:
        versions = {k: v for k, v in KAFKA_3_0_ZK.items() if k != api.key}
        assert [a.key for a in missing_apis(apis(versions, (3, 0)))] == [api.key]


@pytest.mark.parametrize(("mode", "names", "not_named"), [
    (ZOOKEEPER, ["kafka.security.authorizer.AclAuthorizer", "ZooKeeper"], ["StandardAuthorizer"]),
    (KRAFT, ["org.apache.kafka.metadata.authorizer.StandardAuthorizer"], ["AclAuthorizer"]),
    (None, ["StandardAuthorizer on KRaft clusters", "AclAuthorizer on ZooKeeper clusters"], []),
])
def test_the_authorizer_hint_fits_the_mode(mode, names, not_named) -> None:
    failure = classify(KafkaException(KafkaError(KafkaError.SECURITY_DISABLED, "No Authorizer is configured.")),
                       "creating ACLs of User:a", mode)
    assert failure.reason == Reason.AUTHORIZER_NOT_ENABLED and not failure.retriable
    for name in names:
        assert name in failure.message
    for name in not_named:
        assert name not in failure.message
    assert failure.message == f"creating ACLs of User:a: No Authorizer is configured. ({authorizer_hint(mode)})"


def _failed(code: int, text: str) -> Future:
    future: Future = Future()
    future.set_exception(KafkaException(KafkaError(code, text)))
    return future


async def test_a_topic_marked_for_deletion_is_not_created() -> None:
    """ZooKeeper holds an earlier topic's deletion while a replica's broker is down: CreateTopics answers
    TOPIC_ALREADY_EXISTS, which must not count as the topic being there."""
    gateway = KafkaGateway({"bootstrap.servers": "127.0.0.1:1"}, "test")
    out = await gateway.admin.outcomes({
        "pending": _failed(KafkaError.TOPIC_ALREADY_EXISTS, "Topic 'pending' is marked for deletion."),
        "there": _failed(KafkaError.TOPIC_ALREADY_EXISTS, "Topic 'there' already exists."),
    }, "creating topic", ok_codes={KafkaError.TOPIC_ALREADY_EXISTS})
    assert out["there"] is None
    failure = out["pending"]
    assert failure.reason == Reason.TOPIC_BEING_DELETED and failure.retriable
    assert failure.message.startswith("creating topic pending: Topic 'pending' is marked for deletion.")
    assert "bring the brokers back" in failure.message


class _OldBrokers:
    """A gateway to brokers that lack DescribeCluster (librdkafka refuses the request) or answer it."""

    def __init__(self, versions: dict, release: tuple[int, ...], describe_fails: bool):
        self.broker_apis = apis(versions, release)
        self.describe_fails = describe_fails
        self.asked = 0

    async def describe_cluster(self):
        if self.describe_fails:
            return KafkaFailure(Reason.UNSUPPORTED_KAFKA_VERSION, "DescribeCluster not supported by broker", True)
        return ClusterFacts("id-1", 1, (1,))

    async def describe_broker_apis(self):
        self.asked += 1
        return self.broker_apis

    async def describe_super_users(self, broker_ids):
        return frozenset({"admin"})

    async def describe_user_quotas(self, default=False):
        return {}

    def close(self) -> None:
        pass


def _cluster_body() -> dict:
    return {"apiVersion": "kafka.kto.dev/v1alpha1", "kind": "KafkaCluster",
            "metadata": {"namespace": "ns", "name": "old", "generation": 1, "resourceVersion": "1", "uid": "u"},
            "spec": {"bootstrapServers": ["kafka:9092"], "security": {"protocol": "PLAINTEXT"}}}


@pytest.mark.parametrize(("versions", "release", "describe_fails", "reason", "says"), [
    (KAFKA_2_7_ZK, (2, 7), True, Reason.UNSUPPORTED_KAFKA_VERSION, "missing: Metadata v10+"),
    (KAFKA_3_0_ZK, (2, 8), False, Reason.UNSUPPORTED_KAFKA_VERSION, "like Apache Kafka 2.8"),
    (KAFKA_3_0_ZK, (3, 0), False, Reason.CONNECTED, "connected to 1 broker(s)"),
])
async def test_the_cluster_probe_refuses_unsupported_brokers(versions, release, describe_fails, reason, says) -> None:
    kube = FakeKube()
    brokers = _OldBrokers(versions, release, describe_fails)
    registry = ClusterRegistry(kube, StatusWriter(kube), gateway_factory=lambda conf, label: brokers)
    registry.event("ADDED", _cluster_body())
    try:
        await asyncio.wait_for(_until(lambda: kube.statuses.get(("ns", "old"))), timeout=5)
        snapshot = registry.snapshot(("ns", "old"))
    finally:
        await registry.stop()
    ready = kube.statuses[("ns", "old")]["conditions"][0]
    assert (ready["reason"], ready["status"]) == (reason, "True" if reason == Reason.CONNECTED else "False")
    assert says in ready["message"]
    # Nothing can write to refused brokers: the kinds get no gateway.
    assert isinstance(snapshot, Connected) == (reason == Reason.CONNECTED)


async def _until(check) -> None:
    while not check():
        await asyncio.sleep(0.01)


class _CreateAnswers:
    """librdkafka's create_topics, answering each topic with the given error (or success)."""

    def __init__(self, answers: dict[str, tuple[int, str] | None]):
        self.answers = answers

    def create_topics(self, new, **_kwargs) -> dict:
        out = {}
        for topic in new:
            answer = self.answers[topic.topic]
            out[topic.topic] = _failed(*answer) if answer else _done()
        return out


def _done() -> Future:
    future: Future = Future()
    future.set_result(None)
    return future


@pytest.mark.parametrize("mode", [ZOOKEEPER, KRAFT])
async def test_already_exists_without_the_topic_in_the_metadata_is_a_pending_deletion(mode: str) -> None:
    """Kafka 3.0 to 3.8 answer "already exists" for a topic ZooKeeper still deletes, and no broker describes it;
    a topic that exists (kto's own retry, another creator) stays a success. On KRaft the same answer is the
    controller still removing an earlier topic (or metadata catching up): nothing is reported, kto looks again."""
    from kto.api.domain import CreateTopic

    gateway = KafkaGateway({"bootstrap.servers": "127.0.0.1:1"}, "test")
    gateway.admin.apis = BrokerApis(MappingProxyType({LEADER_AND_ISR: (0, 7)} if mode == ZOOKEEPER else {}), None)
    gateway.admin.client = _CreateAnswers({"gone": (KafkaError.TOPIC_ALREADY_EXISTS, "Topic 'gone' already exists."),
                                     "there": (KafkaError.TOPIC_ALREADY_EXISTS, "Topic 'there' already exists."),
                                     "new": None})
    described = []

    async def describe_topics(names, configs=True):
        described.append(list(names))
        return {"gone": None, "there": object()}

    gateway.topics.describe_topics = describe_topics
    out = await gateway.create_topics([CreateTopic("gone", 1, 1), CreateTopic("there", 1, 1), CreateTopic("new", 1, 1)])
    assert out["there"] is None and out["new"] is None
    if mode == KRAFT:
        assert described == [] and out["gone"] is None  # the verdict waits for it to appear, silently
        return
    assert described == [["gone", "there"]]  # one request, only for the topics Kafka said exist
    assert out["gone"].reason == Reason.TOPIC_BEING_DELETED and out["gone"].retriable
    assert "still being deleted" in out["gone"].message
