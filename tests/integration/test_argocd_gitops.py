"""GitOps friendliness: what kto writes (status, its finalizer) never shows as a difference from Git, so a tool
that applies manifests server-side (Argo CD with ServerSideApply=true, Flux) sees them in sync."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from tests.support.resources import kafka_cluster, ready

ARGOCD_MANAGER = "argocd-controller"  # the field manager Argo CD applies with


def write_manifests(folder: Path, env, ns, suffix: str) -> list[str]:
    """A KafkaCluster with its Secret and three KafkaTopics, as they would sit in a Git repository."""
    secret = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
              "metadata": {"name": "kafka-admin", "namespace": ns.ns, "labels": {"kto.dev/credentials": "true"},
                           "annotations": {"argocd.argoproj.io/sync-wave": "-1"}},
              "stringData": {"username": env.kafka.username, "password": env.kafka.password}}
    cluster = kafka_cluster("media-gateway", env.kafka, resyncIntervalSeconds=10,
                            topicDefaults={"replicationFactor": 1, "config": {"cleanup.policy": "delete"}})
    cluster["metadata"] |= {"namespace": ns.ns, "annotations": {"argocd.argoproj.io/sync-wave": "-1"}}
    topics = []
    for name, spec in (
        ("playback-events", {"partitions": 5, "config": {"retention.ms": 604800000}}),
        ("audit-logs", {"partitions": 3, "config": {"retention.ms": "7776000000", "min.insync.replicas": 1},
                        "deletionPolicy": "Delete"}),
        ("content-ingested", {"partitions": 2, "topicName": "Content_Ingested"}),
    ):
        spec = {"clusterRef": {"name": "media-gateway"}, **spec}
        spec["topicName"] = f"{spec.get('topicName', name)}.{suffix}"  # apart from other tests' Kafka topics
        topics.append({"apiVersion": "kafka.kto.dev/v1alpha1", "kind": "KafkaTopic",
                       "metadata": {"name": name, "namespace": ns.ns,
                                    "labels": {"app.kubernetes.io/part-of": "media-gateway"},
                                    "annotations": {"argocd.argoproj.io/sync-wave": "0"}},
                       "spec": spec})
    (folder / "secret.yaml").write_text(yaml.safe_dump(secret))
    (folder / "kafkacluster.yaml").write_text(yaml.safe_dump(cluster))
    (folder / "topics.yaml").write_text(yaml.safe_dump_all(topics))
    return [t["metadata"]["name"] for t in topics]


def run(env, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*env.kubectl(), *args], capture_output=True, text=True, timeout=60)


def test_server_side_diff_is_empty_once_kto_reconciled(env, ns, kto, tmp_path) -> None:
    names = write_manifests(tmp_path, env, ns, ns.ns[-8:])
    applied = run(env, "apply", "--server-side", f"--field-manager={ARGOCD_MANAGER}", "-f", str(tmp_path))
    assert applied.returncode == 0, applied.stderr
    ns.wait_condition("kafkaclusters", "media-gateway", "True", "Connected")
    for name in names:
        obj = ns.topic_ready(name)
        # kto wrote to these objects: its finalizer and the status.
        assert "kto.dev/topic-protection" in obj["metadata"]["finalizers"]
        assert obj["status"]["topicId"]

    # As Argo CD compares: a dry-run server-side apply with the field manager that applied.
    diff = run(env, "diff", "--server-side", f"--field-manager={ARGOCD_MANAGER}", "-f", str(tmp_path))
    assert (diff.returncode, diff.stdout, diff.stderr) == (0, "", ""), diff.stderr
    # kto's kinds are in sync for any field manager, e.g. kubectl diff's default one. (Not the Secret: its
    # write-only stringData conflicts with the manager that applied it, whatever the controller.)
    kto_files = ["-f", str(tmp_path / "kafkacluster.yaml"), "-f", str(tmp_path / "topics.yaml")]
    diff = run(env, "diff", "--server-side", *kto_files)
    assert (diff.returncode, diff.stdout, diff.stderr) == (0, "", ""), diff.stderr

    # The same comparison sees a real change in Git.
    topics = list(yaml.safe_load_all((tmp_path / "topics.yaml").read_text()))
    topics[0]["spec"]["partitions"] = 6
    (tmp_path / "topics.yaml").write_text(yaml.safe_dump_all(topics))
    diff = run(env, "diff", "--server-side", f"--field-manager={ARGOCD_MANAGER}", "-f", str(tmp_path))
    assert diff.returncode == 1, diff.stderr
    assert "-  partitions: 5" in diff.stdout and "+  partitions: 6" in diff.stdout
    assert ready(ns.get("kafkatopics", names[0]))["status"] == "True"  # a diff is a dry run: nothing changed
