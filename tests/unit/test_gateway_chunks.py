"""Requests stay within the brokers' per-request limits, and one bad resource never fails its neighbours."""

from __future__ import annotations

import pytest
from kto.api.domain import KafkaFailure
from kto.api.reasons import Reason
from kto.kafka.chunking import MAX_RECORDS, chunked, send_in_chunks


@pytest.mark.parametrize(("weights", "limit", "max_items", "expected"), [
    ([1, 1, 1], 10, 500, [[1, 1, 1]]),
    ([4, 4, 4], 10, 500, [[4, 4], [4]]),             # the third would pass the limit
    ([20, 1, 1], 10, 500, [[20], [1, 1]]),            # heavier than the limit: alone
    ([1] * 5, 100, 2, [[1, 1], [1, 1], [1]]),         # at most max_items
    ([], 10, 500, []),
])
def test_chunks_respect_weight_and_count(weights, limit, max_items, expected) -> None:
    assert chunked(weights, lambda w: w, limit, max_items) == expected


def test_twenty_topics_of_600_partitions_are_never_sent_together() -> None:
    chunks = chunked([600] * 20, lambda w: w + 1)
    assert all(sum(c) + len(c) <= MAX_RECORDS for c in chunks) and sum(map(len, chunks)) == 20


async def test_a_request_failing_as_a_whole_is_split_until_the_bad_item_is_alone() -> None:
    sent: list[list[str]] = []

    async def send(chunk: list[str]) -> dict[str, KafkaFailure | None]:
        # Like KRaft with one oversized topic: the whole request is refused, every topic with the same error.
        sent.append(chunk)
        failure = KafkaFailure(Reason.KAFKA_ERROR, "Excessively large number of partitions per request", False)
        return dict.fromkeys(chunk, failure if "huge" in chunk else None)

    names = [f"t{i}" for i in range(20)] + ["huge"]
    out = await send_in_chunks(names, lambda _: 1, send, lambda n: n)
    assert [n for n, f in out.items() if f is not None] == ["huge"]
    assert all(out[n] is None for n in names if n != "huge")
    assert len(sent) <= 2 * 6  # halving: a handful of requests, not one per topic
