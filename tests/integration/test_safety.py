"""kto never destroys or hands over what it was not given (issue 12), against real brokers.

Every attack ends refused with its named reason, and Kafka is checked with the test's own admin client before and
after: topic ids and dynamic configs, SCRAM credentials (DescribeUserScramCredentials) and ACLs. "kto wrote
nothing" is also read from kto's own request counter (``kto_kafka_admin_requests_total``), per KafkaCluster: each
test's KafkaClusters live in the test's own namespaces, so the counter covers exactly the test's objects.
"""

from __future__ import annotations

import base64
import hashlib
import re
import shlex
import subprocess
import time
from datetime import datetime

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from tests.support.kafka import KafkaView
from tests.support.kube import admin_client
from tests.support.resources import Resources, kafka_cluster, kafka_topic, ready, unique
from tests.support.users import as_user, authenticates, kafka_user, topic_acl
from tests.support.wait import wait_until

DAY = 86_400_000
TOPIC_FINALIZER, USER_FINALIZER = "kto.dev/topic-protection", "kto.dev/user-protection"
# Every Kafka admin request of kto's that changes something.
WRITES = ("create_topics", "create_partitions", "incremental_alter_configs", "delete_topics",
          "alter_partition_reassignments", "alter_user_scram_credentials", "create_acls", "delete_acls")


# --- fixtures ------------------------------------------------------------------------------------------------




@pytest.fixture
def tenant(env):
    """A second namespace (a tenant); cleaned up at the end of the test like ``ns``."""
    api = admin_client(env)
    res = Resources(api, unique("tenant"))
    client.CoreV1Api(api).create_namespace({"metadata": {"name": res.ns}})
    yield res
    res.clean_up()


@pytest.fixture
def other_kafka(request, env, kafka_authz):
    """A Kafka cluster other than the environment's (another cluster id): the authorizer's single node when it is
    a separate cluster (it is started for the users' tests anyway), else the three-node one."""
    if kafka_authz.plaintext != env.kafka.plaintext:
        return kafka_authz
    kafka3 = request.getfixturevalue("kafka3")
    if kafka3.plaintext == env.kafka.plaintext:
        pytest.skip("the environment has no second Kafka cluster")
    return kafka3


# --- what Kafka has, and what kto sent -----------------------------------------------------------------------


def topic_state(view: KafkaView, name: str):
    """((partitions, replication factor, topic id), dynamic overrides)."""
    return view.topic(name), view.overrides(name)


def scram(view: KafkaView, user: str) -> dict[str, int] | None:
    """The user's SCRAM mechanisms and iterations, None when it has no credential."""
    from confluent_kafka import KafkaError, KafkaException

    try:
        desc = view.admin.describe_user_scram_credentials([user], request_timeout=10)[user].result(15)
    except KafkaException as err:
        if err.args[0].code() == KafkaError.RESOURCE_NOT_FOUND:
            return None
        raise
    return {i.mechanism.name: i.iterations for i in desc.scram_credential_infos}


def set_scram(view: KafkaView, user: str, password: str, mechanism: str = "SCRAM_SHA_256",
              iterations: int = 4096) -> None:
    from confluent_kafka.admin import ScramCredentialInfo, ScramMechanism, UserScramCredentialUpsertion

    upsert = UserScramCredentialUpsertion(user, ScramCredentialInfo(ScramMechanism[mechanism], iterations),
                                          password.encode())
    view.admin.alter_user_scram_credentials([upsert])[user].result(30)


def acls(view: KafkaView, user: str) -> set[tuple[str, ...]]:
    """The principal's ACL bindings as (type, name, pattern, host, operation, permission)."""
    from confluent_kafka.admin import (
        AclBindingFilter,
        AclOperation,
        AclPermissionType,
        ResourcePatternType,
        ResourceType,
    )

    everything = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, f"User:{user}", None,
                                  AclOperation.ANY, AclPermissionType.ANY)
    return {(b.restype.name, b.name, b.resource_pattern_type.name, b.host, b.operation.name, b.permission_type.name)
            for b in view.admin.describe_acls(everything, request_timeout=10).result(15)}


def add_acl(view: KafkaView, user: str, topic: str, operation: str) -> None:
    from confluent_kafka.admin import AclBinding, AclOperation, AclPermissionType, ResourcePatternType, ResourceType

    binding = AclBinding(ResourceType.TOPIC, topic, ResourcePatternType.LITERAL, f"User:{user}", "*",
                         AclOperation[operation], AclPermissionType.ALLOW)
    view.admin.create_acls([binding])[binding].result(30)


def metric(kto, name: str, **labels: str) -> float:
    """The sum of a kto metric's samples whose labels include ``labels``."""
    total = 0.0
    for line in kto.metrics().splitlines():
        m = re.fullmatch(rf"{name}\{{(.*)\}} (\S+)", line)
        if m and all(f'{k}="{v}"' in m.group(1) for k, v in labels.items()):
            total += float(m.group(2))
    return total


def writes(kto, ns: Resources, cluster: str) -> dict[str, float]:
    """The write requests kto sent through a KafkaCluster, by Kafka API (only those it sent)."""
    counts = {api: metric(kto, "kto_kafka_admin_requests_total", kafka_cluster=f"{ns.ns}/{cluster}", api=api)
              for api in WRITES}
    return {api: n for api, n in counts.items() if n}


def resynced(kto, *clusters: tuple[Resources, str], kind: str = "topic") -> None:
    """Return once each KafkaCluster (namespace, name) was probed again and a batch of its ``kind`` ran after that
    probe: every resource of the cluster was looked at again (what is unchanged then stayed unchanged through a
    resync)."""
    labels = [f"{res.ns}/{name}" for res, name in clusters]

    def probes(label: str) -> float:
        return metric(kto, "kto_kafka_admin_requests_total", kafka_cluster=label, operation="describe_cluster")

    def batches(label: str) -> float:
        return metric(kto, "kto_batch_duration_seconds_count", kind=kind, kafka_cluster=label)

    start = {label: probes(label) for label in labels}
    wait_until(lambda: all(probes(label) > start[label] for label in labels), timeout=60,
               what=f"a resync of KafkaCluster(s) {labels}")
    start = {label: batches(label) for label in labels}
    wait_until(lambda: all(batches(label) > start[label] for label in labels), timeout=60,
               what=f"a batch of {kind}s of KafkaCluster(s) {labels} after their resync")


def settled(res: Resources, plural: str, name: str, timeout: float = 60) -> dict:
    """The object once kto wrote a status for its current generation (whatever the outcome)."""
    def probe():
        obj = res.get(plural, name)
        status = (obj or {}).get("status") or {}
        return obj if ready(obj) and status.get("observedGeneration") == obj["metadata"]["generation"] else None

    return wait_until(probe, timeout=timeout, what=f"{plural}/{name} to have a status for its generation")


def has_finalizer(res: Resources, plural: str, name: str, finalizer: str) -> bool:
    return finalizer in ((res.get(plural, name) or {}).get("metadata", {}).get("finalizers") or [])


def secret_exists(res: Resources, name: str) -> bool:
    try:
        res.core.read_namespaced_secret(name, res.ns)
    except ApiException as err:
        if err.status == 404:
            return False
        raise
    return True


def secret_data(res: Resources, name: str) -> dict[str, str]:
    secret = res.core.read_namespaced_secret(name, res.ns)
    return {k: base64.b64decode(v).decode() for k, v in secret.data.items()}


def run_from_message(env, message: str, pattern: str, *extra: str) -> None:
    """Run the kubectl command a status message tells people to run, as they would."""
    m = re.search(pattern, message)
    assert m, f"no command matching {pattern!r} in: {message}"
    argv = shlex.split(m.group(1))
    assert argv[0] == "kubectl"
    subprocess.run([*env.kubectl(), *argv[1:], *extra], check=True, capture_output=True, text=True)


def created_at(obj: dict) -> float:
    return datetime.fromisoformat(obj["metadata"]["creationTimestamp"].replace("Z", "+00:00")).timestamp()


# --- adoption of topics --------------------------------------------------------------------------------------


def test_matching_topic_is_adopted_without_a_write_and_kept_unless_it_says_delete(ns, cluster, kafka_view,
                                                                                 kto) -> None:
    kept, gone = unique("adopt-kept"), unique("adopt-gone")
    data = {"cleanup.policy": "compact", "retention.ms": "-1"}
    for name in (kept, gone):
        kafka_view.create(name, partitions=3, config=data)
        wait_until(lambda n=name: kafka_view.overrides(n) == data, timeout=30, what=f"{name}'s configs")
    before = {name: topic_state(kafka_view, name) for name in (kept, gone)}
    spec = {"partitions": 3, "config": {"cleanup.policy": "compact", "retention.ms": -1}}
    ns.topic(kafka_topic(kept, cluster, **spec))  # deletionPolicy inherited (the cluster's default: Delete)
    ns.topic(kafka_topic(gone, cluster, deletionPolicy="Delete", **spec))
    for name in (kept, gone):
        obj = ns.topic_ready(name)
        assert obj["status"]["adopted"] is True
        assert obj["status"]["topicId"] == before[name][0][2]
        event = ns.wait_event(name, "TopicAdopted", "matches the spec")[0]
        assert event.type == "Normal"
        # The next pass puts the topic under kto's finalizer, still without writing anything.
        wait_until(lambda n=name: has_finalizer(ns, "kafkatopics", n, TOPIC_FINALIZER), timeout=30,
                   what=f"kto's finalizer on {name}")
    resynced(kto, (ns, cluster))
    assert writes(kto, ns, cluster) == {}, "kto wrote to Kafka while adopting matching topics"
    assert {name: topic_state(kafka_view, name) for name in (kept, gone)} == before
    assert ready(ns.get("kafkatopics", kept))["reason"] == "Reconciled"

    ns.delete("kafkatopics", kept)
    ns.delete("kafkatopics", gone)
    ns.wait_gone("kafkatopics", kept)
    ns.wait_gone("kafkatopics", gone)
    event = ns.wait_event(kept, "TopicRetained", "kto adopted it")[0]
    assert event.type == "Normal"
    assert topic_state(kafka_view, kept) == before[kept]
    wait_until(lambda: not kafka_view.exists(gone), timeout=30, what=f"{gone} to be deleted (deletionPolicy Delete)")
    assert writes(kto, ns, cluster) == {"delete_topics": 1}


def test_differing_topic_is_refused_with_every_difference_and_kept(ns, cluster, kafka_view, kto) -> None:
    # The attack: a compacted topic kept forever, named by a KafkaTopic without configs.
    name = unique("compacted")
    data = {"cleanup.policy": "compact", "retention.ms": "-1"}
    kafka_view.create(name, partitions=1, config=data)
    wait_until(lambda: kafka_view.overrides(name) == data, timeout=30, what="its configs")
    before = topic_state(kafka_view, name)
    ns.topic(kafka_topic(name, cluster))
    message = ready(ns.wait_condition("kafkatopics", name, "False", "AdoptionRequired"))["message"]
    assert "cleanup.policy override compact would be removed" in message
    assert "retention.ms override -1 would be removed" in message
    assert "kto.dev/adopt=overwrite" in message and "write the spec to match Kafka" in message
    assert ns.wait_event(name, "AdoptionRequired", "retention.ms override -1 would be removed")[0].type == "Warning"
    resynced(kto, (ns, cluster))
    assert writes(kto, ns, cluster) == {}, "kto wrote to Kafka for a topic it was not allowed to adopt"
    assert topic_state(kafka_view, name) == before
    assert not has_finalizer(ns, "kafkatopics", name, TOPIC_FINALIZER)
    # Deleting a refused resource never touches the topic.
    ns.delete("kafkatopics", name)
    ns.wait_gone("kafkatopics", name)
    assert topic_state(kafka_view, name) == before
    assert writes(kto, ns, cluster) == {}


def test_overwrite_opt_in_takes_the_topic_over_and_it_stays_adopted(ns, cluster, kafka_view, kto) -> None:
    name = unique("takeover")
    data = {"cleanup.policy": "compact", "retention.ms": "-1"}
    kafka_view.create(name, partitions=2, config=data)
    wait_until(lambda: kafka_view.overrides(name) == data, timeout=30, what="its configs")
    before = topic_state(kafka_view, name)
    ns.topic(kafka_topic(name, cluster, partitions=4, config={"cleanup.policy": "compact"}))
    message = ready(ns.wait_condition("kafkatopics", name, "False", "AdoptionRequired"))["message"]
    assert "partitions 2 would grow to 4" in message and "retention.ms override -1 would be removed" in message
    assert "cleanup.policy" not in message
    assert topic_state(kafka_view, name) == before

    ns.patch("kafkatopics", name, {"metadata": {"annotations": {"kto.dev/adopt": "overwrite"}}})
    obj = ns.topic_ready(name)
    assert TOPIC_FINALIZER in obj["metadata"]["finalizers"]
    wait_until(lambda: kafka_view.overrides(name) == {"cleanup.policy": "compact"}, timeout=30,
               what="retention.ms removed as the taken-over spec says")
    assert kafka_view.topic(name) == (4, 1, before[0][2])  # the same topic, not a new one
    assert obj["status"].get("adopted") is True, (
        "the taken-over topic is not recorded as adopted (no Adopting pass, no TopicTakenOver Event): deleting the "
        f"resource with an inherited Delete would delete it; status {obj['status']}, Events "
        f"{[(e.reason, e.message) for e in ns.events(name)]}")
    ns.wait_event(name, "TopicTakenOver", "retention.ms override -1 would be removed")
    # Taken over, still adopted: deleting it with an inherited Delete keeps it.
    ns.delete("kafkatopics", name)
    ns.wait_gone("kafkatopics", name)
    ns.wait_event(name, "TopicRetained", "kto adopted it")
    assert kafka_view.topic(name) == (4, 1, before[0][2])


# --- protected names -----------------------------------------------------------------------------------------


def test_protected_topics_are_refused_and_never_deleted(ns, cluster, kafka_view, kto) -> None:
    prefix = unique("audit") + "."
    existing, missing, mine = prefix + "events", prefix + "new", unique("ledger")
    ns.topic(kafka_topic(mine, cluster, partitions=1))  # kto creates it: holds the finalizer, deletionPolicy Delete
    ns.topic_ready(mine)
    kafka_view.create(existing, partitions=1, config={"retention.ms": "1000"})
    wait_until(lambda: kafka_view.overrides(existing) == {"retention.ms": "1000"}, timeout=30, what="its configs")
    before = {name: topic_state(kafka_view, name) for name in (existing, mine)}
    sent = writes(kto, ns, cluster)
    assert sent == {"create_topics": 1}

    ns.patch("kafkaclusters", cluster, {"spec": {"protectedTopics": [prefix + "*", mine]}})
    message = ready(ns.wait_condition("kafkatopics", mine, "False", "Protected"))["message"]
    assert "spec.protectedTopics" in message
    ns.topic(kafka_topic("existing", cluster, topicName=existing, partitions=2, config={"retention.ms": 2000}))
    ns.topic(kafka_topic("missing", cluster, topicName=missing, partitions=1))
    ns.wait_condition("kafkatopics", "existing", "False", "Protected")
    ns.wait_condition("kafkatopics", "missing", "False", "Protected")
    # Kafka's internal topics are refused before kto ever sees them.
    with pytest.raises(ApiException) as err:
        ns.topic(kafka_topic("offsets", cluster, topicName="__consumer_offsets", partitions=1))
    assert err.value.status == 422 and "cannot start with '__'" in err.value.body

    resynced(kto, (ns, cluster))
    # Deleting a protected resource deletes nothing, even one kto created before the name was protected.
    for name in ("existing", "missing", mine):
        ns.delete("kafkatopics", name)
    for name in ("existing", "missing", mine):
        ns.wait_gone("kafkatopics", name)
    event = ns.wait_event(mine, "Protected", "was not deleted")[0]
    assert event.type == "Warning"
    assert {name: topic_state(kafka_view, name) for name in (existing, mine)} == before
    assert not kafka_view.exists(missing)
    assert writes(kto, ns, cluster) == sent


# --- one owner per Kafka cluster id, and it does not move ----------------------------------------------------


def test_two_kafkaclusters_on_the_same_brokers_share_one_owner(env, ns, cluster, tenant, kafka_view, kto) -> None:
    name = unique("orders")
    ns.topic(kafka_topic("orders", cluster, topicName=name, partitions=2, config={"retention.ms": DAY}))
    ns.topic_ready("orders")
    before = topic_state(kafka_view, name)
    # Another team's KafkaCluster, in its namespace, reaching the same brokers.
    tenant.secret("kafka-admin", {"username": env.kafka.username, "password": env.kafka.password})
    tenant.cluster(kafka_cluster("kafka", env.kafka, resyncIntervalSeconds=10))
    obj = tenant.wait_condition("kafkaclusters", "kafka", "True", "Connected")
    assert obj["status"]["clusterId"] == ns.get("kafkaclusters", cluster)["status"]["clusterId"]
    tenant.topic(kafka_topic("orders", "kafka", topicName=name, partitions=2, config={"retention.ms": 2 * DAY},
                             deletionPolicy="Delete"))
    message = ready(tenant.wait_condition("kafkatopics", "orders", "False", "ResourceConflict"))["message"]
    assert f"already managed by KafkaTopic {ns.ns}/orders (through KafkaCluster {ns.ns}/{cluster}, which reaches " \
           "the same Kafka cluster)" in message

    # Nothing alternates: a resync of each cluster later, Kafka holds the owner's spec and the owner is Ready.
    resynced(kto, (tenant, "kafka"), (ns, cluster))
    assert writes(kto, tenant, "kafka") == {}
    assert topic_state(kafka_view, name) == before
    assert ready(ns.get("kafkatopics", "orders"))["reason"] == "Reconciled"
    assert not ns.events("orders", "DriftCorrected")

    tenant.delete("kafkatopics", "orders")
    tenant.wait_gone("kafkatopics", "orders")
    assert topic_state(kafka_view, name) == before
    assert writes(kto, tenant, "kafka") == {}


def test_allowing_a_namespace_later_does_not_move_ownership(ns, cluster, tenant, kafka_view, kto) -> None:
    name = unique("payments")
    older = kafka_topic("payments", cluster, topicName=name, partitions=2, config={"retention.ms": 2 * DAY},
                        deletionPolicy="Delete")
    older["spec"]["clusterRef"]["namespace"] = ns.ns
    tenant.topic(older)
    first = tenant.wait_condition("kafkatopics", "payments", "False", "NamespaceNotAllowed")
    # creationTimestamp has a resolution of one second: make the tenant's resource strictly the older one.
    wait_until(lambda: time.time() >= created_at(first) + 1.2, timeout=5, what="the next second")
    ns.topic(kafka_topic("payments", cluster, topicName=name, partitions=1, config={"retention.ms": DAY}))
    owner = ns.topic_ready("payments")
    assert created_at(first) < created_at(owner)
    assert TOPIC_FINALIZER in owner["metadata"]["finalizers"]
    before = topic_state(kafka_view, name)
    sent = writes(kto, ns, cluster)

    ns.patch("kafkaclusters", cluster, {"spec": {"allowedNamespaces": [tenant.ns]}})
    message = ready(tenant.wait_condition("kafkatopics", "payments", "False", "ResourceConflict"))["message"]
    assert f"already managed by KafkaTopic {ns.ns}/payments" in message
    resynced(kto, (ns, cluster))
    assert topic_state(kafka_view, name) == before
    assert ready(ns.get("kafkatopics", "payments"))["reason"] == "Reconciled"
    tenant.delete("kafkatopics", "payments")
    tenant.wait_gone("kafkatopics", "payments")
    assert topic_state(kafka_view, name) == before
    assert writes(kto, ns, cluster) == sent


# --- Secrets -------------------------------------------------------------------------------------------------


def test_secrets_must_be_marked_and_their_keys_are_never_listed(env, ns, kto, kafka_view) -> None:
    hidden = unique("db-password")
    creds = {"username": env.kafka.username, "password": env.kafka.password}
    ns.secret("unmarked-admin", {**creds, hidden: "not for kto"}, marked=False)
    ns.cluster(kafka_cluster("unmarked", env.kafka, secret="unmarked-admin"))
    login, word = unique("login"), unique("pw")
    ns.secret("odd-keys", {login: env.kafka.username, word: env.kafka.password})
    ns.cluster(kafka_cluster("nokey", env.kafka, secret="odd-keys"))
    ns.secret("plain-admin", creds)
    plain = kafka_cluster("plain", env.kafka, secret="plain-admin")
    plain["spec"]["security"]["sasl"]["mechanism"] = "PLAIN"
    ns.cluster(plain)

    message = ready(ns.wait_condition("kafkaclusters", "unmarked", "False", "SecretNotMarked"))["message"]
    assert "kubectl label secret unmarked-admin kto.dev/credentials=true" in message
    assert hidden not in message
    message = ready(ns.wait_condition("kafkaclusters", "nokey", "False", "SecretNotFound"))["message"]
    assert "no key 'username'" in message
    assert login not in message and word not in message
    message = ready(ns.wait_condition("kafkaclusters", "plain", "False", "InsecureConnection"))["message"]
    assert "allowCleartextPassword" in message
    for name in ("unmarked", "nokey", "plain"):
        assert "clusterId" not in ns.get("kafkaclusters", name)["status"]  # never reached the brokers
        assert all(hidden not in (e.message or "") and login not in (e.message or "") for e in ns.events(name))
    assert env.kafka.password not in kto.log_text()

    # The ways on that the messages give.
    run_from_message(env, ready(ns.get("kafkaclusters", "unmarked"))["message"],
                     r"run (kubectl label secret \S+ kto\.dev/credentials=true)", "-n", ns.ns)
    ns.wait_condition("kafkaclusters", "unmarked", "True", "Connected", timeout=90)
    ns.patch("kafkaclusters", "plain", {"spec": {"security": {"sasl": {"allowCleartextPassword": True}}}})
    ns.wait_condition("kafkaclusters", "plain", "True", "Connected", timeout=90)

    # A KafkaUser's password Secret must be marked too: kto never copies an unmarked Secret into the brokers and
    # the application's Secret.
    user, value = unique("app"), unique("not-a-password")
    ns.secret("app-pw", {"password": value}, marked=False)
    ns.create("kafkausers", kafka_user("app", "unmarked", acls=[], userName=user,
                                       passwordSecretRef={"name": "app-pw", "key": "password"}))
    message = ready(ns.wait_condition("kafkausers", "app", "False", "SecretNotMarked"))["message"]
    assert "kubectl label secret app-pw kto.dev/credentials=true" in message and value not in message
    assert scram(kafka_view, user) is None
    assert not secret_exists(ns, "app-kafka")
    assert writes(kto, ns, "unmarked") == {}


# --- KafkaUsers: protected principals, tenants, adoption -----------------------------------------------------


def test_ktos_own_user_and_protected_principals_are_never_managed(ns, authz, kafka_authz, authz_view, kto) -> None:
    prefix = unique("svc") + "-"
    guarded, legacy, legacy_pw = prefix + "app", prefix + "legacy", unique("legacy-pw")
    admin = kafka_authz.username
    set_scram(authz_view, legacy, legacy_pw)
    add_acl(authz_view, legacy, unique("legacy-topic"), "READ")
    # A user kto manages (it holds kto's finalizer) before its name becomes protected.
    ns.create("kafkausers", kafka_user("guarded", authz, acls=[], userName=guarded))
    ns.wait_condition("kafkausers", "guarded", "True", "Reconciled", timeout=90)
    guarded_pw = secret_data(ns, "guarded-kafka")["password"]
    before = {u: (scram(authz_view, u), acls(authz_view, u)) for u in (admin, legacy, guarded)}
    assert before[admin][0] and before[legacy][0] == {"SCRAM_SHA_256": 4096} and len(before[legacy][1]) == 1
    sent = writes(kto, ns, authz)

    ns.patch("kafkaclusters", authz, {"spec": {"protectedPrincipals": [prefix + "*"]}})
    message = ready(ns.wait_condition("kafkausers", "guarded", "False", "Protected"))["message"]
    assert "spec.protectedPrincipals" in message
    # The attack: a KafkaUser naming kto's own user (or a protected one) to set its password and ACLs.
    ns.create("kafkausers", kafka_user("own", authz, acls=[topic_acl("*", "All")], userName=admin))
    ns.create("kafkausers", kafka_user("legacy", authz, acls=[topic_acl("*", "All")], userName=legacy))
    message = ready(ns.wait_condition("kafkausers", "own", "False", "Protected"))["message"]
    assert "the user kto itself connects as" in message
    ns.wait_condition("kafkausers", "legacy", "False", "Protected")
    resynced(kto, (ns, authz), kind="user")
    assert {u: (scram(authz_view, u), acls(authz_view, u)) for u in (admin, legacy, guarded)} == before
    assert not secret_exists(ns, "own-kafka") and not secret_exists(ns, "legacy-kafka")
    assert authenticates(as_user(kafka_authz, admin, kafka_authz.password))
    assert authenticates(as_user(kafka_authz, legacy, legacy_pw, "SCRAM-SHA-256"))

    # Deleting them deletes nothing, the one kto used to manage included.
    for name in ("own", "legacy", "guarded"):
        ns.delete("kafkausers", name)
    for name in ("own", "legacy", "guarded"):
        ns.wait_gone("kafkausers", name)
    event = ns.wait_event("guarded", "Protected", "was not deleted")[0]
    assert event.type == "Warning"
    assert {u: (scram(authz_view, u), acls(authz_view, u)) for u in (admin, legacy, guarded)} == before
    assert authenticates(as_user(kafka_authz, guarded, guarded_pw))
    assert writes(kto, ns, authz) == sent
    assert ready(ns.get("kafkaclusters", authz))["reason"] == "Connected"


def test_tenant_users_get_only_what_the_kafkacluster_grants(ns, authz, tenant, authz_view, kto) -> None:
    owned, granted, theirs = unique("a-owned"), unique("b") + ".", unique("b-own")
    ns.topic(kafka_topic(owned, authz, partitions=1))  # owned by the KafkaCluster's own namespace
    ns.topic_ready(owned)
    user = unique("tenant-user")
    body = kafka_user("reader", authz, userName=user, acls=[
        topic_acl(granted + "orders", "Write"),
        {"resource": {"type": "cluster"}, "operations": ["Alter"]},
        topic_acl(owned, "Read"),
        topic_acl("*", "Read"),
        {"resource": {"type": "group", "name": "analytics"}, "operations": ["Read"]},
    ])
    body["spec"]["clusterRef"]["namespace"] = ns.ns
    tenant.create("kafkausers", body)
    message = ready(tenant.wait_condition("kafkausers", "reader", "False", "NamespaceNotAllowed"))["message"]
    assert "spec.users.allowedNamespaces" in message
    sent = writes(kto, ns, authz)

    ns.patch("kafkaclusters", authz, {"spec": {"users": {"allowedNamespaces": [tenant.ns], "grants": [
        {"namespace": tenant.ns, "topicPrefixes": [granted]},
        {"namespace": "*", "clusterOperations": ["IdempotentWrite"]}]}}})
    message = ready(tenant.wait_condition("kafkausers", "reader", "False", "NotPermitted"))["message"]
    assert "acls[1] (cluster kafka-cluster): cluster operations Alter are not granted" in message
    assert f"acls[2] (topic {owned}): no KafkaTopic of the namespace owns it" in message
    assert "acls[3] (topic *): wildcards are not granted" in message
    assert "acls[4] (group analytics): no prefix in users.grants[].groupPrefixes" in message
    assert "acls[0]" not in message
    resynced(kto, (ns, authz), kind="user")
    # Nothing of it: no credential, no ACL, no Secret.
    assert scram(authz_view, user) is None
    assert acls(authz_view, user) == set()
    assert not secret_exists(tenant, "reader-kafka")
    assert writes(kto, ns, authz) == sent

    # What the namespace owns or was granted is fine: its own KafkaTopic, the prefix, the granted operation, and
    # wildcards once allowed.
    ns.patch("kafkaclusters", authz, {"spec": {"allowedNamespaces": [tenant.ns], "users": {"grants": [
        {"namespace": tenant.ns, "topicPrefixes": [granted], "allowWildcards": True},
        {"namespace": "*", "clusterOperations": ["IdempotentWrite"]}]}}})
    mine = kafka_topic("mine", authz, topicName=theirs, partitions=1)
    mine["spec"]["clusterRef"]["namespace"] = ns.ns
    tenant.topic(mine)
    tenant.topic_ready("mine")
    tenant.patch("kafkausers", "reader", {"spec": {"authorization": {"acls": [
        topic_acl(granted + "orders", "Write"),
        {"resource": {"type": "cluster"}, "operations": ["IdempotentWrite"]},
        topic_acl(theirs, "Read"),
        topic_acl("*", "Describe"),
    ]}}})
    obj = tenant.wait_condition("kafkausers", "reader", "True", "Reconciled", timeout=90)
    assert obj["status"]["acls"] == 4
    assert acls(authz_view, user) == {
        ("TOPIC", granted + "orders", "LITERAL", "*", "WRITE", "ALLOW"),
        ("BROKER", "kafka-cluster", "LITERAL", "*", "IDEMPOTENT_WRITE", "ALLOW"),
        ("TOPIC", theirs, "LITERAL", "*", "READ", "ALLOW"),
        ("TOPIC", "*", "LITERAL", "*", "DESCRIBE", "ALLOW"),
    }
    assert secret_exists(tenant, "reader-kafka")

    # The platform team withdraws wildcards: the binding granted under them is revoked, nothing else.
    credential = scram(authz_view, user)
    ns.patch("kafkaclusters", authz, {"spec": {"users": {"grants": [
        {"namespace": tenant.ns, "topicPrefixes": [granted]},
        {"namespace": "*", "clusterOperations": ["IdempotentWrite"]}]}}})
    message = ready(tenant.wait_condition("kafkausers", "reader", "False", "NotPermitted"))["message"]
    assert "acls[3] (topic *): wildcards are not granted" in message and "are revoked" in message
    event = tenant.wait_event("reader", "AclsRevoked", "1 ACL binding(s) revoked")[0]
    assert event.type == "Warning"
    assert acls(authz_view, user) == {
        ("TOPIC", granted + "orders", "LITERAL", "*", "WRITE", "ALLOW"),
        ("BROKER", "kafka-cluster", "LITERAL", "*", "IDEMPOTENT_WRITE", "ALLOW"),
        ("TOPIC", theirs, "LITERAL", "*", "READ", "ALLOW"),
    }
    assert scram(authz_view, user) == credential and secret_exists(tenant, "reader-kafka")

    tenant.delete("kafkausers", "reader")
    tenant.wait_gone("kafkausers", "reader")
    assert scram(authz_view, user) is None and acls(authz_view, user) == set()


def test_existing_principal_is_taken_over_only_when_asked(ns, authz, kafka_authz, authz_view, kto) -> None:
    user, old_pw = unique("legacy"), unique("legacy-pw")
    old_topic, new_topic = unique("old"), unique("new")
    set_scram(authz_view, user, old_pw, "SCRAM_SHA_256")
    add_acl(authz_view, user, old_topic, "READ")
    before = (scram(authz_view, user), acls(authz_view, user))
    ns.create("kafkausers", kafka_user("legacy", authz, userName=user, acls=[topic_acl(new_topic, "Write")]))
    message = ready(ns.wait_condition("kafkausers", "legacy", "False", "AdoptionRequired"))["message"]
    assert "SCRAM-SHA-256 credentials" in message and "1 ACL(s): " in message and old_topic in message
    assert "kto.dev/adopt=overwrite" in message
    resynced(kto, (ns, authz), kind="user")
    assert (scram(authz_view, user), acls(authz_view, user)) == before
    assert authenticates(as_user(kafka_authz, user, old_pw, "SCRAM-SHA-256"))
    assert not secret_exists(ns, "legacy-kafka")
    assert writes(kto, ns, authz) == {}

    # The opt-in: kto replaces its credential and ACLs with the spec's.
    ns.patch("kafkausers", "legacy", {"metadata": {"annotations": {"kto.dev/adopt": "overwrite"}}})
    obj = ns.wait_condition("kafkausers", "legacy", "True", "Reconciled", timeout=90)
    assert obj["status"]["adopted"] is True
    ns.wait_event("legacy", "UserAdopted")
    # SCRAM-SHA-256 replaced by SCRAM-SHA-512: one request could not do both (Kafka refuses to alter a user twice).
    assert scram(authz_view, user) == {"SCRAM_SHA_512": 8192}
    assert acls(authz_view, user) == {("TOPIC", new_topic, "LITERAL", "*", "WRITE", "ALLOW")}
    password = secret_data(ns, "legacy-kafka")["password"]
    assert authenticates(as_user(kafka_authz, user, password))
    assert not authenticates(as_user(kafka_authz, user, old_pw, "SCRAM-SHA-256"))

    # The record of the credential on the application's Secret is salted and stretched, never a plain hash.
    record = ns.core.read_namespaced_secret("legacy-kafka", ns.ns).metadata.annotations["kto.dev/credential-hash"]
    scheme, iterations, salt, digest = record.split("$")
    assert (scheme, iterations) == ("pbkdf2-sha256", "10000")
    derived = hashlib.pbkdf2_hmac("sha256", f"SCRAM-SHA-512\0{user}\0{password}".encode(), base64.b64decode(salt),
                                  10000)
    assert base64.b64decode(digest) == derived
    for plain in (password, f"SCRAM-SHA-512\0{user}\0{password}"):
        assert hashlib.sha256(plain.encode()).hexdigest() not in record and password not in record

    # Moving to the other mechanism converges and leaves only the new one.
    ns.patch("kafkausers", "legacy", {"spec": {"authentication": {"type": "scram-sha-256"}}})
    ns.wait_condition("kafkausers", "legacy", "True", "Reconciled", timeout=90)
    assert scram(authz_view, user) == {"SCRAM_SHA_256": 8192}
    assert secret_data(ns, "legacy-kafka")["sasl.mechanism"] == "SCRAM-SHA-256"
    assert authenticates(as_user(kafka_authz, user, password, "SCRAM-SHA-256"))

    # An adopted user is kept with its resource unless the resource itself says deletionPolicy: Delete.
    assert has_finalizer(ns, "kafkausers", "legacy", USER_FINALIZER), \
        "kto wrote credentials and ACLs for the adopted KafkaUser without holding its finalizer"
    ns.delete("kafkausers", "legacy")
    ns.wait_gone("kafkausers", "legacy")
    ns.wait_event("legacy", "UserRetained", "kto adopted it")
    assert scram(authz_view, user) == {"SCRAM_SHA_256": 8192}


# --- cluster identity ----------------------------------------------------------------------------------------


def test_kafkacluster_pointed_at_another_kafka_stops_all_writes(env, ns, kto, kafka_view, other_kafka) -> None:
    ns.cluster(kafka_cluster("kafka", env.kafka, listener="PLAINTEXT", resyncIntervalSeconds=10))
    bound = ns.wait_condition("kafkaclusters", "kafka", "True", "Connected")["status"]["clusterId"]
    other_view = KafkaView(other_kafka.client_config())
    other_id = other_view.admin.describe_cluster(request_timeout=10).result(15).cluster_id
    assert other_id != bound
    name = unique("retarget")
    ns.topic(kafka_topic(name, "kafka", partitions=1, config={"retention.ms": DAY}))
    ns.topic_ready(name)
    # The other cluster has a topic of the same name that kto never created.
    other_view.create(name, partitions=3, config={"retention.ms": "1000"})
    wait_until(lambda: other_view.overrides(name) == {"retention.ms": "1000"}, timeout=30, what="its configs")
    old_before, other_before = topic_state(kafka_view, name), topic_state(other_view, name)
    sent = writes(kto, ns, "kafka")

    # The attack: bootstrapServers edited to another Kafka cluster, and the topic's spec changed meanwhile.
    ns.patch("kafkaclusters", "kafka", {"spec": {"bootstrapServers": other_kafka.plaintext.split(",")}})
    message = ready(ns.wait_condition("kafkaclusters", "kafka", "False", "ClusterIdChanged", timeout=90))["message"]
    assert bound in message and other_id in message
    ns.patch("kafkatopics", name, {"spec": {"partitions": 2, "config": {"retention.ms": 2 * DAY}}})
    ns.wait_condition("kafkatopics", name, "False", "ClusterNotReady")
    resynced(kto, (ns, "kafka"))
    assert topic_state(kafka_view, name) == old_before
    assert topic_state(other_view, name) == other_before
    assert writes(kto, ns, "kafka") == sent
    assert ns.get("kafkaclusters", "kafka")["status"]["clusterId"] == bound

    # Accepting the new cluster, as the message says: what exists there is adopted only where it matches.
    run_from_message(env, message, r"run (kubectl annotate kafkacluster .*? --overwrite)")
    obj = ns.wait_condition("kafkaclusters", "kafka", "True", "Connected", timeout=90)
    assert obj["status"]["clusterId"] == other_id
    message = ready(ns.wait_condition("kafkatopics", name, "False", "AdoptionRequired"))["message"]
    assert "retention.ms would change from 1000 to" in message
    resynced(kto, (ns, "kafka"))
    assert topic_state(kafka_view, name) == old_before
    assert topic_state(other_view, name) == other_before
    assert writes(kto, ns, "kafka") == sent

    # Neither an edit of the spec (which lifts the refusal's block) nor deleting the resource may touch the topic
    # kto never created. Both are checked before asserting, so a failure shows what each did.
    ns.patch("kafkatopics", name, {"spec": {"config": {"retention.ms": 3 * DAY}}})
    edited = ready(settled(ns, "kafkatopics", name))
    after_edit = topic_state(other_view, name)
    ns.delete("kafkatopics", name)
    ns.wait_gone("kafkatopics", name)
    after_delete = topic_state(other_view, name) if other_view.exists(name) else "deleted"
    events = [(e.reason, e.message) for e in ns.events(name) if e.reason.startswith("Topic")]
    assert (edited["reason"], after_edit, after_delete) == ("AdoptionRequired", other_before, other_before), (
        f"the new cluster's topic, which kto never created, before {other_before}: after an edit of the spec "
        f"{edited['reason']} and {after_edit}; after deleting the resource {after_delete}. kto sent "
        f"{writes(kto, ns, 'kafka')} (before the rebinding: {sent}); Events {events}")
    assert topic_state(kafka_view, name) == old_before


# --- what stays refused --------------------------------------------------------------------------------------


def test_a_refused_adoption_stays_refused_when_the_spec_changes(ns, cluster, kafka_view, kto) -> None:
    name = unique("kept-forever")
    data = {"cleanup.policy": "compact", "retention.ms": "-1"}
    kafka_view.create(name, partitions=1, config=data)
    wait_until(lambda: kafka_view.overrides(name) == data, timeout=30, what="its configs")
    before = topic_state(kafka_view, name)
    ns.topic(kafka_topic(name, cluster))
    ns.wait_condition("kafkatopics", name, "False", "AdoptionRequired")
    # An edit that still leaves the configs out (the partitions now written as Kafka has them).
    ns.patch("kafkatopics", name, {"spec": {"partitions": 1}})
    obj = settled(ns, "kafkatopics", name)
    after = topic_state(kafka_view, name)
    assert ready(obj)["reason"] == "AdoptionRequired" and after == before, (
        f"an edit of a refused KafkaTopic took the topic over without {{kto.dev/adopt: overwrite}}: "
        f"now {ready(obj)['reason']}, Kafka {before} -> {after}, kto sent {writes(kto, ns, cluster)}")


def test_claims_survive_a_restart_while_the_owners_kafkacluster_is_down(env, ns, cluster, tenant, kafka_view,
                                                                       kto) -> None:
    name = unique("ledger")
    spec = {"topicName": name, "partitions": 1, "config": {"retention.ms": DAY}}
    ns.topic(kafka_topic("ledger", cluster, **spec))
    ns.topic_ready("ledger")
    before = topic_state(kafka_view, name)
    tenant.secret("kafka-admin", {"username": env.kafka.username, "password": env.kafka.password})
    tenant.cluster(kafka_cluster("kafka", env.kafka, resyncIntervalSeconds=10))
    tenant.wait_condition("kafkaclusters", "kafka", "True", "Connected")
    # The same spec exactly, and it says Delete.
    tenant.topic(kafka_topic("ledger", "kafka", deletionPolicy="Delete", **spec))
    tenant.wait_condition("kafkatopics", "ledger", "False", "ResourceConflict")

    # The owner's KafkaCluster cannot connect (its Secret lost kto's label), and kto restarts.
    bound = ns.get("kafkaclusters", cluster)["status"]["clusterId"]
    ns.core.patch_namespaced_secret("kafka-admin", ns.ns, {"metadata": {"labels": {"kto.dev/credentials": None}}})
    ns.wait_condition("kafkaclusters", cluster, "False", "SecretNotMarked", timeout=60)
    kto.stop()
    try:
        kto.start()
        # The owner's cluster is probed at once (it fails without a network request); then the tenant's cluster
        # resyncs and its KafkaTopic is looked at again.
        resynced(kto, (tenant, "kafka"))
        # Either refused as before, or (wrongly) taken: then its finalizer follows within a moment.
        wait_until(lambda: ready(tenant.get("kafkatopics", "ledger"))["reason"] == "ResourceConflict"
                   or has_finalizer(tenant, "kafkatopics", "ledger", TOPIC_FINALIZER), timeout=30,
                   what="the tenant's KafkaTopic to be refused or taken")
        reason = ready(tenant.get("kafkatopics", "ledger"))["reason"]
        owner_cluster_id = ns.get("kafkaclusters", cluster)["status"].get("clusterId")
        tenant.delete("kafkatopics", "ledger")
        tenant.wait_gone("kafkatopics", "ledger")
        after = topic_state(kafka_view, name) if kafka_view.exists(name) else "deleted"
        events = [(e.reason, e.message) for e in tenant.events("ledger") if e.reason.startswith("Topic")]
        assert (reason, after, owner_cluster_id) == ("ResourceConflict", before, bound), (
            f"after a restart with the owner's KafkaCluster down (its status.clusterId {bound} -> "
            f"{owner_cluster_id}), the other claimant was {reason} and deleting it left Kafka {before} -> {after}; "
            f"kto sent {writes(kto, tenant, 'kafka')} through {tenant.ns}/kafka; its Events {events}")
    finally:
        ns.secret("kafka-admin", {"username": env.kafka.username, "password": env.kafka.password})
        if kto.proc is None or kto.proc.poll() is not None:
            kto.start()


def test_a_tenant_may_not_raise_its_quota_above_the_cluster_default(env, ns, cluster, tenant, kto,
                                                                   kafka_view) -> None:
    """A user quota replaces the cluster's default for its principal: a tenant asking more is refused, and
    nothing of it reaches Kafka; the cluster's own namespace may set what it likes."""
    from tests.integration.test_quotas_broker_config import default_user_quotas, user_quotas

    default, above = 100 * 1024 * 1024, 200 * 1024 * 1024  # high: the session's broker is shared
    ns.patch("kafkaclusters", cluster, {"spec": {"users": {"allowedNamespaces": [tenant.ns]},
                                                 "defaultUserQuotas": {"producerByteRate": default}}})
    try:
        name = unique("greedy")
        body = kafka_user("greedy", cluster, userName=name, acls=[], quotas={"producerByteRate": above})
        body["spec"]["clusterRef"]["namespace"] = ns.ns
        tenant.create("kafkausers", body)
        message = ready(tenant.wait_condition("kafkausers", "greedy", "False", "NotPermitted", timeout=90))["message"]
        assert f"above the KafkaCluster's spec.defaultUserQuotas ({default})" in message
        resynced(kto, (ns, cluster), kind="user")
        assert user_quotas(env.kafka, name) == {} and scram(kafka_view, name) is None
        assert not secret_exists(tenant, "greedy-kafka")
        own = unique("own")
        ns.create("kafkausers", kafka_user("own", cluster, userName=own, acls=[], quotas={"producerByteRate": above}))
        ns.wait_condition("kafkausers", "own", "True", "Reconciled", timeout=90)
        assert user_quotas(env.kafka, own) == {"producer_byte_rate": above}
    finally:
        ns.patch("kafkaclusters", cluster, {"spec": {"defaultUserQuotas": None}})
        wait_until(lambda: default_user_quotas(env.kafka) == {}, timeout=60, what="the default user quota removed")
