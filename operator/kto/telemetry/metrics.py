"""Prometheus metrics (served by ``kto run --metrics-port``); README's Metrics section lists them all.

Counters and histograms are updated where the work happens (a batch, a verdict, a Kafka call); what can be read
off kto's own state (queue depth, the age of the oldest queued key) is computed when Prometheus scrapes, so
queueing 10,000 keys costs nothing extra.
"""

from __future__ import annotations

import functools
import inspect
import platform
import time
import weakref
from collections.abc import Callable, Hashable, Iterable, Iterator
from contextvars import ContextVar
from typing import Any, Protocol

from prometheus_client import REGISTRY, Counter, Gauge, Histogram, disable_created_metrics
from prometheus_client.core import GaugeMetricFamily

from kto import __version__

# No *_created series: every counter and histogram would carry one more series that nothing reads.
disable_created_metrics()  # type: ignore[no-untyped-call]  # prometheus_client leaves it untyped

RECONCILES = Counter("kto_reconciles_total", "Resources reconciled, by kind and outcome reason.",
                     ["kind", "kafka_cluster", "reason"])
ERRORS = Counter("kto_reconcile_errors_total", "Resources whose reconcile ended not Ready (by reason), and "
                 "batches that raised (reason BatchFailed, one per resource of the batch).",
                 ["kind", "kafka_cluster", "reason"])
RETRIES = Counter("kto_retries_total", "Resources scheduled for another look after a batch (backoff, a failed "
                  "batch, progress to check).", ["kind", "kafka_cluster"])
BATCHES = Histogram("kto_batch_duration_seconds", "Duration of one batch reconcile of a cluster's resources.",
                    ["kind", "kafka_cluster"], buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120))
BATCH_SIZE = Histogram("kto_batch_size", "Resources per batch.", ["kind", "kafka_cluster"],
                       buckets=(1, 5, 10, 50, 100, 250, 500, 1000, 2500, 10000))
DRIFT = Counter("kto_drift_corrections_total", "Out-of-band changes kto corrected.", ["kind", "kafka_cluster"])
CLUSTER_CHANGES = Counter("kto_cluster_changes_applied_total", "Changes a KafkaCluster's spec (its topicDefaults) "
                          "asked of resources that were in sync, applied: intent, not drift.",
                          ["kind", "kafka_cluster"])
# The one vocabulary of the ``operation`` label of every Kafka metric: the operations of kto's Kafka port (the
# public calls of ``kto.kafka.gateway.KafkaGateway``, which ``timed_calls`` refuses to time under another name).
# One port call may send several Kafka requests of different APIs (describe_topics sends DescribeTopics and
# DescribeConfigs); the API of each request is the ``api`` label of KAFKA_REQUESTS (DESIGN.md, "Metrics").
KAFKA_OPERATIONS = (
    # the cluster
    "describe_cluster", "describe_super_users", "describe_broker_apis", "describe_broker_defaults",
    "alter_broker_defaults",
    # topics
    "list_topics", "describe_topics", "create_topics", "create_partitions", "alter_configs", "delete_topics",
    "describe_replica_load", "list_reassignments", "alter_reassignments", "set_replication_throttle",
    "set_topic_throttle",
    # users
    "describe_scram", "list_scram_users", "alter_scram", "describe_acls", "create_acls", "delete_acls",
    "describe_user_quotas", "alter_user_quotas",
    # consumer lag and topic size
    "describe_log_dirs", "list_end_offsets", "list_groups", "list_committed_offsets",
)
KAFKA_REQUESTS = Counter("kto_kafka_admin_requests_total", "Kafka admin requests sent, by the port operation that "
                         "sent them and the request's Kafka API.", ["kafka_cluster", "operation", "api"])
KAFKA_DURATION = Histogram("kto_kafka_request_duration_seconds", "Duration of one call of kto's Kafka gateway "
                           "(all the admin requests it sends), by operation.", ["kafka_cluster", "operation"],
                           buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60))
KAFKA_ERRORS = Counter("kto_kafka_errors_total", "Kafka gateway failures: calls that failed or raised, and each "
                       "per-resource error in a call's results.", ["kafka_cluster", "operation"])
KUBE_WRITES = Counter("kto_kube_writes_total", "Writes kto sent to the Kubernetes API.", ["kind"])
TOPIC_READY = Gauge("kto_topic_ready", "1 when the KafkaTopic is Ready, else 0.", ["namespace", "name"])
USER_READY = Gauge("kto_user_ready", "1 when the KafkaUser is Ready, else 0.", ["namespace", "name"])
TOPIC_INFO = Gauge("kto_topic_info", "Always 1: the KafkaCluster and Kafka topic a KafkaTopic names, to join "
                   "kto_topic_ready (namespace, name) with the per-topic series (kafka_cluster, topic).",
                   ["namespace", "name", "kafka_cluster", "topic"])
USER_INFO = Gauge("kto_user_info", "Always 1: the KafkaCluster and Kafka user a KafkaUser names, to join "
                  "kto_user_ready (namespace, name) with them.", ["namespace", "name", "kafka_cluster", "user"])
TOPICS_OUT_OF_POLICY = Gauge("kto_topics_out_of_policy", "KafkaTopics that break a rule of a KafkaPolicy (admitted "
                             "before it tightened, or through the KafkaCluster's defaults): reported, never changed.",
                             ["kafka_cluster", "policy"])
CLUSTER_READY = Gauge("kto_cluster_ready", "1 when the KafkaCluster is Ready, else 0.", ["namespace", "name"])
LEADER = Gauge("kto_leader", "1 while this process leads (holds the leader Lease, or runs without election), else 0.")
BUILD_INFO = Gauge("kto_build_info", "Always 1; the labels say which kto and Kafka client run.",
                   ["version", "python", "confluent_kafka", "librdkafka"])

BATCH_FAILED = "BatchFailed"  # the ERRORS reason of a batch that raised

# Consumer lag and topic size of managed topics (kto.lag); ``cluster`` is the KafkaCluster's namespace/name.
TOPIC_SIZE = Gauge("kto_topic_size_bytes", "Bytes on disk of a managed topic, summed over every replica of every "
                   "partition on every broker.", ["kafka_cluster", "topic"])
TOPIC_END_OFFSETS = Gauge("kto_topic_end_offsets", "Sum of the end offsets of a managed topic's partitions.",
                          ["kafka_cluster", "topic"])
GROUP_LAG = Gauge("kto_consumer_group_lag", "Messages a consumer group has yet to read on a managed topic (end "
                  "offset minus committed offset, summed over the partitions it committed on).",
                  ["kafka_cluster", "topic", "group"])
LAG_COLLECTIONS = Histogram("kto_lag_collection_duration_seconds", "Duration of one lag and size collection of a "
                            "cluster.", ["kafka_cluster"], buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120))
LAG_ERRORS = Counter("kto_lag_collection_errors_total", "Failed steps of lag and size collections.",
                     ["kafka_cluster", "step"])
LAG_SERIES_DROPPED = Gauge("kto_lag_series_dropped", "Consumer lag series (topic, group) of a cluster's last "
                           "collection left out of kto_consumer_group_lag by the cap (kto run --lag-max-series): "
                           "the smallest lags go first.", ["kafka_cluster"])


def forget(gauge: Gauge, labels: tuple[str, ...]) -> None:
    """Drop one labelled series (a deleted resource), if it was ever set."""
    try:
        gauge.remove(*labels)
    except KeyError:
        pass


class InfoSeries:
    """One series of an info gauge per resource, by key: set, replaced when its labels change, dropped."""

    def __init__(self, gauge: Gauge | None):
        self.gauge = gauge
        self._labels: dict[Hashable, tuple[str, ...]] = {}

    def set(self, key: Hashable, labels: tuple[str, ...] | None) -> None:
        """The resource's series has ``labels`` (None: it has none)."""
        previous = self._labels.get(key)
        if self.gauge is None or previous == labels:
            return
        if previous is not None:
            forget(self.gauge, self._labels.pop(key))
        if labels is not None:
            self.gauge.labels(*labels).set(1)
            self._labels[key] = labels


def count_verdict(kind: str, cluster: str, reason: str, ready: bool | None) -> None:
    """One resource's reconcile ended with ``reason``; not Ready (False) counts as an error too."""
    RECONCILES.labels(kind, cluster, reason).inc()
    if ready is False:
        ERRORS.labels(kind, cluster, reason).inc()


def build_info() -> dict[str, str]:
    import confluent_kafka

    return {"version": __version__, "python": platform.python_version(),
            "confluent_kafka": confluent_kafka.version()[0], "librdkafka": confluent_kafka.libversion()[0]}


BUILD_INFO.labels(**build_info()).set(1)


# --- the Kafka gateway --------------------------------------------------------------------------------------


def _failures(result: Any, failure: type) -> int:
    """How many failures a gateway call returned: the whole call, or entries of its per-name results."""
    if isinstance(result, failure):
        return 1
    if isinstance(result, dict):
        return sum(1 for v in result.values() if isinstance(v, failure))
    return 0


_OPERATION: ContextVar[str | None] = ContextVar("kto_kafka_operation", default=None)


def count_request(cluster: str, api: str) -> None:
    """One Kafka request of ``api`` sent to ``cluster``, counted under the port operation running (a request
    sent outside one is a bug: every call into Kafka goes through a timed operation)."""
    operation = _OPERATION.get()
    if operation is None:
        raise RuntimeError(f"a Kafka {api} request was sent outside a timed gateway operation")
    KAFKA_REQUESTS.labels(cluster, operation, api).inc()


def timed_calls(failure: type) -> Callable[[type], type]:
    """A class decorator for a Kafka gateway: each public coroutine method observes KAFKA_DURATION, labelled with
    the instance's ``label`` (the cluster) and the method's name (which must be one of ``KAFKA_OPERATIONS``),
    counts the ``failure`` values it returns (or a raise) in KAFKA_ERRORS, and labels the requests it sends
    (``count_request``) with its name. Methods added later are timed too."""
    def wrap(name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        async def timed(self: Any, *args: Any, **kwargs: Any) -> Any:
            started = time.monotonic()
            failed = 1
            token = _OPERATION.set(name)
            try:
                result = await method(self, *args, **kwargs)
                failed = _failures(result, failure)
                return result
            finally:
                _OPERATION.reset(token)
                KAFKA_DURATION.labels(self.label, name).observe(time.monotonic() - started)
                if failed:
                    KAFKA_ERRORS.labels(self.label, name).inc(failed)
        return timed

    def decorate(cls: type) -> type:
        for name, method in list(vars(cls).items()):
            if not name.startswith("_") and inspect.iscoroutinefunction(method):
                if name not in KAFKA_OPERATIONS:
                    raise TypeError(f"{cls.__name__}.{name} is not in metrics.KAFKA_OPERATIONS: add it there, the "
                                    "one vocabulary of the operation label")
                setattr(cls, name, wrap(name, method))
        return cls
    return decorate


# --- queues, read at scrape time ----------------------------------------------------------------------------


class Queued(Protocol):
    """What a work queue shows to metrics (``kto.batching.BatchQueue``)."""

    labels: tuple[str, str] | None  # kind, cluster

    def depth(self) -> int: ...

    def oldest_age(self, now: float) -> float: ...


class QueueCollector:
    """kto_queue_depth and kto_queue_oldest_age_seconds of every live, labelled queue, computed on scrape."""

    def __init__(self) -> None:
        self._queues: weakref.WeakSet[Queued] = weakref.WeakSet()

    def add(self, queue: Queued) -> None:
        self._queues.add(queue)

    def discard(self, queue: Queued) -> None:
        self._queues.discard(queue)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        depth = GaugeMetricFamily("kto_queue_depth", "Resources waiting in a work queue (due now or later, in "
                                  "backoff included), by kind and cluster.", labels=["kind", "kafka_cluster"])
        age = GaugeMetricFamily("kto_queue_oldest_age_seconds", "How long the oldest work of a queue has waited: "
                                "a due resource not yet taken, or the running batch (a wedged queue grows).",
                                labels=["kind", "kafka_cluster"])
        now = time.monotonic()
        for queue in list(self._queues):
            if queue.labels is not None:
                depth.add_metric(list(queue.labels), queue.depth())
                age.add_metric(list(queue.labels), queue.oldest_age(now))
        yield depth
        yield age

    def describe(self) -> Iterable[GaugeMetricFamily]:
        return []  # collected on scrape only: registering must not call collect()


QUEUES = QueueCollector()
REGISTRY.register(QUEUES)
