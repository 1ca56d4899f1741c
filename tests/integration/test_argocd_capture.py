"""The Argo CD health checks' testdata is what kto itself writes: each state is produced here, against the real
apiserver and Kafka, and the object read back is compared with the committed file under
manifests/argocd/kafka.kto.dev/<Kind>/testdata/. ``KTO_UPDATE_ARGOCD_TESTDATA=1`` rewrites the files instead.

What differs from run to run is replaced by fixed values before comparing: uid, resourceVersion,
managedFields, timestamps, the generated namespace names, Kafka's ids, the local brokers' ports and the
timings librdkafka puts into its error texts. Resource names are fixed (namespaces are unique per test).
The testdata is captured on a one-broker Kafka, as `make test` runs it.
"""

from __future__ import annotations

import copy
import difflib
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from tests.support.argocd import kind_dir
from tests.support.env import KafkaEndpoints, LocalEnv, localenv
from tests.support.kube import admin_client
from tests.support.resources import Resources, kafka_cluster, kafka_topic, ready, unique
from tests.support.wait import wait_until

UPDATE = os.environ.get("KTO_UPDATE_ARGOCD_TESTDATA") == "1"
FIXED_TIME = "2025-01-01T00:00:00Z"
DROPPED_METADATA = ("uid", "resourceVersion", "managedFields", "creationTimestamp", "selfLink")
# librdkafka's texts carry timings and counters: "(after 3ms in state AUTH_REQ, 2 identical error(s) suppressed)".
VOLATILE_TEXT = [
    (re.compile(r"after \d+ms"), "after 0ms"),
    (re.compile(r"\d+ identical error\(s\) suppressed"), "1 identical error(s) suppressed"),
    (re.compile(r"since \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"), f"since {FIXED_TIME}"),  # kto's Stalled message
]


class Capture:
    """Normalizes captured objects and compares them with (or writes them to) the testdata files."""

    def __init__(self, env: LocalEnv):
        self.addresses: dict[str, str] = {}
        self.kafka(env.kafka)
        self.namespaces: dict[str, str] = {}

    def kafka(self, kafka: KafkaEndpoints) -> None:
        for addresses, port in ((kafka.plaintext, 9092), (kafka.sasl, 9093), (kafka.sasl_ssl, 9094)):
            for i, address in enumerate(addresses.split(",")):
                self.addresses[address] = f"kafka-{i}.kafka:{port}"

    def namespace(self, generated: str, fixed: str) -> None:
        self.namespaces[generated] = fixed

    def address(self, real: str, fixed: str) -> None:
        self.addresses[real] = fixed

    def _text(self, text: str) -> str:
        for real, fixed in {**self.addresses, **self.namespaces}.items():
            text = text.replace(real, fixed)
        for pattern, fixed in VOLATILE_TEXT:
            text = pattern.sub(fixed, text)
        return text

    def _strings(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: self._strings(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._strings(v) for v in value]
        return self._text(value) if isinstance(value, str) else value

    def normalize(self, obj: dict[str, Any]) -> dict[str, Any]:
        obj = copy.deepcopy(obj)
        meta = obj["metadata"]
        for key in DROPPED_METADATA:
            meta.pop(key, None)
        if "deletionTimestamp" in meta:
            meta["deletionTimestamp"] = FIXED_TIME
        status = obj.get("status") or {}
        for condition in status.get("conditions") or []:
            condition["lastTransitionTime"] = FIXED_TIME
        if status.get("lastDriftCorrection"):
            status["lastDriftCorrection"]["time"] = FIXED_TIME
        if status.get("topicId"):
            status["topicId"] = "TopicIdOfTheCapture000"  # 22 characters, like Kafka's
        if status.get("clusterId"):
            status["clusterId"] = "ClusterIdOfTheCapture0"
        return self._strings(obj)

    def __call__(self, kind: str, case: str, obj: dict[str, Any], how: str) -> None:
        path: Path = kind_dir(kind) / "testdata" / f"{case}.yaml"
        normalized = self.normalize(obj)
        if UPDATE:
            header = "".join(f"# {line}\n" for line in [
                f"Captured from the apiserver by tests/integration/{Path(__file__).name}: {how}",
                "Regenerate: KTO_UPDATE_ARGOCD_TESTDATA=1 pytest tests/integration/test_argocd_capture.py"])
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(header + yaml.safe_dump(normalized, sort_keys=False, width=4096))
            return
        assert path.exists(), f"{path} is missing: run with KTO_UPDATE_ARGOCD_TESTDATA=1"
        committed = yaml.safe_load(path.read_text())
        if committed != normalized:
            diff = "\n".join(difflib.unified_diff(
                yaml.safe_dump(committed, sort_keys=False, width=4096).splitlines(),
                yaml.safe_dump(normalized, sort_keys=False, width=4096).splitlines(),
                f"{path.name} (committed)", f"{path.name} (kto now)", lineterm=""))
            raise AssertionError(f"kto's {kind} in state {case!r} differs from {path}; if the change is "
                                 f"intended, rerun with KTO_UPDATE_ARGOCD_TESTDATA=1:\n{diff}")


@pytest.fixture
def capture(env: LocalEnv, ns: Resources) -> Capture:
    cap = Capture(env)
    cap.namespace(ns.ns, "team-a")
    return cap


@pytest.fixture
def one_broker(env: LocalEnv) -> None:
    if env.kafka.nodes != 1:
        pytest.skip("the testdata is captured on a one-broker Kafka (InsufficientBrokers, status.brokers)")


def reason_is(ns: Resources, plural: str, name: str, reason: str, accept: Callable[[dict], bool] = lambda o: True):
    def probe():
        obj = ns.get(plural, name)
        cond = ready(obj)
        return obj if cond and cond["reason"] == reason and accept(obj) else None

    return wait_until(probe, timeout=90, what=f"{plural}/{name} reason={reason} (now: {ready(ns.get(plural, name))})")


def test_capture_topic_states(env, ns, cluster, kafka_view, capture, one_broker) -> None:
    # --- the KafkaCluster: connected, then a spec change kto has not seen yet -------------------------------
    capture("KafkaCluster", "healthy-connected", ns.get("kafkaclusters", cluster),
            "a KafkaCluster over SASL_PLAINTEXT with SCRAM-SHA-512 and a valid Secret, Ready=True Connected")
    # The apiserver's answer to a spec change is the object before any controller saw the change: generation
    # bumped, status still of the previous generation. Reading it back later would race kto.
    bumped = ns.patch("kafkaclusters", cluster, {"spec": {"resyncIntervalSeconds": 11}})
    assert bumped["metadata"]["generation"] == bumped["status"]["observedGeneration"] + 1
    capture("KafkaCluster", "progressing-generation-behind", bumped,
            "the answer to a spec patch of a Connected KafkaCluster (generation 2, status of generation 1)")
    ns.wait_condition("kafkaclusters", cluster, "True", "Connected")

    # --- a topic: no status yet, Ready, then a spec change kto has not seen yet ----------------------------
    created = ns.topic(kafka_topic("orders", cluster, partitions=3, config={"retention.ms": 604800000}))
    assert "status" not in created
    capture("KafkaTopic", "progressing-no-status", created, "the apiserver's answer to the create: no status yet")
    healthy = ns.topic_ready("orders")
    capture("KafkaTopic", "healthy-reconciled", healthy, "Ready=True Reconciled")
    bumped = ns.patch("kafkatopics", "orders", {"spec": {"partitions": 4}})
    assert bumped["metadata"]["generation"] == bumped["status"]["observedGeneration"] + 1
    capture("KafkaTopic", "progressing-generation-behind", bumped,
            "the answer to a spec patch (partitions 3 to 4) of a Ready topic: generation 2, status of generation 1")
    ns.topic_ready("orders")

    # --- what cannot be done ----------------------------------------------------------------------------------
    for name in ("wide", "observed"):
        if kafka_view.exists(name):
            kafka_view.delete(name)  # left over from an earlier run on a reused environment
    kafka_view.create("wide", partitions=4)
    kafka_view.create("observed", partitions=1)
    try:
        # Taken over (kto did not create it), then refused: Kafka cannot remove partitions.
        ns.topic(kafka_topic("wide", cluster, partitions=2, annotations={"kto.dev/adopt": "overwrite"}))
        ns.topic(kafka_topic("bad-config", cluster, partitions=1, config={"retention.mss": 1000}))
        ns.topic(kafka_topic("three-replicas", cluster, partitions=1, replicationFactor=3))
        ns.topic(kafka_topic("duplicate", cluster, topicName="orders", partitions=4))
        ns.topic(kafka_topic("no-cluster", "missing", partitions=1))
        ns.topic(kafka_topic("paused", cluster, annotations={"kto.dev/paused": "true"}, partitions=1))
        ns.topic(kafka_topic("observed", cluster, annotations={"kto.dev/managed": "false"}, partitions=1))
        ns.topic(kafka_topic("observed-missing", cluster, annotations={"kto.dev/managed": "false"}, partitions=1))
        # degraded-invalid-spec.yaml is no longer captured: what kto's model refuses, admission now refuses too.

        capture("KafkaTopic", "degraded-not-supported", ns.wait_condition("kafkatopics", "wide", "False",
                                                                            "NotSupported"),
                "spec.partitions 2 for a Kafka topic that already has 4")
        capture("KafkaTopic", "degraded-invalid-config", ns.wait_condition("kafkatopics", "bad-config", "False",
                                                                             "InvalidConfig"),
                "spec.config with the unknown key retention.mss")
        capture("KafkaTopic", "degraded-insufficient-brokers",
                ns.wait_condition("kafkatopics", "three-replicas", "False", "InsufficientBrokers"),
                "replicationFactor 3 on a one-broker Kafka")
        capture("KafkaTopic", "degraded-resource-conflict",
                ns.wait_condition("kafkatopics", "duplicate", "False", "ResourceConflict"),
                "a second KafkaTopic naming the Kafka topic orders, which the older KafkaTopic orders owns")
        capture("KafkaTopic", "degraded-cluster-not-found",
                ns.wait_condition("kafkatopics", "no-cluster", "False", "ClusterNotFound"),
                "spec.clusterRef naming a KafkaCluster that does not exist")
        capture("KafkaTopic", "suspended-paused", ns.wait_condition("kafkatopics", "paused", "Unknown", "Paused"),
                'created with the annotation kto.dev/paused: "true"')
        capture("KafkaTopic", "healthy-unmanaged", ns.wait_condition("kafkatopics", "observed", "True", "Unmanaged"),
                'kto.dev/managed: "false" for a Kafka topic that exists and matches the spec')
        capture("KafkaTopic", "degraded-unmanaged-missing",
                ns.wait_condition("kafkatopics", "observed-missing", "False", "Unmanaged"),
                'kto.dev/managed: "false" for a Kafka topic that does not exist')

        # A namespace the KafkaCluster does not allow.
        api = admin_client(env)
        other = Resources(api, unique("team"))
        client.CoreV1Api(api).create_namespace({"metadata": {"name": other.ns}})
        capture.namespace(other.ns, "team-b")
        try:
            body = kafka_topic("orders", cluster, partitions=1)
            body["spec"]["clusterRef"]["namespace"] = ns.ns
            other.topic(body)
            capture("KafkaTopic", "degraded-namespace-not-allowed",
                    other.wait_condition("kafkatopics", "orders", "False", "NamespaceNotAllowed"),
                    "a topic in namespace team-b using the KafkaCluster team-a/kafka, which allows no other namespace")
        finally:
            other.delete_all_topics()
    finally:
        ns.delete_all_topics()
        if kafka_view.exists("observed"):
            kafka_view.delete("observed")  # observe-only: kto never deletes it


def stalled_cluster(ns) -> dict | None:
    obj = ns.get("kafkaclusters", "stalled")
    conditions = (obj.get("status") or {}).get("conditions") or ()
    return obj if any(c["type"] == "Stalled" and c["status"] == "True" for c in conditions) else None


def test_capture_cluster_failures(env, ns, kto, capture) -> None:
    ns.secret("wrong-password", {"username": env.kafka.username, "password": "not-the-password"})
    created = ns.cluster(kafka_cluster("no-secret", env.kafka, secret="kafka-admin"))
    assert "status" not in created
    capture("KafkaCluster", "progressing-no-status", created, "the apiserver's answer to the create: no status yet")
    ns.cluster(kafka_cluster("wrong-password", env.kafka, secret="wrong-password"))
    (closed_port,) = localenv.free_ports(1)
    capture.address(f"127.0.0.1:{closed_port}", "kafka-down.kafka:9092")
    down = kafka_cluster("unreachable", env.kafka, listener="PLAINTEXT")
    down["spec"]["bootstrapServers"] = [f"127.0.0.1:{closed_port}"]
    ns.cluster(down)
    stalled = kafka_cluster("stalled", env.kafka, listener="PLAINTEXT", stalledAfterSeconds=1)
    stalled["spec"]["bootstrapServers"] = [f"127.0.0.1:{closed_port}"]
    ns.cluster(stalled)

    capture("KafkaCluster", "degraded-secret-not-found",
            ns.wait_condition("kafkaclusters", "no-secret", "False", "SecretNotFound"),
            "spec.security.sasl.secretRef naming a Secret that does not exist")
    capture("KafkaCluster", "degraded-authentication-failed",
            ns.wait_condition("kafkaclusters", "wrong-password", "False", "AuthenticationFailed", timeout=90),
            "a Secret with the wrong password")
    capture("KafkaCluster", "progressing-unreachable",
            ns.wait_condition("kafkaclusters", "unreachable", "False", "Unreachable", timeout=90),
            "bootstrapServers pointing at a closed port")
    capture("KafkaCluster", "degraded-unreachable-stalled",
            wait_until(lambda: stalled_cluster(ns), timeout=120, what="Stalled=True on KafkaCluster stalled"),
            "bootstrapServers pointing at a closed port for longer than stalledAfterSeconds (1 here)")


def test_capture_cluster_outage_states(env, ns, cluster, capture) -> None:
    """A topic whose KafkaCluster stops working (its password is rotated wrongly): it keeps showing Ready (the
    outage is the KafkaCluster's to report) until its spec changes; then it is deleted meanwhile."""
    ns.topic(kafka_topic("orders", cluster, partitions=1))
    ns.topic_ready("orders")
    ns.secret("kafka-admin", {"username": env.kafka.username, "password": "rotated-wrongly"})
    try:
        ns.wait_condition("kafkaclusters", cluster, "False", "AuthenticationFailed", timeout=90)
        assert ready(ns.get("kafkatopics", "orders"))["reason"] == "Reconciled"
        ns.patch("kafkatopics", "orders", {"spec": {"config": {"retention.ms": 3600000}}})
        capture("KafkaTopic", "progressing-cluster-not-ready",
                ns.wait_condition("kafkatopics", "orders", "False", "ClusterNotReady"),
                "a Ready topic changed while its KafkaCluster fails to authenticate (its Secret got a wrong "
                "password)")
        ns.delete("kafkatopics", "orders")
        capture("KafkaTopic", "progressing-deletion-blocked",
                reason_is(ns, "kafkatopics", "orders", "ClusterNotReady",
                          lambda o: ready(o)["message"].startswith("waiting to delete")),
                "that topic deleted while its KafkaCluster cannot authenticate: kto keeps its finalizer until it "
                "can delete the Kafka topic")
    finally:
        ns.secret("kafka-admin", {"username": env.kafka.username, "password": env.kafka.password})
    ns.wait_gone("kafkatopics", "orders", timeout=90)



def test_capture_replication_factor_states(env, ns, kto, kafka3, capture) -> None:
    """On three brokers: a replication-factor change while its replicas move, and one refused."""
    from tests.support.kafka import produce

    capture.kafka(kafka3)
    ns.secret("kafka-admin", {"username": kafka3.username, "password": kafka3.password})
    # A throttle slow enough that the move is still running when it is captured (as in test_replication).
    ns.cluster(kafka_cluster("three", kafka3, resyncIntervalSeconds=10, replicationThrottleBytesPerSecond=200_000))
    ns.wait_condition("kafkaclusters", "three", "True", "Connected")
    ns.topic(kafka_topic("moving", "three", partitions=4, replicationFactor=1))
    ns.topic(kafka_topic("guarded", "three", partitions=1, replicationFactor=2, config={"min.insync.replicas": 2}))
    ns.topic_ready("moving")
    ns.topic_ready("guarded")
    produce(kafka3.client_config(), "moving", 10_000, size=400)

    ns.patch("kafkatopics", "moving", {"spec": {"replicationFactor": 3}})
    capture("KafkaTopic", "progressing-replicas-changing",
            reason_is(ns, "kafkatopics", "moving", "ReplicasChanging",
                      lambda o: (o["status"].get("replicasChange") or {}).get("state") == "InProgress"),
            "replicationFactor 1 to 3 of a 4-partition topic holding 4 MB, replicas moving at 200 kB/s")
    ns.patch("kafkatopics", "guarded", {"spec": {"replicationFactor": 1}})
    capture("KafkaTopic", "degraded-below-min-insync-replicas",
            ns.wait_condition("kafkatopics", "guarded", "False", "BelowMinInSyncReplicas"),
            "replicationFactor 2 to 1 of a topic with min.insync.replicas 2")
    # The move ends (and kto lifts the throttle) before the topics are deleted.
    wait_until(lambda: (o := ns.get("kafkatopics", "moving"))["status"].get("replicationFactor") == 3
               and "replicasChange" not in o["status"], timeout=180, what="the move to end")


def test_capture_user_states(env, ns, cluster, capture, one_broker) -> None:
    """KafkaUsers on the environment's Kafka, which has no authorizer: credentials alone work, ACLs cannot."""
    from tests.support.users import kafka_user, topic_acl

    if env.kafka.authorizer:
        pytest.skip("the testdata is captured on a Kafka without an authorizer (AuthorizerNotEnabled)")
    api = admin_client(env)
    other = Resources(api, unique("team"))
    client.CoreV1Api(api).create_namespace({"metadata": {"name": other.ns}})
    capture.namespace(other.ns, "team-b")
    (closed_port,) = localenv.free_ports(1)
    capture.address(f"127.0.0.1:{closed_port}", "kafka-down.kafka:9092")
    down = kafka_cluster("down", env.kafka, listener="PLAINTEXT")
    down["spec"]["bootstrapServers"] = [f"127.0.0.1:{closed_port}"]
    ns.cluster(down)
    ns.secret("app-password", {"password": "not-for-kto"}, marked=False)
    created = [(ns, "app"), (ns, "readers"), (ns, "unmarked"), (ns, "no-cluster"), (ns, "stranded"), (other, "tenant")]
    try:
        # --- no status yet, Ready, then a spec change kto has not seen yet ------------------------------------
        answer = ns.create("kafkausers", kafka_user("app", cluster, acls=[]))
        assert "status" not in answer
        capture("KafkaUser", "progressing-no-status", answer, "the apiserver's answer to the create: no status yet")
        capture("KafkaUser", "healthy-reconciled", ns.wait_condition("kafkausers", "app", "True", "Reconciled"),
                "Ready=True Reconciled: a SCRAM-SHA-512 user without ACLs, its password generated by kto")
        bumped = ns.patch("kafkausers", "app", {"spec": {"authentication": {"type": "scram-sha-256"}}})
        assert bumped["metadata"]["generation"] == bumped["status"]["observedGeneration"] + 1
        capture("KafkaUser", "progressing-generation-behind", bumped,
                "the answer to a spec patch (SCRAM-SHA-512 to SCRAM-SHA-256) of a Ready user: generation 2, status "
                "of generation 1")
        ns.wait_condition("kafkausers", "app", "True", "Reconciled")

        # --- what kto cannot do, or may not ----------------------------------------------------------------
        ns.create("kafkausers", kafka_user("readers", cluster, acls=[topic_acl("orders", "Read", "Describe")]))
        ns.create("kafkausers", kafka_user("unmarked", cluster, acls=[],
                                           passwordSecretRef={"name": "app-password", "key": "password"}))
        ns.create("kafkausers", kafka_user("no-cluster", "missing", acls=[]))
        ns.wait_condition("kafkaclusters", "down", "False", "Unreachable", timeout=90)
        ns.create("kafkausers", kafka_user("stranded", "down", acls=[]))
        ns.patch("kafkaclusters", cluster, {"spec": {"users": {"allowedNamespaces": [other.ns]}}})
        tenant = kafka_user("tenant", cluster, acls=[topic_acl("orders", "Read")])
        tenant["spec"]["clusterRef"]["namespace"] = ns.ns
        other.create("kafkausers", tenant)

        capture("KafkaUser", "degraded-authorizer-not-enabled",
                ns.wait_condition("kafkausers", "readers", "False", "AuthorizerNotEnabled", timeout=90),
                "a user with ACLs on brokers that have no authorizer")
        capture("KafkaUser", "degraded-secret-not-marked",
                ns.wait_condition("kafkausers", "unmarked", "False", "SecretNotMarked"),
                "spec.authentication.passwordSecretRef naming a Secret without the label kto.dev/credentials=true")
        capture("KafkaUser", "degraded-cluster-not-found",
                ns.wait_condition("kafkausers", "no-cluster", "False", "ClusterNotFound"),
                "spec.clusterRef naming a KafkaCluster that does not exist")
        capture("KafkaUser", "progressing-cluster-not-ready",
                ns.wait_condition("kafkausers", "stranded", "False", "ClusterNotReady"),
                "a user of a KafkaCluster whose brokers cannot be reached")
        capture("KafkaUser", "degraded-not-permitted",
                other.wait_condition("kafkausers", "tenant", "False", "NotPermitted"),
                "a user in namespace team-b, which the KafkaCluster team-a/kafka allows, asking for an ACL on a "
                "topic the KafkaCluster grants it nothing of")
    finally:
        ns.delete("kafkaclusters", "down")  # its user is then released without waiting for its brokers
        for res, name in created:
            res.delete("kafkausers", name)
        for res, name in created:
            res.wait_gone("kafkausers", name, timeout=90)
