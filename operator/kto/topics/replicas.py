"""Replication-factor changes planned from what Kafka reports (pure: no I/O, no clock, no logging).

Nothing is kept between passes: each pass reads the topics and the cluster's ongoing reassignments back
from Kafka, and these functions decide, per partition, what to leave alone, start or re-target (a new
replica list from :func:`kto.placement.plan_replicas`) or cancel, what each topic's ``replicasChange``
status says, and which throttles can go. The caller does the I/O:

1. ``ongoing = list_reassignments()``;
2. ``load = describe_replica_load()`` only when :func:`needs_placement` says so;
3. ``plan = plan_reassignments(...)``; then (throttles first, when a rate is configured) alter the
   reassignments in ``plan.moves``, remove the throttled-replicas overrides of ``plan.finished_throttled``
   and, when ``plan.lift_broker_throttle``, the brokers' replication throttle.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from kto.api.domain import THROTTLED_REPLICAS, ObservedTopic, Reassignment
from kto.topics.placement import plan_replicas

PENDING = "Pending"
IN_PROGRESS = "InProgress"

# One topic's planned moves: partition -> new replica list, or None to cancel its ongoing reassignment.
TopicMoves = dict[int, tuple[int, ...] | None]


@dataclass(frozen=True)
class ReplicaProgress:
    """What ``status.replicasChange`` shows while a topic's replication factor changes."""

    target: int  # targetReplicas
    state: str  # PENDING or IN_PROGRESS
    message: str

    def as_status(self) -> dict[str, object]:
        """The ``status.replicasChange`` object, with the CRD's field names."""
        return {"targetReplicas": self.target, "state": self.state, "message": self.message}


@dataclass(frozen=True)
class ReassignmentPlan:
    """What one pass asks of Kafka, and what each topic's status says meanwhile."""

    # Topic -> partition -> new replica list (preferred leader first), or None = cancel the ongoing move.
    # Only topics with at least one move appear.
    moves: Mapping[str, Mapping[int, tuple[int, ...] | None]]
    # Every topic of the work: None when done (at the target, nothing moving), else its progress.
    progress: Mapping[str, ReplicaProgress | None]
    # Topics done that still carry throttled-replicas overrides (to remove), in the work's order.
    finished_throttled: tuple[str, ...]
    # Some topic finished, this plan moves nothing and nothing is ongoing anywhere on the cluster.
    lift_broker_throttle: bool


def _base(obs: ObservedTopic, ongoing: Mapping[int, Reassignment]) -> list[tuple[int, ...]]:
    """Each partition's replicas before any move: a moving partition's original set, else what Kafka has."""
    return [ongoing[p].original if p in ongoing else tuple(r) for p, r in enumerate(obs.replicas)]


def _cancels(target: int, ongoing: Mapping[int, Reassignment]) -> TopicMoves:
    """Ongoing moves to another size whose original set already has ``target`` replicas (the spec went back)."""
    return {p: None for p, og in ongoing.items() if len(og.target) != target and len(og.original) == target}


def _needing(target: int, base: Sequence[Sequence[int]], ongoing: Mapping[int, Reassignment]) -> list[int]:
    """Partitions not at ``target`` replicas whose ongoing move (if any) does not go to ``target`` replicas."""
    return [p for p, r in enumerate(base)
            if len(r) != target and not (p in ongoing and len(ongoing[p].target) == target)]


def needs_placement(work: Mapping[str, tuple[int, ObservedTopic | None]],
                    ongoing: Mapping[str, Mapping[int, Reassignment]]) -> bool:
    """True when some partition of a described topic needs a new replica list, so the caller must fetch the
    brokers' replica load before :func:`plan_reassignments`.

    ``work`` maps a Kafka topic to (target replication factor, what Kafka has, or None when not described);
    ``ongoing`` is every ongoing reassignment of the cluster, by topic and partition."""
    for topic, (target, obs) in work.items():
        if obs is None:
            continue
        moving = ongoing.get(topic, {})
        if _needing(target, _base(obs, moving), moving):
            return True
    return False


def _topic_moves(target: int, obs: ObservedTopic, ongoing: Mapping[int, Reassignment], brokers: Sequence[int],
                 racks: Mapping[int, str], load: Mapping[int, int] | None) -> TopicMoves:
    """One topic's cancels and new placements (the placement of every partition not at ``target`` is planned
    together, from the original sets, but only the partitions that need one are moved)."""
    moves = _cancels(target, ongoing)
    base = _base(obs, ongoing)
    need = _needing(target, base, ongoing)
    if need:
        placement = plan_replicas(base, target, brokers, racks, load)
        moves |= {p: tuple(placement[p]) for p in need if p in placement}
    return moves


def _progress(target: int, obs: ObservedTopic, ongoing: Mapping[int, Reassignment],
              moves: TopicMoves) -> ReplicaProgress | None:
    """None when the topic is done (nothing to move, nothing moving, every partition at ``target``), else its
    progress; a partition counts as moved when it has ``target`` replicas and no ongoing reassignment."""
    total = len(obs.replicas)
    moved = sum(1 for p, r in enumerate(obs.replicas) if p not in ongoing and len(r) == target)
    if not moves and not ongoing and moved == total:
        return None
    state = IN_PROGRESS if ongoing or moves else PENDING
    return ReplicaProgress(target, state, f"replication factor {obs.replication_factor} to {target}: "
                                          f"{moved} of {total} partitions moved")


def plan_reassignments(work: Mapping[str, tuple[int, ObservedTopic | None]],
                       ongoing: Mapping[str, Mapping[int, Reassignment]],
                       brokers: Sequence[int], racks: Mapping[int, str],
                       load: Mapping[int, int] | None) -> ReassignmentPlan:
    """Start, re-target or cancel reassignments so each topic of ``work`` reaches its replication factor.

    ``work`` maps a Kafka topic to (target replication factor, what Kafka has, or None when not described);
    ``ongoing`` is every ongoing reassignment of the whole cluster, by topic and partition; ``brokers`` and
    ``racks`` describe the cluster; ``load`` counts the replicas each broker holds (None: all brokers count
    as empty; fetch it when :func:`needs_placement` is true). Every topic gets the same ``load``: the
    placements planned for one topic do not weigh on the next.

    Raises ``ValueError`` (from ``plan_replicas``) when a topic needs a placement and its target is below 1
    or above the number of ``brokers``."""
    moves: dict[str, TopicMoves] = {}
    progress: dict[str, ReplicaProgress | None] = {}
    finished: list[str] = []
    for topic, (target, obs) in work.items():
        if obs is None:
            progress[topic] = ReplicaProgress(target, PENDING, f"waiting for topic {topic} to be described")
            continue
        moving = ongoing.get(topic, {})
        topic_moves = _topic_moves(target, obs, moving, brokers, racks, load)
        if topic_moves:
            moves[topic] = topic_moves
        progress[topic] = _progress(target, obs, moving, topic_moves)
        if progress[topic] is None and any(k in obs.overrides for k in THROTTLED_REPLICAS):
            finished.append(topic)
    return ReassignmentPlan(moves=moves, progress=progress, finished_throttled=tuple(finished),
                            lift_broker_throttle=bool(finished) and not moves and not ongoing)
