"""KafkaUser helpers for tests: the resource, and Kafka clients that act as the user an application would be."""

from __future__ import annotations

import uuid
from typing import Any

from confluent_kafka import KafkaError, Producer

from tests.support.env import KafkaEndpoints
from tests.support.resources import GROUP, VERSION


def kafka_user(name: str, cluster: str, acls: list[dict] | None = None, mechanism: str = "scram-sha-512",
               **spec: Any) -> dict[str, Any]:
    auth: dict[str, Any] = {"type": mechanism}
    if "passwordSecretRef" in spec:
        auth["passwordSecretRef"] = spec.pop("passwordSecretRef")
    body = {"clusterRef": {"name": cluster}, "authentication": auth, **spec}
    if acls is not None:
        body["authorization"] = {"acls": acls}
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "KafkaUser", "metadata": {"name": name}, "spec": body}


def topic_acl(topic: str, *operations: str, **extra: Any) -> dict[str, Any]:
    return {"resource": {"type": "topic", "name": topic}, "operations": list(operations), **extra}


def as_user(kafka: KafkaEndpoints, username: str, password: str, mechanism: str = "SCRAM-SHA-512") -> dict[str, str]:
    """A client configuration for the SASL_PLAINTEXT listener, as the given user."""
    return {"bootstrap.servers": kafka.sasl, "security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": mechanism,
            "sasl.username": username, "sasl.password": password}


def produce_one(conf: dict[str, str], topic: str, timeout: float = 15) -> str | None:
    """Send one message; ``None`` when it was acknowledged, else the error's name (TOPIC_AUTHORIZATION_FAILED,
    or _AUTHENTICATION when the credentials are refused)."""
    client_errors: list[KafkaError] = []
    delivery: list[KafkaError | None] = []
    producer = Producer({**conf, "acks": "all", "enable.idempotence": "false", "log_level": 0,
                         "message.timeout.ms": str(int(timeout * 1000)), "error_cb": client_errors.append})
    producer.produce(topic, f"hello {uuid.uuid4().hex}".encode(), on_delivery=lambda err, _msg: delivery.append(err))
    producer.flush(timeout + 5)
    if any(e.code() == KafkaError._AUTHENTICATION for e in client_errors):
        return "_AUTHENTICATION"
    if not delivery:
        return "NO_DELIVERY_REPORT"
    return None if delivery[0] is None else delivery[0].name()


def authenticates(conf: dict[str, str], timeout: float = 10) -> bool:
    """Whether the brokers accept the credentials (a metadata request over a fresh connection)."""
    from confluent_kafka.admin import AdminClient

    errors: list[KafkaError] = []
    admin = AdminClient({**conf, "error_cb": errors.append, "log_level": 0})
    try:
        admin.list_topics(timeout=timeout)
    except Exception:  # noqa: BLE001 - refused or timed out: see the callbacks
        admin.poll(0)
        return False
    admin.poll(0)
    return not any(e.code() == KafkaError._AUTHENTICATION for e in errors)
