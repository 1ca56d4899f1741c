"""Replication-factor change planning: what to start, re-target, cancel or leave alone, and what status says."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from kto.api.domain import ObservedTopic, Reassignment
from kto.topics.replicas import ReassignmentPlan, ReplicaProgress, needs_placement, plan_reassignments

BROKERS = (1, 2, 3)
LEADER_THROTTLED = {"leader.replication.throttled.replicas": "*"}
FOLLOWER_THROTTLED = {"follower.replication.throttled.replicas": "*"}


def moving(original: tuple[int, ...], target: tuple[int, ...]) -> Reassignment:
    """An ongoing reassignment as Kafka reports it: the target set, then the original replicas leaving."""
    removing = tuple(b for b in original if b not in target)
    return Reassignment(replicas=target + removing, adding=tuple(b for b in target if b not in original),
                        removing=removing)


def described(*partitions: tuple[int, ...] | Reassignment, name: str = "t",
              overrides: Mapping[str, str] | None = None) -> ObservedTopic:
    """A topic as Kafka describes it; a moving partition shows its full replica set (target + removing)."""
    replicas = tuple(p.replicas if isinstance(p, Reassignment) else p for p in partitions)
    return ObservedTopic(name=name, topic_id=None, partitions=len(replicas),
                         replication_factor=min((len(r) for r in replicas), default=0),
                         overrides=overrides or {}, replicas=replicas)


def in_progress(target: int, current: int, moved: int, total: int) -> ReplicaProgress:
    return ReplicaProgress(target, "InProgress",
                           f"replication factor {current} to {target}: {moved} of {total} partitions moved")


ONE_TO_THREE = moving((1,), (1, 2, 3))


@pytest.mark.parametrize(("work", "ongoing", "load", "moves", "progress"), [
    pytest.param({"t": (3, described((1,), (2,), (3,)))}, {}, None,
                 {"t": {0: (1, 2, 3), 1: (2, 1, 3), 2: (3, 1, 2)}},
                 {"t": in_progress(3, 1, 0, 3)}, id="start 1 to 3"),
    pytest.param({"t": (2, described((1,), (2,)))}, {}, {1: 0, 2: 10, 3: 0},
                 {"t": {0: (1, 3), 1: (2, 1)}},
                 {"t": in_progress(2, 1, 0, 2)}, id="start 1 to 2: the loaded broker gets the fewest"),
    pytest.param({"t": (2, described((2, 1, 3), (3, 2, 1), (1, 3, 2)))}, {}, {1: 5, 2: 0, 3: 0},
                 {"t": {0: (2, 3), 1: (3, 2), 2: (1, 2)}},
                 {"t": in_progress(2, 3, 0, 3)}, id="shrink 3 to 2 keeps the preferred leaders"),
    pytest.param({"t": (3, described(ONE_TO_THREE, (2, 3, 1)))}, {"t": {0: ONE_TO_THREE}}, None,
                 {},
                 {"t": in_progress(3, 3, 1, 2)}, id="a partition already moving to the target is left alone"),
    pytest.param({"t": (3, described(ONE_TO_THREE, (2,)))}, {"t": {0: ONE_TO_THREE}}, None,
                 # Partition 0's placement (1, 2, 3) is planned too (from its original set) but not sent.
                 {"t": {1: (2, 1, 3)}},
                 {"t": in_progress(3, 1, 0, 2)}, id="only the partition not yet moving gets a placement"),
    pytest.param({"t": (2, described(ONE_TO_THREE))}, {"t": {0: ONE_TO_THREE}}, None,
                 {"t": {0: (1, 2)}},
                 {"t": in_progress(2, 3, 0, 1)}, id="re-target: a move to another size is placed again"),
    pytest.param({"t": (1, described(ONE_TO_THREE, (2,)))}, {"t": {0: ONE_TO_THREE}}, None,
                 {"t": {0: None}},
                 {"t": in_progress(1, 1, 1, 2)}, id="cancel: the spec went back to the original size"),
    pytest.param({"t": (2, described(moving((1, 2), (1, 2, 3)), (3,)))}, {"t": {0: moving((1, 2), (1, 2, 3))}},
                 None,
                 {"t": {0: None, 1: (3, 1)}},
                 {"t": in_progress(2, 1, 0, 2)}, id="cancel one partition and place another"),
    pytest.param({"t": (3, None)}, {}, None,
                 {},
                 {"t": ReplicaProgress(3, "Pending", "waiting for topic t to be described")},
                 id="topic not described"),
    pytest.param({"t": (2, described((1, 2), (2, 3)))}, {}, None,
                 {},
                 {"t": None}, id="all done"),
    pytest.param({"a": (2, described((1, 2), name="a")), "b": (2, described((3,), name="b")),
                  "c": (1, None)}, {}, None,
                 {"b": {0: (3, 1)}},
                 {"a": None, "b": in_progress(2, 1, 0, 1),
                  "c": ReplicaProgress(1, "Pending", "waiting for topic c to be described")},
                 id="several topics: only the ones to move are in moves"),
])
def test_plan(work: dict, ongoing: dict, load: dict | None, moves: dict, progress: dict) -> None:
    plan = plan_reassignments(work, ongoing, BROKERS, {}, load)
    assert plan.moves == moves
    assert plan.progress == progress


def test_plan_is_rack_aware() -> None:
    racks = {1: "a", 2: "a", 3: "b"}
    plan = plan_reassignments({"t": (2, described((1,)))}, {}, BROKERS, racks, None)
    assert plan.moves == {"t": {0: (1, 3)}}


@pytest.mark.parametrize(("work", "ongoing", "finished", "lift"), [
    pytest.param({"t": (2, described((1, 2), overrides=LEADER_THROTTLED))}, {},
                 ("t",), True, id="done with leader throttle overrides: remove them and lift the brokers' throttle"),
    pytest.param({"t": (2, described((1, 2), overrides=FOLLOWER_THROTTLED))}, {},
                 ("t",), True, id="done with follower throttle overrides"),
    pytest.param({"t": (2, described((1, 2), overrides={"retention.ms": "1000"}))}, {},
                 (), False, id="done without throttle overrides: nothing finished, throttle kept"),
    pytest.param({"t": (2, described((1, 2), overrides=LEADER_THROTTLED))},
                 {"other": {0: ONE_TO_THREE}},
                 ("t",), False, id="another topic still moving elsewhere on the cluster keeps the throttle"),
    pytest.param({"t": (2, described((1, 2), overrides=LEADER_THROTTLED)), "u": (2, described((1,), name="u"))},
                 {},
                 ("t",), False, id="another topic of the work starts moving: throttle kept"),
    pytest.param({"t": (3, described(ONE_TO_THREE, overrides=LEADER_THROTTLED))}, {"t": {0: ONE_TO_THREE}},
                 (), False, id="still moving with throttle overrides: not finished"),
    pytest.param({"t": (2, described((1, 2), overrides=LEADER_THROTTLED)), "u": (3, None)}, {},
                 ("t",), True, id="a topic not described does not keep the throttle"),
])
def test_throttles(work: dict, ongoing: dict, finished: tuple[str, ...], lift: bool) -> None:
    plan = plan_reassignments(work, ongoing, BROKERS, {}, None)
    assert plan.finished_throttled == finished
    assert plan.lift_broker_throttle is lift


def test_whole_plan_of_a_finished_throttled_topic() -> None:
    plan = plan_reassignments({"t": (2, described((1, 2), overrides=LEADER_THROTTLED))}, {}, BROKERS, {}, None)
    assert plan == ReassignmentPlan(moves={}, progress={"t": None}, finished_throttled=("t",),
                                    lift_broker_throttle=True)


@pytest.mark.parametrize(("work", "ongoing", "expected"), [
    pytest.param({"t": (3, described((1,)))}, {}, True, id="a partition to grow"),
    pytest.param({"t": (1, described((1, 2)))}, {}, True, id="a partition to shrink"),
    pytest.param({"t": (2, described(ONE_TO_THREE))}, {"t": {0: ONE_TO_THREE}}, True, id="re-target"),
    pytest.param({"t": (2, described((1, 2)))}, {}, False, id="all at the target"),
    pytest.param({"t": (3, None)}, {}, False, id="topic not described"),
    pytest.param({"t": (3, described(ONE_TO_THREE))}, {"t": {0: ONE_TO_THREE}}, False,
                 id="already moving to the target"),
    pytest.param({"t": (1, described(ONE_TO_THREE))}, {"t": {0: ONE_TO_THREE}}, False, id="only a cancel"),
    pytest.param({"t": (3, described((1, 2, 3)))}, {"other": {0: ONE_TO_THREE}}, False,
                 id="another topic moving"),
    pytest.param({"t": (3, described((1, 2, 3))), "u": (3, described((1,), name="u"))}, {}, True,
                 id="one topic of several"),
])
def test_needs_placement(work: dict, ongoing: dict, expected: bool) -> None:
    assert needs_placement(work, ongoing) is expected


def test_impossible_factor_is_refused_by_placement() -> None:
    with pytest.raises(ValueError, match="replication factor 4 is not possible with 3 broker"):
        plan_reassignments({"t": (4, described((1,)))}, {}, BROKERS, {}, None)


def test_progress_as_status() -> None:
    assert in_progress(3, 1, 4, 12).as_status() == {
        "targetReplicas": 3, "state": "InProgress", "message": "replication factor 1 to 3: 4 of 12 partitions moved"}
