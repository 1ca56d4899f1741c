"""What the cluster probe reads beside the brokers, from real Kafka, through the gateway kto probes with: the
quotas of Kafka's default user entity, and the brokers' ``super.users``, which stock Kafka does not tell (KRaft
and ZooKeeper mode alike: it describes the key as sensitive, without its value), so kto must not take it for
"none"."""

from __future__ import annotations

import asyncio

import pytest
from kto.api.domain import ClusterFacts, KafkaFailure
from kto.api.quotas import QuotaChange
from kto.kafka.gateway import KafkaGateway

from tests.support.env import KafkaEndpoints, localenv, start_kafka_cluster

VERSIONS = localenv.read_versions()


async def probed(endpoints: KafkaEndpoints) -> tuple[KafkaGateway, ClusterFacts]:
    gateway = KafkaGateway(endpoints.client_config(), "test-facts", request_timeout=20)
    facts = await gateway.describe_cluster()
    assert isinstance(facts, ClusterFacts), facts
    return gateway, facts


def hidden(answer) -> bool:
    return isinstance(answer, KafkaFailure) and "describes super.users as sensitive" in answer.message \
        and "protectedPrincipals" in answer.message


async def test_kraft_brokers_hide_their_super_users(kafka_authz) -> None:
    """super.users is ``User:admin;User:ANONYMOUS`` on these brokers (hack/localenv.py); Kafka does not say so."""
    gateway, facts = await probed(kafka_authz)
    try:
        answer = await gateway.describe_super_users(facts.broker_ids)
        assert hidden(answer), answer
    finally:
        gateway.close()


async def test_brokers_without_an_authorizer_have_no_super_users(env) -> None:
    gateway, facts = await probed(env.kafka)
    try:
        assert await gateway.describe_super_users(facts.broker_ids) == frozenset()
    finally:
        gateway.close()


@pytest.fixture(scope="module")
def zookeeper_brokers(tmp_path_factory):
    """A single ZooKeeper-mode broker of the 3.x line, with AclAuthorizer and the same super users."""
    endpoints, procs = start_kafka_cluster(tmp_path_factory.mktemp("zk-facts"), nodes=1, authorizer=True,
                                           version=VERSIONS["KAFKA_VERSION_3X"], mode="zookeeper")
    yield endpoints
    for p in reversed(procs):
        p.stop()


@pytest.mark.compat
async def test_zookeeper_brokers_hide_their_super_users(zookeeper_brokers) -> None:
    gateway, facts = await probed(zookeeper_brokers)
    try:
        answer = await gateway.describe_super_users(facts.broker_ids)
        assert hidden(answer), answer
    finally:
        gateway.close()


async def test_a_broker_that_does_not_answer_is_a_failure_not_an_empty_set(kafka_authz) -> None:
    gateway, _facts = await probed(kafka_authz)
    try:
        failure = await gateway.describe_super_users([9999])  # no such broker
        assert isinstance(failure, KafkaFailure), failure
    finally:
        gateway.close()


async def test_the_default_user_quotas_kafka_has(kafka_authz) -> None:
    gateway, _facts = await probed(kafka_authz)
    try:
        before = await gateway.describe_user_quotas(default=True)
        assert not isinstance(before, KafkaFailure), before
        assert await gateway.alter_user_quotas([QuotaChange(None, {"producer_byte_rate": 4096.0})]) == {None: None}
        # The brokers answer from their metadata, which follows the controller's a moment later.
        await until(gateway, lambda q: q.get(None, {}).get("producer_byte_rate") == 4096.0)
    finally:
        await gateway.alter_user_quotas([QuotaChange(None, to_remove=("producer_byte_rate",))])
    try:
        await until(gateway, lambda q: "producer_byte_rate" not in q.get(None, {}))
    finally:
        gateway.close()


async def until(gateway: KafkaGateway, holds, timeout: float = 30.0) -> None:
    """Describe the default user quotas until ``holds(them)``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not holds(quotas := await gateway.describe_user_quotas(default=True)):
        assert loop.time() < deadline, f"the default user quotas are still {quotas}"
        await asyncio.sleep(0.2)
