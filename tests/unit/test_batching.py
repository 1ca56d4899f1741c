from __future__ import annotations

import asyncio

from kto.reconcile.batching import Backoff, BatchQueue


async def test_keys_arriving_within_the_window_share_a_batch_and_are_deduplicated() -> None:
    batches: list[list[str]] = []
    done = asyncio.Event()

    async def process(keys):
        batches.append(keys)
        done.set()
        return {}

    q = BatchQueue("t", process, window=0.05)
    q.start()
    for k in ["a", "b", "a", "c"]:
        q.enqueue(k)
    await asyncio.wait_for(done.wait(), 5)
    await q.stop()
    assert batches == [["a", "b", "c"]]


async def test_retries_come_back_after_their_delay_and_batches_are_capped() -> None:
    seen: list[list[str]] = []
    finished = asyncio.Event()

    async def process(keys):
        seen.append(keys)
        if len(seen) == 1:
            return {"x": 0.05}
        if "x" in keys:
            finished.set()
        return {}

    q = BatchQueue("t", process, window=0.01, max_batch=2)
    q.start()
    for k in ["x", "y", "z"]:
        q.enqueue(k)
    await asyncio.wait_for(finished.wait(), 5)
    await q.stop()
    assert seen[0] == ["x", "y"]
    assert ["z"] in seen or ["z", "x"] in seen or ["x", "z"] in seen
    assert sum(k == "x" for batch in seen for k in batch) == 2


async def test_a_failing_processor_does_not_kill_the_queue() -> None:
    calls = 0
    recovered = asyncio.Event()

    async def process(keys):
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("boom")
        recovered.set()
        return {}

    q = BatchQueue("t", process, window=0.01)
    q.start()
    q.enqueue("k")
    q.enqueue("other", delay=0.1)
    await asyncio.wait_for(recovered.wait(), 5)
    await q.stop()


def test_backoff_doubles_up_to_a_cap_and_resets() -> None:
    b = Backoff(base=1, cap=5)
    assert [b.next("k") for _ in range(5)] == [1, 2, 4, 5, 5]
    b.reset("k")
    assert b.next("k") == 1
