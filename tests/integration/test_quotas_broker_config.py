"""Client quotas on KafkaUsers and cluster-wide broker settings on KafkaClusters, checked on real brokers: what
DescribeClientQuotas and DescribeConfigs show, what a throttled producer sees, and what kto refuses."""

from __future__ import annotations

import json
import time

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, ConfigResource, ConfigSource

from tests.integration.test_argocd_capture import Capture
from tests.support.env import KafkaEndpoints
from tests.support.resources import kafka_cluster, unique
from tests.support.users import as_user, kafka_user, topic_acl
from tests.support.wait import wait_until

QUOTA = 10240  # 10 KiB/s


# --- client quotas, through kafka-python's protocol messages (as a person's own tool would) -------------------


def _send(bootstrap: str, request):
    from kafka.admin import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap.split(","), client_id="kto-test")
    try:
        manager = admin._manager

        async def send():
            return await manager.send(request)

        return manager.run(send)
    finally:
        admin.close()


def user_quotas(kafka: KafkaEndpoints, user: str) -> dict[str, float]:
    """DescribeClientQuotas for the user entity ``user`` (PLAINTEXT: ANONYMOUS, a super user)."""
    from kafka.protocol.admin import DescribeClientQuotasRequest as Describe

    response = _send(kafka.plaintext, Describe(components=[Describe.ComponentData(
        entity_type="user", match_type=0, match=user)], strict=True))
    assert response.error_code == 0, response
    return {v.key: v.value for e in response.entries or () for v in e.values}


def default_user_quotas(kafka: KafkaEndpoints) -> dict[str, float]:
    """DescribeClientQuotas for the default user entity."""
    from kafka.protocol.admin import DescribeClientQuotasRequest as Describe

    response = _send(kafka.plaintext, Describe(components=[Describe.ComponentData(
        entity_type="user", match_type=1, match=None)], strict=True))
    assert response.error_code == 0, response
    return {v.key: v.value for e in response.entries or () for v in e.values}


def set_user_quota(kafka: KafkaEndpoints, user: str, key: str, value: float) -> None:
    from kafka.protocol.admin import AlterClientQuotasRequest as Alter

    response = _send(kafka.plaintext, Alter(entries=[Alter.EntryData(
        entity=[Alter.EntryData.EntityData(entity_type="user", entity_name=user)],
        ops=[Alter.EntryData.OpData(key=key, value=value, remove=False)])], validate_only=False))
    assert all(e.error_code == 0 for e in response.entries), response


def max_throttle_ms(conf: dict[str, str], topic: str, total: int = 256 * 1024, timeout: float = 30) -> int:
    """Produce ``total`` bytes as fast as the client may; the largest broker throttle time (ms) librdkafka's
    statistics report, as soon as one is reported (else once everything is acknowledged). Kafka measures a rate
    over at least ten one-second samples: 256 KiB at once is about 25 KiB/s to it."""
    seen = [0]

    def on_stats(text: str) -> None:
        for broker in json.loads(text).get("brokers", {}).values():
            seen[0] = max(seen[0], int((broker.get("throttle") or {}).get("max", 0)))

    producer = Producer({**conf, "acks": "1", "linger.ms": "5", "log_level": 0, "statistics.interval.ms": "200",
                         "stats_cb": on_stats, "enable.idempotence": "false"})
    payload = b"x" * 1024
    for _ in range(total // len(payload)):
        producer.produce(topic, payload)
        producer.poll(0)
    deadline = time.monotonic() + timeout
    while not seen[0] and producer.flush(0.2) and time.monotonic() < deadline:
        pass
    producer.poll(0.5)  # the statistics of the last acknowledgements
    producer.purge()
    producer.flush(0)
    return seen[0]


def test_quotas_set_enforced_restored_and_removed(ns, authz, kafka_authz, authz_view, kto) -> None:
    topic = unique("quota")
    authz_view.create(topic)
    acls = [topic_acl(topic, "Write", "Describe")]
    ns.create("kafkausers", kafka_user("slow", authz, acls=acls, quotas={"producerByteRate": QUOTA,
                                                                          "requestPercentage": 200}))
    ns.create("kafkausers", kafka_user("fast", authz, acls=acls))
    slow = ns.wait_condition("kafkausers", "slow", "True", "Reconciled", timeout=90)
    ns.wait_condition("kafkausers", "fast", "True", "Reconciled", timeout=90)
    assert slow["status"]["quotas"] == [{"key": "producer_byte_rate", "value": QUOTA},
                                        {"key": "request_percentage", "value": 200}]
    assert user_quotas(kafka_authz, "slow") == {"producer_byte_rate": QUOTA, "request_percentage": 200}
    assert user_quotas(kafka_authz, "fast") == {}

    # Enforced: the quoted producer is throttled, the other one is not.
    from tests.integration.test_users import app_secret

    slow_conf = as_user(kafka_authz, "slow", app_secret(ns, "slow-kafka")["password"])
    fast_conf = as_user(kafka_authz, "fast", app_secret(ns, "fast-kafka")["password"])
    assert max_throttle_ms(slow_conf, topic) > 0
    assert max_throttle_ms(fast_conf, topic, timeout=10) == 0

    # An out-of-band change is set back at the next resync, with an Event.
    set_user_quota(kafka_authz, "slow", "producer_byte_rate", 999999)
    wait_until(lambda: user_quotas(kafka_authz, "slow").get("producer_byte_rate") == QUOTA, timeout=40,
               what="kto to restore producer_byte_rate")
    ns.wait_event("slow", "DriftCorrected", contains="producer_byte_rate 999999 -> 10240")

    # Removed from the spec: removed from Kafka (and from status).
    ns.patch("kafkausers", "slow", {"spec": {"quotas": {"producerByteRate": None}}})  # a merge patch
    wait_until(lambda: user_quotas(kafka_authz, "slow") == {"request_percentage": 200}, timeout=40,
               what="producer_byte_rate to be removed")
    ns.patch("kafkausers", "slow", {"spec": {"quotas": None}})
    wait_until(lambda: user_quotas(kafka_authz, "slow") == {}, timeout=40, what="every quota to be removed")
    obj = ns.wait_condition("kafkausers", "slow", "True", "Reconciled")
    assert "quotas" not in obj["status"]


def test_default_user_quotas_set_and_removed(env, ns, cluster) -> None:
    before = default_user_quotas(env.kafka)
    ns.patch("kafkaclusters", cluster, {"spec": {"defaultUserQuotas": {"consumerByteRate": 52428800}}})
    obj = ns.wait_condition("kafkaclusters", cluster, "True", "Connected", timeout=40)
    assert obj["status"]["defaultUserQuotaKeys"] == ["consumer_byte_rate"]
    wait_until(lambda: default_user_quotas(env.kafka) == {**before, "consumer_byte_rate": 52428800}, timeout=20,
               what="the default user quota")
    ns.patch("kafkaclusters", cluster, {"spec": {"defaultUserQuotas": None}})
    wait_until(lambda: default_user_quotas(env.kafka) == before, timeout=40, what="the default quota to go")
    obj = ns.wait_condition("kafkaclusters", cluster, "True", "Connected")
    assert "defaultUserQuotaKeys" not in obj["status"]


# --- cluster-wide broker configs ------------------------------------------------------------------------------


def broker_configs(kafka: KafkaEndpoints, broker: int) -> dict[str, tuple[str, int]]:
    """Each config of one broker: value and source."""
    admin = AdminClient(kafka.client_config())
    resource = ConfigResource(ConfigResource.Type.BROKER, str(broker))
    entries = admin.describe_configs([resource])[resource].result(timeout=15)
    return {e.name: (e.value, e.source) for e in entries.values()}


def cluster_defaults(kafka: KafkaEndpoints) -> dict[str, str]:
    """The default broker resource's dynamic configs (librdkafka refuses its empty name: kafka-python's
    DescribeConfigs)."""
    from kafka.protocol.admin import DescribeConfigsRequest as Describe

    response = _send(kafka.plaintext, Describe(resources=[Describe.DescribeConfigsResource(
        resource_type=4, resource_name="", configuration_keys=None)], include_synonyms=False))
    [result] = response.results
    assert result.error_code == 0, result
    return {c.name: c.value for c in result.configs
            if c.config_source == ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG.value}


def alter_default(kafka: KafkaEndpoints, key: str, value: str | None) -> None:
    from kafka.protocol.admin import IncrementalAlterConfigsRequest as Alter

    config = Alter.AlterConfigsResource.AlterableConfig(name=key, config_operation=0 if value is not None else 1,
                                                        value=value)
    response = _send(kafka.plaintext, Alter(resources=[Alter.AlterConfigsResource(
        resource_type=4, resource_name="", configs=[config])], validate_only=False))
    assert all(r.error_code == 0 for r in response.responses), response


def broker_ids(kafka: KafkaEndpoints) -> list[int]:
    return sorted(AdminClient(kafka.client_config()).list_topics(timeout=15).brokers)


# The seed's dynamic settings at Kafka's own default values: the shared test brokers behave as before.
SEED = {"log.retention.ms": "604800000", "log.segment.bytes": "1073741824"}
HAND_SET = ("log.cleaner.backoff.ms", "15001")


@pytest.fixture
def kafka3_defaults(kafka3):
    """kafka3's cluster-wide dynamic configs put back as they were after the test."""
    before = cluster_defaults(kafka3)
    yield kafka3
    for key in set(cluster_defaults(kafka3)) - set(before):
        alter_default(kafka3, key, None)


def test_broker_config_on_every_broker_restored_and_removed(ns, kto, kafka3_defaults) -> None:
    kafka3 = kafka3_defaults
    alter_default(kafka3, *HAND_SET)  # someone's own setting: never kto's to remove
    ns.secret("kafka-admin", {"username": kafka3.username, "password": kafka3.password})
    ns.cluster(kafka_cluster("three", kafka3, resyncIntervalSeconds=10, brokerConfig=SEED))
    obj = ns.wait_condition("kafkaclusters", "three", "True", "Connected", timeout=90)
    assert obj["status"]["brokerConfigKeys"] == sorted(SEED)
    ids = broker_ids(kafka3)
    assert len(ids) == 3
    for broker in ids:
        configs = broker_configs(kafka3, broker)
        for key, value in SEED.items():
            assert configs[key] == (value, ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG.value), (broker, key)

    alter_default(kafka3, "log.segment.bytes", "536870912")
    wait_until(lambda: cluster_defaults(kafka3).get("log.segment.bytes") == SEED["log.segment.bytes"], timeout=40,
               what="kto to restore log.segment.bytes")
    ns.wait_event("three", "DriftCorrected", contains="log.segment.bytes 536870912 -> 1073741824")

    ns.patch("kafkaclusters", "three", {"spec": {"brokerConfig": None}})
    wait_until(lambda: not set(SEED) & set(cluster_defaults(kafka3)), timeout=40, what="kto's keys to be removed")
    obj = ns.wait_condition("kafkaclusters", "three", "True", "Connected")
    assert "brokerConfigKeys" not in obj["status"]
    assert cluster_defaults(kafka3)[HAND_SET[0]] == HAND_SET[1]


def test_a_static_key_or_a_rejected_value_is_refused_and_nothing_written(env, ns, cluster) -> None:
    before = cluster_defaults(env.kafka)
    static = {**SEED, "log.retention.check.interval.ms": "300000"}  # the seed's: read-only on a running broker
    ns.patch("kafkaclusters", cluster, {"spec": {"brokerConfig": static}})
    obj = ns.wait_condition("kafkaclusters", cluster, "False", "BrokerConfigRefused", timeout=40)
    message = obj["status"]["conditions"][0]["message"]
    assert "log.retention.check.interval.ms is not a cluster-wide dynamic broker config" in message
    assert "belongs in the broker's properties" in message
    ns.wait_event(cluster, "BrokerConfigRefused")
    if env.kafka.nodes == 1:
        cap = Capture(env)
        cap.namespace(ns.ns, "team-a")
        cap("KafkaCluster", "degraded-broker-config-refused", obj,
            "spec.brokerConfig naming log.retention.check.interval.ms, which brokers read only at start")
    assert cluster_defaults(env.kafka) == before

    # A merge patch: the static key goes (null), a value the brokers reject comes.
    ns.patch("kafkaclusters", cluster, {"spec": {"brokerConfig": {"log.retention.check.interval.ms": None,
                                                                  "log.segment.bytes": "12"}}})
    obj = ns.wait_condition("kafkaclusters", cluster, "False", "BrokerConfigRefused", timeout=40)
    assert "the brokers refuse spec.brokerConfig" in obj["status"]["conditions"][0]["message"]
    assert "log.segment.bytes" in obj["status"]["conditions"][0]["message"]
    assert cluster_defaults(env.kafka) == before

    ns.patch("kafkaclusters", cluster, {"spec": {"brokerConfig": None}})
    ns.wait_condition("kafkaclusters", cluster, "True", "Connected", timeout=40)
    assert cluster_defaults(env.kafka) == before
