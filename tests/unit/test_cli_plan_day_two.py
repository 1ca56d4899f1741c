"""kto plan on day two, the pure parts (issue 26): a KafkaCluster's change fanned out to the topics bound to it,
what a folder owns for --prune and what a deletion does, exit codes, and progress only on a terminal."""

from __future__ import annotations

import asyncio
import io
import json

import pytest
from kto.api.domain import ClusterFacts
from kto.api.models import KafkaClusterSpec, KafkaTopicSpec, KafkaUserSpec
from kto.api.reasons import Reason
from kto.cli.plan import CREATE, UNCHANGED, UPDATE, Entry, exit_code, format_json, format_text
from kto.cli.plan_fanout import ClusterChange, FieldChange, affected_topics, diff_cluster, flatten
from kto.cli.plan_prune import (
    ADOPTED_RETAINED,
    DELETED,
    KEPT,
    RETAINED,
    WAITS,
    Pruned,
    parse_selector,
    prune_candidates,
    prune_effect,
    tracked_app,
)
from kto.cli.progress import Progress, in_chunks
from kto.reconcile.cluster_state import Connected, Unreachable
from kto.reconcile.gates import Gathered, decide
from kto.reconcile.ownership import Claim
from kto.topics.verdicts import RULES
from kto.users.access import RULES as USER_RULES

from tests.support.fakes import FakeGateway

CLUSTER = ("kafka", "main")


def cluster_spec(**fields) -> KafkaClusterSpec:
    return KafkaClusterSpec.model_validate({"bootstrapServers": ["k:9092"], **fields})


def topic_spec(**fields) -> KafkaTopicSpec:
    return KafkaTopicSpec.model_validate({"clusterRef": {"name": "main", "namespace": "kafka"}, **fields})


# --- fan-out ----------------------------------------------------------------------------------------------------


def test_flatten_names_every_leaf_by_its_path() -> None:
    assert flatten({"a": {"b": 1, "c": {"d": [1, 2]}}, "e": "x"}) == {"a.b": 1, "a.c.d": [1, 2], "e": "x"}


@pytest.mark.parametrize(("old", "new", "changes"), [
    (cluster_spec(), cluster_spec(), ()),
    (cluster_spec(), cluster_spec(topicDefaults={"config": {"compression.type": "lz4"}}),
     (FieldChange("topicDefaults.config.compression.type", None, "lz4"),)),
    (cluster_spec(topicDefaults={"partitions": 3}), cluster_spec(topicDefaults={"partitions": 7}),
     (FieldChange("topicDefaults.partitions", 3, 7),)),
    (cluster_spec(topicDefaults={"config": {"retention.ms": 1}}), cluster_spec(),
     (FieldChange("topicDefaults.config.retention.ms", 1, None),)),
    (None, cluster_spec(), (FieldChange("bootstrapServers", None, ["k:9092"]),)),
])
def test_diff_cluster(old, new, changes) -> None:
    found = diff_cluster(old, new)
    if old is None:
        assert changes[0] in found
    else:
        assert found == changes


LZ4 = cluster_spec(topicDefaults={"config": {"compression.type": "lz4"}, "partitions": 7})


@pytest.mark.parametrize(("old", "new", "spec", "changes"), [
    # A default the topic does not set reaches it; one it sets does not.
    (cluster_spec(), LZ4, topic_spec(partitions=3),
     (FieldChange("config compression.type", None, "lz4"),)),
    (cluster_spec(), LZ4, topic_spec(partitions=3, config={"compression.type": "zstd"}), ()),
    (cluster_spec(), LZ4, topic_spec(), (FieldChange("partitions", None, 7),
                                         FieldChange("config compression.type", None, "lz4"))),
    (LZ4, cluster_spec(), topic_spec(partitions=3), (FieldChange("config compression.type", "lz4", None),)),
    (cluster_spec(topicDefaults={"replicationFactor": 1}), cluster_spec(topicDefaults={"replicationFactor": 3}),
     topic_spec(), (FieldChange("replication factor", 1, 3),)),
    (None, LZ4, topic_spec(partitions=3, config={"compression.type": "lz4"}), ()),
    # Values as Kafka spells them (strings), as kto compares them.
    (cluster_spec(), cluster_spec(topicDefaults={"config": {"retention.ms": 86400000}}),
     topic_spec(partitions=1), (FieldChange("config retention.ms", None, "86400000"),)),
    (cluster_spec(topicDefaults={"config": {"retention.ms": 86400000}}),
     cluster_spec(topicDefaults={"config": {"retention.ms": "86400000"}}), topic_spec(partitions=1), ()),
])
def test_affected_topics(old, new, spec, changes) -> None:
    found = affected_topics(old, new, [(("team-a", "orders"), spec)])
    assert [a.changes for a in found] == ([changes] if changes else [])
    if changes:
        assert found[0].desired.name == "orders"


# --- what the folder owns -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("selector", "labels", "matches"), [
    ("team=a", {"team": "a"}, True),
    ("team==a", {"team": "b"}, False),
    ("team!=a", {}, True),
    ("team in (a, b),env", {"team": "b", "env": "x"}, True),
    ("team in (a,b),env", {"team": "b"}, False),
    ("team notin (a)", {"team": "b"}, True),
    ("team notin (a)", {}, True),
    ("!team", {"team": "a"}, False),
    ("!team", {}, True),
    ("app.kubernetes.io/instance=shop", {"app.kubernetes.io/instance": "shop"}, True),
])
def test_label_selectors(selector, labels, matches) -> None:
    assert parse_selector(selector)(labels) is matches


@pytest.mark.parametrize("selector", ["", "team in (a", "=a", "!team=a", "team ~ a"])
def test_a_bad_selector_is_named(selector) -> None:
    with pytest.raises(ValueError, match="label selector"):
        parse_selector(selector)


def body(name: str, annotations=None, labels=None, ns: str = "team-a", **meta) -> dict:
    return {"metadata": {"name": name, "namespace": ns, "annotations": annotations or {}, "labels": labels or {},
                         **meta}}


TRACK = "argocd.argoproj.io/tracking-id"


@pytest.mark.parametrize(("obj", "app"), [
    (body("orders", {TRACK: "shop:kafka.kto.dev/KafkaTopic:team-a/orders"}), "shop"),
    # Copied from another object (or another kind): Argo CD does not own it, nor does the folder.
    (body("orders", {TRACK: "shop:kafka.kto.dev/KafkaTopic:team-a/payments"}), None),
    (body("orders", {TRACK: "shop:kafka.kto.dev/KafkaUser:team-a/orders"}), None),
    (body("orders", labels={"app.kubernetes.io/instance": "shop"}), "shop"),
    # The annotation, when there is one, decides (annotation+label tracking keeps the label informational).
    (body("orders", {TRACK: "shop:kafka.kto.dev/KafkaTopic:team-a/orders"}, {"app.kubernetes.io/instance": "x"}),
     "shop"),
    (body("orders"), None),
])
def test_tracked_app(obj, app) -> None:
    assert tracked_app(obj, "KafkaTopic", "kafka.kto.dev") == app


def test_prune_candidates_are_what_is_owned_unlisted_and_not_already_going() -> None:
    live = [("KafkaTopic", body("kept")), ("KafkaTopic", body("gone")), ("KafkaUser", body("gone")),
            ("KafkaTopic", body("leaving", deletionTimestamp="2026-01-01T00:00:00Z")),
            ("KafkaTopic", body("foreign", ns="team-b"))]
    listed = {("KafkaTopic", "team-a", "kept")}
    found = prune_candidates(live, listed, lambda kind, b: b["metadata"]["namespace"] == "team-a")
    assert [(k, b["metadata"]["name"]) for k, b in found] == [("KafkaTopic", "gone"), ("KafkaUser", "gone")]


# --- what deleting does: the gate's own deletion rules ---------------------------------------------------------


def snapshot() -> Connected:
    return Connected(CLUSTER, cluster_spec(), ClusterFacts("c1", 1, (1,)), FakeGateway())


USER = KafkaUserSpec.model_validate({"clusterRef": {"name": "main"}, "authentication": {"type": "scram-sha-512"}})


def going(spec, **fields) -> Gathered:
    return Gathered(**{"key": ("team-a", "orders"), "name": "orders", "cluster_ref": CLUSTER, "cluster": snapshot(),
                       "spec": spec, "deleting": True, "holds": True, "established": True, **fields})


@pytest.mark.parametrize(("rules", "g", "effect", "says"), [
    (RULES, going(topic_spec()), DELETED, "Kafka topic orders deleted (deletionPolicy Delete)"),
    (RULES, going(topic_spec(), deletion_policy="Retain"), RETAINED, "Kafka topic orders kept (deletionPolicy Retain)"),
    (RULES, going(topic_spec(), deletion_policy="Adopted"), ADOPTED_RETAINED, "kto adopted it"),
    (RULES, going(topic_spec(), holds=False), KEPT, "no kto finalizer"),
    (RULES, going(topic_spec(), established=False), KEPT, "kto has no record of owning"),
    (RULES, going(topic_spec(), paused=True), KEPT, "deleted while paused"),
    (RULES, going(topic_spec(), unmanaged=True), KEPT, "the resource does not own it"),
    (RULES, going(topic_spec(), owner=Claim("2020", "team-b", "orders", cluster=CLUSTER)), KEPT, "does not own"),
    (RULES, going(topic_spec(), cluster=None), KEPT, "no longer exists"),
    (RULES, going(topic_spec(), cluster=Unreachable(CLUSTER, cluster_spec(), Reason.UNREACHABLE,
                                                                    "timed out")), WAITS, "waiting to delete"),
    (RULES, going(None), KEPT, "invalid spec"),
    (USER_RULES, going(USER), DELETED,
     "Kafka user orders deleted with its credentials, ACLs and quotas"),
    (USER_RULES, going(USER, deletion_policy="Retain"),
     RETAINED, "credentials and ACLs kept"),
])
def test_prune_effect_is_the_gates_deletion_decision(rules, g, effect, says) -> None:
    found, message = prune_effect(decide(g, rules), rules, g.deletion_policy, g.name)
    assert found == effect
    assert says in message


# --- output and exit codes --------------------------------------------------------------------------------------


def entry(name: str, outcome: str, **fields) -> Entry:
    return Entry("f.yaml", "team-a", name, name, CLUSTER, outcome, **fields)


CHANGE = ClusterChange("cluster.yaml", CLUSTER, (FieldChange("topicDefaults.config.compression.type", None, "lz4"),))
PRUNED = Pruned("KafkaTopic", "team-a", "old", "old", CLUSTER, RETAINED, "Kafka topic old kept (deletionPolicy Retain)")


@pytest.mark.parametrize(("entries", "clusters", "pruned", "code"), [
    ([entry("a", UNCHANGED)], [], [], 0),
    ([entry("a", UNCHANGED)], [CHANGE], [], 2),
    ([entry("a", UNCHANGED)], [], [PRUNED], 2),
    ([entry("a", "refused")], [CHANGE], [PRUNED], 3),
])
def test_exit_codes_count_clusters_and_prunes(entries, clusters, pruned, code) -> None:
    assert exit_code(entries, clusters, pruned) == code
    assert json.loads(format_json(entries, [], clusters, pruned))["exitCode"] == code


def test_fanned_out_topics_show_old_and_new_and_are_counted() -> None:
    moved = entry("b", UPDATE, via="cluster.yaml", effective=(FieldChange("config compression.type", None, "lz4"),))
    quiet = entry("c", UNCHANGED, via="cluster.yaml",
                  effective=(FieldChange("config compression.type", None, "producer"),))
    entries = [entry("a", CREATE), moved, quiet]
    text = format_text(entries, [], [CHANGE], [PRUNED])
    assert "~ update       KafkaCluster kafka/main  (cluster.yaml)" in text
    assert "topicDefaults.config.compression.type: (unset) -> lz4" in text
    assert "existing KafkaTopics whose effective spec changes: 2" in text
    assert "KafkaTopic team-a/b -> topic b on kafka/main  (via KafkaCluster (cluster.yaml))" in text
    assert "effective config compression.type: (unset) -> lz4" in text
    assert "KafkaTopic team-a/c" in text  # unchanged in Kafka (the broker default already applies), still shown
    assert "- prune        KafkaTopic team-a/old -> retained: Kafka topic old kept" in text
    assert text.rstrip().endswith("Plan: 1 to create, 1 to change, 1 unchanged, 1 KafkaCluster(s) changed, changing "
                                  "the effective spec of 2 existing KafkaTopic(s), 1 to prune (1 retained).")
    doc = json.loads(format_json(entries, [], [CHANGE], [PRUNED]))
    assert doc["clusters"][0]["topics"] == 2
    assert doc["resources"][1]["effective"] == [{"field": "config compression.type", "from": None, "to": "lz4"}]
    assert doc["prune"][0]["effect"] == "retained"
    assert doc["summary"] == {"create": 1, "update": 1, "unchanged": 1, "clusters": 1, "changedByClusters": 2,
                              "prune": 1}


# --- progress -------------------------------------------------------------------------------------------------


class Terminal(io.StringIO):
    def __init__(self, tty: bool):
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


@pytest.mark.parametrize(("tty", "requests", "shown"), [
    (True, 3, "\rdescribed 500/1200 topics\rdescribed 1000/1200 topics\rdescribed 1200/1200 topics"),
    (False, 1, ""),
])
def test_progress_only_on_a_terminal(tty, requests, shown) -> None:
    asked: list[int] = []

    async def describe(names: list[str]) -> dict[str, int]:
        asked.append(len(names))
        return {n: 1 for n in names}

    stream = Terminal(tty)
    names = [f"t{i:04d}" for i in range(1200)]
    out = asyncio.run(in_chunks(describe, names, Progress(stream)))
    assert len(out) == 1200 and len(asked) == requests
    assert stream.getvalue().startswith(shown)
    if tty:
        assert stream.getvalue().endswith("\r" + " " * len("described 1200/1200 topics") + "\r")  # wiped
