"""The pure parts of kto import, plan, check and completion, by table (issue 15)."""

from __future__ import annotations

import argparse
import io
import json
import re
import shutil
import subprocess
from types import MappingProxyType

import pytest
import yaml
from kto.__main__ import build_parser
from kto.api.domain import (
    Acl,
    AlterConfigs,
    ClusterFacts,
    ConfigChange,
    CreatePartitions,
    CreateTopic,
    KafkaFailure,
    ObservedTopic,
)
from kto.api.models import KafkaClusterSpec, KafkaTopicSpec
from kto.api.reasons import Reason
from kto.cli.check import FAIL, OK, WARN, Line, check_exit_code, connection_lines, outcome_line
from kto.cli.completion import script
from kto.cli.connect import CliError, Target, direct_spec, direct_target, parse_key
from kto.cli.importer import (
    acl_rules,
    adoption_gap,
    cluster_ref,
    kustomization,
    resource_name,
    selection,
    topic_manifest,
    user_manifest,
)
from kto.cli.manifests import load
from kto.cli.plan import (
    ADOPT,
    CONFLICT,
    CREATE,
    PAUSED,
    REFUSED,
    TAKE_OVER,
    UNCHANGED,
    UPDATE,
    Entry,
    describe_config_change,
    exit_code,
    format_json,
    format_text,
    plan_entry,
)
from kto.reconcile.cluster_state import ClusterState, Connected, spec_of
from kto.reconcile.gates import Gathered
from kto.reconcile.ownership import Claim
from kto.topics.planner import build_desired, plan_topic

from tests.support.fakes import FakeGateway

CLUSTER = ("kafka", "main")


def observed(name: str = "orders", partitions: int = 3, rf: int = 1, **overrides: str) -> ObservedTopic:
    return ObservedTopic(name, "id-1", partitions, rf, MappingProxyType(overrides),
                         MappingProxyType({"retention.ms": "604800000"}))


# --- import: which topics, their names, their manifests -------------------------------------------------


@pytest.mark.parametrize(("topic", "include", "exclude", "protected", "left_out"), [
    ("orders", [], [], [], None),
    ("__consumer_offsets", [], [], [], "internal topic"),
    ("__consumer_offsets", ["__*"], [], [], "internal topic"),
    ("_schemas", [], [], [], "starts with _"),
    ("_schemas", ["_schemas"], [], [], None),
    ("_schemas", ["*"], [], [], "starts with _"),
    ("orders", ["pay.*"], [], [], "not matched by --include"),
    ("pay.in", ["pay.*"], [], [], None),
    ("pay.in", ["pay.*"], ["*.in"], [], "matched by --exclude"),
    ("audit.log", [], [], ["audit.*"], "protected"),
])
def test_selection(topic, include, exclude, protected, left_out) -> None:
    cluster = KafkaClusterSpec(bootstrapServers=["k:9092"], protectedTopics=protected)
    why = selection(topic, include, exclude, cluster)
    assert (why is None) == (left_out is None)
    if left_out:
        assert left_out in why


@pytest.mark.parametrize(("kafka_name", "taken", "expected"), [
    ("orders", set(), "orders"),
    ("Orders_V1", set(), "orders-v1"),
    ("media.playback-events", set(), "media.playback-events"),
    ("a..b", set(), "a.b"),
    ("___", set(), "topic"),
    ("orders", {"orders"}, f"orders-{__import__('hashlib').sha256(b'orders').hexdigest()[:8]}"),
])
def test_resource_name(kafka_name, taken, expected) -> None:
    assert resource_name(kafka_name, taken) == expected


def test_long_names_are_cut_and_stay_distinct() -> None:
    a, b = "x" * 249, "x" * 248 + "y"
    na, nb = resource_name(a, set()), resource_name(b, set())
    assert len(na) <= 240 and len(nb) <= 240 and na != nb


@pytest.mark.parametrize(("topic", "resource", "spec"), [
    (observed("orders"), "orders",
     {"clusterRef": {"name": "main"}, "partitions": 3, "replicationFactor": 1}),
    (observed("Orders_V1", 6, 3, **{"cleanup.policy": "compact", "retention.ms": "-1"}), "orders-v1",
     {"clusterRef": {"name": "main"}, "topicName": "Orders_V1", "partitions": 6, "replicationFactor": 3,
      "config": {"cleanup.policy": "compact", "retention.ms": "-1"}}),
    # kto's own replication throttle is not the topic's: left out, as kto leaves it alone.
    (observed("moving", **{"leader.replication.throttled.replicas": "*"}), "moving",
     {"clusterRef": {"name": "main"}, "partitions": 3, "replicationFactor": 1}),
])
def test_topic_manifest_says_exactly_what_kafka_has(topic, resource, spec) -> None:
    doc = topic_manifest(topic, resource, "team-a", cluster_ref("main", "team-a", "team-a"))
    assert doc["spec"] == spec
    assert doc["metadata"] == {"name": resource, "namespace": "team-a"}
    # The operator's planner finds it in sync: adoption writes nothing.
    assert adoption_gap(doc, topic, None, brokers=3) is None


def test_topic_defaults_the_topic_lacks_are_stated_so_adoption_writes_nothing() -> None:
    """The KafkaCluster's topicDefaults would change the topic: the manifest carries the value the topic has now
    for each such key, so applying it adopts with zero writes."""
    topic = observed("orders")
    cluster = KafkaClusterSpec(bootstrapServers=["k:9092"], topicDefaults={"config": {"retention.ms": 1000}})
    without = topic_manifest(topic, "orders", "team-a", {"name": "main"})
    assert "retention.ms" in adoption_gap(without, topic, cluster, brokers=1)
    doc = topic_manifest(topic, "orders", "team-a", {"name": "main"}, cluster.topicDefaults.config)
    assert doc["spec"]["config"] == {"retention.ms": "604800000"}
    assert adoption_gap(doc, topic, cluster, brokers=1) is None
    # An override the topic has wins over what the defaults name.
    overridden = observed("orders", **{"retention.ms": "5"})
    doc = topic_manifest(overridden, "orders", "team-a", {"name": "main"}, cluster.topicDefaults.config)
    assert doc["spec"]["config"] == {"retention.ms": "5"} and adoption_gap(doc, overridden, cluster, 1) is None


def test_cluster_ref_names_the_namespace_only_when_it_differs() -> None:
    assert cluster_ref("main", "kafka", "team-a") == {"name": "main", "namespace": "kafka"}
    assert cluster_ref("main", None, "team-a") == {"name": "main"}


def test_kustomization_lists_the_files() -> None:
    doc = yaml.safe_load(kustomization(["topics/a.yaml", "topics/b.yaml"]))
    assert doc == {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
                   "resources": ["topics/a.yaml", "topics/b.yaml"]}


@pytest.mark.parametrize(("acls", "rules", "skipped"), [
    ([Acl("TOPIC", "orders", "LITERAL", "*", "READ", "ALLOW"), Acl("TOPIC", "orders", "LITERAL", "*", "DESCRIBE",
                                                                    "ALLOW")],
     [{"resource": {"type": "topic", "name": "orders"}, "operations": ["Describe", "Read"]}], 0),
    ([Acl("GROUP", "app-", "PREFIXED", "10.0.0.1", "READ", "DENY")],
     [{"resource": {"type": "group", "name": "app-", "patternType": "prefixed"}, "operations": ["Read"],
       "host": "10.0.0.1", "permission": "deny"}], 0),
    ([Acl("CLUSTER", "kafka-cluster", "LITERAL", "*", "IDEMPOTENT_WRITE", "ALLOW")],
     [{"resource": {"type": "cluster"}, "operations": ["IdempotentWrite"]}], 0),
    ([Acl("DELEGATION_TOKEN", "t", "LITERAL", "*", "DESCRIBE", "ALLOW")], [], 1),
])
def test_acl_rules(acls, rules, skipped) -> None:
    got, left = acl_rules(acls)
    assert got == rules
    assert len(left) == skipped


def test_user_manifest_names_a_password_secret_to_fill_in() -> None:
    made = user_manifest("Svc_A", "svc-a", "team-a", {"name": "main"}, {"SCRAM-SHA-256": 4096},
                         [Acl("TOPIC", "orders", "LITERAL", "*", "READ", "ALLOW")])
    spec = made.manifest["spec"]
    assert spec["userName"] == "Svc_A"
    assert spec["authentication"] == {"type": "scram-sha-256",
                                      "passwordSecretRef": {"name": "svc-a-password", "key": "password"}}
    assert "kto.dev/adopt: overwrite" in made.comment and "kto.dev/credentials=true" in made.comment
    from kto.api.models import KafkaUserSpec

    KafkaUserSpec.model_validate(spec)  # what kto would parse


# --- plan: the gate, the planner and the adoption rule ----------------------------------------------------


def snapshot(brokers: int = 3, **spec) -> Connected:
    return Connected(CLUSTER, KafkaClusterSpec.model_validate({"bootstrapServers": ["k:9092"], **spec}),
                     ClusterFacts("c1", 1, tuple(range(1, brokers + 1))), FakeGateway())


def gathered(spec: KafkaTopicSpec, owner: Claim | None = None, holds: bool = False, **fields) -> Gathered:
    cluster: ClusterState | None = fields.pop("cluster") if "cluster" in fields else snapshot()
    return Gathered(key=("team-a", "orders"), name=spec.topicName or "orders", cluster_ref=CLUSTER, cluster=cluster,
                    spec=spec, holds=holds, owner=owner, **fields)


def topic_spec(**fields) -> KafkaTopicSpec:
    return KafkaTopicSpec.model_validate({"clusterRef": {"name": "main", "namespace": "kafka"}, **fields})


def entry(spec: KafkaTopicSpec, seen, body=None, **fields) -> Entry:
    g = gathered(spec, **fields)
    return plan_entry(g, build_desired("orders", spec, spec_of(g.cluster)), seen,
                      body or {"metadata": {"name": "orders"}}, "topics/orders.yaml")


OURS = {"metadata": {"name": "orders"}, "status": {"topicId": "id-1"}}


@pytest.mark.parametrize(("spec", "seen", "body", "fields", "outcome", "reason"), [
    (topic_spec(partitions=3), None, None, {}, CREATE, None),
    (topic_spec(partitions=3, replicationFactor=1), observed(), OURS, {"established": True}, UNCHANGED, None),
    (topic_spec(partitions=6, replicationFactor=1), observed(), OURS, {"established": True}, UPDATE, None),
    (topic_spec(partitions=2), observed(), OURS, {"established": True}, REFUSED, "NotSupported"),
    (topic_spec(partitions=3, replicationFactor=1), observed(), None, {}, ADOPT, "Reconciled"),
    (topic_spec(partitions=6), observed(), None, {}, REFUSED, "AdoptionRequired"),
    (topic_spec(partitions=6), observed(),
     {"metadata": {"name": "orders", "annotations": {"kto.dev/adopt": "overwrite"}}}, {}, TAKE_OVER, "Adopting"),
    (topic_spec(partitions=3), None, None, {"owner": Claim("2020", "team-b", "orders", cluster=CLUSTER)}, CONFLICT,
     "ResourceConflict"),
    (topic_spec(partitions=3), None, None, {"paused": True}, PAUSED, "Paused"),
    (topic_spec(partitions=3), None, None, {"cluster": None}, REFUSED,
     "ClusterNotFound"),
    (topic_spec(partitions=3), None, None, {"allowed": False}, REFUSED, "NamespaceNotAllowed"),
    (topic_spec(topicName="audit.log"), None, None,
     {"refusal": __import__("kto.topics.kind", fromlist=["TopicKind"]).TopicKind().check(
         ("team-a", "orders"), None, "audit.log", snapshot(protectedTopics=["audit.*"]))}, REFUSED, "Protected"),
    (topic_spec(replicationFactor=5), None, None, {}, REFUSED, "InsufficientBrokers"),
    (topic_spec(partitions=3), KafkaFailure(Reason.AUTHORIZATION_FAILED, "describing topic orders: denied", True),
     None, {}, REFUSED, "AuthorizationFailed"),
])
def test_plan_entry(spec, seen, body, fields, outcome, reason) -> None:
    e = entry(spec, seen, body, **fields)
    assert (e.outcome, e.reason) == (outcome, reason), e.message


def test_a_refusal_reads_as_kto_writes_it() -> None:
    spec = topic_spec(partitions=2)
    e = entry(spec, observed(), OURS, established=True)
    kto_says = plan_topic(build_desired("orders", spec, None), observed(), brokers=3).refusals[0].message
    assert e.message == kto_says
    assert "Kafka has 3 partitions and the spec asks for 2" in format_text([e])


@pytest.mark.parametrize(("change", "line"), [
    (ConfigChange("retention.ms", "604800000", "86400000"), "config retention.ms: 604800000 -> 86400000"),
    (ConfigChange("cleanup.policy", None, "compact"), "config cleanup.policy: (unset) -> compact"),
    (ConfigChange("cleanup.policy", "compact", None),
     "config cleanup.policy: compact -> (override removed, the broker default applies)"),
])
def test_config_changes_show_old_and_new(change, line) -> None:
    assert describe_config_change(change) == line


def test_format_text_lists_changes_and_hides_unchanged() -> None:
    entries = [
        Entry("a.yaml", "ns", "a", "a", CLUSTER, CREATE, (CreateTopic("a", 3, None),)),
        Entry("b.yaml", "ns", "b", "b", CLUSTER, UPDATE, (CreatePartitions("b", 3, 6), AlterConfigs(
            "b", (ConfigChange("retention.ms", "1", "2"),)))),
        Entry("c.yaml", "ns", "c", "c", CLUSTER, UNCHANGED),
    ]
    text = format_text(entries)
    assert "+ create" in text and "partitions: 3 -> 6" in text and "config retention.ms: 1 -> 2" in text
    assert "KafkaTopic ns/c" not in text
    assert text.strip().endswith("Plan: 1 to create, 1 to change, 1 unchanged.")
    doc = json.loads(format_json(entries))
    assert doc["resources"][1]["changes"] == [{"type": "partitions", "from": 3, "to": 6},
                                             {"type": "config", "key": "retention.ms", "from": "1", "to": "2"}]
    assert doc["exitCode"] == 2


@pytest.mark.parametrize(("outcomes", "code"), [
    ([], 0), ([UNCHANGED, ADOPT, PAUSED], 0), ([UNCHANGED, CREATE], 2), ([UPDATE], 2), ([TAKE_OVER], 2),
    ([REFUSED], 3), ([CONFLICT], 3), ([CREATE, REFUSED], 3),
])
def test_exit_codes(outcomes, code) -> None:
    assert exit_code([Entry("f", "ns", "n", "t", CLUSTER, o) for o in outcomes]) == code


# --- manifests: what a bad one says ----------------------------------------------------------------------

TOPIC = """apiVersion: kafka.kto.dev/v1alpha1
kind: KafkaTopic
metadata: {name: orders}
spec:
  clusterRef: {name: main}
  partitions: 3
"""


@pytest.mark.parametrize(("text", "says"), [
    ("a: [unclosed", "not YAML"),
    ("- just\n- a list\n", "not a Kubernetes object"),
    (TOPIC.replace("partitions: 3", "partitionz: 3"), "spec.partitionz: unknown field"),
    (TOPIC.replace("partitions: 3", "partitions: many"), "spec.partitions"),
    (TOPIC.replace("kind: KafkaTopic", "kind: KafkaTopc"), "kind KafkaTopc is not a kind of kafka.kto.dev"),
    (TOPIC.replace("kafka.kto.dev/v1alpha1", "kafka.kto.dev/v1"), "apiVersion kafka.kto.dev/v1 of a KafkaTopic"),
    (TOPIC.replace("{name: orders}", "{name: Orders}"), "metadata.name 'Orders'"),
    (TOPIC + "specs: {}\n", "unknown field specs"),
    (TOPIC.replace("  clusterRef: {name: main}\n", ""), "spec.clusterRef: required field is missing"),
])
def test_bad_manifests_name_the_file_and_the_field(tmp_path, text, says) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(CliError) as err:
        load([str(tmp_path)], "default")
    assert str(path) in str(err.value) and says in str(err.value)


def test_kustomization_resources_and_namespace_are_followed(tmp_path) -> None:
    (tmp_path / "topics").mkdir()
    (tmp_path / "topics" / "orders.yaml").write_text(TOPIC)
    (tmp_path / "ns.yaml").write_text("apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n")
    (tmp_path / "ignored.yaml").write_text("not: listed\n")
    (tmp_path / "kustomization.yaml").write_text(
        "namespace: shop\nresources: [ns.yaml, topics/orders.yaml]\npatches: []\n")
    loaded = load([str(tmp_path)], "default")
    assert [(m.namespace, m.name) for m in loaded.manifests] == [("shop", "orders")]
    assert any("patches not applied" in n for n in loaded.notes)
    assert any("Namespace shop is not planned" in n for n in loaded.notes)


def test_stdin_and_lists(tmp_path) -> None:
    text = "apiVersion: v1\nkind: List\nitems:\n" + "".join(
        "- " + TOPIC.replace("orders", name).replace("\n", "\n  ").rstrip() + "\n" for name in ("a", "b"))
    loaded = load(["-"], "team", stdin=io.StringIO(text))
    assert [(m.namespace, m.name) for m in loaded.manifests] == [("team", "a"), ("team", "b")]


# --- connection flags ---------------------------------------------------------------------------------


def args_of(*argv: str) -> argparse.Namespace:
    return build_parser()[0].parse_args(["check", *argv])


def test_password_comes_from_a_file_and_never_shows(tmp_path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("s3cr3t-pa55\n")
    target = direct_target(args_of("--bootstrap", "k:9092", "--security-protocol", "SASL_SSL", "--username", "u",
                                   "--password-file", str(secret)))
    assert target.conf["sasl.password"] == "s3cr3t-pa55"
    assert target.conf["ssl.endpoint.identification.algorithm"] == "https"
    assert "s3cr3t" not in repr(target.spec)


@pytest.mark.parametrize(("argv", "says"), [
    (("--bootstrap", "k:9092", "--security-protocol", "SASL_SSL", "--username", "u"),
     "needs --username and a password"),
    (("--bootstrap", "k:99999"), "port"),
    (("--bootstrap", "k:9092", "--security-protocol", "SASL_PLAINTEXT", "--sasl-mechanism", "PLAIN", "--username",
      "u", "--password-file", "/dev/null"), "--allow-cleartext-password"),
])
def test_connection_flag_errors(argv, says, monkeypatch) -> None:
    monkeypatch.delenv("KTO_KAFKA_PASSWORD", raising=False)
    with pytest.raises(CliError) as err:
        direct_target(args_of(*argv))
    assert says in str(err.value)


@pytest.mark.parametrize("flag", ["--password", "--pass", "--password=hunter2"])
def test_a_password_on_the_command_line_is_refused_without_echoing_it(flag, capsys) -> None:
    argv = ["check", "--bootstrap", "k:9092", flag] + ([] if "=" in flag else ["hunter2"])
    with pytest.raises(SystemExit):
        build_parser()[0].parse_args(argv)
    err = capsys.readouterr().err
    assert "hunter2" not in err
    assert "never takes a password on the command line" in err or "ambiguous option: --pass" in err


@pytest.mark.parametrize(("value", "key"), [("kafka/main", ("kafka", "main")), ("main", None), ("/main", None)])
def test_parse_key(value, key) -> None:
    if key is None:
        with pytest.raises(CliError):
            parse_key(value)
    else:
        assert parse_key(value) == key


def test_direct_spec_reads_the_ca(tmp_path) -> None:
    ca = tmp_path / "ca.crt"
    ca.write_text("PEM")
    spec, data = direct_spec(args_of("--bootstrap", "k:9092", "--security-protocol", "SSL", "--ca-file", str(ca)))
    assert spec.security.tls.caSecretRef.name == "command-line" and data["ca.crt"] == b"PEM"


# --- check and completion ---------------------------------------------------------------------------------

TARGET = Target({"bootstrap.servers": "k:9092", "security.protocol": "PLAINTEXT"}, "k:9092",
                KafkaClusterSpec(bootstrapServers=["k:9092"]))


@pytest.mark.parametrize(("failure", "statuses"), [
    (None, [OK, OK, OK]),
    (KafkaFailure(Reason.UNREACHABLE, "cannot reach the brokers: x", True), [FAIL]),
    (KafkaFailure(Reason.AUTHENTICATION_FAILED, "authentication failed: x", True), [OK, FAIL]),
    (KafkaFailure(Reason.AUTHORIZATION_FAILED, "not authorized to describe the cluster", True), [OK, OK, FAIL]),
])
def test_connection_lines(failure, statuses) -> None:
    lines = connection_lines(TARGET, failure or ClusterFacts("c1", 1, (1,)))
    assert [line.status for line in lines] == statuses
    if failure is not None:
        assert lines[-1].detail == failure.message


def test_optional_steps_warn_and_required_ones_fail() -> None:
    failure = KafkaFailure(Reason.AUTHORIZER_NOT_ENABLED, "no authorizer", False)
    assert outcome_line("list ACLs", failure, "", required=False).status == WARN
    assert outcome_line("list ACLs", failure, "", required=True).status == FAIL
    assert check_exit_code([Line(OK, "a", ""), Line(WARN, "b", "")]) == 0
    assert check_exit_code([Line(FAIL, "a", "")]) == 1


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_covers_every_verb_and_parses(shell) -> None:
    text = script(build_parser()[0], shell)
    for word in ("import", "plan", "check", "completion", "bootstrap", "filename", "SASL_SSL", "json"):
        assert word in text
    # The hidden --password (refused: it would sit in the shell's history) is never offered; zsh's own
    # compinit is the user's to run.
    assert not re.search(r"(--|-l )password(\s|\"|$)", text, re.M) and "&& compinit" not in text
    runner = shutil.which(shell)
    if runner is None:
        pytest.skip(f"{shell} is not installed")
    done = subprocess.run([runner, "-n"], input=text, text=True, capture_output=True, timeout=30)
    assert done.returncode == 0, done.stderr


def test_version_flag_and_bare_kto_print_and_succeed(capsys) -> None:
    from kto.__main__ import parse_args

    for argv in (["--version"], []):
        with pytest.raises(SystemExit) as done:
            parse_args(argv)
        assert done.value.code == 0
    out = capsys.readouterr().out
    assert "kto 0." in out and "usage: kto" in out


@pytest.mark.parametrize("argv", [["plan", "-f", "x", "--frobnicate"], ["plan", "-f", "x", "-o", "yaml"], ["nope"]])
def test_a_usage_error_exits_1_never_2(argv, capsys) -> None:
    """2 means "changes to review" to a CI job: a mistyped flag must not pass for it."""
    from kto.__main__ import parse_args

    with pytest.raises(SystemExit) as done:
        parse_args(argv)
    assert done.value.code == 1
    assert "error:" in capsys.readouterr().err


def test_an_unreachable_apiserver_is_one_line() -> None:
    import urllib3
    from kto.cli.main import describe_error

    pool = urllib3.HTTPSConnectionPool("127.0.0.1", 1)
    cause = urllib3.exceptions.NewConnectionError(pool, "Failed to establish a new connection: [Errno 111] "
                                                        "Connection refused")
    err = urllib3.exceptions.MaxRetryError(pool, "/apis/kafka.kto.dev/v1alpha1/kafkatopics", cause)
    assert describe_error(err) == ("cannot reach the Kubernetes API server at https://127.0.0.1:1: Connection refused;"
                                   " check the kubeconfig's server (kubectl cluster-info) and the network")


def test_kto_run_without_credentials_says_so_in_one_line(monkeypatch, tmp_path) -> None:
    from kto.__main__ import kubeconfig_problem

    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    problem = kubeconfig_problem()
    assert problem is not None and problem.startswith("cannot load Kubernetes credentials: ")
    assert "\n" not in problem and "$KUBECONFIG" in problem


@pytest.mark.parametrize(("cluster", "bootstrap", "says"), [
    (None, None, "neither was given"), ("kafka/main", "k:9092", "both were given: keep one")])
async def test_naming_the_kafka_cluster_says_what_is_wrong(cluster, bootstrap, says) -> None:
    import argparse

    from kto.cli.connect import CliError, target_of

    with pytest.raises(CliError, match=says):
        await target_of(argparse.Namespace(cluster=cluster, bootstrap=bootstrap))
