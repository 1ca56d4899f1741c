"""kto.gcpolicy: when the collector is settled again, and that settling collects cycles and freezes the rest."""

from __future__ import annotations

import gc
import weakref

import pytest
from kto.ops import gcpolicy


@pytest.mark.parametrize(("size", "settled", "since", "due"), [
    (0, 0, 0.0, False),
    (100, 0, 10.0, False),  # small changes wait for the interval
    (101, 0, 10.0, True),
    (10_000, 0, 10.0, True),  # 10,000 topics arrived
    (12_600, 10_000, 10.0, False),
    (12_601, 10_000, 10.0, True),
    (7_399, 10_000, 10.0, True),  # a quarter deleted
    (10_000, 10_000, gcpolicy.INTERVAL_SECONDS, True),
])
def test_due(size: int, settled: int, since: float, due: bool) -> None:
    assert gcpolicy.due(size, settled, since) is due


def test_settle_collects_cycles_and_freezes_the_survivors() -> None:
    class Node:
        pass

    try:
        a, b = Node(), Node()
        a.other, b.other = b, a  # a cycle only the collector frees
        gone = weakref.ref(a)
        gc.freeze()
        alive = gc.get_freeze_count()
        del a, b
        gc.collect()
        assert gone() is not None  # frozen: the collector skips it
        gcpolicy.settle()  # unfreezes first: the cycle, dead since, is collected
        assert gone() is None
        assert gc.get_freeze_count() > 0
        assert gc.get_freeze_count() < alive + 1000
    finally:
        gc.unfreeze()
