"""Kafka errors are classified once, at the gateway, into reasons with actionable messages."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError, KafkaException
from kto.api.reasons import Reason
from kto.kafka.errors import classify


@pytest.mark.parametrize(("code", "reason", "retriable"), [
    (KafkaError.INVALID_CONFIG, Reason.INVALID_CONFIG, False),
    (KafkaError.INVALID_REPLICATION_FACTOR, Reason.INSUFFICIENT_BROKERS, False),
    (KafkaError.POLICY_VIOLATION, Reason.KAFKA_ERROR, False),
    (KafkaError.TOPIC_AUTHORIZATION_FAILED, Reason.AUTHORIZATION_FAILED, True),
    (KafkaError.NOT_CONTROLLER, Reason.KAFKA_ERROR, True),
    (KafkaError._TIMED_OUT, Reason.KAFKA_ERROR, True),
])
def test_classification(code, reason, retriable) -> None:
    failure = classify(KafkaException(KafkaError(code, "detail")), "creating topic t")
    assert failure.reason == reason
    assert failure.retriable == retriable
    assert failure.message.startswith("creating topic t: detail")


def test_hints_tell_what_to_do() -> None:
    failure = classify(KafkaException(KafkaError(KafkaError.INVALID_REPLICATION_FACTOR, "only 1 broker")), "x")
    assert "lower spec.replicationFactor or add brokers" in failure.message


def test_non_kafka_errors_are_retried() -> None:
    failure = classify(RuntimeError("surprise"), "describing topic t")
    assert failure.retriable and failure.reason == Reason.KAFKA_ERROR
    assert "RuntimeError: surprise" in failure.message
