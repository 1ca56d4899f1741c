"""Fixtures shared by all tiers; the tier marker follows the folder a test lives in."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.env import LocalEnv, acquire_env, start_kafka_cluster

TIERS = ("unit", "integration", "e2e")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        parts = Path(str(item.fspath)).parts
        for tier in TIERS:
            if tier in parts:
                item.add_marker(getattr(pytest.mark, tier))


@pytest.fixture(scope="session")
def env(tmp_path_factory: pytest.TempPathFactory) -> LocalEnv:
    """The local environment (apiserver + single-or-more-node Kafka), reused or started once."""
    test_env = acquire_env(tmp_path_factory.mktemp("kto-env"))
    yield test_env
    test_env.stop()


@pytest.fixture(scope="session")
def kafka3(env: LocalEnv, tmp_path_factory: pytest.TempPathFactory):
    """A three-node Kafka cluster: the environment's own if it has three nodes, else one started here."""
    if env.kafka.nodes >= 3:
        yield env.kafka
        return
    endpoints, procs = start_kafka_cluster(tmp_path_factory.mktemp("kafka3"), nodes=3)
    yield endpoints
    for p in reversed(procs):
        p.stop()


@pytest.fixture(scope="session")
def kafka_authz(env: LocalEnv, tmp_path_factory: pytest.TempPathFactory):
    """A single-node Kafka with the StandardAuthorizer (super users: admin and ANONYMOUS), for KafkaUsers' ACLs."""
    if env.kafka.authorizer:
        yield env.kafka
        return
    endpoints, procs = start_kafka_cluster(tmp_path_factory.mktemp("kafka-authz"), nodes=1, authorizer=True)
    yield endpoints
    for p in reversed(procs):
        p.stop()


@pytest.fixture(scope="session")
def kto(env: LocalEnv, tmp_path_factory: pytest.TempPathFactory):
    """The CRDs installed and one kto process running for the session, as a user would run it."""
    from tests.support.env import localenv
    from tests.support.operator import KtoProcess, install_crds

    # One operator per environment: a kto left running by `make demo` would race the one under test.
    procs = localenv.load_state(env.root)
    for p in procs:
        if p.name == "kto" and p.is_alive():
            print(f"stopping the environment's own kto (pid {p.pid}) for the test session")
            p.stop()
    if any(p.name == "kto" for p in procs):
        localenv.save_state(env.root, [p for p in procs if p.name != "kto"])
    install_crds(env)
    # Sweeps every 5 s: what the sweep does runs all through the suite (a failing sweep logs a Traceback).
    proc = KtoProcess(env, tmp_path_factory.mktemp("kto") / "kto.log", args=["--sweep-interval", "5"]).start()
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def sole_operator(kto):
    """The session's kto stopped for a module whose own kto processes must be the only operators (it would
    reconcile their objects too); it is back afterwards."""
    kto.stop()
    yield
    kto.start()


@pytest.fixture
def ns(env: LocalEnv):
    """A fresh namespace; at the end of the test its KafkaTopics are deleted (and waited for), then its KafkaUsers
    and KafkaClusters (``Resources.clean_up``)."""
    from kubernetes import client

    from tests.support.kube import admin_client
    from tests.support.resources import Resources, unique

    api = admin_client(env)
    name = unique("t")
    client.CoreV1Api(api).create_namespace({"metadata": {"name": name}})
    res = Resources(api, name)
    yield res
    res.clean_up()


@pytest.fixture
def kafka_view(env: LocalEnv):
    from tests.support.kafka import KafkaView

    return KafkaView(env.kafka.client_config())


@pytest.fixture
def cluster(env: LocalEnv, ns, kto):
    """A Ready KafkaCluster named ``kafka`` in the test's namespace, over SASL_PLAINTEXT with SCRAM-SHA-512."""
    from tests.support.resources import kafka_cluster

    ns.secret("kafka-admin", {"username": env.kafka.username, "password": env.kafka.password})
    ns.cluster(kafka_cluster("kafka", env.kafka, resyncIntervalSeconds=10))
    ns.wait_condition("kafkaclusters", "kafka", "True", "Connected")
    return "kafka"


@pytest.fixture
def authz(env, ns, kto, kafka_authz) -> str:
    """A Ready KafkaCluster ``authz`` in the test's namespace, on the Kafka with the StandardAuthorizer."""
    from tests.support.resources import kafka_cluster

    ns.secret("authz-admin", {"username": kafka_authz.username, "password": kafka_authz.password})
    ns.cluster(kafka_cluster("authz", kafka_authz, secret="authz-admin", resyncIntervalSeconds=10))
    ns.wait_condition("kafkaclusters", "authz", "True", "Connected", timeout=90)
    return "authz"


@pytest.fixture
def authz_view(kafka_authz):
    from tests.support.kafka import KafkaView

    return KafkaView(kafka_authz.client_config())  # PLAINTEXT: ANONYMOUS, a super user
