"""kto's Argo CD health checks (manifests/argocd/), run on a real Lua 5.1 in Argo CD's sandbox.

The cases are Argo CD's own format, ``health_test.yaml`` beside each ``health.lua``; their testdata is what
kto wrote, captured from the apiserver by tests/integration/test_argocd_capture.py.
"""

from __future__ import annotations

import copy
import importlib
import re

import pytest
import yaml
from kto.api.reasons import PERMANENT, Reason
from lupa.lua51 import LuaError

from tests.support.argocd import ARGOCD, HEALTH_STATUSES, KINDS, health_script, kind_dir, run_health

argocd_cm = importlib.import_module("argocd_cm")  # hack/argocd_cm.py; hack/ is on sys.path (tests.support.env)


def _cases() -> list:
    cases = []
    for kind in KINDS:
        for test in yaml.safe_load((kind_dir(kind) / "health_test.yaml").read_text())["tests"]:
            cases.append(pytest.param(kind, test, id=f"{kind}/{test['inputPath']}"))
    return cases


def _load(kind: str, name: str) -> dict:
    return yaml.safe_load((kind_dir(kind) / "testdata" / name).read_text())


@pytest.mark.parametrize(("kind", "test"), _cases())
def test_health_of_what_kto_wrote(kind: str, test: dict) -> None:
    """Argo CD's TestLuaHealthScript: the script's {status, message} equals healthStatus (message "" if absent)."""
    expected = {"status": test["healthStatus"]["status"], "message": test["healthStatus"].get("message", "")}
    assert expected["status"] in HEALTH_STATUSES
    obj = yaml.safe_load((kind_dir(kind) / test["inputPath"]).read_text())
    assert obj["kind"] == kind
    assert run_health(health_script(kind), obj) == expected


@pytest.mark.parametrize("kind", KINDS)
def test_every_testdata_file_is_a_case_and_named_after_its_health(kind: str) -> None:
    tests = yaml.safe_load((kind_dir(kind) / "health_test.yaml").read_text())["tests"]
    listed = [t["inputPath"] for t in tests]
    assert len(listed) == len(set(listed))
    present = sorted(f"testdata/{p.name}" for p in (kind_dir(kind) / "testdata").glob("*.yaml"))
    assert sorted(listed) == present
    for t in tests:
        assert t["inputPath"].removeprefix("testdata/").startswith(t["healthStatus"]["status"].lower() + "-"), t


def test_the_states_the_issue_asks_for_are_covered() -> None:
    topic = {t["inputPath"] for t in yaml.safe_load((kind_dir("KafkaTopic") / "health_test.yaml").read_text())["tests"]}
    reasons = {_load("KafkaTopic", p.removeprefix("testdata/")).get("status", {}).get("conditions", [{}])[0]
               .get("reason") for p in topic}
    assert {"Reconciled", "NotSupported", "InvalidConfig", "InvalidSpec", "ResourceConflict", "NamespaceNotAllowed",
            "InsufficientBrokers", "BelowMinInSyncReplicas", "ClusterNotFound", "ClusterNotReady", "ReplicasChanging",
            "Paused", "Unmanaged"} <= reasons
    assert {"testdata/progressing-no-status.yaml", "testdata/progressing-generation-behind.yaml",
            "testdata/progressing-replicas-changing.yaml", "testdata/progressing-deletion-blocked.yaml"} <= topic
    assert "replicasChange" in _load("KafkaTopic", "progressing-replicas-changing.yaml")["status"]
    cluster = {t["inputPath"] for t in yaml.safe_load((kind_dir("KafkaCluster") / "health_test.yaml").read_text())[
        "tests"]}
    reasons = {_load("KafkaCluster", p.removeprefix("testdata/")).get("status", {}).get("conditions", [{}])[0]
               .get("reason") for p in cluster}
    assert {"Connected", "AuthenticationFailed", "SecretNotFound", "Unreachable", "BrokerConfigRefused"} <= reasons
    user = {t["inputPath"] for t in yaml.safe_load((kind_dir("KafkaUser") / "health_test.yaml").read_text())["tests"]}
    reasons = {_load("KafkaUser", p.removeprefix("testdata/")).get("status", {}).get("conditions", [{}])[0]
               .get("reason") for p in user}
    assert {"Reconciled", "AuthorizerNotEnabled", "ClusterNotReady", "ClusterNotFound", "NotPermitted",
            "SecretNotMarked"} <= reasons
    assert {"testdata/progressing-no-status.yaml", "testdata/progressing-generation-behind.yaml"} <= user


# What a Ready condition with each of kto's reasons means to Argo CD. A reason added to kto.reasons fails
# test_every_reason_has_a_health until it is decided here and in the health.lua files.
TOPIC_HEALTH = {
    Reason.RECONCILED: "Degraded",  # never written with Ready=False: an unknown combination
    Reason.UNMANAGED: "Degraded",  # observe only, and the Kafka topic is missing
    Reason.PAUSED: "Suspended",
    Reason.INVALID_SPEC: "Degraded",
    Reason.INVALID_CONFIG: "Degraded",
    Reason.NOT_SUPPORTED: "Degraded",
    Reason.RESOURCE_CONFLICT: "Degraded",
    Reason.CLUSTER_NOT_FOUND: "Degraded",
    Reason.CLUSTER_NOT_READY: "Progressing",
    Reason.NAMESPACE_NOT_ALLOWED: "Degraded",
    Reason.INSUFFICIENT_BROKERS: "Degraded",
    Reason.BELOW_MIN_INSYNC_REPLICAS: "Degraded",
    Reason.REPLICAS_CHANGING: "Progressing",
    Reason.KAFKA_ERROR: "Progressing",
    Reason.CONNECTED: "Degraded",  # a KafkaCluster's reason: unknown on a topic
    Reason.UNREACHABLE: "Progressing",
    Reason.AUTHENTICATION_FAILED: "Degraded",
    Reason.AUTHORIZATION_FAILED: "Degraded",
    Reason.SECRET_NOT_FOUND: "Degraded",
    Reason.AUTHORIZER_NOT_ENABLED: "Degraded",  # a KafkaUser's reason: unknown on a topic
    Reason.ADOPTING: "Progressing",
    Reason.ADOPTION_REQUIRED: "Degraded",
    Reason.PROTECTED: "Degraded",
    Reason.NOT_PERMITTED: "Degraded",  # a KafkaUser's reason: unknown on a topic
    Reason.SECRET_NOT_MARKED: "Degraded",  # a KafkaCluster's (and KafkaUser's) reason: unknown on a topic
    Reason.INSECURE_CONNECTION: "Degraded",  # a KafkaCluster's reason: unknown on a topic
    Reason.CLUSTER_ID_CHANGED: "Degraded",  # a KafkaCluster's reason: unknown on a topic
    Reason.INVALID_CLIENT_CONFIG: "Degraded",  # a KafkaCluster's reason: unknown on a topic
    Reason.UNSUPPORTED_KAFKA_VERSION: "Degraded",  # a KafkaCluster's reason: unknown on a topic
    Reason.TOPIC_BEING_DELETED: "Progressing",  # retried until ZooKeeper finishes the earlier deletion
    Reason.BROKER_CONFIG_REFUSED: "Degraded",  # a KafkaCluster's reason: unknown on a topic
    Reason.DEFAULT_QUOTAS_REFUSED: "Degraded",  # a KafkaCluster's reason: unknown on a topic
    Reason.REFRESH_FAILED: "Degraded",  # a KafkaCluster's reason: unknown on a topic
}
CLUSTER_HEALTH = {
    Reason.CONNECTED: "Degraded",  # never written with Ready=False
    Reason.UNREACHABLE: "Progressing",
    Reason.AUTHENTICATION_FAILED: "Degraded",
    Reason.AUTHORIZATION_FAILED: "Degraded",
    Reason.SECRET_NOT_FOUND: "Degraded",
    Reason.INVALID_SPEC: "Degraded",
    Reason.SECRET_NOT_MARKED: "Degraded",
    Reason.INSECURE_CONNECTION: "Degraded",
    Reason.CLUSTER_ID_CHANGED: "Degraded",
    Reason.INVALID_CLIENT_CONFIG: "Degraded",
    Reason.UNSUPPORTED_KAFKA_VERSION: "Degraded",  # only upgrading the brokers ends it
    Reason.BROKER_CONFIG_REFUSED: "Degraded",  # waits for spec.brokerConfig to change
    Reason.DEFAULT_QUOTAS_REFUSED: "Degraded",  # waits for spec.defaultUserQuotas to change
    Reason.REFRESH_FAILED: "Degraded",  # e.g. kto may not read the cluster's Secret: a person decides
}
USER_HEALTH = {
    Reason.RECONCILED: "Degraded",  # never written with Ready=False: an unknown combination
    Reason.UNMANAGED: "Degraded",  # a KafkaTopic's reason: unknown on a user
    Reason.PAUSED: "Degraded",  # KafkaUsers cannot be paused: unknown on a user
    Reason.INVALID_SPEC: "Degraded",
    Reason.INVALID_CONFIG: "Degraded",
    Reason.NOT_SUPPORTED: "Degraded",  # e.g. brokers too old for SCRAM credentials through the admin API
    Reason.RESOURCE_CONFLICT: "Degraded",
    Reason.CLUSTER_NOT_FOUND: "Degraded",
    Reason.CLUSTER_NOT_READY: "Progressing",
    Reason.NAMESPACE_NOT_ALLOWED: "Degraded",
    Reason.INSUFFICIENT_BROKERS: "Degraded",  # a KafkaTopic's reason: unknown on a user
    Reason.BELOW_MIN_INSYNC_REPLICAS: "Degraded",  # a KafkaTopic's reason: unknown on a user
    Reason.REPLICAS_CHANGING: "Degraded",  # a KafkaTopic's reason: unknown on a user
    Reason.KAFKA_ERROR: "Progressing",
    Reason.CONNECTED: "Degraded",  # a KafkaCluster's reason: unknown on a user
    Reason.UNREACHABLE: "Progressing",
    Reason.AUTHENTICATION_FAILED: "Degraded",
    Reason.AUTHORIZATION_FAILED: "Degraded",
    Reason.SECRET_NOT_FOUND: "Degraded",
    Reason.AUTHORIZER_NOT_ENABLED: "Degraded",  # only configuring the brokers ends it
    Reason.ADOPTING: "Progressing",
    Reason.ADOPTION_REQUIRED: "Degraded",
    Reason.PROTECTED: "Degraded",
    Reason.NOT_PERMITTED: "Degraded",
    Reason.SECRET_NOT_MARKED: "Degraded",
    Reason.INSECURE_CONNECTION: "Degraded",  # a KafkaCluster's reason: unknown on a user
    Reason.CLUSTER_ID_CHANGED: "Degraded",  # a KafkaCluster's reason: unknown on a user
    Reason.INVALID_CLIENT_CONFIG: "Degraded",  # a KafkaCluster's reason: unknown on a user
    Reason.UNSUPPORTED_KAFKA_VERSION: "Degraded",  # a KafkaCluster's reason: unknown on a user
    Reason.TOPIC_BEING_DELETED: "Degraded",  # a KafkaTopic's reason: unknown on a user
    Reason.BROKER_CONFIG_REFUSED: "Degraded",  # a KafkaCluster's reason: unknown on a user
    Reason.DEFAULT_QUOTAS_REFUSED: "Degraded",  # a KafkaCluster's reason: unknown on a user
    Reason.REFRESH_FAILED: "Degraded",  # a KafkaCluster's reason: unknown on a user
}
# What kto can write into a KafkaUser's Ready condition: the gates (kto.gates), kto.user_kind, and the Kafka
# errors kto.kafka_gateway classifies (PERMANENT_CODES, authorization, authentication, unreachable, the rest).
USER_REASONS = {Reason.RECONCILED, Reason.INVALID_SPEC, Reason.CLUSTER_NOT_FOUND, Reason.CLUSTER_NOT_READY,
                Reason.NAMESPACE_NOT_ALLOWED, Reason.RESOURCE_CONFLICT, Reason.PROTECTED, Reason.NOT_PERMITTED,
                Reason.ADOPTING, Reason.ADOPTION_REQUIRED, Reason.SECRET_NOT_MARKED, Reason.SECRET_NOT_FOUND,
                Reason.KAFKA_ERROR, Reason.INVALID_CONFIG, Reason.NOT_SUPPORTED, Reason.AUTHORIZER_NOT_ENABLED,
                Reason.AUTHORIZATION_FAILED, Reason.AUTHENTICATION_FAILED, Reason.UNREACHABLE}
NOT_TOPICS = {Reason.RECONCILED, Reason.CONNECTED, Reason.AUTHORIZER_NOT_ENABLED, Reason.NOT_PERMITTED,
              Reason.SECRET_NOT_MARKED, Reason.INSECURE_CONNECTION, Reason.CLUSTER_ID_CHANGED,
              Reason.INVALID_CLIENT_CONFIG, Reason.UNSUPPORTED_KAFKA_VERSION, Reason.BROKER_CONFIG_REFUSED,
              Reason.DEFAULT_QUOTAS_REFUSED, Reason.REFRESH_FAILED}
KNOWN = {"KafkaTopic": set(TOPIC_HEALTH) - NOT_TOPICS,
         "KafkaCluster": set(CLUSTER_HEALTH) - {Reason.CONNECTED},
         "KafkaUser": USER_REASONS - {Reason.RECONCILED}}
HEALTHY_BASE = {"KafkaTopic": "healthy-reconciled.yaml", "KafkaCluster": "healthy-connected.yaml",
                "KafkaUser": "healthy-reconciled.yaml"}


def _with_ready(kind: str, status: str, reason: str, message: str = "what kto says") -> dict:
    obj = copy.deepcopy(_load(kind, HEALTHY_BASE[kind]))
    obj["status"]["conditions"] = [{"type": "Ready", "status": status, "reason": reason, "message": message,
                                    "observedGeneration": obj["metadata"]["generation"],
                                    "lastTransitionTime": "2025-01-01T00:00:00Z"}]
    return obj


def test_every_reason_has_a_health() -> None:
    assert set(TOPIC_HEALTH) == set(Reason)
    # Cluster reasons: the ones after "# KafkaCluster" in kto.reasons, and InvalidSpec (a bad cluster spec).
    assert set(CLUSTER_HEALTH) == {Reason.CONNECTED, Reason.UNREACHABLE, Reason.AUTHENTICATION_FAILED,
                                   Reason.AUTHORIZATION_FAILED, Reason.SECRET_NOT_FOUND, Reason.INVALID_SPEC,
                                   Reason.SECRET_NOT_MARKED, Reason.INSECURE_CONNECTION, Reason.CLUSTER_ID_CHANGED,
                                   Reason.INVALID_CLIENT_CONFIG, Reason.UNSUPPORTED_KAFKA_VERSION,
                                   Reason.BROKER_CONFIG_REFUSED, Reason.DEFAULT_QUOTAS_REFUSED,
                                   Reason.REFRESH_FAILED}
    assert set(USER_HEALTH) == set(Reason)
    for reason in PERMANENT:
        assert TOPIC_HEALTH[reason] == "Degraded", f"kto never retries {reason}: Argo CD must not wait for it"
        assert USER_HEALTH[reason] == "Degraded", f"kto never retries {reason}: Argo CD must not wait for it"


def test_every_reason_kto_writes_on_a_user_is_one_its_health_check_knows() -> None:
    """A reason kto writes on a KafkaUser is named in the KafkaUser's health.lua (an unknown one would be
    Degraded with the reason prefixed, whatever it means)."""
    script = health_script("KafkaUser")
    for reason in USER_REASONS - {Reason.RECONCILED}:
        assert re.search(rf"\b{reason} = true\b", script), f"{reason} is not in KafkaUser/health.lua"


@pytest.mark.parametrize(("kind", "reason", "health"), [
    *(("KafkaTopic", r, h) for r, h in TOPIC_HEALTH.items()),
    *(("KafkaCluster", r, h) for r, h in CLUSTER_HEALTH.items()),
    *(("KafkaUser", r, h) for r, h in USER_HEALTH.items()),
])
def test_ready_false_for_each_reason(kind: str, reason: Reason, health: str) -> None:
    paused = kind == "KafkaTopic" and reason == Reason.PAUSED  # kto writes Paused with Ready=Unknown
    got = run_health(health_script(kind), _with_ready(kind, "Unknown" if paused else "False", str(reason)))
    # A reason the check knows is passed on as kto's message; an unknown one is named in it.
    message = "what kto says" if reason in KNOWN[kind] else f"{reason}: what kto says"
    assert got == {"status": health, "message": message}


@pytest.mark.parametrize("kind", KINDS)
def test_ready_true_is_healthy_only_at_the_current_generation(kind: str) -> None:
    reason = "Connected" if kind == "KafkaCluster" else "Reconciled"
    obj = _with_ready(kind, "True", reason)
    assert run_health(health_script(kind), obj)["status"] == "Healthy"
    obj["metadata"]["generation"] += 1
    assert run_health(health_script(kind), obj) == {
        "status": "Progressing", "message": f"waiting for kto to reconcile generation {obj['metadata']['generation']}"
                                            f" (status is of generation {obj['status']['observedGeneration']})"}


def test_unmanaged_ready_true_is_healthy_even_when_kafka_differs() -> None:
    obj = _with_ready("KafkaTopic", "True", "Unmanaged", "observe only: Kafka differs from the spec: partitions 2 "
                      "(spec 5)")
    assert run_health(health_script("KafkaTopic"), obj)["status"] == "Healthy"


def test_deletion_waiting_for_another_finalizer() -> None:
    obj = _load("KafkaTopic", "progressing-deletion-blocked.yaml")
    obj["metadata"]["finalizers"] = ["example.com/backup"]
    assert run_health(health_script("KafkaTopic"), obj) == {
        "status": "Progressing", "message": "being deleted: waiting for the finalizer(s) example.com/backup"}
    obj = _load("KafkaCluster", "healthy-connected.yaml")
    obj["metadata"]["deletionTimestamp"] = "2025-01-01T00:00:00Z"
    assert run_health(health_script("KafkaCluster"), obj) == {"status": "Progressing", "message": "being deleted"}


def test_replicas_change_is_progressing_whatever_the_ready_condition_says() -> None:
    obj = _with_ready("KafkaTopic", "True", "Reconciled")
    obj["status"]["replicasChange"] = {"targetReplicas": 3, "state": "Pending"}
    assert run_health(health_script("KafkaTopic"), obj) == {
        "status": "Progressing", "message": "replication factor changing to 3 (Pending)"}
    obj["status"]["replicasChange"]["message"] = "replication factor 1 to 3: 2 of 4 partitions moved"
    assert run_health(health_script("KafkaTopic"), obj)["message"] == obj["status"]["replicasChange"]["message"]
    # A refusal is not hidden behind a move: Argo CD must not wait for what kto will not do.
    obj["status"]["conditions"][0] |= {"status": "False", "reason": "BelowMinInSyncReplicas"}
    assert run_health(health_script("KafkaTopic"), obj)["status"] == "Degraded"


# --- Argo CD's sandbox ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("script", [
    'return {status = string.format("%s", "Healthy")}',
    'return {status = ("healthy"):upper()}',
    "return {status = tostring(math.floor(1))}",
    'return {status = io.write("x")}',
    "return {status = debug.traceback()}",
])
def test_the_sandbox_offers_only_what_argocd_offers(script: str) -> None:
    with pytest.raises(LuaError):
        run_health(script, {})


def test_the_sandbox_passes_obj_as_argocd_does() -> None:
    script = 'return {status = "Healthy", message = obj.metadata.name .. " " .. #obj.spec.items .. " " .. ' \
             'tostring(obj.spec.missing) .. " " .. tostring(obj.spec.n + 1)}'
    obj = {"metadata": {"name": "x"}, "spec": {"items": ["a", "b"], "missing": None, "n": 2}}
    assert run_health(script, obj) == {"status": "Healthy", "message": "x 2 nil 3"}


@pytest.mark.parametrize("kind", KINDS)
def test_health_lua_uses_no_library_argocd_withholds(kind: str) -> None:
    code = "\n".join(line.split("--", 1)[0] for line in health_script(kind).splitlines())
    assert not re.search(r"\b(string|math|io|debug|os)\s*[.:\[]", code)
    assert not re.search(r"\)\s*:\s*\w+\s*\(|\"\s*:\s*\w+\s*\(", code), "string methods need the string library"


# --- the argocd-cm ConfigMap ---------------------------------------------------------------------------------


def test_argocd_cm_is_generated_from_the_health_checks() -> None:
    committed = (ARGOCD / "argocd-cm.yaml").read_text()
    assert committed == argocd_cm.render(), "manifests/argocd/argocd-cm.yaml is stale: python3 hack/argocd_cm.py"
    cm = yaml.safe_load(committed)
    assert (cm["apiVersion"], cm["kind"], cm["metadata"]["name"]) == ("v1", "ConfigMap", "argocd-cm")
    assert cm["data"] == {f"resource.customizations.health.kafka.kto.dev_{kind}": health_script(kind)
                          for kind in KINDS}
    for kind in KINDS:  # byte for byte
        assert cm["data"][f"resource.customizations.health.kafka.kto.dev_{kind}"].encode() == \
            (kind_dir(kind) / "health.lua").read_bytes()


def test_a_user_being_deleted_waits_for_ktos_finalizer() -> None:
    obj = _load("KafkaUser", "healthy-reconciled.yaml")
    assert obj["metadata"]["finalizers"] == ["kto.dev/user-protection"]
    obj["metadata"]["deletionTimestamp"] = "2025-01-01T00:00:00Z"
    got = run_health(health_script("KafkaUser"), obj)
    assert got["status"] == "Progressing"
    assert got["message"].startswith("being deleted: waiting for kto to release its finalizer kto.dev/user-protection "
                                     "(Reconciled: Kafka user app:")
    obj["metadata"]["finalizers"] = ["example.com/backup"]
    assert run_health(health_script("KafkaUser"), obj)["message"] == \
        "being deleted: waiting for the finalizer(s) example.com/backup"


def test_a_cluster_unreachable_too_long_is_degraded() -> None:
    """Argo CD's sandbox has no clock: kto's Stalled condition tells a long outage from a wait."""
    obj = _with_ready("KafkaCluster", "False", "Unreachable", "cannot reach the brokers")
    assert run_health(health_script("KafkaCluster"), obj)["status"] == "Progressing"
    obj["status"]["conditions"].append({"type": "Stalled", "status": "True", "reason": "Unreachable",
                                        "lastTransitionTime": "2025-01-01T00:05:00Z",
                                        "message": "Unreachable since 2025-01-01T00:00:00Z (300 s or more): x"})
    assert run_health(health_script("KafkaCluster"), obj) == {
        "status": "Degraded", "message": "Unreachable since 2025-01-01T00:00:00Z (300 s or more): x"}
