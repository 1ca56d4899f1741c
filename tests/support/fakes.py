"""In-memory fakes of kto's edges (the Kubernetes client, a Kafka cluster, the cluster registry), for unit
tests that drive ``kto.reconciler.Reconciler`` without any process.

The fake Kubernetes client and the fake Kafka share one call log, ``calls``: a list of ``(method, detail)``
in the order they happened, so a test can check that kto's finalizer was added before CreateTopics. The fake
Kafka answers with the shapes of ``kto.kafka_gateway.KafkaGateway`` (an outcome per name, ``None`` for
success, a ``KafkaFailure`` otherwise) and, like the real gateway, sends no request for an empty batch.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from kto.api import names
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
    SecretContents,
)
from kto.api.models import KafkaClusterSpec
from kto.api.objects import Key
from kto.api.quotas import QuotaChange
from kto.api.reasons import Reason
from kto.kafka.compat import REQUIRED_APIS, BrokerApis
from kto.reconcile.cluster_state import ClusterState, Connected, Unreachable

Call = tuple[str, Any]


# --- Kubernetes ---------------------------------------------------------------------------------------


class FakeKube:
    """What the reconciler and the kinds call on ``kto.kube.KubeClient``, in memory."""

    def __init__(self, calls: list[Call] | None = None):
        self.calls: list[Call] = calls if calls is not None else []
        self.refused: set[Key] = set()  # finalizer patches refused for these objects (changed meanwhile)
        self.finalizers: dict[Key, list[str]] = {}
        self.patches: list[tuple[Key, dict[str, Any]]] = []
        self.statuses: dict[Key, dict[str, Any]] = {}  # each object's status after the merge patches
        self.events: list[tuple[Key, str, str, str]] = []  # (object, type, reason, message)
        self.secrets: dict[Key, dict[str, Any]] = {}  # shaped like KubeClient.read_secret_object
        self.config_maps: dict[Key, tuple[dict[str, str], str]] = {}  # (data, resourceVersion)
        self.crd_terminating: set[str] = set()  # plurals whose CRD is being deleted
        self.secret_errors: dict[Key, Exception] = {}  # reading these Secrets raises this (e.g. a 403)

    async def read_config_map(self, namespace: str, name: str) -> tuple[dict[str, str], str] | None:
        self.calls.append(("read_config_map", (namespace, name)))
        found = self.config_maps.get((namespace, name))
        return (dict(found[0]), found[1]) if found is not None else None

    async def write_config_map(self, namespace: str, name: str, data: Mapping[str, str], labels: Mapping[str, str],
                               resource_version: str | None) -> str | None:
        self.calls.append(("write_config_map", (namespace, name)))
        current = self.config_maps.get((namespace, name))
        if (current[1] if current is not None else None) != resource_version:
            return None
        version = str(int(current[1]) + 1 if current is not None else 1)
        self.config_maps[(namespace, name)] = (dict(data), version)
        return version

    async def is_crd_terminating(self, plural: str) -> bool:
        self.calls.append(("is_crd_terminating", plural))
        return plural in self.crd_terminating

    async def add_finalizer(self, plural: str, namespace: str, name: str, finalizers: list[str],
                            finalizer: str = names.FINALIZER, resource_version: str | None = None) -> bool:
        return self._finalizers("add_finalizer", (namespace, name), [*finalizers, finalizer])

    async def remove_finalizer(self, plural: str, namespace: str, name: str, finalizers: list[str],
                               finalizer: str = names.FINALIZER) -> bool:
        return self._finalizers("remove_finalizer", (namespace, name), [f for f in finalizers if f != finalizer])

    def _finalizers(self, method: str, key: Key, new: list[str]) -> bool:
        self.calls.append((method, key))
        if key in self.refused:
            return False
        self.finalizers[key] = new
        return True

    async def patch_status(self, plural: str, namespace: str, name: str, status: Mapping[str, Any]) -> str | None:
        key = (namespace, name)
        self.calls.append(("patch_status", key))
        self.patches.append((key, dict(status)))
        merged = self.statuses.setdefault(key, {})
        for k, v in status.items():
            if v is None:
                merged.pop(k, None)
            else:
                merged[k] = v
        return str(len(self.patches))  # a new resourceVersion

    async def post_event(self, obj: Mapping[str, Any], type_: str, reason: str, message: str) -> None:
        meta = obj["metadata"]
        key = (meta.get("namespace", ""), meta["name"])
        self.calls.append(("post_event", (key, reason)))
        self.events.append((key, type_, reason, message))

    async def read_secret(self, namespace: str, name: str) -> SecretContents | None:
        found = await self.read_secret_object(namespace, name)
        if found is None:
            return None
        return SecretContents.of(found["data"], found["labels"])

    async def read_secret_object(self, namespace: str, name: str) -> dict[str, Any] | None:
        self.calls.append(("read_secret", (namespace, name)))
        if (namespace, name) in self.secret_errors:
            raise self.secret_errors[(namespace, name)]
        found = self.secrets.get((namespace, name))
        if found is None:
            return None
        return {"data": dict(found["data"]), "annotations": dict(found["annotations"]),
                "labels": dict(found["labels"]), "ownerReferences": [dict(r) for r in found["ownerReferences"]]}

    async def write_secret(self, namespace: str, name: str, data: Mapping[str, str], annotations: Mapping[str, str],
                           labels: Mapping[str, str], owner_references: list[dict[str, Any]], exists: bool) -> None:
        key = (namespace, name)
        self.calls.append(("write_secret", key))
        if exists != (key in self.secrets):
            raise AssertionError(f"write_secret({key}, exists={exists}) but the Secret "
                                 f"{'exists' if key in self.secrets else 'does not exist'}: the API refuses it")
        self.put_secret(namespace, name, data, annotations, labels, owner_references)

    # --- for tests ---

    def put_secret(self, namespace: str, name: str, data: Mapping[str, str], annotations: Mapping[str, str] = (),
                   labels: Mapping[str, str] = (), owner_references: Sequence[Mapping[str, Any]] = ()) -> None:
        self.secrets[(namespace, name)] = {
            "data": {k: v.encode() for k, v in data.items()}, "annotations": dict(annotations),
            "labels": dict(labels), "ownerReferences": [dict(r) for r in owner_references]}

    def methods(self) -> list[str]:
        return [method for method, _ in self.calls]

    def events_of(self, key: Key) -> list[tuple[str, str]]:
        """(type, reason) of the Events posted about one object."""
        return [(t, r) for k, t, r, _ in self.events if k == key]

    def messages_of(self, key: Key, reason: str) -> list[str]:
        return [m for k, _, r, m in self.events if k == key and r == reason]

    def patches_of(self, key: Key) -> list[dict[str, Any]]:
        return [p for k, p in self.patches if k == key]


# --- Kafka ---------------------------------------------------------------------------------------------


@dataclass
class FakeTopic:
    replicas: list[tuple[int, ...]]  # replica broker ids per partition (what Kafka describes)
    overrides: dict[str, str] = field(default_factory=dict)
    topic_id: str = ""


class FakeGateway:
    """An in-memory Kafka cluster behind the methods of ``KafkaGateway`` the kinds call.

    ``fail(operation, name, failure)`` makes ``operation`` fail for one topic, user or principal (or, with
    ``name=None``, as a whole: list_reassignments, describe_replica_load, describe_acls,
    set_replication_throttle) until ``heal``; ``requests`` counts requests per operation."""

    def __init__(self, brokers: Sequence[int] = (1, 2, 3), calls: list[Call] | None = None):
        self.brokers = tuple(brokers)
        self.calls: list[Call] = calls if calls is not None else []
        self.requests: Counter[str] = Counter()
        self.topics: dict[str, FakeTopic] = {}
        self.reassignments: dict[str, dict[int, Reassignment]] = {}
        self.broker_throttle: dict[int, int] = {}
        self.scram: dict[str, dict[str, tuple[int, str]]] = {}  # user -> mechanism -> (iterations, password)
        self.acls: dict[str, set[Acl]] = {}  # principal -> bindings
        self.quotas: dict[str | None, dict[str, float]] = {}  # user (None: the default) -> quota key -> value
        self.super_users: set[str] = set()  # the user names of the brokers' super.users
        self.broker_defaults: dict[str, str] = {}  # cluster-wide dynamic broker configs
        self.rejected_broker_configs: dict[str, str] = {}  # key -> the brokers' message when it is set
        self.failures: dict[tuple[str, str | None], KafkaFailure] = {}
        self._ids = 0

    # --- for tests ---

    def fail(self, operation: str, name: str | None, failure: KafkaFailure) -> None:
        self.failures[(operation, name)] = failure

    def heal(self, operation: str, name: str | None) -> None:
        self.failures.pop((operation, name), None)

    def add_topic(self, name: str, replicas: Iterable[Iterable[int]], overrides: Mapping[str, str] = ()) -> None:
        self._ids += 1
        self.topics[name] = FakeTopic([tuple(r) for r in replicas], dict(overrides), f"id-{name}-{self._ids}")

    def finish_reassignments(self) -> None:
        """Kafka completes every ongoing move: each partition keeps its target replicas."""
        for topic, parts in self.reassignments.items():
            for p, move in parts.items():
                self.topics[topic].replicas[p] = move.target
        self.reassignments.clear()

    def total(self) -> int:
        return sum(self.requests.values())

    def _request(self, operation: str, detail: Any) -> None:
        self.requests[operation] += 1
        self.calls.append((operation, detail))

    def _failure(self, operation: str, name: str | None) -> KafkaFailure | None:
        return self.failures.get((operation, name))

    # --- topics ---

    async def describe_topics(self, topics: Sequence[str], configs: bool = True
                              ) -> dict[str, ObservedTopic | KafkaFailure | None]:
        if not topics:
            return {}
        self._request("describe_topics", tuple(topics))
        return {t: self._failure("describe_topics", t) or self._observed(t) for t in topics}

    def _observed(self, name: str) -> ObservedTopic | None:
        topic = self.topics.get(name)
        if topic is None:
            return None
        return ObservedTopic(name=name, topic_id=topic.topic_id, partitions=len(topic.replicas),
                             replication_factor=min((len(r) for r in topic.replicas), default=0),
                             overrides=MappingProxyType(dict(topic.overrides)), replicas=tuple(topic.replicas))

    async def create_topics(self, actions: Iterable[CreateTopic]) -> dict[str, KafkaFailure | None]:
        actions = list(actions)
        if not actions:
            return {}
        self._request("create_topics", tuple(a.name for a in actions))
        return {a.name: self._create(a) for a in actions}

    def _create(self, a: CreateTopic) -> KafkaFailure | None:
        failure = self._failure("create_topics", a.name)
        if failure is not None or a.name in self.topics:
            return failure
        rf = a.replication_factor or 1
        if rf > len(self.brokers):
            return KafkaFailure(Reason.INSUFFICIENT_BROKERS, f"creating topic {a.name}: replication factor {rf} "
                                f"larger than {len(self.brokers)} broker(s)", retriable=False)
        self.add_topic(a.name, [self._placement(p, rf) for p in range(a.partitions or 1)], a.config)
        return None

    def _placement(self, partition: int, rf: int) -> tuple[int, ...]:
        n = len(self.brokers)
        return tuple(self.brokers[(partition + i) % n] for i in range(rf))

    async def create_partitions(self, actions: Iterable[CreatePartitions]) -> dict[str, KafkaFailure | None]:
        actions = list(actions)
        if not actions:
            return {}
        self._request("create_partitions", tuple((a.name, a.total) for a in actions))
        out: dict[str, KafkaFailure | None] = {}
        for a in actions:
            out[a.name] = self._failure("create_partitions", a.name)
            topic = self.topics[a.name]
            rf = min(len(r) for r in topic.replicas)
            while out[a.name] is None and len(topic.replicas) < a.total:
                topic.replicas.append(self._placement(len(topic.replicas), rf))
        return out

    async def alter_configs(self, actions: Iterable[AlterConfigs]) -> dict[str, KafkaFailure | None]:
        actions = list(actions)
        if not actions:
            return {}
        self._request("alter_configs", tuple(a.name for a in actions))
        out: dict[str, KafkaFailure | None] = {}
        for a in actions:
            out[a.name] = self._failure("alter_configs", a.name)
            if out[a.name] is None:
                overrides = self.topics[a.name].overrides
                overrides.update(a.to_set)
                for k in a.to_delete:
                    overrides.pop(k, None)
        return out

    async def delete_topics(self, topics: Iterable[str]) -> dict[str, KafkaFailure | None]:
        topics = list(topics)
        if not topics:
            return {}
        self._request("delete_topics", tuple(topics))
        out = {t: self._failure("delete_topics", t) for t in topics}
        for t, failure in out.items():
            if failure is None:
                self.topics.pop(t, None)
        return out

    # --- replicas ---

    async def describe_replica_load(self) -> dict[int, int] | KafkaFailure:
        self._request("describe_replica_load", None)
        load = dict.fromkeys(self.brokers, 0)
        for topic in self.topics.values():
            for replicas in topic.replicas:
                for b in replicas:
                    load[b] = load.get(b, 0) + 1
        return self._failure("describe_replica_load", None) or load

    async def list_reassignments(self) -> dict[str, dict[int, Reassignment]] | KafkaFailure:
        self._request("list_reassignments", None)
        return self._failure("list_reassignments", None) or {t: dict(p) for t, p in self.reassignments.items()}

    async def alter_reassignments(self, moves: dict[str, dict[int, list[int] | None]]
                                  ) -> dict[str, KafkaFailure | None]:
        if not moves:
            return {}
        self._request("alter_reassignments", {t: dict(parts) for t, parts in moves.items()})
        out: dict[str, KafkaFailure | None] = {}
        for topic, parts in moves.items():
            out[topic] = self._failure("alter_reassignments", topic)
            if out[topic] is None:
                for p, target in parts.items():
                    self._reassign(topic, p, target)
        return out

    def _reassign(self, topic: str, partition: int, target: list[int] | None) -> None:
        ongoing = self.reassignments.setdefault(topic, {})
        current = ongoing.get(partition)
        original = current.original if current else self.topics[topic].replicas[partition]
        if target is None:  # cancel: back to the original replicas (no ongoing move is no error)
            if current is not None:
                del ongoing[partition]
                self.topics[topic].replicas[partition] = original
        else:
            removing = tuple(b for b in original if b not in target)
            move = Reassignment(tuple(target) + removing, tuple(b for b in target if b not in original), removing)
            ongoing[partition] = move
            self.topics[topic].replicas[partition] = move.replicas
        if not ongoing:
            del self.reassignments[topic]

    async def set_replication_throttle(self, broker_ids: Sequence[int], rate: int | None) -> KafkaFailure | None:
        for broker in broker_ids:
            self._request("set_replication_throttle", (broker, rate))
        failure = self._failure("set_replication_throttle", None)
        if failure is None:
            for broker in broker_ids:
                if rate is None:
                    self.broker_throttle.pop(broker, None)
                else:
                    self.broker_throttle[broker] = rate
        return failure

    async def set_topic_throttle(self, topics: dict[str, bool]) -> dict[str, KafkaFailure | None]:
        if not topics:
            return {}
        self._request("set_topic_throttle", dict(topics))
        out: dict[str, KafkaFailure | None] = {}
        for topic, on in topics.items():
            out[topic] = self._failure("set_topic_throttle", topic)
            overrides = self.topics[topic].overrides
            for k in THROTTLED_REPLICAS if out[topic] is None else ():
                if on:
                    overrides[k] = "*"
                else:
                    overrides.pop(k, None)
        return out

    # --- users ---

    async def describe_scram(self, users: Sequence[str]) -> dict[str, dict[str, int] | KafkaFailure | None]:
        if not users:
            return {}
        self._request("describe_scram", tuple(users))
        return {u: self._failure("describe_scram", u) or self._credentials(u) for u in users}

    def _credentials(self, user: str) -> dict[str, int] | None:
        mechanisms = self.scram.get(user)
        return {m: iterations for m, (iterations, _) in mechanisms.items()} if mechanisms else None

    async def alter_scram(self, upserts: Sequence[tuple[str, str, str]],
                          deletions: Sequence[tuple[str, str]]) -> dict[str, KafkaFailure | None]:
        if not upserts and not deletions:
            return {}
        self._request("alter_scram", (tuple((u, m) for u, m, _ in upserts), tuple(deletions)))
        out = {u: self._failure("alter_scram", u) for u in [u for u, _, _ in upserts] + [u for u, _ in deletions]}
        for user, mechanism, password in upserts:
            if out[user] is None:
                self.scram.setdefault(user, {})[mechanism] = (SCRAM_ITERATIONS, password)
        for user, mechanism in deletions:
            if out[user] is None:
                self.scram.get(user, {}).pop(mechanism, None)
                if not self.scram.get(user):
                    self.scram.pop(user, None)
        return out

    async def describe_acls(self) -> dict[str, set[Acl]] | KafkaFailure:
        self._request("describe_acls", None)
        return self._failure("describe_acls", None) or {p: set(a) for p, a in self.acls.items() if a}

    async def create_acls(self, acls: dict[str, Sequence[Acl]]) -> dict[str, KafkaFailure | None]:
        acls = {p: list(a) for p, a in acls.items() if a}
        if not acls:
            return {}
        self._request("create_acls", {p: tuple(a) for p, a in acls.items()})
        out = {p: self._failure("create_acls", p) for p in acls}
        for p, items in acls.items():
            if out[p] is None:
                self.acls.setdefault(p, set()).update(items)
        return out

    async def delete_acls(self, acls: dict[str, Sequence[Acl] | None]) -> dict[str, KafkaFailure | None]:
        acls = {p: a for p, a in acls.items() if a is None or a}
        if not acls:
            return {}
        self._request("delete_acls", {p: None if a is None else tuple(a) for p, a in acls.items()})
        out = {p: self._failure("delete_acls", p) for p in acls}
        for p, items in acls.items():
            if out[p] is None:
                if items is None:
                    self.acls.pop(p, None)
                else:
                    self.acls.get(p, set()).difference_update(items)
        return out

    # --- the cluster (kto.clusters probes it) ---

    async def describe_cluster(self) -> ClusterFacts | KafkaFailure:
        self._request("describe_cluster", None)
        return self._failure("describe_cluster", None) or ClusterFacts("fake-cluster", self.brokers[0], self.brokers)

    async def describe_super_users(self, broker_ids: Sequence[int]) -> frozenset[str] | KafkaFailure:
        """The brokers' super users (``self.super_users``)."""
        self._request("describe_super_users", tuple(broker_ids))
        return self._failure("describe_super_users", None) or frozenset(self.super_users)

    async def describe_broker_apis(self) -> BrokerApis:
        """Brokers that support every API kto needs (Kafka 4.1, KRaft); not counted as a request: the real gateway
        asks once per connection."""
        return BrokerApis(MappingProxyType({api.key: (0, api.min_version + 5) for api in REQUIRED_APIS}), (4, 1))

    def close(self) -> None:
        pass

    # --- client quotas ---

    async def describe_user_quotas(self, default: bool = False) -> dict[str | None, dict[str, float]] | KafkaFailure:
        """``self.quotas[None]`` is the default user entity."""
        self._request("describe_user_quotas", default)
        return self._failure("describe_user_quotas", None) or {u: dict(q) for u, q in self.quotas.items()
                                                               if q and (u is None) == default}

    async def alter_user_quotas(self, changes: Sequence[QuotaChange]) -> dict[str | None, KafkaFailure | None]:
        changes = [c for c in changes if not c.in_sync]
        if not changes:
            return {}
        self._request("alter_user_quotas", {c.user: (dict(c.to_set), c.to_remove) for c in changes})
        out = {c.user: self._failure("alter_user_quotas", c.user) for c in changes}
        for c in changes:
            if out[c.user] is None:
                quotas = self.quotas.setdefault(c.user, {})
                quotas.update(c.to_set)
                for key in c.to_remove:
                    quotas.pop(key, None)
        return out

    # --- cluster-wide broker configs ---

    async def describe_broker_defaults(self) -> dict[str, str] | KafkaFailure:
        self._request("describe_broker_defaults", None)
        return self._failure("describe_broker_defaults", None) or dict(self.broker_defaults)

    async def alter_broker_defaults(self, to_set: dict[str, str], to_delete: Sequence[str],
                                    validate_only: bool = False) -> KafkaFailure | None:
        if not to_set and not to_delete:
            return None
        self._request("alter_broker_defaults", (dict(to_set), tuple(to_delete), validate_only))
        failure = self._failure("alter_broker_defaults", None)
        if failure is None:
            rejected = sorted(k for k in to_set if k in self.rejected_broker_configs)
            if rejected:
                failure = KafkaFailure(Reason.INVALID_CONFIG, f"setting the cluster-wide broker configs: "
                                       f"{self.rejected_broker_configs[rejected[0]]}", retriable=False)
        if failure is None and not validate_only:
            self.broker_defaults.update(to_set)
            for key in to_delete:
                self.broker_defaults.pop(key, None)
        return failure


# --- the cluster registry ----------------------------------------------------------------------------------


class FakeClusters:
    """What the reconciler needs of ``kto.clusters.ClusterRegistry``: snapshots set by the test."""

    def __init__(self) -> None:
        self.listeners: list = []
        self.snapshots: dict[Key, ClusterState] = {}
        self.reprobed: list[Key] = []

    def snapshot(self, key: Key) -> ClusterState | None:
        return self.snapshots.get(key)

    def reprobe(self, key: Key) -> None:
        self.reprobed.append(key)

    def same_kafka(self, key: Key) -> list[ClusterState]:
        """As ClusterRegistry.same_kafka: ``key``'s snapshot first, then those reporting the same cluster id."""
        own = self.snapshots.get(key)
        if own is None:
            return []
        cid = cluster_id_of(own)
        return [own, *(s for k, s in self.snapshots.items() if k != key and cid is not None
                       and cluster_id_of(s) == cid)]

    def set(self, snapshot: ClusterState | None, key: Key | None = None) -> None:
        """Set (or, with None, remove) a cluster's snapshot."""
        if snapshot is None:
            self.snapshots.pop(key, None)
        else:
            self.snapshots[snapshot.key] = snapshot


def cluster_id_of(cluster: ClusterState) -> str | None:
    return cluster.facts.cluster_id if isinstance(cluster, Unreachable | Connected) and cluster.facts else None


def connected(key: Key, gateway: FakeGateway, **spec: Any) -> Connected:
    """A KafkaCluster probed and connected, with its brokers as the probe saw them."""
    return Connected(
        key, spec=KafkaClusterSpec.model_validate({"bootstrapServers": ["kafka:9092"], **spec}),
        facts=ClusterFacts("fake-cluster", gateway.brokers[0], gateway.brokers,
                           super_users=frozenset(gateway.super_users),
                           default_user_quotas=MappingProxyType(dict(gateway.quotas.get(None) or {}))),
        gateway=gateway)
