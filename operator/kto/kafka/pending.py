"""Admin requests in flight, and librdkafka's idea of the controller kept fresh while they wait.

librdkafka sends most admin requests (CreateTopics, DescribeTopics, DescribeCluster, ...) to the broker its last
Metadata response named as controller. Under KRaft that is a random live broker, and librdkafka learns of another
only from new metadata. When that broker dies, a waiting request keeps asking the dead broker's thread to
connect, which bypasses the reconnect backoff: a tight loop of refused connects between two librdkafka threads
(16 to 35 CPU seconds in 20 to 30 s, docs/reliability.md) until the request times out, while two brokers could
have served it. A Metadata request for one topic goes to any live broker and names a live controller, which ends
the loop; so while a request has waited longer than ``after`` seconds, one is sent every ``after`` seconds.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

log = logging.getLogger(__name__)


class PendingRequests:
    """Tracks librdkafka futures; a thread, alive only while some are pending, calls ``refresh`` while the oldest
    has waited longer than ``after`` seconds."""

    def __init__(self, refresh: Callable[[], object], after: float = 1.0):
        self._refresh = refresh
        self._after = after
        self._lock = threading.Lock()
        self._started: dict[int, float] = {}
        self._thread: threading.Thread | None = None
        self.refreshes = 0  # metadata refreshes sent, for tests and logs

    def track(self, future: concurrent.futures.Future[Any]) -> asyncio.Future[Any]:
        """``asyncio.wrap_future`` that counts the future as pending until it is done."""
        key = id(future)
        self._begin(key)
        future.add_done_callback(lambda _f: self._done(key))
        return asyncio.wrap_future(future)

    async def gather(self, futures: Sequence[concurrent.futures.Future[Any]]) -> list[Any]:
        """Each future's result, or the exception it raised, in order, once all are done. One request's futures
        (one per topic of a DescribeConfigs, say) are counted as one pending request and wake the event loop
        once: wrapping each in an asyncio future cost a fifth of kto's CPU per resync of 10,000 topics."""
        if not futures:
            return []
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        key = id(done)
        left = [len(futures)]
        lock = threading.Lock()

        def finished(_f: concurrent.futures.Future[Any]) -> None:
            with lock:
                left[0] -= 1
                if left[0]:
                    return
            self._done(key)
            loop.call_soon_threadsafe(_resolve, done)

        self._begin(key)
        for f in futures:
            f.add_done_callback(finished)
        try:
            await done
        finally:
            self._done(key)
        return [_outcome(f) for f in futures]

    def _begin(self, key: int) -> None:
        """Count a request as pending from now; start the watching thread if none runs."""
        with self._lock:
            self._started[key] = time.monotonic()
            if self._thread is None:
                self._thread = threading.Thread(target=self._watch, name="kto-pending", daemon=True)
                self._thread.start()

    def _done(self, key: int) -> None:
        with self._lock:
            self._started.pop(key, None)

    def oldest_wait(self) -> float:
        with self._lock:
            return time.monotonic() - min(self._started.values()) if self._started else 0.0

    def _watch(self) -> None:
        while True:
            time.sleep(self._after)
            with self._lock:
                if not self._started:
                    self._thread = None
                    return
            if self.oldest_wait() >= self._after:
                self.refreshes += 1
                try:
                    self._refresh()
                except Exception as exc:  # noqa: BLE001 - best effort: the request itself reports the failure
                    log.debug("Refreshing metadata while requests wait failed: %s", exc)


def _resolve(done: asyncio.Future[None]) -> None:
    if not done.done():
        done.set_result(None)


def _outcome(future: concurrent.futures.Future[Any]) -> Any:
    try:
        return future.result(timeout=0)
    except BaseException as exc:  # noqa: BLE001 - handed to the caller, as asyncio.gather(return_exceptions=True)
        return exc
