"""kto as users run it: its image, installed by its Helm chart with 2 replicas on a kind cluster, with Kafka in the
cluster (KRaft, SASL/SCRAM, the authorizer).

Run by hack/kind-e2e.sh (`make kind-e2e`), or by hand after `make kind-up` with ``source .kto/kind-env.sh; .venv/bin/
python -m pytest -m e2e tests/e2e``; skipped unless ``KTO_E2E_KUBECONFIG`` is set. The tests run in file order and
leave the cluster as kind-up left it (the last one installs kto again after uninstalling it), so they can run again.
The checks are the integration tier's (tests/support/lifecycle.py): the resources' status and Events, and Kafka seen
through the test's own client, from the host (``KTO_E2E_KAFKA_HOST_BOOTSTRAP``; kto itself uses
``KTO_E2E_KAFKA_BOOTSTRAP``, the in-cluster Service). Every wait is on a condition, with a timeout.
"""

from __future__ import annotations

import os
import subprocess
import threading
import uuid
from pathlib import Path

import pytest
import yaml
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from tests.support.env import REPO, KafkaEndpoints
from tests.support.kafka import KafkaView
from tests.support.lifecycle import connect_cluster, topic_lifecycle, user_lifecycle
from tests.support.resources import Resources, kafka_topic, unique
from tests.support.wait import wait_until

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not os.environ.get("KTO_E2E_KUBECONFIG"),
                       reason="needs a kind cluster: make kind-e2e, or make kind-up and source .kto/kind-env.sh"),
]

EXAMPLE = REPO / "manifests" / "examples" / "media-gateway" / "overlays" / "development"
NS = os.environ.get("KTO_E2E_NAMESPACE", "kto")
RELEASE = "kto"
SELECTOR = "app.kubernetes.io/name=kto"
LEASE = "kto-leader"


def endpoints(bootstrap: str) -> KafkaEndpoints:
    return KafkaEndpoints(nodes=1, version="", plaintext="", sasl=bootstrap, sasl_ssl="", ca_file="",
                          username=os.environ.get("KTO_E2E_KAFKA_USERNAME", "admin"),
                          password=os.environ.get("KTO_E2E_KAFKA_PASSWORD", ""))


def run(*argv: str, timeout: float = 600) -> str:
    """A command of the kind environment (kubectl, helm, docker, kind: on PATH from .kto/kind-env.sh)."""
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=REPO)
    assert r.returncode == 0, f"{' '.join(argv)} failed ({r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r.stdout


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


@pytest.fixture(scope="module")
def example(kube: client.ApiClient, in_cluster: KafkaEndpoints, tmp_path_factory) -> dict:
    """The Media Gateway development overlay, applied as `kubectl apply -k` would, pointed at the in-cluster Kafka."""
    out = run("kubectl", "kustomize", str(EXAMPLE))
    docs = [d for d in yaml.safe_load_all(out) if d]
    for doc in docs:
        if doc["kind"] == "Secret":
            doc["stringData"] = {"username": in_cluster.username, "password": in_cluster.password}
        if doc["kind"] == "KafkaCluster":
            doc["spec"]["bootstrapServers"] = in_cluster.sasl.split(",")
    path = tmp_path_factory.mktemp("example") / "example.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    run("kubectl", "apply", "--server-side", "-f", str(path))
    (cluster,) = [d for d in docs if d["kind"] == "KafkaCluster"]
    return {"namespace": cluster["metadata"]["namespace"], "cluster": cluster["metadata"]["name"],
            "topics": [d for d in docs if d["kind"] == "KafkaTopic"]}


def kto_pods(kube: client.ApiClient) -> list[client.V1Pod]:
    pods = client.CoreV1Api(kube).list_namespaced_pod(NS, label_selector=SELECTOR).items
    return [p for p in pods if p.metadata.deletion_timestamp is None]


def ready(pod: client.V1Pod) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])


def two_ready_pods(kube: client.ApiClient) -> list[client.V1Pod] | None:
    pods = kto_pods(kube)
    return pods if len(pods) == 2 and all(ready(p) for p in pods) else None


def leader(kube: client.ApiClient, pods: list[client.V1Pod]) -> str | None:
    """The Pod holding the Lease: its holder is that Pod's name (its $HOSTNAME) and a random suffix."""
    lease = client.CoordinationV1Api(kube).read_namespaced_lease(LEASE, NS)
    holders = [p.metadata.name for p in pods if (lease.spec.holder_identity or "").startswith(p.metadata.name + "_")]
    assert len(holders) <= 1, lease.spec
    return holders[0] if holders else None


def wait_settled(kube: client.ApiClient, timeout: float = 240) -> tuple[list[client.V1Pod], str]:
    """Two ready kto Pods, and one of them leading."""
    def probe():
        pods = two_ready_pods(kube)
        return pods and (lead := leader(kube, pods)) and (pods, lead)
    return wait_until(probe, timeout=timeout, interval=1, what="2 ready kto Pods, one holding the Lease")


def test_kto_runs_as_the_chart_deploys_it(kube: client.ApiClient) -> None:
    deployment = client.AppsV1Api(kube).read_namespaced_deployment("kto", NS)
    assert deployment.spec.replicas == 2 and deployment.spec.strategy.type == "RollingUpdate"
    pods, lead = wait_settled(kube)
    for pod in pods:
        (status,) = pod.status.container_statuses
        assert status.ready and status.restart_count == 0, f"kto restarted: kubectl -n {NS} logs {pod.metadata.name} -p"
        (container,) = pod.spec.containers
        sc = container.security_context
        assert sc.read_only_root_filesystem and sc.run_as_non_root and not sc.allow_privilege_escalation
        assert container.liveness_probe.http_get.path == "/healthz" and container.readiness_probe.http_get
        # As running, not only as declared: the process is kto's non-root user, and / cannot be written.
        r = subprocess.run(["kubectl", "-n", NS, "exec", pod.metadata.name, "--", "python3", "-c",
                            "import os; print(os.getuid(), os.getgid()); open('/written-by-e2e', 'w')"],
                           capture_output=True, text=True, timeout=60)
        assert r.stdout.split() == ["10001", "10001"], (r.stdout, r.stderr)
        assert r.returncode != 0 and "Read-only file system" in r.stderr, r.stderr
    # Exactly one leads: the Lease names one of the two, and only that one reports kto_leader 1.
    leaders = []
    for pod in pods:
        text = client.CoreV1Api(kube).connect_get_namespaced_pod_proxy_with_path(
            f"{pod.metadata.name}:8081", NS, "metrics")
        if "\nkto_leader 1.0" in "\n" + text:
            leaders.append(pod.metadata.name)
    assert leaders == [lead]


def test_media_gateway_topics_become_ready(kube: client.ApiClient, example: dict, kafka: KafkaView) -> None:
    res = Resources(kube, example["namespace"])
    res.wait_condition("kafkaclusters", example["cluster"], "True", "Connected", timeout=120)
    topics = example["topics"]
    assert len(topics) == 17
    for topic in topics:
        obj = res.topic_ready(topic["metadata"]["name"], timeout=180)
        name = obj["status"]["topicName"]
        partitions, replicas, topic_id = kafka.topic(name)
        assert (partitions, replicas, topic_id) == (obj["status"]["partitions"], 1, obj["status"]["topicId"])
        if "partitions" in topic["spec"]:
            assert partitions == topic["spec"]["partitions"]
    # What the chart's NOTES tell a user to run lists them, Ready.
    out = run("kubectl", "get", "kafkatopics", "-A", "-o", "custom-columns=NS:.metadata.namespace,NAME:.metadata.name,"
              "READY:.status.conditions[?(@.type=='Ready')].status", "--no-headers")
    listed = {tuple(line.split()[:2]): line.split()[2] for line in out.splitlines() if line.strip()}
    for topic in topics:
        assert listed[(example["namespace"], topic["metadata"]["name"])] == "True"
    # And the chart's NOTES' other command: every kto kind, by its category.
    everything = run("kubectl", "get", "kto", "-A", "--no-headers")
    assert sum(1 for line in everything.splitlines() if line.startswith(example["namespace"] + " ")) >= 18


def test_metrics_are_scraped_through_the_charts_service(kube: client.ApiClient, example: dict) -> None:
    core = client.CoreV1Api(kube)
    service = core.read_namespaced_service("kto-metrics", NS)
    (port,) = service.spec.ports
    assert (port.name, port.target_port) == ("metrics", "metrics")
    pods, _ = wait_settled(kube)

    def both_behind_the_service():
        slices = client.DiscoveryV1Api(kube).list_namespaced_endpoint_slice(
            NS, label_selector="kubernetes.io/service-name=kto-metrics").items
        ready_pods = {e.target_ref.name for s in slices for e in s.endpoints or [] if e.conditions.ready}
        return ready_pods == {p.metadata.name for p in pods}
    wait_until(both_behind_the_service, timeout=60, what="both kto Pods ready behind the kto-metrics Service")
    # The apiserver's service proxy: a scrape through the Service, as Prometheus' would go.
    text = core.connect_get_namespaced_service_proxy_with_path("kto-metrics:metrics", NS, "metrics")
    assert "kto_build_info{" in text and "# TYPE kto_leader gauge" in text, text[:2000]
    # kto_topic_ready is the leader's: scrape until the Service lands on it (it balances between the Pods).
    wait_until(lambda: f'namespace="{example["namespace"]}"' in core.connect_get_namespaced_service_proxy_with_path(
        "kto-metrics:metrics", NS, "metrics"), timeout=60, interval=0.5,
        what="kto_topic_ready for the Media Gateway topics through the Service")


def test_topic_and_user_lifecycle(kube: client.ApiClient, in_cluster: KafkaEndpoints, from_host: KafkaEndpoints,
                                  kafka: KafkaView) -> None:
    home, other = namespace(kube), namespace(kube)
    cluster = connect_cluster(home, other, in_cluster, timeout=120)
    topic_lifecycle(home, other, cluster, kafka, timeout=120)
    user_lifecycle(home, cluster, from_host, timeout=120)


def namespace(api: client.ApiClient) -> Resources:
    name = unique("e2e")
    client.CoreV1Api(api).create_namespace({"metadata": {"name": name}})
    return Resources(api, name)


def test_deleting_the_leader_hands_over(kube: client.ApiClient, example: dict, kafka: KafkaView) -> None:
    pods, lead = wait_settled(kube)
    client.CoreV1Api(kube).delete_namespaced_pod(lead, NS)
    # A topic applied while the leader goes: the new leader reconciles it.
    res = Resources(kube, example["namespace"])
    name = unique("handover")
    res.topic(kafka_topic(name, example["cluster"], partitions=2))
    # The leader gives the Lease back as it stops: the standby, or the Pod replacing the leader if it asks first,
    # takes it over; never the deleted Pod again.
    new_lead = wait_until(lambda: (h := leader(kube, kto_pods(kube))) not in (None, lead) and h, timeout=120,
                          interval=0.5, what=f"another Pod to take the Lease over from {lead}")
    obj = res.topic_ready(name, timeout=120)
    assert kafka.topic(obj["status"]["topicName"])[0] == 2
    pods, settled_lead = wait_settled(kube)
    assert settled_lead == new_lead and lead not in {p.metadata.name for p in pods}


def test_the_pdb_lets_one_pod_go_at_a_time(kube: client.ApiClient) -> None:
    pods, _ = wait_settled(kube)
    policy = client.PolicyV1Api(kube)
    pdb = wait_until(lambda: (b := policy.read_namespaced_pod_disruption_budget("kto", NS)).status
                     and b.status.disruptions_allowed == 1 and b, timeout=60, what="the PDB to allow one disruption")
    assert pdb.spec.min_available == 1
    first, second = (p.metadata.name for p in pods)

    def evict(name: str) -> None:
        client.CoreV1Api(kube).create_namespaced_pod_eviction(
            name, NS, {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": name, "namespace": NS}})
    evict(first)
    with pytest.raises(ApiException) as refused:
        evict(second)
    # 429: "Cannot evict pod as it would violate the pod's disruption budget."
    assert refused.value.status == 429, refused.value
    wait_settled(kube)


def test_helm_upgrade_to_a_rebuilt_image_rolls_both_pods(kube: client.ApiClient, example: dict,
                                                         kafka: KafkaView) -> None:
    res = Resources(kube, example["namespace"])
    before_topics = {t["metadata"]["name"]: res.get("kafkatopics", t["metadata"]["name"])["status"]["topicId"]
                     for t in example["topics"]}
    pods, _ = wait_settled(kube)
    old = {p.metadata.name for p in pods}
    # A rebuilt image: the same Dockerfile, a new label, so a new image ID under a new tag.
    tag = "e2e-" + uuid.uuid4().hex[:8]
    image = os.environ.get("KTO_KIND_IMAGE", "kto:e2e").rsplit(":", 1)[0]
    python_image = os.environ.get("KTO_KIND_PYTHON_IMAGE", "python:3.11-slim")
    run("docker", "build", "-q", "--build-arg", f"PYTHON_IMAGE={python_image}",
        "--label", f"dev.kto.e2e.rebuild={tag}", "-t", f"{image}:{tag}", ".")
    run("kind", "load", "docker-image", f"{image}:{tag}", "--name", os.environ.get("KTO_KIND_CLUSTER", "kto-e2e"))
    # Watch the rollout: at no moment fewer ready kto Pods than the PDB's minAvailable (1).
    lowest, stop = [2], threading.Event()

    def watch():
        while not stop.is_set():
            try:
                lowest[0] = min(lowest[0], sum(1 for p in kto_pods(kube) if ready(p)))
            except Exception:  # noqa: BLE001 - a failed read is no observation
                pass
            stop.wait(0.3)
    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        run("helm", "upgrade", RELEASE, "helm/kto", "--namespace", NS, "--reuse-values", "--set", f"image.tag={tag}",
            "--wait", "--timeout", "300s")
        run("kubectl", "-n", NS, "rollout", "status", "deployment/kto", "--timeout=300s")
    finally:
        stop.set()
        watcher.join()
    assert lowest[0] >= 1, "the rollout left no kto Pod ready"
    pods, _ = wait_settled(kube)
    assert not old & {p.metadata.name for p in pods}, "both Pods were replaced"
    assert {p.spec.containers[0].image for p in pods} == {f"{image}:{tag}"}
    # No topic lost, none recreated: the same topic ids, Ready, and in Kafka.
    for name, topic_id in before_topics.items():
        obj = res.topic_ready(name, timeout=120)
        assert obj["status"]["topicId"] == topic_id
        assert kafka.topic(obj["status"]["topicName"])[2] == topic_id


def test_helm_uninstall_leaves_the_kafka_topics(kube: client.ApiClient, example: dict, kafka: KafkaView) -> None:
    res = Resources(kube, example["namespace"])
    names = [res.get("kafkatopics", t["metadata"]["name"])["status"]["topicName"] for t in example["topics"]]
    values = run("helm", "get", "values", RELEASE, "--namespace", NS, "-o", "yaml")
    run("helm", "uninstall", RELEASE, "--namespace", NS, "--wait", "--timeout", "120s")
    wait_until(lambda: not client.CoreV1Api(kube).list_namespaced_pod(NS, label_selector=SELECTOR).items,
               timeout=120, what="the kto Pods to be gone")
    for name in names:
        assert kafka.exists(name), f"{name} was deleted from Kafka by helm uninstall"
    # The KafkaTopics stay too (the CRDs are not the release's), waiting for a kto to serve them again.
    assert all(res.get("kafkatopics", t["metadata"]["name"]) for t in example["topics"])
    # Leave the cluster as kind-up left it: kto installed again, with the values it had.
    values_file = Path(os.environ.get("TMPDIR", "/tmp")) / f"kto-e2e-values-{uuid.uuid4().hex[:8]}.yaml"
    values_file.write_text(values)
    try:
        run("helm", "install", RELEASE, "helm/kto", "--namespace", NS, "-f", str(values_file), "--wait",
            "--timeout", "300s")
    finally:
        values_file.unlink()
    wait_settled(kube)
    for topic in example["topics"]:
        res.topic_ready(topic["metadata"]["name"], timeout=120)
