"""The pure KafkaUser logic: desired ACLs, the ACL plan, credentials, the application's Secret."""

from __future__ import annotations

import hashlib

import pytest
from kto.api.domain import Acl, KafkaFailure
from kto.api.models import KafkaUserSpec, TenantGrant
from kto.api.reasons import Reason
from kto.users.access import (
    application_secret_data,
    credential_matches,
    credential_record,
    describe_acl_plan,
    desired_acls,
    jaas_config,
    plan_acls,
    principal,
    refused_rules,
    scram_changes,
    secret_name_of,
    user_name_of,
)
from kto.users.kind import scram_removals
from pydantic import ValidationError


def spec(**extra) -> KafkaUserSpec:
    return KafkaUserSpec.model_validate({"clusterRef": {"name": "media-gateway"},
                                         "authentication": {"type": "scram-sha-512"}, **extra})


def acl(type_="TOPIC", name="t", op="READ", pattern="LITERAL", host="*", perm="ALLOW") -> Acl:
    return Acl(type_, name, pattern, host, op, perm)


def test_desired_acls_expand_operations_and_apply_defaults() -> None:
    s = spec(authorization={"acls": [
        {"resource": {"type": "topic", "name": "content-ingested"}, "operations": ["Read", "Describe"]},
        {"resource": {"type": "group", "name": "ingestion-", "patternType": "prefixed"}, "operations": ["Read"],
         "host": "10.0.0.1", "permission": "deny"},
        {"resource": {"type": "cluster"}, "operations": ["IdempotentWrite"]},
        {"resource": {"type": "transactionalId", "name": "tx"}, "operations": ["Write"]},
    ]})
    assert desired_acls(s) == {
        acl(name="content-ingested", op="READ"), acl(name="content-ingested", op="DESCRIBE"),
        acl("GROUP", "ingestion-", "READ", "PREFIXED", "10.0.0.1", "DENY"),
        acl("CLUSTER", "kafka-cluster", "IDEMPOTENT_WRITE"),
        acl("TRANSACTIONAL_ID", "tx", "WRITE"),
    }
    assert desired_acls(spec()) == frozenset()


def test_plan_acls_creates_missing_and_deletes_unlisted() -> None:
    keep, new, old = acl(name="a"), acl(name="b", op="WRITE"), acl(name="c")
    plan = plan_acls({keep, new}, {keep, old})
    assert plan.to_create == (new,) and plan.to_delete == (old,)
    assert not plan.in_sync
    assert plan_acls({keep}, {keep}).in_sync
    assert "1 ACL(s) added" in describe_acl_plan(plan) and "allow READ on topic c" in describe_acl_plan(plan)


def test_user_name_principal_and_secret_name() -> None:
    assert user_name_of({"metadata": {"name": "ingestion"}, "spec": {}}) == "ingestion"
    assert user_name_of({"metadata": {"name": "ingestion"}, "spec": {"userName": "ingestion-service"}}) \
        == "ingestion-service"
    assert principal("ingestion-service") == "User:ingestion-service"
    assert secret_name_of("ingestion") == "ingestion-kafka"


def test_jaas_line_quotes_what_it_must() -> None:
    assert jaas_config("app", "p4ss") == \
        'org.apache.kafka.common.security.scram.ScramLoginModule required username="app" password="p4ss";'
    assert 'password="a\\"b\\\\c";' in jaas_config("app", 'a"b\\c')


def test_application_secret_is_ready_to_mount() -> None:
    data = application_secret_data("app", "pw", "SCRAM-SHA-512", ["k0:9092", "k1:9092"], "SASL_SSL")
    assert data == {"username": "app", "password": "pw", "sasl.mechanism": "SCRAM-SHA-512",
                    "security.protocol": "SASL_SSL", "bootstrap.servers": "k0:9092,k1:9092",
                    "sasl.jaas.config": jaas_config("app", "pw")}


def test_credential_record_is_salted_and_matches_only_its_credential() -> None:
    record = credential_record("app", "SCRAM-SHA-512", "secret-pw")
    assert credential_matches(record, "app", "SCRAM-SHA-512", "secret-pw")
    assert not credential_matches(record, "app", "SCRAM-SHA-512", "other")
    assert not credential_matches(record, "app", "SCRAM-SHA-256", "secret-pw")
    assert not credential_matches(record, "other-app", "SCRAM-SHA-512", "secret-pw")
    assert "secret-pw" not in record
    # Salted: the same credential never gives the same record twice, so records cannot be compared or looked up.
    assert record != credential_record("app", "SCRAM-SHA-512", "secret-pw")
    assert record.startswith("pbkdf2-sha256$10000$")


@pytest.mark.parametrize("record", [
    None, "", "h", "pbkdf2-sha256$x$a$b", "pbkdf2-sha256$1$!!$??",
    hashlib.sha256(b"SCRAM-SHA-512\0app\0pw").hexdigest(),  # the unsalted hash of earlier versions: never trusted
])
def test_anything_but_a_record_matches_nothing(record) -> None:
    assert not credential_matches(record, "app", "SCRAM-SHA-512", "pw")


@pytest.mark.parametrize(("existing", "applied", "upsert", "stale"), [
    (None, False, True, ()),                                         # new user
    ({"SCRAM-SHA-512": 8192}, True, False, ()),                     # in sync
    ({"SCRAM-SHA-512": 8192}, False, True, ()),                     # rotated, or unknown on the brokers (restart)
    ({"SCRAM-SHA-512": 4096}, True, True, ()),                      # too few iterations
    ({"SCRAM-SHA-256": 8192}, True, True, ("SCRAM-SHA-256",)),     # mechanism changed
    ({}, True, True, ()),                                            # deleted behind kto's back
])
def test_scram_changes(existing, applied, upsert, stale) -> None:
    assert scram_changes("SCRAM-SHA-512", existing, applied) == (upsert, stale)


@pytest.mark.parametrize("extra", [
    {"authentication": {"type": "plain"}},
    {"userName": "has space"},
    {"authorization": {"acls": [{"resource": {"type": "topic", "name": "t"}, "operations": []}]}},
    {"authorization": {"acls": [{"resource": {"type": "topic", "name": "t"}, "operations": ["Steal"]}]}},
    {"authorization": {"acls": [{"resource": {"type": "user", "name": "t"}, "operations": ["Read"]}]}},
    {"deletionPolicy": "Orphan"},
])
def test_invalid_user_specs(extra) -> None:
    with pytest.raises(ValidationError):
        spec(**extra)


# --- tenant limits ---------------------------------------------------------------------------------------

GRANTS = [TenantGrant(namespace="team-a", topicPrefixes=["team-a."], groupPrefixes=["team-a-"],
                      clusterOperations=["IdempotentWrite"]),
          TenantGrant(namespace="*", transactionalIdPrefixes=["tx-"])]
OWNERS = {"orders": "team-a", "payments": "team-b"}


def rule_(type_: str, name: str | None = None, ops=("Read",), pattern: str | None = None, deny: bool = False) -> dict:
    resource = {"type": type_} | ({"name": name} if name is not None else {}) | \
        ({"patternType": pattern} if pattern else {})
    return {"resource": resource, "operations": list(ops)} | ({"permission": "deny"} if deny else {})


@pytest.mark.parametrize(("rule", "refusal"), [
    (rule_("topic", "orders"), None),                                       # owned by a KafkaTopic of team-a
    (rule_("topic", "payments"), "no KafkaTopic of the namespace owns it"),  # team-b's topic
    (rule_("topic", "nobody"), "no prefix in users.grants[].topicPrefixes"),
    (rule_("topic", "team-a.events"), None),                                # a granted prefix
    (rule_("topic", "team-a.", pattern="prefixed"), None),
    (rule_("topic", "team", pattern="prefixed"), "no prefix in users.grants[].topicPrefixes"),  # wider than granted
    (rule_("topic", "*"), "wildcards are not granted"),
    (rule_("group", "team-a-consumers"), None),
    (rule_("group", "billing"), "groupPrefixes"),
    (rule_("transactionalId", "tx-1"), None),                                # granted to every namespace
    (rule_("cluster", ops=("IdempotentWrite",)), None),
    (rule_("cluster", ops=("Alter", "IdempotentWrite")), "cluster operations Alter are not granted"),
    (rule_("topic", "payments", deny=True), None),                          # deny restricts only the user itself
])
def test_what_a_tenant_may_grant(rule, refusal) -> None:
    spec = KafkaUserSpec.model_validate({"clusterRef": {"name": "k"}, "authentication": {"type": "scram-sha-512"},
                                         "authorization": {"acls": [rule]}})
    refused = refused_rules(spec, "team-a", [g for g in GRANTS if g.namespace in ("team-a", "*")], OWNERS.get)
    if refusal is None:
        assert refused == []
    else:
        assert len(refused) == 1 and refused[0].startswith("acls[0] (") and refusal in refused[0]


def test_a_namespace_without_grants_may_grant_only_its_own_topics() -> None:
    spec = KafkaUserSpec.model_validate({"clusterRef": {"name": "k"}, "authentication": {"type": "scram-sha-512"},
                                         "authorization": {"acls": [rule_("topic", "orders"), rule_("group", "g"),
                                                                     rule_("topic", "*", ops=("All",))]}})
    refused = refused_rules(spec, "team-a", [], OWNERS.get)
    assert [r.split(" ")[0] for r in refused] == ["acls[1]", "acls[2]"]


DENIED = KafkaFailure(Reason.AUTHORIZATION_FAILED, "describing SCRAM credentials: denied", False)


@pytest.mark.parametrize(("existing", "failures", "removals"), [
    ({}, {}, []),  # no user has credentials: nothing to remove
    ({"a": None, "b": {}}, {}, []),
    ({"a": {"SCRAM-SHA-512": 4096, "SCRAM-SHA-256": 8192}}, {},  # every mechanism, in order
     [("a", "SCRAM-SHA-256"), ("a", "SCRAM-SHA-512")]),
    ({"a": DENIED, "b": {"SCRAM-SHA-512": 4096}}, {("ns", "ka"): DENIED}, [("b", "SCRAM-SHA-512")]),
])
def test_a_deletion_removes_the_mechanisms_that_exist_and_reports_users_it_could_not_describe(
        existing, failures, removals) -> None:
    assert scram_removals({("ns", "ka"): "a", ("ns", "kb"): "b"}, existing) == (failures, removals)
