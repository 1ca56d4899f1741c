"""kto import, plan and check against a real apiserver and real brokers (issue 15), run as a user runs them: the
``kto`` command with a kubeconfig. What kto then does is read from Kafka (topic ids, overrides), from the
resources' status and Events, and from kto's own request counter (``kto_kafka_admin_requests_total``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.integration.test_safety import resynced, writes
from tests.support.resources import kafka_cluster, ready, unique
from tests.support.wait import wait_until

REPO = Path(__file__).resolve().parents[2]
SEED = REPO / "manifests" / "examples" / "media-gateway" / "base" / "topics"
ASSORTED = [
    {}, {"retention.ms": "86400000"}, {"cleanup.policy": "compact"},
    {"cleanup.policy": "compact,delete", "retention.ms": "-1"},
    {"min.insync.replicas": "1", "max.message.bytes": "2097152"},
    {"segment.bytes": "104857600", "retention.bytes": "1073741824", "compression.type": "zstd"},
]


def kto_cli(env, *args: str, stdin: str | None = None, extra_env: dict | None = None) -> subprocess.CompletedProcess:
    """The kto command, with the environment's kubeconfig, as a user runs it."""
    environ = {**os.environ, "KUBECONFIG": env.kubeconfig, **(extra_env or {})}
    return subprocess.run([sys.executable, "-m", "kto", *args], input=stdin, text=True, capture_output=True,
                          env=environ, timeout=180)


def kubectl(env, *args: str) -> str:
    done = subprocess.run([*env.kubectl(), *args], text=True, capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def plan_json(env, folder: Path) -> tuple[int, dict]:
    done = kto_cli(env, "plan", "-f", str(folder), "-o", "json")
    assert done.returncode in (0, 2, 3), done.stderr  # nothing, changes, refusals (1: an error)
    return done.returncode, json.loads(done.stdout)


def changed(doc: dict) -> dict[str, dict]:
    return {r["name"]: r for r in doc["resources"] if r["outcome"] != "unchanged"}


# --- import ---------------------------------------------------------------------------------------------------


def test_import_then_apply_adopts_fifty_topics_without_a_write(env, ns, cluster, kafka_view, kto, tmp_path) -> None:
    prefix = unique("imp")
    topics = {f"{prefix}.Topic_{i:02d}": (1 + i % 4, ASSORTED[i % len(ASSORTED)]) for i in range(50)}
    for name, (partitions, config) in topics.items():
        kafka_view.create(name, partitions=partitions, config=config)
    for name, (_, config) in topics.items():
        wait_until(lambda n=name, c=config: kafka_view.overrides(n) == c, timeout=30, what=f"{name}'s overrides")
    before = {name: (kafka_view.topic(name), kafka_view.overrides(name)) for name in topics}

    out = tmp_path / "imported"
    done = kto_cli(env, "import", "--cluster", f"{ns.ns}/{cluster}", "--include", f"{prefix}.*", "--dir", str(out))
    assert done.returncode == 0, done.stderr
    files = sorted((out / "topics").glob("*.yaml"))
    assert len(files) == 50
    assert yaml.safe_load((out / "kustomization.yaml").read_text())["resources"] == \
        [f"topics/{f.name}" for f in files]
    kubectl(env, "apply", "-k", str(out))

    names = [yaml.safe_load(f.read_text())["metadata"]["name"] for f in files]
    for name in names:
        obj = ns.topic_ready(name, timeout=90)
        assert obj["status"]["adopted"] is True
    resynced(kto, (ns, cluster))
    assert writes(kto, ns, cluster) == {}, "kto wrote to Kafka while adopting imported topics"
    assert {name: (kafka_view.topic(name), kafka_view.overrides(name)) for name in topics} == before
    assert [n for n in names if ns.events(n, "DriftCorrected")] == []
    assert all(ready(ns.get("kafkatopics", n))["reason"] == "Reconciled" for n in names)
    # What was imported plans to nothing.
    code, doc = plan_json(env, out)
    assert (code, changed(doc)) == (0, {})
    # Applying (and deleting) adopted topics never deletes them: they were not kto's to begin with.
    ns.delete_all_topics()
    assert all(kafka_view.exists(name) for name in topics)
    for name in topics:
        kafka_view.delete(name)


# --- plan -----------------------------------------------------------------------------------------------------


def seed_folder(folder: Path, namespace: str, prefix: str) -> list[str]:
    """The seed's 17 topic files, in a kustomization for the test's namespace; the Kafka names get the test's
    prefix (Kafka topic names are global to the brokers the tests share)."""
    folder.mkdir()
    names = []
    for path in sorted(SEED.glob("*.yaml")):
        doc = yaml.safe_load(path.read_text())
        doc["spec"]["topicName"] = f"{prefix}.{doc['metadata']['name']}"
        (folder / path.name).write_text(yaml.safe_dump(doc, sort_keys=False))
        names.append(doc["metadata"]["name"])
    (folder / "kustomization.yaml").write_text(yaml.safe_dump(
        {"namespace": namespace, "resources": [f"{n}.yaml" for n in names]}))
    return names


def edit(folder: Path, name: str, change) -> None:
    path = folder / f"{name}.yaml"
    doc = yaml.safe_load(path.read_text())
    change(doc["spec"])
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


def test_plan_of_the_seed_lists_creates_then_exactly_the_edits(env, ns, cluster, kafka_view, kto, tmp_path) -> None:
    ns.cluster(kafka_cluster("media-gateway", env.kafka, resyncIntervalSeconds=10))
    ns.wait_condition("kafkaclusters", "media-gateway", "True", "Connected")
    folder, prefix = tmp_path / "seed", unique("mg")
    names = seed_folder(folder, ns.ns, prefix)
    assert len(names) == 17

    code, doc = plan_json(env, folder)
    assert code == 2
    assert {r["name"]: r["outcome"] for r in doc["resources"]} == dict.fromkeys(names, "create")
    text = kto_cli(env, "plan", "-f", str(folder)).stdout
    assert "Plan: 17 to create." in text and "config retention.ms: 7776000000" in text

    kubectl(env, "apply", "-k", str(folder))
    for name in names:
        ns.topic_ready(name, timeout=90)
    code, doc = plan_json(env, folder)
    assert (code, changed(doc)) == (0, {})

    edit(folder, "analytics-events", lambda s: s["config"].update({"retention.ms": 86400000}))
    edit(folder, "audit-logs", lambda s: s.update(partitions=6))
    code, doc = plan_json(env, folder)
    assert code == 2
    assert {n: (r["outcome"], r["changes"]) for n, r in changed(doc).items()} == {
        "analytics-events": ("update", [{"type": "config", "key": "retention.ms", "from": "7776000000",
                                         "to": "86400000"}]),
        "audit-logs": ("update", [{"type": "partitions", "from": 3, "to": 6}]),
    }

    made = writes(kto, ns, "media-gateway")
    kubectl(env, "apply", "-k", str(folder))
    for name in ("analytics-events", "audit-logs"):
        ns.topic_ready(name, timeout=90)
    wait_until(lambda: kafka_view.topic(f"{prefix}.audit-logs")[0] == 6, timeout=30, what="6 partitions")
    assert kafka_view.overrides(f"{prefix}.analytics-events")["retention.ms"] == "86400000"
    now = writes(kto, ns, "media-gateway")
    assert {op: now.get(op, 0) - made.get(op, 0) for op in now if now.get(op, 0) != made.get(op, 0)} == \
        {"create_partitions": 1, "incremental_alter_configs": 1}
    code, doc = plan_json(env, folder)
    assert (code, changed(doc)) == (0, {})


def test_a_shrink_is_shown_refused_with_the_message_kto_writes(env, ns, cluster, kafka_view, kto, tmp_path) -> None:
    ns.cluster(kafka_cluster("media-gateway", env.kafka, resyncIntervalSeconds=10))
    ns.wait_condition("kafkaclusters", "media-gateway", "True", "Connected")
    folder, prefix = tmp_path / "seed", unique("mg")
    seed_folder(folder, ns.ns, prefix)
    kubectl(env, "apply", "-k", str(folder))
    ns.topic_ready("user-sessions", timeout=90)
    partitions = kafka_view.topic(f"{prefix}.user-sessions")[0]

    # Someone added partitions by hand: the spec now asks Kafka to shrink, which kto refuses.
    kafka_view.add_partitions(f"{prefix}.user-sessions", partitions + 2)
    status = ready(ns.wait_condition("kafkatopics", "user-sessions", "False", "NotSupported", timeout=60))
    code, doc = plan_json(env, folder)
    assert code == 3  # a refusal needs a person: its own exit code
    entry = changed(doc)["user-sessions"]
    assert (entry["outcome"], entry["reason"], entry["message"]) == ("refused", "NotSupported", status["message"])
    assert f"Kafka has {partitions + 2} partitions and the spec asks for {partitions}" in entry["message"]
    text = kto_cli(env, "plan", "-f", str(folder)).stdout
    assert f"NotSupported: {status['message']}" in text


def test_bad_manifests_name_the_file_and_the_field(env, tmp_path) -> None:
    (tmp_path / "a-not-yaml.yaml").write_text("kind: KafkaTopic\nmetadata: [unclosed\n")
    (tmp_path / "b-unknown-field.yaml").write_text(
        "apiVersion: kafka.kto.dev/v1alpha1\nkind: KafkaTopic\nmetadata: {name: t}\n"
        "spec: {clusterRef: {name: c}, partitons: 3}\n")
    (tmp_path / "c-wrong-kind.yaml").write_text(
        "apiVersion: kafka.kto.dev/v1alpha1\nkind: KafkaTopik\nmetadata: {name: t}\nspec: {}\n")
    done = kto_cli(env, "plan", "-f", str(tmp_path))
    assert done.returncode == 1, done.stdout
    assert done.stdout == ""
    err = done.stderr
    assert f"{tmp_path / 'a-not-yaml.yaml'}: not YAML" in err
    assert f"{tmp_path / 'b-unknown-field.yaml'}: KafkaTopic t: spec.partitons: unknown field" in err
    assert f"{tmp_path / 'c-wrong-kind.yaml'}: kind KafkaTopik is not a kind of kafka.kto.dev" in err
    assert "Traceback" not in err


# --- check ----------------------------------------------------------------------------------------------------


def test_check_through_a_kafka_cluster(env, ns, cluster, kafka_view) -> None:
    done = kto_cli(env, "check", "--cluster", f"{ns.ns}/{cluster}")
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    for step in ("connect", "authenticate", "describe cluster", "create topic", "alter topic configs",
                 "delete topic"):
        assert any(line.startswith("OK") and step in line for line in lines), done.stdout
    scratch = [w for line in lines for w in line.split() if w.startswith("kto-check-")]
    assert scratch and not any(kafka_view.exists(t) for t in scratch)
    assert env.kafka.password not in done.stdout + done.stderr


def test_check_read_only_as_json_writes_nothing(env, ns, cluster, kafka_view) -> None:
    before = set(kafka_view.admin.list_topics(timeout=30).topics)
    done = kto_cli(env, "check", "--cluster", f"{ns.ns}/{cluster}", "--read-only", "-o", "json")
    assert done.returncode == 0, done.stdout + done.stderr
    doc = json.loads(done.stdout)
    steps = {s["step"]: s["status"] for s in doc["steps"]}
    assert doc["ok"] is True and steps["describe cluster"] == "OK" and steps["describe topics"] == "OK"
    assert steps["create topic"] == steps["delete topic"] == "SKIP"
    assert not {t for t in kafka_view.admin.list_topics(timeout=30).topics if t.startswith("kto-check-")} - before


def test_check_says_exactly_what_failed(env, ns, cluster, tmp_path) -> None:
    wrong = tmp_path / "password"
    wrong.write_text("not-the-password")
    done = kto_cli(env, "check", "--bootstrap", env.kafka.sasl, "--security-protocol", "SASL_PLAINTEXT",
                   "--username", env.kafka.username, "--password-file", str(wrong))
    assert done.returncode == 1
    assert done.stdout.splitlines()[0].startswith("OK    connect")
    assert done.stdout.splitlines()[1].startswith("FAIL  authenticate") and "invalid credentials" in done.stdout
    assert "not-the-password" not in done.stdout + done.stderr


def test_import_users_writes_their_acls_and_a_password_secret_to_fill_in(env, ns, authz, kafka_authz, authz_view,
                                                                         tmp_path) -> None:
    from tests.integration.test_safety import acls, add_acl, set_scram
    from tests.support.users import as_user, authenticates

    user, topic, password = unique("svc"), unique("orders"), "imported-" + unique("pw")
    set_scram(authz_view, user, password)
    for operation in ("READ", "DESCRIBE"):
        add_acl(authz_view, user, topic, operation)
    before = acls(authz_view, user)

    out = tmp_path / "imported"
    done = kto_cli(env, "import", "--cluster", f"{ns.ns}/{authz}", "--users", "--include", "no-topic-matches-*",
                   "--dir", str(out))
    assert done.returncode == 0, done.stderr
    assert password not in done.stdout + done.stderr
    path = out / "users" / f"{user}.yaml"
    text = path.read_text()
    assert "kto.dev/adopt: overwrite" in text and f"{user}-password" in text
    doc = yaml.safe_load(text)
    assert doc["spec"]["authentication"] == {"type": "scram-sha-256",
                                             "passwordSecretRef": {"name": f"{user}-password", "key": "password"}}
    assert doc["spec"]["authorization"] == {"acls": [
        {"resource": {"type": "topic", "name": topic}, "operations": ["Describe", "Read"]}]}
    assert not (out / "users" / f"{env.kafka.username}.yaml").exists()  # kto's own user is left out

    # As its header says: the Secret with the current password, the adoption annotation, then apply.
    ns.secret(f"{user}-password", {"password": password})
    doc["metadata"]["annotations"] = {"kto.dev/adopt": "overwrite"}
    ns.create("kafkausers", doc)
    ns.wait_condition("kafkausers", user, "True", timeout=90)
    assert acls(authz_view, user) == before
    assert authenticates(as_user(kafka_authz, user, password, "SCRAM-SHA-256"))
    ns.delete("kafkausers", user)  # adopted: its credentials and ACLs are kept
    ns.wait_gone("kafkausers", user)
    assert acls(authz_view, user) == before


@pytest.mark.parametrize(("args", "code", "says"), [
    (["plan", "-f", "topics", "--frobnicate"], 1, "unrecognized arguments: --frobnicate"),
    (["plan", "-f", "topics", "-o", "yaml"], 1, "invalid choice: 'yaml'"),
    (["--version"], 0, "kto 0."),
    ([], 0, "usage: kto"),
])
def test_usage_errors_exit_1_and_first_contact_works(env, args: list[str], code: int, says: str) -> None:
    """As a CI job runs it: 2 means changes, so a mistyped flag must never exit 2."""
    done = kto_cli(env, *args)
    assert done.returncode == code, done.stderr
    assert says in done.stdout + done.stderr
