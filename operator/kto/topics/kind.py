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
from collections.abc import Callable, Mapping
from typing import Any

from kto.api import names
from kto.api.conditions import find
from kto.api.domain import (
    AlterConfigs,
    ChangeReplicationFactor,
    CreatePartitions,
    CreateTopic,
    DesiredTopic,
    KafkaFailure,
    ObservedTopic,
    TopicPlan,
)
from kto.api.models import KafkaTopicSpec, KafkaTopicStatus
from kto.api.objects import Key
from kto.api.reasons import EventReason, Reason
from kto.policy.rules import IN_POLICY, Applied, Judged, OutOfPolicy, judge_topic, policy_condition
from kto.reconcile.cluster_state import Connected
from kto.reconcile.engine import Guard, Item, KindInfo
from kto.reconcile.outcomes import (
    BACKOFF,
    FINALIZER_PENDING,
    Converge,
    Delete,
    ExtraCondition,
    Note,
    Observe,
    Outcome,
    Release,
    Verdict,
)
from kto.reconcile.ports import TopicPort
from kto.telemetry import metrics
from kto.topics.planner import build_desired, plan_topic
from kto.topics.replicas import ReplicaProgress, needs_placement, plan_reassignments
from kto.topics.verdicts import (
    RULES,
    Seen,
    TopicFacts,
    claim_space,
    failure_verdict,
    observe_verdict,
    plan_adoption,
    topic_verdict,
)

log = logging.getLogger("kto.topics")

CREATE_SETTLE_TRIES, CREATE_SETTLE_PAUSE = 10, 0.3  # waiting for new topics to show in the metadata


class TopicKind(TopicFacts):
    rules = RULES
    info = KindInfo(names.TOPIC_PLURAL, names.FINALIZER, "topic", metrics.TOPIC_READY, KafkaTopicSpec,
                    KafkaTopicStatus, "topicName", ("topicId", "partitions", "replicationFactor", "replicasChange"),
                    sticky_fields=("lastDriftCorrection", "adopted", "ownership", "desiredHash"),
                    drift_field="lastDriftCorrection",
                    claim_space=claim_space, info_gauge=metrics.TOPIC_INFO)

    def __init__(self, policies: Callable[[str], list[Applied]] | None = None):
        self.policies = policies or (lambda namespace: [])  # the KafkaPolicies in force for a namespace
        self.out_of_policy = OutOfPolicy(lambda c, p, n: metrics.TOPICS_OUT_OF_POLICY.labels(c, p).set(n))

    async def act(self, cluster: Connected, items: dict[Key, Item], guard: Guard) -> dict[Key, Outcome]:
        gateway = cluster.gateway
        desired = {k: build_desired(k[1], i.gathered.spec, cluster.spec) for k, i in items.items()
                   if isinstance(i.decision, Converge | Observe)}
        observed = await gateway.describe_topics(sorted({d.name for d in desired.values()}))
        out: dict[Key, Outcome] = {k: observe_verdict(d, observed.get(d.name)) for k, d in desired.items()
                                   if isinstance(items[k].decision, Observe)}
        converge = {k: d for k, d in desired.items() if isinstance(items[k].decision, Converge)}
        if converge:
            out |= await self._converge(cluster, converge, items, observed, guard)
        deletions = {k: i for k, i in items.items() if isinstance(i.decision, Delete)}
        if deletions:
            for key in deletions:
                self.out_of_policy.set(key, "", None)
            out |= await delete_topics(gateway, deletions)
        return out

    async def _converge(self, cluster: Connected, desired: dict[Key, DesiredTopic], items: dict[Key, Item],
                        observed: Mapping[str, Seen], guard: Guard) -> dict[Key, Outcome]:
        """The topics as their KafkaPolicies have them (clamped), made so, and their verdicts with InPolicy."""
        judged = {k: self._judge(k, d, items[k], observed.get(d.name), cluster) for k, d in desired.items()}
        out = await TopicBatch(cluster, {k: (j.desired, items[k]) for k, j in judged.items()}, observed, guard).run()
        return {k: with_policy(v, judged[k], items[k].body) if isinstance(v, Verdict) and not v.silent else v
                for k, v in out.items()}

    def _judge(self, key: Key, desired: DesiredTopic, item: Item, seen: Any, cluster: Connected) -> Judged:
        """The topic under the KafkaPolicies of its namespace (``kto.policy.rules``): clamped, and what it breaks."""
        judged = judge_topic(desired, self.policies(key[0]), frozenset(item.gathered.spec.config or ()),
                             seen if isinstance(seen, ObservedTopic) else None, cluster.brokers)
        self.out_of_policy.set(key, f"{cluster.key[0]}/{cluster.key[1]}", judged)
        return judged


def with_policy(verdict: Verdict, judged: Judged, body: Mapping[str, Any]) -> Verdict:
    """The verdict with the InPolicy condition, and an Event when it is news."""
    cond = policy_condition(judged, find((body.get("status") or {}).get("conditions"), IN_POLICY))
    if cond is None:
        return verdict
    reason = EventReason.OUT_OF_POLICY if not cond.status else EventReason.POLICY_CLAMPED
    notes = (Note(cond.event_type, reason, cond.message),) if cond.event_type else ()
    return dataclasses.replace(verdict, conditions=(ExtraCondition(IN_POLICY, cond.status, cond.reason, cond.message),),
                               notes=verdict.notes + notes)


async def delete_topics(gateway: TopicPort, deletions: dict[Key, Item]) -> dict[Key, Outcome]:
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
            out[key] = Release(Note("Warning", EventReason.TOPIC_NOT_DELETED,
                                    f"Kafka topic {topic} is not the topic kto made "
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

    def __init__(self, cluster: Connected, work: dict[Key, tuple[DesiredTopic, Item]],
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


async def move_replicas(gateway: TopicPort, cluster: Connected, topics: dict[str, tuple[int, ObservedTopic | None]]
                        ) -> dict[str, ReplicaProgress | KafkaFailure | None]:
    """Per topic: ``None`` when done, its progress while moving, or a failure."""
    ongoing = await gateway.list_reassignments()
    if isinstance(ongoing, KafkaFailure):
        return dict.fromkeys(topics, ongoing)
    load: dict[int, int] | None = None
    if needs_placement(topics, ongoing):
        read = await gateway.describe_replica_load()
        if isinstance(read, KafkaFailure):
            return dict.fromkeys(topics, read)
        load = read
    brokers = list(cluster.facts.broker_ids)
    try:
        plan = plan_reassignments(topics, ongoing, brokers, cluster.facts.racks, load)
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


async def _throttle(gateway: TopicPort, cluster: Connected, brokers: list[int], moves: Mapping[str, Any]
                    ) -> KafkaFailure | None:
    """With a throttle on the cluster: the brokers' rate, and the moving topics' throttled replicas."""
    throttle = cluster.spec.replicationThrottleBytesPerSecond
    if not throttle:
        return None
    failure = await gateway.set_replication_throttle(brokers, throttle)
    if failure is not None:
        return failure
    marked = await gateway.set_topic_throttle(dict.fromkeys(moves, True))
    return next((f for f in marked.values() if f is not None), None)
