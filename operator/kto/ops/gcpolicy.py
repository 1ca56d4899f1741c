"""Python's cyclic garbage collector against a big, long-lived store.

A full collection walks every tracked object: at 10,000 topics kto holds a few million (the store, kopf's memory
of each object, the metrics), and each resync allocates several hundred thousand short-lived ones (one Python
object per config entry of DescribeConfigs), which survive the young generations while the batch runs and so
trigger a full collection about once per resync. ``gc.freeze`` moves the objects alive now to a permanent
generation that collections skip; kto freezes after startup and, every ``interval`` seconds or sooner when the
number of resources it holds has changed by a quarter, unfreezes, collects everything once (so nothing that became
cyclic garbage meanwhile is kept) and freezes again.
"""

from __future__ import annotations

import asyncio
import ctypes
import functools
import gc
import logging
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

INTERVAL_SECONDS = 600.0
M_ARENA_MAX = -8  # mallopt's parameter, from glibc's malloc.h


def settle() -> float:
    """Collect everything, then freeze what is left, and hand free memory back to the system; the CPU seconds
    it took."""
    started = time.process_time()
    gc.unfreeze()
    gc.collect()
    gc.freeze()
    _trim()
    return time.process_time() - started


@functools.cache
def _libc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc (macOS, musl): nothing to tune
        return None


def limit_arenas(arenas: int = 2) -> None:
    """glibc gives each thread that allocates its own malloc arena (up to 8 per core); kto's threads (the
    Kubernetes client's pool, librdkafka's) each keep freed memory in theirs. Called at startup, before those
    threads exist."""
    libc = _libc()
    if libc is not None:
        libc.mallopt(M_ARENA_MAX, arenas)


def _trim() -> None:
    """Return the free pages of every malloc arena to the system: a burst (10,000 topics described at once)
    otherwise stays in kto's resident memory long after its objects are gone."""
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)


def due(size: int, settled_size: int, since: float, interval: float = INTERVAL_SECONDS) -> bool:
    """Whether to settle again: ``interval`` seconds since the last time, or the store changed by a quarter
    (a store growing from nothing is settled a few times, each at a quarter more than the last)."""
    return since >= interval or abs(size - settled_size) > 100 + settled_size // 4


async def keep_settling(size: Callable[[], int], check: float = 30.0, interval: float = INTERVAL_SECONDS) -> None:
    settled_size, settled_at = size(), -interval  # once ``check`` seconds in: after startup's first reconcile
    while True:
        await asyncio.sleep(check)
        if due(size(), settled_size, time.monotonic() - settled_at, interval):
            spent = settle()
            settled_size, settled_at = size(), time.monotonic()
            log.debug("Garbage collected and the survivors frozen cpu_s=%.2f frozen=%d resources=%d", spent,
                      gc.get_freeze_count(), settled_size)
