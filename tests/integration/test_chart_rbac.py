"""The Helm chart's RBAC, proven on the real apiserver.

The chart is installed with ``helm install``; kto is started the way the chart's Deployment starts it (its
command, args and env; only the ports and the listen address differ) and authenticates as the chart's
ServiceAccount with a token from TokenRequest. A full lifecycle must work with the chart's rules, in both RBAC
modes; with any one rule taken away, kto must fail visibly: its log names the forbidden verb and resource, and
what needed the rule does not happen.

The session's own kto (the ``kto`` fixture) runs as admin and watches every namespace: it would reconcile these
objects as well and hide what the ServiceAccount cannot do. The module stops it first and starts it again at
the end (``sole_operator``, in tests/conftest.py), so the kto under test is the only operator while this module
runs. (It elects its leader with a Lease of its own, in the release namespace, as the chart tells it to.)
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from kto.telemetry import logs
from kubernetes import client
from kubernetes.client.rest import ApiException

from tests.support import chart
from tests.support.env import LocalEnv
from tests.support.kafka import KafkaView
from tests.support.kube import admin_client, request_token
from tests.support.lifecycle import DAY, app_password, connect_cluster, topic_lifecycle, user_lifecycle
from tests.support.operator import KtoProcess
from tests.support.resources import GROUP, Resources, kafka_cluster, kafka_topic, ready, unique
from tests.support.users import kafka_user
from tests.support.wait import wait_until

CLUSTER, NAMESPACES = "cluster", "namespaces"


@dataclass
class Install:
    """One ``helm install`` of the chart, and what it takes to run kto as its ServiceAccount."""

    env: LocalEnv
    api: client.ApiClient
    release: str
    namespace: str
    scope: str
    namespaces: list[str]  # namespaces mode: the served ones; cluster mode: the ones the test uses
    objects: list[dict[str, Any]]
    work: Path
    procs: list[KtoProcess] = field(default_factory=list)

    @property
    def service_account(self) -> str:
        (sa,) = chart.find(self.objects, "ServiceAccount")
        return sa["metadata"]["name"]

    @property
    def user(self) -> str:
        return f"system:serviceaccount:{self.namespace}:{self.service_account}"

    @property
    def lease(self) -> str:
        """The name of the leader Lease kto is told to use (in the release namespace)."""
        return chart.container_env(chart.kto_container(self.objects), self.namespace)["KTO_LEADER_ELECTION_NAME"]

    def start_kto(self, wait: bool = True) -> KtoProcess:
        """kto as the Deployment's container runs it, authenticated as the chart's ServiceAccount; with ``wait``,
        once it answers /healthz."""
        token = request_token(self.api, self.namespace, self.service_account)
        kubeconfig = chart.token_kubeconfig(self.env, token, self.work / f"{self.release}.kubeconfig")
        proc = KtoProcess(self.env, self.work / f"{self.release}-kto.log")
        argv, container_env = chart.container_process(chart.kto_container(self.objects), proc.health_port,
                                                      proc.metrics_port, self.namespace)
        proc.argv = argv
        proc.extra_env = {**container_env, "KUBECONFIG": str(kubeconfig)}
        self.procs.append(proc)
        return proc.start(wait=wait)

    # --- the rules -------------------------------------------------------------------------------------

    def roles(self) -> list[tuple[str, str | None]]:
        """(kind, namespace) of every role the chart made; the ClusterRole(s) first."""
        rbac = client.RbacAuthorizationV1Api(self.api)
        found: list[tuple[str, str | None]] = []
        for cr in rbac.list_cluster_role(label_selector=f"app.kubernetes.io/instance={self.release}").items:
            found.append(("ClusterRole", cr.metadata.name))
        for ns in self.namespaces if self.scope == NAMESPACES else []:
            found.append(("Role", ns))
        return found

    def remove(self, group: str, resource: str, verb: str, scope: str) -> None:
        """Take one verb on one resource away from the chart's role that grants it (``scope``: "cluster" for the
        ClusterRole(s), else a namespace's Roles: a served namespace's, or the release namespace's for leases);
        everything else stays as the chart made it."""
        rbac = client.RbacAuthorizationV1Api(self.api)
        if scope == CLUSTER:
            candidates = [rbac.read_cluster_role(n) for kind, n in self.roles() if kind == "ClusterRole"]
        else:
            candidates = rbac.list_namespaced_role(
                scope, label_selector=f"app.kubernetes.io/instance={self.release}").items
        changed = 0
        for role in candidates:
            rules = []
            for rule in role.rules:
                if group in rule.api_groups and resource in rule.resources and verb in rule.verbs:
                    changed += 1
                    rest = [r for r in rule.resources if r != resource]
                    if rest:
                        rules.append(client.V1PolicyRule(api_groups=rule.api_groups, resources=rest,
                                                         resource_names=rule.resource_names, verbs=rule.verbs))
                    verbs = [v for v in rule.verbs if v != verb]
                    if verbs:
                        rules.append(client.V1PolicyRule(api_groups=rule.api_groups, resources=[resource],
                                                         resource_names=rule.resource_names, verbs=verbs))
                else:
                    rules.append(rule)
            role.rules = rules
            if scope == CLUSTER:
                rbac.replace_cluster_role(role.metadata.name, role)
            else:
                rbac.replace_namespaced_role(role.metadata.name, scope, role)
        assert changed == 1, f"the chart grants {verb} on {group}/{resource} in {changed} rules, expected 1"
        where = None if scope == CLUSTER or resource in ("namespaces", "customresourcedefinitions") else scope
        wait_until(lambda: not self.allowed(group, resource, verb, where), timeout=30,
                   what=f"the apiserver to deny {verb} {resource} to {self.user}")

    def allowed(self, group: str, resource: str, verb: str, namespace: str | None) -> bool:
        """The apiserver's own answer (SubjectAccessReview) for the ServiceAccount (for leases: on kto's Lease,
        the only one the chart lets it read and update)."""
        name = self.lease if resource == "leases" and verb != "create" else None
        resource, _, sub = resource.partition("/")
        attrs = client.V1ResourceAttributes(group=group, resource=resource, subresource=sub or None, verb=verb,
                                            namespace=namespace, name=name)
        review = client.V1SubjectAccessReview(spec=client.V1SubjectAccessReviewSpec(
            user=self.user, groups=["system:serviceaccounts", f"system:serviceaccounts:{self.namespace}",
                                    "system:authenticated"], resource_attributes=attrs))
        return client.AuthorizationV1Api(self.api).create_subject_access_review(review).status.allowed


@pytest.fixture
def install(env: LocalEnv, sole_operator, tmp_path: Path, request):
    """``install(scope)``: the chart installed into the apiserver with fresh namespaces; uninstalled afterwards."""
    api = admin_client(env)
    core = client.CoreV1Api(api)
    made: list[Install] = []

    def _install(scope: str) -> Install:
        release = unique("kto")
        namespaces = [unique("a"), unique("b")]
        for ns in namespaces:
            core.create_namespace({"metadata": {"name": ns}})
        values = {} if scope == CLUSTER else {"rbac": {"scope": NAMESPACES, "namespaces": namespaces}}
        out = chart.helm("install", release, str(chart.CHART), "--namespace", release, "--create-namespace",
                         values=values, kubeconfig=env.kubeconfig, home=tmp_path / "helm")
        assert "STATUS: deployed" in out and "kubectl apply --server-side -f <chart>/crds/" in out  # NOTES.txt
        objects = chart.render(release, release, values)
        inst = Install(env, api, release, release, scope, namespaces, objects, tmp_path)
        made.append(inst)
        return inst

    yield _install
    for inst in made:
        for proc in inst.procs:
            proc.stop()
        for ns in inst.namespaces:
            clean_namespace(api, ns)
        chart.helm("uninstall", inst.release, "--namespace", inst.release, kubeconfig=env.kubeconfig,
                   home=tmp_path / "helm")


def clean_namespace(api: client.ApiClient, ns: str) -> None:
    """Remove kto's objects without a kto: finalizers dropped by the admin, then deleted."""
    objects = client.CustomObjectsApi(api)
    for plural in ("kafkatopics", "kafkausers", "kafkaclusters"):
        for item in objects.list_namespaced_custom_object(GROUP, "v1alpha1", ns, plural)["items"]:
            name = item["metadata"]["name"]
            try:
                if item["metadata"].get("finalizers"):
                    objects.patch_namespaced_custom_object(GROUP, "v1alpha1", ns, plural, name,
                                                           {"metadata": {"finalizers": None}},
                                                           _content_type="application/merge-patch+json")
                objects.delete_namespaced_custom_object(GROUP, "v1alpha1", ns, plural, name)
            except ApiException as err:
                if err.status != 404:
                    raise


def dead_leaders_lease(inst: Install) -> None:
    """The Lease as a kto that died a minute ago left it: expired, held by someone else, so taking it over is an
    update."""
    then = datetime.now(UTC) - timedelta(minutes=1)
    client.CoordinationV1Api(inst.api).create_namespaced_lease(inst.namespace, {
        "metadata": {"name": inst.lease},
        "spec": {"holderIdentity": "kto-gone_0", "leaseDurationSeconds": 15, "leaseTransitions": 0,
                 "acquireTime": then.replace(microsecond=1), "renewTime": then.replace(microsecond=1)}})


def log_text(proc: KtoProcess) -> str:
    """kto's log (JSON lines, as the chart configures it) as plain text: messages, their fields (key=value) and
    their tracebacks."""
    out = []
    for line in proc.log_text().splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            out.append(line)
            continue
        fields = [f"{k}={rec[k]}" for k in logs.FIELDS if k in rec]
        out.append(" ".join([str(rec.get("message", "")), *fields, str(rec.get("exc_info", ""))]))
    return "\n".join(out)


def read_binding(api: client.AdmissionregistrationV1Api, policy: str):
    """The ValidatingAdmissionPolicyBinding kto keeps for ``policy``, or None."""
    try:
        return api.read_validating_admission_policy_binding(f"kto-policy-{policy}")
    except ApiException as err:
        if err.status == 404:
            return None
        raise


def forbidden(verb: str, resource: str, group: str, namespace: str | None) -> re.Pattern:
    """The apiserver's refusal as it appears in kto's log (kopf's request errors, kto's tracebacks)."""
    q = r'\\*"'
    where = "at the cluster scope" if namespace is None else f"in the namespace {q}{re.escape(namespace)}{q}"
    return re.compile(f"cannot {verb} resource {q}{re.escape(resource)}{q} in API group {q}{re.escape(group)}{q} "
                      f"{where}")


# --- the whole lifecycle, with the chart's rules -------------------------------------------------------------


@pytest.mark.parametrize("scope", [CLUSTER, NAMESPACES])
def test_lifecycle_as_the_chart_service_account(env: LocalEnv, install, scope: str) -> None:
    inst = install(scope)
    home, other = (Resources(inst.api, ns) for ns in inst.namespaces)
    kto = inst.start_kto()
    assert f"namespaces={','.join(inst.namespaces) if scope == NAMESPACES else '*'}" in log_text(kto)

    cluster = connect_cluster(home, other, env.kafka)
    topic_lifecycle(home, other, cluster, KafkaView(env.kafka.client_config()))
    user_lifecycle(home, cluster, env.kafka)

    # Never once refused: the chart grants everything kto asked for.
    text = log_text(kto)
    assert not re.search(r"forbidden|\b403\b", text, re.I), text[-3000:]
    kto.stop()


# --- each rule, taken away ------------------------------------------------------------------------------------


KAFKA, APIEXT, COORDINATION = "kafka.kto.dev", "apiextensions.k8s.io", "coordination.k8s.io"
ADMISSION = "admissionregistration.k8s.io"
CLUSTER_SCOPED = {"customresourcedefinitions", "namespaces", "kafkapolicies", "kafkapolicies/status",
                  "validatingadmissionpolicybindings"}
IN_RELEASE_NAMESPACE = {"leases", "configmaps"}  # a Role of its own in the release namespace, in both modes
# Every verb the chart grants, and what is left undone without it when kto has logged the refusal (checked on
# the served namespace's objects; "log-only": kto works, kopf says what it cannot notice).
SYMPTOMS = {
    (KAFKA, "kafkatopics", "list"): "topic-untouched",
    (KAFKA, "kafkatopics", "watch"): "topic-untouched",
    (KAFKA, "kafkaclusters", "list"): "cluster-status-unwritten",
    (KAFKA, "kafkaclusters", "watch"): "cluster-status-unwritten",
    (KAFKA, "kafkatopics", "patch"): "topic-not-ready",
    (KAFKA, "kafkatopics/status", "patch"): "topic-status-unwritten",
    (KAFKA, "kafkaclusters/status", "patch"): "cluster-status-unwritten",
    (KAFKA, "kafkausers", "list"): "user-untouched",
    (KAFKA, "kafkausers", "watch"): "user-untouched",
    (KAFKA, "kafkausers", "patch"): "user-not-ready",
    (KAFKA, "kafkausers/status", "patch"): "user-status-unwritten",
    ("", "secrets", "get"): "cluster-not-connected",
    ("", "secrets", "create"): "secret-not-created",
    ("", "secrets", "update"): "secret-not-rotated",
    ("", "events", "create"): "no-event",
    (APIEXT, "customresourcedefinitions", "get"): "log-only",  # deletions wait (not tried here)
    (APIEXT, "customresourcedefinitions", "list"): "log-only",
    (APIEXT, "customresourcedefinitions", "watch"): "log-only",
    ("", "namespaces", "list"): "topic-untouched",  # namespaces mode only: kopf serves nothing until it gives up
    ("", "namespaces", "watch"): "log-only",  # namespaces mode only
    # kto's ledger: without it nothing is created (the intent is recorded before the finalizer and the create).
    ("", "configmaps", "get"): "topic-not-ready",
    ("", "configmaps", "create"): "topic-not-ready",  # the ledger's ConfigMap is created empty when first read
    ("", "configmaps", "update"): "topic-not-ready",
    # KafkaPolicies (cluster-scoped) and the admission binding kto keeps for each.
    (KAFKA, "kafkapolicies", "get"): "binding-not-created",  # the apiserver's condition for writing a binding
    (KAFKA, "kafkapolicies", "list"): "policy-unserved",
    (KAFKA, "kafkapolicies", "watch"): "policy-unserved",
    (KAFKA, "kafkapolicies/status", "patch"): "policy-status-unwritten",
    (ADMISSION, "validatingadmissionpolicybindings", "get"): "binding-not-created",
    (ADMISSION, "validatingadmissionpolicybindings", "create"): "binding-not-created",
    (ADMISSION, "validatingadmissionpolicybindings", "update"): "binding-not-updated",
    # Leader election: without these kto never leads, so it never starts (stands by, healthy, doing nothing).
    (COORDINATION, "leases", "get"): "not-leading",
    (COORDINATION, "leases", "create"): "not-leading",  # no Lease yet
    (COORDINATION, "leases", "update"): "not-leading",  # a Lease left by a kto that died: it cannot be taken over
}


@dataclass(frozen=True)
class Case:
    """One verb on one resource taken away from the chart's rules in one RBAC mode."""

    scope: str
    group: str
    resource: str
    verb: str

    @property
    def symptom(self) -> str:
        return SYMPTOMS[self.group, self.resource, self.verb]

    @property
    def cluster_scoped(self) -> bool:
        return self.resource in CLUSTER_SCOPED

    def where(self, inst: Install) -> str | None:
        """The namespace of the refused requests (None: cluster-wide)."""
        if self.resource in IN_RELEASE_NAMESPACE:
            return inst.namespace
        # Cluster-wide requests: anything on a cluster-scoped resource, and cluster mode's lists and watches.
        if self.cluster_scoped or (self.scope == CLUSTER and self.verb in ("list", "watch")):
            return None
        return inst.namespaces[0]

    def rule_scope(self, inst: Install) -> str:
        """Where the rule to take away is: "cluster" (the ClusterRoles) or the namespace of the Role."""
        if self.resource in IN_RELEASE_NAMESPACE:
            return inst.namespace
        return CLUSTER if self.scope == CLUSTER or self.cluster_scoped else inst.namespaces[0]

    @property
    def id(self) -> str:
        return f"{self.scope}-{self.verb}-{self.resource.replace('/', '-')}"


# Cluster mode: every rule. Namespaces mode: its cluster-scoped rules (in a ClusterRole of their own) and a few of
# the per-namespace Role's, which renders the same rules as the ClusterRole of cluster mode, and one of the lease
# Role's (the same Role as in cluster mode).
NAMESPACED_SAMPLE = {(KAFKA, "kafkatopics", "list"), (KAFKA, "kafkaclusters", "watch"),
                     (KAFKA, "kafkatopics/status", "patch"), ("", "secrets", "get"), ("", "events", "create"),
                     (COORDINATION, "leases", "get")}
CASES = [Case(CLUSTER, *rule) for rule in SYMPTOMS if rule[1] != "namespaces"] + \
        [Case(NAMESPACES, *rule) for rule in SYMPTOMS if rule[1] in CLUSTER_SCOPED or rule in NAMESPACED_SAMPLE]


def granted(objects: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    """(group, resource, verb) of every rule in the rendered (Cluster)Roles."""
    return {(group, resource, verb) for role in chart.find(objects, "ClusterRole") + chart.find(objects, "Role")
            for rule in role["rules"] for group in rule["apiGroups"] for resource in rule["resources"]
            for verb in rule["verbs"]}


def test_every_rule_the_chart_grants_is_proven_needed() -> None:
    """The cases below cover exactly what the chart grants: a new rule needs a case showing what breaks without it."""
    cases = {scope: {(c.group, c.resource, c.verb) for c in CASES if c.scope == scope}
             for scope in (CLUSTER, NAMESPACES)}
    in_cluster_mode = granted(chart.render())
    assert in_cluster_mode == cases[CLUSTER]
    objects = chart.render(values={"rbac": {"scope": NAMESPACES, "namespaces": ["a", "b"]}})
    namespaced = {(g, r, v) for g, r, v in in_cluster_mode if r not in CLUSTER_SCOPED | IN_RELEASE_NAMESPACE}
    for ns in ("a", "b"):
        assert granted(chart.find(objects, "Role", ns)) == namespaced
    assert granted(chart.find(objects, "ClusterRole")) == {rule for rule in SYMPTOMS if rule[1] in CLUSTER_SCOPED}
    in_release_namespace = {rule for rule in SYMPTOMS if rule[1] in IN_RELEASE_NAMESPACE}
    for objs in (chart.render(), objects):
        assert granted(chart.find(objs, "Role", "kto")) == in_release_namespace  # the release namespace
    assert cases[NAMESPACES] <= granted(objects)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_without_one_rule_kto_fails_and_says_why(env: LocalEnv, install, case: Case) -> None:
    inst = install(case.scope)
    home = Resources(inst.api, inst.namespaces[0])
    rule_scope = case.rule_scope(inst)
    assert inst.allowed(case.group, case.resource, case.verb, None if rule_scope == CLUSTER else rule_scope)
    inst.remove(case.group, case.resource, case.verb, rule_scope)
    if case.resource == "leases" and case.verb == "update":
        dead_leaders_lease(inst)
    kto = inst.start_kto(wait=False)  # some refusals (e.g. listing at startup) keep it from ever being healthy
    topic, user, old_pw, policy = unique("t"), unique("app"), unique("pw"), unique("pol")
    policies, bindings = client.CustomObjectsApi(inst.api), client.AdmissionregistrationV1Api(inst.api)
    # kto's log names what it was refused ...
    if case.resource == "kafkapolicies" and case.verb == "get":
        pattern = re.compile(r'does not have \\*"get\\*" permission on the object referenced by paramRef')
    elif case.resource == "events":
        pattern = re.compile(rf"Posting an Event failed .*resource={home.ns}/{topic} reason=InvalidConfig .*status=403")
    else:
        pattern = forbidden(case.verb, case.resource, case.group, case.where(inst))

    def refusals() -> int:
        return len(pattern.findall(log_text(kto)))

    def objects() -> None:
        """A cluster, a topic and a user, as in the lifecycle."""
        home.secret("kafka-admin", {"username": inst.env.kafka.username, "password": inst.env.kafka.password})
        home.cluster(kafka_cluster("kafka", inst.env.kafka, resyncIntervalSeconds=10))
        # A config Kafka refuses when an Event is what the case is about: a Warning Event is then due.
        config = {"cleanup.policy": "sometimes"} if case.symptom == "no-event" else {"retention.ms": DAY}
        home.topic(kafka_topic(topic, "kafka", partitions=1, config=config))
        home.secret(f"{user}-pw", {"password": old_pw})
        home.create("kafkausers", kafka_user(user, "kafka", acls=[],
                                             passwordSecretRef={"name": f"{user}-pw", "key": "password"}))
        policies.create_cluster_custom_object(KAFKA, "v1alpha1", "kafkapolicies", {
            "apiVersion": f"{KAFKA}/v1alpha1", "kind": "KafkaPolicy", "metadata": {"name": policy},
            "spec": {"namespaces": [home.ns], "partitions": {"max": 9000}}})

    what = f"kto's log to show {pattern.pattern!r} (log: {kto.log})"
    if case.verb == "watch":
        # The initial listing is allowed: what a refused watch misses is everything that happens after it.
        wait_until(refusals, timeout=60, what=what)
        objects()
        seen = refusals()
        wait_until(lambda: refusals() >= seen + 2, timeout=30, what=f"two more refusals: {what}")
    elif case.symptom == "binding-not-updated":
        # Creating the binding is allowed; changing it when its policy changes is not.
        objects()
        wait_until(lambda: read_binding(bindings, policy), timeout=60, what=f"the binding of {policy}")
        policies.patch_cluster_custom_object(KAFKA, "v1alpha1", "kafkapolicies", policy,
                                             {"spec": {"namespaces": [home.ns, "another"]}})
        wait_until(refusals, timeout=60, what=what)
    elif case.symptom == "secret-not-rotated":
        # Creating the application Secret is allowed; replacing it when the password rotates is not.
        objects()
        home.wait_condition("kafkausers", user, "True", "Reconciled")
        assert app_password(home, user) == old_pw
        home.secret(f"{user}-pw", {"password": unique("rotated")})
        wait_until(refusals, timeout=60, what=what)
    else:
        if case.resource == "namespaces":
            # kto lists clusters and topics once at startup (its own listing, allowed here): let that happen
            # before the objects exist, so only kopf's refused namespace listing decides what kto sees.
            wait_until(lambda: "Started kto" in log_text(kto), timeout=60, what=f"kto's startup (log: {kto.log})")
        objects()
        wait_until(refusals, timeout=60, what=what)

    # ... and what needed the rule did not happen.
    cluster_obj, topic_obj = home.get("kafkaclusters", "kafka"), home.get("kafkatopics", topic)
    user_obj = home.get("kafkausers", user)
    policy_obj = policies.get_cluster_custom_object(KAFKA, "v1alpha1", "kafkapolicies", policy)
    if case.symptom == "topic-untouched":
        assert not topic_obj.get("status") and not topic_obj["metadata"].get("finalizers"), topic_obj
    elif case.symptom == "topic-not-ready":
        assert (ready(topic_obj) or {}).get("status") != "True", topic_obj
        assert not topic_obj["metadata"].get("finalizers"), topic_obj
    elif case.symptom == "topic-status-unwritten":
        assert not topic_obj.get("status"), topic_obj
    elif case.symptom == "user-untouched":
        assert not user_obj.get("status") and not user_obj["metadata"].get("finalizers"), user_obj
        assert app_password(home, user) is None
    elif case.symptom == "user-not-ready":
        assert (ready(user_obj) or {}).get("status") != "True", user_obj
        assert not user_obj["metadata"].get("finalizers"), user_obj
    elif case.symptom == "user-status-unwritten":
        assert not user_obj.get("status"), user_obj
    elif case.symptom == "secret-not-created":
        assert app_password(home, user) is None
        assert (ready(user_obj) or {}).get("status") != "True", user_obj
    elif case.symptom == "secret-not-rotated":
        assert app_password(home, user) == old_pw
    elif case.symptom == "cluster-status-unwritten":
        assert not cluster_obj.get("status"), cluster_obj
    elif case.symptom == "cluster-not-connected":
        assert (ready(cluster_obj) or {}).get("reason") != "Connected", cluster_obj
        assert (ready(topic_obj) or {}).get("status") != "True", topic_obj
    elif case.symptom == "no-event":
        home.wait_condition("kafkatopics", topic, "False", "InvalidConfig")
        assert not home.events(topic), "an Event was posted without the right to create Events"
    elif case.symptom == "not-leading":
        # kto stands by: healthy, not leading, nothing started, nothing written.
        code, body = kto.health()
        assert (code, body["leader"], body["started"]) == (200, False, False), body
        assert not topic_obj.get("status") and not topic_obj["metadata"].get("finalizers"), topic_obj
        assert not cluster_obj.get("status"), cluster_obj
        assert app_password(home, user) is None
    elif case.symptom == "policy-unserved":
        assert not policy_obj.get("status") and read_binding(bindings, policy) is None, policy_obj
    elif case.symptom == "policy-status-unwritten":
        assert not policy_obj.get("status"), policy_obj
    elif case.symptom == "binding-not-created":
        assert read_binding(bindings, policy) is None
    elif case.symptom == "binding-not-updated":
        selector = read_binding(bindings, policy).spec.match_resources.namespace_selector
        assert selector.match_expressions[0].values == [home.ns], selector
    else:
        assert case.symptom == "log-only"
    kto.stop()
    for delete, args in ((policies.delete_cluster_custom_object, (KAFKA, "v1alpha1", "kafkapolicies", policy)),
                         (bindings.delete_validating_admission_policy_binding, (f"kto-policy-{policy}",))):
        try:
            delete(*args)
        except ApiException as err:
            if err.status != 404:
                raise
