"""The only module that talks to Kafka's admin API.

Batch-first and idempotent: every call takes many topics and returns an outcome per topic (``None`` for
success, a ``KafkaFailure`` otherwise); creating a topic that exists and deleting one that does not are
successes. Kafka errors are classified here, once, into kto's reasons.

confluent-kafka's AdminClient is thread-safe and returns concurrent futures; they are awaited with
``asyncio.wrap_future`` so the event loop never blocks.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Iterable, Sequence
from types import MappingProxyType

from confluent_kafka import KafkaError, KafkaException, TopicCollection
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ConfigSource,
    NewPartitions,
    NewTopic,
)

from kto import metrics
from kto.domain import AlterConfigs, ClusterFacts, CreatePartitions, CreateTopic, KafkaFailure, ObservedTopic
from kto.reasons import Reason

log = logging.getLogger("kto.kafka")

# KRaft refuses an operation that would write too many metadata records at once: keep creations in chunks.
CREATE_CHUNK = 500

Outcome = KafkaFailure | None


def _err(exc: BaseException) -> KafkaError | None:
    if isinstance(exc, KafkaException) and exc.args and isinstance(exc.args[0], KafkaError):
        return exc.args[0]
    return None


def _text(err: KafkaError) -> str:
    return err.str() or err.name()


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
}
AUTHORIZATION_CODES = {
    KafkaError.TOPIC_AUTHORIZATION_FAILED,
    KafkaError.CLUSTER_AUTHORIZATION_FAILED,
    KafkaError.GROUP_AUTHORIZATION_FAILED,
}
AUTHENTICATION_CODES = {KafkaError._AUTHENTICATION, KafkaError.SASL_AUTHENTICATION_FAILED}

HINTS = {
    Reason.INVALID_CONFIG: "fix the key or value in spec.config",
    Reason.INSUFFICIENT_BROKERS: "lower spec.replicationFactor or add brokers",
    Reason.AUTHORIZATION_FAILED: "grant kto's Kafka user the needed ACLs (Create/Alter/Describe/Delete on topics)",
    Reason.AUTHENTICATION_FAILED: "check the credentials in the KafkaCluster's Secret",
}


def classify(exc: BaseException, what: str) -> KafkaFailure:
    """One Kafka error, as a reason and a message that says what happened and what to do."""
    err = _err(exc)
    if err is None:
        return KafkaFailure(Reason.KAFKA_ERROR, f"{what}: {type(exc).__name__}: {exc}", retriable=True)
    code = err.code()
    if code in PERMANENT_CODES:
        reason = PERMANENT_CODES[code]
        retriable = False
    elif code in AUTHORIZATION_CODES:
        reason, retriable = Reason.AUTHORIZATION_FAILED, True
    elif code in AUTHENTICATION_CODES:
        reason, retriable = Reason.AUTHENTICATION_FAILED, True
    else:
        reason, retriable = Reason.KAFKA_ERROR, True
    message = f"{what}: {_text(err)}"
    if reason in HINTS:
        message += f" ({HINTS[reason]})"
    return KafkaFailure(reason, message, retriable=retriable)


class KafkaGateway:
    """One admin connection to one Kafka cluster."""

    def __init__(self, conf: dict[str, str], label: str, request_timeout: float = 30.0):
        self.label = label
        self.request_timeout = request_timeout
        self._client_errors: deque[tuple[float, KafkaError]] = deque(maxlen=20)
        self.requests = 0  # admin calls sent, for metrics and benchmarks
        self._admin = AdminClient({
            **conf,
            "error_cb": self._on_client_error,
            "logger": logging.getLogger("kto.librdkafka"),
            "socket.connection.setup.timeout.ms": str(int(request_timeout * 1000)),
            "reconnect.backoff.max.ms": "5000",
        })

    def _count(self, operation: str) -> None:
        self.requests += 1
        metrics.KAFKA_REQUESTS.labels(self.label, operation).inc()

    def _on_client_error(self, err: KafkaError) -> None:
        self._client_errors.append((time.monotonic(), err))

    def recent_client_error(self, within: float = 60.0) -> KafkaError | None:
        """The latest connection-level error (e.g. failed authentication) in the last ``within`` seconds."""
        if self._admin is not None:
            self._admin.poll(0)  # error callbacks are served from poll()
        cutoff = time.monotonic() - within
        for at, err in reversed(self._client_errors):
            if at >= cutoff:
                return err
        return None

    def close(self) -> None:
        # AdminClient has no close(); dropping the last reference destroys the librdkafka handle.
        self._admin = None  # type: ignore[assignment]

    # --- cluster ----------------------------------------------------------------------------------

    async def describe_cluster(self) -> ClusterFacts | KafkaFailure:
        self._count("describe_cluster")
        try:
            result = await asyncio.wrap_future(
                self._admin.describe_cluster(request_timeout=min(self.request_timeout, 10.0)))
        except Exception as exc:  # noqa: BLE001 - classified below
            return self._connection_failure(exc)
        return ClusterFacts(
            cluster_id=result.cluster_id,
            controller_id=result.controller.id if result.controller else None,
            broker_ids=tuple(sorted(n.id for n in result.nodes)),
        )

    def _connection_failure(self, exc: BaseException) -> KafkaFailure:
        err = _err(exc)
        recent = self.recent_client_error()
        if recent is not None and recent.code() in AUTHENTICATION_CODES:
            return KafkaFailure(Reason.AUTHENTICATION_FAILED,
                                f"authentication failed: {_text(recent)} ({HINTS[Reason.AUTHENTICATION_FAILED]})",
                                retriable=True)
        if err is not None and err.code() in AUTHORIZATION_CODES:
            return KafkaFailure(Reason.AUTHORIZATION_FAILED,
                                f"not authorized to describe the cluster: {_text(err)} (grant kto's user "
                                "Describe on the cluster)", retriable=True)
        if err is not None and err.code() in AUTHENTICATION_CODES:
            return KafkaFailure(Reason.AUTHENTICATION_FAILED, f"authentication failed: {_text(err)}", retriable=True)
        detail = _text(recent) if recent is not None else (_text(err) if err is not None else str(exc))
        return KafkaFailure(Reason.UNREACHABLE, f"cannot reach the brokers: {detail}", retriable=True)

    # --- topics ------------------------------------------------------------------------------------

    async def describe_topics(self, names: Sequence[str]) -> dict[str, ObservedTopic | KafkaFailure | None]:
        """Each topic as Kafka has it (``None``: it does not exist). Two requests for any number of topics."""
        out: dict[str, ObservedTopic | KafkaFailure | None] = {}
        if not names:
            return out
        self._count("describe_topics")
        futures = self._admin.describe_topics(TopicCollection(list(names)), request_timeout=self.request_timeout)
        descriptions = {}
        results = await asyncio.gather(*(asyncio.wrap_future(f) for f in futures.values()), return_exceptions=True)
        for name, result in zip(futures.keys(), results, strict=True):
            if isinstance(result, BaseException):
                err = _err(result)
                if err is not None and err.code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
                    out[name] = None
                else:
                    out[name] = classify(result, f"describing topic {name}")
            else:
                descriptions[name] = result
        configs = await self._describe_configs(list(descriptions))
        for name, desc in descriptions.items():
            cfg = configs.get(name)
            if isinstance(cfg, KafkaFailure):
                out[name] = cfg
                continue
            overrides, defaults = cfg or ({}, {})
            replicas = tuple(tuple(n.id for n in p.replicas) for p in sorted(desc.partitions, key=lambda p: p.id))
            out[name] = ObservedTopic(
                name=name,
                topic_id=str(desc.topic_id) if getattr(desc, "topic_id", None) else None,
                partitions=len(desc.partitions),
                replication_factor=min((len(r) for r in replicas), default=0),
                overrides=MappingProxyType(overrides),
                defaults=MappingProxyType(defaults),
                replicas=replicas,
            )
        return out

    async def _describe_configs(self, names: list[str]):
        out: dict[str, tuple[dict[str, str], dict[str, str]] | KafkaFailure] = {}
        if not names:
            return out
        self._count("describe_configs")
        futures = self._admin.describe_configs([ConfigResource(ConfigResource.Type.TOPIC, n) for n in names],
                                               request_timeout=self.request_timeout)
        results = await asyncio.gather(*(asyncio.wrap_future(f) for f in futures.values()), return_exceptions=True)
        for resource, result in zip(futures.keys(), results, strict=True):
            if isinstance(result, BaseException):
                out[resource.name] = classify(result, f"describing configs of topic {resource.name}")
                continue
            overrides, defaults = {}, {}
            for entry in result.values():
                if entry.source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value:
                    overrides[entry.name] = entry.value
                elif entry.value is not None and not entry.is_sensitive:
                    defaults[entry.name] = entry.value
            out[resource.name] = (overrides, defaults)
        return out

    async def create_topics(self, actions: Iterable[CreateTopic]) -> dict[str, Outcome]:
        actions = list(actions)
        out: dict[str, Outcome] = {}
        for start in range(0, len(actions), CREATE_CHUNK):
            chunk = actions[start:start + CREATE_CHUNK]
            new = [NewTopic(a.name, num_partitions=a.partitions or -1, replication_factor=a.replication_factor or -1,
                            config=dict(a.config)) for a in chunk]
            self._count("create_topics")
            futures = self._admin.create_topics(new, operation_timeout=self.request_timeout,
                                                request_timeout=self.request_timeout)
            out |= await self._outcomes(futures, "creating topic", ok_codes={KafkaError.TOPIC_ALREADY_EXISTS})
        return out

    async def create_partitions(self, actions: Iterable[CreatePartitions]) -> dict[str, Outcome]:
        new = [NewPartitions(a.name, a.total) for a in actions]
        if not new:
            return {}
        self._count("create_partitions")
        futures = self._admin.create_partitions(new, operation_timeout=self.request_timeout,
                                                request_timeout=self.request_timeout)
        return await self._outcomes(futures, "adding partitions to topic")

    async def alter_configs(self, actions: Iterable[AlterConfigs]) -> dict[str, Outcome]:
        resources = []
        for a in actions:
            entries = [ConfigEntry(k, v, incremental_operation=AlterConfigOpType.SET) for k, v in a.to_set.items()]
            entries += [ConfigEntry(k, None, incremental_operation=AlterConfigOpType.DELETE) for k in a.to_delete]
            resources.append(ConfigResource(ConfigResource.Type.TOPIC, a.name, incremental_configs=entries))
        if not resources:
            return {}
        self._count("incremental_alter_configs")
        futures = self._admin.incremental_alter_configs(resources, request_timeout=self.request_timeout)
        return await self._outcomes(futures, "setting configs of topic")

    async def delete_topics(self, names: Iterable[str]) -> dict[str, Outcome]:
        names = list(names)
        if not names:
            return {}
        self._count("delete_topics")
        futures = self._admin.delete_topics(names, operation_timeout=self.request_timeout,
                                            request_timeout=self.request_timeout)
        return await self._outcomes(futures, "deleting topic", ok_codes={KafkaError.UNKNOWN_TOPIC_OR_PART})

    async def _outcomes(self, futures: dict, what: str, ok_codes: set[int] = frozenset()) -> dict[str, Outcome]:
        keys = list(futures.keys())
        results = await asyncio.gather(*(asyncio.wrap_future(futures[k]) for k in keys), return_exceptions=True)
        out: dict[str, Outcome] = {}
        for key, result in zip(keys, results, strict=True):
            name = key if isinstance(key, str) else key.name
            if isinstance(result, BaseException):
                err = _err(result)
                if err is not None and err.code() in ok_codes:
                    out[name] = None
                else:
                    failure = classify(result, f"{what} {name}")
                    if failure.reason == Reason.KAFKA_ERROR and self.recent_client_error(10) is not None:
                        failure = self._connection_failure(result)
                    out[name] = failure
            else:
                out[name] = None
        return out
