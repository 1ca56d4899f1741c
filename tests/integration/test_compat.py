"""The compatibility tier: what matters of kto's lifecycle, on every Kafka line and mode README's support matrix
names. The oldest supported 3.x (three brokers) and 3.9 with ZooKeeper, 3.9 with KRaft, and the default 4.x with
KRaft (the session's broker with an authorizer). The brokers have an authorizer (AclAuthorizer with ZooKeeper,
StandardAuthorizer with KRaft) so KafkaUsers' ACLs are proved too, except 3.9 with ZooKeeper: there a KafkaUser
with ACLs must be told to configure AclAuthorizer, the authorizer of its cluster's mode.

One extra cluster runs at a time (the fixture is module-scoped and parametrised: pytest runs every test of one
target before starting the next), served by the session's kto: one operator, many KafkaClusters. The
replication-factor change and ZooKeeper's pending deletion need three brokers: they run on the oldest target only.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass

import pytest

from tests.integration.test_quotas_broker_config import cluster_defaults, user_quotas
from tests.support import faults
from tests.support.env import KafkaEndpoints, endpoints_from, localenv
from tests.support.kafka import KafkaView
from tests.support.lifecycle import DAY, app_password, in_kafka
from tests.support.resources import Resources, kafka_cluster, kafka_topic, ready, unique
from tests.support.users import as_user, authenticates, kafka_user, produce_one, topic_acl
from tests.support.wait import wait_until

pytestmark = pytest.mark.compat
VERSIONS = localenv.read_versions()


@dataclass(frozen=True)
class Target:
    version: str
    mode: str
    nodes: int = 1
    authorizer: bool = True
    session: bool = False  # the session's broker with an authorizer (kafka_authz), not one started here

    @property
    def id(self) -> str:
        return f"{self.version}-{self.mode}" + (f"-{self.nodes}nodes" if self.nodes > 1 else "")


TARGETS = [
    Target(VERSIONS["KAFKA_VERSION_OLDEST"], "zookeeper", nodes=3),
    Target(VERSIONS["KAFKA_VERSION_3X"], "zookeeper", authorizer=False),
    Target(VERSIONS["KAFKA_VERSION_3X"], "kraft"),
    Target(VERSIONS["KAFKA_VERSION"], "kraft", session=True),
]


@dataclass
class Brokers:
    target: Target
    endpoints: KafkaEndpoints
    kafka: localenv.Kafka | None  # the processes, when started here


@pytest.fixture(scope="module", params=TARGETS, ids=[t.id for t in TARGETS])
def brokers(request, tmp_path_factory):
    target: Target = request.param
    if target.session:
        yield Brokers(target, request.getfixturevalue("kafka_authz"), None)
        return
    kafka = localenv.start_kafka(tmp_path_factory.mktemp(f"compat-{target.id}"), nodes=target.nodes,
                                 version=target.version, authorizer=target.authorizer, mode=target.mode)
    try:
        yield Brokers(target, endpoints_from(localenv.env_vars(None, kafka)), kafka)
    finally:
        localenv.stop_procs(kafka.procs)


def connect(ns: Resources, brokers: Brokers) -> str:
    """A KafkaCluster on the target's brokers; Connected proves kto accepts this version and mode."""
    kafka = brokers.endpoints
    ns.secret("kafka-admin", {"username": kafka.username, "password": kafka.password})
    ns.cluster(kafka_cluster("compat", kafka, resyncIntervalSeconds=10))
    obj = ns.wait_condition("kafkaclusters", "compat", "True", "Connected", timeout=60)
    assert obj["status"]["brokers"] == brokers.target.nodes
    return "compat"


def test_topic_lifecycle_and_adoption(brokers: Brokers, ns: Resources, kto) -> None:
    cluster = connect(ns, brokers)
    kafka = KafkaView(brokers.endpoints.client_config())
    name = unique("orders")
    ns.topic(kafka_topic(name, cluster, partitions=2, replicationFactor=1, config={"retention.ms": DAY}))
    obj = ns.topic_ready(name)
    assert kafka.topic(name) == (2, 1, obj["status"]["topicId"])
    in_kafka(kafka, name, {"retention.ms": str(DAY)})

    ns.patch("kafkatopics", name, {"spec": {"partitions": 4, "config": {"retention.ms": 2 * DAY,
                                                                       "cleanup.policy": "compact"}}})
    wait_until(lambda: (ns.get("kafkatopics", name)["status"].get("partitions") == 4
                        and ready(ns.get("kafkatopics", name))["status"] == "True"), timeout=60,
               what=f"{name} to grow to 4 partitions")
    assert kafka.topic(name)[0] == 4
    in_kafka(kafka, name, {"retention.ms": str(2 * DAY), "cleanup.policy": "compact"})

    kafka.set_config(name, "retention.ms", "1000")  # drift: undone at the next resync (every 10 s)
    ns.wait_event(name, "DriftCorrected", contains="retention.ms", timeout=45)
    in_kafka(kafka, name, {"retention.ms": str(2 * DAY), "cleanup.policy": "compact"})

    existing = unique("existing")  # made outside kto, matching the spec: adopted
    kafka.create(existing, partitions=3, config={"retention.ms": str(DAY)})
    ns.topic(kafka_topic(existing, cluster, partitions=3, replicationFactor=1, config={"retention.ms": DAY}))
    ns.wait_event(existing, "TopicAdopted")
    assert ns.topic_ready(existing)["status"]["adopted"] is True

    ns.delete("kafkatopics", name)
    ns.wait_gone("kafkatopics", name)
    wait_until(lambda: not kafka.exists(name), timeout=30, what=f"{name} to be deleted from Kafka")
    assert kafka.exists(existing)  # adopted, and the resource does not say deletionPolicy: Delete


def test_user_with_scram_and_acls(brokers: Brokers, ns: Resources, kto) -> None:
    cluster = connect(ns, brokers)
    kafka = KafkaView(brokers.endpoints.client_config())
    allowed, denied, app = unique("allowed"), unique("denied"), unique("app")
    kafka.create(allowed)
    kafka.create(denied)
    ns.create("kafkausers", kafka_user(app, cluster, acls=[topic_acl(allowed, "Write", "Describe")]))
    if not brokers.target.authorizer:
        obj = ns.wait_condition("kafkausers", app, "False", "AuthorizerNotEnabled", timeout=90)
        wanted, wrong = {"zookeeper": ("AclAuthorizer", "StandardAuthorizer"),
                         "kraft": ("StandardAuthorizer", "AclAuthorizer")}[brokers.target.mode]
        assert wanted in ready(obj)["message"] and wrong not in ready(obj)["message"], ready(obj)["message"]
        ns.patch("kafkausers", app, {"spec": {"authorization": {"acls": []}}})  # SCRAM alone needs none
    ns.wait_condition("kafkausers", app, "True", "Reconciled", timeout=90)
    conf = as_user(brokers.endpoints, app, app_password(ns, app))
    if brokers.target.authorizer:
        assert produce_one(conf, allowed) is None
        assert produce_one(conf, denied, timeout=5) == "TOPIC_AUTHORIZATION_FAILED"
    else:
        assert authenticates(conf)

    ns.delete("kafkausers", app)
    ns.wait_gone("kafkausers", app)
    wait_until(lambda: not authenticates(conf), timeout=30, what="the user's SCRAM credential to be removed")


def _three_brokers(brokers: Brokers) -> None:
    if brokers.target.nodes < 3:
        pytest.skip("three brokers: run on the oldest supported version only (the tier's time budget)")


def test_replication_factor_change(brokers: Brokers, ns: Resources, kto) -> None:
    _three_brokers(brokers)
    cluster = connect(ns, brokers)
    kafka = KafkaView(brokers.endpoints.client_config())
    name = unique("replicated")
    ns.topic(kafka_topic(name, cluster, partitions=2, replicationFactor=1))
    ns.topic_ready(name)
    ns.patch("kafkatopics", name, {"spec": {"replicationFactor": 3}})
    wait_until(lambda: (ns.get("kafkatopics", name)["status"].get("replicationFactor") == 3
                        and ready(ns.get("kafkatopics", name))["reason"] == "Reconciled"), timeout=90,
               what=f"{name} to reach replication factor 3")
    assert kafka.topic(name)[:2] == (2, 3)


def test_topic_recreated_while_zookeeper_still_deletes_it(brokers: Brokers, ns: Resources, kto) -> None:
    """A broker holding a replica is down: ZooKeeper keeps the deleted topic "marked for deletion", and
    CreateTopics answers TOPIC_ALREADY_EXISTS. kto says so and creates the topic once the broker is back."""
    _three_brokers(brokers)
    if brokers.target.mode != "zookeeper":
        pytest.skip("KRaft deletes a topic at once")
    cluster = connect(ns, brokers)
    kafka = KafkaView(brokers.endpoints.client_config())
    name = unique("again")
    kafka.create(name, partitions=1, replication=3)
    # A broker that is not the controller: the deletion is then pending only for want of its replica.
    controller = kafka.admin.describe_cluster(request_timeout=10).result(timeout=15).controller.id
    victim = next(n for n in (1, 2, 3) if n != controller)
    broker = next(p for p in brokers.kafka.procs if p.name == f"kafka-{victim}")
    recipe = faults.recipe_of(broker)
    faults.kill(broker, signal.SIGTERM)
    kafka.delete(name)
    ns.topic(kafka_topic(name, cluster, partitions=1, replicationFactor=1))
    obj = ns.wait_condition("kafkatopics", name, "False", "TopicBeingDeleted", timeout=60)
    assert "still being deleted" in ready(obj)["message"]
    assert ns.wait_event(name, "TopicBeingDeleted")[0].type == "Warning"

    offset = faults.log_size(broker)
    faults.restart(broker, recipe)
    faults.wait_kafka_started(broker, offset, timeout=120)
    obj = ns.topic_ready(name, timeout=120)
    assert kafka.topic(name)[:2] == (1, 1) and kafka.topic(name)[2] == obj["status"]["topicId"]


def test_quotas_and_broker_config(brokers: Brokers, ns: Resources, kto) -> None:
    """What the quotas and broker-settings issue added: a KafkaUser's client quotas, and cluster-wide broker
    settings (not on the session's shared brokers: a cluster-wide default would reach every other test)."""
    cluster = connect(ns, brokers)
    kafka = brokers.endpoints
    app = unique("quota")
    ns.create("kafkausers", kafka_user(app, cluster, acls=[], quotas={"producerByteRate": 10240}))
    ns.wait_condition("kafkausers", app, "True", "Reconciled", timeout=90)
    assert user_quotas(kafka, app) == {"producer_byte_rate": 10240}
    ns.patch("kafkausers", app, {"spec": {"quotas": None}})
    wait_until(lambda: user_quotas(kafka, app) == {}, timeout=40, what=f"{app}'s quota to be removed")
    if brokers.target.session:
        return
    retention = str(3 * DAY)
    ns.patch("kafkaclusters", cluster, {"spec": {"brokerConfig": {"log.retention.ms": retention}}})
    try:
        wait_until(lambda: cluster_defaults(kafka).get("log.retention.ms") == retention, timeout=40,
                   what="the cluster-wide log.retention.ms to be set")
        assert ns.get("kafkaclusters", cluster)["status"]["brokerConfigKeys"] == ["log.retention.ms"]
    finally:
        ns.patch("kafkaclusters", cluster, {"spec": {"brokerConfig": None}})
    wait_until(lambda: "log.retention.ms" not in cluster_defaults(kafka), timeout=40,
               what="the cluster-wide log.retention.ms to be removed")
