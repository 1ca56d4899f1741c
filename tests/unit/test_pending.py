"""kto.pending: metadata is refreshed while a librdkafka request waits, and only then."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading

import pytest
from kto.kafka.pending import PendingRequests


async def test_a_waiting_request_refreshes_metadata_until_it_is_done() -> None:
    refreshed = threading.Event()
    pending = PendingRequests(refreshed.set, after=0.05)
    future: concurrent.futures.Future = concurrent.futures.Future()
    waiter = pending.track(future)
    assert await asyncio.to_thread(refreshed.wait, 5), "no refresh while the request waited"
    future.set_result("done")
    assert await waiter == "done"
    assert pending.oldest_wait() == 0.0
    # Nothing pending: the watching thread ends and no refresh follows.
    count = pending.refreshes
    for _ in range(100):
        if pending._thread is None:
            break
        await asyncio.sleep(0.02)
    assert pending._thread is None
    assert pending.refreshes == count


async def test_a_request_done_quickly_refreshes_nothing_and_failures_are_kept() -> None:
    calls = []
    pending = PendingRequests(lambda: calls.append(1), after=10)
    future: concurrent.futures.Future = concurrent.futures.Future()
    waiter = pending.track(future)
    future.set_exception(RuntimeError("broker gone"))
    with pytest.raises(RuntimeError, match="broker gone"):
        await waiter
    assert calls == [] and pending.oldest_wait() == 0.0


async def test_a_failing_refresh_is_not_fatal() -> None:
    def refresh():
        raise RuntimeError("all brokers down")
    pending = PendingRequests(refresh, after=0.02)
    future: concurrent.futures.Future = concurrent.futures.Future()
    waiter = pending.track(future)
    for _ in range(200):
        if pending.refreshes >= 2:
            break
        await asyncio.sleep(0.01)
    assert pending.refreshes >= 2
    future.set_result(1)
    assert await waiter == 1


async def test_gather_gives_every_result_or_failure_in_order_and_refreshes_while_waiting() -> None:
    refreshed = threading.Event()
    pending = PendingRequests(refreshed.set, after=0.05)
    futures = [concurrent.futures.Future() for _ in range(3)]
    futures[0].set_result("already done")  # a future done before it is gathered counts too
    waiter = asyncio.ensure_future(pending.gather(futures))
    await asyncio.sleep(0)
    assert await asyncio.to_thread(refreshed.wait, 5), "no refresh while the request waited"
    assert not waiter.done()
    failure = RuntimeError("topic authorization failed")
    # Completed from another thread, as librdkafka's background thread does.
    await asyncio.to_thread(lambda: (futures[2].set_exception(failure), futures[1].set_result("b")))
    assert await asyncio.wait_for(waiter, 5) == ["already done", "b", failure]
    assert pending.oldest_wait() == 0.0
    assert await pending.gather([]) == []
