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
from collections.abc import Callable

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

    def track(self, future: concurrent.futures.Future) -> asyncio.Future:
        """``asyncio.wrap_future`` that counts the future as pending until it is done."""
        key = id(future)
        with self._lock:
            self._started[key] = time.monotonic()
            if self._thread is None:
                self._thread = threading.Thread(target=self._watch, name="kto-pending", daemon=True)
                self._thread.start()
        future.add_done_callback(lambda _f: self._done(key))
        return asyncio.wrap_future(future)

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
