"""What the cluster probe learns beside the brokers: the brokers' super users (parsed from ``super.users``) and
the quotas of Kafka's default user entity; a read that fails keeps what the last probe read."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from kto.api import names
from kto.api.domain import ClusterFacts, KafkaFailure
from kto.api.models import KafkaClusterSpec
from kto.api.reasons import Reason
from kto.clusters.registry import ClusterRegistry, _Cluster
from kto.kafka.cluster import super_users_of
from kto.reconcile.cluster_state import Connected
from kto.reconcile.status import StatusWriter

from tests.support.fakes import FakeGateway, FakeKube

KEY = ("platform", "kafka")
DOWN = KafkaFailure(Reason.KAFKA_ERROR, "describing: timed out", retriable=True)


@pytest.mark.parametrize(("value", "users"), [
    ("User:admin;User:kto", {"admin", "kto"}),
    (" User:admin ; User:kto ;", {"admin", "kto"}),
    ("User: admin", {"admin"}),  # over-protects rather than misses: Kafka would take " admin" literally
    ("User:ANONYMOUS", {"ANONYMOUS"}),
    ("", set()),
    (None, set()),
    (";;", set()),
    ("User:", set()),
    ("Group:ops;User:admin", {"admin"}),  # principals of another type are not Kafka users
    ("user:admin;admin;ServiceAccount:x", set()),  # the type is case-sensitive; no type, no principal
    ("User:CN=broker,OU=kafka", {"CN=broker,OU=kafka"}),  # a TLS principal: the name holds ',' and '='
    ("User:a:b", {"a:b"}),  # the name is everything after the first ':'
])
def test_super_users_are_the_user_names_of_super_users(value, users) -> None:
    assert super_users_of(value) == frozenset(users)


def test_facts_without_the_new_fields_build_as_before() -> None:
    facts = ClusterFacts("id", 1, (1, 2))
    assert facts.super_users == frozenset() and facts.default_user_quotas is None


# --- the probe ------------------------------------------------------------------------------------------


def registry() -> tuple[ClusterRegistry, FakeGateway]:
    kube, kafka = FakeKube(), FakeGateway()
    writer = StatusWriter(kube, lambda: datetime(2025, 5, 1, tzinfo=UTC))
    return ClusterRegistry(kube, writer, gateway_factory=lambda conf, label: kafka), kafka


async def probed(reg: ClusterRegistry, **spec) -> ClusterFacts:
    state = reg._clusters.get(KEY)
    if state is None:
        state = reg._clusters[KEY] = _Cluster(KEY)
    body = {"apiVersion": names.API_VERSION, "kind": names.CLUSTER_KIND,
            "metadata": {"name": KEY[1], "namespace": KEY[0], "generation": 1, "uid": "u"},
            "spec": {"bootstrapServers": ["kafka:9092"], **spec}, "status": (state.body or {}).get("status")}
    state.body = body
    state.spec = KafkaClusterSpec.model_validate(body["spec"])
    await reg.refresh(state)
    snap = reg.snapshot(KEY)
    assert isinstance(snap, Connected), snap
    return snap.facts


async def test_the_probe_reads_super_users_and_default_quotas() -> None:
    reg, kafka = registry()
    kafka.super_users = {"admin", "ANONYMOUS"}
    kafka.quotas[None] = {"producer_byte_rate": 1048576.0}
    kafka.quotas["svc"] = {"producer_byte_rate": 5.0}  # a named user's: not the default entity
    facts = await probed(reg)
    assert facts.super_users == {"admin", "ANONYMOUS"}
    assert dict(facts.default_user_quotas) == {"producer_byte_rate": 1048576.0}
    assert [d for m, d in kafka.calls if m == "describe_super_users"] == [kafka.brokers]


async def test_no_default_quotas_is_known_and_empty() -> None:
    reg, _kafka = registry()
    facts = await probed(reg)
    assert facts.default_user_quotas == {} and facts.super_users == frozenset()


async def test_a_failed_read_keeps_the_last_value_and_fails_no_probe() -> None:
    reg, kafka = registry()
    kafka.super_users = {"admin"}
    kafka.quotas[None] = {"consumer_byte_rate": 100.0}
    await probed(reg)
    kafka.fail("describe_super_users", None, DOWN)
    kafka.fail("describe_user_quotas", None, DOWN)
    kafka.super_users = {"admin", "ops"}
    facts = await probed(reg)  # still Connected
    assert facts.super_users == {"admin"} and dict(facts.default_user_quotas) == {"consumer_byte_rate": 100.0}
    kafka.heal("describe_super_users", None)
    kafka.heal("describe_user_quotas", None)
    facts = await probed(reg)
    assert facts.super_users == {"admin", "ops"}


async def test_a_first_read_that_fails_leaves_the_quotas_unknown() -> None:
    reg, kafka = registry()
    kafka.fail("describe_user_quotas", None, DOWN)
    facts = await probed(reg)
    assert facts.default_user_quotas is None


async def test_default_quotas_kto_sets_are_the_facts_at_once_with_one_describe() -> None:
    reg, kafka = registry()
    facts = await probed(reg, defaultUserQuotas={"producerByteRate": 2048})
    assert kafka.quotas[None] == {"producer_byte_rate": 2048.0}
    assert dict(facts.default_user_quotas) == {"producer_byte_rate": 2048.0}
    assert kafka.requests["describe_user_quotas"] == 1  # the probe's read serves the convergence
    facts = await probed(reg)  # the spec no longer asks: kto removes the key it set
    assert dict(facts.default_user_quotas) == {}


# --- the gateway's reading of one broker's answer ----------------------------------------------------------


class Configs:
    """An admin client whose DescribeConfigs of a broker answers ``entries`` (or raises ``error``)."""

    def __init__(self, entries: dict | None = None, error: Exception | None = None):
        self.entries, self.error, self.asked = entries or {}, error, []

    def describe_configs(self, resources, request_timeout=None):
        from concurrent.futures import Future

        self.asked += [r.name for r in resources]
        future: Future = Future()
        if self.error is not None:
            future.set_exception(self.error)
        else:
            future.set_result(self.entries)
        return {resources[0]: future}

    def poll(self, timeout):
        return 0


@pytest.fixture
def gateway():
    from kto.kafka.gateway import KafkaGateway

    gw = KafkaGateway({"bootstrap.servers": "127.0.0.1:1"}, "test-facts", request_timeout=1)
    yield gw
    gw.close()


def entry(value: str | None, sensitive: bool = False):
    from confluent_kafka.admin import ConfigEntry

    return ConfigEntry("super.users", value, is_sensitive=sensitive)


async def test_a_readable_super_users_is_parsed(gateway) -> None:
    gateway.admin.client = Configs({"super.users": entry("User:admin; User:kto")})
    assert await gateway.describe_super_users([3, 1]) == {"admin", "kto"}
    assert gateway.admin.client.asked == ["3"]  # one broker asked


async def test_no_super_users_key_is_none(gateway) -> None:
    gateway.admin.client = Configs({"authorizer.class.name": entry("")})
    assert await gateway.describe_super_users([1]) == frozenset()


async def test_a_hidden_super_users_is_unknown_not_empty(gateway) -> None:
    """What stock Kafka answers: the key, marked sensitive, without its value."""
    gateway.admin.client = Configs({"super.users": entry(None, sensitive=True)})
    answer = await gateway.describe_super_users([1])
    assert isinstance(answer, KafkaFailure) and "protectedPrincipals" in answer.message


async def test_a_broker_that_fails_is_followed_by_the_next_but_not_a_refusal(gateway) -> None:
    from confluent_kafka import KafkaError, KafkaException

    gateway.admin.client = Configs(error=KafkaException(KafkaError(KafkaError._TRANSPORT, "down")))
    assert isinstance(await gateway.describe_super_users([1, 2, 3, 4]), KafkaFailure)
    assert gateway.admin.client.asked == ["1", "2", "3"]  # at most three brokers
    gateway.admin.client = Configs(error=KafkaException(KafkaError(KafkaError.CLUSTER_AUTHORIZATION_FAILED, "no")))
    answer = await gateway.describe_super_users([1, 2])
    assert answer.reason == Reason.AUTHORIZATION_FAILED and gateway.admin.client.asked == ["1"]
