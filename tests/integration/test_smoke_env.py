"""The local environment works for real: the apiserver, Kafka's three listeners, three nodes, RBAC."""

from __future__ import annotations

import uuid

import pytest
from confluent_kafka import KafkaException
from confluent_kafka.admin import NewTopic
from kubernetes import client
from kubernetes.client.rest import ApiException

from tests.support.env import LocalEnv
from tests.support.kafka import RecordingAdmin
from tests.support.kube import admin_client, request_token, token_client
from tests.support.wait import wait_until

SMOKE_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.smoke.kto.dev"},
    "spec": {
        "group": "smoke.kto.dev",
        "scope": "Namespaced",
        "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
        "versions": [{
            "name": "v1", "served": True, "storage": True,
            "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                "spec": {"type": "object", "properties": {"size": {"type": "integer", "minimum": 1}}},
            }}},
        }],
    },
}


def test_custom_resource_round_trip(env: LocalEnv) -> None:
    api = admin_client(env)
    ext = client.ApiextensionsV1Api(api)
    try:
        ext.create_custom_resource_definition(SMOKE_CRD)
    except ApiException as err:
        assert err.status == 409, err
    wait_until(
        lambda: any(c.type == "Established" and c.status == "True"
                    for c in (ext.read_custom_resource_definition("widgets.smoke.kto.dev").status.conditions or [])),
        what="the smoke CRD to be Established",
    )
    ns = f"smoke-{uuid.uuid4().hex[:6]}"
    client.CoreV1Api(api).create_namespace({"metadata": {"name": ns}})
    objects = client.CustomObjectsApi(api)
    body = {"apiVersion": "smoke.kto.dev/v1", "kind": "Widget", "metadata": {"name": "w1"}, "spec": {"size": 3}}
    wait_until(lambda: objects.create_namespaced_custom_object("smoke.kto.dev", "v1", ns, "widgets", body),
               what="the new CRD to serve objects")
    read = objects.get_namespaced_custom_object("smoke.kto.dev", "v1", ns, "widgets", "w1")
    assert read["spec"] == {"size": 3}
    with pytest.raises(ApiException) as rejected:
        objects.create_namespaced_custom_object("smoke.kto.dev", "v1", ns, "widgets",
                                                {**body, "metadata": {"name": "w2"}, "spec": {"size": 0}})
    assert rejected.value.status == 422


@pytest.mark.parametrize(("listener", "mechanism"), [
    ("PLAINTEXT", None),
    ("SASL_PLAINTEXT", "PLAIN"),
    ("SASL_PLAINTEXT", "SCRAM-SHA-512"),
    ("SASL_SSL", "SCRAM-SHA-512"),
])
def test_topic_lifecycle_over_each_listener(env: LocalEnv, listener: str, mechanism: str | None) -> None:
    admin = RecordingAdmin(env.kafka.client_config(listener, mechanism or "SCRAM-SHA-512"))
    topic = f"smoke-{listener.lower()}-{uuid.uuid4().hex[:8]}"
    admin.client.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])[topic].result(timeout=30)
    described = wait_until(
        lambda: admin.client.describe_topics(_collection([topic]))[topic].result(timeout=10),
        what=f"{topic} to be described",
    )
    assert described.name == topic
    assert len(described.partitions) == 3
    admin.client.delete_topics([topic])[topic].result(timeout=30)
    wait_until(lambda: topic not in admin.client.list_topics(timeout=10).topics, what=f"{topic} to be gone")
    assert not admin.errors, admin.errors


def test_wrong_scram_password_is_rejected(env: LocalEnv) -> None:
    admin = RecordingAdmin({**env.kafka.client_config("SASL_PLAINTEXT", "SCRAM-SHA-512", password="not-the-password"),
                            "socket.timeout.ms": "5000"})
    with pytest.raises(KafkaException):
        admin.client.describe_cluster(request_timeout=5).result(timeout=10)
    wait_until(admin.auth_failed, timeout=10, what="an authentication error to be reported")


def test_kafka_3x_broker_starts_and_serves_every_listener(tmp_path) -> None:
    """The Kafka version is a switch: the pinned 3.x broker starts and serves the three listeners too."""
    from tests.support.env import localenv, start_kafka_cluster

    version = localenv.read_versions()["KAFKA_VERSION_3X"]
    kafka, procs = start_kafka_cluster(tmp_path, nodes=1, version=version)
    try:
        assert kafka.version == version
        for listener, mechanism in (("PLAINTEXT", "SCRAM-SHA-512"), ("SASL_PLAINTEXT", "PLAIN"),
                                    ("SASL_SSL", "SCRAM-SHA-512")):
            admin = RecordingAdmin(kafka.client_config(listener, mechanism))
            topic = f"smoke-3x-{listener.lower()}"
            admin.client.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])[topic].result(30)
            desc = admin.client.describe_topics(_collection([topic]))[topic].result(timeout=15)
            assert len(desc.partitions) == 2
            assert not admin.errors, admin.errors
    finally:
        localenv.stop_procs(procs)


def test_three_nodes_replicate(kafka3) -> None:
    admin = RecordingAdmin(kafka3.client_config("SASL_SSL"))
    cluster = admin.client.describe_cluster(request_timeout=10).result(timeout=15)
    assert len(cluster.nodes) == 3
    topic = f"smoke-rf3-{uuid.uuid4().hex[:8]}"
    admin.client.create_topics([NewTopic(topic, num_partitions=2, replication_factor=3)])[topic].result(timeout=30)

    def fully_replicated():
        desc = admin.client.describe_topics(_collection([topic]))[topic].result(timeout=10)
        return all(len(p.replicas) == 3 and len(p.isr) == 3 for p in desc.partitions) and desc

    desc = wait_until(fully_replicated, timeout=60, what=f"{topic} to have three in-sync replicas")
    assert {n.id for n in desc.partitions[0].replicas} == {n.id for n in cluster.nodes}
    admin.client.delete_topics([topic])[topic].result(timeout=30)


def test_service_account_token_is_bound_by_rbac(env: LocalEnv) -> None:
    api = admin_client(env)
    core, rbac = client.CoreV1Api(api), client.RbacAuthorizationV1Api(api)
    ns = f"smoke-rbac-{uuid.uuid4().hex[:6]}"
    core.create_namespace({"metadata": {"name": ns}})
    core.create_namespaced_service_account(ns, {"metadata": {"name": "reader"}})
    rbac.create_namespaced_role(ns, {"metadata": {"name": "read-configmaps"}, "rules": [
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}]})
    rbac.create_namespaced_role_binding(ns, {
        "metadata": {"name": "reader"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "read-configmaps"},
        "subjects": [{"kind": "ServiceAccount", "name": "reader", "namespace": ns}],
    })
    core.create_namespaced_config_map(ns, {"metadata": {"name": "visible"}, "data": {"k": "v"}})

    as_sa = client.CoreV1Api(token_client(env, request_token(api, ns, "reader")))
    who = client.AuthenticationV1Api(token_client(env, request_token(api, ns, "reader"))).create_self_subject_review(
        {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"})
    assert who.status.user_info.username == f"system:serviceaccount:{ns}:reader"
    assert [c.metadata.name for c in as_sa.list_namespaced_config_map(ns).items] == ["visible"]
    for denied in (
        lambda: as_sa.create_namespaced_config_map(ns, {"metadata": {"name": "nope"}}),
        lambda: as_sa.list_namespaced_secret(ns),
        lambda: as_sa.list_namespaced_config_map("default"),
    ):
        with pytest.raises(ApiException) as err:
            denied()
        assert err.value.status == 403


def _collection(names):
    from confluent_kafka import TopicCollection

    return TopicCollection(names)
