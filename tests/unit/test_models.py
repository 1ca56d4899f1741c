"""The API models, and the CRDs generated from them."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from kto.api import crdgen
from kto.api.models import (
    MAX_ACL_BINDINGS,
    MAX_BYTE_RATE,
    MAX_CONTROLLER_MUTATION_RATE,
    MAX_PARTITIONS,
    MAX_REQUEST_PERCENTAGE,
    MAX_RESOURCE_NAME_LENGTH,
    KafkaClusterSpec,
    KafkaTopicSpec,
    KafkaTopicStatus,
    KafkaUserSpec,
    KafkaUserStatus,
    TenantGrant,
    UserPolicy,
    check_resource_name,
)
from pydantic import ValidationError

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("filename", sorted(crdgen.FILES))
def test_committed_crds_are_generated_from_the_models(filename: str) -> None:
    committed = (REPO / "crds" / filename).read_text()
    assert committed == crdgen.render(crdgen.FILES[filename]()), \
        "crds/ is stale: run `make crds` (python -m kto.api.crdgen crds/)"


def _schema(filename: str) -> dict:
    doc = yaml.safe_load((REPO / "crds" / filename).read_text())
    return doc["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]


def _fields(schema: dict, prefix: str = "") -> set[str]:
    """Every property path of a schema, list items included (``a.b`` for the property b of a's items)."""
    out = set()
    for name, child in (schema.get("properties") or {}).items():
        out.add(prefix + name)
        out |= _fields(child.get("items", child), f"{prefix}{name}.")
    return out


def _models_in(annotation) -> list:
    if isinstance(annotation, type) and hasattr(annotation, "model_fields"):
        return [annotation]
    return [m for arg in getattr(annotation, "__args__", ()) for m in _models_in(arg)]


def _model_fields(model, prefix: str = "") -> set[str]:
    out = set()
    for name, info in model.model_fields.items():
        out.add(prefix + name)
        for nested in _models_in(info.annotation):
            out |= _model_fields(nested, f"{prefix}{name}.")
    return out


@pytest.mark.parametrize(("filename", "model"), [
    ("kafka.kto.dev_kafkatopics.yaml", KafkaTopicSpec),
    ("kafka.kto.dev_kafkaclusters.yaml", KafkaClusterSpec),
    ("kafka.kto.dev_kafkausers.yaml", KafkaUserSpec),
])
def test_crd_fields_match_the_model(filename, model) -> None:
    assert _fields(_schema(filename)) == _model_fields(model)


def test_the_seed_examples_parse() -> None:
    examples = REPO / "manifests" / "examples" / "media-gateway" / "base"
    topics = [yaml.safe_load(p.read_text()) for p in sorted((examples / "topics").glob("*.yaml"))]
    assert len(topics) == 17
    for doc in topics:
        spec = KafkaTopicSpec.model_validate(doc["spec"])
        assert spec.partitions in (2, 3, 5)
    docs = list(yaml.safe_load_all((examples / "kafkacluster.yaml").read_text()))
    cluster = KafkaClusterSpec.model_validate(next(d for d in docs if d["kind"] == "KafkaCluster")["spec"])
    assert cluster.protocol == "SASL_PLAINTEXT"


@pytest.mark.parametrize("spec", [
    {"clusterRef": {"name": "c"}, "partitions": 0},
    {"clusterRef": {"name": "c"}, "topicName": "has space"},
    {"clusterRef": {"name": "c"}, "topicName": "x" * 250},
    {"clusterRef": {"name": "c"}, "deletionPolicy": "Orphan"},
    {"clusterRef": {"name": "c"}, "unknown": 1},
    {"partitions": 1},
])
def test_invalid_topic_specs(spec) -> None:
    with pytest.raises(ValidationError):
        KafkaTopicSpec.model_validate(spec)


def test_cluster_defaults_and_namespace_allowance() -> None:
    spec = KafkaClusterSpec.model_validate({"bootstrapServers": ["a:1"]})
    assert (spec.protocol, spec.resync_interval, spec.deletion_policy) == ("PLAINTEXT", 60, "Delete")
    assert spec.allows_namespace("kafka", "kafka")
    assert not spec.allows_namespace("kafka", "team-a")
    spec = KafkaClusterSpec.model_validate({"bootstrapServers": ["a:1"], "allowedNamespaces": ["team-a"]})
    assert spec.allows_namespace("kafka", "team-a") and not spec.allows_namespace("kafka", "team-b")
    spec = KafkaClusterSpec.model_validate({"bootstrapServers": ["a:1"], "allowedNamespaces": ["*"]})
    assert spec.allows_namespace("kafka", "anything")


# ----------------------------------------------------------------------------------------------
# Admission limits: each check here is also a rule in the CRD (tests/integration/test_admission.py)
# ----------------------------------------------------------------------------------------------

TOPIC = {"clusterRef": {"name": "c"}}
CLUSTER = {"bootstrapServers": ["a:9092"]}
USER = {"clusterRef": {"name": "c"}, "authentication": {"type": "scram-sha-512"}}


def _acls(rules: int, operations: int) -> dict:
    ops = ["Read", "Write", "Create", "Delete", "Alter", "Describe", "ClusterAction", "DescribeConfigs",
           "AlterConfigs", "IdempotentWrite", "All"][:operations]
    return {"acls": [{"resource": {"type": "topic", "name": f"t{i}"}, "operations": ops} for i in range(rules)]}


@pytest.mark.parametrize(("model", "spec", "accepted"), [
    (KafkaTopicSpec, {**TOPIC, "topicName": "__consumer_offsets"}, False),
    (KafkaTopicSpec, {**TOPIC, "topicName": "__anything"}, False),
    (KafkaTopicSpec, {**TOPIC, "topicName": "_one_underscore"}, True),
    (KafkaTopicSpec, {**TOPIC, "topicName": "a__b"}, True),
    (KafkaTopicSpec, {**TOPIC, "partitions": MAX_PARTITIONS}, True),
    (KafkaTopicSpec, {**TOPIC, "partitions": MAX_PARTITIONS + 1}, False),
    (KafkaClusterSpec, {**CLUSTER, "topicDefaults": {"partitions": MAX_PARTITIONS}}, True),
    (KafkaClusterSpec, {**CLUSTER, "topicDefaults": {"partitions": MAX_PARTITIONS + 1}}, False),
    (KafkaTopicSpec, {**TOPIC, "config": {"retention.ms": 1}}, True),
    (KafkaTopicSpec, {**TOPIC, "config": {"": 1}}, False),
    (KafkaTopicSpec, {**TOPIC, "config": {" retention.ms": 1}}, False),
    (KafkaTopicSpec, {**TOPIC, "config": {"retention.ms\t": 1}}, False),
    (KafkaClusterSpec, {**CLUSTER, "topicDefaults": {"config": {"cleanup.policy": "compact"}}}, True),
    (KafkaClusterSpec, {**CLUSTER, "topicDefaults": {"config": {"": "x"}}}, False),
    (KafkaClusterSpec, {**CLUSTER, "topicDefaults": {"config": {"cleanup.policy ": "x"}}}, False),
    (KafkaTopicSpec, {"clusterRef": {"name": "c", "namespace": "team-a"}}, True),
    (KafkaTopicSpec, {"clusterRef": {"name": "c", "namespace": "a" * 63}}, True),
    (KafkaTopicSpec, {"clusterRef": {"name": "c", "namespace": "a" * 64}}, False),
    (KafkaTopicSpec, {"clusterRef": {"name": "c", "namespace": "Team-A"}}, False),
    (KafkaTopicSpec, {"clusterRef": {"name": "c", "namespace": "-team"}}, False),
    (KafkaTopicSpec, {"clusterRef": {"name": "c", "namespace": "team_a"}}, False),
    (KafkaTopicSpec, {"clusterRef": {"name": "c", "namespace": "team.a"}}, False),
    (KafkaTopicSpec, {"clusterRef": {"name": "c", "namespace": "team-a\n"}}, False),
    (KafkaUserSpec, {**USER, "clusterRef": {"name": "c", "namespace": "team-a"}}, True),
    (KafkaUserSpec, {**USER, "clusterRef": {"name": "c", "namespace": "team-"}}, False),
    (KafkaClusterSpec, {"bootstrapServers": ["a:1", "b:65535", "[::1]:9092"]}, True),
    (KafkaClusterSpec, {"bootstrapServers": ["a:09092"]}, True),
    (KafkaClusterSpec, {"bootstrapServers": ["a:0"]}, False),
    (KafkaClusterSpec, {"bootstrapServers": ["a:65536"]}, False),
    (KafkaClusterSpec, {"bootstrapServers": ["a:99999"]}, False),
    (KafkaClusterSpec, {"bootstrapServers": ["[::1]:70000"]}, False),
    (KafkaUserSpec, {**USER, "authorization": _acls(100, 10)}, True),
    (KafkaUserSpec, {**USER, "authorization": _acls(1000, 1)}, True),
    (KafkaUserSpec, {**USER, "authorization": _acls(91, 11)}, False),
    (KafkaUserSpec, {**USER, "authorization": _acls(501, 2)}, False),
])
def test_admission_limits_in_the_models(model, spec, accepted) -> None:
    if accepted:
        model.model_validate(spec)
    else:
        with pytest.raises(ValidationError):
            model.model_validate(spec)


def test_the_limits_say_why() -> None:
    assert MAX_PARTITIONS == 9000 and MAX_ACL_BINDINGS == 1000 and MAX_RESOURCE_NAME_LENGTH == 240
    partitions = KafkaTopicSpec.model_fields["partitions"].description
    assert "9000" in partitions and "10,000 metadata records" in partitions
    with pytest.raises(ValidationError, match="internal topics"):
        KafkaTopicSpec.model_validate({**TOPIC, "topicName": "__transaction_state"})
    with pytest.raises(ValidationError, match="between 1 and 65535"):
        KafkaClusterSpec.model_validate({"bootstrapServers": ["kafka:99999"]})
    with pytest.raises(ValidationError, match="more than 1000 ACL bindings"):
        KafkaUserSpec.model_validate({**USER, "authorization": _acls(101, 10)})


@pytest.mark.parametrize(("name", "refused"), [
    ("a", False),
    ("a" * MAX_RESOURCE_NAME_LENGTH, False),
    ("a" * (MAX_RESOURCE_NAME_LENGTH + 1), True),
    ("a" * 253, True),
])
def test_check_resource_name(name: str, refused: bool) -> None:
    message = check_resource_name(name)
    if refused:
        assert message and "at most 240 characters" in message
        # The names kto derives from an accepted name fit Kubernetes' 253.
    else:
        assert message is None
        assert len(f"{name}.{'0' * 12}") <= 253 and len(f"{name}-kafka") <= 253


# ----------------------------------------------------------------------------------------------
# New API fields
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("field", "entries", "accepted"), [
    ("protectedTopics", ["audit.*", "billing-ledger", "*", "_schemas"], True),
    ("protectedTopics", ["x" * 255], True),
    ("protectedTopics", ["x" * 256], False),
    ("protectedTopics", [""], False),
    ("protectedTopics", ["a*b"], False),
    ("protectedTopics", ["has space"], False),
    ("protectedTopics", ["**"], False),
    ("protectedTopics", ["t"] * 1000, True),
    ("protectedTopics", ["t"] * 1001, False),
    ("protectedPrincipals", ["admin", "svc-*", "CN=broker,OU=kafka", "*"], True),
    ("protectedPrincipals", ["x" * 256], False),
    ("protectedPrincipals", [""], False),
    ("protectedPrincipals", ["svc-*-x"], False),
    ("protectedPrincipals", ["User:admin"], False),
    ("protectedPrincipals", ["p"] * 1001, False),
])
def test_protected_lists(field: str, entries: list[str], accepted: bool) -> None:
    spec = {**CLUSTER, field: entries}
    if accepted:
        assert getattr(KafkaClusterSpec.model_validate(spec), field) == entries
    else:
        with pytest.raises(ValidationError):
            KafkaClusterSpec.model_validate(spec)


@pytest.mark.parametrize(("spec", "topic", "protected"), [
    ({}, "__consumer_offsets", True),
    ({}, "__anything", True),
    ({}, "orders", False),
    ({"protectedTopics": ["audit.*"]}, "audit.login", True),
    ({"protectedTopics": ["audit.*"]}, "audit", False),
    ({"protectedTopics": ["billing"]}, "billing", True),
    ({"protectedTopics": ["billing"]}, "billing-2", False),
    ({"protectedTopics": ["*"]}, "anything", True),
])
def test_is_protected_topic(spec: dict, topic: str, protected: bool) -> None:
    assert KafkaClusterSpec.model_validate({**CLUSTER, **spec}).is_protected_topic(topic) is protected


@pytest.mark.parametrize(("spec", "user", "own", "protected"), [
    ({}, "alice", None, False),
    ({}, "kto-admin", "kto-admin", True),
    ({"protectedPrincipals": ["admin"]}, "admin", "kto", True),
    ({"protectedPrincipals": ["admin"]}, "admin2", "kto", False),
    ({"protectedPrincipals": ["svc-*"]}, "svc-billing", None, True),
    ({"protectedPrincipals": ["svc-*"]}, "billing-svc", None, False),
])
def test_is_protected_principal(spec: dict, user: str, own: str | None, protected: bool) -> None:
    assert KafkaClusterSpec.model_validate({**CLUSTER, **spec}).is_protected_principal(user, own) is protected


def test_allow_cleartext_password_and_adopted_status() -> None:
    sasl = {"mechanism": "PLAIN", "secretRef": {"name": "s"}}
    spec = KafkaClusterSpec.model_validate({**CLUSTER, "security": {"protocol": "SASL_PLAINTEXT", "sasl": sasl}})
    assert spec.security.sasl.allowCleartextPassword is None
    spec = KafkaClusterSpec.model_validate({**CLUSTER, "security": {
        "protocol": "SASL_PLAINTEXT", "sasl": {**sasl, "allowCleartextPassword": True}}})
    assert spec.security.sasl.allowCleartextPassword is True
    assert KafkaTopicStatus.model_validate({"adopted": True}).adopted is True
    assert KafkaUserStatus.model_validate({"adopted": False}).adopted is False


GRANT_A = {"namespace": "team-a", "topicPrefixes": ["team-a."], "groupPrefixes": ["team-a-"],
           "transactionalIdPrefixes": ["team-a-"], "clusterOperations": ["IdempotentWrite"], "allowWildcards": False}
GRANT_ALL = {"namespace": "*", "groupPrefixes": ["shared-"]}


@pytest.mark.parametrize(("users", "accepted"), [
    ({}, True),
    ({"allowedNamespaces": ["team-a", "*"], "grants": [GRANT_A, GRANT_ALL]}, True),
    ({"allowedNamespaces": ["Team-A"]}, False),
    ({"allowedNamespaces": [""]}, False),
    ({"allowedNamespaces": ["a" * 64]}, False),
    ({"grants": [{"topicPrefixes": ["x"]}]}, False),
    ({"grants": [{"namespace": "team_a"}]}, False),
    ({"grants": [{"namespace": "**"}]}, False),
    ({"grants": [{"namespace": "team-a\n"}]}, False),
    ({"grants": [{"namespace": "a", "topicPrefixes": [""]}]}, False),
    ({"grants": [{"namespace": "a", "clusterOperations": ["Fly"]}]}, False),
    ({"grants": [{"namespace": "a", "unknown": True}]}, False),
    ({"grants": [{"namespace": "a"}] * 1000}, True),
    ({"grants": [{"namespace": "a"}] * 1001}, False),
])
def test_user_policy_shape(users: dict, accepted: bool) -> None:
    if accepted:
        KafkaClusterSpec.model_validate({**CLUSTER, "users": users})
    else:
        with pytest.raises(ValidationError):
            KafkaClusterSpec.model_validate({**CLUSTER, "users": users})


@pytest.mark.parametrize(("users", "namespace", "allowed"), [
    (None, "kafka", True),
    (None, "team-a", False),
    ({}, "team-a", False),
    ({"allowedNamespaces": ["team-a"]}, "team-a", True),
    ({"allowedNamespaces": ["team-a"]}, "team-b", False),
    ({"allowedNamespaces": ["*"]}, "team-b", True),
    ({"allowedNamespaces": ["team-a"]}, "kafka", True),
])
def test_allows_user_namespace(users: dict | None, namespace: str, allowed: bool) -> None:
    spec = KafkaClusterSpec.model_validate({**CLUSTER, "users": users})
    assert spec.allows_user_namespace("kafka", namespace) is allowed
    if users is not None:
        assert UserPolicy.model_validate(users).allows_user_namespace("kafka", namespace) is allowed


def test_user_namespaces_are_separate_from_topic_namespaces() -> None:
    spec = KafkaClusterSpec.model_validate({**CLUSTER, "allowedNamespaces": ["*"]})
    assert spec.allows_namespace("kafka", "team-a") and not spec.allows_user_namespace("kafka", "team-a")
    spec = KafkaClusterSpec.model_validate({**CLUSTER, "users": {"allowedNamespaces": ["team-a"]}})
    assert spec.allows_user_namespace("kafka", "team-a") and not spec.allows_namespace("kafka", "team-a")


@pytest.mark.parametrize(("grants", "namespace", "expected"), [
    (None, "team-a", []),
    ([GRANT_A], "team-a", [GRANT_A]),
    ([GRANT_A], "team-b", []),
    ([GRANT_A, GRANT_ALL], "team-a", [GRANT_A, GRANT_ALL]),
    ([GRANT_ALL, GRANT_A], "team-a", [GRANT_ALL, GRANT_A]),
    ([GRANT_A, GRANT_ALL], "team-b", [GRANT_ALL]),
])
def test_grants_for(grants: list | None, namespace: str, expected: list) -> None:
    spec = KafkaClusterSpec.model_validate({**CLUSTER, "users": {"grants": grants}})
    assert spec.grants_for(namespace) == [TenantGrant.model_validate(g) for g in expected]
    assert KafkaClusterSpec.model_validate(CLUSTER).grants_for(namespace) == []


@pytest.mark.parametrize("filename", sorted(crdgen.FILES))
def test_the_name_limit_sits_on_metadata_name_not_on_the_root(filename: str) -> None:
    """The apiserver ratchets a rule whose own value is unchanged: on metadata.name, an object named before the
    rule existed can still be updated and have its finalizer removed; a root rule would block those forever."""
    root = crdgen.FILES[filename]()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    rules = root["properties"]["metadata"]["properties"]["name"]["x-kubernetes-validations"]
    assert [r["rule"] for r in rules] == [f"size(self) <= {MAX_RESOURCE_NAME_LENGTH}"]
    root_rules = root.get("x-kubernetes-validations", [])
    assert not any("size(self.metadata.name)" in r["rule"] for r in root_rules)


# The apiserver refuses a CRD that says anything about metadata but its type and name/generateName.
NO_DESCRIPTION_ALLOWED = {"metadata"}


def _undescribed(node: dict, path: str) -> list[str]:
    """The property paths under ``node`` that have no description (``a[]`` is a list's items, ``a{}`` a map's)."""
    out = []
    for name, child in (node.get("properties") or {}).items():
        child_path = f"{path}.{name}" if path else name
        if not child.get("description") and child_path not in NO_DESCRIPTION_ALLOWED:
            out.append(child_path)
        out += _undescribed(child, child_path)
    for key, suffix in (("items", "[]"), ("additionalProperties", "{}")):
        if isinstance(node.get(key), dict):
            out += _undescribed(node[key], path + suffix)
    return out


@pytest.mark.parametrize("filename", sorted(crdgen.FILES))
def test_every_property_and_printer_column_has_a_description(filename: str) -> None:
    version = yaml.safe_load((REPO / "crds" / filename).read_text())["spec"]["versions"][0]
    missing = _undescribed(version["schema"]["openAPIV3Schema"], "")
    assert not missing, f"{filename}: properties without a description: {missing}"
    columns = [c["name"] for c in version["additionalPrinterColumns"] if not c.get("description")]
    assert not columns, f"{filename}: printer columns without a description: {columns}"


# ----------------------------------------------------------------------------------------------
# Quota values and ACL resource names (the CRDs carry the same limits: tests/integration/test_admission.py)
# ----------------------------------------------------------------------------------------------


def _quotas(**quotas) -> list[tuple]:
    """The same quotas on a KafkaUser and as a KafkaCluster's defaultUserQuotas."""
    return [(KafkaUserSpec, {**USER, "quotas": quotas}), (KafkaClusterSpec, {**CLUSTER, "defaultUserQuotas": quotas})]


@pytest.mark.parametrize(("quotas", "accepted"), [
    ({"producerByteRate": 1, "consumerByteRate": MAX_BYTE_RATE}, True),
    ({"producerByteRate": MAX_BYTE_RATE + 1}, False),
    ({"producerByteRate": 10**12}, False),
    ({"consumerByteRate": 1e300}, False),
    ({"producerByteRate": 0}, False),
    ({"requestPercentage": 0.01, "controllerMutationRate": MAX_CONTROLLER_MUTATION_RATE}, True),
    ({"requestPercentage": MAX_REQUEST_PERCENTAGE}, True),
    ({"requestPercentage": MAX_REQUEST_PERCENTAGE * 1.0001}, False),
    ({"requestPercentage": 1e300}, False),
    ({"requestPercentage": 0}, False),
    ({"requestPercentage": float("inf")}, False),
    ({"requestPercentage": float("nan")}, False),
    ({"controllerMutationRate": MAX_CONTROLLER_MUTATION_RATE + 1}, False),
    ({"controllerMutationRate": float("-inf")}, False),
])
def test_quota_values_are_finite_and_bounded(quotas: dict, accepted: bool) -> None:
    for model, spec in _quotas(**quotas):
        if accepted:
            model.model_validate(spec)
        else:
            with pytest.raises(ValidationError):
                model.model_validate(spec)


def _rule(type_: str, name: str) -> dict:
    return {**USER, "authorization": {"acls": [{"resource": {"type": type_, "name": name}, "operations": ["Read"]}]}}


@pytest.mark.parametrize(("type_", "name", "says"), [
    ("topic", "orders", None),
    ("topic", "team-a.orders_v2", None),
    ("topic", "*", None),
    ("topic", "a" * 249, None),
    ("group", "team a consumers", None),  # group ids and transactional ids may hold inner spaces
    ("transactionalId", "tx:1/é", None),
    ("topic", "orders ", "cannot start or end with whitespace"),
    ("group", " orders", "cannot start or end with whitespace"),
    ("group", "orders\u00a0", "cannot start or end with whitespace"),
    ("transactionalId", "\u3000tx", "cannot start or end with whitespace"),
    ("group", "a\tb", "should match pattern"),
    ("group", "a\x00b", "should match pattern"),
    ("group", "a\x7fb", "should match pattern"),
    ("group", "a\x85b", "should match pattern"),
    ("topic", "orders!", "Kafka topic name or prefix"),
    ("topic", "a" * 250, "Kafka topic name or prefix"),
    ("topic", "ord ers", "Kafka topic name or prefix"),
])
def test_acl_resource_names(type_: str, name: str, says: str | None) -> None:
    if says is None:
        KafkaUserSpec.model_validate(_rule(type_, name))
    else:
        with pytest.raises(ValidationError, match=says):
            KafkaUserSpec.model_validate(_rule(type_, name))


# The CEL rules the models check too (tests/integration/test_admission_agrees.py holds the two together).
@pytest.mark.parametrize(("model", "spec", "says"), [
    (KafkaTopicSpec, {**TOPIC, "topicName": "."}, "cannot be '.' or '..'"),
    (KafkaTopicSpec, {**TOPIC, "topicName": ".."}, "cannot be '.' or '..'"),
    (KafkaTopicSpec, {**TOPIC, "topicName": "..."}, None),
    (KafkaClusterSpec, {**CLUSTER, "security": {"protocol": "SASL_SSL"}}, "security.sasl is required"),
    (KafkaClusterSpec, {**CLUSTER, "security": {"protocol": "SSL", "sasl": {
        "mechanism": "PLAIN", "secretRef": {"name": "s"}}}}, "security.sasl is only used"),
    (KafkaClusterSpec, {**CLUSTER, "security": {"protocol": "SASL_PLAINTEXT", "sasl": {
        "mechanism": "PLAIN", "secretRef": {"name": "s"}}, "tls": {}}}, "security.tls is only used"),
    (KafkaClusterSpec, {**CLUSTER, "security": {"protocol": "SSL", "tls": {"verifyHostname": False}}}, None),
    (KafkaUserSpec, {**USER, "authorization": {"acls": [{"resource": {"type": "group"}, "operations": ["Read"]}]}},
     "resource.name is required"),
    (KafkaUserSpec, {**USER, "authorization": {"acls": [{"resource": {"type": "cluster", "name": "c"},
                                                          "operations": ["Alter"]}]}}, "named kafka-cluster"),
    (KafkaUserSpec, {**USER, "authorization": {"acls": [{"resource": {"type": "cluster"},
                                                          "operations": ["Alter"]}]}}, None),
])
def test_the_cel_rules_hold_in_the_models(model, spec: dict, says: str | None) -> None:
    if says is None:
        model.model_validate(spec)
    else:
        with pytest.raises(ValidationError, match=says):
            model.model_validate(spec)


@pytest.mark.parametrize(("spec", "accepted"), [
    ({**CLUSTER, "bootstrapServers": ["kafka-0.kafka.svc:9092", "10.0.0.1:1", "my_host:65535"]}, True),
    ({**CLUSTER, "bootstrapServers": ["kafka\u00a0:9092"]}, False),  # RE2's \s would have let it through
    ({**CLUSTER, "bootstrapServers": ["kafka\x0b:9092"]}, False),
    ({**CLUSTER, "bootstrapServers": ["kafká:9092"]}, False),  # hosts are ASCII (IDNs in their xn-- form)
    ({**CLUSTER, "bootstrapServers": ["kafka :9092"]}, False),
    ({**CLUSTER, "topicDefaults": {"config": {"retention.ms\x1f": 1}}}, False),  # str.strip() and trim() differ
    ({**CLUSTER, "brokerConfig": {"log.retention.ms\u3000": 1}}, False),
    ({**CLUSTER, "brokerConfig": {"log.\x00retention.ms": 1}}, False),
    ({**CLUSTER, "brokerConfig": {"log.retention.ms\u200b": 1}}, True),  # no whitespace to CEL either
])
def test_whitespace_and_control_characters_as_the_apiserver_sees_them(spec: dict, accepted: bool) -> None:
    if accepted:
        KafkaClusterSpec.model_validate(spec)
    else:
        with pytest.raises(ValidationError):
            KafkaClusterSpec.model_validate(spec)
