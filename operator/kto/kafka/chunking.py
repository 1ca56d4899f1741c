"""Batches cut to the brokers' per-request limits, and split when several of their items fail (no I/O of its own:
``send_in_chunks`` awaits the caller's ``send``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from kto.api.domain import KafkaFailure

# KRaft refuses an operation that writes more than 10,000 metadata records at once ("Excessively large number
# of partitions per request"): requests are cut so that none writes more than half of that, and hold at most
# 500 resources or 1,000 ACL bindings.
MAX_RECORDS, MAX_RESOURCES, MAX_BINDINGS = 5000, 500, 1000
MAX_GROUPS = 1000  # consumer groups per OffsetFetch (kto.ops.lag)

T = TypeVar("T")
Outcome = KafkaFailure | None


def chunked(items: Sequence[T], weight: Callable[[T], int], limit: int = MAX_RECORDS,
            max_items: int = MAX_RESOURCES) -> list[list[T]]:
    """Consecutive chunks of at most ``max_items`` items and ``limit`` total weight (an item heavier than the
    limit goes alone)."""
    chunks: list[list[T]] = []
    current: list[T] = []
    total = 0
    for item in items:
        w = weight(item)
        if current and (len(current) >= max_items or total + w > limit):
            chunks.append(current)
            current, total = [], 0
        current.append(item)
        total += w
    if current:
        chunks.append(current)
    return chunks


async def send_in_chunks(items: Sequence[T], weight: Callable[[T], int],
                         send: Callable[[list[T]], Awaitable[dict[str, Outcome]]], name: Callable[[T], str],
                         limit: int = MAX_RECORDS) -> dict[str, Outcome]:
    """Send ``items`` in chunks within the brokers' per-request limits. When several items of one request
    fail, they are sent again in halves until each failure stands alone: a request that fails as a whole
    (one resource too large, a policy on the batch) never fails the resources next to the one at fault."""
    out: dict[str, Outcome] = {}
    pending = chunked(items, weight, limit)
    while pending:
        chunk = pending.pop()
        result = await send(chunk)
        out |= result
        failed = [i for i in chunk if result.get(name(i)) is not None]
        if len(chunk) > 1 and len(failed) > 1:
            half = len(failed) // 2
            pending += [failed[:half], failed[half:]]
    return out
