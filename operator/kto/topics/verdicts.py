"""The pure decisions about one KafkaTopic, shared by the reconciler's topic kind and ``kto plan``: the kind's
gate rules (``RULES``, ``check_topic``), adoption, and the verdict of a converged, observed or refused topic.

No I/O, no clock, no logging.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kto.api import names
from kto.api.domain import (
    CreateTopic,
    DesiredTopic,
    KafkaFailure,
    ObservedTopic,
    TopicPlan,
)
from kto.api.models import INTERNAL_TOPIC_PREFIX, DeletionPolicy, KafkaClusterSpec, KafkaTopicSpec
from kto.api.objects import (
    ADOPTED,
    CREATED,
    Key,
    annotation,
    deletion_policy_of,
    ownership_of,
    topic_name_of,
    was_in_sync,
)
from kto.api.reasons import EventReason, Reason
from kto.reconcile.cluster_state import Probed
from kto.reconcile.gates import KindRules, prefix_refusal
from kto.reconcile.outcomes import BACKOFF, Note, StatusFields, Verdict
from kto.topics.planner import deletion_policy, describe_drift, describe_takeover, is_ours, plan_topic
from kto.topics.replicas import ReplicaProgress

REPLICA_POLL_SECONDS = 2.0  # how often a moving topic is looked at again
ADOPT_SETTLE_SECONDS = 0.2  # an adopted topic is looked at again soon, to add kto's finalizer
Seen = ObservedTopic | KafkaFailure | None

RULES = KindRules(kind=names.TOPIC_KIND, noun="topics", thing="Kafka topic", retained_reason=EventReason.TOPIC_RETAINED,
                  retained_what=" ", pausable=True, observable=True)


def claim_space(topic: str) -> str:
    """Kafka treats '.' and '_' in topic names alike (their metrics names collide): one claim for both."""
    return topic.replace(".", "_")


def check_topic(key: Key, name: str, cluster: Probed) -> Verdict | None:
    """What the KafkaCluster forbids a KafkaTopic: an internal or protected topic, a name outside the prefixes
    it requires of the namespace."""
    if not cluster.spec.is_protected_topic(name):
        return prefix_refusal("Kafka topic", name, key[0], cluster)
    why = "Kafka's internal topics start with __" if name.startswith(INTERNAL_TOPIC_PREFIX) else \
        "it matches the KafkaCluster's spec.protectedTopics"
    return Verdict(False, Reason.PROTECTED, f"Kafka topic {name} is protected ({why}): kto never creates, "
                   f"changes or deletes it for a KafkaTopic")


# --- Verdicts (pure) -----------------------------------------------------------------------------------


def failure_verdict(failure: KafkaFailure, **fields: Any) -> Verdict:
    """A Kafka failure: retried with backoff when retrying can help, else it waits for a change."""
    return Verdict(False, failure.reason, failure.message, retry=BACKOFF if failure.retriable else None, **fields)


def observed_fields(seen: ObservedTopic | None) -> StatusFields:
    if seen is None:
        return {}
    return {"topicId": seen.topic_id, "partitions": seen.partitions, "replicationFactor": seen.replication_factor}


def desired_hash(desired: DesiredTopic) -> str:
    """A digest of what a topic should be (spec with the KafkaCluster's topicDefaults), kept in status."""
    text = f"{desired.name}\0{desired.partitions}\0{desired.replication_factor}\0" + \
        "\0".join(f"{k}={v}" for k, v in sorted(desired.config.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Change:
    """Why a topic that was in sync changes: drift (someone changed Kafka) or intent (its KafkaCluster's
    topicDefaults changed), and the Events saying so."""

    drift: str | None = None
    applied: str | None = None
    notes: tuple[Note, ...] = ()


def change_of(desired: DesiredTopic, body: Mapping[str, Any], plan: TopicPlan) -> Change:
    """A change planned for a topic that was in sync: drift, unless what it should be changed since kto last
    made it so (its status's ``desiredHash``): then the KafkaCluster asked for it."""
    if not plan.actions or not was_in_sync(body):
        return Change()
    if any(isinstance(a, CreateTopic) for a in plan.actions):
        drift = "topic was deleted outside kto and has been recreated"
        return Change(drift=drift, notes=(Note("Warning", EventReason.TOPIC_RECREATED,
                                               f"Kafka topic {desired.name}: {drift}"),))
    recorded = (body.get("status") or {}).get("desiredHash")
    if recorded is not None and recorded != desired_hash(desired):
        applied = f"applied the KafkaCluster's changed topicDefaults: {describe_drift(plan)}"
        return Change(applied=applied, notes=(Note("Normal", EventReason.CLUSTER_DEFAULTS_APPLIED,
                                                   f"Kafka topic {desired.name}: {applied}"),))
    drift = f"corrected out-of-band changes: {describe_drift(plan)}"
    return Change(drift=drift, notes=(Note("Normal", EventReason.DRIFT_CORRECTED,
                                           f"Kafka topic {desired.name}: {drift}"),))


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
    change = change_of(desired, body, plan)
    if plan.refusals:
        message = "; ".join(r.message for r in plan.refusals)
        return Verdict(False, plan.refusals[0].reason, message, status=observed, drift=change.drift,
                       applied=change.applied, notes=change.notes)
    if isinstance(moving, KafkaFailure):
        return failure_verdict(moving, status=observed, keep=True)
    made: StatusFields = {**observed, "desiredHash": desired_hash(desired)}
    if moving is not None:
        return Verdict(False, Reason.REPLICAS_CHANGING, moving.message,
                       status={**made, "replicasChange": moving.as_status()}, retry=REPLICA_POLL_SECONDS,
                       drift=change.drift, applied=change.applied, notes=change.notes)
    return Verdict(True, Reason.RECONCILED, in_sync_message(seen), status=made, drift=change.drift,
                   applied=change.applied, notes=change.notes)


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
    status: StatusFields = {**observed_fields(seen), "adopted": True, "ownership": ADOPTED}
    if plan.in_sync:
        return Verdict(True, Reason.RECONCILED, in_sync_message(seen), status=status, retry=ADOPT_SETTLE_SECONDS,
                       notes=(Note("Normal", EventReason.TOPIC_ADOPTED,
                                   f"Kafka topic {desired.name} existed and matches the "
                                   "spec: kto manages it now, and deletes it with this resource only if the "
                                   "resource itself says deletionPolicy: Delete"),))
    change = describe_takeover(plan)
    if overwrite:
        return Verdict(False, Reason.ADOPTING, f"taking over the existing Kafka topic {desired.name} "
                       f"({names.ANNOTATION_ADOPT}={names.ADOPT_OVERWRITE}): {change}", status=status,
                       retry=ADOPT_SETTLE_SECONDS,
                       notes=(Note("Normal", EventReason.TOPIC_TAKEN_OVER,
                                   f"Kafka topic {desired.name} existed and differs from "
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


class TopicFacts:
    """A KafkaTopic's facts for the gather step (``gates.KindFacts``): the operator's (``TopicKind`` is these plus
    ``act``) and ``kto plan``'s."""

    finalizer = names.FINALIZER

    def claimed_name(self, body: Mapping[str, Any]) -> str:
        return topic_name_of(body)

    def allows(self, cluster: KafkaClusterSpec, cluster_namespace: str, namespace: str) -> bool:
        return cluster.allows_namespace(cluster_namespace, namespace)

    def check(self, key: Key, spec: KafkaTopicSpec, name: str, cluster: Probed) -> Verdict | None:
        return check_topic(key, name, cluster)

    def deletion_policy(self, spec: KafkaTopicSpec, cluster: KafkaClusterSpec | None, body: Mapping[str, Any]
                        ) -> DeletionPolicy:
        return deletion_policy_of(spec.deletionPolicy, deletion_policy(spec, cluster), body)
