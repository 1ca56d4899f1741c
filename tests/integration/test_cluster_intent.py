"""A KafkaCluster's topicDefaults on day two (issue 26), on the real apiserver and Kafka:

- ``kto import`` from a cluster with ``topicDefaults.config`` writes manifests that adopt with no Kafka write;
- a change of ``topicDefaults`` that kto applies to its topics is intent, not drift: its own Event reason
  (``ClusterDefaultsApplied``) and counter (``kto_cluster_changes_applied_total``), never ``DriftCorrected`` or
  ``kto_drift_corrections_total``, which page someone."""

from __future__ import annotations

import yaml

from tests.integration.test_cli import kto_cli, kubectl
from tests.integration.test_metrics import value
from tests.integration.test_safety import resynced, writes
from tests.support.resources import kafka_cluster, kafka_topic, ready, unique
from tests.support.wait import wait_until

DAY = 86_400_000
DEFAULTS = {"compression.type": "lz4", "retention.ms": str(3 * DAY)}


def _defaults_cluster(env, ns, name: str, config: dict[str, str]) -> str:
    ns.secret("kafka-admin", {"username": env.kafka.username, "password": env.kafka.password})
    ns.cluster(kafka_cluster(name, env.kafka, resyncIntervalSeconds=10,
                             topicDefaults={"replicationFactor": 1, "config": config}))
    ns.wait_condition("kafkaclusters", name, "True", "Connected")
    return name


def test_import_with_topic_defaults_adopts_without_a_write(env, ns, kto, kafka_view, tmp_path) -> None:
    cluster = _defaults_cluster(env, ns, "defaults", DEFAULTS)
    prefix = unique("impd")
    # Some topics carry a defaults key of their own, some none: a manifest must state the value each has now.
    configs = [{}, {"compression.type": "zstd"}, {"retention.ms": str(7 * DAY)},
               {"compression.type": "lz4", "cleanup.policy": "compact"}, {"retention.ms": str(3 * DAY)}]
    topics = {f"{prefix}.t{i:02d}": configs[i % len(configs)] for i in range(20)}
    for name, config in topics.items():
        kafka_view.create(name, partitions=1 + len(name) % 3, config=config)
    for name, config in topics.items():
        wait_until(lambda n=name, c=config: kafka_view.overrides(n) == c, timeout=30, what=f"{name}'s overrides")
    before = {name: (kafka_view.topic(name), kafka_view.overrides(name)) for name in topics}

    out = tmp_path / "imported"
    done = kto_cli(env, "import", "--cluster", f"{ns.ns}/{cluster}", "--include", f"{prefix}.*", "--dir", str(out))
    assert done.returncode == 0, done.stderr
    assert "warning" not in done.stderr.lower(), done.stderr
    manifests = [yaml.safe_load(f.read_text()) for f in sorted((out / "topics").glob("*.yaml"))]
    assert len(manifests) == len(topics)
    kubectl(env, "apply", "-k", str(out))

    for doc in manifests:
        obj = ns.topic_ready(doc["metadata"]["name"], timeout=90)
        assert obj["status"].get("ownership") == "Adopted", obj["status"]
    resynced(kto, (ns, cluster))
    assert writes(kto, ns, cluster) == {}, "kto wrote to Kafka while adopting topics imported with topicDefaults"
    assert {name: (kafka_view.topic(name), kafka_view.overrides(name)) for name in topics} == before
    ns.delete_all_topics()
    assert all(kafka_view.exists(name) for name in topics)  # adopted: never deleted with the resource
    for name in topics:
        kafka_view.delete(name)


def test_a_topic_defaults_change_is_intent_not_drift(env, ns, kto, kafka_view) -> None:
    cluster = _defaults_cluster(env, ns, "intent", {"retention.ms": str(3 * DAY)})
    label = f"{ns.ns}/{cluster}"
    names = [unique("intent") for _ in range(5)]
    for name in names:
        ns.topic(kafka_topic(name, cluster, partitions=1))
    for name in names:
        ns.topic_ready(name)
        assert kafka_view.overrides(name) == {"retention.ms": str(3 * DAY)}
    drift_before = value(kto, "kto_drift_corrections_total", kind="topic", kafka_cluster=label) or 0.0
    applied_before = value(kto, "kto_cluster_changes_applied_total", kind="topic", kafka_cluster=label) or 0.0

    ns.patch("kafkaclusters", cluster, {"spec": {"topicDefaults": {"config": {"compression.type": "lz4"}}}})
    want = {"retention.ms": str(3 * DAY), "compression.type": "lz4"}
    for name in names:
        wait_until(lambda n=name: kafka_view.overrides(n) == want, timeout=90, what=f"{name} takes the new default")
    for name in names:
        ns.wait_event(name, "ClusterDefaultsApplied", "compression.type")
        assert ready(ns.get("kafkatopics", name))["status"] == "True"
    wait_until(lambda: (value(kto, "kto_cluster_changes_applied_total", kind="topic", kafka_cluster=label) or 0)
               >= applied_before + len(names), timeout=30, what="the intent counter counts every topic changed")
    assert (value(kto, "kto_drift_corrections_total", kind="topic", kafka_cluster=label) or 0.0) == drift_before
    assert [n for n in names if ns.events(n, "DriftCorrected")] == []
