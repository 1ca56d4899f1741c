"""kto's JSON logs on a real process: each line one JSON object, the resource, kind, cluster and reason of a
per-resource line as keys of their own, and no credential anywhere."""

from __future__ import annotations

import json

import pytest

from tests.support.operator import KtoProcess
from tests.support.resources import kafka_cluster, kafka_topic
from tests.support.wait import wait_until


@pytest.fixture(scope="module")
def json_kto(env, sole_operator, tmp_path_factory):
    """kto as the chart runs it (JSON logs), at debug level; the session's kto is stopped meanwhile."""
    proc = KtoProcess(env, tmp_path_factory.mktemp("kto-json") / "kto.log",
                      args=["--log-format", "json", "--log-level", "debug"]).start()
    yield proc
    proc.stop()


def records(kto: KtoProcess) -> list[dict]:
    """Every line of the log as JSON (a line that is not fails the test)."""
    out = []
    for line in kto.log_text().splitlines():
        if line.strip():
            try:
                out.append(json.loads(line))
            except ValueError:
                raise AssertionError(f"not a JSON line in kto's log: {line!r}") from None
    return out


def test_a_not_ready_topic_is_logged_with_its_fields_as_keys(env, ns, json_kto) -> None:
    ns.secret("kafka-admin", {"username": env.kafka.username, "password": env.kafka.password})
    ns.cluster(kafka_cluster("kafka", env.kafka))
    ns.wait_condition("kafkaclusters", "kafka", "True", "Connected")
    ns.topic(kafka_topic("bad-config", "kafka", partitions=1, config={"retention.mss": 1000}))
    ns.wait_condition("kafkatopics", "bad-config", "False", "InvalidConfig")

    def line(message: str, **keys: str):
        return next((r for r in records(json_kto) if r["message"] == message
                     and all(r.get(k) == v for k, v in keys.items())), None)

    resource = f"{ns.ns}/bad-config"
    not_ready = wait_until(lambda: line("Not ready", resource=resource), timeout=30, what="the Not ready line")
    assert {k: not_ready[k] for k in ("severity", "logger", "kind", "cluster", "reason")} == {
        "severity": "info", "logger": "kto.reconcile.engine", "kind": "KafkaTopic", "cluster": f"{ns.ns}/kafka",
        "reason": "InvalidConfig"}
    assert "retention.mss" in not_ready["detail"]
    cluster = wait_until(lambda: line("Cluster state", resource=f"{ns.ns}/kafka", reason="Connected"), timeout=30,
                         what="the cluster's state line")
    assert (cluster["kind"], cluster["cluster"]) == ("KafkaCluster", f"{ns.ns}/kafka")
    # At debug level, each Event kto posts.
    event = wait_until(lambda: line("Posted an Event", resource=resource, reason="InvalidConfig"), timeout=30,
                       what="the Event's line")
    assert (event["kind"], event["event_type"], event["severity"]) == ("KafkaTopic", "Warning", "debug")
    assert env.kafka.password not in json_kto.log_text()

    ns.delete("kafkatopics", "bad-config")
    ns.wait_gone("kafkatopics", "bad-config")
    wait_until(lambda: line("Released", resource=resource, kind="KafkaTopic"), timeout=30, what="the Released line")
