"""``kto plan`` on day two (issue 26), on the real apiserver and Kafka, run as a user runs it: what a KafkaCluster's
``topicDefaults`` change does to the topics already bound to it, what ``--prune`` deletes and what that does in
Kafka (checked against what kto then does), exit codes, and progress only on a terminal."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import yaml

from tests.integration.test_cli import kto_cli, kubectl, plan_json
from tests.support.resources import kafka_topic, unique
from tests.support.users import kafka_user
from tests.support.wait import wait_until

API = "kafka.kto.dev/v1alpha1"


def write(folder: Path, doc: dict) -> Path:
    folder.mkdir(exist_ok=True)
    path = folder / f"{doc['kind'].lower()}-{doc['metadata']['name']}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def cluster_manifest(ns, name: str, change) -> dict:
    """The live KafkaCluster as a manifest, with ``change`` applied to its spec."""
    live = ns.get("kafkaclusters", name)
    spec = live["spec"]
    change(spec)
    return {"apiVersion": API, "kind": "KafkaCluster", "metadata": {"name": name, "namespace": ns.ns}, "spec": spec}


def topic_manifest(ns, name: str, cluster: str, annotations: dict | None = None, labels: dict | None = None,
                   **spec) -> dict:
    doc = kafka_topic(name, cluster, annotations=annotations, **spec)
    doc["metadata"] |= {"namespace": ns.ns, **({"labels": labels} if labels else {})}
    return doc


def on_a_terminal(env, *args: str) -> tuple[int, str]:
    """kto with stderr on a pseudo-terminal (stdout captured): (exit code, what the terminal showed)."""
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen([sys.executable, "-m", "kto", *args], stdout=subprocess.PIPE, stderr=slave,
                                env={**os.environ, "KUBECONFIG": env.kubeconfig})
        os.close(slave)
        shown = b""
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            shown += chunk
        proc.stdout.read()
        return proc.wait(timeout=180), shown.decode(errors="replace")
    finally:
        os.close(master)


def test_a_topic_defaults_change_lists_every_existing_topic_it_changes(env, ns, cluster, kafka_view, kto,
                                                                        tmp_path) -> None:
    prefix = unique("fan")
    plain = [f"plain-{i}" for i in range(3)]
    for name in plain:
        ns.topic(kafka_topic(name, cluster, topicName=f"{prefix}.{name}", partitions=1))
    ns.topic(kafka_topic("own-codec", cluster, topicName=f"{prefix}.own-codec", partitions=1,
                         config={"compression.type": "zstd"}))
    for name in [*plain, "own-codec"]:
        ns.topic_ready(name, timeout=90)

    folder = tmp_path / "gitops"
    write(folder, cluster_manifest(ns, cluster, lambda s: s.setdefault("topicDefaults", {}).setdefault(
        "config", {}).update({"compression.type": "lz4"})))
    # One bound topic's file is in the folder, unchanged: it changes all the same, through the KafkaCluster.
    write(folder, topic_manifest(ns, "plain-0", cluster, topicName=f"{prefix}.plain-0", partitions=1))

    code, doc = plan_json(env, folder)
    assert code == 2
    moved = {r["name"]: r for r in doc["resources"] if r.get("via")}
    assert set(moved) == set(plain)  # own-codec sets compression.type itself: the default does not reach it
    for r in moved.values():
        assert r["outcome"] == "update"
        assert r["effective"] == [{"field": "config compression.type", "from": None, "to": "lz4"}]
        assert r["changes"] == [{"type": "config", "key": "compression.type", "from": "producer", "to": "lz4"}]
    assert moved["plain-0"]["source"] == str(folder / "kafkatopic-plain-0.yaml")
    [c] = doc["clusters"]
    assert (c["name"], c["topics"]) == (cluster, 3)
    assert {"field": "topicDefaults.config.compression.type", "from": None, "to": "lz4"} in c["changes"]
    assert doc["summary"]["changedByClusters"] == 3

    text = kto_cli(env, "plan", "-f", str(folder))
    assert text.returncode == 2
    assert f"KafkaTopic {ns.ns}/plain-1 -> topic {prefix}.plain-1" in text.stdout
    assert "effective config compression.type: (unset) -> lz4" in text.stdout
    assert "config compression.type: producer -> lz4" in text.stdout
    assert "changing the effective spec of 3 existing KafkaTopic(s)" in text.stdout
    assert "described" not in text.stderr  # not a terminal: no progress

    code, shown = on_a_terminal(env, "plan", "-f", str(folder))
    assert code == 2
    assert "\rdescribed 3/3 topics" in shown, shown  # plain-0 (its file), plain-1 and plain-2 (through the cluster)
    # kto import too: progress on a terminal, none in a pipe.
    code, shown = on_a_terminal(env, "import", "--cluster", f"{ns.ns}/{cluster}", "--include", f"{prefix}.*",
                                "--dir", str(tmp_path / "imported"))
    assert code == 0 and "\rdescribed 4/4 topics" in shown, shown
    piped = kto_cli(env, "import", "--cluster", f"{ns.ns}/{cluster}", "--include", f"{prefix}.*",
                    "--dir", str(tmp_path / "imported-again"))
    assert piped.returncode == 0 and "described" not in piped.stderr, piped.stderr

    # What the plan said is what applying does.
    kubectl(env, "apply", "-f", str(folder))
    for name in plain:
        wait_until(lambda n=name: kafka_view.overrides(f"{prefix}.{n}").get("compression.type") == "lz4",
                   timeout=60, what=f"{name} compressed with lz4")
    assert kafka_view.overrides(f"{prefix}.own-codec")["compression.type"] == "zstd"
    code, doc = plan_json(env, folder)
    assert (code, doc["clusters"], [r for r in doc["resources"] if r["outcome"] != "unchanged"]) == (0, [], [])


def tracked(ns, name: str, app: str, kind: str = "KafkaTopic") -> dict:
    """Argo CD's annotation tracking, as Argo CD writes it on what it applies."""
    return {"argocd.argoproj.io/tracking-id": f"{app}:kafka.kto.dev/{kind}:{ns.ns}/{name}"}


def test_prune_lists_what_the_folder_no_longer_holds_and_what_deleting_it_does(env, ns, cluster, kafka_view, kto,
                                                                                tmp_path) -> None:
    prefix, app = unique("prn"), unique("app")
    kafka_view.create(f"{prefix}.found", partitions=1, config={})  # exists before kto: adopted
    specs = {"kept": {}, "gone": {}, "retained": {"deletionPolicy": "Retain"}, "found": {}}
    folder = tmp_path / "app"
    for name, extra in specs.items():
        write(folder, topic_manifest(ns, name, cluster, annotations=tracked(ns, name, app), labels={"team": "a"},
                                     topicName=f"{prefix}.{name}", partitions=1, **extra))
    # Not the folder's: another Application's, and one whose annotation was copied from another object.
    write(tmp_path / "other", topic_manifest(ns, "other", cluster, annotations=tracked(ns, "other", "another"),
                                             topicName=f"{prefix}.other", partitions=1))
    write(tmp_path / "other", topic_manifest(ns, "copied", cluster, annotations=tracked(ns, "gone", app),
                                             topicName=f"{prefix}.copied", partitions=1))
    user = kafka_user("reader", cluster, acls=[], userName=unique("reader"))
    user["metadata"] |= {"namespace": ns.ns, "annotations": tracked(ns, "reader", app, "KafkaUser")}
    write(folder, user)
    kubectl(env, "apply", "-f", str(folder))
    kubectl(env, "apply", "-f", str(tmp_path / "other"))
    for name in [*specs, "other", "copied"]:
        ns.topic_ready(name, timeout=90)
    ns.wait_condition("kafkausers", "reader", "True", "Reconciled", timeout=90)
    assert ns.get("kafkatopics", "found")["status"]["ownership"] == "Adopted"

    code, _ = plan_json(env, folder)
    assert code == 0  # without --prune, what is missing is not looked for
    done = kto_cli(env, "plan", "-f", str(folder), "--prune", "-o", "json")
    assert done.returncode == 0, done.stderr  # nothing removed yet

    for name in ("gone", "retained", "found"):
        (folder / f"kafkatopic-{name}.yaml").unlink()
    (folder / "kafkauser-reader.yaml").unlink()
    done = kto_cli(env, "plan", "-f", str(folder), "--prune", "-o", "json")
    assert done.returncode == 2, done.stderr
    doc = json.loads(done.stdout)
    users = {p["name"]: (p["effect"], p["kafkaName"]) for p in doc["prune"] if p["kind"] == "KafkaUser"}
    assert users == {"reader": ("deleted", user["spec"]["userName"])}
    pruned = {p["name"]: (p["effect"], p["kafkaName"]) for p in doc["prune"] if p["kind"] == "KafkaTopic"}
    assert pruned == {"gone": ("deleted", f"{prefix}.gone"), "retained": ("retained", f"{prefix}.retained"),
                      "found": ("adopted, retained", f"{prefix}.found")}
    by_label = kto_cli(env, "plan", "-f", str(folder), "--prune", "-l", "team=a", "-o", "json")
    assert by_label.returncode == 2
    assert {p["name"]: p["effect"] for p in json.loads(by_label.stdout)["prune"]} == \
        {k: v[0] for k, v in pruned.items()}  # the KafkaUser has no team label: -l leaves it out
    text = kto_cli(env, "plan", "-f", str(folder), "--prune").stdout
    assert f"- prune        KafkaTopic {ns.ns}/gone -> deleted: Kafka topic {prefix}.gone deleted" in text
    assert f"- prune        KafkaUser {ns.ns}/reader -> deleted: Kafka user {user['spec']['userName']} deleted" in text
    assert "4 to prune (1 adopted, retained, 2 deleted, 1 retained)" in text

    # What the plan said is what deleting does.
    for name in pruned:
        ns.delete("kafkatopics", name)
        ns.wait_gone("kafkatopics", name)
    assert not kafka_view.exists(f"{prefix}.gone")
    assert kafka_view.exists(f"{prefix}.retained") and kafka_view.exists(f"{prefix}.found")
    for name in ("retained", "found"):
        kafka_view.delete(f"{prefix}.{name}")


def test_prune_without_a_way_to_know_what_the_folder_owns_is_an_error(env, ns, cluster, kto, tmp_path) -> None:
    folder = tmp_path / "untracked"
    write(folder, topic_manifest(ns, "lone", cluster, topicName=unique("lone"), partitions=1))
    kubectl(env, "apply", "-f", str(folder))
    done = kto_cli(env, "plan", "-f", str(folder), "--prune")
    assert done.returncode == 1
    assert "carries Argo CD's tracking" in done.stderr and "-l/--selector" in done.stderr
    bad = kto_cli(env, "plan", "-f", str(folder), "--prune", "-l", "team in (a")
    assert bad.returncode == 1 and "label selector" in bad.stderr
    usage = kto_cli(env, "plan", "-f", str(folder), "-l", "team=a")
    assert usage.returncode == 1 and "add --prune" in usage.stderr
