"""Kafka helpers for tests: an independent admin client, the way a user would check what kto did."""

from __future__ import annotations

from confluent_kafka import KafkaError
from confluent_kafka.admin import AdminClient


class RecordingAdmin:
    """An AdminClient whose client-level errors (e.g. authentication failures) are kept for asserting."""

    def __init__(self, conf: dict[str, str]):
        self.errors: list[KafkaError] = []
        self.client = AdminClient({**conf, "error_cb": self.errors.append, "log_level": 0})

    def auth_failed(self) -> bool:
        self.client.poll(0)  # client-level callbacks are served from poll()
        return any(e.code() == KafkaError._AUTHENTICATION for e in self.errors)


class KafkaView:
    """What a user sees with their own admin client: topics, partitions, replication, configs."""

    def __init__(self, conf: dict[str, str]):
        self.admin = RecordingAdmin(conf).client

    def topic(self, name: str):
        """(partitions, replication factor, topic id) or None when the topic does not exist."""
        from confluent_kafka import KafkaException, TopicCollection

        try:
            desc = self.admin.describe_topics(TopicCollection([name]), request_timeout=10)[name].result(timeout=15)
        except KafkaException as err:
            if err.args[0].code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
                return None
            raise
        return len(desc.partitions), len(desc.partitions[0].replicas), str(desc.topic_id)

    def exists(self, name: str) -> bool:
        return name in self.admin.list_topics(timeout=10).topics

    def overrides(self, name: str) -> dict[str, str]:
        from confluent_kafka.admin import ConfigResource, ConfigSource

        res = ConfigResource(ConfigResource.Type.TOPIC, name)
        entries = self.admin.describe_configs([res], request_timeout=10)[res].result(timeout=15)
        return {e.name: e.value for e in entries.values() if e.source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value}

    def create(self, name: str, partitions: int = 1, replication: int = 1, config: dict | None = None) -> None:
        from confluent_kafka.admin import NewTopic

        self.admin.create_topics([NewTopic(name, partitions, replication, config=config or {})])[name].result(30)

    def delete(self, name: str) -> None:
        self.admin.delete_topics([name])[name].result(30)

    def add_partitions(self, name: str, total: int) -> None:
        from confluent_kafka.admin import NewPartitions

        self.admin.create_partitions([NewPartitions(name, total)])[name].result(30)

    def set_config(self, name: str, key: str, value: str) -> None:
        from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource

        res = ConfigResource(ConfigResource.Type.TOPIC, name, incremental_configs=[
            ConfigEntry(key, value, incremental_operation=AlterConfigOpType.SET)])
        self.admin.incremental_alter_configs([res])[res].result(30)


def produce(conf: dict[str, str], topic: str, count: int, size: int = 100) -> list[tuple[bytes, bytes]]:
    """``count`` keyed messages, acknowledged by all in-sync replicas; returns what was sent."""
    from confluent_kafka import Producer

    producer = Producer({**conf, "acks": "all", "linger.ms": "20", "enable.idempotence": "true"})
    sent, errors = [], []
    for i in range(count):
        key, value = f"k{i}".encode(), (f"message {i} ".encode() * (size // 10 + 1))[:size]
        producer.produce(topic, value, key, on_delivery=lambda err, _msg: errors.append(err) if err else None)
        sent.append((key, value))
        if i % 1000 == 0:
            producer.poll(0)
    remaining = producer.flush(60)
    assert remaining == 0 and not errors, f"{remaining} unsent, errors: {errors[:3]}"
    return sent


def consume_all(conf: dict[str, str], topic: str, expected: int, timeout: float = 60) -> list[tuple[bytes, bytes]]:
    """Every message of the topic, from the beginning (stops at ``expected`` or when ``timeout`` runs out)."""
    import time
    import uuid

    from confluent_kafka import Consumer

    consumer = Consumer({**conf, "group.id": f"check-{uuid.uuid4().hex}", "auto.offset.reset": "earliest",
                         "enable.auto.commit": "false"})
    consumer.subscribe([topic])
    got: list[tuple[bytes, bytes]] = []
    deadline = time.monotonic() + timeout
    try:
        while len(got) < expected and time.monotonic() < deadline:
            for msg in consumer.consume(num_messages=1000, timeout=1.0):
                if msg.error() is None:
                    got.append((msg.key(), msg.value()))
    finally:
        consumer.close()
    return got
