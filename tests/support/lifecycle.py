"""A user's whole journey with kto, shared by the integration tier (kto as the chart's ServiceAccount, on the local
apiserver) and the e2e tier (kto deployed by the chart on kind): a SASL/SCRAM KafkaCluster, topics created,
updated, drifted and deleted, a KafkaUser whose password rotates. Every check is what a user would see: the
resources' status and Events, and Kafka through the test's own admin client."""

from __future__ import annotations

import base64

from kubernetes.client.rest import ApiException

from tests.support.env import KafkaEndpoints
from tests.support.kafka import KafkaView
from tests.support.resources import Resources, kafka_cluster, kafka_topic, unique
from tests.support.users import as_user, authenticates, kafka_user
from tests.support.wait import wait_until

DAY = 86_400_000


def app_password(res: Resources, user: str) -> str | None:
    """The password in the application Secret kto writes for a KafkaUser (None while there is none)."""
    try:
        secret = res.core.read_namespaced_secret(f"{user}-kafka", res.ns)
    except ApiException as err:
        if err.status == 404:
            return None
        raise
    return base64.b64decode(secret.data["password"]).decode()


def in_kafka(kafka: KafkaView, topic: str, overrides: dict[str, str], timeout: float = 20) -> None:
    """The topic's config overrides as a user's admin client sees them (a broker applies a change the controller
    acknowledged once its metadata catches up, a moment later)."""
    wait_until(lambda: kafka.overrides(topic) == overrides, timeout=timeout,
               what=f"{topic}'s overrides in Kafka to be {overrides} (now {kafka.overrides(topic)})")


def connect_cluster(home: Resources, other: Resources, brokers: KafkaEndpoints, name: str = "kafka",
                    timeout: float = 60) -> str:
    """A KafkaCluster over SASL_PLAINTEXT with SCRAM-SHA-512, its Secret in ``home``, serving ``other`` too;
    ``brokers`` is how kto reaches Kafka. Returns its name once Connected."""
    home.secret("kafka-admin", {"username": brokers.username, "password": brokers.password})
    home.cluster(kafka_cluster(name, brokers, resyncIntervalSeconds=10, allowedNamespaces=[other.ns]))
    home.wait_condition("kafkaclusters", name, "True", "Connected", timeout=timeout)
    return name


def topic_lifecycle(home: Resources, other: Resources, cluster: str, kafka: KafkaView, timeout: float = 60) -> None:
    """Topics created (one from another namespace), updated, drifted behind kto's back, refused, deleted."""
    # Created: with kto's finalizer, in Kafka as specified, status written.
    first, second = unique("orders"), unique("audit")
    home.topic(kafka_topic(first, cluster, partitions=2, replicationFactor=1, config={"retention.ms": DAY}))
    body = kafka_topic(second, cluster, partitions=1, replicationFactor=1)
    body["spec"]["clusterRef"]["namespace"] = home.ns
    other.topic(body)
    obj = home.topic_ready(first, timeout=timeout)
    assert "kto.dev/topic-protection" in obj["metadata"]["finalizers"]
    assert kafka.topic(first)[:2] == (2, 1)
    assert obj["status"]["topicId"] == kafka.topic(first)[2]
    in_kafka(kafka, first, {"retention.ms": str(DAY)})
    other.topic_ready(second, timeout=timeout)
    assert kafka.exists(second)

    # Updated: partitions grow, configs change.
    home.patch("kafkatopics", first, {"spec": {"partitions": 4, "config": {"retention.ms": 2 * DAY,
                                                                          "cleanup.policy": "compact"}}})
    obj = home.topic_ready(first, timeout=timeout)
    assert obj["status"]["partitions"] == 4
    assert kafka.topic(first)[0] == 4
    in_kafka(kafka, first, {"retention.ms": str(2 * DAY), "cleanup.policy": "compact"})

    # Drifted behind kto's back: undone at the next resync (every 10 s), and an Event says so.
    kafka.set_config(first, "retention.ms", "1000")
    event = home.wait_event(first, "DriftCorrected", contains="retention.ms", timeout=45)[0]
    assert event.source.component == "kto"
    in_kafka(kafka, first, {"retention.ms": str(2 * DAY), "cleanup.policy": "compact"})

    # A value Kafka refuses: Ready=False and a Warning Event.
    bad = unique("bad")
    home.topic(kafka_topic(bad, cluster, partitions=1, replicationFactor=1, config={"cleanup.policy": "sometimes"}))
    home.wait_condition("kafkatopics", bad, "False", "InvalidConfig", timeout=timeout)
    assert home.wait_event(bad, "InvalidConfig")[0].type == "Warning"

    # Deleted: the Kafka topics go with the resources, the finalizers are released.
    for res, name in ((home, first), (other, second), (home, bad)):
        res.delete("kafkatopics", name)
        res.wait_gone("kafkatopics", name, timeout)
    wait_until(lambda: not kafka.exists(first) and not kafka.exists(second), timeout=30,
               what="the Kafka topics to be deleted")


def user_lifecycle(home: Resources, cluster: str, clients: KafkaEndpoints, timeout: float = 60) -> None:
    """A KafkaUser without ACLs (no authorizer needed): its SCRAM credential set in Kafka, the application's
    Secret written by kto, the password rotated through the Secret it references, the credential removed with it.
    ``clients`` is how the test reaches Kafka's SASL listener."""
    app, old, new = unique("app"), unique("first"), unique("second")
    home.secret(f"{app}-pw", {"password": old})
    home.create("kafkausers", kafka_user(app, cluster, acls=[],
                                         passwordSecretRef={"name": f"{app}-pw", "key": "password"}))
    obj = home.wait_condition("kafkausers", app, "True", "Reconciled", timeout=timeout)
    assert "kto.dev/user-protection" in obj["metadata"]["finalizers"]
    assert app_password(home, app) == old
    assert authenticates(as_user(clients, app, old))
    home.secret(f"{app}-pw", {"password": new})
    wait_until(lambda: app_password(home, app) == new, timeout=45, what="the application Secret to be rotated")
    wait_until(lambda: authenticates(as_user(clients, app, new)), timeout=30, what="the new password to work")
    home.delete("kafkausers", app)
    home.wait_gone("kafkausers", app, timeout)
    wait_until(lambda: not authenticates(as_user(clients, app, new)), timeout=30,
               what="the user's credential to be removed from Kafka")
