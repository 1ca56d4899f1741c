"""Replica placement for replication-factor changes."""

from __future__ import annotations

from collections import Counter

import pytest
from kto.topics.placement import plan_replicas


def test_growing_keeps_existing_replicas_and_adds_the_least_loaded_brokers() -> None:
    current = [[1], [1], [2], [3]]
    # Broker 3 is busy elsewhere in the cluster.
    out = plan_replicas(current, 2, [1, 2, 3], load={1: 2, 2: 1, 3: 10})
    for p, replicas in out.items():
        assert len(replicas) == 2 and len(set(replicas)) == 2
        assert set(current[p]) <= set(replicas)
    added = Counter(b for p, r in out.items() for b in r if b not in current[p])
    assert added[3] <= 1  # the loaded broker gets the least


def test_one_to_three_on_three_brokers_uses_every_broker() -> None:
    out = plan_replicas([[1]] * 12, 3, [1, 2, 3])
    assert all(sorted(r) == [1, 2, 3] for r in out.values())
    # Leaders were all on broker 1: they get spread.
    leaders = Counter(r[0] for r in out.values())
    assert max(leaders.values()) - min(leaders.values()) <= 1, leaders


def test_leaders_stay_when_already_spread() -> None:
    current = [[1], [2], [3]]
    out = plan_replicas(current, 2, [1, 2, 3])
    assert [out[p][0] for p in range(3)] == [1, 2, 3]


def test_rack_awareness_prefers_a_new_rack() -> None:
    racks = {1: "a", 2: "a", 3: "b", 4: "b"}
    out = plan_replicas([[1], [3]], 2, [1, 2, 3, 4], racks=racks)
    assert racks[out[0][1]] == "b"
    assert racks[out[1][1]] == "a"


def test_shrinking_keeps_the_preferred_leader() -> None:
    current = [[2, 1, 3], [3, 2, 1], [1, 3, 2]]
    out = plan_replicas(current, 2, [1, 2, 3], load={1: 5, 2: 0, 3: 0})
    for p, replicas in out.items():
        assert replicas[0] == current[p][0]
        assert len(replicas) == 2
    # The most loaded broker loses replicas first (where it is not the leader).
    assert 1 not in out[0] and 1 not in out[1]


def test_shrinking_to_one_keeps_only_the_leader() -> None:
    assert plan_replicas([[3, 1, 2]], 1, [1, 2, 3]) == {0: [3]}


def test_partitions_already_at_target_are_left_alone() -> None:
    assert plan_replicas([[1, 2], [2]], 2, [1, 2]) == {1: [2, 1]}


def test_impossible_factor_is_refused() -> None:
    with pytest.raises(ValueError, match="replication factor 4 is not possible with 3 broker"):
        plan_replicas([[1]], 4, [1, 2, 3])
