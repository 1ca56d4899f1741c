"""kto's /metrics as Prometheus scrapes them from a running kto: a topic's way from ClusterNotReady to Reconciled
in the counters and gauges, and every metric the chart's alert rules and dashboard name is one kto exports."""

from __future__ import annotations

import json
import re

from tests.support import chart
from tests.support.env import localenv
from tests.support.resources import kafka_cluster, kafka_topic, unique
from tests.support.wait import wait_until

HISTOGRAM_SERIES = re.compile(r"_(bucket|sum|count)$")


def samples(kto, metric: str, **labels: str) -> list[float]:
    """The values of the series of ``metric`` on kto's /metrics that carry ``labels``."""
    want = [f'{k}="{v}"' for k, v in labels.items()]
    return [float(line.rsplit(" ", 1)[1]) for line in kto.metrics().splitlines()
            if line.startswith((metric + "{", metric + " ")) and all(w in line for w in want)]


def value(kto, metric: str, **labels: str) -> float | None:
    found = samples(kto, metric, **labels)
    assert len(found) <= 1, f"{metric}{labels} matches {len(found)} series"
    return found[0] if found else None


def test_a_topic_from_cluster_not_ready_to_reconciled_in_the_metrics(env, ns, kto) -> None:
    ns.cluster(kafka_cluster("later", env.kafka, resyncIntervalSeconds=10))
    ns.wait_condition("kafkaclusters", "later", "False", "SecretNotFound")
    name = unique("metered")
    ns.topic(kafka_topic(name, "later", partitions=1))
    ns.wait_condition("kafkatopics", name, "False", "ClusterNotReady")
    cluster, topic = {"kafka_cluster": f"{ns.ns}/later"}, {"namespace": ns.ns, "name": name}
    wait_until(lambda: value(kto, "kto_topic_ready", **topic) == 0, timeout=30, what="kto_topic_ready 0")
    assert value(kto, "kto_cluster_ready", namespace=ns.ns, name="later") == 0
    assert value(kto, "kto_reconciles_total", kind="topic", reason="ClusterNotReady", **cluster) >= 1
    assert value(kto, "kto_reconcile_errors_total", kind="topic", reason="ClusterNotReady", **cluster) >= 1
    assert value(kto, "kto_reconciles_total", kind="topic", reason="Reconciled", **cluster) is None

    ns.secret("kafka-admin", {"username": env.kafka.username, "password": env.kafka.password})
    ns.wait_condition("kafkaclusters", "later", "True", "Connected", timeout=90)
    ns.topic_ready(name, timeout=90)
    wait_until(lambda: value(kto, "kto_topic_ready", **topic) == 1, timeout=30, what="kto_topic_ready 1")
    assert value(kto, "kto_cluster_ready", namespace=ns.ns, name="later") == 1
    assert value(kto, "kto_reconciles_total", kind="topic", reason="Reconciled", **cluster) >= 1
    assert value(kto, "kto_reconcile_errors_total", kind="topic", reason="Reconciled", **cluster) is None
    assert value(kto, "kto_batch_duration_seconds_count", kind="topic", **cluster) >= 2
    assert value(kto, "kto_queue_depth", kind="topic", **cluster) is not None
    created = samples(kto, "kto_kafka_request_duration_seconds_count", operation="create_topics", **cluster)
    assert created and created[0] >= 1

    ns.delete("kafkatopics", name)
    ns.wait_gone("kafkatopics", name)
    wait_until(lambda: value(kto, "kto_topic_ready", **topic) is None, timeout=30,
               what="the deleted topic's kto_topic_ready series gone")


def exported_names(text: str) -> set[str]:
    """Metric names on a /metrics page: every family kto registered, with or without series yet."""
    names = {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")}
    return names | {re.split(r"[{ ]", line, maxsplit=1)[0] for line in text.splitlines()
                    if line and not line.startswith("#")}


def named_in(text: str) -> set[str]:
    """kto's metric names in PromQL text, a histogram's _bucket/_sum/_count series named by their family."""
    return {HISTOGRAM_SERIES.sub("", n) for n in re.findall(r"\bkto_[a-z0-9_]+", text)}


def test_every_metric_of_the_alerts_and_the_dashboard_is_exported(env, ns, cluster, kto) -> None:
    localenv.ensure_built("helm")
    name = unique("named")
    ns.topic(kafka_topic(name, cluster, partitions=1))
    ns.topic_ready(name)
    objects = chart.render(values={"metrics": {"prometheusRule": {"enabled": True},
                                               "grafanaDashboard": {"enabled": True}}})
    (rule,) = chart.find(objects, "PrometheusRule")
    exprs = [r["expr"] for g in rule["spec"]["groups"] for r in g["rules"]]
    (dashboard,) = chart.find(objects, "ConfigMap")
    panels = json.loads(dashboard["data"]["kto.json"])["panels"]
    queries = [t["expr"] for p in panels for t in p.get("targets", [])]
    in_rules, in_dashboard = named_in("\n".join(exprs)), named_in("\n".join(queries))
    assert {"kto_leader", "kto_topic_ready", "kto_kafka_errors_total"} <= in_rules  # the parsing finds names
    exported = exported_names(kto.metrics())
    assert value(kto, "kto_topic_ready", namespace=ns.ns, name=name) == 1
    assert in_rules - exported == set()
    assert in_dashboard - exported == set()
    # The lag exporter's gauges are named by the alerts and the dashboard, and exported (kto.lag).
    lag_gauges = {"kto_consumer_group_lag", "kto_topic_size_bytes", "kto_topic_end_offsets"}
    assert lag_gauges <= (in_rules | in_dashboard) & exported


def test_the_labels_fit_a_multi_cluster_prometheus(env, ns, cluster, kto) -> None:
    """Scraped from a running kto: the KafkaCluster is `kafka_cluster` (never `cluster`, the usual external
    label of a multi-cluster Prometheus), kto_topic_info joins a resource with its Kafka topic, and no
    *_created series is exposed."""
    name = unique("labelled")
    ns.topic(kafka_topic(name, cluster, partitions=1))
    ns.topic_ready(name)
    text = kto.metrics()
    samples = [line for line in text.splitlines() if line.startswith("kto_")]
    assert not [line for line in samples if re.search(r'[{,]cluster="', line)], "a kto series labels `cluster`"
    assert any(line.startswith("kto_kafka_admin_requests_total{") and f'kafka_cluster="{ns.ns}/{cluster}"' in line
               for line in samples)
    info = f'kto_topic_info{{kafka_cluster="{ns.ns}/{cluster}",name="{name}",namespace="{ns.ns}",topic="{name}"}} 1.0'
    assert info in text
    assert not [line for line in text.splitlines() if "_created" in line.split("{")[0]]
