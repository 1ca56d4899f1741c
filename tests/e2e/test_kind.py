"""kto as users run it: the image, installed by the Helm chart on a kind cluster, with Kafka in the cluster.

Run by hack/kind-e2e.sh (which creates the cluster, loads the image, starts Kafka and installs the chart);
skipped unless ``KTO_E2E_KUBECONFIG`` is set. The checks are the integration tier's (tests/support/lifecycle.py):
the resources' status and Events, and Kafka seen through the test's own client, from the host
(``KTO_E2E_KAFKA_HOST_BOOTSTRAP``; kto itself uses ``KTO_E2E_KAFKA_BOOTSTRAP``, the in-cluster Service).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml
from kubernetes import client, config

from tests.support.env import REPO, KafkaEndpoints
from tests.support.kafka import KafkaView
from tests.support.lifecycle import connect_cluster, topic_lifecycle, user_lifecycle
from tests.support.resources import Resources, unique
from tests.support.wait import wait_until

pytestmark = pytest.mark.skipif(not os.environ.get("KTO_E2E_KUBECONFIG"),
                                reason="needs a kind cluster: run hack/kind-e2e.sh (make kind-e2e)")

EXAMPLE = REPO / "manifests" / "examples" / "media-gateway" / "overlays" / "development"
KTO_NAMESPACE = os.environ.get("KTO_E2E_NAMESPACE", "kto")


def endpoints(bootstrap: str) -> KafkaEndpoints:
    return KafkaEndpoints(nodes=1, version="", plaintext="", sasl=bootstrap, sasl_ssl="", ca_file="",
                          username=os.environ.get("KTO_E2E_KAFKA_USERNAME", "admin"),
                          password=os.environ.get("KTO_E2E_KAFKA_PASSWORD", ""))


@pytest.fixture(scope="module")
def kube() -> client.ApiClient:
    return config.new_client_from_config(config_file=os.environ["KTO_E2E_KUBECONFIG"])


@pytest.fixture(scope="module")
def in_cluster() -> KafkaEndpoints:
    """How kto reaches Kafka: the Service in the cluster."""
    return endpoints(os.environ.get("KTO_E2E_KAFKA_BOOTSTRAP", "kafka.kafka.svc.cluster.local:9092"))


@pytest.fixture(scope="module")
def from_host() -> KafkaEndpoints:
    """How the tests reach Kafka: the NodePort mapped to the host by kind-config.yaml."""
    return endpoints(os.environ.get("KTO_E2E_KAFKA_HOST_BOOTSTRAP", "127.0.0.1:30092"))


@pytest.fixture(scope="module")
def kafka(from_host: KafkaEndpoints) -> KafkaView:
    return KafkaView(from_host.client_config("SASL_PLAINTEXT"))


def namespace(api: client.ApiClient) -> Resources:
    name = unique("e2e")
    client.CoreV1Api(api).create_namespace({"metadata": {"name": name}})
    return Resources(api, name)


def test_kto_runs_as_the_chart_deploys_it(kube: client.ApiClient) -> None:
    apps = client.AppsV1Api(kube)

    def ready_deployment():
        d = apps.read_namespaced_deployment("kto", KTO_NAMESPACE)
        return d if d.status.ready_replicas == 2 else None

    deployment = wait_until(ready_deployment, timeout=120, what="kto's Deployment to have its 2 Pods ready (/healthz)")
    assert deployment.spec.strategy.type == "RollingUpdate"
    pods = client.CoreV1Api(kube).list_namespaced_pod(KTO_NAMESPACE, label_selector="app.kubernetes.io/name=kto")
    assert len(pods.items) == 2
    for pod in pods.items:
        (status,) = pod.status.container_statuses
        assert status.ready and status.restart_count == 0, "kto restarted: see `kubectl -n kto logs <pod> -p`"
        sc = pod.spec.containers[0].security_context
        assert sc.read_only_root_filesystem and sc.run_as_non_root and not sc.allow_privilege_escalation
    # One of them leads: the Lease's holder is that Pod's name (its $HOSTNAME) and a random suffix.
    lease = wait_until(lambda: client.CoordinationV1Api(kube).read_namespaced_lease("kto-leader", KTO_NAMESPACE),
                       timeout=60, what="the leader Lease")
    holders = [p.metadata.name for p in pods.items if lease.spec.holder_identity.startswith(p.metadata.name + "_")]
    assert len(holders) == 1, lease.spec


def render_example(in_cluster: KafkaEndpoints) -> list[dict]:
    """The development overlay as `kubectl apply -k` would apply it, pointed at the Kafka in the cluster."""
    out = subprocess.run(["kubectl", "kustomize", str(EXAMPLE)], capture_output=True, text=True, check=True).stdout
    docs = [d for d in yaml.safe_load_all(out) if d]
    for doc in docs:
        if doc["kind"] == "Secret":
            doc["stringData"] = {"username": in_cluster.username, "password": in_cluster.password}
        if doc["kind"] == "KafkaCluster":
            doc["spec"]["bootstrapServers"] = in_cluster.sasl.split(",")
    return docs


def test_media_gateway_example_becomes_ready(kube: client.ApiClient, in_cluster: KafkaEndpoints, kafka: KafkaView,
                                             tmp_path: Path) -> None:
    docs = render_example(in_cluster)
    (tmp_path / "example.yaml").write_text(yaml.safe_dump_all(docs))
    subprocess.run(["kubectl", "--kubeconfig", os.environ["KTO_E2E_KUBECONFIG"], "apply", "--server-side",
                    "-f", str(tmp_path / "example.yaml")], check=True, capture_output=True)
    (cluster,) = [d for d in docs if d["kind"] == "KafkaCluster"]
    res = Resources(kube, cluster["metadata"]["namespace"])
    res.wait_condition("kafkaclusters", cluster["metadata"]["name"], "True", "Connected", timeout=120)
    topics = [d for d in docs if d["kind"] == "KafkaTopic"]
    assert len(topics) == 17
    for topic in topics:
        obj = res.topic_ready(topic["metadata"]["name"], timeout=120)
        name = obj["status"]["topicName"]
        partitions, replicas, topic_id = kafka.topic(name)
        assert (partitions, replicas, topic_id) == (obj["status"]["partitions"], 1, obj["status"]["topicId"])
        if "partitions" in topic["spec"]:
            assert partitions == topic["spec"]["partitions"]


def test_topic_and_user_lifecycle(kube: client.ApiClient, in_cluster: KafkaEndpoints, from_host: KafkaEndpoints,
                                  kafka: KafkaView) -> None:
    home, other = namespace(kube), namespace(kube)
    cluster = connect_cluster(home, other, in_cluster, timeout=120)
    topic_lifecycle(home, other, cluster, kafka, timeout=120)
    user_lifecycle(home, cluster, from_host, timeout=120)
