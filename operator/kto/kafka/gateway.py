"""The only module that talks to Kafka's admin API.

Two clients sit behind it: confluent-kafka (librdkafka) for everything it offers, and kafka-python for what
it does not (see DESIGN.md): partition reassignment, client quotas (Describe/AlterClientQuotas) and the
default broker resource (the cluster-wide broker configs, whose empty name librdkafka refuses). The rest of kto
sees one gateway.

Batch-first and idempotent: every call takes many topics and returns an outcome per topic (``None`` for
success, a ``KafkaFailure`` otherwise); creating a topic that exists and deleting one that does not are
successes. Kafka errors are classified here, once, into kto's reasons.

confluent-kafka's AdminClient is thread-safe and returns concurrent futures; they are awaited with
``asyncio.wrap_future`` (through ``kto.pending``, which also keeps librdkafka's controller fresh while they
wait) so the event loop never blocks.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import ssl
import tempfile
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from types import MappingProxyType
from typing import Any, TypeVar

from confluent_kafka import KafkaError, KafkaException, TopicCollection, TopicPartition
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ConfigSource,
    NewPartitions,
    NewTopic,
    OffsetSpec,
    ResourcePatternType,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialDeletion,
    UserScramCredentialUpsertion,
)

from kto.api.domain import (
    SCRAM_ITERATIONS,
    THROTTLED_REPLICAS,
    Acl,
    AlterConfigs,
    ClusterFacts,
    CreatePartitions,
    CreateTopic,
    KafkaFailure,
    ObservedTopic,
    Reassignment,
)
from kto.api.quotas import QuotaChange
from kto.api.reasons import Reason
from kto.kafka.compat import ZOOKEEPER, BrokerApis, authorizer_hint
from kto.kafka.pending import PendingRequests
from kto.telemetry import metrics

log = logging.getLogger("kto.kafka")

# KRaft refuses an operation that writes more than 10,000 metadata records at once ("Excessively large number
# of partitions per request"): requests are cut so that none writes more than half of that, and hold at most
# 500 resources or 1,000 ACL bindings.
MAX_RECORDS, MAX_RESOURCES, MAX_BINDINGS = 5000, 500, 1000
MAX_GROUPS = 1000  # consumer groups per OffsetFetch (kto.lag)
# kafka-python calls of lag collections run here, not on asyncio's default executor that replica moves use:
# a slow cluster's lag collection never holds a thread the reconcile needs.
_LAG_THREADS = ThreadPoolExecutor(max_workers=8, thread_name_prefix="kto-lag")
T = TypeVar("T")


def chunked(items: Sequence[T], weight: Callable[[T], int], limit: int = MAX_RECORDS,
            max_items: int = MAX_RESOURCES) -> list[list[T]]:
    """Consecutive chunks of at most ``max_items`` items and ``limit`` total weight (an item heavier than the
    limit goes alone)."""
    chunks: list[list[T]] = []
    current: list[T] = []
    total = 0
    for item in items:
        w = weight(item)
        if current and (len(current) >= max_items or total + w > limit):
            chunks.append(current)
            current, total = [], 0
        current.append(item)
        total += w
    if current:
        chunks.append(current)
    return chunks

Outcome = KafkaFailure | None


def _err(exc: BaseException) -> KafkaError | None:
    if isinstance(exc, KafkaException) and exc.args and isinstance(exc.args[0], KafkaError):
        return exc.args[0]
    return None


_VOLATILE = re.compile(r"\s*\(after \d+ms in state [A-Z_]+(?:, \d+ identical error\(s\) suppressed)?\)")


def _text(err: KafkaError) -> str:
    """Kafka's words, without the parts that change from one attempt to the next (they would rewrite
    status and repeat Events at every retry)."""
    return _VOLATILE.sub("", err.str() or err.name())


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

HINTS = {
    Reason.INVALID_CONFIG: "fix the key or value in spec.config",
    Reason.INSUFFICIENT_BROKERS: "lower spec.replicationFactor or add brokers",
    Reason.AUTHORIZATION_FAILED: "grant kto's Kafka user the needed ACLs (Create/Alter/Describe/Delete on topics)",
    Reason.AUTHENTICATION_FAILED: "check the credentials in the KafkaCluster's Secret",
    # Without knowing the cluster's mode: both authorizers (the gateway names the one its brokers need).
    Reason.AUTHORIZER_NOT_ENABLED: authorizer_hint(None),
    Reason.TOPIC_BEING_DELETED: "an earlier topic of this name is still being deleted: ZooKeeper finishes a "
                                "deletion only when every broker holding one of its replicas is up; bring the "
                                "brokers back, and kto creates the topic once the deletion completes",
}
# librdkafka's answer when a broker lacks an API the request needs (e.g. DescribeCluster before Kafka 2.8).
UNSUPPORTED_CODES = {KafkaError._UNSUPPORTED_FEATURE, KafkaError.UNSUPPORTED_VERSION}


def is_pending_deletion(err: KafkaError) -> bool:
    """CreateTopics on a ZooKeeper-mode cluster whose earlier topic of that name is still being deleted (a
    replica's broker is down): TOPIC_ALREADY_EXISTS, "Topic 'x' is marked for deletion" -- not a success."""
    return err.code() == KafkaError.TOPIC_ALREADY_EXISTS and "marked for deletion" in (err.str() or "").lower()


def classify(exc: BaseException, what: str, mode: str | None = None) -> KafkaFailure:
    """One Kafka error, as a reason and a message that says what happened and what to do. ``mode``: the
    cluster's (``kto.compat``), when known, for a hint that fits it."""
    err = _err(exc)
    if err is None:
        return KafkaFailure(Reason.KAFKA_ERROR, f"{what}: {type(exc).__name__}: {exc}", retriable=True)
    code = err.code()
    if is_pending_deletion(err):
        reason, retriable = Reason.TOPIC_BEING_DELETED, True
    elif code in PERMANENT_CODES:
        reason = PERMANENT_CODES[code]
        retriable = False
    elif code in AUTHORIZATION_CODES:
        reason, retriable = Reason.AUTHORIZATION_FAILED, True
    elif code in AUTHENTICATION_CODES:
        reason, retriable = Reason.AUTHENTICATION_FAILED, True
    else:
        reason, retriable = Reason.KAFKA_ERROR, True
    message = f"{what}: {_text(err)}"
    if reason == Reason.AUTHORIZER_NOT_ENABLED:
        message += f" ({authorizer_hint(mode)})"
    elif reason in HINTS:
        message += f" ({HINTS[reason]})"
    return KafkaFailure(reason, message, retriable=retriable)


@metrics.timed_calls(KafkaFailure)
class KafkaGateway:
    """One admin connection to one Kafka cluster; each public call is timed and its failures counted
    (``metrics.timed_calls``)."""

    def __init__(self, conf: dict[str, str], label: str, request_timeout: float = 30.0):
        self.label = label
        self._conf = dict(conf)
        self._kp = None  # kafka-python admin client, created on first use
        self._kp_lock = threading.Lock()
        self._lag_kp = None  # a second kafka-python client, for lag collections only (kto.lag)
        self._lag_kp_lock = threading.Lock()
        self.request_timeout = request_timeout
        self._client_errors: deque[tuple[float, KafkaError]] = deque(maxlen=20)
        self.requests = 0  # admin calls sent, for metrics and benchmarks
        self.apis: BrokerApis | None = None  # what the brokers answered to ApiVersions, once asked
        self._admin = AdminClient({
            **conf,
            "error_cb": self._on_client_error,
            "logger": logging.getLogger("kto.librdkafka"),
            "socket.connection.setup.timeout.ms": str(int(request_timeout * 1000)),
            "reconnect.backoff.max.ms": "5000",
        })
        self._pending = PendingRequests(self._refresh_metadata)
        self._defaults: list[Mapping[str, str]] = []  # distinct sets of topic defaults, newest first

    def _refresh_metadata(self) -> None:
        """A Metadata request for one topic, sent to any live broker (see kto.pending)."""
        self._admin.list_topics(topic="__consumer_offsets", timeout=min(self.request_timeout, 5.0))

    def _count(self, operation: str) -> None:
        self.requests += 1
        metrics.KAFKA_REQUESTS.labels(self.label, operation).inc()

    def _on_client_error(self, err: KafkaError) -> None:
        self._client_errors.append((time.monotonic(), err))

    def recent_client_error(self, within: float = 60.0) -> KafkaError | None:
        """The latest connection-level error (e.g. failed authentication) in the last ``within`` seconds."""
        self._admin.poll(0)  # error callbacks are served from poll()
        cutoff = time.monotonic() - within
        for at, err in reversed(self._client_errors):
            if at >= cutoff:
                return err
        return None

    def close(self) -> None:
        # AdminClient has no close(): the librdkafka handle goes with the last reference (a batch still
        # using this gateway finishes with it).
        with self._kp_lock:
            if self._kp is not None:
                try:
                    self._kp.close()
                except Exception:  # noqa: BLE001 - closing is best effort
                    log.debug("Closing the kafka-python client failed cluster=%s", self.label)
                self._kp = None
        with self._lag_kp_lock:
            if self._lag_kp is not None:
                try:
                    self._lag_kp.close()
                except Exception:  # noqa: BLE001 - closing is best effort
                    log.debug("Closing the kafka-python lag client failed cluster=%s", self.label)
                self._lag_kp = None

    # --- cluster ----------------------------------------------------------------------------------

    async def describe_cluster(self, attempts: int = 2) -> ClusterFacts | KafkaFailure:
        """The cluster's id, brokers and racks. A request lost with the broker it went to (the broker died, its
        connection was refused) is sent once more: the other brokers answer it, and one broker down of several
        does not make the whole cluster unreachable. One that timed out is not: nobody answered."""
        timeout = min(self.request_timeout, 10.0)
        for attempt in range(attempts):
            self._count("describe_cluster")
            sent = time.monotonic()
            try:
                result = await self._pending.track(self._admin.describe_cluster(request_timeout=timeout))
                break
            except Exception as exc:  # noqa: BLE001 - classified below
                failure = self._connection_failure(exc)
                lost = time.monotonic() - sent < timeout / 2
                if failure.reason != Reason.UNREACHABLE or not lost or attempt == attempts - 1:
                    return failure
        return ClusterFacts(
            cluster_id=result.cluster_id,
            controller_id=result.controller.id if result.controller else None,
            broker_ids=tuple(sorted(n.id for n in result.nodes)),
            racks=MappingProxyType({n.id: n.rack for n in result.nodes if getattr(n, "rack", None)}),
        )

    async def describe_super_users(self, broker_ids: Sequence[int]) -> frozenset[str] | KafkaFailure:
        """The user names of the brokers' ``super.users`` (a static broker config: one DescribeConfigs of a broker
        resource, sent to that broker, on KRaft and ZooKeeper alike). The first of ``broker_ids`` that answers is
        asked; a refusal to describe the cluster's configs is the same on every broker, and ends the asking.

        Stock Kafka (3.x and 4.x, both modes) describes ``super.users`` as sensitive, without its value: it is an
        authorizer's key, not one of the broker's own, and the broker hides every key whose type it does not know.
        That is a failure here (the value is unknown), never an empty set; brokers without an authorizer have no
        ``super.users`` at all, which is an empty set."""
        failure = KafkaFailure(Reason.KAFKA_ERROR, "describing super.users: no broker to ask", retriable=True)
        for broker in list(broker_ids)[:3]:
            resource = ConfigResource(ConfigResource.Type.BROKER, str(broker))
            self._count("describe_configs")
            try:
                futures = self._admin.describe_configs([resource], request_timeout=min(self.request_timeout, 10.0))
                configs = await self._pending.track(futures[resource])
            except Exception as exc:  # noqa: BLE001 - classified below
                failure = classify(exc, f"describing the config super.users of broker {broker}", self.mode)
                if failure.reason == Reason.AUTHORIZATION_FAILED:
                    return failure
                continue
            entry = configs.get(SUPER_USERS)
            if entry is not None and entry.value is None and entry.is_sensitive:
                return KafkaFailure(Reason.KAFKA_ERROR, f"broker {broker} describes super.users as sensitive, without "
                                    "its value (Kafka hides the keys it has no type for): list the super users in "
                                    "the KafkaCluster's protectedPrincipals", retriable=False)
            return super_users_of(entry.value if entry is not None else None)
        return failure

    async def describe_broker_apis(self) -> BrokerApis | KafkaFailure:
        """The API versions the brokers support (kafka-python asks ApiVersions when it connects), asked once per
        connection: the Kafka release and mode they tell are those of the cluster until kto reconnects."""
        if self.apis is not None:
            return self.apis
        self._count("api_versions")
        try:
            data = await asyncio.to_thread(self._kafka_python_versions)
        except Exception as exc:  # noqa: BLE001 - classified below
            return classify_kafka_python(exc, "asking the brokers which API versions they support")
        release = tuple(data.broker_version) if data.broker_version else None
        self.apis = BrokerApis(MappingProxyType(dict(data.api_versions)), release)
        return self.apis

    @property
    def mode(self) -> str | None:
        """``zookeeper`` or ``kraft`` once the brokers' API versions are known."""
        return self.apis.mode if self.apis is not None else None

    def _kafka_python_versions(self):
        with self._kp_lock:
            if self._kp is None:
                self._kp = _kafka_python_client(self._conf, self.request_timeout)
            # kafka-python 3.x keeps the bootstrap broker's ApiVersions answer here (api_versions: key ->
            # (min, max); broker_version: the release it matches).
            return self._kp._manager.broker_version_data

    def _connection_failure(self, exc: BaseException) -> KafkaFailure:
        err = _err(exc)
        if err is not None and err.code() in UNSUPPORTED_CODES:
            return KafkaFailure(Reason.UNSUPPORTED_KAFKA_VERSION, f"the brokers lack an API kto needs: {_text(err)}",
                                retriable=True)
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

    async def list_topics(self) -> list[str] | KafkaFailure:
        """The names of every topic of the cluster, internal ones included (one Metadata request)."""
        self._count("metadata")
        try:
            md = await asyncio.to_thread(self._admin.list_topics, timeout=self.request_timeout)
        except Exception as exc:  # noqa: BLE001 - classified below
            return self._connection_failure(exc)
        return sorted(md.topics)

    async def describe_topics(self, names: Sequence[str], configs: bool = True
                              ) -> dict[str, ObservedTopic | KafkaFailure | None]:
        """Each topic as Kafka has it (``None``: it does not exist). Two requests for any number of topics; one
        without ``configs`` (then the topics' overrides and defaults are left empty)."""
        out: dict[str, ObservedTopic | KafkaFailure | None] = {}
        if not names:
            return out
        self._count("describe_topics")
        futures = self._admin.describe_topics(TopicCollection(list(names)), request_timeout=self.request_timeout)
        descriptions = {}
        results = await self._pending.gather(list(futures.values()))
        for name, result in zip(futures.keys(), results, strict=True):
            if isinstance(result, BaseException):
                err = _err(result)
                if err is not None and err.code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
                    out[name] = None
                else:
                    out[name] = classify(result, f"describing topic {name}")
            else:
                descriptions[name] = result
        described = await self._describe_configs(list(descriptions)) if configs else {}
        for name, desc in descriptions.items():
            cfg = described.get(name)
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
                defaults=self._shared(defaults),
                replicas=replicas,
            )
        return out

    def _shared(self, defaults: dict[str, str]) -> Mapping[str, str]:
        """The topics' inherited values are the brokers' defaults, alike for nearly every topic: one copy of each
        distinct set is kept (a few hundred bytes per topic otherwise, at 50,000 topics)."""
        for known in self._defaults:
            if known == defaults:
                return known
        shared = MappingProxyType(defaults)
        self._defaults = [shared, *self._defaults[:3]]
        return shared

    async def _describe_configs(self, names: list[str]):
        out: dict[str, tuple[dict[str, str], dict[str, str]] | KafkaFailure] = {}
        if not names:
            return out
        self._count("describe_configs")
        futures = self._admin.describe_configs([ConfigResource(ConfigResource.Type.TOPIC, n) for n in names],
                                               request_timeout=self.request_timeout)
        results = await self._pending.gather(list(futures.values()))
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
        def send(chunk: list[CreateTopic]) -> Awaitable[dict[str, Outcome]]:
            new = [NewTopic(a.name, num_partitions=a.partitions or -1, replication_factor=a.replication_factor or -1,
                            config=dict(a.config)) for a in chunk]
            self._count("create_topics")
            futures = self._admin.create_topics(new, operation_timeout=self.request_timeout,
                                                request_timeout=self.request_timeout)
            return self._outcomes(futures, "creating topic", ok_codes={KafkaError.TOPIC_ALREADY_EXISTS},
                                  existed=existed)

        existed: set[str] = set()
        out = await self._chunks(list(actions), lambda a: (a.partitions or 1) + 1 + len(a.config), send)
        return out | await self._being_deleted(sorted(existed))

    async def _being_deleted(self, names: list[str]) -> dict[str, Outcome]:
        """Of the topics CreateTopics said exist, those no broker describes. On ZooKeeper, an earlier topic of
        that name is still being deleted (a replica's broker is down): Kafka 3.9 says "marked for deletion"
        (classified at once); 3.0 to 3.8 say "already exists", and the topic is gone from the metadata meanwhile.
        On KRaft (and while the mode is not known) nothing is reported: the controller is still removing an
        earlier topic of the name, or the broker asked has not caught up with the metadata; the topic is looked
        at again in a second, without a status write, and created once the name is free (``topic_verdict``)."""
        if not names or self.mode != ZOOKEEPER:
            return {}
        seen = await self.describe_topics(names, configs=False)
        return {name: KafkaFailure(Reason.TOPIC_BEING_DELETED, f"creating topic {name}: Kafka answers that it "
                                   f"already exists, yet no broker describes it ({HINTS[Reason.TOPIC_BEING_DELETED]})",
                                   retriable=True)
                for name in names if seen.get(name) is None}

    async def create_partitions(self, actions: Iterable[CreatePartitions]) -> dict[str, Outcome]:
        def send(chunk: list[CreatePartitions]) -> Awaitable[dict[str, Outcome]]:
            self._count("create_partitions")
            futures = self._admin.create_partitions([NewPartitions(a.name, a.total) for a in chunk],
                                                    operation_timeout=self.request_timeout,
                                                    request_timeout=self.request_timeout)
            return self._outcomes(futures, "adding partitions to topic")

        return await self._chunks(list(actions), lambda a: a.total - a.current, send)

    async def alter_configs(self, actions: Iterable[AlterConfigs]) -> dict[str, Outcome]:
        def send(chunk: list[AlterConfigs]) -> Awaitable[dict[str, Outcome]]:
            resources = []
            for a in chunk:
                entries = [ConfigEntry(k, v, incremental_operation=AlterConfigOpType.SET) for k, v in a.to_set.items()]
                entries += [ConfigEntry(k, None, incremental_operation=AlterConfigOpType.DELETE) for k in a.to_delete]
                resources.append(ConfigResource(ConfigResource.Type.TOPIC, a.name, incremental_configs=entries))
            self._count("incremental_alter_configs")
            futures = self._admin.incremental_alter_configs(resources, request_timeout=self.request_timeout)
            return self._outcomes(futures, "setting configs of topic")

        return await self._chunks(list(actions), lambda a: len(a.changes), send)

    async def delete_topics(self, names: Iterable[str]) -> dict[str, Outcome]:
        def send(chunk: list[str]) -> Awaitable[dict[str, Outcome]]:
            self._count("delete_topics")
            futures = self._admin.delete_topics(chunk, operation_timeout=self.request_timeout,
                                                request_timeout=self.request_timeout)
            return self._outcomes(futures, "deleting topic", ok_codes={KafkaError.UNKNOWN_TOPIC_OR_PART})

        return await self._chunks(list(names), lambda _: 1, send)

    async def _chunks(self, items: list, weight: Callable[[Any], int],
                      send: Callable[[list], Awaitable[dict[str, Outcome]]], name=lambda i: getattr(i, "name", i),
                      limit: int = MAX_RECORDS) -> dict[str, Outcome]:
        """Send ``items`` in chunks within the brokers' per-request limits. When several items of one request
        fail, they are sent again in halves until each failure stands alone: a request that fails as a whole
        (one resource too large, a policy on the batch) never fails the resources next to the one at fault."""
        out: dict[str, Outcome] = {}
        pending = chunked(items, weight, limit)
        while pending:
            chunk = pending.pop()
            result = await send(chunk)
            out |= result
            failed = [i for i in chunk if result.get(name(i)) is not None]
            if len(chunk) > 1 and len(failed) > 1:
                half = len(failed) // 2
                pending += [failed[:half], failed[half:]]
        return out

    async def _outcomes(self, futures: dict, what: str, ok_codes: set[int] = frozenset(),
                        existed: set[str] | None = None) -> dict[str, Outcome]:
        """The outcome per resource; an error in ``ok_codes`` is a success, and its name goes into ``existed``."""
        keys = list(futures.keys())
        results = await self._pending.gather([futures[k] for k in keys])
        out: dict[str, Outcome] = {}
        for key, result in zip(keys, results, strict=True):
            name = key if isinstance(key, str) else key.name
            if isinstance(result, BaseException):
                err = _err(result)
                if err is not None and err.code() in ok_codes and not is_pending_deletion(err):
                    out[name] = None
                    if existed is not None:
                        existed.add(name)
                else:
                    failure = classify(result, f"{what} {name}")
                    if failure.reason == Reason.KAFKA_ERROR and self.recent_client_error(10) is not None:
                        failure = self._connection_failure(result)
                    out[name] = failure
            else:
                out[name] = None
        return out

    # --- replicas (partition reassignment) ---------------------------------------------------------

    async def describe_replica_load(self) -> dict[int, int] | KafkaFailure:
        """Replicas per broker across the whole cluster (one Metadata request)."""
        self._count("metadata")
        try:
            md = await asyncio.to_thread(self._admin.list_topics, timeout=self.request_timeout)
        except Exception as exc:  # noqa: BLE001 - classified below
            return classify(exc, "describing the cluster's replicas")
        load: dict[int, int] = {b: 0 for b in md.brokers}
        for topic in md.topics.values():
            for partition in topic.partitions.values():
                for b in partition.replicas:
                    load[b] = load.get(b, 0) + 1
        return load

    async def list_reassignments(self) -> dict[str, dict[int, Reassignment]] | KafkaFailure:
        """Every ongoing reassignment of the cluster, by topic and partition (one request)."""
        self._count("list_partition_reassignments")
        try:
            ongoing = await asyncio.to_thread(self._kafka_python, "list_partition_reassignments")
        except Exception as exc:  # noqa: BLE001 - classified below
            return classify_kafka_python(exc, "listing partition reassignments")
        out: dict[str, dict[int, Reassignment]] = {}
        for tp, state in ongoing.items():
            out.setdefault(tp.topic, {})[tp.partition] = Reassignment(
                tuple(state["replicas"]), tuple(state["adding_replicas"]), tuple(state["removing_replicas"]))
        return out

    async def alter_reassignments(self, moves: dict[str, dict[int, list[int] | None]]) -> dict[str, Outcome]:
        """Start (a replica list) or cancel (``None``) reassignments; one request for every topic."""
        from kafka import TopicPartition

        if not moves:
            return {}
        request = {TopicPartition(t, p): r for t, parts in moves.items() for p, r in parts.items()}
        self._count("alter_partition_reassignments")
        try:
            results = await asyncio.to_thread(self._kafka_python, "alter_partition_reassignments", request)
        except Exception as exc:  # noqa: BLE001 - classified below
            failure = classify_kafka_python(exc, "reassigning partitions")
            return {t: failure for t in moves}
        out: dict[str, Outcome] = {t: None for t in moves}
        for tp, err in results.items():
            # Cancelling a reassignment that already finished is no error.
            if err is not None and err.__name__ != "NoReassignmentInProgressError":
                out[tp.topic] = KafkaFailure(Reason.KAFKA_ERROR, f"reassigning partition {tp.partition} of topic "
                                             f"{tp.topic}: {err.__name__}: {getattr(err, 'description', '')}",
                                             retriable=bool(getattr(err, "retriable", True)))
        return out

    async def set_replication_throttle(self, broker_ids: Sequence[int], rate: int | None) -> Outcome:
        """Set (or, with ``None``, remove) the leader and follower replication throttle on every broker."""
        op = AlterConfigOpType.SET if rate is not None else AlterConfigOpType.DELETE
        value = str(rate) if rate is not None else None
        for broker in broker_ids:
            entries = [ConfigEntry(k, value, incremental_operation=op)
                       for k in ("leader.replication.throttled.rate", "follower.replication.throttled.rate")]
            resource = ConfigResource(ConfigResource.Type.BROKER, str(broker), incremental_configs=entries)
            self._count("incremental_alter_configs")
            futures = self._admin.incremental_alter_configs([resource], request_timeout=self.request_timeout)
            failure = (await self._outcomes({str(broker): futures[resource]}, "setting the replication throttle "
                                            "on broker")).get(str(broker))
            if failure is not None:
                return failure
        return None

    async def set_topic_throttle(self, topics: dict[str, bool]) -> dict[str, Outcome]:
        """Mark (True) or unmark (False) all replicas of each topic as throttled."""
        resources = []
        for topic, on in topics.items():
            op = AlterConfigOpType.SET if on else AlterConfigOpType.DELETE
            entries = [ConfigEntry(k, "*" if on else None, incremental_operation=op) for k in THROTTLED_REPLICAS]
            resources.append(ConfigResource(ConfigResource.Type.TOPIC, topic, incremental_configs=entries))
        if not resources:
            return {}
        self._count("incremental_alter_configs")
        futures = self._admin.incremental_alter_configs(resources, request_timeout=self.request_timeout)
        return await self._outcomes(futures, "setting the replication throttle of topic")

    # --- users: SCRAM credentials and ACLs ----------------------------------------------------------

    async def describe_scram(self, users: Sequence[str]) -> dict[str, dict[str, int] | KafkaFailure | None]:
        """Each user's SCRAM mechanisms and iterations (``None``: no credentials). One request."""
        out: dict[str, dict[str, int] | KafkaFailure | None] = {}
        if not users:
            return out
        self._count("describe_user_scram_credentials")
        try:
            futures = self._admin.describe_user_scram_credentials(list(users), request_timeout=self.request_timeout)
        except Exception as exc:  # noqa: BLE001 - classified below
            failure = classify(exc, "describing SCRAM credentials")
            return {u: failure for u in users}
        keys = list(futures)
        results = await self._pending.gather([futures[k] for k in keys])
        for user, result in zip(keys, results, strict=True):
            if isinstance(result, BaseException):
                err = _err(result)
                out[user] = None if err is not None and err.code() == KafkaError.RESOURCE_NOT_FOUND \
                    else classify(result, f"describing the SCRAM credentials of user {user}")
            else:
                out[user] = {info.mechanism.name.replace("_", "-"): info.iterations
                             for info in result.scram_credential_infos}
        return out

    async def list_scram_users(self) -> dict[str, dict[str, int]] | KafkaFailure:
        """Every user with SCRAM credentials: its mechanisms and iterations (one request)."""
        self._count("describe_user_scram_credentials")
        try:
            described = await self._pending.track(
                self._admin.describe_user_scram_credentials(request_timeout=self.request_timeout))
        except Exception as exc:  # noqa: BLE001 - classified below
            return classify(exc, "describing SCRAM credentials")
        return {user: {info.mechanism.name.replace("_", "-"): info.iterations
                       for info in result.scram_credential_infos}
                for user, result in described.items()}

    async def alter_scram(self, upserts: Sequence[tuple[str, str, str]],
                          deletions: Sequence[tuple[str, str]]) -> dict[str, Outcome]:
        """Upsert (user, mechanism, password) and delete (user, mechanism) credentials, in one request; the
        outcome per user. Deleting a credential that does not exist is a success."""
        alterations = [UserScramCredentialUpsertion(
            user, ScramCredentialInfo(ScramMechanism[mech.replace("-", "_")], SCRAM_ITERATIONS), password.encode())
            for user, mech, password in upserts]
        alterations += [UserScramCredentialDeletion(user, ScramMechanism[mech.replace("-", "_")])
                        for user, mech in deletions]
        if not alterations:
            return {}
        self._count("alter_user_scram_credentials")
        try:
            futures = self._admin.alter_user_scram_credentials(alterations, request_timeout=self.request_timeout)
        except Exception as exc:  # noqa: BLE001 - classified below
            failure = classify(exc, "altering SCRAM credentials")
            return {a.user: failure for a in alterations}
        # Kafka alters a user's credentials all or nothing: a missing one is no error only when all are deletions.
        return await self._outcomes(futures, "setting the SCRAM credentials of user",
                                    ok_codes=set() if upserts else {KafkaError.RESOURCE_NOT_FOUND})

    async def describe_acls(self) -> dict[str, set[Acl]] | KafkaFailure:
        """Every ACL binding of the cluster, by principal (one request)."""
        self._count("describe_acls")
        acl_filter = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, None, None,
                                      AclOperation.ANY, AclPermissionType.ANY)
        try:
            bindings = await self._pending.track(self._admin.describe_acls(acl_filter,
                                                                           request_timeout=self.request_timeout))
        except Exception as exc:  # noqa: BLE001 - classified below
            return classify(exc, "listing ACLs", self.mode)
        out: dict[str, set[Acl]] = {}
        for b in bindings:
            out.setdefault(b.principal, set()).add(_acl_of(b))
        return out

    async def create_acls(self, acls: dict[str, Sequence[Acl]]) -> dict[str, Outcome]:
        """Create bindings, by principal; the first failure per principal. At most 1,000 bindings per request,
        and a principal's bindings stay in one request."""
        def send(chunk: list[str]) -> Awaitable[dict[str, Outcome]]:
            self._count("create_acls")
            futures = self._admin.create_acls([_binding(p, a) for p in chunk for a in acls[p]],
                                              request_timeout=self.request_timeout)
            return self._acl_outcomes(futures, "creating ACLs of")

        principals = [p for p, items in acls.items() if items]
        return await self._chunks(principals, lambda p: len(acls[p]), send, limit=MAX_BINDINGS)

    async def delete_acls(self, acls: dict[str, Sequence[Acl] | None]) -> dict[str, Outcome]:
        """Delete the given bindings of each principal (``None``: every binding of the principal)."""
        def filters(p: str) -> list:
            items = acls[p]
            if items is None:
                return [AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, p, None, AclOperation.ANY,
                                         AclPermissionType.ANY)]
            return [_binding(p, a, AclBindingFilter) for a in items]

        def send(chunk: list[str]) -> Awaitable[dict[str, Outcome]]:
            self._count("delete_acls")
            futures = self._admin.delete_acls([f for p in chunk for f in filters(p)],
                                              request_timeout=self.request_timeout)
            return self._acl_outcomes(futures, "deleting ACLs of")

        principals = [p for p, items in acls.items() if items is None or items]
        return await self._chunks(principals, lambda p: len(acls[p] or (None,)), send, limit=MAX_BINDINGS)

    async def _acl_outcomes(self, futures: dict, what: str) -> dict[str, Outcome]:
        keys = list(futures)
        results = await self._pending.gather([futures[k] for k in keys])
        out: dict[str, Outcome] = {}
        for key, result in zip(keys, results, strict=True):
            if isinstance(result, BaseException):
                out.setdefault(key.principal, classify(result, f"{what} {key.principal}", self.mode))
            else:
                out.setdefault(key.principal, None)
        return out

    def _kafka_python(self, method: str, *args):
        with self._kp_lock:
            if self._kp is None:
                self._kp = _kafka_python_client(self._conf, self.request_timeout)
            return getattr(self._kp, method)(*args)

    # --- consumer lag and topic size (kto.lag) -------------------------------------------------------

    async def describe_log_dirs(self, partitions: Mapping[str, int]) -> list[tuple[str, int, int]] | KafkaFailure:
        """(topic, partition, bytes) for every replica of these topics' partitions, from every broker's log
        dirs: one DescribeLogDirs per broker (kafka-python; confluent-kafka has no DescribeLogDirs)."""
        if not partitions:
            return []
        self._count("describe_log_dirs")
        try:
            answers = await self._lag_call("describe_log_dirs", {t: list(range(n)) for t, n in partitions.items()})
        except Exception as exc:  # noqa: BLE001 - classified below
            return classify_kafka_python(exc, "describing log dirs")
        return [(topic["name"], p["partition_index"], p["partition_size"])
                for broker in answers for log_dir in broker["log_dirs"] if not log_dir.get("error_code")
                for topic in log_dir["topics"] for p in topic["partitions"]]

    async def list_end_offsets(self, partitions: Mapping[str, int]) -> dict[tuple[str, int], int | KafkaFailure] \
            | KafkaFailure:
        """The end offset of every partition of these topics: one ListOffsets per partition leader."""
        request = {TopicPartition(t, p): OffsetSpec.latest() for t, n in partitions.items() for p in range(n)}
        if not request:
            return {}
        self._count("list_offsets")
        try:
            futures = self._admin.list_offsets(request, request_timeout=self.request_timeout)
        except Exception as exc:  # noqa: BLE001 - classified below
            return classify(exc, "listing end offsets")
        keys = list(futures)
        results = await self._pending.gather([futures[k] for k in keys])
        return {(k.topic, k.partition): classify(r, f"listing the end offset of {k.topic}/{k.partition}")
                if isinstance(r, BaseException) else r.offset for k, r in zip(keys, results, strict=True)}

    async def list_groups(self) -> list[str] | KafkaFailure:
        """Every consumer group's id (one ListGroups per broker)."""
        self._count("list_consumer_groups")
        try:
            result = await self._pending.track(self._admin.list_consumer_groups(request_timeout=self.request_timeout))
        except Exception as exc:  # noqa: BLE001 - classified below
            return classify(exc, "listing consumer groups")
        return sorted(g.group_id for g in result.valid)

    async def list_committed_offsets(self, groups: Sequence[str]
                                     ) -> dict[str, dict[tuple[str, int], int] | KafkaFailure] | KafkaFailure:
        """Each group's committed offsets: one FindCoordinator and one OffsetFetch per coordinator for up to
        ``MAX_GROUPS`` groups (kafka-python batches groups; confluent-kafka asks one group at a time). A request
        that fails is sent again in halves, so that one group at fault fails alone."""
        out: dict[str, dict[tuple[str, int], int] | KafkaFailure] = {}
        pending = [list(groups[i:i + MAX_GROUPS]) for i in range(0, len(groups), MAX_GROUPS)]
        while pending:
            chunk = pending.pop()
            self._count("list_group_offsets")
            try:
                answer = await self._lag_call("list_group_offsets", dict.fromkeys(chunk))
            except Exception as exc:  # noqa: BLE001 - classified below
                if len(chunk) == 1:
                    out[chunk[0]] = classify_kafka_python(exc, f"listing the offsets of consumer group {chunk[0]}")
                else:
                    pending += [chunk[:len(chunk) // 2], chunk[len(chunk) // 2:]]
                continue
            for group, offsets in answer.items():
                out[group] = {(tp.topic, tp.partition): o.offset for tp, o in offsets.items()}
        return out

    async def _lag_call(self, method: str, *args):
        return await asyncio.get_running_loop().run_in_executor(_LAG_THREADS, self._lag_client_call, method, *args)

    def _lag_client_call(self, method: str, *args):
        # A call of an abandoned collection may still hold the client: wait for it no longer than a request.
        if not self._lag_kp_lock.acquire(timeout=self.request_timeout):
            raise TimeoutError(f"the previous {method} of this cluster is still running")
        try:
            if self._lag_kp is None:
                self._lag_kp = _kafka_python_client(self._conf, self.request_timeout)
            return getattr(self._lag_kp, method)(*args)
        finally:
            self._lag_kp_lock.release()

    def _kafka_python_send(self, request):
        """Send one protocol message with kafka-python's client (to the least loaded broker); its response."""
        with self._kp_lock:
            if self._kp is None:
                self._kp = _kafka_python_client(self._conf, self.request_timeout)
            manager = self._kp._manager

            async def send():
                return await manager.send(request)

            return manager.run(send)

    # --- client quotas (kafka-python's protocol messages: confluent-kafka has no client-quota API) -------

    async def describe_user_quotas(self, default: bool = False) -> dict[str | None, dict[str, float]] | KafkaFailure:
        """The client quotas of every user entity (entity type user, a user name, no client id), by user name;
        with ``default``, of the default user entity only (under None). One DescribeClientQuotas."""
        from kafka.protocol.admin import DescribeClientQuotasRequest as Describe

        match = QUOTA_MATCH_DEFAULT if default else QUOTA_MATCH_SPECIFIED
        request = Describe(components=[Describe.ComponentData(entity_type="user", match_type=match, match=None)],
                           strict=default)
        self._count("describe_client_quotas")
        try:
            response = await asyncio.to_thread(self._kafka_python_send, request)
        except Exception as exc:  # noqa: BLE001 - classified below
            return classify_kafka_python(exc, "describing client quotas")
        if response.error_code:
            return _kafka_python_failure(response.error_code, response.error_message, "describing client quotas")
        out: dict[str | None, dict[str, float]] = {}
        for entry in response.entries or ():
            if len(entry.entity) == 1 and entry.entity[0].entity_type == "user" \
                    and (entry.entity[0].entity_name is None) == default:
                out[entry.entity[0].entity_name] = {v.key: float(v.value) for v in entry.values}
        return out

    async def alter_user_quotas(self, changes: Sequence[QuotaChange]) -> dict[str | None, Outcome]:
        """Set and remove quota keys of user entities (user None: the default user entity), every user in one
        AlterClientQuotas; the outcome by user."""
        from kafka.protocol.admin import AlterClientQuotasRequest as Alter

        changes = [c for c in changes if not c.in_sync]
        if not changes:
            return {}
        entries = [Alter.EntryData(
            entity=[Alter.EntryData.EntityData(entity_type="user", entity_name=c.user)],
            ops=[Alter.EntryData.OpData(key=k, value=float(v), remove=False) for k, v in sorted(c.to_set.items())]
            + [Alter.EntryData.OpData(key=k, value=0.0, remove=True) for k in c.to_remove]) for c in changes]
        self._count("alter_client_quotas")
        try:
            response = await asyncio.to_thread(self._kafka_python_send, Alter(entries=entries, validate_only=False))
        except Exception as exc:  # noqa: BLE001 - classified below
            failure = classify_kafka_python(exc, "setting client quotas")
            return {c.user: failure for c in changes}
        out: dict[str | None, Outcome] = {c.user: None for c in changes}
        for entry in response.entries:
            user = entry.entity[0].entity_name if entry.entity else None
            if entry.error_code and user in out:
                out[user] = _kafka_python_failure(entry.error_code, entry.error_message, "setting the client quotas "
                                                  f"of {f'user {user}' if user is not None else 'the default user'}")
        return out

    # --- cluster-wide dynamic broker defaults (kafka-python: librdkafka refuses the default broker resource) ---

    async def describe_broker_defaults(self) -> dict[str, str] | KafkaFailure:
        """The cluster-wide dynamic broker configs (the default broker resource, empty name: its
        DYNAMIC_DEFAULT_BROKER_CONFIG entries). One DescribeConfigs."""
        from kafka.protocol.admin import DescribeConfigsRequest as Describe

        request = Describe(resources=[Describe.DescribeConfigsResource(
            resource_type=BROKER_RESOURCE, resource_name="", configuration_keys=None)], include_synonyms=False,
            include_documentation=False)
        self._count("describe_configs")
        try:
            response = await asyncio.to_thread(self._kafka_python_send, request)
        except Exception as exc:  # noqa: BLE001 - classified below
            return classify_kafka_python(exc, "describing the cluster-wide broker configs")
        out: dict[str, str] = {}
        for result in response.results:
            if result.error_code:
                return _kafka_python_failure(result.error_code, result.error_message,
                                             "describing the cluster-wide broker configs")
            out |= {c.name: c.value for c in result.configs
                    if c.config_source == DYNAMIC_DEFAULT_BROKER_CONFIG and c.value is not None}
        return out

    async def alter_broker_defaults(self, to_set: dict[str, str], to_delete: Sequence[str],
                                    validate_only: bool = False) -> Outcome:
        """Set and delete cluster-wide dynamic broker configs in one IncrementalAlterConfigs (``validate_only``:
        the brokers check it and change nothing)."""
        from kafka.protocol.admin import IncrementalAlterConfigsRequest as Alter

        Config = Alter.AlterConfigsResource.AlterableConfig
        configs = [Config(name=k, config_operation=CONFIG_SET, value=v) for k, v in sorted(to_set.items())]
        configs += [Config(name=k, config_operation=CONFIG_DELETE, value=None) for k in to_delete]
        if not configs:
            return None
        request = Alter(resources=[Alter.AlterConfigsResource(resource_type=BROKER_RESOURCE, resource_name="",
                                                              configs=configs)], validate_only=validate_only)
        self._count("incremental_alter_configs")
        try:
            response = await asyncio.to_thread(self._kafka_python_send, request)
        except Exception as exc:  # noqa: BLE001 - classified below
            return classify_kafka_python(exc, "setting the cluster-wide broker configs")
        for result in response.responses:
            if result.error_code:
                return _kafka_python_failure(result.error_code, result.error_message,
                                             "setting the cluster-wide broker configs")
        return None



def _acl_of(b: AclBinding) -> Acl:
    restype = "CLUSTER" if b.restype == ResourceType.BROKER else b.restype.name
    return Acl(restype, b.name, b.resource_pattern_type.name, b.host, b.operation.name, b.permission_type.name)


def _binding(principal: str, acl: Acl, cls=AclBinding):
    restype = ResourceType.BROKER if acl.resource_type == "CLUSTER" else ResourceType[acl.resource_type]
    return cls(restype, acl.name, ResourcePatternType[acl.pattern], principal, acl.host,
               AclOperation[acl.operation], AclPermissionType[acl.permission])


SUPER_USERS = "super.users"


def super_users_of(value: str | None) -> frozenset[str]:
    """The user names in a ``super.users`` value: ``User:<name>`` entries separated by ';' (spaces around an entry
    or its name ignored, as Kafka ignores them); principals of another type, and empty names, are left out."""
    names = set()
    for entry in (value or "").split(";"):
        kind, sep, name = entry.strip().partition(":")
        if sep and kind.strip() == "User" and name.strip():
            names.add(name.strip())
    return frozenset(names)


# DescribeClientQuotas match types: 0 a given name, 1 the default entity, 2 any named entity.
QUOTA_MATCH_DEFAULT, QUOTA_MATCH_SPECIFIED = 1, 2
# Kafka's protocol constants: the BROKER resource type, the DYNAMIC_DEFAULT_BROKER_CONFIG config source, and
# IncrementalAlterConfigs' SET and DELETE operations.
BROKER_RESOURCE, DYNAMIC_DEFAULT_BROKER_CONFIG, CONFIG_SET, CONFIG_DELETE = 4, 3, 0, 1


def _kafka_python_failure(code: int, message: str | None, what: str) -> KafkaFailure:
    """An error code in a kafka-python response, classified like a raised one; a rejected value is permanent."""
    from kafka import errors

    error = errors.for_code(code)
    text = f"{message}" if message else getattr(error, "description", "")
    if error.__name__ in ("InvalidRequestError", "InvalidConfigurationError"):
        return KafkaFailure(Reason.INVALID_CONFIG, f"{what}: {error.__name__}: {text}", retriable=False)
    return classify_kafka_python(error(text), what)


def classify_kafka_python(exc: BaseException, what: str) -> KafkaFailure:
    retriable = bool(getattr(exc, "retriable", True))
    name = type(exc).__name__
    if "Authorization" in name:
        return KafkaFailure(Reason.AUTHORIZATION_FAILED, f"{what}: {name}: {exc} ({HINTS[Reason.AUTHORIZATION_FAILED]}"
                            " and Alter on the cluster)", retriable=True)
    if "Authentication" in name:
        return KafkaFailure(Reason.AUTHENTICATION_FAILED, f"{what}: {name}: {exc}", retriable=True)
    return KafkaFailure(Reason.KAFKA_ERROR, f"{what}: {name}: {exc}", retriable=retriable)


def _kafka_python_client(conf: dict[str, str], request_timeout: float):
    """kafka-python's admin client for the same cluster and credentials as the librdkafka one."""
    from kafka.admin import KafkaAdminClient

    protocol = conf.get("security.protocol", "PLAINTEXT")
    kwargs = {
        "bootstrap_servers": conf["bootstrap.servers"].split(","),
        "security_protocol": protocol,
        "request_timeout_ms": int(request_timeout * 1000),
        "client_id": "kto",
    }
    if protocol.startswith("SASL"):
        kwargs |= {"sasl_mechanism": conf["sasl.mechanism"], "sasl_plain_username": conf["sasl.username"],
                   "sasl_plain_password": conf["sasl.password"]}
    if protocol in ("SSL", "SASL_SSL"):
        ctx = ssl.create_default_context(cadata=conf["ssl.ca.pem"]) if conf.get("ssl.ca.pem") \
            else ssl.create_default_context()
        if conf.get("ssl.endpoint.identification.algorithm") == "none":
            ctx.check_hostname = False
        if conf.get("ssl.certificate.pem"):
            # The ssl module loads a client certificate only from files: a private temporary folder, removed at once.
            with tempfile.TemporaryDirectory() as tmp:
                cert, key = os.path.join(tmp, "tls.crt"), os.path.join(tmp, "tls.key")
                for path, text in ((cert, conf["ssl.certificate.pem"]), (key, conf["ssl.key.pem"])):
                    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
                    with os.fdopen(fd, "w") as f:
                        f.write(text)
                ctx.load_cert_chain(cert, key)
        kwargs["ssl_context"] = ctx
    return KafkaAdminClient(**kwargs)
