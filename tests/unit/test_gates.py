"""The gate, by table: for what was gathered about a resource, the first rule that applies decides.

Each row sets the condition of one rule together with conditions of rules further down, so a row also shows
that its rule comes first. Topic rules honour paused and observe-only; user rules do neither.
"""

from __future__ import annotations

from typing import Any

import pytest
from kto.api import names
from kto.api.domain import ClusterFacts
from kto.api.models import DeletionPolicy, KafkaClusterSpec
from kto.api.reasons import Reason
from kto.reconcile.cluster_state import Connected, Invalid, NotProbed, Unreachable
from kto.reconcile.gates import UNKNOWN_OWNER_UID, Gathered, KindRules, decide
from kto.reconcile.outcomes import BACKOFF, Converge, Decision, Delete, Observe, Release, Report, Revoke, Skip, Verdict
from kto.reconcile.ownership import Claim
from kto.topics.kind import TopicKind
from kto.users.kind import UserKind

from tests.support.fakes import FakeGateway

TOPIC: KindRules = TopicKind.rules
USER: KindRules = UserKind.rules
CLUSTER_SPEC = KafkaClusterSpec(bootstrapServers=["kafka:9092"])
CLUSTER = Connected(("apps", "kafka"), CLUSTER_SPEC, ClusterFacts("id", 1, (1, 2, 3)), FakeGateway())
BLOCK = Verdict(False, Reason.NOT_SUPPORTED, "Kafka cannot remove partitions", keep=True)

# Conditions, each making one rule apply.
NO_SPEC = {"spec": None, "spec_error": "spec.partitions: must be at least 1"}
NO_CLUSTER = {"cluster": None}
NOT_PROBED = {"cluster": NotProbed(("apps", "kafka"), CLUSTER_SPEC)}
BAD_CLUSTER = {"cluster": Invalid(("apps", "kafka"), "bootstrapServers: required")}
UNREACHABLE = {"cluster": Unreachable(("apps", "kafka"), CLUSTER_SPEC, Reason.UNREACHABLE, "timed out",
                                      CLUSTER.facts)}
NOT_ALLOWED = {"allowed": False}
TAKEN = {"owner": Claim("2025-01-01T00:00:00Z", "apps", "older", cluster=("apps", "kafka"))}
PAUSED = {"paused": True}
UNMANAGED = {"unmanaged": True}
BLOCKED = {"blocked": BLOCK}
PROTECTED = {"refusal": Verdict(False, Reason.PROTECTED, "Kafka topic orders is protected (it matches ...)")}
NOT_PERMITTED = {"refusal": Verdict(False, Reason.NOT_PERMITTED, "namespace apps may not grant what ...")}
ADOPTED = {"deletion_policy": DeletionPolicy.ADOPTED}
UNOWNED = {"established": False}  # no record in status that the resource owns its Kafka name
INTENDED = {"established": False, "intended": True}  # kto's ledger: it was creating the name for the resource
KIND_DELETED = {"kind_deleted": True}
RETAIN = {"deletion_policy": DeletionPolicy.RETAIN}


def gathered(*conditions: dict[str, Any], deleting: bool = False) -> Gathered:
    fields: dict[str, Any] = {"spec": object(), "holds": True, "established": True, "deleting": deleting,
                              "owner": None}
    for c in conditions:
        fields |= c
    return Gathered(key=("apps", "orders"), name="orders", cluster_ref=("apps", "kafka"),
                    cluster=fields.pop("cluster", CLUSTER), **fields)


def report(reason: Reason, ready: bool | None = False) -> tuple:
    return "Report", reason, ready


def release(type_: str | None = None, reason: str | None = None) -> tuple:
    return ("Release", type_, reason) if type_ else ("Release",)


def summary(decision: Decision) -> tuple:
    """A decision as a comparable row: its type, and the reason of what it reports or posts."""
    match decision:
        case Report(verdict):
            return report(verdict.reason, verdict.ready)
        case Revoke(verdict):
            return "Revoke", verdict.reason, verdict.ready
        case Release(note) if note is not None:
            return release(note.type, note.reason)
        case _:
            return (type(decision).__name__,)


def text(decision: Decision) -> str:
    match decision:
        case Report(verdict):
            return verdict.message
        case Release(note) if note is not None:
            return note.message
    return ""


# (id, conditions, topic decision, user decision, message fragment of the topic's decision)
LIVING = [
    ("invalid spec first", [NO_SPEC, NO_CLUSTER, NOT_ALLOWED, TAKEN, PAUSED, UNMANAGED, BLOCKED],
     report(Reason.INVALID_SPEC), report(Reason.INVALID_SPEC), "invalid spec: spec.partitions: must be at least 1"),
    ("cluster missing", [NO_CLUSTER, NOT_ALLOWED, TAKEN, PAUSED, UNMANAGED, BLOCKED],
     report(Reason.CLUSTER_NOT_FOUND), report(Reason.CLUSTER_NOT_FOUND), "KafkaCluster apps/kafka does not exist"),
    ("cluster not probed yet: skip", [NOT_PROBED, NOT_ALLOWED, TAKEN, PAUSED, UNMANAGED, BLOCKED],
     ("Skip",), ("Skip",), ""),
    ("invalid cluster spec", [BAD_CLUSTER, NOT_ALLOWED, TAKEN, PAUSED],
     report(Reason.CLUSTER_NOT_READY), report(Reason.CLUSTER_NOT_READY), "invalid spec: bootstrapServers: required"),
    ("namespace not allowed: what kto gave a user is taken back", [NOT_ALLOWED, TAKEN, PAUSED, UNREACHABLE,
                                                                   UNMANAGED, BLOCKED],
     report(Reason.NAMESPACE_NOT_ALLOWED), ("Revoke", Reason.NAMESPACE_NOT_ALLOWED, False), "from namespace apps"),
    ("namespace not allowed, nothing owned", [NOT_ALLOWED, UNOWNED, TAKEN, UNREACHABLE],
     report(Reason.NAMESPACE_NOT_ALLOWED), report(Reason.NAMESPACE_NOT_ALLOWED), "from namespace apps"),
    ("protected, before a conflict", [PROTECTED, TAKEN, PAUSED, UNREACHABLE, UNMANAGED, BLOCKED],
     report(Reason.PROTECTED), report(Reason.PROTECTED), "is protected"),
    ("not permitted", [NOT_PERMITTED, TAKEN, PAUSED, UNREACHABLE, BLOCKED],
     report(Reason.NOT_PERMITTED), ("Revoke", Reason.NOT_PERMITTED, False), "may not grant"),
    ("conflict", [TAKEN, PAUSED, UNREACHABLE, UNMANAGED, BLOCKED],
     report(Reason.RESOURCE_CONFLICT), report(Reason.RESOURCE_CONFLICT), "managed by KafkaTopic apps/older: this"),
    ("paused", [PAUSED, UNREACHABLE, UNMANAGED, BLOCKED],
     report(Reason.PAUSED, None), report(Reason.CLUSTER_NOT_READY), names.ANNOTATION_PAUSED),
    ("paused, cluster ready", [PAUSED, BLOCKED],
     report(Reason.PAUSED, None), report(Reason.NOT_SUPPORTED), "remove it to resume"),
    ("cluster not ready", [UNREACHABLE, UNMANAGED, BLOCKED],
     report(Reason.CLUSTER_NOT_READY), report(Reason.CLUSTER_NOT_READY), "is not ready (Unreachable): timed out"),
    ("observe only", [UNMANAGED, BLOCKED], ("Observe",), report(Reason.NOT_SUPPORTED), ""),
    ("observe only, nothing else", [UNMANAGED], ("Observe",), ("Converge",), ""),
    ("blocked", [BLOCKED], report(Reason.NOT_SUPPORTED), report(Reason.NOT_SUPPORTED), "cannot remove partitions"),
    ("converge", [], ("Converge",), ("Converge",), ""),
    ("converge without the finalizer yet", [{"holds": False}], ("Converge",), ("Converge",), ""),
]

DELETING = [
    ("not holding: not ours to hold up", [{"holds": False}, NO_CLUSTER, NO_SPEC], ("Skip",), ("Skip",), ""),
    ("the CRD is being deleted: an uninstall never deletes data", [KIND_DELETED, NO_CLUSTER, NO_SPEC, UNREACHABLE],
     release("Warning", "KindDeleted"), release("Warning", "KindDeleted"),
     "the KafkaTopic CustomResourceDefinition is being deleted: finalizer released, Kafka topic orders was not"),
    ("cluster gone first", [NO_CLUSTER, NO_SPEC, UNMANAGED, PAUSED, NOT_ALLOWED, RETAIN],
     release("Warning", "ClusterNotFound"), release("Warning", "ClusterNotFound"),
     "KafkaCluster apps/kafka no longer exists: finalizer released, Kafka topic orders was not deleted"),
    ("cluster not probed yet: wait", [NOT_PROBED, NO_SPEC, RETAIN], ("Skip",), ("Skip",), ""),
    ("invalid spec: a topic is kept, a user's access is not", [NO_SPEC, UNMANAGED, PAUSED, NOT_ALLOWED, UNREACHABLE],
     release("Warning", "InvalidSpec"), report(Reason.CLUSTER_NOT_READY), "Kafka topic orders was not deleted"),
    ("invalid spec, nothing owned", [NO_SPEC, UNOWNED], release("Warning", "InvalidSpec"),
     release("Warning", "InvalidSpec"), ""),
    ("protected is kept, whatever else", [PROTECTED, UNMANAGED, PAUSED, UNREACHABLE],
     release("Warning", "Protected"), release("Warning", "Protected"), "Kafka topic orders was not deleted"),
    ("a tenant's refused grant does not keep what kto made", [NOT_PERMITTED], ("Delete",), ("Delete",), ""),
    ("observe only is kept silently", [UNMANAGED, PAUSED, RETAIN, UNREACHABLE],
     release(), release("Normal", "UserRetained"), ""),
    ("paused is kept", [PAUSED, RETAIN, UNREACHABLE],
     release("Warning", "Paused"), release("Normal", "UserRetained"), "deleted while paused"),
    ("namespace not allowed: a topic is kept, a user's access is not", [NOT_ALLOWED, UNREACHABLE], release(),
     report(Reason.CLUSTER_NOT_READY), ""),
    ("namespace not allowed, nothing owned", [NOT_ALLOWED, UNOWNED], release(), release(), ""),
    ("invalid cluster spec", [BAD_CLUSTER, RETAIN], release(), release(), ""),
    ("not the owner", [TAKEN, RETAIN, UNREACHABLE], release(), release(), ""),
    ("no record of owning (a finalizer proves nothing)", [UNOWNED, UNREACHABLE], release(), release(), ""),
    ("the ledger's intent is a record", [INTENDED], ("Delete",), ("Delete",), ""),
    ("retained", [RETAIN, UNREACHABLE],
     release("Normal", "TopicRetained"), release("Normal", "UserRetained"),
     "Kafka topic orders kept (deletionPolicy Retain)"),
    ("adopted and not explicitly Delete", [ADOPTED, UNREACHABLE],
     release("Normal", "TopicRetained"), release("Normal", "UserRetained"), "kept: kto adopted it"),
    ("cluster not ready: wait", [UNREACHABLE, BLOCKED],
     report(Reason.CLUSTER_NOT_READY), report(Reason.CLUSTER_NOT_READY),
     "waiting to delete Kafka topic orders: KafkaCluster apps/kafka is not ready (Unreachable)"),
    ("delete, a block does not hold it up", [BLOCKED], ("Delete",), ("Delete",), ""),
]


def rows(table: list, deleting: bool) -> list:
    return [pytest.param(conditions, topic, user, fragment, deleting, id=name)
            for name, conditions, topic, user, fragment in table]


@pytest.mark.parametrize(("conditions", "topic", "user", "fragment", "deleting"),
                         rows(LIVING, False) + rows(DELETING, True))
def test_the_first_rule_that_applies_decides(conditions: list, topic: tuple, user: tuple, fragment: str,
                                              deleting: bool) -> None:
    g = gathered(*conditions, deleting=deleting)
    decision = decide(g, TOPIC)
    assert summary(decision) == topic
    assert fragment in text(decision)
    assert summary(decide(g, USER)) == user


def test_a_blocked_resource_reports_its_failure() -> None:
    assert decide(gathered(BLOCKED), TOPIC) == Report(BLOCK)


def test_waiting_to_delete_retries_with_backoff_and_keeps_status() -> None:
    verdict = decide(gathered(UNREACHABLE, deleting=True), USER).verdict
    assert verdict.retry == BACKOFF and verdict.keep
    assert "waiting to delete Kafka user orders" in verdict.message


def test_users_say_what_is_kept() -> None:
    note = decide(gathered(RETAIN, deleting=True), USER).note
    assert note.message == "Kafka user orders: credentials and ACLs kept (deletionPolicy Retain)"


def test_the_owner_itself_converges() -> None:
    own = {"owner": Claim("2025-01-01T00:00:00Z", "apps", "orders")}
    assert decide(gathered(own), TOPIC) == Converge()
    assert decide(gathered(own, deleting=True), TOPIC) == Delete()
    assert decide(gathered(UNMANAGED), TOPIC) == Observe()
    assert decide(gathered(NOT_PROBED), USER) == Skip()


@pytest.mark.parametrize("deleting", [False, True])
def test_an_owner_not_known_yet_waits_and_never_releases(deleting: bool) -> None:
    g = gathered({"owner": Claim("", "", "", uid=UNKNOWN_OWNER_UID)}, deleting=deleting)
    decision = decide(g, TOPIC)
    assert isinstance(decision, Report) and decision.verdict.silent and decision.verdict.retry == 1.0


@pytest.mark.parametrize(("in_sync", "silent"), [(True, True), (False, False)])
def test_an_unreachable_cluster_leaves_in_sync_resources_as_they_are(in_sync: bool, silent: bool) -> None:
    """A cluster outage is the KafkaCluster's to report: a resource that was Ready keeps its status (no write, no
    Event); one waiting for a change says it waits for the cluster."""
    for rules in (TOPIC, USER):
        verdict = decide(gathered(UNREACHABLE, {"in_sync": in_sync}), rules).verdict
        assert (verdict.reason, verdict.silent, verdict.keep) == (Reason.CLUSTER_NOT_READY, silent, True)
    # A deletion waits and says so whatever the resource showed before.
    assert not decide(gathered(UNREACHABLE, {"in_sync": True}, deleting=True), TOPIC).verdict.silent


def test_only_what_kto_applied_before_is_revoked() -> None:
    """A refused user whose status records no ownership (a forged finalizer included) is only told; a protected
    one is never touched."""
    assert summary(decide(gathered(NOT_PERMITTED, UNOWNED), USER)) == report(Reason.NOT_PERMITTED)
    assert summary(decide(gathered(NOT_PERMITTED, UNOWNED, {"holds": True}), USER)) == report(Reason.NOT_PERMITTED)
    assert summary(decide(gathered(PROTECTED), USER)) == report(Reason.PROTECTED)
