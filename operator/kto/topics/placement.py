"""Replica placement for a replication-factor change (pure).

Growing: keep the replicas a partition has, add the brokers that hold the fewest replicas across the
cluster (preferring racks the partition does not use yet), and spread the topic's preferred leaders.
Shrinking: drop replicas from the most loaded brokers (and doubled racks first), never the preferred leader
while another replica can go.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence


def plan_replicas(
    current: Sequence[Sequence[int]],
    target: int,
    brokers: Sequence[int],
    racks: Mapping[int, str | None] | None = None,
    load: Mapping[int, int] | None = None,
) -> dict[int, list[int]]:
    """New replica lists, by partition, for the partitions whose replica count is not ``target``.

    ``current`` lists each partition's replicas (preferred leader first); ``load`` counts the replicas
    each broker holds across the whole cluster; ``racks`` maps broker ids to their rack, if any.
    """
    if target < 1 or target > len(brokers):
        raise ValueError(f"replication factor {target} is not possible with {len(brokers)} broker(s)")
    racks = racks or {}
    counts = Counter({b: 0 for b in brokers})
    counts.update({b: n for b, n in (load or {}).items() if b in counts})
    leaders = Counter({b: 0 for b in brokers})
    leaders.update(r[0] for r in current if r)
    fair_leaders = -(-len(current) // len(brokers))  # ceil(partitions / brokers)
    out: dict[int, list[int]] = {}
    for partition, replicas in enumerate(current):
        if len(replicas) < target:
            out[partition] = _spread_leader(_grow(list(replicas), target, brokers, racks, counts), leaders, counts,
                                            fair_leaders)
        elif len(replicas) > target:
            out[partition] = _shrink(list(replicas), target, racks, counts)
    return out


def _spread_leader(new: list[int], leaders: Counter[int], counts: Counter[int], fair_leaders: int) -> list[int]:
    """A grown replica list whose preferred leader leads more than its share: the least-leading replica of the
    new set leads instead, when that evens the leaders out (``leaders`` is updated)."""
    leader = new[0]
    if leaders[leader] <= fair_leaders:
        return new
    candidate = min(new, key=lambda b: (leaders[b], counts[b], b))
    if leaders[candidate] + 1 < leaders[leader]:
        new.remove(candidate)
        new.insert(0, candidate)
        leaders[leader] -= 1
        leaders[candidate] += 1
    return new


def _grow(replicas: list[int], target: int, brokers: Sequence[int], racks: Mapping[int, str | None],
          counts: Counter[int]) -> list[int]:
    new = list(replicas)
    while len(new) < target:
        used_racks = {racks.get(b) for b in new if racks.get(b)}
        candidates = [b for b in brokers if b not in new]
        pick = min(candidates, key=lambda b: (bool(racks.get(b)) and racks.get(b) in used_racks, counts[b], b))
        new.append(pick)
        counts[pick] += 1
    return new


def _shrink(replicas: list[int], target: int, racks: Mapping[int, str | None], counts: Counter[int]) -> list[int]:
    new = list(replicas)
    while len(new) > target:
        droppable = new[1:] if len(new) > 1 else new
        rack_counts = Counter(racks.get(b) for b in new if racks.get(b))
        pick = max(droppable, key=lambda b: (rack_counts[racks.get(b)] > 1 if racks.get(b) else False,
                                             counts[b], b))
        new.remove(pick)
        counts[pick] -= 1
    return new
