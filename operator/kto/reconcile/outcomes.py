"""What the reconciler decides about one resource, as typed values (never string tags or tuples).

A gate (``kto.reconcile.gates``) turns what was gathered about a resource into a ``Decision``; a kind's ``act`` turns
the decisions that need Kafka into a ``Verdict`` or a ``Release``; the reconciler writes them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Literal, TypedDict

from kto.api.reasons import EventReason, Reason


class AfterBackoff(Enum):
    """Retry after the resource's next exponential backoff delay (``Verdict.retry``)."""

    BACKOFF = "backoff"


BACKOFF = AfterBackoff.BACKOFF
Retry = float | AfterBackoff | None  # seconds, the resource's backoff, or no retry


class StatusFields(TypedDict, total=False):
    """A kind's own status fields a verdict sets, with the CRD's names (``api.models.KafkaTopicStatus`` and
    ``KafkaUserStatus``); None clears a field. The engine writes them as given."""

    # KafkaTopic
    topicId: str | None
    partitions: int | None
    replicationFactor: int | None
    replicasChange: dict[str, object] | None
    desiredHash: str | None
    # KafkaUser
    secretName: str | None
    acls: int | None
    quotas: list[dict[str, object]] | None
    # both
    adopted: bool | None
    ownership: str | None  # Created or Adopted (api.objects.CREATED, ADOPTED)


@dataclass(frozen=True)
class Note:
    """A Kubernetes Event to post about the resource."""

    type: Literal["Normal", "Warning"]
    reason: Reason | EventReason
    message: str


@dataclass(frozen=True)
class ExtraCondition:
    """A condition besides Ready that the kind sets (e.g. a KafkaTopic's InPolicy)."""

    type: str
    status: bool
    reason: str
    message: str


@dataclass(frozen=True)
class Verdict:
    """The outcome for one resource of one batch: its Ready condition, the kind's status fields, what to say.

    ``status`` holds the kind's own status fields (topicId, replicasChange, acls, ...); with ``keep`` the
    fields the resource already shows are kept under them. ``retry`` asks for another look (seconds, or
    ``BACKOFF``); a permanent reason without retry waits for the spec or the cluster to change."""

    ready: bool | None
    reason: Reason
    message: str
    status: StatusFields = field(default_factory=lambda: StatusFields())
    keep: bool = False
    retry: Retry = None
    drift: str | None = None  # an out-of-band change kto corrected, for status and metrics
    applied: str | None = None  # a change the KafkaCluster asked for (its topicDefaults), applied: for metrics
    notes: tuple[Note, ...] = ()
    silent: bool = False  # nothing to report yet: retry without writing status
    conditions: tuple[ExtraCondition, ...] = ()  # besides Ready; one the verdict does not name is kept


# The resource's finalizer could not be added (it changed or is gone): nothing was written, look again.
FINALIZER_PENDING = Verdict(False, Reason.KAFKA_ERROR, "waiting to add kto's finalizer", retry=BACKOFF, silent=True)


# --- Decisions of the gate ----------------------------------------------------------------------------


# Nothing to do now (not ours, or the cluster has not been probed yet: its probe enqueues everything).
@dataclass(frozen=True)
class Skip:
    pass


# Write this verdict; Kafka is not touched.
@dataclass(frozen=True)
class Report:
    verdict: Verdict


# Refused now, applied before (a grant was narrowed): the kind removes what is refused, then reports the verdict.
@dataclass(frozen=True)
class Revoke:
    verdict: Verdict


# Remove kto's finalizer without touching Kafka, posting ``note`` first if there is one; ``detail`` is logged
# with the release (what kto did in Kafka, for a resource about to vanish: no Event, one API write fewer).
@dataclass(frozen=True)
class Release:
    note: Note | None = None
    detail: str | None = None


# Delete what the resource made in Kafka, then release it.
@dataclass(frozen=True)
class Delete:
    pass


# Compare with Kafka and report; never write to Kafka (observe-only).
@dataclass(frozen=True)
class Observe:
    pass


# Make Kafka match the spec.
@dataclass(frozen=True)
class Converge:
    pass


Decision = Skip | Report | Revoke | Release | Delete | Observe | Converge
Outcome = Verdict | Release  # what acting on a resource ends in
