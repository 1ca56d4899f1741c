"""KafkaPolicy on the real apiserver and Kafka: refusals at `kubectl apply` time with the rule's message (the
chart's ValidatingAdmissionPolicy, the binding kto keeps), clamps recorded in status, an Event and Kafka, a topic
admitted before a tighter policy reported out of policy and left alone, and a tenant that cannot touch its policy."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest
from kto.policy import admission
from kubernetes import client
from kubernetes.client.rest import ApiException

from tests.support.env import LocalEnv
from tests.support.kube import admin_client
from tests.support.resources import GROUP, VERSION, kafka_topic, unique
from tests.support.tenant import install_tenant_roles, make_tenant, remove_cluster_roles
from tests.support.wait import wait_until

DAYS_90 = 90 * 24 * 3600 * 1000


@pytest.fixture(scope="module")
def admission_policy(env: LocalEnv, kto):
    """The ValidatingAdmissionPolicy from crds/ (installed with the CRDs by the ``kto`` fixture)."""
    found = client.AdmissionregistrationV1Api(admin_client(env)).read_validating_admission_policy(
        admission.POLICY_NAME)
    assert found.spec.param_kind.kind == "KafkaPolicy"
    return admission.POLICY_NAME


class Policies:
    """KafkaPolicies made by one test, and their bindings, removed at its end (the test environment runs no
    garbage collector, which would delete a binding with its policy)."""

    def __init__(self, env: LocalEnv):
        self.api = admin_client(env)
        self.objects = client.CustomObjectsApi(self.api)
        self.names: list[str] = []

    def create(self, spec: dict[str, Any]) -> str:
        name = unique("pol")
        self.objects.create_cluster_custom_object(GROUP, VERSION, "kafkapolicies", {
            "apiVersion": f"{GROUP}/{VERSION}", "kind": "KafkaPolicy", "metadata": {"name": name}, "spec": spec})
        self.names.append(name)
        return name

    def get(self, name: str) -> dict[str, Any]:
        return self.objects.get_cluster_custom_object(GROUP, VERSION, "kafkapolicies", name)

    def bound(self, name: str, timeout: float = 30) -> dict[str, Any]:
        """Wait until kto says the policy's binding is in place, and return the binding."""
        def probe():
            conds = (self.get(name).get("status") or {}).get("conditions") or []
            return any(c["type"] == "Ready" and c["status"] == "True" and c["reason"] == "Bound" for c in conds)
        wait_until(probe, timeout=timeout, what=f"KafkaPolicy {name} Ready/Bound")
        return client.AdmissionregistrationV1Api(self.api).read_validating_admission_policy_binding(
            admission.binding_name(name)).to_dict()

    def clean_up(self) -> None:
        regs = client.AdmissionregistrationV1Api(self.api)
        for name in self.names:
            for delete, args in ((self.objects.delete_cluster_custom_object, (GROUP, VERSION, "kafkapolicies", name)),
                                 (regs.delete_validating_admission_policy_binding, (admission.binding_name(name),))):
                try:
                    delete(*args)
                except ApiException as err:
                    if err.status != 404:
                        raise


@pytest.fixture
def policies(env: LocalEnv):
    made = Policies(env)
    yield made
    made.clean_up()


def refusal(ns, body: dict[str, Any]) -> str | None:
    """The apiserver's refusal of creating ``body`` (a dry run), or None when it admits it."""
    try:
        ns.objects.create_namespaced_custom_object(GROUP, VERSION, ns.ns, "kafkatopics", body, dry_run="All")
    except ApiException as err:
        if err.status in (403, 422):
            return json.loads(err.body)["message"]
        raise
    return None


def in_policy(ns, name: str) -> dict[str, Any] | None:
    for c in ((ns.get("kafkatopics", name) or {}).get("status") or {}).get("conditions") or []:
        if c["type"] == "InPolicy":
            return c
    return None


def test_a_topic_breaking_a_refuse_rule_is_refused_at_apply_time_with_the_rules_message(
        env, ns, kto, admission_policy, policies) -> None:
    name = policies.create({"namespaces": [ns.ns], "topics": {"namePrefixes": ["ingestion."]},
                            "partitions": {"max": 64}, "retention": {"maxMs": DAYS_90},
                            "configs": {"allowedKeys": ["retention.ms", "cleanup.policy"]}})
    binding = policies.bound(name)
    assert binding["spec"]["param_ref"]["name"] == name
    assert binding["metadata"]["owner_references"][0]["name"] == name
    # The apiserver picks the binding up from its own watch: wait until it enforces it.
    too_many = kafka_topic("ingestion.events", "kafka", partitions=200)
    message = wait_until(lambda: refusal(ns, too_many), timeout=30, what="the binding enforced")
    assert (f"partitions 200 is over the team policy's maximum 64 (KafkaPolicy {name}: partitions.max)"
            in message), message
    assert "topic name payments does not start with one of the team policy's prefixes ingestion." in \
        refusal(ns, kafka_topic("payments", "kafka"))
    assert f"retention.ms -1 is over the team policy's maximum {DAYS_90}" in \
        refusal(ns, kafka_topic("ingestion.events", "kafka", config={"retention.ms": -1}))
    assert "config keys segment.ms are not among the keys the team policy allows" in \
        refusal(ns, kafka_topic("ingestion.events", "kafka", config={"segment.ms": 1000}))
    assert refusal(ns, kafka_topic("ingestion.events", "kafka", partitions=64, config={"retention.ms": 1000})) is None
    # kubectl apply shows the same message to the user.
    manifest = json.dumps(kafka_topic("ingestion.big", "kafka", partitions=200))
    out = subprocess.run([*env.kubectl(), "apply", "-n", ns.ns, "-f", "-"], input=manifest, capture_output=True,
                         text=True)
    assert out.returncode != 0
    assert f"partitions 200 is over the team policy's maximum 64 (KafkaPolicy {name}: partitions.max)" in out.stderr
    # Another namespace is not the team's.
    other = ns.ns + "-not"
    ns.core.create_namespace({"metadata": {"name": other}})
    assert refusal(type(ns)(ns.api, other), too_many) is None


def test_a_clamp_is_applied_and_recorded_in_status_an_event_and_kafka(
        env, ns, cluster, kafka_view, admission_policy, policies) -> None:
    name = policies.create({"namespaces": [ns.ns], "retention": {"maxMs": DAYS_90, "action": "Clamp"},
                            "configs": {"platformKeys": {"compression.type": "zstd"}, "action": "Clamp"}})
    policies.bound(name)
    topic = unique("ingestion")
    ns.topic(kafka_topic(topic, cluster, partitions=1, replicationFactor=1,
                         config={"retention.ms": 2 * DAYS_90, "compression.type": "gzip"}))
    ns.topic_ready(topic)
    cond = wait_until(lambda: in_policy(ns, topic), what="the InPolicy condition")
    assert cond["status"] == "True" and cond["reason"] == "Clamped"
    assert f"retention.ms {2 * DAYS_90} lowered to the team policy's maximum {DAYS_90}" in cond["message"]
    assert "compression.type set to the platform's zstd" in cond["message"]
    ns.wait_event(topic, "PolicyClamped", contains=f"(KafkaPolicy {name}: retention.maxMs)")
    overrides = kafka_view.overrides(topic)
    assert overrides["retention.ms"] == str(DAYS_90) and overrides["compression.type"] == "zstd"


def test_a_topic_admitted_before_a_tighter_policy_is_reported_out_of_policy_and_left_alone(
        env, ns, cluster, kafka_view, kto, admission_policy, policies) -> None:
    topic = unique("old")
    ns.topic(kafka_topic(topic, cluster, partitions=8, replicationFactor=1, config={"retention.ms": -1}))
    ns.topic_ready(topic)
    before = kafka_view.topic(topic)
    name = policies.create({"namespaces": [ns.ns], "partitions": {"max": 4}, "retention": {"maxMs": DAYS_90}})
    policies.bound(name)
    cond = wait_until(lambda: (c := in_policy(ns, topic)) and c["status"] == "False" and c, timeout=30,
                      what="InPolicy=False")
    assert cond["reason"] == "OutOfPolicy"
    assert f"partitions 8 is over the team policy's maximum 4 (KafkaPolicy {name}: partitions.max)" in cond["message"]
    assert f"retention.ms -1 is over the team policy's maximum {DAYS_90}" in cond["message"]
    ns.wait_event(topic, "OutOfPolicy", contains=f"KafkaPolicy {name}")
    series = f'kto_topics_out_of_policy{{kafka_cluster="{ns.ns}/{cluster}",policy="{name}"}} 1.0'
    wait_until(lambda: series in kto.metrics(), timeout=15, what=series)
    # Untouched in Kafka, still Ready, and still editable where the edit does not break the policy further.
    assert kafka_view.topic(topic) == before and kafka_view.overrides(topic)["retention.ms"] == "-1"
    ns.topic_ready(topic)
    wait_until(lambda: refusal(ns, kafka_topic(unique("new"), cluster, partitions=5)), timeout=30,
               what="the binding enforced")
    ns.patch("kafkatopics", topic, {"metadata": {"labels": {"touched": "yes"}}})
    with pytest.raises(ApiException) as refused:
        ns.patch("kafkatopics", topic, {"spec": {"partitions": 9}})
    assert refused.value.status == 403 and "partitions 9 is over" in refused.value.body


def test_a_tenant_cannot_write_its_policy_or_its_binding(env, ns, kto, admission_policy, policies) -> None:
    roles = install_tenant_roles(admin_client(env), unique("pol-roles"))
    try:
        tenant = make_tenant(env, ns.ns, roles)
        name = policies.create({"namespaces": [ns.ns], "partitions": {"max": 4}})
        policies.bound(name)
        wait_until(lambda: refusal(ns, kafka_topic("big", "kafka", partitions=5)), timeout=30,
                   what="the binding enforced")
        for verb in ("create", "update", "patch", "delete"):
            assert not tenant.can_i(verb, "kafkapolicies", None), verb
            assert not tenant.can_i(verb, "kafkapolicies", None, subresource="status"), verb
            assert not tenant.can_i(verb, "validatingadmissionpolicybindings", None,
                                    group="admissionregistration.k8s.io"), verb
            assert not tenant.can_i(verb, "validatingadmissionpolicies", None,
                                    group="admissionregistration.k8s.io"), verb
        objects = client.CustomObjectsApi(tenant.api)
        regs = client.AdmissionregistrationV1Api(tenant.api)
        attempts = {
            "edit the policy": lambda: objects.patch_cluster_custom_object(
                GROUP, VERSION, "kafkapolicies", name, {"spec": {"partitions": {"max": 9000}}}),
            "delete the policy": lambda: objects.delete_cluster_custom_object(GROUP, VERSION, "kafkapolicies", name),
            "create a policy": lambda: objects.create_cluster_custom_object(GROUP, VERSION, "kafkapolicies", {
                "apiVersion": f"{GROUP}/{VERSION}", "kind": "KafkaPolicy", "metadata": {"name": unique("mine")},
                "spec": {"namespaces": [ns.ns]}}),
            "delete the binding": lambda: regs.delete_validating_admission_policy_binding(
                admission.binding_name(name)),
            "loosen the binding": lambda: regs.patch_validating_admission_policy_binding(
                admission.binding_name(name), {"spec": {"validationActions": ["Warn"]}}),
        }
        for what, attempt in attempts.items():
            with pytest.raises(ApiException) as refused:
                attempt()
            assert refused.value.status == 403, what
        # And the policy holds for the tenant's own writes.
        with pytest.raises(ApiException) as refused:
            tenant.res.topic(kafka_topic("big", "kafka", partitions=5))
        assert refused.value.status == 403
        assert f"(KafkaPolicy {name}: partitions.max)" in refused.value.body
    finally:
        remove_cluster_roles(admin_client(env), roles)
