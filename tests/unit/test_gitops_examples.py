"""The Media Gateway example laid out for GitOps: kustomize overlays rendered by kubectl's own kustomize, and
the Argo CD Application that syncs one of them."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml
from kto.api.models import KafkaClusterSpec, KafkaTopicSpec

from tests.support.env import REPO, localenv

EXAMPLE = REPO / "manifests" / "examples" / "media-gateway"
WAVE = "argocd.argoproj.io/sync-wave"


def kustomize(path: Path) -> list[dict]:
    kubectl = localenv.kubernetes_bin("kubectl")
    if not kubectl.exists():
        pytest.skip(f"{kubectl} is not built yet (make tools)")
    out = subprocess.run([str(kubectl), "kustomize", str(path)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def by_kind(docs: list[dict], kind: str) -> list[dict]:
    return [d for d in docs if d["kind"] == kind]


def wave(doc: dict) -> str | None:
    return (doc["metadata"].get("annotations") or {}).get(WAVE)


@pytest.mark.parametrize(("overlay", "replicas", "protocol"), [
    ("development", 1, "SASL_PLAINTEXT"),
    ("production", 3, "SASL_SSL"),
])
def test_overlay_renders_and_parses(overlay: str, replicas: int, protocol: str) -> None:
    docs = kustomize(EXAMPLE / "overlays" / overlay)
    [namespace] = by_kind(docs, "Namespace")
    # Argo CD never prunes or deletes the namespace (and with it every resource and Secret in it).
    assert namespace["metadata"]["annotations"]["argocd.argoproj.io/sync-options"] == "Prune=false,Delete=false"
    [cluster_doc] = by_kind(docs, "KafkaCluster")
    topics = by_kind(docs, "KafkaTopic")
    assert namespace["metadata"]["name"] == "media-gateway"
    assert {d["metadata"].get("namespace") for d in docs if d["kind"] != "Namespace"} == {"media-gateway"}
    cluster = KafkaClusterSpec.model_validate(cluster_doc["spec"])
    assert cluster.protocol == protocol
    assert len(topics) == 17
    names = set()
    for doc in topics:
        spec = KafkaTopicSpec.model_validate(doc["spec"])
        assert spec.clusterRef.name == cluster_doc["metadata"]["name"] and spec.clusterRef.namespace is None
        # What kto creates: the topic's own factor, else the cluster's topicDefaults.
        assert (spec.replicationFactor or cluster.topicDefaults.replicationFactor) == replicas, doc["metadata"]
        names.add(doc["metadata"]["name"])
    # Every topic of the base arrives, with its spec unchanged.
    base = {yaml.safe_load(p.read_text())["metadata"]["name"]: yaml.safe_load(p.read_text())["spec"]
            for p in (EXAMPLE / "base" / "topics").glob("*.yaml")}
    assert names == set(base)
    assert all(doc["spec"] == base[doc["metadata"]["name"]] for doc in topics)
    # Argo CD sync waves: the namespace, then the cluster and its Secret, then the topics.
    assert wave(namespace) == "-2"
    assert wave(cluster_doc) == "-1"
    assert all(wave(s) == "-1" for s in by_kind(docs, "Secret"))
    assert {wave(t) for t in topics} == {"0"}


def test_production_overlay_specifics() -> None:
    docs = kustomize(EXAMPLE / "overlays" / "production")
    cluster = KafkaClusterSpec.model_validate(by_kind(docs, "KafkaCluster")[0]["spec"])
    assert cluster.topicDefaults.config == {"min.insync.replicas": "2"}
    assert cluster.security.tls.caSecretRef.name == "kafka-ca"
    assert cluster.security.sasl is not None
    assert len(cluster.bootstrapServers) == 3
    # No credentials in Git for production: the Secrets come from a secret manager.
    assert by_kind(docs, "Secret") == []


def test_development_overlay_is_what_make_demo_applies() -> None:
    docs = kustomize(EXAMPLE / "overlays" / "development")
    [secret] = by_kind(docs, "Secret")
    cluster = by_kind(docs, "KafkaCluster")[0]
    assert secret["metadata"]["name"] == cluster["spec"]["security"]["sasl"]["secretRef"]["name"]
    assert set(secret["stringData"]) == {"username", "password"}


def test_argocd_application_syncs_an_overlay_in_waves() -> None:
    app = yaml.safe_load((EXAMPLE / "argocd-application.yaml").read_text())
    assert (app["apiVersion"], app["kind"]) == ("argoproj.io/v1alpha1", "Application")
    path = app["spec"]["source"]["path"]
    assert path.startswith("manifests/examples/media-gateway/overlays/")
    assert (REPO / path / "kustomization.yaml").exists()
    assert by_kind(kustomize(REPO / path), "KafkaTopic")
    assert app["metadata"]["annotations"][WAVE] == "1"
    assert app["spec"]["destination"]["namespace"] == "media-gateway"
    assert "ServerSideApply=true" in app["spec"]["syncPolicy"]["syncOptions"]
