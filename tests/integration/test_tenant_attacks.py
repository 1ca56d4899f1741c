"""Issue 23's attacks, each performed AS THE TENANT on the real apiserver and an authorizer-enabled Kafka.

The tenant is a ServiceAccount bound in its namespace to the chart's tenant roles (``tests/support/tenant.py``):
KafkaTopics, KafkaUsers and Secrets of its own namespace, no status, no KafkaCluster. Every attack goes through
a client that impersonates it; every check is the test's own: Kafka through an admin client (ACL bindings, SCRAM
credentials, quotas, topic configs and ids), and what the tenant can do in Kafka with the password kto put in
its KafkaUser's Secret (read, produce, change configs).

One KafkaCluster for the module, set up as README's multi-tenant section shows: topics allowed for team-a,
protected topics and principals, users allowed for team-a, team-u and team-n with their own prefixes granted.
Names carry the module's token, so nothing collides with other modules on the same Kafka. A kto of this module's
own runs (``sole_operator`` stops the session's meanwhile) with lag collection on (``--lag-interval 2``), so the
observe-only attack can read ``/metrics``.

The CRD-deletion test (last) runs on an apiserver and a kto of its own: deleting a CRD deletes every object of
that kind cluster-wide, which the shared apiserver's other modules must never see.
"""

from __future__ import annotations

import subprocess
import time
import uuid
from dataclasses import dataclass

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    NewTopic,
    ResourcePatternType,
    ResourceType,
    UserScramCredentialDeletion,
)
from kubernetes import client
from kubernetes.client.rest import ApiException

from tests.integration.test_quotas_broker_config import _send, default_user_quotas, user_quotas
from tests.integration.test_safety import acls, metric, resynced, scram, secret_data, set_scram, topic_state
from tests.support.env import LocalEnv, localenv
from tests.support.kafka import KafkaView, produce
from tests.support.kube import admin_client
from tests.support.operator import KtoProcess, install_crds
from tests.support.resources import Resources, kafka_cluster, kafka_topic, ready, unique
from tests.support.tenant import (
    Tenant,
    install_tenant_roles,
    kafka_access,
    make_tenant,
    remove_cluster_roles,
)
from tests.support.users import as_user, authenticates, kafka_user, produce_one, topic_acl
from tests.support.wait import wait_until

pytestmark = pytest.mark.integration

TOPIC_FINALIZER, USER_FINALIZER = "kto.dev/topic-protection", "kto.dev/user-protection"
WEEK = 604_800_000
RESYNC = 10  # the KafkaCluster's resyncIntervalSeconds (the schema's minimum)
# Reasons a resource passes through on its way to an outcome.
TRANSIENT = {"Adopting", "ClusterNotReady", "ReplicasChanging", "TopicBeingDeleted"}
CLUSTER = "authz"


# --- the module's world --------------------------------------------------------------------------------------


@dataclass
class World:
    env: LocalEnv
    kafka: object  # KafkaEndpoints of the authorizer-enabled Kafka
    view: KafkaView  # PLAINTEXT: ANONYMOUS, a super user there
    kto: KtoProcess
    token: str
    platform: Resources  # the KafkaCluster's namespace, as its admin
    team_a: Tenant  # topics and users allowed, prefixes team-a. / team-a-
    team_u: Tenant  # users only
    team_n: Tenant  # users only; the narrowing test takes it away
    team_z: Tenant  # nothing allowed

    def name(self, base: str) -> str:
        return f"{base}-{self.token}"

    def checks(self, tenant: Tenant) -> Resources:
        """The tenant's namespace as the admin reads it (for the checks, never for the attacks)."""
        return Resources(self.platform.api, tenant.namespace)

    @property
    def label(self) -> str:
        return f"{self.platform.ns}/{CLUSTER}"

    def users_spec(self, namespaces: list[str]) -> dict:
        return {"allowedNamespaces": namespaces, "grants": [
            {"namespace": ns, "topicPrefixes": [f"{ns}."], "groupPrefixes": [f"{ns}-"]} for ns in namespaces]}

    def cluster_spec(self) -> dict:
        return {
            "allowedNamespaces": [self.team_a.namespace],
            "protectedTopics": [self.name("payments"), self.name("audit") + ".*"],
            "protectedPrincipals": ["admin", "svc-*"],
            "users": self.users_spec([self.team_a.namespace, self.team_u.namespace, self.team_n.namespace]),
        }

    def resynced(self, kind: str = "topic") -> None:
        resynced(self.kto, (self.platform, CLUSTER), kind=kind)


@pytest.fixture(scope="module")
def attack_kto(env: LocalEnv, sole_operator, tmp_path_factory: pytest.TempPathFactory):
    proc = KtoProcess(env, tmp_path_factory.mktemp("kto-attacks") / "kto.log",
                      args=["--sweep-interval", "5", "--lag-interval", "2", "--leader-election-namespace",
                            "default", "--leader-election-name", unique("kto-attacks")]).start()
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def world(env: LocalEnv, kafka_authz, attack_kto):
    api = admin_client(env)
    core = client.CoreV1Api(api)
    token = uuid.uuid4().hex[:6]
    namespaces = {key: f"{key}-{token}" for key in ("platform", "team-a", "team-u", "team-n", "team-z")}
    for ns in namespaces.values():
        core.create_namespace({"metadata": {"name": ns}})
    roles = install_tenant_roles(api, f"attacks-{token}")
    tenants = {key: make_tenant(env, ns, roles) for key, ns in namespaces.items() if key != "platform"}
    w = World(env, kafka_authz, KafkaView(kafka_authz.client_config()), attack_kto, token,
              Resources(api, namespaces["platform"]), tenants["team-a"], tenants["team-u"], tenants["team-n"],
              tenants["team-z"])
    w.platform.secret("authz-admin", {"username": kafka_authz.username, "password": kafka_authz.password})
    w.platform.cluster(kafka_cluster(CLUSTER, kafka_authz, secret="authz-admin", resyncIntervalSeconds=RESYNC,
                                     **w.cluster_spec()))
    w.platform.wait_condition("kafkaclusters", CLUSTER, "True", "Connected", timeout=90)
    yield w
    tear_down(w, roles)


def tear_down(w: World, roles: list[str]) -> None:
    """Everything the module made, without relying on kto: finalizers dropped (forged ones too), objects deleted,
    then what is left in Kafka under the module's token (and an ANONYMOUS credential, should one exist)."""
    from tests.integration.test_chart_rbac import clean_namespace

    for ns in (w.team_a.namespace, w.team_u.namespace, w.team_n.namespace, w.team_z.namespace, w.platform.ns):
        clean_namespace(w.platform.api, ns)
    admin = w.view.admin
    topics = [t for t in admin.list_topics(timeout=10).topics if w.token in t]
    if topics:
        for future in admin.delete_topics(topics).values():
            future.result(30)
    users = [u for u in admin.describe_user_scram_credentials(request_timeout=10).result(15)
             if w.token in u or u == "ANONYMOUS"]
    deletions = [UserScramCredentialDeletion(u, info.mechanism) for u in users
                 for info in scram_infos(w.view, u)]
    if deletions:
        for future in admin.alter_user_scram_credentials(deletions).values():
            future.result(30)
    everything = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, None, None, AclOperation.ANY,
                                  AclPermissionType.ANY)
    mine = [AclBindingFilter(b.restype, b.name, b.resource_pattern_type, b.principal, b.host, b.operation,
                             b.permission_type)
            for b in admin.describe_acls(everything, request_timeout=10).result(15) if w.token in b.principal]
    if mine:
        for future in admin.delete_acls(mine).values():
            future.result(30)
    remove_cluster_roles(w.platform.api, roles)


def scram_infos(view: KafkaView, user: str) -> list:
    return list(view.admin.describe_user_scram_credentials([user], request_timeout=10)[user].result(15)
                .scram_credential_infos)


# --- helpers -------------------------------------------------------------------------------------------------


def ref(body: dict, namespace: str) -> dict:
    """The body with its clusterRef naming the KafkaCluster's namespace (a tenant's resource)."""
    body["spec"]["clusterRef"]["namespace"] = namespace
    return body


def forged(body: dict, finalizer: str) -> dict:
    """The body with kto's finalizer set by its author at creation (what the tenant roles allow)."""
    body["metadata"]["finalizers"] = [finalizer]
    return body


def outcome(res: Resources, plural: str, name: str, timeout: float = 45) -> dict:
    """The object once kto wrote its status for the current generation with a reason that is an outcome (not a
    step on the way, like Adopting)."""
    def probe():
        obj = res.get(plural, name)
        cond = ready(obj)
        if cond is None or cond["reason"] in TRANSIENT:
            return None
        return obj if obj["status"].get("observedGeneration") == obj["metadata"]["generation"] else None

    return wait_until(probe, timeout=timeout, what=f"{plural}/{name} to have an outcome for its generation "
                      f"(now: {ready(res.get(plural, name))})")


def reason_of(obj: dict) -> str:
    return ready(obj)["reason"]


def gone_within(res: Resources, plural: str, name: str, timeout: float) -> bool:
    try:
        res.wait_gone(plural, name, timeout)
    except AssertionError:
        return False
    return True


def password(tenant: Tenant, user_resource: str) -> str | None:
    """The password kto put in the KafkaUser's application Secret, read as the tenant (None: there is none)."""
    data = tenant.secret(f"{user_resource}-kafka")
    return None if data is None else data.get("password")


def series_of(kto: KtoProcess, topic: str) -> list[str]:
    """Every /metrics line that names ``topic``."""
    return [line for line in kto.metrics().splitlines() if f'topic="{topic}"' in line]


def super_user_powers(conf: dict[str, str]) -> list[str]:
    """What only a super user (or an ACL admin) may do, tried with these credentials: list every ACL, create a
    topic (validate only)."""
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({**conf, "log_level": 0})
    done = []
    everything = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, None, None, AclOperation.ANY,
                                  AclPermissionType.ANY)
    try:
        admin.describe_acls(everything, request_timeout=10).result(15)
        done.append("listed every ACL binding")
    except Exception:  # noqa: BLE001 - refused: nothing gained
        pass
    name = f"superuser-probe-{uuid.uuid4().hex[:6]}"
    try:
        admin.create_topics([NewTopic(name, 1, 1)], validate_only=True, request_timeout=10)[name].result(15)
        done.append("may create topics")
    except Exception:  # noqa: BLE001
        pass
    return done


def set_default_user_quota(kafka, key: str, value: float | None) -> None:
    """AlterClientQuotas on the default user entity (kafka-configs --entity-type users --entity-default), as a
    platform team sets it by hand; ``None`` removes the key."""
    from kafka.protocol.admin import AlterClientQuotasRequest as Alter

    response = _send(kafka.plaintext, Alter(entries=[Alter.EntryData(
        entity=[Alter.EntryData.EntityData(entity_type="user", entity_name=None)],
        ops=[Alter.EntryData.OpData(key=key, value=value or 0.0, remove=value is None)])], validate_only=False))
    assert all(e.error_code == 0 for e in response.entries), response


def add_binding(view: KafkaView, user: str, restype: ResourceType, name: str, operation: AclOperation) -> None:
    binding = AclBinding(restype, name, ResourcePatternType.LITERAL, f"User:{user}", "*", operation,
                         AclPermissionType.ALLOW)
    view.admin.create_acls([binding])[binding].result(30)


# --- the tenant is only a tenant -----------------------------------------------------------------------------


def test_the_tenant_acts_only_with_the_chart_tenant_roles(world: World) -> None:
    """The identity the attacks use: the ServiceAccount (with its groups), allowed kto's kinds and Secrets in its
    namespace, refused (403) status, KafkaClusters and every other namespace."""
    a = world.team_a
    user, groups = a.whoami()
    assert user == f"system:serviceaccount:{a.namespace}:tenant"
    assert {"system:serviceaccounts", f"system:serviceaccounts:{a.namespace}", "system:authenticated"} <= groups
    assert a.can_i("create", "kafkatopics", a.namespace) and a.can_i("create", "kafkausers", a.namespace)
    assert a.can_i("create", "secrets", a.namespace, group="") and a.can_i("get", "secrets", a.namespace, group="")
    for verb, resource, sub, ns in (("patch", "kafkatopics", "status", a.namespace),
                                    ("update", "kafkausers", "status", a.namespace),
                                    ("create", "kafkaclusters", None, a.namespace),
                                    ("create", "kafkatopics", None, world.platform.ns),
                                    ("create", "kafkausers", None, world.team_u.namespace)):
        assert not a.can_i(verb, resource, ns, subresource=sub), (verb, resource, sub, ns)

    # And the apiserver refuses the requests themselves. (clusterRef to no KafkaCluster: kto touches nothing.)
    a.res.topic(kafka_topic("probe", "nowhere", partitions=1))
    objects = client.CustomObjectsApi(a.api)
    attempts = {
        "status": lambda: objects.patch_namespaced_custom_object_status(
            "kafka.kto.dev", "v1alpha1", a.namespace, "kafkatopics", "probe",
            {"status": {"conditions": [], "adopted": True}}, _content_type="application/merge-patch+json"),
        "KafkaCluster": lambda: a.res.cluster(kafka_cluster("mine", world.kafka, secret="authz-admin")),
        "another namespace": lambda: Resources(a.api, world.platform.ns).topic(
            kafka_topic("probe", CLUSTER, partitions=1)),
        "another namespace's Secret": lambda: client.CoreV1Api(a.api).read_namespaced_secret(
            "authz-admin", world.platform.ns),
    }
    refused = {}
    for what, attempt in attempts.items():
        try:
            attempt()
            refused[what] = "allowed"
        except ApiException as err:
            refused[what] = err.status
    assert refused == dict.fromkeys(attempts, 403)
    a.res.delete("kafkatopics", "probe")


# --- 1. protectedTopics bypass ---------------------------------------------------------------------------------


def test_a_protected_topic_refused_to_a_tenant_gives_it_no_acls(world: World) -> None:
    """KafkaTopic team-a/payments is Protected; it must not make team-a the topic's owner for ACLs: KafkaUser eve
    with All on payments is NotPermitted, Kafka gets no binding and no credential, eve's password (if any) reads,
    writes and reconfigures nothing."""
    payments, eve = world.name("payments"), world.name("eve")
    world.view.create(payments, 1, config={"retention.ms": str(WEEK)})
    produce(world.kafka.client_config(), payments, 1)  # the card data
    wait_until(lambda: world.view.overrides(payments) == {"retention.ms": str(WEEK)}, timeout=30, what="configs")
    before = topic_state(world.view, payments)
    assert (acls(world.view, eve), scram(world.view, eve)) == (set(), None)
    a, checks = world.team_a, world.checks(world.team_a)

    a.res.topic(ref(kafka_topic("payments", CLUSTER, topicName=payments, partitions=1), world.platform.ns))
    checks.wait_condition("kafkatopics", "payments", "False", "Protected")
    a.res.create("kafkausers", ref(kafka_user("eve", CLUSTER, userName=eve, acls=[topic_acl(payments, "All")]),
                                   world.platform.ns))
    obj = outcome(checks, "kafkausers", "eve")
    world.resynced("user")
    observed = {
        "eve": reason_of(obj),
        "bindings": acls(world.view, eve),
        "credential": scram(world.view, eve),
        "eve's password can": kafka_access(world.kafka, eve, password(a, "eve"), payments),
        "topic": topic_state(world.view, payments),
    }
    assert observed == {"eve": "NotPermitted", "bindings": set(), "credential": None, "eve's password can": [],
                        "topic": before}


# --- 2. forged finalizers --------------------------------------------------------------------------------------


def test_a_forged_finalizer_neither_skips_adoption_nor_deletes_on_kubectl_delete(world: World) -> None:
    """An allowed tenant's KafkaTopic for an existing topic with another retention.ms, kto's finalizer set at
    creation: AdoptionRequired, the topic's config and id unchanged, and deleting the resource keeps the topic."""
    name = world.name("ledger")
    world.view.create(name, 1, config={"retention.ms": str(WEEK)})
    wait_until(lambda: world.view.overrides(name) == {"retention.ms": str(WEEK)}, timeout=30, what="configs")
    before = topic_state(world.view, name)
    a, checks = world.team_a, world.checks(world.team_a)

    a.res.topic(forged(ref(kafka_topic("ledger", CLUSTER, topicName=name, partitions=1,
                                       config={"retention.ms": 1000}), world.platform.ns), TOPIC_FINALIZER))
    reason = reason_of(outcome(checks, "kafkatopics", "ledger"))
    world.resynced()
    after = topic_state(world.view, name)
    a.res.delete("kafkatopics", "ledger")  # kubectl delete, as the tenant
    released = gone_within(checks, "kafkatopics", "ledger", 15)  # kto acts on a deletion at once
    after_delete = topic_state(world.view, name) if world.view.exists(name) else "deleted"
    assert {"reason": reason, "after": after, "after delete": after_delete} == {
        "reason": "AdoptionRequired", "after": before, "after delete": before}, f"resource released: {released}"


def test_a_forged_finalizer_from_a_namespace_without_rights_blocks_nothing(world: World) -> None:
    """team-z may use nothing; its KafkaTopic orders-v2 with kto's finalizer forged, older than the platform's
    own, must not keep the platform's KafkaTopic of the same name from being Ready and the topic created."""
    name = world.name("orders-v2")
    z = world.team_z
    z.res.topic(forged(ref(kafka_topic("orders-v2", CLUSTER, topicName=name, partitions=1), world.platform.ns),
                       TOPIC_FINALIZER))
    squatter = outcome(world.checks(z), "kafkatopics", "orders-v2")
    assert reason_of(squatter) == "NamespaceNotAllowed"
    time.sleep(1.2)  # creationTimestamp has a resolution of one second: the squatter is strictly older
    world.platform.topic(kafka_topic("orders-v2", CLUSTER, topicName=name, partitions=1))
    obj = outcome(world.platform, "kafkatopics", "orders-v2")
    assert (reason_of(obj), world.view.exists(name)) == ("Reconciled", True), ready(obj)["message"]


def test_a_forged_finalizer_in_a_users_only_namespace_grants_no_topic_acls(world: World) -> None:
    """team-u may have users but no topics: its refused KafkaTopic naming someone's topic, kto's finalizer forged,
    does not let its KafkaUser read that topic."""
    data, grabber = world.name("team-x-data"), world.name("grabber")
    world.view.create(data, 1)
    produce(world.kafka.client_config(), data, 1)
    u, checks = world.team_u, world.checks(world.team_u)
    u.res.topic(forged(ref(kafka_topic("grab", CLUSTER, topicName=data, partitions=1), world.platform.ns),
                       TOPIC_FINALIZER))
    assert reason_of(outcome(checks, "kafkatopics", "grab")) == "NamespaceNotAllowed"
    u.res.create("kafkausers", ref(kafka_user("grabber", CLUSTER, userName=grabber, acls=[
        topic_acl(data, "Read"), topic_acl(data, "Describe")]), world.platform.ns))
    obj = outcome(checks, "kafkausers", "grabber")
    world.resynced("user")
    observed = {"grabber": reason_of(obj), "bindings": acls(world.view, grabber),
                "grabber's password can": kafka_access(world.kafka, grabber, password(u, "grabber"), data)}
    assert observed == {"grabber": "NotPermitted", "bindings": set(), "grabber's password can": []}


# --- 3. another principal's ACLs -----------------------------------------------------------------------------


def test_a_tenant_naming_another_principal_takes_nothing_from_it(world: World) -> None:
    """The platform's billing-app (a KafkaUser of the KafkaCluster's namespace, 3 bindings); a tenant's KafkaUser
    with userName billing-app, the same rules and kto's finalizer forged: refused, and over two resyncs
    billing-app never lacks a binding, its credential and password stay, and it still produces."""
    billing, topic = world.name("billing-app"), world.name("billing")
    world.view.create(topic, 1)
    rules = [topic_acl(topic, "Write"), topic_acl(topic, "Describe"),
             {"resource": {"type": "group", "name": billing}, "operations": ["Read"]}]
    world.platform.create("kafkausers", kafka_user("billing-app", CLUSTER, userName=billing, acls=rules))
    world.platform.wait_condition("kafkausers", "billing-app", "True", "Reconciled", timeout=60)
    bindings = acls(world.view, billing)
    assert len(bindings) == 3
    credential = scram(world.view, billing)
    billing_pw = secret_data(world.platform, "billing-app-kafka")["password"]
    billing_conf = as_user(world.kafka, billing, billing_pw)
    assert produce_one(billing_conf, topic) is None

    a, checks = world.team_a, world.checks(world.team_a)
    a.res.create("kafkausers", forged(ref(kafka_user("x", CLUSTER, userName=billing, acls=rules),
                                          world.platform.ns), USER_FINALIZER))
    tenant = reason_of(outcome(checks, "kafkausers", "x"))
    # Sample billing-app's bindings through two resyncs of the cluster (and a batch of users after the last).
    def probes() -> float:
        return metric(world.kto, "kto_kafka_admin_requests_total", kafka_cluster=world.label,
                      operation="describe_cluster")

    start, samples, deadline = probes(), [], time.monotonic() + 4 * RESYNC
    while probes() < start + 2 and time.monotonic() < deadline:
        samples.append(acls(world.view, billing))
        time.sleep(0.25)
    world.resynced("user")
    samples.append(acls(world.view, billing))
    observed = {
        "tenant's KafkaUser refused": tenant != "Reconciled",
        "samples missing a binding": sum(1 for s in samples if s != bindings),
        "bindings": acls(world.view, billing),
        "credential": scram(world.view, billing),
        "billing-app's password works": authenticates(billing_conf),
        "billing-app produces": produce_one(billing_conf, topic),
        "billing-app": reason_of(world.platform.get("kafkausers", "billing-app")),
        "tenant got a password": password(a, "x") is not None,
    }
    assert observed == {
        "tenant's KafkaUser refused": True, "samples missing a binding": 0, "bindings": bindings,
        "credential": credential, "billing-app's password works": True, "billing-app produces": None,
        "billing-app": "Reconciled", "tenant got a password": False}, f"tenant's KafkaUser: {tenant}, " \
        f"{len(samples)} samples"


# --- 4. super users --------------------------------------------------------------------------------------------


def test_anonymous_is_protected(world: World) -> None:
    """userName ANONYMOUS (a super user on the test's brokers, and on many clusters): Protected, no SCRAM
    credential, no Secret, nothing a super user may do."""
    assert scram(world.view, "ANONYMOUS") is None
    a, checks = world.team_a, world.checks(world.team_a)
    a.res.create("kafkausers", ref(kafka_user("anon", CLUSTER, userName="ANONYMOUS", acls=[]), world.platform.ns))
    obj = outcome(checks, "kafkausers", "anon")
    world.resynced("user")
    pw = password(a, "anon")
    observed = {
        "anon": reason_of(obj),
        "credential": scram(world.view, "ANONYMOUS"),
        "tenant got a password": pw is not None,
        "as ANONYMOUS the tenant can": super_user_powers(as_user(world.kafka, "ANONYMOUS", pw)) if pw else [],
    }
    assert observed == {"anon": "Protected", "credential": None, "tenant got a password": False,
                        "as ANONYMOUS the tenant can": []}


def test_a_brokers_super_user_is_never_given_to_a_tenant(world: World) -> None:
    """A KafkaCluster whose kto user is not a super user (it has every right through ACLs instead), and a
    tenant's KafkaUser naming the brokers' super user (admin here). Stock brokers do not tell super.users
    (DescribeConfigs hides it), so kto cannot call it Protected by name unless the platform lists it in
    protectedPrincipals; it refuses it all the same, as a user with credentials a tenant may not take over
    (AdoptionRequired), and nothing of admin changes."""
    ops, ops_pw = world.name("kto-ops"), unique("pw")
    set_scram(world.view, ops, ops_pw, "SCRAM_SHA_512", 8192)
    for restype, name in ((ResourceType.BROKER, "kafka-cluster"), (ResourceType.TOPIC, "*"),
                          (ResourceType.GROUP, "*"), (ResourceType.TRANSACTIONAL_ID, "*")):
        add_binding(world.view, ops, restype, name, AclOperation.ALL)
    a, checks = world.team_a, world.checks(world.team_a)
    try:
        world.platform.secret("ops-admin", {"username": ops, "password": ops_pw})
        world.platform.cluster(kafka_cluster("ops", world.kafka, secret="ops-admin", resyncIntervalSeconds=RESYNC,
                                             users=world.users_spec([a.namespace])))
        world.platform.wait_condition("kafkaclusters", "ops", "True", "Connected", timeout=90)
        admin = world.kafka.username
        before = (scram(world.view, admin), acls(world.view, admin))
        a.res.create("kafkausers", ref(kafka_user("root", "ops", userName=admin, acls=[]), world.platform.ns))
        obj = outcome(checks, "kafkausers", "root")
        resynced(world.kto, (world.platform, "ops"), kind="user")
        observed = {"root": reason_of(obj), "admin": (scram(world.view, admin), acls(world.view, admin)),
                    "admin's password works": authenticates(as_user(world.kafka, admin, world.kafka.password)),
                    "tenant got a password": password(a, "root") is not None}
        assert observed["root"] in ("Protected", "AdoptionRequired"), ready(obj)["message"]
        assert {k: v for k, v in observed.items() if k != "root"} == {
            "admin": before, "admin's password works": True, "tenant got a password": False}, ready(obj)["message"]
    finally:
        a.res.delete("kafkausers", "root")
        checks.wait_gone("kafkausers", "root", 30)
        world.platform.delete("kafkaclusters", "ops")


# --- 5. narrowing ----------------------------------------------------------------------------------------------


def test_narrowing_users_allowed_namespaces_revokes_what_kto_gave(world: World) -> None:
    """team-n's KafkaUsers app and gone are Reconciled and their passwords read and write team-n's topic. The
    platform removes team-n from users.allowedNamespaces and team-n deletes gone at once: app's credential and
    the bindings kto applied are revoked (an Event says so), gone's too; neither password does anything."""
    n, checks = world.team_n, world.checks(world.team_n)
    topic = f"{n.namespace}.orders"
    world.view.create(topic, 1)
    produce(world.kafka.client_config(), topic, 1)
    users = {r: world.name(r) for r in ("app", "gone")}
    for resource, user in users.items():
        n.res.create("kafkausers", ref(kafka_user(resource, CLUSTER, userName=user, acls=[
            topic_acl(topic, "Read"), topic_acl(topic, "Write"), topic_acl(topic, "Describe")]), world.platform.ns))
    for resource in users:
        checks.wait_condition("kafkausers", resource, "True", "Reconciled", timeout=60)
    passwords = {r: password(n, r) for r in users}
    for resource, user in users.items():  # the check's own check: the credentials do read and write before
        can = kafka_access(world.kafka, user, passwords[resource], topic)
        assert can[0].startswith("read ") and can[1] == f"produced to {topic}", can
        assert len(acls(world.view, user)) == 3

    kept = [world.team_a.namespace, world.team_u.namespace]
    world.platform.patch("kafkaclusters", CLUSTER, {"spec": {"users": world.users_spec(kept)}})
    try:
        n.res.delete("kafkausers", "gone")
        gone = gone_within(checks, "kafkausers", "gone", 30)
        world.resynced("user")
        events = [(e.type, e.reason, e.message) for e in checks.events("app")]
        observed = {
            "gone deleted": gone,
            **{f"{r} credential": scram(world.view, u) for r, u in users.items()},
            **{f"{r} bindings": acls(world.view, u) for r, u in users.items()},
            **{f"{r}'s password can": kafka_access(world.kafka, u, passwords[r], topic) for r, u in users.items()},
            "an Event on app says it was revoked": any("revok" in f"{r} {m}".lower() for _t, r, m in events),
        }
        assert observed == {
            "gone deleted": True, "app credential": None, "gone credential": None, "app bindings": set(),
            "gone bindings": set(), "app's password can": [], "gone's password can": [],
            "an Event on app says it was revoked": True}, f"app's Events: {events}"
    finally:
        world.platform.patch("kafkaclusters", CLUSTER, {"spec": {"users": world.users_spec(
            [*kept, n.namespace])}})


# --- 6. observe-only claims ------------------------------------------------------------------------------------


def test_an_observe_only_claim_owns_and_reveals_nothing(world: World) -> None:
    """team-a's kto.dev/managed=false KafkaTopic for another team's topic (claiming 50 partitions, Kafka has 1):
    no size, end-offset or lag series for it in /metrics (a managed topic's are there), no ACL for it to team-a's
    KafkaUser, and the platform's later KafkaTopic for it is not blocked."""
    theirs, control, group = world.name("team-b-events"), world.name("control"), world.name("team-b-readers")
    world.view.create(theirs, 1)
    conf = world.kafka.client_config()
    produce(conf, theirs, 3)
    consumer = Consumer({**conf, "group.id": group, "enable.auto.commit": "false"})
    try:  # team-b's group read one message of three: it lags by two
        wait_until(lambda: consumer.commit(offsets=[TopicPartition(theirs, 0, 1)], asynchronous=False),
                   timeout=60, what="team-b's group to commit")
    finally:
        consumer.close()
    world.platform.topic(kafka_topic("control", CLUSTER, topicName=control, partitions=1))
    world.platform.topic_ready("control")
    wait_until(lambda: series_of(world.kto, control), timeout=30, what=f"{control}'s size in /metrics (lag on)")

    a, checks = world.team_a, world.checks(world.team_a)
    a.res.topic(ref(kafka_topic("peek", CLUSTER, annotations={"kto.dev/managed": "false"}, topicName=theirs,
                                partitions=50), world.platform.ns))
    peek = reason_of(outcome(checks, "kafkatopics", "peek"))
    collections = metric(world.kto, "kto_lag_collection_duration_seconds_count", kafka_cluster=world.label)
    wait_until(lambda: metric(world.kto, "kto_lag_collection_duration_seconds_count", kafka_cluster=world.label)
               >= collections + 2, timeout=30, what="two lag collections")
    leaked = series_of(world.kto, theirs)

    peeker = world.name("peeker")
    a.res.create("kafkausers", ref(kafka_user("peeker", CLUSTER, userName=peeker, acls=[
        topic_acl(theirs, "Read")]), world.platform.ns))
    peeker_reason = reason_of(outcome(checks, "kafkausers", "peeker"))
    time.sleep(1.2)  # the platform's claim is strictly the newer one
    world.platform.topic(kafka_topic("team-b-events", CLUSTER, topicName=theirs, partitions=1))
    platform = outcome(world.platform, "kafkatopics", "team-b-events")
    observed = {"series": leaked, "peeker": peeker_reason, "peeker's bindings": acls(world.view, peeker),
                "platform's KafkaTopic": reason_of(platform)}
    assert observed == {"series": [], "peeker": "NotPermitted", "peeker's bindings": set(),
                        "platform's KafkaTopic": "Reconciled"}, f"team-a's observe-only KafkaTopic: {peek}"


# --- 7. smaller ------------------------------------------------------------------------------------------------


def test_colliding_topic_names_are_refused_naming_the_other(world: World) -> None:
    """'.' and '_' collide in Kafka: team-a's topicName billing_v2 is refused naming the existing billing.v2;
    its ledger_v2 is refused naming the platform's claimed ledger.v2 (not in Kafka yet: it asks more replicas
    than there are brokers), and Kafka gets neither."""
    a, checks = world.team_a, world.checks(world.team_a)
    existing, claimed = world.name("billing.v2"), world.name("ledger.v2")
    world.view.create(existing, 1)
    world.platform.topic(kafka_topic("ledger-v2", CLUSTER, topicName=claimed, partitions=1,
                                     replicationFactor=world.kafka.nodes + 1))
    assert reason_of(outcome(world.platform, "kafkatopics", "ledger-v2")) == "InsufficientBrokers"
    squats = {"billing-v2": existing, "ledger-v2": claimed}
    # The other, by its Kafka name or (the claim) by its KafkaTopic.
    others = {"billing-v2": (existing,), "ledger-v2": (claimed, f"{world.platform.ns}/ledger-v2")}
    for resource, other in squats.items():
        a.res.topic(ref(kafka_topic(resource, CLUSTER, topicName=other.replace(".", "_"), partitions=1),
                        world.platform.ns))
    results = {r: ready(outcome(checks, "kafkatopics", r)) for r in squats}
    world.resynced()
    observed = {r: {"refused": results[r]["status"] == "False",
                    "names the other": any(o in results[r]["message"] for o in others[r]),
                    "in Kafka": world.view.exists(other.replace(".", "_"))} for r, other in squats.items()}
    assert observed == {r: {"refused": True, "names the other": True, "in Kafka": False} for r in squats}, \
        {r: (c["reason"], c["message"]) for r, c in results.items()}


def test_a_tenant_quota_above_kafkas_own_default_is_refused(world: World) -> None:
    """Defaults set in Kafka by hand (the KafkaCluster has no spec.defaultUserQuotas): a tenant asking a
    producer_byte_rate above them is NotPermitted and nothing of it reaches Kafka; with no default at all, a
    value of 1e300 is refused too (at admission or by kto), never set."""
    default = 100 * 1024 * 1024  # high: the module's brokers are shared
    a, checks = world.team_a, world.checks(world.team_a)
    greedy, huge = world.name("greedy"), world.name("huge")
    set_default_user_quota(world.kafka, "producer_byte_rate", default)
    try:
        wait_until(lambda: default_user_quotas(world.kafka) == {"producer_byte_rate": default}, timeout=30,
                   what="the default user quota in Kafka")
        a.res.create("kafkausers", ref(kafka_user("greedy", CLUSTER, userName=greedy, acls=[],
                                                  quotas={"producerByteRate": 10**10}), world.platform.ns))
        greedy_obj = outcome(checks, "kafkausers", "greedy")
        world.resynced("user")
        greedy_state = {"greedy": reason_of(greedy_obj), "greedy quotas": user_quotas(world.kafka, greedy),
                        "greedy credential": scram(world.view, greedy)}
    finally:
        set_default_user_quota(world.kafka, "producer_byte_rate", None)
        wait_until(lambda: default_user_quotas(world.kafka) == {}, timeout=60, what="the default quota removed")
    try:
        a.res.create("kafkausers", ref(kafka_user("huge", CLUSTER, userName=huge, acls=[],
                                                  quotas={"producerByteRate": 10**300}), world.platform.ns))
        huge_reason = reason_of(outcome(checks, "kafkausers", "huge"))
        world.resynced("user")
    except ApiException as err:
        huge_reason = f"refused at admission ({err.status})"
    observed = {**greedy_state, "huge refused": huge_reason != "Reconciled",
                "huge quotas": user_quotas(world.kafka, huge)}
    assert observed == {"greedy": "NotPermitted", "greedy quotas": {}, "greedy credential": None,
                        "huge refused": True, "huge quotas": {}}, f"huge: {huge_reason}"


# --- 8. deleting the CRDs (an apiserver of its own) ------------------------------------------------------------


@pytest.fixture
def own_apiserver(env: LocalEnv, tmp_path):
    """An etcd and kube-apiserver of this test's only, talking to the session's Kafka."""
    root = tmp_path / "kube"
    kube = localenv.start_kube(root)
    dedicated = LocalEnv(root=root, variables={**env.variables, **localenv.env_vars(kube, None)}, kafka=env.kafka,
                         owned_procs=kube.procs)
    yield dedicated
    dedicated.stop()


def test_deleting_the_crds_with_kto_running_keeps_every_topic_and_user(own_apiserver: LocalEnv, tmp_path) -> None:
    """Uninstalling: with kto running, `kubectl delete crd` of kafkatopics and kafkausers. Every Kafka topic
    (default Delete, explicit Delete and Retain) keeps its id, the user keeps its credential and password, and
    the CRDs do go (kto does not hold them up)."""
    env = own_apiserver
    install_crds(env)
    kto = KtoProcess(env, tmp_path / "kto.log", args=["--sweep-interval", "5"]).start()
    view = KafkaView(env.kafka.client_config())
    token = uuid.uuid4().hex[:6]
    topics = {"inherited": f"keep-{token}", "delete": f"delete-{token}", "retain": f"retain-{token}"}
    user = f"app-{token}"
    try:
        api = admin_client(env)
        ns = f"uninstall-{token}"
        client.CoreV1Api(api).create_namespace({"metadata": {"name": ns}})
        res = Resources(api, ns)
        res.secret("kafka-admin", {"username": env.kafka.username, "password": env.kafka.password})
        res.cluster(kafka_cluster("kafka", env.kafka, resyncIntervalSeconds=RESYNC))
        res.wait_condition("kafkaclusters", "kafka", "True", "Connected", timeout=60)
        for policy, name in topics.items():
            extra = {} if policy == "inherited" else {"deletionPolicy": policy.capitalize()}
            res.topic(kafka_topic(name, "kafka", partitions=1, **extra))
        res.create("kafkausers", kafka_user("app", "kafka", userName=user, acls=[], deletionPolicy="Delete"))
        for name in topics.values():
            res.topic_ready(name)
        res.wait_condition("kafkausers", "app", "True", "Reconciled", timeout=60)
        user_pw = secret_data(res, "app-kafka")["password"]
        before = {"topics": {n: view.topic(n) for n in topics.values()}, "credential": scram(view, user),
                  "password works": authenticates(as_user(env.kafka, user, user_pw))}
        assert before["password works"] and all(before["topics"].values())

        crds = ["kafkatopics.kafka.kto.dev", "kafkausers.kafka.kto.dev"]
        subprocess.run([*env.kubectl(), "delete", "crd", *crds, "--wait=false"], check=True, capture_output=True)

        def crds_left() -> list[str]:
            ext = client.ApiextensionsV1Api(api)
            return [c for c in crds if c in {i.metadata.name for i in ext.list_custom_resource_definition().items}]

        try:
            wait_until(lambda: not crds_left(), timeout=60, what="the CRDs to be deleted")
        except AssertionError:
            pass
        time.sleep(2)  # anything kto was to do after the last finalizer went
        after = {"topics": {n: view.topic(n) if view.exists(n) else None for n in topics.values()},
                 "credential": scram(view, user), "password works": authenticates(as_user(env.kafka, user, user_pw))}
        released = [line for line in kto.log_text().splitlines() if "Released" in line or "deleted" in line]
        assert (after, crds_left()) == (before, []), "kto's log says:\n" + "\n".join(released[-20:])
    finally:
        kto.stop()
        for name in topics.values():
            if view.exists(name):
                view.delete(name)
        if scram(view, user) is not None:
            view.admin.alter_user_scram_credentials(
                [UserScramCredentialDeletion(user, i.mechanism) for i in scram_infos(view, user)])[user].result(30)

