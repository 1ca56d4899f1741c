"""KafkaCluster behaviour: connection states, credentials, namespaces, a cluster that goes away."""

from __future__ import annotations

import pytest
from kubernetes import client

from tests.support.kube import admin_client
from tests.support.resources import Resources, kafka_cluster, kafka_topic, ready, unique
from tests.support.wait import wait_until


def test_sasl_ssl_cluster_reports_broker_facts(env, ns, kto) -> None:
    ns.secret("kafka-admin", {"username": env.kafka.username, "password": env.kafka.password})
    with open(env.kafka.ca_file) as f:
        ns.secret("kafka-admin-ca", {"ca.crt": f.read()})
    ns.cluster(kafka_cluster("secure", env.kafka, listener="SASL_SSL"))
    obj = ns.wait_condition("kafkaclusters", "secure", "True", "Connected")
    status = obj["status"]
    assert status["brokers"] == env.kafka.nodes
    assert status["clusterId"]
    assert status["controllerId"] is not None
    assert "SASL_SSL" in ready(obj)["message"]


def test_wrong_password_then_rotated_secret_without_restart(env, ns, kto) -> None:
    wrong = unique("not-the-password")
    ns.secret("kafka-admin", {"username": env.kafka.username, "password": wrong})
    ns.cluster(kafka_cluster("rotating", env.kafka))
    obj = ns.wait_condition("kafkaclusters", "rotating", "False", "AuthenticationFailed", timeout=90)
    assert "credentials" in ready(obj)["message"]
    ns.wait_event("rotating", "AuthenticationFailed")
    name = unique("after-rotation")
    ns.topic(kafka_topic(name, "rotating", partitions=1))
    ns.wait_condition("kafkatopics", name, "False", "ClusterNotReady")
    ns.secret("kafka-admin", {"username": env.kafka.username, "password": env.kafka.password})
    ns.wait_condition("kafkaclusters", "rotating", "True", "Connected", timeout=90)
    ns.topic_ready(name, timeout=90)
    assert wrong not in kto.log_text()
    assert env.kafka.password not in kto.log_text()


def test_missing_secret_and_unreachable_brokers(env, ns, kto) -> None:
    ns.cluster(kafka_cluster("nosecret", env.kafka, secret="does-not-exist"))
    obj = ns.wait_condition("kafkaclusters", "nosecret", "False", "SecretNotFound")
    assert "does-not-exist" in ready(obj)["message"]
    from tests.support.env import localenv

    (closed_port,) = localenv.free_ports(1)
    body = kafka_cluster("unreachable", env.kafka, listener="PLAINTEXT")
    body["spec"]["bootstrapServers"] = [f"127.0.0.1:{closed_port}"]
    ns.cluster(body)
    obj = ns.wait_condition("kafkaclusters", "unreachable", "False", "Unreachable", timeout=90)
    assert "cannot reach" in ready(obj)["message"]


def test_invalid_cluster_spec_is_refused_at_admission(env, ns, kto) -> None:
    body = kafka_cluster("bad", env.kafka)
    del body["spec"]["security"]["sasl"]
    with pytest.raises(client.ApiException) as err:
        ns.cluster(body)
    assert err.value.status == 422 and "security.sasl is required" in err.value.body
    body = kafka_cluster("bad", env.kafka)
    body["spec"]["bootstrapServers"] = ["no-port"]
    with pytest.raises(client.ApiException) as err:
        ns.cluster(body)
    assert err.value.status == 422


def test_cross_namespace_reference_needs_allowance(env, ns, cluster, kafka_view) -> None:
    api = admin_client(env)
    other = Resources(api, unique("team"))
    client.CoreV1Api(api).create_namespace({"metadata": {"name": other.ns}})
    try:
        name = unique("xns")
        body = kafka_topic(name, cluster, partitions=1)
        body["spec"]["clusterRef"]["namespace"] = ns.ns
        other.topic(body)
        obj = other.wait_condition("kafkatopics", name, "False", "NamespaceNotAllowed")
        assert "allowedNamespaces" in ready(obj)["message"]
        assert not kafka_view.exists(name)
        ns.patch("kafkaclusters", cluster, {"spec": {"allowedNamespaces": [other.ns]}})
        other.topic_ready(name)
        assert kafka_view.exists(name)
    finally:
        other.delete_all_topics()


def test_topics_of_a_deleted_cluster_are_released_with_a_warning(env, ns, kto, kafka_view) -> None:
    ns.secret("kafka-admin", {"username": env.kafka.username, "password": env.kafka.password})
    ns.cluster(kafka_cluster("ephemeral", env.kafka))
    name = unique("orphan")
    ns.topic(kafka_topic(name, "ephemeral", partitions=1))
    ns.topic_ready(name)
    ns.delete("kafkaclusters", "ephemeral")
    ns.wait_gone("kafkaclusters", "ephemeral")
    ns.wait_condition("kafkatopics", name, "False", "ClusterNotFound")
    ns.delete("kafkatopics", name)
    ns.wait_gone("kafkatopics", name)
    ns.wait_event(name, "ClusterNotFound", "finalizer released")
    # Never deleted what it could not be told about safely.
    assert kafka_view.exists(name)


def test_cluster_counts_the_topics_it_serves(ns, cluster) -> None:
    for i in range(3):
        ns.topic(kafka_topic(unique(f"count{i}"), cluster, partitions=1))
    wait_until(lambda: ns.get("kafkaclusters", cluster)["status"].get("topics") == 3, timeout=40,
               what="status.topics to count 3")


# --- identity: the annotation, and a cluster whose refresh fails ----------------------------------------------


def test_a_wrong_cluster_id_annotation_once_removed_returns_to_the_probed_id(ns, cluster) -> None:
    bound = ns.get("kafkaclusters", cluster)["status"]["clusterId"]
    ns.patch("kafkaclusters", cluster, {"metadata": {"annotations": {"kto.dev/cluster-id": "not-this-cluster"}}})
    message = ready(ns.wait_condition("kafkaclusters", cluster, "False", "ClusterIdChanged"))["message"]
    assert "not-this-cluster" in message and bound in message
    assert ns.get("kafkaclusters", cluster)["status"]["clusterId"] == bound  # never recorded
    ns.patch("kafkaclusters", cluster, {"metadata": {"annotations": {"kto.dev/cluster-id": None}}})
    obj = ns.wait_condition("kafkaclusters", cluster, "True", "Connected", timeout=30)
    assert obj["status"]["clusterId"] == bound
    name = unique("after-annotation")
    ns.topic(kafka_topic(name, cluster, partitions=1))
    ns.topic_ready(name)


def test_a_cluster_whose_refresh_fails_is_reported_alone_and_holds_no_other(env, ns, kto, kafka_view) -> None:
    # Reading this Secret makes the API server answer 400, not 404: its name is no valid path segment.
    ns.cluster(kafka_cluster("broken", env.kafka, secret="kafka%admin"))
    obj = ns.wait_condition("kafkaclusters", "broken", "False", "RefreshFailed", timeout=60)
    assert "kto cannot read the Secrets" in ready(obj)["message"] and "400" in ready(obj)["message"]
    assert "HTTP response headers" not in ready(obj)["message"]
    ns.wait_event("broken", "RefreshFailed")
    # Another cluster's resources are not held "waiting for every KafkaCluster's first probe".
    ns.secret("kafka-admin", {"username": env.kafka.username, "password": env.kafka.password})
    ns.cluster(kafka_cluster("kafka", env.kafka))
    ns.wait_condition("kafkaclusters", "kafka", "True", "Connected")
    name = unique("beside-broken")
    ns.topic(kafka_topic(name, "kafka", partitions=1))
    ns.topic_ready(name)
    assert kafka_view.exists(name)
    assert ready(ns.get("kafkaclusters", "broken"))["reason"] == "RefreshFailed"  # still, and retried
