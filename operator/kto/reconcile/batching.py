"""A per-cluster work queue that gathers keys over a short window and hands them over as one batch.

Keys are deduplicated; a key can be scheduled for later (backoff). One batch runs at a time per queue, so
two reconciles of the same topic never overlap. Retries with exponential backoff are decided by the
processor's return value: a delay in seconds per key, or nothing.

A queue with ``labels`` (kind, cluster) shows in kto's metrics: its depth and the age of its oldest work on
scrape (``metrics.QUEUES``), its retries and failed batches as they happen.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

from kto.telemetry import metrics

log = logging.getLogger("kto.reconcile.batching")

K = TypeVar("K", bound=Hashable)
Processor = Callable[[list[K]], Awaitable[dict[K, float]]]


class BatchQueue(Generic[K]):
    def __init__(self, name: str, process: Processor[K], window: float = 0.1, max_batch: int = 1000,
                 labels: tuple[str, str] | None = None):
        self.name = name
        self.labels = labels
        self._process = process
        self.window = window
        self.max_batch = max_batch
        self._due: dict[K, float] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.busy_since: float | None = None  # monotonic time the running batch started, if one runs

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"batch-{self.name}")
            metrics.QUEUES.add(self)

    async def stop(self) -> None:
        metrics.QUEUES.discard(self)
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    def enqueue(self, key: K, delay: float = 0.0) -> None:
        """Schedule ``key``; an earlier schedule wins over a later one."""
        due = time.monotonic() + delay
        if key not in self._due or due < self._due[key]:
            self._due[key] = due
            self._wake.set()

    def depth(self) -> int:
        """Keys waiting, due now or later."""
        return len(self._due)

    def oldest_age(self, now: float) -> float:
        """Seconds the oldest work has waited: the running batch since it started, or a key since it was due.
        Called from the metrics server's thread while the event loop may change the queue."""
        try:
            oldest = min(self._due.values(), default=now)
        except RuntimeError:  # the dict changed during the read: this scrape shows the running batch only
            oldest = now
        if self.busy_since is not None:
            oldest = min(oldest, self.busy_since)
        return max(0.0, now - oldest)

    async def _run(self) -> None:
        while True:
            await self._wait_for_due()
            # Gather what arrives during the window into the same batch.
            await asyncio.sleep(self.window)
            now = time.monotonic()
            ready = sorted((k for k, due in self._due.items() if due <= now), key=self._due.__getitem__)
            batch = ready[: self.max_batch]
            for key in batch:
                del self._due[key]
            if not batch:
                continue
            self.busy_since = time.monotonic()
            try:
                retries = await self._process(batch)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("Batch failed queue=%s size=%d; retrying in about 5s", self.name, len(batch))
                retries = {key: random.uniform(4.0, 6.0) for key in batch}
                if self.labels is not None:
                    metrics.ERRORS.labels(*self.labels, metrics.BATCH_FAILED).inc(len(batch))
            finally:
                self.busy_since = None
            if retries and self.labels is not None:
                metrics.RETRIES.labels(*self.labels).inc(len(retries))
            for key, delay in retries.items():
                self.enqueue(key, delay)

    async def _wait_for_due(self) -> None:
        while True:
            self._wake.clear()
            if self._due:
                wait = min(self._due.values()) - time.monotonic()
                if wait <= 0:
                    return
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=wait)
                except TimeoutError:
                    return
            else:
                await self._wake.wait()


class Backoff:
    """Exponential backoff per key: 1s, 2s, 4s ... up to ``cap``; reset on success. With ``jitter`` (a
    fraction), each delay is spread by up to that much either way, so many resources failing together do
    not come back together."""

    def __init__(self, base: float = 1.0, cap: float = 300.0, jitter: float = 0.0):
        self.base, self.cap, self.jitter = base, cap, jitter
        self._attempts: dict[Hashable, int] = {}

    def next(self, key: Hashable) -> float:
        n = self._attempts.get(key, 0)
        self._attempts[key] = n + 1
        delay = min(self.cap, self.base * (2 ** n))
        return float(delay * random.uniform(1 - self.jitter, 1 + self.jitter)) if self.jitter else float(delay)

    def reset(self, key: Hashable) -> None:
        self._attempts.pop(key, None)
