"""Two kto processes against one apiserver: one holds the Lease and writes, the other stands by, writes nothing,
and takes over when the leader dies (within the lease duration) or stops (at once).

The session's kto (the ``kto`` fixture) watches every namespace and would write these objects too, so it is
stopped for this module (``sole_operator``). Each test's processes elect their leader with a Lease of their own
(a unique name in ``default``): a Lease left behind by an earlier test's SIGKILLed leader never delays the next
test. Both processes watch every namespace, as the chart's Pods do, and each has its own $HOSTNAME (its Pod
name), which kto puts in its Lease identity and in its Events' ``reportingInstance``.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from kubernetes import client

from tests.support.env import LocalEnv
from tests.support.kube import admin_client
from tests.support.lifecycle import app_password
from tests.support.operator import KtoProcess
from tests.support.resources import kafka_cluster, kafka_topic, unique
from tests.support.users import as_user, authenticates, kafka_user
from tests.support.wait import wait_until

LEASE_DURATION, RETRY_PERIOD = 15, 2  # kto's defaults, which these processes run with


@pytest.fixture
def candidates(env: LocalEnv, sole_operator, tmp_path: Path):
    """``candidates(name)``: a kto process (not started) named like a Pod, electing on this test's Lease."""
    lease = unique("kto-leader")
    made: list[KtoProcess] = []

    def _candidate(name: str) -> KtoProcess:
        proc = KtoProcess(env, tmp_path / f"{name}.log", extra_env={"HOSTNAME": name},
                          args=["--leader-election-namespace", "default", "--leader-election-name", lease])
        made.append(proc)
        return proc

    _candidate.lease = lease
    yield _candidate
    for proc in made:
        proc.stop()


def metric(proc: KtoProcess, name: str) -> float:
    """The sum of a metric's samples (all labels) on the process's /metrics."""
    return sum(float(line.rsplit(" ", 1)[1]) for line in proc.metrics().splitlines()
               if line.startswith((name + "{", name + " ")))


def identity(proc: KtoProcess) -> str:
    return proc.health()[1]["identity"]


def lease_spec(env: LocalEnv, name: str) -> client.V1LeaseSpec:
    return client.CoordinationV1Api(admin_client(env)).read_namespaced_lease(name, "default").spec


def events_by(ns, instance: str) -> list:
    return [e for e in ns.core.list_namespaced_event(ns.ns).items if e.reporting_instance == instance]


def leader_and_standby(candidates) -> tuple[KtoProcess, KtoProcess]:
    leader = candidates("kto-a").start()  # returns once it leads and has started
    standby = candidates("kto-b").start(wait=False)
    wait_until(standby.standing_by, timeout=60, what=f"kto-b to stand by (log: {standby.log})")
    return leader, standby


def connect(env: LocalEnv, ns) -> str:
    ns.secret("kafka-admin", {"username": env.kafka.username, "password": env.kafka.password})
    ns.cluster(kafka_cluster("kafka", env.kafka, resyncIntervalSeconds=10))
    ns.wait_condition("kafkaclusters", "kafka", "True", "Connected", timeout=90)
    return "kafka"


def test_one_leads_and_writes_the_other_takes_over_when_it_dies(env: LocalEnv, candidates, ns, kafka_view) -> None:
    a, b = leader_and_standby(candidates)
    assert lease_spec(env, candidates.lease).holder_identity == identity(a)
    assert identity(a).startswith("kto-a_") and b.health()[1]["holder"] == identity(a)

    cluster = connect(env, ns)
    names = [unique("t") for _ in range(5)]
    for name in names:
        ns.topic(kafka_topic(name, cluster, partitions=2, config={"retention.ms": 3_600_000}))
    bad = unique("bad")  # refused by Kafka: a Warning Event is due
    ns.topic(kafka_topic(bad, cluster, partitions=1, config={"cleanup.policy": "sometimes"}))
    ids = {name: ns.topic_ready(name)["status"]["topicId"] for name in names}
    ns.wait_condition("kafkatopics", bad, "False", "InvalidConfig")
    wait_until(lambda: events_by(ns, "kto-a"), timeout=30, what="kto-a's Warning Event")

    # Exactly one wrote: the leader's finalizers, statuses and Events; the standby nothing at all.
    assert metric(a, "kto_kube_writes_total") >= 2 * len(names)
    assert metric(b, "kto_kube_writes_total") == 0 and metric(b, "kto_kafka_admin_requests_total") == 0
    assert not events_by(ns, "kto-b")
    assert (metric(a, "kto_leader"), metric(b, "kto_leader")) == (1, 0)
    assert "Started kto" not in b.log_text()  # it never started: no LIST, no watch

    # The leader dies without a word; a topic is created meanwhile.
    a.stop(kill=True)
    killed = time.monotonic()
    later = unique("later")
    ns.topic(kafka_topic(later, cluster, partitions=3))
    wait_until(b.healthy, timeout=LEASE_DURATION + 30, what=f"kto-b to take over (log: {b.log})")
    took = time.monotonic() - killed
    # At most a lease duration since a's last renewal, a retry period, and b's requests on a busy machine.
    assert took < LEASE_DURATION + 2 * RETRY_PERIOD + 3, f"took over in {took:.1f}s"
    spec = lease_spec(env, candidates.lease)
    assert (spec.holder_identity, spec.lease_transitions) == (identity(b), 1)

    assert ns.topic_ready(later)["status"]["partitions"] == 3
    assert kafka_view.topic(later)[0] == 3
    assert metric(b, "kto_kube_writes_total") > 0 and metric(b, "kto_leader") == 1
    # What a created is intact: same topic ids, nothing recreated.
    for name in names:
        assert ns.topic_ready(name)["status"]["topicId"] == ids[name] == kafka_view.topic(name)[2]
    print(f"kto-b took over {took:.1f}s after kto-a was killed")


def test_users_under_two_processes_all_authenticate_and_a_clean_stop_hands_over_at_once(
        env: LocalEnv, candidates, ns) -> None:
    a, b = leader_and_standby(candidates)
    cluster = connect(env, ns)
    users = [unique("u") for _ in range(20)]
    for user in users:
        ns.create("kafkausers", kafka_user(user, cluster, acls=[]))  # a generated password each
    for user in users:
        ns.wait_condition("kafkausers", user, "True", "Reconciled", timeout=90)

    def all_authenticate() -> dict[str, str]:
        """Each user's password, from its application Secret, after checking that Kafka accepts it."""
        found = {}
        for user in users:
            password = app_password(ns, user)
            assert password and authenticates(as_user(env.kafka, user, password)), f"{user} cannot authenticate"
            found[user] = password
        return found

    passwords = all_authenticate()
    assert metric(b, "kto_kube_writes_total") == 0 and not events_by(ns, "kto-b")

    # A clean stop gives the Lease back: the standby leads at its next try, not a lease duration later.
    a.stop()
    stopped = time.monotonic()
    wait_until(b.healthy, timeout=LEASE_DURATION, what=f"kto-b to take over (log: {b.log})")
    took = time.monotonic() - stopped
    assert took < LEASE_DURATION - RETRY_PERIOD, f"took over in {took:.1f}s"
    assert "Released the leader Lease" in a.log_text()
    assert lease_spec(env, candidates.lease).holder_identity == identity(b)
    # The new leader resyncs the users and keeps their passwords: every Secret still works.
    wait_until(lambda: metric(b, "kto_reconciles_total") >= len(users), timeout=60,
               what="kto-b to reconcile the users")
    assert all_authenticate() == passwords
    print(f"kto-b took over {took:.1f}s after kto-a was stopped")
    # Leave no users behind for the session's kto to load at each of its later starts.
    for user in users:
        ns.delete("kafkausers", user)
    for user in users:
        ns.wait_gone("kafkausers", user)
