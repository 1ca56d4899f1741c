"""The reconciler: KafkaClusters as live connections, KafkaTopics reconciled in batches per cluster.

Level-based: every change of a resource, every resync and every retry lead to the same ``reconcile_topics``,
which gathers the world (resources, cluster state, what Kafka has), asks the pure planner what to do, does it
with one Kafka request per kind of change, and writes status only where it changed.

This module knows neither kopf nor the wire formats: kopf's handlers (``kto.handlers``) feed it events,
``kto.kube`` and ``kto.kafka_gateway`` carry out its I/O.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from kto import metrics, names
from kto.batching import Backoff, BatchQueue
from kto.conditions import build_condition, find, now_rfc3339, set_condition
from kto.connection import ConnectionError_, build_client_config, fingerprint, referenced_secrets
from kto.domain import (
    THROTTLED_REPLICAS,
    AlterConfigs,
    ChangeReplicationFactor,
    ClusterFacts,
    CreatePartitions,
    CreateTopic,
    DesiredTopic,
    KafkaFailure,
    ObservedTopic,
    TopicPlan,
)
from kto.kafka_gateway import KafkaGateway
from kto.kube import KubeClient
from kto.models import KafkaClusterSpec, KafkaTopicSpec
from kto.placement import plan_replicas
from kto.planner import Claim, build_desired, deletion_policy, describe_drift, owner_of, plan_topic
from kto.reasons import Reason, is_permanent

log = logging.getLogger("kto.controller")

Key = tuple[str, str]  # (namespace, name)
REPLICA_POLL_SECONDS = 2.0  # how often a moving topic is looked at again
CREATE_SETTLE_TRIES, CREATE_SETTLE_PAUSE = 10, 0.3  # waiting for new topics to show in the metadata
GatewayFactory = Callable[[dict[str, str], str], KafkaGateway]


def key_of(body: Mapping[str, Any]) -> Key:
    meta = body["metadata"]
    return meta.get("namespace", ""), meta["name"]


def cluster_key_of(topic: Mapping[str, Any]) -> Key:
    ref = (topic.get("spec") or {}).get("clusterRef") or {}
    return ref.get("namespace") or topic["metadata"].get("namespace", ""), ref.get("name", "")


def topic_name_of(topic: Mapping[str, Any]) -> str:
    return (topic.get("spec") or {}).get("topicName") or topic["metadata"]["name"]


def claim_key_of(topic: Mapping[str, Any]) -> tuple[str, str, str]:
    ns, name = cluster_key_of(topic)
    return ns, name, topic_name_of(topic)


def claim_of(topic: Mapping[str, Any]) -> Claim:
    meta = topic["metadata"]
    return Claim(meta.get("creationTimestamp", ""), meta.get("namespace", ""), meta["name"], meta.get("uid", ""),
                 holds=names.FINALIZER in (meta.get("finalizers") or []))


def annotation(body: Mapping[str, Any], key: str) -> str | None:
    return ((body.get("metadata") or {}).get("annotations") or {}).get(key)


def is_paused(body: Mapping[str, Any]) -> bool:
    return (annotation(body, names.ANNOTATION_PAUSED) or "").lower() == "true"


def is_unmanaged(body: Mapping[str, Any]) -> bool:
    return (annotation(body, names.ANNOTATION_MANAGED) or "").lower() == "false"


def relevant_state(body: Mapping[str, Any]) -> tuple:
    """What, in a resource, can change what kto does (status and resourceVersion cannot)."""
    meta = body.get("metadata") or {}
    return (meta.get("generation"), annotation(body, names.ANNOTATION_MANAGED),
            annotation(body, names.ANNOTATION_PAUSED), bool(meta.get("deletionTimestamp")),
            names.FINALIZER in (meta.get("finalizers") or []))


@dataclass
class ClusterState:
    """One KafkaCluster: its spec, its live admin connection and what the probe found."""

    key: Key
    body: dict[str, Any] | None = None
    spec: KafkaClusterSpec | None = None
    spec_error: str | None = None
    gateway: KafkaGateway | None = None
    conf_fingerprint: str | None = None
    facts: ClusterFacts | None = None
    reason: Reason | None = None
    message: str = ""
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task | None = None

    @property
    def exists(self) -> bool:
        return self.body is not None

    @property
    def ready(self) -> bool:
        return self.exists and self.reason == Reason.CONNECTED and self.gateway is not None


@dataclass
class Verdict:
    """The outcome for one topic of one batch: its new status and what to say about it."""

    ready: bool | None
    reason: Reason
    message: str
    observed: ObservedTopic | None = None
    keep_observed: bool = False
    retry: float | None = None
    drift: str | None = None
    replicas_change: dict[str, Any] | None = None
    silent: bool = False  # nothing to report yet: retry without writing status


class Controller:
    def __init__(self, kube: KubeClient, gateway_factory: GatewayFactory | None = None,
                 batch_window: float = 0.1, max_batch: int = 10000,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)):
        self.kube = kube
        self.gateway_factory = gateway_factory or (lambda conf, label: KafkaGateway(conf, label))
        self.batch_window = batch_window
        self.max_batch = max_batch
        self.clock = clock
        self.clusters: dict[Key, ClusterState] = {}
        self.queues: dict[Key, BatchQueue[Key]] = {}
        self.topics: dict[Key, dict[str, Any]] = {}
        self.topics_by_cluster: dict[Key, set[Key]] = defaultdict(set)
        self._claimants: dict[tuple[str, str, str], set[Key]] = defaultdict(set)
        self._handled: dict[Key, tuple] = {}
        self._backoff = Backoff()
        # Permanent failures wait for the spec (generation) or the broker count to change.
        self._blocked: dict[Key, tuple] = {}
        # Called with a cluster's key at each of its resyncs and when it is gone (the KafkaUsers hook in here).
        self.cluster_hooks: list[Callable[[Key], None]] = []

    # ------------------------------------------------------------------------------------------------
    # Events from the watch
    # ------------------------------------------------------------------------------------------------

    async def prime(self, namespaces: list[str] | None = None) -> None:
        """Know every KafkaCluster and KafkaTopic before handling any event: ownership is decided with all
        claims, and no topic is taken for one whose cluster is missing only because its event comes later."""
        for body in await self.kube.list_objects(names.CLUSTER_PLURAL, namespaces):
            body.setdefault("apiVersion", names.API_VERSION)
            body.setdefault("kind", names.CLUSTER_KIND)
            self.cluster_event(None, body)
        for body in await self.kube.list_objects(names.TOPIC_PLURAL, namespaces):
            body.setdefault("apiVersion", names.API_VERSION)
            body.setdefault("kind", names.TOPIC_KIND)
            self._store(key_of(body), body)

    def _store(self, key: Key, body: dict[str, Any]) -> None:
        """Keep ``body`` as the topic's latest state, with the indexes by cluster and by claimed topic."""
        old = self.topics.get(key)
        if old is not None:
            self._unindex(key, old)
        self.topics[key] = body
        self.topics_by_cluster[cluster_key_of(body)].add(key)
        self._claimants[claim_key_of(body)].add(key)

    def _unindex(self, key: Key, body: Mapping[str, Any]) -> None:
        self.topics_by_cluster[cluster_key_of(body)].discard(key)
        claimants = self._claimants.get(claim_key_of(body))
        if claimants is not None:
            claimants.discard(key)
            if not claimants:
                del self._claimants[claim_key_of(body)]

    def topic_event(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        key = key_of(body)
        if event_type == "DELETED":
            self._forget_topic(key)
            return
        body = own(body)
        self._store(key, body)
        ckey = cluster_key_of(body)
        state = relevant_state(body)
        if self._handled.get(key) == state:
            return  # our own status patch, or a change that does not matter
        self._handled[key] = state
        self._blocked.pop(key, None)
        self._backoff.reset(key)
        self.queue(ckey).enqueue(key)

    def _forget_topic(self, key: Key) -> None:
        body = self.topics.pop(key, None)
        self._handled.pop(key, None)
        self._blocked.pop(key, None)
        self._backoff.reset(key)
        if body is not None:
            self._unindex(key, body)
        metrics.TOPIC_READY.remove(*key) if _has_label(metrics.TOPIC_READY, key) else None

    def claims(self, claim_key: tuple[str, str, str]) -> list[Claim]:
        """Every KafkaTopic naming this Kafka topic on this cluster."""
        return [claim_of(self.topics[k]) for k in self._claimants.get(claim_key, ())]

    def cluster_event(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        key = key_of(body)
        state = self.clusters.get(key)
        if event_type == "DELETED":
            if state is not None:
                self._drop_cluster(state)
            return
        body = own(body)
        if state is None:
            state = self.clusters[key] = ClusterState(key=key)
        changed = state.body is None or relevant_state(state.body)[0] != relevant_state(body)[0]
        state.body = body
        if changed:
            try:
                state.spec, state.spec_error = KafkaClusterSpec.model_validate(body.get("spec") or {}), None
            except ValidationError as err:
                state.spec, state.spec_error = None, validation_message(err)
            state.wake.set()
        if state.task is None:
            state.task = asyncio.get_running_loop().create_task(self._run_cluster(state), name=f"cluster-{key}")

    def _drop_cluster(self, state: ClusterState) -> None:
        if state.task is not None:
            state.task.cancel()
        if state.gateway is not None:
            state.gateway.close()
        self.clusters.pop(state.key, None)
        if _has_label(metrics.CLUSTER_READY, state.key):
            metrics.CLUSTER_READY.remove(*state.key)
        # Its topics learn that the cluster is gone (ClusterNotFound; deletions get released).
        self._enqueue_cluster_topics(state.key)

    def queue(self, ckey: Key) -> BatchQueue[Key]:
        q = self.queues.get(ckey)
        if q is None:
            q = self.queues[ckey] = BatchQueue(
                f"{ckey[0]}/{ckey[1]}", lambda keys, c=ckey: self.reconcile_topics(c, keys),
                window=self.batch_window, max_batch=self.max_batch)
            q.start()
        return q

    def _enqueue_cluster_topics(self, ckey: Key) -> None:
        for key in list(self.topics_by_cluster.get(ckey, ())):
            self.queue(ckey).enqueue(key)
        for hook in self.cluster_hooks:
            hook(ckey)

    async def stop(self) -> None:
        for state in list(self.clusters.values()):
            if state.task is not None:
                state.task.cancel()
            if state.gateway is not None:
                state.gateway.close()
        for q in self.queues.values():
            await q.stop()

    # ------------------------------------------------------------------------------------------------
    # KafkaCluster: connection, probe and resync
    # ------------------------------------------------------------------------------------------------

    async def _run_cluster(self, state: ClusterState) -> None:
        failures = 0
        while True:
            try:
                await self.refresh_cluster(state)
                failures = 0 if state.ready else failures + 1
            except asyncio.CancelledError:
                raise
            except Exception:
                failures += 1
                log.exception("Cluster refresh failed cluster=%s/%s", *state.key)
            # Resync: every topic of the cluster is compared with Kafka in one batch.
            self._enqueue_cluster_topics(state.key)
            interval = state.spec.resync_interval if state.spec else 60
            if not state.ready:
                interval = min(interval, 2.0 * (2 ** min(failures, 4)))
            state.wake.clear()
            try:
                await asyncio.wait_for(state.wake.wait(), timeout=interval)
            except TimeoutError:
                pass

    async def refresh_cluster(self, state: ClusterState) -> None:
        """Rebuild the client when the spec or its Secrets changed, probe the brokers, write status."""
        previous_reason = state.reason
        if state.spec is None:
            self._set_cluster_state(state, Reason.INVALID_SPEC, f"invalid spec: {state.spec_error}")
        else:
            await self._connect(state)
            if state.gateway is not None:
                facts = await state.gateway.describe_cluster()
                if isinstance(facts, KafkaFailure):
                    self._set_cluster_state(state, facts.reason, facts.message)
                else:
                    state.facts = facts
                    self._set_cluster_state(
                        state, Reason.CONNECTED,
                        f"connected to {facts.brokers} broker(s) over {state.spec.protocol}")
        await self._write_cluster_status(state)
        if previous_reason != state.reason:
            ns, name = state.key
            log.info("Cluster state cluster=%s/%s reason=%s message=%r", ns, name, state.reason, state.message)
            if state.reason != Reason.CONNECTED and state.body is not None:
                await self.kube.post_event(state.body, "Warning", str(state.reason), state.message)

    def _set_cluster_state(self, state: ClusterState, reason: Reason, message: str) -> None:
        state.reason, state.message = reason, message
        metrics.CLUSTER_READY.labels(*state.key).set(1 if reason == Reason.CONNECTED else 0)

    async def _connect(self, state: ClusterState) -> None:
        ns = state.key[0]
        secrets: dict[str, Mapping[str, bytes] | None] = {}
        for secret_name in referenced_secrets(state.spec):
            secrets[secret_name] = await self.kube.read_secret(ns, secret_name)
        try:
            conf = build_client_config(state.spec, lambda n: secrets.get(n))
        except ConnectionError_ as err:
            self._close_gateway(state)
            self._set_cluster_state(state, err.reason, err.message)
            return
        fp = fingerprint(conf)
        if fp != state.conf_fingerprint or state.gateway is None:
            if state.gateway is not None:
                log.info("Replacing the Kafka client: the spec or a Secret changed cluster=%s/%s", *state.key)
            self._close_gateway(state)
            state.gateway = self.gateway_factory(conf, f"{ns}/{state.key[1]}")
            state.conf_fingerprint = fp

    def _close_gateway(self, state: ClusterState) -> None:
        if state.gateway is not None:
            state.gateway.close()
        state.gateway, state.conf_fingerprint = None, None

    async def _write_cluster_status(self, state: ClusterState) -> None:
        if state.body is None:
            return
        body = state.body
        old = body.get("status") or {}
        generation = body["metadata"].get("generation")
        ready = state.reason == Reason.CONNECTED
        cond = build_condition(old.get("conditions"), ready, state.reason, state.message, generation, self.clock())
        status: dict[str, Any] = {
            "observedGeneration": generation,
            "conditions": set_condition(old.get("conditions"), cond),
            "topics": self._served_topics(state),
        }
        if state.facts is not None:
            status |= {"clusterId": state.facts.cluster_id, "controllerId": state.facts.controller_id,
                       "brokers": state.facts.brokers}
        await self._patch_status(names.CLUSTER_PLURAL, body, status)

    def _served_topics(self, state: ClusterState) -> int:
        if state.spec is None:
            return 0
        return sum(1 for k in self.topics_by_cluster.get(state.key, ())
                   if state.spec.allows_namespace(state.key[0], k[0]))

    # ------------------------------------------------------------------------------------------------
    # KafkaTopic: one batch of one cluster
    # ------------------------------------------------------------------------------------------------

    async def reconcile_topics(self, ckey: Key, keys: list[Key]) -> dict[Key, float]:
        started = time.monotonic()
        cluster = self.clusters.get(ckey)
        label = f"{ckey[0]}/{ckey[1]}"
        verdicts: dict[Key, Verdict] = {}
        to_converge: dict[Key, tuple[DesiredTopic, dict]] = {}
        to_observe: dict[Key, DesiredTopic] = {}
        to_delete: dict[Key, str] = {}
        releases: dict[Key, tuple[str, str, str] | None] = {}  # key -> (event type, reason, message) or None

        for key in keys:
            body = self.topics.get(key)
            if body is None:
                continue
            gate = self._gate(key, body, cluster)
            kind = gate[0]
            if kind == "skip":
                continue
            if kind == "verdict":
                verdicts[key] = gate[1]
            elif kind == "release":
                releases[key] = gate[1]
            elif kind == "delete":
                to_delete[key] = gate[1]
            elif kind == "observe":
                to_observe[key] = gate[1]
            elif kind == "converge":
                to_converge[key] = (gate[1], body)

        # Managed topics carry kto's finalizer before anything is created in Kafka.
        await self._ensure_finalizers([k for k in to_converge if names.FINALIZER not in finalizers_of(self.topics[k])])

        retries: dict[Key, float] = {}
        if to_converge or to_observe or to_delete:
            gateway = cluster.gateway  # type: ignore[union-attr]
            verdicts |= await self._converge(cluster, gateway, to_converge, to_observe)
            deleted = await gateway.delete_topics(to_delete.values()) if to_delete else {}
            for key, topic in to_delete.items():
                failure = deleted.get(topic)
                if failure is None:
                    releases[key] = ("Normal", "TopicDeleted", f"Kafka topic {topic} deleted (deletionPolicy Delete)")
                else:
                    verdicts[key] = Verdict(False, failure.reason, f"deleting Kafka topic {topic} failed: "
                                            f"{failure.message}", keep_observed=True,
                                            retry=self._backoff.next(key))

        await asyncio.gather(*(self._release(key, note) for key, note in releases.items()))
        await asyncio.gather(*(self._apply_verdict(key, v, cluster) for key, v in verdicts.items()))
        for key, v in verdicts.items():
            metrics.RECONCILES.labels(label, str(v.reason)).inc()
            if v.retry is not None:
                retries[key] = v.retry
        metrics.BATCHES.labels(label).observe(time.monotonic() - started)
        metrics.BATCH_SIZE.labels(label).observe(len(keys))
        return retries

    def _gate(self, key: Key, body: dict[str, Any], cluster: ClusterState | None):
        """Decide, before any Kafka call, what this batch does with one topic."""
        meta = body["metadata"]
        deleting = bool(meta.get("deletionTimestamp"))
        generation = meta.get("generation")
        topic = topic_name_of(body)
        ours = names.FINALIZER in finalizers_of(body)

        if deleting:
            if not ours:
                return "skip", None
            return self._gate_deletion(key, body, cluster, topic)

        try:
            spec = KafkaTopicSpec.model_validate(body.get("spec") or {})
        except ValidationError as err:
            return "verdict", Verdict(False, Reason.INVALID_SPEC, f"invalid spec: {validation_message(err)}")
        ns, name = cluster_key_of(body)
        refused = gate_cluster(cluster, (ns, name), key[0], "topics")
        if refused is not None:
            return refused
        owner = self._owner(body, cluster)
        if owner is not None and (owner.namespace, owner.name) != key:
            return "verdict", Verdict(
                False, Reason.RESOURCE_CONFLICT,
                f"Kafka topic {topic} on cluster {ns}/{name} is already managed by the older KafkaTopic "
                f"{owner.namespace}/{owner.name}: this resource is ignored and deleting it will not touch Kafka")
        if is_paused(body):
            return "verdict", Verdict(None, Reason.PAUSED,
                                      f"reconciliation is paused by the annotation {names.ANNOTATION_PAUSED}; "
                                      "remove it to resume", keep_observed=True)
        if not cluster.ready:
            return "verdict", Verdict(False, Reason.CLUSTER_NOT_READY,
                                      f"KafkaCluster {ns}/{name} is not ready ({cluster.reason}): {cluster.message}",
                                      keep_observed=True)
        desired = build_desired(meta["name"], spec, cluster.spec)
        if is_unmanaged(body):
            return "observe", desired
        blocked = self._blocked.get(key)
        if blocked is not None and blocked[:2] == (generation, cluster.facts.brokers if cluster.facts else None):
            return "verdict", Verdict(False, blocked[2], blocked[3], keep_observed=True)
        return "converge", desired

    def _gate_deletion(self, key: Key, body: dict[str, Any], cluster: ClusterState | None, topic: str):
        ns, name = cluster_key_of(body)
        held = gate_cluster_for_deletion(cluster, (ns, name), f"Kafka topic {topic}")
        if held is not None:
            return held
        try:
            spec = KafkaTopicSpec.model_validate(body.get("spec") or {})
        except ValidationError:
            return "release", ("Warning", str(Reason.INVALID_SPEC),
                               f"invalid spec: Kafka topic {topic} was not deleted")
        if is_unmanaged(body):
            return "release", None
        if is_paused(body):
            return "release", ("Warning", str(Reason.PAUSED),
                               f"deleted while paused: Kafka topic {topic} was not deleted")
        if cluster.spec is None or not cluster.spec.allows_namespace(ns, key[0]):
            return "release", None
        owner = self._owner(body, cluster)
        if owner is not None and (owner.namespace, owner.name) != key:
            return "release", None
        if deletion_policy(spec, cluster.spec) == "Retain":
            return "release", ("Normal", "TopicRetained", f"Kafka topic {topic} kept (deletionPolicy Retain)")
        if not cluster.ready:
            return "verdict", Verdict(False, Reason.CLUSTER_NOT_READY,
                                      f"waiting to delete Kafka topic {topic}: KafkaCluster {ns}/{name} is not ready "
                                      f"({cluster.reason}): {cluster.message}", keep_observed=True,
                                      retry=self._backoff.next(key))
        return "delete", topic

    def _owner(self, body: dict[str, Any], cluster: ClusterState) -> Claim | None:
        cns = cluster.key[0]
        claims = [c for c in self.claims(claim_key_of(body)) if cluster.spec.allows_namespace(cns, c.namespace)]
        return owner_of(claims)

    async def _converge(self, cluster: ClusterState, gateway: KafkaGateway,
                        to_converge: dict[Key, tuple[DesiredTopic, dict]],
                        to_observe: dict[Key, DesiredTopic]) -> dict[Key, Verdict]:
        verdicts: dict[Key, Verdict] = {}
        wanted = {d.name for d, _ in to_converge.values()} | {d.name for d in to_observe.values()}
        observed = await gateway.describe_topics(sorted(wanted))

        for key, desired in to_observe.items():
            verdicts[key] = self._observe_only(desired, observed.get(desired.name))

        plans: dict[Key, TopicPlan] = {}
        for key, (desired, _body) in to_converge.items():
            seen = observed.get(desired.name)
            if isinstance(seen, KafkaFailure):
                verdicts[key] = self._failure(key, seen, keep_observed=True)
                continue
            plans[key] = plan_topic(desired, seen, brokers=cluster.facts.brokers if cluster.facts else None)

        creates = [a for p in plans.values() for a in p.actions if isinstance(a, CreateTopic)]
        grows = [a for p in plans.values() for a in p.actions if isinstance(a, CreatePartitions)]
        alters = [a for p in plans.values() for a in p.actions if isinstance(a, AlterConfigs)]
        outcomes: dict[str, KafkaFailure | None] = {}
        results = await asyncio.gather(gateway.create_topics(creates), gateway.create_partitions(grows),
                                       gateway.alter_configs(alters))
        failures_by_topic: dict[str, list[KafkaFailure]] = defaultdict(list)
        for result in results:
            for topic, failure in result.items():
                outcomes[topic] = failure
                if failure is not None:
                    failures_by_topic[topic].append(failure)

        changed = sorted({to_converge[k][0].name for k, p in plans.items() if p.actions})
        after = await gateway.describe_topics(changed) if changed else {}
        # A topic created a moment ago may not be in the broker's metadata yet (seconds, with thousands of
        # topics at once): look again for a little while rather than report it missing.
        created = {a.name for a in creates if outcomes.get(a.name) is None}
        for _ in range(CREATE_SETTLE_TRIES):
            missing = sorted(n for n in created if after.get(n) is None)
            if not missing:
                break
            await asyncio.sleep(CREATE_SETTLE_PAUSE)
            after |= await gateway.describe_topics(missing)

        # Replication-factor changes: started, followed and finished from what Kafka reports.
        rf_work: dict[Key, tuple[str, int]] = {}
        for key, plan in plans.items():
            desired, body = to_converge[key]
            moving = bool((body.get("status") or {}).get("replicasChange"))
            wants = any(isinstance(a, ChangeReplicationFactor) for a in plan.actions)
            if (wants or moving) and desired.replication_factor and not plan.refusals \
                    and not failures_by_topic.get(desired.name):
                rf_work[key] = (desired.name, desired.replication_factor)
        seen_now = {**observed, **after}
        progress = await self._change_replicas(cluster, gateway, rf_work, seen_now) if rf_work else {}

        for key, plan in plans.items():
            desired, body = to_converge[key]
            failures = failures_by_topic.get(desired.name)
            now_seen = observed.get(desired.name)
            if plan.actions:
                now_seen = after.get(desired.name, now_seen)
            if isinstance(now_seen, KafkaFailure):
                now_seen = None
            if failures:
                verdicts[key] = self._failure(key, failures[0], observed=now_seen)
                continue
            if plan.actions and now_seen is None:
                # Created, but the metadata has still not reached the broker we asked: look again, say nothing.
                verdicts[key] = Verdict(False, Reason.KAFKA_ERROR, f"waiting for topic {desired.name} to appear "
                                        "in the cluster metadata", retry=1.0, keep_observed=True, silent=True)
                continue
            drift = None
            if plan.actions and _was_in_sync(body):
                drift = ("topic was deleted outside kto and has been recreated"
                         if any(isinstance(a, CreateTopic) for a in plan.actions)
                         else f"corrected out-of-band changes: {describe_drift(plan)}")
            if plan.refusals:
                first = plan.refusals[0]
                message = "; ".join(r.message for r in plan.refusals)
                self._block(key, body, cluster, first.reason, message)
                verdicts[key] = Verdict(False, first.reason, message, observed=now_seen, drift=drift)
                continue
            moving = progress.get(key)
            if isinstance(moving, KafkaFailure):
                verdicts[key] = self._failure(key, moving, observed=now_seen)
                continue
            if moving is not None:
                verdicts[key] = Verdict(False, Reason.REPLICAS_CHANGING, moving["message"], observed=now_seen,
                                        retry=REPLICA_POLL_SECONDS, drift=drift, replicas_change=moving)
                continue
            self._backoff.reset(key)
            verdicts[key] = Verdict(True, Reason.RECONCILED, _in_sync_message(now_seen), observed=now_seen,
                                    drift=drift)
        return verdicts

    async def _change_replicas(self, cluster: ClusterState, gateway: KafkaGateway,
                               work: dict[Key, tuple[str, int]],
                               seen: Mapping[str, ObservedTopic | KafkaFailure | None]) -> dict[Key, Any]:
        """Start, re-target or cancel reassignments so each topic reaches its replication factor.

        Returns, per topic, ``None`` when done, a ``replicasChange`` status while moving, or a failure. Nothing
        is kept in memory: what moves is read back from Kafka each time, so a restarted kto picks up a move."""
        ongoing_all = await gateway.list_reassignments()
        if isinstance(ongoing_all, KafkaFailure):
            return {key: ongoing_all for key in work}
        facts = cluster.facts
        brokers = list(facts.broker_ids) if facts else []
        throttle = cluster.spec.replicationThrottleBytesPerSecond if cluster.spec else None
        moves: dict[str, dict[int, list[int] | None]] = {}
        result: dict[Key, Any] = {}
        load: dict[int, int] | None = None
        finished: list[str] = []
        for key, (topic, target) in work.items():
            obs = seen.get(topic)
            if not isinstance(obs, ObservedTopic):
                result[key] = {"targetReplicas": target, "state": "Pending",
                               "message": f"waiting for topic {topic} to be described"}
                continue
            ongoing = ongoing_all.get(topic, {})
            base = [list(ongoing[p].original) if p in ongoing else list(r) for p, r in enumerate(obs.replicas)]
            topic_moves: dict[int, list[int] | None] = {}
            for p, og in ongoing.items():
                if len(og.target) != target and len(og.original) == target:
                    topic_moves[p] = None  # the spec went back: cancel what has not moved yet
            need = [p for p, r in enumerate(base) if len(r) != target
                    and not (p in ongoing and len(ongoing[p].target) == target)]
            if need:
                if load is None:
                    got = await gateway.describe_replica_load()
                    if isinstance(got, KafkaFailure):
                        return {k: got for k in work}
                    load = got
                placement = plan_replicas(base, target, brokers, facts.racks if facts else {}, load)
                topic_moves |= {p: placement[p] for p in need if p in placement}
            if topic_moves:
                moves[topic] = topic_moves
            total = len(obs.replicas)
            moved = sum(1 for p, r in enumerate(obs.replicas) if p not in ongoing and len(r) == target)
            if not topic_moves and not ongoing and moved == total:
                result[key] = None
                if any(k in obs.overrides for k in THROTTLED_REPLICAS):
                    finished.append(topic)
                continue
            current = obs.replication_factor
            state = "InProgress" if ongoing or topic_moves else "Pending"
            result[key] = {"targetReplicas": target, "state": state,
                           "message": f"replication factor {current} to {target}: {moved} of {total} partitions moved"}
        if moves:
            if throttle:
                failure = await gateway.set_replication_throttle(brokers, throttle)
                failure = failure or next(iter(v for v in (await gateway.set_topic_throttle(
                    {t: True for t in moves})).values() if v is not None), None)
                if failure is not None:
                    return {k: failure for k, (t, _) in work.items() if t in moves} | \
                        {k: v for k, v in result.items() if work[k][0] not in moves}
            outcomes = await gateway.alter_reassignments(moves)
            for key, (topic, _) in work.items():
                if outcomes.get(topic) is not None:
                    result[key] = outcomes[topic]
            log.info("Moving replicas cluster=%s/%s topics=%s partitions=%d", *cluster.key, ",".join(sorted(moves)),
                     sum(len(m) for m in moves.values()))
        if finished:
            await gateway.set_topic_throttle({t: False for t in finished})
        if finished and not moves and not ongoing_all:
            # No replicas move anywhere on this cluster any more: lift the brokers' throttle.
            await gateway.set_replication_throttle(brokers, None)
        return result

    def _observe_only(self, desired: DesiredTopic, seen: ObservedTopic | KafkaFailure | None) -> Verdict:
        if isinstance(seen, KafkaFailure):
            return Verdict(False, Reason.UNMANAGED, f"observe only: {seen.message}", keep_observed=True)
        if seen is None:
            return Verdict(False, Reason.UNMANAGED,
                           f"observe only ({names.ANNOTATION_MANAGED}=false): Kafka topic {desired.name} does not "
                           "exist; kto will not create it")
        plan = plan_topic(desired, seen)
        if plan.in_sync:
            return Verdict(True, Reason.UNMANAGED, "observe only: Kafka matches the spec", observed=seen)
        return Verdict(True, Reason.UNMANAGED, f"observe only: Kafka differs from the spec: {describe_drift(plan)}",
                       observed=seen)

    def _failure(self, key: Key, failure: KafkaFailure, observed: ObservedTopic | None = None,
                 keep_observed: bool = False) -> Verdict:
        if failure.retriable:
            return Verdict(False, failure.reason, failure.message, observed=observed, keep_observed=keep_observed,
                           retry=self._backoff.next(key))
        body = self.topics.get(key)
        cluster = self.clusters.get(cluster_key_of(body)) if body else None
        if body is not None:
            self._block(key, body, cluster, failure.reason, failure.message)
        return Verdict(False, failure.reason, failure.message, observed=observed, keep_observed=keep_observed)

    def _block(self, key: Key, body: dict, cluster: ClusterState | None, reason: Reason, message: str) -> None:
        if is_permanent(reason):
            brokers = cluster.facts.brokers if cluster and cluster.facts else None
            self._blocked[key] = (body["metadata"].get("generation"), brokers, reason, message)

    async def _ensure_finalizers(self, keys: list[Key]) -> None:
        async def add(key: Key) -> None:
            body = self.topics[key]
            if await self.kube.add_finalizer(names.TOPIC_PLURAL, key[0], key[1], finalizers_of(body)):
                body["metadata"]["finalizers"] = [*finalizers_of(body), names.FINALIZER]
                metrics.KUBE_WRITES.labels("finalizer").inc()
                self._handled[key] = relevant_state(body)

        await asyncio.gather(*(add(k) for k in keys))

    async def _release(self, key: Key, note: tuple[str, str, str] | None) -> None:
        body = self.topics.get(key)
        if body is None:
            return
        if note is not None:
            await self.kube.post_event(body, *note)
        if await self.kube.remove_finalizer(names.TOPIC_PLURAL, key[0], key[1], finalizers_of(body)):
            metrics.KUBE_WRITES.labels("finalizer").inc()
            log.info("Released topic=%s/%s", *key)

    async def _apply_verdict(self, key: Key, verdict: Verdict, cluster: ClusterState | None) -> None:
        body = self.topics.get(key)
        if body is None or verdict.silent:
            return
        old = body.get("status") or {}
        generation = body["metadata"].get("generation")
        now = self.clock()
        cond = build_condition(old.get("conditions"), verdict.ready, verdict.reason, verdict.message, generation, now)
        status: dict[str, Any] = {
            "observedGeneration": generation,
            "conditions": set_condition(old.get("conditions"), cond),
            "topicName": topic_name_of(body),
        }
        if verdict.observed is not None:
            status |= {"topicId": verdict.observed.topic_id, "partitions": verdict.observed.partitions,
                       "replicationFactor": verdict.observed.replication_factor}
        elif verdict.keep_observed:
            status |= {k: old[k] for k in ("topicId", "partitions", "replicationFactor") if k in old}
        if old.get("lastDriftCorrection"):
            status["lastDriftCorrection"] = old["lastDriftCorrection"]
        if verdict.replicas_change is not None:
            status["replicasChange"] = verdict.replicas_change
        elif verdict.keep_observed and old.get("replicasChange"):
            status["replicasChange"] = old["replicasChange"]
        if verdict.drift:
            status["lastDriftCorrection"] = {"time": now_rfc3339(now), "message": verdict.drift}
            metrics.DRIFT.labels(f"{cluster.key[0]}/{cluster.key[1]}" if cluster else "").inc()
            kind = "Warning" if "recreated" in verdict.drift else "Normal"
            await self.kube.post_event(body, kind, "TopicRecreated" if kind == "Warning" else "DriftCorrected",
                                       f"Kafka topic {topic_name_of(body)}: {verdict.drift}")
        metrics.TOPIC_READY.labels(*key).set(1 if verdict.ready else 0)
        if is_news(verdict, find(old.get("conditions")), cond):
            await self.kube.post_event(body, "Warning", str(verdict.reason), verdict.message)
        if verdict.ready is not True:
            log.info("Topic not ready topic=%s/%s reason=%s message=%r", key[0], key[1], verdict.reason,
                     verdict.message)
        await self._patch_status(names.TOPIC_PLURAL, body, status)

    async def _patch_status(self, plural: str, body: dict[str, Any], status: dict[str, Any]) -> None:
        old = body.get("status") or {}
        if same_status(old, status):
            return
        # Keys that disappeared are removed explicitly (merge patch).
        patch = {**{k: None for k in old if k not in status}, **status}
        ns, name = key_of(body)
        if await self.kube.patch_status(plural, ns, name, patch):
            metrics.KUBE_WRITES.labels("status").inc()
            body["status"] = status


def gate_cluster(cluster: ClusterState | None, ckey: Key, namespace: str, what: str) -> tuple[str, Any] | None:
    """What stops a resource of ``namespace`` from using the cluster ``ckey`` right now, if anything:
    a missing cluster, one not probed yet (skip: its first probe enqueues everything), an invalid cluster
    spec, a namespace the cluster does not allow."""
    ns, name = ckey
    if cluster is None or not cluster.exists:
        return "verdict", Verdict(False, Reason.CLUSTER_NOT_FOUND,
                                  f"KafkaCluster {ns}/{name} does not exist: create it or fix spec.clusterRef")
    if cluster.reason is None:
        return "skip", None
    if cluster.spec is None:
        return "verdict", Verdict(False, Reason.CLUSTER_NOT_READY,
                                  f"KafkaCluster {ns}/{name} has an invalid spec: {cluster.spec_error}")
    if not cluster.spec.allows_namespace(ns, namespace):
        return "verdict", Verdict(
            False, Reason.NAMESPACE_NOT_ALLOWED,
            f"KafkaCluster {ns}/{name} does not allow {what} from namespace {namespace}: add it to the cluster's "
            "spec.allowedNamespaces, or use a cluster in this namespace")
    return None


def gate_cluster_for_deletion(cluster: ClusterState | None, ckey: Key, what: str) -> tuple[str, Any] | None:
    """Before deleting ``what`` from a cluster: release the finalizer (with a Warning) when the cluster is
    gone, wait (skip) while it has not been probed yet; else None."""
    if cluster is None or not cluster.exists:
        return "release", ("Warning", str(Reason.CLUSTER_NOT_FOUND),
                           f"KafkaCluster {ckey[0]}/{ckey[1]} no longer exists: finalizer released, {what} "
                           "was not deleted")
    if cluster.reason is None:
        return "skip", None  # its first probe enqueues everything of the cluster
    return None


def is_news(verdict: Verdict, old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> bool:
    """A failure worth an Event: new or changed (retries of the same failure stay quiet); not the states a
    person chose (paused, observe only), not the short wait for a new topic's metadata."""
    if verdict.ready is True or verdict.reason in (Reason.PAUSED, Reason.UNMANAGED):
        return False
    if verdict.retry is not None and verdict.retry < 1:
        return False
    return old is None or old.get("reason") != new["reason"] or old.get("message") != new["message"]


def same_status(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    return {k: v for k, v in old.items() if v is not None} == {k: v for k, v in new.items() if v is not None}


def _was_in_sync(body: Mapping[str, Any]) -> bool:
    """The resource was Ready at its current generation: a difference now is drift, not a spec change."""
    status = body.get("status") or {}
    cond = find(status.get("conditions"))
    return (cond is not None and cond.get("status") == "True" and cond.get("reason") == str(Reason.RECONCILED)
            and status.get("observedGeneration") == body["metadata"].get("generation"))


def _in_sync_message(seen: ObservedTopic | None) -> str:
    if seen is None:
        return "topic is in sync with the spec"
    return (f"topic {seen.name} is in sync: {seen.partitions} partition(s), replication factor "
            f"{seen.replication_factor}")


def finalizers_of(body: Mapping[str, Any]) -> list[str]:
    return list((body.get("metadata") or {}).get("finalizers") or [])


def own(body: Mapping[str, Any]) -> dict[str, Any]:
    """kto's copy of a watched object: kto replaces (never mutates) nested values other than metadata and
    status, so copying those two levels is enough."""
    out = dict(body)
    out["metadata"] = dict(body.get("metadata") or {})
    return out


def validation_message(err: ValidationError) -> str:
    parts = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e.get("loc", ()))
        parts.append(f"{loc}: {e.get('msg')}" if loc else str(e.get("msg")))
    return "; ".join(parts)


def _has_label(gauge, labels: tuple) -> bool:
    try:
        return tuple(labels) in gauge._metrics
    except AttributeError:
        return False
