"""KafkaUser behaviour on a Kafka with an authorizer, checked as an application would: it authenticates with the
Secret kto wrote and produces to the topics its ACLs allow."""

from __future__ import annotations

import base64

import pytest
from kubernetes.client.rest import ApiException

from tests.support.resources import kafka_cluster, ready, unique
from tests.support.users import as_user, authenticates, kafka_user, produce_one, topic_acl
from tests.support.wait import wait_until


def app_secret(ns, name: str) -> dict[str, str]:
    secret = ns.core.read_namespaced_secret(name, ns.ns)
    return {k: base64.b64decode(v).decode() for k, v in secret.data.items()}


def test_generated_password_reaches_the_secret_and_acls_allow_and_refuse(ns, authz, kafka_authz, authz_view,
                                                                          kto) -> None:
    allowed, other = unique("allowed"), unique("other")
    authz_view.create(allowed)
    authz_view.create(other)
    ns.create("kafkausers", kafka_user("ingestion", authz, acls=[topic_acl(allowed, "Write", "Describe")],
                                       userName="ingestion-service"))
    obj = ns.wait_condition("kafkausers", "ingestion", "True", "Reconciled", timeout=90)
    status = obj["status"]
    assert (status["userName"], status["secretName"], status["acls"]) == ("ingestion-service", "ingestion-kafka", 2)
    assert "kto.dev/user-protection" in obj["metadata"]["finalizers"]

    data = app_secret(ns, "ingestion-kafka")
    password = data["password"]
    assert len(password) >= 24
    assert data["username"] == "ingestion-service"
    assert data["sasl.mechanism"] == "SCRAM-SHA-512"
    assert data["bootstrap.servers"] == kafka_authz.sasl
    assert data["sasl.jaas.config"] == ("org.apache.kafka.common.security.scram.ScramLoginModule required "
                                        f'username="ingestion-service" password="{password}";')
    secret = ns.core.read_namespaced_secret("ingestion-kafka", ns.ns)
    [owner] = secret.metadata.owner_references
    assert (owner.kind, owner.name, owner.uid) == ("KafkaUser", "ingestion", obj["metadata"]["uid"])

    conf = as_user(kafka_authz, "ingestion-service", password)
    wait_until(lambda: produce_one(conf, allowed) is None, timeout=30, what="the user to produce to its topic")
    assert produce_one(conf, other) == "TOPIC_AUTHORIZATION_FAILED"

    # The password is nowhere but in the application's Secret.
    assert password not in kto.log_text()
    assert password not in str(ns.get("kafkausers", "ingestion"))
    assert all(password not in (e.message or "") for e in ns.events("ingestion"))


def test_password_rotated_through_the_secret(ns, authz, kafka_authz, kto) -> None:
    old, new = "first-" + unique("pw"), "second-" + unique("pw")
    ns.secret("playback-pw", {"password": old})
    ns.create("kafkausers", kafka_user("playback", authz, acls=[],
                                       passwordSecretRef={"name": "playback-pw", "key": "password"}))
    ns.wait_condition("kafkausers", "playback", "True", "Reconciled", timeout=90)
    assert app_secret(ns, "playback-kafka")["password"] == old
    assert authenticates(as_user(kafka_authz, "playback", old))

    ns.secret("playback-pw", {"password": new})
    # Secrets are read at each resync (10 s here): no restart, no change to the KafkaUser.
    wait_until(lambda: authenticates(as_user(kafka_authz, "playback", new)), timeout=60,
               what="the new password to work")
    assert not authenticates(as_user(kafka_authz, "playback", old))
    wait_until(lambda: app_secret(ns, "playback-kafka")["password"] == new, timeout=30,
               what="the application's Secret to hold the new password")
    ns.wait_event("playback", "CredentialsRotated")
    log = kto.log_text()
    assert old not in log and new not in log
    assert all(old not in (e.message or "") and new not in (e.message or "") for e in ns.events("playback"))


def test_acl_removed_from_spec_is_refused(ns, authz, kafka_authz, authz_view) -> None:
    first, second = unique("first"), unique("second")
    authz_view.create(first)
    authz_view.create(second)
    ns.create("kafkausers", kafka_user("analytics", authz,
                                       acls=[topic_acl(first, "Write"), topic_acl(second, "Write")]))
    obj = ns.wait_condition("kafkausers", "analytics", "True", "Reconciled", timeout=90)
    assert obj["status"]["acls"] == 2
    conf = as_user(kafka_authz, "analytics", app_secret(ns, "analytics-kafka")["password"])
    wait_until(lambda: produce_one(conf, second) is None, timeout=30, what="Write on the second topic")

    ns.patch("kafkausers", "analytics", {"spec": {"authorization": {"acls": [topic_acl(first, "Write")]}}})
    obj = ns.wait_condition("kafkausers", "analytics", "True", "Reconciled", timeout=60)
    assert obj["status"]["acls"] == 1
    wait_until(lambda: produce_one(conf, second) == "TOPIC_AUTHORIZATION_FAILED", timeout=30,
               what="Write on the second topic to be refused")
    assert produce_one(conf, first) is None


def test_deleted_user_can_no_longer_authenticate(ns, authz, kafka_authz) -> None:
    ns.create("kafkausers", kafka_user("leaving", authz, acls=[]))
    ns.wait_condition("kafkausers", "leaving", "True", "Reconciled", timeout=90)
    conf = as_user(kafka_authz, "leaving", app_secret(ns, "leaving-kafka")["password"])
    assert authenticates(conf)
    ns.delete("kafkausers", "leaving")
    ns.wait_gone("kafkausers", "leaving")
    ns.wait_event("leaving", "UserDeleted")
    wait_until(lambda: not authenticates(conf), timeout=30, what="authentication to fail")


def test_retain_keeps_credentials(ns, authz, kafka_authz) -> None:
    ns.create("kafkausers", kafka_user("kept", authz, acls=[], deletionPolicy="Retain"))
    ns.wait_condition("kafkausers", "kept", "True", "Reconciled", timeout=90)
    conf = as_user(kafka_authz, "kept", app_secret(ns, "kept-kafka")["password"])
    ns.delete("kafkausers", "kept")
    ns.wait_gone("kafkausers", "kept")
    ns.wait_event("kept", "UserRetained")
    assert authenticates(conf)


def test_two_users_naming_the_same_kafka_user_conflict(ns, authz) -> None:
    ns.create("kafkausers", kafka_user("older", authz, acls=[], userName="shared-user"))
    ns.wait_condition("kafkausers", "older", "True", "Reconciled", timeout=90)
    ns.create("kafkausers", kafka_user("newer", authz, acls=[], userName="shared-user"))
    obj = ns.wait_condition("kafkausers", "newer", "False", "ResourceConflict")
    assert "older" in ready(obj)["message"]


def test_cluster_without_authorizer_says_what_to_configure(env, ns, cluster, kto) -> None:
    if env.kafka.authorizer:
        pytest.skip("the environment's Kafka has an authorizer")
    ns.create("kafkausers", kafka_user("noauthz", cluster, acls=[topic_acl("anything", "Read")]))
    obj = ns.wait_condition("kafkausers", "noauthz", "False", "AuthorizerNotEnabled", timeout=90)
    message = ready(obj)["message"]
    assert "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer" in message
    assert "Traceback" not in kto.log_text()
    # Without ACLs to set, authentication alone works without an authorizer.
    ns.create("kafkausers", kafka_user("authn-only", cluster, acls=[]))
    ns.wait_condition("kafkausers", "authn-only", "True", "Reconciled", timeout=60)


def test_user_name_is_immutable_and_validated_at_admission(ns, authz) -> None:
    ns.create("kafkausers", kafka_user("fixed", authz, userName="fixed-user"))
    with pytest.raises(ApiException) as err:
        ns.patch("kafkausers", "fixed", {"spec": {"userName": "other-user"}})
    assert err.value.status == 422 and "spec.userName is immutable" in err.value.body
    with pytest.raises(ApiException) as err:
        ns.create("kafkausers", kafka_user(unique("bad"), authz, acls=[
            {"resource": {"type": "topic"}, "operations": ["Read"]}]))
    assert err.value.status == 422 and "resource.name is required" in err.value.body


def test_acl_deleted_behind_ktos_back_is_restored_and_kubectl_shows_users(env, ns, authz, kafka_authz,
                                                                          authz_view) -> None:
    import subprocess

    from confluent_kafka.admin import (
        AclBindingFilter,
        AclOperation,
        AclPermissionType,
        ResourcePatternType,
        ResourceType,
    )

    topic = unique("drifting")
    authz_view.create(topic)
    ns.create("kafkausers", kafka_user("drifter", authz, acls=[topic_acl(topic, "Write")]))
    ns.wait_condition("kafkausers", "drifter", "True", "Reconciled", timeout=90)
    conf = as_user(kafka_authz, "drifter", app_secret(ns, "drifter-kafka")["password"])
    wait_until(lambda: produce_one(conf, topic) is None, timeout=30, what="Write on the topic")
    everything = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, "User:drifter", None,
                                  AclOperation.ANY, AclPermissionType.ANY)
    authz_view.admin.delete_acls([everything])[everything].result(30)
    ns.wait_event("drifter", "DriftCorrected", "1 ACL(s) added", timeout=40)
    wait_until(lambda: produce_one(conf, topic) is None, timeout=30, what="Write on the topic again")

    out = subprocess.run([*env.kubectl(), "get", "ktu", "-n", ns.ns, "drifter"], capture_output=True, text=True,
                         check=True).stdout.split("\n")
    assert out[0].split() == ["NAME", "CLUSTER", "USER", "AUTH", "ACLS", "READY", "REASON", "AGE"]
    assert out[1].split()[:7] == ["drifter", authz, "drifter", "scram-sha-512", "1", "True", "Reconciled"]


def test_users_of_a_deleted_cluster_are_released_with_a_warning(ns, kto, kafka_authz) -> None:
    ns.secret("gone-admin", {"username": kafka_authz.username, "password": kafka_authz.password})
    ns.cluster(kafka_cluster("gone", kafka_authz, secret="gone-admin"))
    ns.create("kafkausers", kafka_user("orphan", "gone", acls=[]))
    ns.wait_condition("kafkausers", "orphan", "True", "Reconciled", timeout=90)
    conf = as_user(kafka_authz, "orphan", app_secret(ns, "orphan-kafka")["password"])
    ns.delete("kafkaclusters", "gone")
    ns.wait_gone("kafkaclusters", "gone")
    ns.wait_condition("kafkausers", "orphan", "False", "ClusterNotFound")
    ns.delete("kafkausers", "orphan")
    ns.wait_gone("kafkausers", "orphan")
    ns.wait_event("orphan", "ClusterNotFound", "finalizer released")
    assert authenticates(conf)  # never deleted what it could not be told about safely
