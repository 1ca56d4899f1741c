"""Kafka errors, classified once into kto's reasons (pure: no I/O).

Both clients' errors end here: confluent-kafka raises ``KafkaException`` around a ``KafkaError`` (``classify``);
kafka-python raises its own exception classes and puts error codes in responses (``classify_kafka_python``,
``kafka_python_failure``). Every message says what kto was doing and Kafka's words, without the parts that
change from one attempt to the next, and a hint of what to do where one is known.
"""

from __future__ import annotations

import re

from confluent_kafka import KafkaError, KafkaException

from kto.api.domain import KafkaFailure
from kto.api.reasons import Reason
from kto.kafka.compat import authorizer_hint

PERMANENT_CODES = {
    KafkaError.INVALID_CONFIG: Reason.INVALID_CONFIG,
    KafkaError.INVALID_REPLICATION_FACTOR: Reason.INSUFFICIENT_BROKERS,
    KafkaError.INVALID_REPLICA_ASSIGNMENT: Reason.INVALID_SPEC,
    KafkaError.INVALID_PARTITIONS: Reason.NOT_SUPPORTED,
    KafkaError.TOPIC_EXCEPTION: Reason.INVALID_SPEC,
    KafkaError.POLICY_VIOLATION: Reason.KAFKA_ERROR,
    KafkaError.TOPIC_DELETION_DISABLED: Reason.KAFKA_ERROR,
    KafkaError.INVALID_REQUEST: Reason.KAFKA_ERROR,
    KafkaError.UNSUPPORTED_VERSION: Reason.NOT_SUPPORTED,
    KafkaError._INVALID_ARG: Reason.INVALID_SPEC,
    KafkaError.SECURITY_DISABLED: Reason.AUTHORIZER_NOT_ENABLED,
}
AUTHORIZATION_CODES = {
    KafkaError.TOPIC_AUTHORIZATION_FAILED,
    KafkaError.CLUSTER_AUTHORIZATION_FAILED,
    KafkaError.GROUP_AUTHORIZATION_FAILED,
}
AUTHENTICATION_CODES = {KafkaError._AUTHENTICATION, KafkaError.SASL_AUTHENTICATION_FAILED}
# librdkafka's answer when a broker lacks an API the request needs (e.g. DescribeCluster before Kafka 2.8).
UNSUPPORTED_CODES = {KafkaError._UNSUPPORTED_FEATURE, KafkaError.UNSUPPORTED_VERSION}

HINTS = {
    Reason.INVALID_CONFIG: "fix the key or value in spec.config",
    Reason.INSUFFICIENT_BROKERS: "lower spec.replicationFactor or add brokers",
    Reason.AUTHORIZATION_FAILED: "grant kto's Kafka user the needed ACLs (Create/Alter/Describe/Delete on topics)",
    Reason.AUTHENTICATION_FAILED: "check the credentials in the KafkaCluster's Secret",
    # Without knowing the cluster's mode: both authorizers (``classify`` names the one its brokers need).
    Reason.AUTHORIZER_NOT_ENABLED: authorizer_hint(None),
    Reason.TOPIC_BEING_DELETED: "an earlier topic of this name is still being deleted: ZooKeeper finishes a "
                                "deletion only when every broker holding one of its replicas is up; bring the "
                                "brokers back, and kto creates the topic once the deletion completes",
}

_VOLATILE = re.compile(r"\s*\(after \d+ms in state [A-Z_]+(?:, \d+ identical error\(s\) suppressed)?\)")


def kafka_error_of(exc: BaseException) -> KafkaError | None:
    """The ``KafkaError`` a confluent-kafka exception carries, if any."""
    if isinstance(exc, KafkaException) and exc.args and isinstance(exc.args[0], KafkaError):
        return exc.args[0]
    return None


def error_text(err: KafkaError) -> str:
    """Kafka's words, without the parts that change from one attempt to the next (they would rewrite
    status and repeat Events at every retry)."""
    return _VOLATILE.sub("", err.str() or err.name())


def is_pending_deletion(err: KafkaError) -> bool:
    """CreateTopics on a ZooKeeper-mode cluster whose earlier topic of that name is still being deleted (a
    replica's broker is down): TOPIC_ALREADY_EXISTS, "Topic 'x' is marked for deletion" -- not a success."""
    return err.code() == KafkaError.TOPIC_ALREADY_EXISTS and "marked for deletion" in (err.str() or "").lower()


def _reason_of(err: KafkaError) -> tuple[Reason, bool]:
    """The reason of one confluent-kafka error, and whether retrying can help."""
    code = err.code()
    if is_pending_deletion(err):
        return Reason.TOPIC_BEING_DELETED, True
    if code in PERMANENT_CODES:
        return PERMANENT_CODES[code], False
    if code in AUTHORIZATION_CODES:
        return Reason.AUTHORIZATION_FAILED, True
    if code in AUTHENTICATION_CODES:
        return Reason.AUTHENTICATION_FAILED, True
    return Reason.KAFKA_ERROR, True


def classify(exc: BaseException, what: str, mode: str | None = None) -> KafkaFailure:
    """One Kafka error, as a reason and a message that says what happened and what to do. ``mode``: the
    cluster's (``kto.kafka.compat``), when known, for a hint that fits it."""
    err = kafka_error_of(exc)
    if err is None:
        return KafkaFailure(Reason.KAFKA_ERROR, f"{what}: {type(exc).__name__}: {exc}", retriable=True)
    reason, retriable = _reason_of(err)
    message = f"{what}: {error_text(err)}"
    if reason == Reason.AUTHORIZER_NOT_ENABLED:
        message += f" ({authorizer_hint(mode)})"
    elif reason in HINTS:
        message += f" ({HINTS[reason]})"
    return KafkaFailure(reason, message, retriable=retriable)


def connection_failure(exc: BaseException, recent: KafkaError | None) -> KafkaFailure:
    """Why a request that needs the brokers failed: ``recent`` is the client's latest connection-level error
    (librdkafka reports a failed authentication there, not in the request's own error)."""
    err = kafka_error_of(exc)
    if err is not None and err.code() in UNSUPPORTED_CODES:
        return KafkaFailure(Reason.UNSUPPORTED_KAFKA_VERSION, f"the brokers lack an API kto needs: {error_text(err)}",
                            retriable=True)
    if recent is not None and recent.code() in AUTHENTICATION_CODES:
        return KafkaFailure(Reason.AUTHENTICATION_FAILED,
                            f"authentication failed: {error_text(recent)} ({HINTS[Reason.AUTHENTICATION_FAILED]})",
                            retriable=True)
    if err is not None and err.code() in AUTHORIZATION_CODES:
        return KafkaFailure(Reason.AUTHORIZATION_FAILED,
                            f"not authorized to describe the cluster: {error_text(err)} (grant kto's user "
                            "Describe on the cluster)", retriable=True)
    if err is not None and err.code() in AUTHENTICATION_CODES:
        return KafkaFailure(Reason.AUTHENTICATION_FAILED, f"authentication failed: {error_text(err)}", retriable=True)
    detail = error_text(recent) if recent is not None else (error_text(err) if err is not None else str(exc))
    return KafkaFailure(Reason.UNREACHABLE, f"cannot reach the brokers: {detail}", retriable=True)


def classify_kafka_python(exc: BaseException, what: str) -> KafkaFailure:
    """An exception kafka-python raised, by its class name (kafka-python's errors carry no reason kto could
    map otherwise) and its ``retriable`` flag."""
    retriable = bool(getattr(exc, "retriable", True))
    name = type(exc).__name__
    if "Authorization" in name:
        return KafkaFailure(Reason.AUTHORIZATION_FAILED, f"{what}: {name}: {exc} ({HINTS[Reason.AUTHORIZATION_FAILED]}"
                            " and Alter on the cluster)", retriable=True)
    if "Authentication" in name:
        return KafkaFailure(Reason.AUTHENTICATION_FAILED, f"{what}: {name}: {exc}", retriable=True)
    return KafkaFailure(Reason.KAFKA_ERROR, f"{what}: {name}: {exc}", retriable=retriable)


def kafka_python_failure(code: int, message: str | None, what: str) -> KafkaFailure:
    """An error code in a kafka-python response, classified like a raised one; a rejected value is permanent."""
    from kafka import errors

    error = errors.for_code(code)
    text = f"{message}" if message else str(getattr(error, "description", ""))
    if error.__name__ in ("InvalidRequestError", "InvalidConfigurationError"):
        return KafkaFailure(Reason.INVALID_CONFIG, f"{what}: {error.__name__}: {text}", retriable=False)
    return classify_kafka_python(error(text), what)
