"""kto as a process: restarts lose nothing, idle resyncs write nothing, pending work is batched."""

from __future__ import annotations

from tests.support.resources import kafka_topic, unique
from tests.support.wait import wait_until


def metric(kto, name: str, **labels: str) -> float:
    """The value of one Prometheus sample from kto's /metrics (0 when absent)."""
    want = [f'{k}="{v}"' for k, v in labels.items()]
    total = 0.0
    for line in kto.metrics().splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            if all(w in line for w in want):
                total += float(line.rsplit(" ", 1)[1])
    return total


def test_restart_converges_what_changed_while_down_in_one_batch(env, ns, cluster, kto, kafka_view) -> None:
    keep, doomed, drifted = unique("keep"), unique("doomed"), unique("drifted")
    for name in (keep, doomed, drifted):
        ns.topic(kafka_topic(name, cluster, partitions=2, config={"retention.ms": 86_400_000}))
    ids = {name: ns.topic_ready(name)["status"]["topicId"] for name in (keep, doomed, drifted)}

    kto.stop(kill=True)
    try:
        new = [unique(f"new{i}") for i in range(12)]
        for name in new:
            ns.topic(kafka_topic(name, cluster, partitions=1))
        ns.delete("kafkatopics", doomed)  # held by the finalizer until kto is back
        kafka_view.set_config(drifted, "retention.ms", "1000")
    finally:
        kto.start()

    for name in new:
        ns.topic_ready(name)
    ns.wait_gone("kafkatopics", doomed)
    wait_until(lambda: not kafka_view.exists(doomed), timeout=60, what=f"{doomed} deleted from Kafka")
    wait_until(lambda: kafka_view.overrides(drifted) == {"retention.ms": "86400000"}, timeout=40,
               what="the drift made while kto was down to be corrected")
    # Nothing else was lost or recreated.
    assert kafka_view.topic(keep)[2] == ids[keep]
    assert kafka_view.topic(drifted)[2] == ids[drifted]
    # Everything that piled up while kto was down went to Kafka together.
    label = f"{ns.ns}/{cluster}"
    assert metric(kto, "kto_kafka_admin_requests_total", kafka_cluster=label, api="create_topics") == 1
    assert metric(kto, "kto_kafka_admin_requests_total", kafka_cluster=label, api="delete_topics") == 1


def test_idle_resyncs_write_nothing(ns, cluster, kto) -> None:
    names = [unique("idle") for _ in range(3)]
    for name in names:
        ns.topic(kafka_topic(name, cluster, partitions=1, config={"retention.ms": 3_600_000}))
    versions = {name: ns.topic_ready(name)["metadata"]["resourceVersion"] for name in names}
    label = f"{ns.ns}/{cluster}"
    # Let the count of served topics settle in the cluster's status first (it is written at the probe).
    wait_until(lambda: ns.get("kafkaclusters", cluster)["status"].get("topics") == 3, timeout=40,
               what="the cluster to count its 3 topics")
    cluster_version = ns.get("kafkaclusters", cluster)["metadata"]["resourceVersion"]
    events = len(ns.core.list_namespaced_event(ns.ns).items)
    describes = metric(kto, "kto_kafka_admin_requests_total", kafka_cluster=label, api="describe_topics")
    # Two full resyncs (every 10 s here): each compares every topic with Kafka ...
    wait_until(lambda: metric(kto, "kto_kafka_admin_requests_total", kafka_cluster=label,
                              api="describe_topics") >= describes + 2,
               timeout=45, what="two resyncs")
    # ... and, with nothing changed, writes nothing: no status, no finalizer, no Event.
    # (kto_kube_writes_total is not used here: it counts every namespace's objects.)
    assert {n: ns.get("kafkatopics", n)["metadata"]["resourceVersion"] for n in names} == versions
    assert ns.get("kafkaclusters", cluster)["metadata"]["resourceVersion"] == cluster_version
    assert len(ns.core.list_namespaced_event(ns.ns).items) == events
