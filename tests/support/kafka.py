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
