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
