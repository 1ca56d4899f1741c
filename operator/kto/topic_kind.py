"""KafkaTopic as a kind of the reconciler: what a batch of topics does in Kafka.

Per batch: one DescribeTopics + one DescribeConfigs for every topic, the pure planner per topic, then one
CreateTopics (chunked), one CreatePartitions, one IncrementalAlterConfigs, one DeleteTopics; changed topics
are described again (one request) so status shows what Kafka has, including a new topic's id. Replica moves
are planned by ``kto.replicas`` (pure) from what Kafka reports, so a restarted kto finishes a move.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from kto import metrics, names
from kto.domain import (
    AlterConfigs,
    ChangeReplicationFactor,
    CreatePartitions,
    CreateTopic,
    DesiredTopic,
    KafkaFailure,
    ObservedTopic,
    TopicPlan,
)
from kto.gates import ClusterSnapshot, KindRules, prefix_refusal
from kto.models import INTERNAL_TOPIC_PREFIX, KafkaClusterSpec, KafkaTopicSpec, KafkaTopicStatus
from kto.objects import ADOPTED, CREATED, Key, annotation, deletion_policy_of, ownership_of
from kto.outcomes import BACKOFF, FINALIZER_PENDING, Converge, Delete, Note, Observe, Outcome, Release, Verdict
from kto.planner import build_desired, deletion_policy, describe_drift, describe_takeover, is_ours, plan_topic
from kto.reasons import Reason
from kto.reconciler import Guard, Item, KindInfo
from kto.replicas import ReplicaProgress, needs_placement, plan_reassignments
from kto.status import was_in_sync

log = logging.getLogger("kto.topics")

REPLICA_POLL_SECONDS = 2.0  # how often a moving topic is looked at again
ADOPT_SETTLE_SECONDS = 0.2  # an adopted topic is looked at again soon, to add kto's finalizer
CREATE_SETTLE_TRIES, CREATE_SETTLE_PAUSE = 10, 0.3  # waiting for new topics to show in the metadata
Seen = ObservedTopic | KafkaFailure | None


def topic_name_of(body: Mapping[str, Any]) -> str:
    return (body.get("spec") or {}).get("topicName") or body["metadata"]["name"]


def claim_space(topic: str) -> str:
    """Kafka treats '.' and '_' in topic names alike (their metrics names collide): one claim for both."""
    return topic.replace(".", "_")


class TopicKind:
    rules = KindRules(kind=names.TOPIC_KIND, noun="topics", thing="Kafka topic", retained_reason="TopicRetained",
                      retained_what=" ", pausable=True, observable=True)
    info = KindInfo(names.TOPIC_PLURAL, names.FINALIZER, "topic", metrics.TOPIC_READY, KafkaTopicSpec,
                    KafkaTopicStatus, "topicName", ("topicId", "partitions", "replicationFactor", "replicasChange"),
                    sticky_fields=("lastDriftCorrection", "adopted", "ownership"), drift_field="lastDriftCorrection",
                    claim_space=claim_space)

    def claimed_name(self, body: Mapping[str, Any]) -> str:
        return topic_name_of(body)

    def allows(self, cluster: KafkaClusterSpec, cluster_namespace: str, namespace: str) -> bool:
        return cluster.allows_namespace(cluster_namespace, namespace)

    def check(self, key: Key, spec: KafkaTopicSpec, name: str, cluster: ClusterSnapshot) -> Verdict | None:
        if not cluster.spec.is_protected_topic(name):
            return prefix_refusal("Kafka topic", name, key[0], cluster)
        why = "Kafka's internal topics start with __" if name.startswith(INTERNAL_TOPIC_PREFIX) else \
            "it matches the KafkaCluster's spec.protectedTopics"
        return Verdict(False, Reason.PROTECTED, f"Kafka topic {name} is protected ({why}): kto never creates, "
                       f"changes or deletes it for a KafkaTopic")

    def deletion_policy(self, spec: KafkaTopicSpec, cluster: KafkaClusterSpec | None, body: Mapping[str, Any]) -> str:
        return deletion_policy_of(spec.deletionPolicy, deletion_policy(spec, cluster), body)

    async def act(self, cluster: ClusterSnapshot, items: dict[Key, Item], guard: Guard) -> dict[Key, Outcome]:
        gateway = cluster.gateway
        desired = {k: build_desired(k[1], i.gathered.spec, cluster.spec) for k, i in items.items()
                   if isinstance(i.decision, Converge | Observe)}
        observed = await gateway.describe_topics(sorted({d.name for d in desired.values()}))
        out: dict[Key, Outcome] = {k: observe_verdict(d, observed.get(d.name)) for k, d in desired.items()
                                   if isinstance(items[k].decision, Observe)}
        converge = {k: (d, items[k]) for k, d in desired.items() if isinstance(items[k].decision, Converge)}
        if converge:
            out |= await TopicBatch(cluster, converge, observed, guard).run()
        deletions = {k: i for k, i in items.items() if isinstance(i.decision, Delete)}
        if deletions:
            out |= await delete_topics(gateway, deletions)
        return out


async def delete_topics(gateway, deletions: dict[Key, Item]) -> dict[Key, Outcome]:
    """Delete the Kafka topics of the resources, but only the very topics kto made or adopted for them: a topic
    of the same name with another id than the one recorded (replaced outside kto, or on a cluster the
    KafkaCluster was moved to) is left alone and the resource released with a Warning."""
    names_ = {k: i.gathered.name for k, i in deletions.items()}
    seen = await gateway.describe_topics(sorted(set(names_.values())), configs=False)  # the ids are enough
    out: dict[Key, Outcome] = {}
    doomed: dict[Key, str] = {}
    for key, topic in names_.items():
        recorded = (deletions[key].body.get("status") or {}).get("topicId")
        now = seen.get(topic)
        if isinstance(now, ObservedTopic) and recorded is not None and now.topic_id != recorded:
            out[key] = Release(Note("Warning", "TopicNotDeleted", f"Kafka topic {topic} is not the topic kto made "
                                    f"for this resource (its id is {now.topic_id}, kto recorded {recorded}): "
                                    "finalizer released, the topic was not deleted"))
        else:
            doomed[key] = topic
    deleted = await gateway.delete_topics(doomed.values()) if doomed else {}
    for key, topic in doomed.items():
        failure = deleted.get(topic)
        if failure is None:
            # Logged, not an Event: the resource is gone a moment later, and an Event per topic made deleting
            # 10,000 topics a quarter slower than creating them (four API writes per topic instead of three).
            out[key] = Release(detail=f"Kafka topic {topic} deleted (deletionPolicy Delete)")
        else:
            out[key] = Verdict(False, failure.reason, f"deleting Kafka topic {topic} failed: {failure.message}",
                               keep=True, retry=BACKOFF)
    return out


class TopicBatch:
    """The converging topics of one batch, from plans to verdicts."""

    def __init__(self, cluster: ClusterSnapshot, work: dict[Key, tuple[DesiredTopic, Item]],
                 observed: Mapping[str, Seen], guard: Guard):
        self.cluster = cluster
        self.gateway = cluster.gateway
        self.work = work
        self.observed = observed
        self.guard = guard
        self.failures: dict[str, list[KafkaFailure]] = defaultdict(list)
        self.after: dict[str, Seen] = {}

    async def run(self) -> dict[Key, Outcome]:
        out: dict[Key, Outcome] = {}
        plans: dict[Key, TopicPlan] = {}
        for key, (desired, item) in self.work.items():
            seen = self.observed.get(desired.name)
            if isinstance(seen, KafkaFailure):
                out[key] = failure_verdict(seen, keep=True)
                continue
            plan = plan_topic(desired, seen, brokers=self.cluster.brokers)
            adoption = self._adoption(desired, item, seen, plan)
            if adoption is not None:
                out[key] = adoption
            else:
                plans[key] = plan
        creates = [k for k, p in plans.items() if any(isinstance(a, CreateTopic) for a in p.actions)]
        for key in await self.guard([k for k in plans if not self.work[k][1].gathered.holds], creates):
            out[key] = FINALIZER_PENDING
            del plans[key]
        created = await self._apply(plans)
        await self._describe_changed(plans, created)
        progress = await self._move_replicas(plans)
        for key, plan in plans.items():
            desired, item = self.work[key]
            seen = self.observed.get(desired.name)
            now_seen = self.after.get(desired.name, seen) if plan.actions else seen
            out[key] = topic_verdict(desired, item.body, plan, self.failures.get(desired.name, ()),
                                     now_seen if isinstance(now_seen, ObservedTopic) else None, progress.get(key))
        return out

    def _adoption(self, desired: DesiredTopic, item: Item, seen: ObservedTopic | None,
                  plan: TopicPlan) -> Verdict | None:
        return plan_adoption(desired, item.body, item.gathered.owns, seen, plan)

    async def _apply(self, plans: dict[Key, TopicPlan]) -> set[str]:
        """One request per kind of change; the names of the topics created."""
        actions = [a for p in plans.values() for a in p.actions]
        creates = [a for a in actions if isinstance(a, CreateTopic)]
        results = await asyncio.gather(
            self.gateway.create_topics(creates),
            self.gateway.create_partitions([a for a in actions if isinstance(a, CreatePartitions)]),
            self.gateway.alter_configs([a for a in actions if isinstance(a, AlterConfigs)]))
        for result in results:
            for topic, failure in result.items():
                if failure is not None:
                    self.failures[topic].append(failure)
        return {a.name for a in creates if a.name not in self.failures}

    async def _describe_changed(self, plans: dict[Key, TopicPlan], created: set[str]) -> None:
        """Describe changed topics again. A topic created a moment ago may not be in the broker's metadata yet
        (seconds, with thousands of topics at once): look again for a little while rather than report it
        missing. Their configs are not described again (a tenth of kto's CPU while creating 10,000 topics): the
        status shows none, and the throttle keys a replica move reads are never changed by a config change."""
        changed = sorted({self.work[k][0].name for k, p in plans.items() if p.actions})
        self.after = await self._describe_again(changed) if changed else {}
        for _ in range(CREATE_SETTLE_TRIES):
            missing = sorted(n for n in created if self.after.get(n) is None)
            if not missing:
                return
            await asyncio.sleep(CREATE_SETTLE_PAUSE)
            self.after |= await self._describe_again(missing)

    async def _describe_again(self, names_: list[str]) -> dict[str, Seen]:
        out = await self.gateway.describe_topics(names_, configs=False)
        for name, now in out.items():
            before = self.observed.get(name)
            if isinstance(now, ObservedTopic) and isinstance(before, ObservedTopic):
                out[name] = dataclasses.replace(now, overrides=before.overrides, defaults=before.defaults)
        return out

    async def _move_replicas(self, plans: dict[Key, TopicPlan]) -> dict[Key, ReplicaProgress | KafkaFailure | None]:
        """Start, re-target or cancel reassignments so each topic reaches its replication factor. Nothing is
        kept in memory: what moves is read back from Kafka each time."""
        work: dict[Key, tuple[str, int]] = {}
        for key, plan in plans.items():
            desired, item = self.work[key]
            moving = bool((item.body.get("status") or {}).get("replicasChange"))
            wants = any(isinstance(a, ChangeReplicationFactor) for a in plan.actions)
            if (wants or moving) and desired.replication_factor and not plan.refusals \
                    and not self.failures.get(desired.name):
                work[key] = (desired.name, desired.replication_factor)
        if not work:
            return {}
        seen = {**self.observed, **self.after}
        topics = {t: (target, s if isinstance(s := seen.get(t), ObservedTopic) else None) for t, target in
                  work.values()}
        outcomes = await move_replicas(self.gateway, self.cluster, topics)
        return {key: outcomes.get(topic) for key, (topic, _) in work.items()}


async def move_replicas(gateway, cluster: ClusterSnapshot, topics: dict[str, tuple[int, ObservedTopic | None]]
                        ) -> dict[str, ReplicaProgress | KafkaFailure | None]:
    """Per topic: ``None`` when done, its progress while moving, or a failure."""
    ongoing = await gateway.list_reassignments()
    if isinstance(ongoing, KafkaFailure):
        return dict.fromkeys(topics, ongoing)
    load = None
    if needs_placement(topics, ongoing):
        load = await gateway.describe_replica_load()
        if isinstance(load, KafkaFailure):
            return dict.fromkeys(topics, load)
    facts = cluster.facts
    brokers = list(facts.broker_ids) if facts else []
    try:
        plan = plan_reassignments(topics, ongoing, brokers, facts.racks if facts else {}, load)
    except ValueError as err:  # fewer live brokers than the target (brokers went away since the planner looked)
        return dict.fromkeys(topics, KafkaFailure(Reason.INSUFFICIENT_BROKERS, f"cannot place replicas: {err}; "
                                                  "lower spec.replicationFactor or bring the brokers back", False))
    result: dict[str, ReplicaProgress | KafkaFailure | None] = dict(plan.progress)
    if plan.moves:
        failure = await _throttle(gateway, cluster, brokers, plan.moves)
        if failure is not None:
            return result | dict.fromkeys(plan.moves, failure)
        moves = {t: {p: list(r) if r is not None else None for p, r in parts.items()}
                 for t, parts in plan.moves.items()}
        outcomes = await gateway.alter_reassignments(moves)
        result |= {t: f for t, f in outcomes.items() if f is not None}
        log.info("Moving replicas cluster=%s/%s topics=%s partitions=%d", *cluster.key, ",".join(sorted(moves)),
                 sum(len(m) for m in moves.values()))
    if plan.finished_throttled:
        await gateway.set_topic_throttle(dict.fromkeys(plan.finished_throttled, False))
    if plan.lift_broker_throttle:
        await gateway.set_replication_throttle(brokers, None)
    return result


async def _throttle(gateway, cluster: ClusterSnapshot, brokers: list[int], moves: Mapping[str, Any]
                    ) -> KafkaFailure | None:
    """With a throttle on the cluster: the brokers' rate, and the moving topics' throttled replicas."""
    throttle = cluster.spec.replicationThrottleBytesPerSecond if cluster.spec else None
    if not throttle:
        return None
    failure = await gateway.set_replication_throttle(brokers, throttle)
    if failure is not None:
        return failure
    marked = await gateway.set_topic_throttle(dict.fromkeys(moves, True))
    return next((f for f in marked.values() if f is not None), None)


# --- Verdicts (pure) -----------------------------------------------------------------------------------


def failure_verdict(failure: KafkaFailure, **fields: Any) -> Verdict:
    """A Kafka failure: retried with backoff when retrying can help, else it waits for a change."""
    return Verdict(False, failure.reason, failure.message, retry=BACKOFF if failure.retriable else None, **fields)


def observed_fields(seen: ObservedTopic | None) -> dict[str, Any]:
    if seen is None:
        return {}
    return {"topicId": seen.topic_id, "partitions": seen.partitions, "replicationFactor": seen.replication_factor}


def drift_of(desired: DesiredTopic, body: Mapping[str, Any], plan: TopicPlan) -> tuple[str | None, tuple[Note, ...]]:
    """A change planned for a topic that was in sync is drift: what it was, and the Event saying so."""
    if not plan.actions or not was_in_sync(body):
        return None, ()
    if any(isinstance(a, CreateTopic) for a in plan.actions):
        drift = "topic was deleted outside kto and has been recreated"
        return drift, (Note("Warning", "TopicRecreated", f"Kafka topic {desired.name}: {drift}"),)
    drift = f"corrected out-of-band changes: {describe_drift(plan)}"
    return drift, (Note("Normal", "DriftCorrected", f"Kafka topic {desired.name}: {drift}"),)


def topic_verdict(desired: DesiredTopic, body: Mapping[str, Any], plan: TopicPlan,
                  failures: tuple[KafkaFailure, ...] | list[KafkaFailure], seen: ObservedTopic | None,
                  moving: ReplicaProgress | KafkaFailure | None) -> Verdict:
    """The verdict for one converged topic, from its plan, what applying it gave and what Kafka has now. A topic
    kto converged is this resource's: status records it (``ownership``) once Kafka shows the topic."""
    observed = observed_fields(seen)
    if seen is not None and not failures:
        observed["ownership"] = ownership_of(body) or CREATED
    # A failure keeps what status showed (a move in progress included) under what Kafka shows now.
    if failures:
        return failure_verdict(failures[0], status=observed, keep=True)
    if plan.actions and seen is None:
        # Created, but the metadata has still not reached the broker we asked: look again, say nothing.
        return Verdict(False, Reason.KAFKA_ERROR, f"waiting for topic {desired.name} to appear in the cluster "
                       "metadata", keep=True, retry=1.0, silent=True)
    drift, notes = drift_of(desired, body, plan)
    if plan.refusals:
        message = "; ".join(r.message for r in plan.refusals)
        return Verdict(False, plan.refusals[0].reason, message, status=observed, drift=drift, notes=notes)
    if isinstance(moving, KafkaFailure):
        return failure_verdict(moving, status=observed, keep=True)
    if moving is not None:
        return Verdict(False, Reason.REPLICAS_CHANGING, moving.message,
                       status=observed | {"replicasChange": moving.as_status()},
                       retry=REPLICA_POLL_SECONDS, drift=drift, notes=notes)
    return Verdict(True, Reason.RECONCILED, in_sync_message(seen), status=observed, drift=drift, notes=notes)


def plan_adoption(desired: DesiredTopic, body: Mapping[str, Any], owned: bool, seen: ObservedTopic | None,
                  plan: TopicPlan) -> Verdict | None:
    """For a topic that exists and kto did not make for this resource (``owned``: its status or kto's ledger
    says it owns the name): the verdict that adopts it, takes it over (the overwrite annotation) or refuses it;
    None when kto goes on (nothing there, or its own topic). ``kto plan`` shows the same."""
    recorded = (body.get("status") or {}).get("topicId")
    if seen is None or is_ours(recorded, owned, seen):
        return None
    return adoption_verdict(desired, seen, plan, annotation(body, names.ANNOTATION_ADOPT) == names.ADOPT_OVERWRITE)


def adoption_verdict(desired: DesiredTopic, seen: ObservedTopic, plan: TopicPlan, overwrite: bool) -> Verdict:
    """An existing topic kto did not make. Adopted when the spec matches it, or taken over when the resource
    says overwrite: this pass only records the adoption (status ``adopted`` and the topic id, nothing written to
    Kafka); the next pass adds kto's finalizer and applies the spec, so a stop in between never leaves a topic
    kto would mistake for its own creation. Otherwise refused, with every difference and the two ways on."""
    status = observed_fields(seen) | {"adopted": True, "ownership": ADOPTED}
    if plan.in_sync:
        return Verdict(True, Reason.RECONCILED, in_sync_message(seen), status=status, retry=ADOPT_SETTLE_SECONDS,
                       notes=(Note("Normal", "TopicAdopted", f"Kafka topic {desired.name} existed and matches the "
                                   "spec: kto manages it now, and deletes it with this resource only if the "
                                   "resource itself says deletionPolicy: Delete"),))
    change = describe_takeover(plan)
    if overwrite:
        return Verdict(False, Reason.ADOPTING, f"taking over the existing Kafka topic {desired.name} "
                       f"({names.ANNOTATION_ADOPT}={names.ADOPT_OVERWRITE}): {change}", status=status,
                       retry=ADOPT_SETTLE_SECONDS,
                       notes=(Note("Normal", "TopicTakenOver", f"Kafka topic {desired.name} existed and differs from "
                                   f"the spec; taken over as the resource asks: {change}"),))
    # Status keeps the topic id kto recorded (if any): the one seen here is somebody else's topic.
    return Verdict(False, Reason.ADOPTION_REQUIRED,
                   f"Kafka topic {desired.name} already exists and kto did not create it for this resource; taking "
                   f"it over would change it: {change}. Either write the spec to match Kafka, or annotate this "
                   f"resource {names.ANNOTATION_ADOPT}={names.ADOPT_OVERWRITE} to take the topic over and apply the "
                   "spec", status={"partitions": seen.partitions, "replicationFactor": seen.replication_factor},
                   keep=True)


def observe_verdict(desired: DesiredTopic, seen: Seen) -> Verdict:
    """Observe only: report how Kafka differs from the spec, never write."""
    if isinstance(seen, KafkaFailure):
        return Verdict(False, Reason.UNMANAGED, f"observe only: {seen.message}", keep=True)
    if seen is None:
        return Verdict(False, Reason.UNMANAGED,
                       f"observe only ({names.ANNOTATION_MANAGED}=false): Kafka topic {desired.name} does not "
                       "exist; kto will not create it")
    plan = plan_topic(desired, seen)
    if plan.in_sync:
        return Verdict(True, Reason.UNMANAGED, "observe only: Kafka matches the spec", status=observed_fields(seen))
    return Verdict(True, Reason.UNMANAGED, f"observe only: Kafka differs from the spec: {describe_drift(plan)}",
                   status=observed_fields(seen))


def in_sync_message(seen: ObservedTopic | None) -> str:
    if seen is None:
        return "topic is in sync with the spec"
    return (f"topic {seen.name} is in sync: {seen.partitions} partition(s), replication factor "
            f"{seen.replication_factor}")
