"""KafkaPolicy's pure parts: the model, the admission policy and binding kto generates, and the rules kto applies
to the topic it makes (clamps and out-of-policy findings), by tables."""

from __future__ import annotations

from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest
import yaml
from kto.api.domain import DesiredTopic, ObservedTopic
from kto.api.policy import KafkaPolicySpec
from kto.policy import admission
from kto.policy.rules import Applied, judge_topic, policy_condition, selects
from pydantic import ValidationError

from tests.support import chart

REPO = Path(__file__).resolve().parents[2]


# --- the model ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("spec, error", [
    ({}, "must choose its team's namespaces"),
    ({"namespaces": []}, "must choose its team's namespaces"),
    ({"namespaces": ["Team_A"]}, "namespace"),
    ({"namespaceSelector": {}}, "empty selector would choose every namespace"),
    ({"namespaces": ["a"], "partitions": {"min": 10, "max": 2}}, "partitions.min must not be over partitions.max"),
    ({"namespaces": ["a"], "partitions": {"max": 0}}, "greater than or equal to 1"),
    ({"namespaces": ["a"], "retention": {"maxMs": 0}}, "greater than or equal to 1"),
    ({"namespaces": ["a"], "retention": {"maxMs": 5, "action": "Ignore"}}, "Refuse"),
    ({"namespaces": ["a"], "configs": {"allowedKeys": [" retention.ms"]}}, "config keys"),
    ({"namespaces": ["a"], "configs": {"platformKeys": {"a\x01": "x"}}}, "config keys"),
    ({"namespaces": ["a"], "topics": {"namePrefixes": ["bad name"]}}, "pattern"),
    ({"namespaces": ["a"], "budget": {}}, "Extra inputs are not permitted"),
])
def test_a_bad_policy_is_refused_with_a_clear_message(spec: dict[str, Any], error: str) -> None:
    with pytest.raises(ValidationError, match=error):
        KafkaPolicySpec.model_validate(spec)


@pytest.mark.parametrize("spec", [
    {"namespaces": ["team-a"]},
    {"namespaceSelector": {"matchLabels": {"team": "ingestion"}}},
    {"namespaces": ["team-a"], "namespaceSelector": {"matchExpressions": [{"key": "env", "operator": "Exists"}]},
     "partitions": {"min": 1, "max": 1}, "retention": {"maxMs": 1, "action": "Clamp"}},
])
def test_a_good_policy_is_accepted(spec: dict[str, Any]) -> None:
    KafkaPolicySpec.model_validate(spec)


def test_an_unset_action_refuses() -> None:
    spec = KafkaPolicySpec.model_validate({"namespaces": ["a"], "partitions": {"max": 3},
                                           "retention": {"maxMs": 3, "action": "Clamp"}})
    assert spec.partitions is not None and spec.partitions.refuses
    assert spec.retention is not None and not spec.retention.refuses


# --- the admission policy and the binding -------------------------------------------------------------------


def test_the_admission_policy_in_crds_is_generated_from_the_code() -> None:
    assert (REPO / "crds" / admission.FILENAME).read_text() == admission.render(), \
        "crds/ is stale: run `make crds`"


def test_the_chart_installs_the_admission_policy_with_the_crds() -> None:
    out = chart.helm("template", "kto", str(chart.CHART), "--namespace", "kto", "--include-crds",
                     "--kube-version", "1.30.0")
    policies = [d for d in yaml.safe_load_all(out) if d and d["kind"] == "ValidatingAdmissionPolicy"]
    assert policies == [admission.validating_policy()]


def test_the_admission_policy_skips_clamped_rules_and_ratchets_every_value() -> None:
    rules = admission.validating_policy()["spec"]["validations"]
    by_rule = {r["messageExpression"].rsplit(": ", 1)[-1].rstrip(")'"): r["expression"] for r in rules}
    assert set(by_rule) == {"topics.namePrefixes", "topics.namePattern", "partitions.max", "partitions.min",
                            "replicationFactor.min", "minInsyncReplicas.min", "retention.maxMs",
                            "configs.allowedKeys", "configs.platformKeys"}
    for rule, expression in by_rule.items():
        if not rule.startswith("topics."):  # names cannot be clamped
            assert "action != 'Clamp'" in expression, rule
        assert "request.operation == 'CREATE'" in expression or rule.startswith("configs."), rule


POLICY = {"metadata": {"name": "ingestion", "uid": "u-1"}}


@pytest.mark.parametrize("spec, selector", [
    ({"namespaces": ["b", "a", "b"]},
     {"matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["a", "b"]}]}),
    ({"namespaceSelector": {"matchLabels": {"team": "x"}}}, {"matchLabels": {"team": "x"}}),
    ({"namespaces": ["a"], "namespaceSelector": {"matchLabels": {"env": "prod"},
                                                 "matchExpressions": [{"key": "k", "operator": "Exists"}]}},
     {"matchLabels": {"env": "prod"}, "matchExpressions": [
         {"key": "k", "operator": "Exists"},
         {"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["a"]}]}),
])
def test_the_binding_selects_the_policys_namespaces(spec: dict[str, Any], selector: dict[str, Any]) -> None:
    binding = admission.build_binding(POLICY, KafkaPolicySpec.model_validate(spec))
    assert binding["spec"]["matchResources"] == {"namespaceSelector": selector}
    assert binding["spec"]["paramRef"]["name"] == "ingestion"
    assert binding["spec"]["validationActions"] == ["Deny"]
    assert binding["metadata"]["name"] == "kto-policy-ingestion"
    assert binding["metadata"]["ownerReferences"][0]["uid"] == "u-1"


def test_a_long_policy_name_gives_a_valid_binding_name() -> None:
    long_a, long_b = "a" * 240, "a" * 239 + "b"
    assert len(admission.binding_name(long_a)) <= 253
    assert admission.binding_name(long_a) != admission.binding_name(long_b)


def _existing(uid: str, **spec_changes: Any) -> dict[str, Any]:
    binding = admission.build_binding({"metadata": {"name": "p", "uid": uid}},
                                      KafkaPolicySpec.model_validate({"namespaces": ["a"]}))
    spec = {**binding["spec"], "matchResources": {**binding["spec"]["matchResources"], "matchPolicy": "Equivalent",
                                                   "objectSelector": {}}, **spec_changes}
    return {**binding, "spec": spec, "metadata": {**binding["metadata"], "resourceVersion": "7"}}


DESIRED = admission.build_binding({"metadata": {"name": "p", "uid": "mine"}},
                                  KafkaPolicySpec.model_validate({"namespaces": ["a"]}))


@pytest.mark.parametrize("existing, action", [
    (None, "create"),
    (_existing("mine"), "keep"),  # the apiserver's defaults (matchPolicy, objectSelector) are no change
    (_existing("mine", validationActions=["Warn"]), "replace"),
    (_existing("someone-else"), "conflict"),
    ({"metadata": {"name": "kto-policy-p"}, "spec": DESIRED["spec"]}, "conflict"),  # made by hand: never touched
])
def test_what_kto_does_with_an_existing_binding(existing: dict[str, Any] | None, action: str) -> None:
    plan = admission.plan_binding(DESIRED, existing, "mine")
    assert plan.action == action
    assert plan.resource_version == ("7" if action == "replace" else None)


@pytest.mark.parametrize("spec, namespace, labels, chosen", [
    ({"namespaces": ["a"]}, "a", None, True),
    ({"namespaces": ["a"]}, "b", None, False),
    ({"namespaceSelector": {"matchLabels": {"team": "x"}}}, "a", {"team": "x"}, True),
    ({"namespaceSelector": {"matchLabels": {"team": "x"}}}, "a", {"team": "y"}, False),
    ({"namespaceSelector": {"matchLabels": {"team": "x"}}}, "a", None, False),  # labels unknown: not chosen
    ({"namespaces": ["a"], "namespaceSelector": {"matchLabels": {"team": "x"}}}, "a", {"team": "x"}, True),
    ({"namespaces": ["b"], "namespaceSelector": {"matchLabels": {"team": "x"}}}, "a", {"team": "x"}, False),
    ({"namespaceSelector": {"matchExpressions": [{"key": "env", "operator": "In", "values": ["prod"]}]}},
     "a", {"env": "prod"}, True),
    ({"namespaceSelector": {"matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["prod"]}]}},
     "a", {}, True),
    ({"namespaceSelector": {"matchExpressions": [{"key": "env", "operator": "DoesNotExist"}]}},
     "a", {"env": "dev"}, False),
    ({"namespaceSelector": {"matchExpressions": [
        {"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["a"]}]}}, "a", {}, True),
])
def test_which_namespaces_a_policy_chooses(spec: dict[str, Any], namespace: str, labels: dict[str, str] | None,
                                           chosen: bool) -> None:
    assert selects(KafkaPolicySpec.model_validate(spec), namespace, labels) is chosen


# --- the rules kto applies ----------------------------------------------------------------------------------


def desired(partitions: int | None = 6, rf: int | None = 3, name: str = "ingestion.events",
            **config: str) -> DesiredTopic:
    return DesiredTopic(name, partitions, rf, MappingProxyType(dict(sorted(config.items()))))


def observed(partitions: int = 6, rf: int = 3, overrides: dict[str, str] | None = None,
             defaults: dict[str, str] | None = None) -> ObservedTopic:
    return ObservedTopic("ingestion.events", "id", partitions, rf, MappingProxyType(overrides or {}),
                         MappingProxyType(defaults or {}))


def policy(**rules: Any) -> list[Applied]:
    return [Applied("ingestion", KafkaPolicySpec.model_validate({"namespaces": ["team-a"], **rules}))]


CLAMP = {"action": "Clamp"}
DAYS_90 = 90 * 24 * 3600 * 1000

# (policy rules, desired, tenant keys, observed, brokers) -> (what kto makes, clamped rules, out-of-policy rules)
JUDGED = [
    ("nothing to say", {}, desired(), (), None, None, desired(), [], []),
    ("a name without the prefix is out of policy", {"topics": {"namePrefixes": ["ingestion."]}},
     desired(name="payments"), (), None, None, desired(name="payments"), [], ["topics.namePrefixes"]),
    ("a name off the pattern", {"topics": {"namePattern": "^ingestion\\.[a-z]+$"}},
     desired(name="ingestion.X1"), (), None, None, desired(name="ingestion.X1"), [], ["topics.namePattern"]),
    ("partitions over the maximum, refused: left as is", {"partitions": {"max": 4}},
     desired(partitions=8), (), None, None, desired(partitions=8), [], ["partitions.max"]),
    ("partitions over the maximum, clamped", {"partitions": {"max": 4, **CLAMP}},
     desired(partitions=8), (), None, None, desired(partitions=4), ["partitions.max"], []),
    ("a clamp never shrinks what Kafka has", {"partitions": {"max": 4, **CLAMP}},
     desired(partitions=12), (), observed(partitions=8), None, desired(partitions=8), ["partitions.max"],
     ["partitions.max"]),
    ("partitions under the minimum, clamped", {"partitions": {"min": 3, **CLAMP}},
     desired(partitions=1), (), None, None, desired(partitions=3), ["partitions.min"], []),
    ("replication under the floor, refused", {"replicationFactor": {"min": 3}},
     desired(rf=1), (), None, None, desired(rf=1), [], ["replicationFactor.min"]),
    ("replication from the broker default, as Kafka has it", {"replicationFactor": {"min": 3}},
     desired(rf=None), (), observed(rf=2), None, desired(rf=None), [], ["replicationFactor.min"]),
    ("at least min(brokers, 3), clamped", {"replicationFactor": {"atLeastBrokersUpTo3": True, **CLAMP}},
     desired(rf=1), (), None, 5, desired(rf=3), ["replicationFactor.atLeastBrokersUpTo3"], []),
    ("at least min(brokers, 3) with two brokers", {"replicationFactor": {"atLeastBrokersUpTo3": True}},
     desired(rf=2), (), None, 2, desired(rf=2), [], []),
    ("brokers unknown: the plain floor only", {"replicationFactor": {"min": 1, "atLeastBrokersUpTo3": True}},
     desired(rf=1), (), None, None, desired(rf=1), [], []),
    ("min.insync.replicas under the floor, clamped", {"minInsyncReplicas": {"min": 2, **CLAMP}},
     desired(**{"min.insync.replicas": "1"}), ("min.insync.replicas",), None, None,
     desired(**{"min.insync.replicas": "2"}), ["minInsyncReplicas.min"], []),
    ("min.insync.replicas unset, clamped: set to the floor", {"minInsyncReplicas": {"min": 2, **CLAMP}},
     desired(), (), None, None, desired(**{"min.insync.replicas": "2"}), ["minInsyncReplicas.min"], []),
    ("min.insync.replicas from the broker, refused", {"minInsyncReplicas": {"min": 2}},
     desired(), (), observed(defaults={"min.insync.replicas": "1"}), None, desired(), [], ["minInsyncReplicas.min"]),
    ("retention over the maximum, clamped", {"retention": {"maxMs": DAYS_90, **CLAMP}},
     desired(**{"retention.ms": str(DAYS_90 * 2)}), ("retention.ms",), None, None,
     desired(**{"retention.ms": str(DAYS_90)}), ["retention.maxMs"], []),
    ("unlimited retention is over any maximum", {"retention": {"maxMs": DAYS_90}},
     desired(**{"retention.ms": "-1"}), ("retention.ms",), None, None, desired(**{"retention.ms": "-1"}), [],
     ["retention.maxMs"]),
    ("retention within the maximum", {"retention": {"maxMs": DAYS_90}},
     desired(**{"retention.ms": "1000"}), ("retention.ms",), None, None, desired(**{"retention.ms": "1000"}), [], []),
    ("a retention clamp never lowers what Kafka has", {"retention": {"maxMs": DAYS_90, **CLAMP}},
     desired(**{"retention.ms": "-1"}), ("retention.ms",), observed(overrides={"retention.ms": "-1"}), None,
     desired(**{"retention.ms": "-1"}), [], ["retention.maxMs"]),
    ("keys the team may not set, refused", {"configs": {"allowedKeys": ["retention.ms"]}},
     desired(**{"segment.ms": "1", "retention.ms": "5"}), ("segment.ms", "retention.ms"), None, None,
     desired(**{"segment.ms": "1", "retention.ms": "5"}), [], ["configs.allowedKeys"]),
    ("keys the team may not set, clamped: dropped", {"configs": {"allowedKeys": ["retention.ms"], **CLAMP}},
     desired(**{"segment.ms": "1", "retention.ms": "5"}), ("segment.ms", "retention.ms"), None, None,
     desired(**{"retention.ms": "5"}), ["configs.allowedKeys"], []),
    ("the cluster's defaults are not the team's keys", {"configs": {"allowedKeys": ["retention.ms"]}},
     desired(**{"segment.ms": "1"}), (), None, None, desired(**{"segment.ms": "1"}), [], []),
    ("platform keys are applied", {"configs": {"platformKeys": {"compression.type": "zstd"}}},
     desired(), (), None, None, desired(**{"compression.type": "zstd"}), [], []),
    ("a platform key the team overrides, refused: kept, reported",
     {"configs": {"platformKeys": {"compression.type": "zstd"}}},
     desired(**{"compression.type": "gzip"}), ("compression.type",), None, None,
     desired(**{"compression.type": "gzip"}), [], ["configs.platformKeys"]),
    ("a platform key the team overrides, clamped: the platform's wins",
     {"configs": {"platformKeys": {"compression.type": "zstd"}, **CLAMP}},
     desired(**{"compression.type": "gzip"}), ("compression.type",), None, None,
     desired(**{"compression.type": "zstd"}), ["configs.platformKeys"], []),
]


@pytest.mark.parametrize("rules, asked, keys, seen, brokers, made, clamped, out",
                         [j[1:] for j in JUDGED], ids=[j[0] for j in JUDGED])
def test_judge_topic(rules: dict[str, Any], asked: DesiredTopic, keys: tuple[str, ...], seen: ObservedTopic | None,
                     brokers: int | None, made: DesiredTopic, clamped: list[str], out: list[str]) -> None:
    judged = judge_topic(asked, policy(**rules), frozenset(keys), seen, brokers)
    assert judged.desired == made
    assert [f.rule for f in judged.clamps] == clamped
    assert [f.rule for f in judged.violations] == out
    for finding in judged.findings:
        assert finding.message.endswith(f"(KafkaPolicy ingestion: {finding.rule})")


def test_a_message_names_the_rule_the_limit_and_the_value() -> None:
    judged = judge_topic(desired(partitions=200), policy(partitions={"max": 64}))
    assert [f.message for f in judged.violations] == [
        "partitions 200 is over the team policy's maximum 64 (KafkaPolicy ingestion: partitions.max)"]


def test_policies_apply_in_name_order_each_on_what_the_last_left() -> None:
    policies = [Applied("b", KafkaPolicySpec.model_validate({"namespaces": ["x"], "partitions": {"max": 2, **CLAMP}})),
                Applied("a", KafkaPolicySpec.model_validate({"namespaces": ["x"], "partitions": {"max": 4, **CLAMP}}))]
    judged = judge_topic(desired(partitions=8), policies)
    assert judged.desired.partitions == 2
    assert [(f.policy, f.rule) for f in judged.clamps] == [("a", "partitions.max"), ("b", "partitions.max")]
    assert judged.policies == ("a", "b")


OUT = judge_topic(desired(partitions=8), policy(partitions={"max": 4}))
CLAMPED = judge_topic(desired(partitions=8), policy(partitions={"max": 4, **CLAMP}))
FINE = judge_topic(desired(), policy())
NONE = judge_topic(desired(), [])


@pytest.mark.parametrize("judged, old, expected", [
    (OUT, None, (False, "OutOfPolicy", "Warning")),
    (OUT, {"reason": "OutOfPolicy", "message": OUT.violations[0].message}, (False, "OutOfPolicy", None)),  # told
    (CLAMPED, None, (True, "Clamped", "Normal")),
    (CLAMPED, {"reason": "Clamped", "message": CLAMPED.clamps[0].message}, (True, "Clamped", None)),
    (FINE, None, (True, "InPolicy", None)),
    (FINE, {"reason": "OutOfPolicy", "message": "x"}, (True, "InPolicy", None)),
    (NONE, {"reason": "OutOfPolicy", "message": "x"}, (True, "InPolicy", None)),  # the policy went away
    (NONE, None, None),
])
def test_the_in_policy_condition_and_when_it_is_news(judged: Any, old: dict[str, str] | None,
                                                     expected: tuple[bool, str, str | None] | None) -> None:
    cond = policy_condition(judged, old)
    assert (None if cond is None else (cond.status, cond.reason, cond.event_type)) == expected


def test_the_media_gateway_topics_meet_the_examples_policy() -> None:
    example = REPO / "manifests" / "examples" / "media-gateway"
    doc = yaml.safe_load((example / "policy.yaml").read_text())
    spec = KafkaPolicySpec.model_validate(doc["spec"])
    production = yaml.safe_load((example / "overlays" / "production" / "kafkacluster.yaml").read_text())
    defaults = production["spec"]["topicDefaults"]
    for path in sorted((example / "base" / "topics").glob("*.yaml")):
        for topic in (d for d in yaml.safe_load_all(path.read_text()) if d and d["kind"] == "KafkaTopic"):
            s = topic["spec"]
            config = {**defaults.get("config", {}), **s.get("config", {})}
            asked = DesiredTopic(s.get("topicName", topic["metadata"]["name"]), s.get("partitions"),
                                 s.get("replicationFactor", defaults.get("replicationFactor")),
                                 MappingProxyType({k: str(v) for k, v in config.items()}))
            judged = judge_topic(asked, [Applied("media-gateway-production", spec)],
                                 frozenset(s.get("config", {})))
            assert not judged.violations and not judged.clamps, (path.name, judged.findings)


def test_out_of_policy_counts_topics_per_cluster_and_policy() -> None:
    from kto.policy.rules import OutOfPolicy

    series: dict[tuple[str, str], int] = {}
    counter = OutOfPolicy(lambda c, p, n: series.__setitem__((c, p), n))
    other = Applied("other", KafkaPolicySpec.model_validate({"namespaces": ["team-a"], "partitions": {"max": 2}}))
    two = judge_topic(desired(partitions=8), [*policy(partitions={"max": 4}), other])
    counter.set(("a", "t1"), "ns/kafka", OUT)
    counter.set(("a", "t2"), "ns/kafka", two)
    assert series == {("ns/kafka", "ingestion"): 2, ("ns/kafka", "other"): 1}
    counter.set(("a", "t1"), "ns/kafka", OUT)  # judged again, the same: no change
    assert series == {("ns/kafka", "ingestion"): 2, ("ns/kafka", "other"): 1}
    counter.set(("a", "t2"), "ns/kafka", FINE)  # fixed
    assert series == {("ns/kafka", "ingestion"): 1, ("ns/kafka", "other"): 0}
    counter.set(("a", "t1"), "", None)  # deleted
    assert series == {("ns/kafka", "ingestion"): 0, ("ns/kafka", "other"): 0}


# --- PolicyBindings: the binding and the status kto writes for a policy ----------------------------------------


class BindingsKube:
    """The three calls PolicyBindings makes, in memory."""

    def __init__(self, existing: dict[str, Any] | None = None):
        self.bindings: dict[str, dict[str, Any]] = {} if existing is None else {existing["metadata"]["name"]: existing}
        self.writes: list[tuple[str, str | None]] = []
        self.statuses: dict[str, dict[str, Any]] = {}

    async def read_policy_binding(self, name: str) -> dict[str, Any] | None:
        return self.bindings.get(name)

    async def write_policy_binding(self, body: dict[str, Any], resource_version: str | None) -> None:
        self.writes.append((body["metadata"]["name"], resource_version))
        self.bindings[body["metadata"]["name"]] = {**body, "metadata": {**body["metadata"], "resourceVersion": "1"}}

    async def patch_cluster_status(self, plural: str, name: str, status: dict[str, Any]) -> str:
        self.statuses[name] = status
        return "2"


def policy_object(spec: dict[str, Any], uid: str = "mine") -> dict[str, Any]:
    return {"metadata": {"name": "p", "uid": uid, "generation": 3}, "spec": spec}


async def _synced(kube: BindingsKube, body: dict[str, Any]) -> dict[str, Any]:
    from kto.policy.bindings import PolicyBindings

    bindings = PolicyBindings(kube)  # type: ignore[arg-type]
    bindings.event("ADDED", body)
    await bindings.stop()  # the task the event started is not needed: sync directly, deterministically
    await bindings.sync("p")
    return kube.statuses.get("p", {})


async def test_a_policy_gets_its_binding_and_says_so() -> None:
    kube = BindingsKube()
    status = await _synced(kube, policy_object({"namespaces": ["a"]}))
    assert kube.writes == [("kto-policy-p", None)]
    (ready,) = status["conditions"]
    assert (ready["status"], ready["reason"], status["binding"], status["observedGeneration"]) == \
        ("True", "Bound", "kto-policy-p", 3)


async def test_a_binding_as_it_should_be_is_not_written_again() -> None:
    body = policy_object({"namespaces": ["a"]})
    kube = BindingsKube(_existing("mine"))
    await _synced(kube, body)
    assert kube.writes == []


async def test_a_binding_the_policy_does_not_own_is_left_alone() -> None:
    kube = BindingsKube(_existing("someone-else"))
    status = await _synced(kube, policy_object({"namespaces": ["a"]}))
    assert kube.writes == []
    assert status["conditions"][0]["reason"] == "BindingConflict" and "binding" not in status


async def test_a_selector_policy_says_kto_follows_only_listed_namespaces() -> None:
    kube = BindingsKube()
    status = await _synced(kube, policy_object({"namespaceSelector": {"matchLabels": {"team": "x"}}}))
    assert "namespaceSelector is enforced at admission only" in status["conditions"][0]["message"]
