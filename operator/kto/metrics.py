"""Prometheus metrics (served by ``kto run --metrics-port``)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

RECONCILES = Counter("kto_reconciles_total", "Resources reconciled, by kind and outcome reason.",
                     ["kind", "cluster", "reason"])
BATCHES = Histogram("kto_batch_duration_seconds", "Duration of one batch reconcile of a cluster's resources.",
                    ["kind", "cluster"], buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120))
BATCH_SIZE = Histogram("kto_batch_size", "Resources per batch.", ["kind", "cluster"],
                       buckets=(1, 5, 10, 50, 100, 250, 500, 1000, 2500, 10000))
DRIFT = Counter("kto_drift_corrections_total", "Out-of-band changes kto corrected.", ["kind", "cluster"])
KAFKA_REQUESTS = Counter("kto_kafka_admin_requests_total", "Kafka admin requests sent.", ["cluster", "operation"])
KUBE_WRITES = Counter("kto_kube_writes_total", "Writes kto sent to the Kubernetes API.", ["kind"])
TOPIC_READY = Gauge("kto_topic_ready", "1 when the KafkaTopic is Ready, else 0.", ["namespace", "name"])
USER_READY = Gauge("kto_user_ready", "1 when the KafkaUser is Ready, else 0.", ["namespace", "name"])
CLUSTER_READY = Gauge("kto_cluster_ready", "1 when the KafkaCluster is Ready, else 0.", ["namespace", "name"])
LEADER = Gauge("kto_leader", "1 while this process leads (holds the leader Lease, or runs without election), else 0.")


def forget(gauge: Gauge, labels: tuple[str, ...]) -> None:
    """Drop one labelled series (a deleted resource), if it was ever set."""
    try:
        gauge.remove(*labels)
    except KeyError:
        pass
