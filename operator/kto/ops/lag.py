"""Consumer lag and size on disk of the topics kto manages, as Prometheus gauges (``kto run --lag-interval``).

Per KafkaCluster, one task collects every ``interval`` seconds, one collection at a time, each bounded by a
timeout: the Ready KafkaTopics of the cluster are its managed topics; their partitions (one DescribeTopics),
then together the size of every replica (one DescribeLogDirs per broker), the end offsets (one ListOffsets
per partition leader) and the committed offsets of every consumer group (ListGroups, then one OffsetFetch per
group coordinator for all groups). At most ``MAX_SERIES`` lag series per cluster are published, the largest lags.
None of it is written to Kubernetes: lag changes all the time, and an
idle kto writes nothing. The pure parts (which topics, sums, lag, stale series) are functions of this module;
the collection is ``collect``; ``LagCollector`` runs it and publishes the gauges.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from kto.api import names
from kto.api.domain import KafkaFailure, ObservedTopic
from kto.api.objects import Key, topic_name_of
from kto.telemetry import logs, metrics

log = logging.getLogger("kto.ops.lag")

TP = tuple[str, int]  # (topic, partition)
COLLECT_TIMEOUT = 120.0  # one collection longer than this is abandoned (and counted as an error)
STEPS = ("describe_topics", "describe_log_dirs", "list_offsets", "list_group_offsets", "timeout", "internal")
WARN_EVERY = 600.0  # a failing step of a cluster is logged as a warning at most this often (else at debug)
# Consumer lag series (topic, group) published per KafkaCluster at most (``kto run --lag-max-series``): the
# largest lags are kept, and kto_lag_series_dropped says how many were left out. A tenant committing offsets
# under thousands of group ids cannot grow the scrape without bound.
MAX_SERIES = 1000


# --- pure aggregation ------------------------------------------------------------------------------


def is_ready(body: Mapping[str, Any]) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (body.get("status") or {}).get("conditions") or [])


def managed_topics(bodies: Iterable[Mapping[str, Any] | None]) -> set[str]:
    """The Kafka names of the Ready KafkaTopics among ``bodies`` (the KafkaTopics naming one KafkaCluster)."""
    return {topic_name_of(b) for b in bodies if b is not None and is_ready(b)}


def topic_sizes(replicas: Iterable[tuple[str, int, int]], topics: Iterable[str]) -> dict[str, int]:
    """Bytes on disk per topic: the sum over every replica of every partition, on every broker and log dir
    (a topic with replication factor 3 counts its data three times). Every topic asked for has a size,
    0 when no broker reported a replica of it."""
    sizes = dict.fromkeys(topics, 0)
    for topic, _partition, size in replicas:
        if topic in sizes:
            sizes[topic] += max(size, 0)
    return sizes


def complete_offsets(ends: Mapping[TP, int | KafkaFailure], partitions: Mapping[str, int]) -> dict[TP, int]:
    """The end offsets of the topics whose every partition answered (a topic with a partition missing or
    failed is left out: its sum and lag would be wrong)."""
    ok: dict[TP, int] = {}
    for topic, count in partitions.items():
        offsets = [o for p in range(count) if isinstance(o := ends.get((topic, p)), int) and o >= 0]
        if count and len(offsets) == count:
            ok |= {(topic, p): o for p, o in enumerate(offsets)}
    return ok


def end_offset_sums(ends: Mapping[TP, int]) -> dict[str, int]:
    sums: dict[str, int] = {}
    for (topic, _partition), offset in ends.items():
        sums[topic] = sums.get(topic, 0) + offset
    return sums


def group_lags(ends: Mapping[TP, int], committed: Mapping[str, Mapping[TP, int]]) -> dict[tuple[str, str], int]:
    """Lag per (topic, group): end offset minus committed offset, summed over the partitions of the topic the
    group committed on (never below 0 per partition). Only topics in ``ends`` (the managed ones) count; a
    group that committed nothing on a topic has no lag on it."""
    lags: dict[tuple[str, str], int] = {}
    for group, offsets in committed.items():
        for tp, offset in offsets.items():
            end = ends.get(tp)
            if end is None or offset < 0:
                continue
            key = (tp[0], group)
            lags[key] = lags.get(key, 0) + max(end - offset, 0)
    return lags


def largest(lags: Mapping[tuple[str, str], int], limit: int) -> dict[tuple[str, str], int]:
    """The ``limit`` largest lags; among equal lags, the first by (topic, group), so that the same series stay
    from one collection to the next while the lags do not change."""
    if len(lags) <= limit:
        return dict(lags)
    return dict(sorted(lags.items(), key=lambda item: (-item[1], item[0]))[:max(limit, 0)])


@dataclass(frozen=True)
class Sample:
    """One collection of one cluster; a part is None when its step failed (its series are then left as
    they were)."""

    sizes: Mapping[str, int] | None
    ends: Mapping[str, int] | None
    lags: Mapping[tuple[str, str], int] | None

    @staticmethod
    def empty() -> Sample:
        return Sample({}, {}, {})


def stale(previous: Iterable[tuple[str, ...]], current: Iterable[tuple[str, ...]]) -> set[tuple[str, ...]]:
    """Series published before and not now: their topic is no longer managed, or the group no longer reads it."""
    return set(previous) - set(current)


# --- collection ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Collected:
    sample: Sample
    failures: tuple[tuple[str, KafkaFailure], ...]  # (step, failure)


class LagSource(Protocol):
    """What a collection asks of a connected cluster: ``kto.reconcile.ports.LagPort`` and ``describe_topics``
    (ops/ does not import the engine, so the slice it uses is declared here; the Kafka gateway has it)."""

    async def describe_topics(self, names: Sequence[str], configs: bool = True
                              ) -> Mapping[str, ObservedTopic | KafkaFailure | None]: ...

    async def describe_log_dirs(self, partitions: Mapping[str, int]) -> list[tuple[str, int, int]] | KafkaFailure: ...

    async def list_end_offsets(self, partitions: Mapping[str, int]
                               ) -> Mapping[TP, int | KafkaFailure] | KafkaFailure: ...

    async def list_groups(self) -> list[str] | KafkaFailure: ...

    async def list_committed_offsets(self, groups: Sequence[str]
                                     ) -> Mapping[str, Mapping[TP, int] | KafkaFailure] | KafkaFailure: ...


Committed = Mapping[str, Mapping[TP, int] | KafkaFailure] | KafkaFailure  # by group, or the whole step failed
Failures = list[tuple[str, KafkaFailure]]  # (step, failure)


async def collect(gateway: LagSource, topics: Iterable[str]) -> Collected:
    """Sizes, end offsets and lags of ``topics`` on one cluster, with a fixed number of requests per broker."""
    described = await gateway.describe_topics(sorted(topics), configs=False)
    failed = [f for f in described.values() if isinstance(f, KafkaFailure)]
    if failed:  # without every topic's partitions nothing is complete: every series stays as it was
        return Collected(Sample(None, None, None), (("describe_topics", failed[0]),))
    partitions = {n: t.partitions for n, t in described.items() if isinstance(t, ObservedTopic)}
    log_dirs, ends, committed = await asyncio.gather(
        gateway.describe_log_dirs(partitions), gateway.list_end_offsets(partitions), _committed(gateway))
    failures: Failures = []
    sizes = _sizes(log_dirs, partitions, failures)
    offsets = _offsets(ends, partitions, failures)
    lags = _lags(committed, offsets, failures)
    return Collected(Sample(sizes, end_offset_sums(offsets) if offsets is not None else None, lags),
                     tuple(failures))


def _sizes(log_dirs: list[tuple[str, int, int]] | KafkaFailure, partitions: Mapping[str, int],
           failures: Failures) -> dict[str, int] | None:
    if isinstance(log_dirs, KafkaFailure):
        failures.append(("describe_log_dirs", log_dirs))
        return None
    return topic_sizes(log_dirs, partitions)


def _offsets(ends: Mapping[TP, int | KafkaFailure] | KafkaFailure, partitions: Mapping[str, int],
             failures: Failures) -> dict[TP, int] | None:
    """The complete end offsets (None: the step failed); the first failed partition is reported."""
    if isinstance(ends, KafkaFailure):
        failures.append(("list_offsets", ends))
        return None
    failures += [("list_offsets", f) for f in ends.values() if isinstance(f, KafkaFailure)][:1]
    return complete_offsets(ends, partitions)


def _lags(committed: Committed, offsets: Mapping[TP, int] | None, failures: Failures
          ) -> dict[tuple[str, str], int] | None:
    """Lags from the groups that answered (None: no lag can be computed); the first failed group is reported."""
    if isinstance(committed, KafkaFailure):
        failures.append(("list_group_offsets", committed))
        return None
    if offsets is None:
        return None
    failures += [("list_group_offsets", f) for f in committed.values() if isinstance(f, KafkaFailure)][:1]
    return group_lags(offsets, {g: o for g, o in committed.items() if not isinstance(o, KafkaFailure)})


async def _committed(gateway: LagSource) -> Committed:
    groups = await gateway.list_groups()
    if isinstance(groups, KafkaFailure):
        return groups
    return await gateway.list_committed_offsets(groups)


# --- the task per cluster and the gauges -------------------------------------------------------------


class LagCollector:
    """One collection task per KafkaCluster. ``on_cluster`` is a listener of the cluster registry (told a
    cluster's key at each of its probes and when it is gone); ``snapshot`` gives a cluster's gateway (None
    while it is not connected); ``bodies`` the KafkaTopics naming a cluster."""

    def __init__(self, snapshot: Callable[[Key], object | None],
                 bodies: Callable[[Key], Iterable[Mapping[str, Any] | None]], interval: float,
                 timeout: float = COLLECT_TIMEOUT, max_series: int = MAX_SERIES):
        self.snapshot = snapshot
        self.bodies = bodies
        self.interval = interval
        self.timeout = timeout
        self.max_series = max_series
        self._tasks: dict[Key, asyncio.Task[None]] = {}
        self._series: dict[Key, dict[str, set[tuple[str, ...]]]] = {}
        self._warned: dict[tuple[Key, str], float] = {}

    def on_cluster(self, key: Key) -> None:
        snap = self.snapshot(key)
        if snap is None or not getattr(snap, "exists", True):
            self.forget(key)
        elif key not in self._tasks:
            self._tasks[key] = asyncio.get_running_loop().create_task(self._run(key), name=f"lag-{key[0]}/{key[1]}")

    def forget(self, key: Key) -> None:
        task = self._tasks.pop(key, None)
        if task is not None:
            task.cancel()
        self.publish(key, Sample.empty())
        self._series.pop(key, None)
        metrics.forget(metrics.LAG_SERIES_DROPPED, (label(key),))

    async def stop(self) -> None:
        tasks = list(self._tasks.values())
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _run(self, key: Key) -> None:
        while True:
            try:
                await asyncio.wait_for(self.collect_once(key), timeout=self.timeout)
            except asyncio.CancelledError:
                raise
            except TimeoutError:
                self._failed(key, "timeout", f"the collection took more than {self.timeout:.0f}s")
            except Exception as exc:  # noqa: BLE001 - never crash the task: counted, logged, tried again next time
                self._failed(key, "internal", f"{type(exc).__name__}: {exc}", exc_info=True)
            await asyncio.sleep(self.interval)

    async def collect_once(self, key: Key) -> Sample | None:
        """One collection of the cluster, published; None when the cluster is not connected (its series stay)."""
        snap = self.snapshot(key)
        gateway = getattr(snap, "gateway", None)
        if gateway is None:
            return None
        topics = managed_topics(self.bodies(key))
        started = time.monotonic()
        collected = await collect(gateway, topics) if topics else Collected(Sample.empty(), ())
        for step, failure in collected.failures:
            self._failed(key, step, failure.message)
        for step in set(STEPS) - {s for s, _ in collected.failures}:
            self._warned.pop((key, step), None)
        sample = collected.sample
        if sample.lags is not None:
            kept = largest(sample.lags, self.max_series)
            metrics.LAG_SERIES_DROPPED.labels(label(key)).set(len(sample.lags) - len(kept))
            sample = replace(sample, lags=kept)
        self.publish(key, sample)
        metrics.LAG_COLLECTIONS.labels(label(key)).observe(time.monotonic() - started)
        return sample

    def publish(self, key: Key, sample: Sample) -> None:
        cluster = label(key)
        parts = (("size", metrics.TOPIC_SIZE, sample.sizes, lambda t: (t,)),
                 ("ends", metrics.TOPIC_END_OFFSETS, sample.ends, lambda t: (t,)),
                 ("lag", metrics.GROUP_LAG, sample.lags, lambda tg: tg))
        published = self._series.setdefault(key, {})
        for part, gauge, values, labels_of in parts:
            if values is None:
                continue  # the step failed: what was published stays
            current = {labels_of(k): v for k, v in values.items()}
            for labels in stale(published.get(part, ()), current):
                metrics.forget(gauge, (cluster, *labels))
            for labels, value in current.items():
                gauge.labels(cluster, *labels).set(value)
            published[part] = set(current)

    def _failed(self, key: Key, step: str, message: str, exc_info: bool = False) -> None:
        metrics.LAG_ERRORS.labels(label(key), step).inc()
        now = time.monotonic()
        last = self._warned.get((key, step))
        fields = logs.fields(names.CLUSTER_KIND, key, key, step, detail=message)
        if last is None or now - last >= WARN_EVERY:
            self._warned[(key, step)] = now
            log.warning("Lag collection step failed", extra=fields, exc_info=exc_info)
        else:
            log.debug("Lag collection step failed", extra=fields)


def label(key: Key) -> str:
    """The ``cluster`` label of kto's metrics: the KafkaCluster's namespace/name."""
    return f"{key[0]}/{key[1]}"
