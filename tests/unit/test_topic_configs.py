"""Topic configs read through kafka-python without synonyms: what drift detection compares, nothing more."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from kto.api.domain import KafkaFailure
from kto.api.reasons import Reason
from kto.kafka.kpy import KafkaPython
from kto.telemetry import metrics

# Kafka's config sources: 1 DYNAMIC_TOPIC_CONFIG, 4 STATIC_BROKER_CONFIG, 5 DEFAULT_CONFIG.
OVERRIDE, STATIC, DEFAULT = 1, 4, 5


def entry(name: str, value: str | None, source: int, sensitive: bool = False) -> SimpleNamespace:
    return SimpleNamespace(name=name, value=value, config_source=source, is_sensitive=sensitive)


def result(topic: str, *configs: SimpleNamespace, error: int = 0) -> SimpleNamespace:
    return SimpleNamespace(resource_name=topic, error_code=error, error_message="no" if error else None,
                           configs=list(configs))


async def described(names: list[str], answer: object) -> dict:
    kpy = KafkaPython({"bootstrap.servers": "127.0.0.1:1"}, 1.0, lambda api: None)
    sent = []

    async def send(request):
        sent.append(request)
        if isinstance(answer, BaseException):
            raise answer
        return answer

    kpy._send = send
    token = metrics._OPERATION.set("describe_topics")
    try:
        out = await kpy.describe_topic_configs(names)
    finally:
        metrics._OPERATION.reset(token)
    if names:
        assert len(sent) == 1 and sent[0].include_synonyms is False and sent[0].include_documentation is False
        assert [r.resource_name for r in sent[0].resources] == names
    return out


@pytest.mark.parametrize(("configs", "overrides", "defaults"), [
    ([entry("retention.ms", "1000", OVERRIDE)], {"retention.ms": "1000"}, {}),
    ([entry("retention.ms", "604800000", DEFAULT)], {}, {"retention.ms": "604800000"}),
    ([entry("min.insync.replicas", "2", STATIC)], {}, {"min.insync.replicas": "2"}),
    ([entry("secret", None, DEFAULT, sensitive=True)], {}, {}),          # sensitive: no value to compare
    ([entry("secret", "x", DEFAULT, sensitive=True)], {}, {}),
    ([entry("unset", None, DEFAULT)], {}, {}),                             # unset: nothing inherited
    ([entry("cleanup.policy", "compact", OVERRIDE), entry("segment.ms", "1", DEFAULT)],
     {"cleanup.policy": "compact"}, {"segment.ms": "1"}),
])
async def test_overrides_and_inherited_values_are_sorted_by_source(configs, overrides, defaults) -> None:
    answer = SimpleNamespace(results=[result("t", *configs)])
    assert await described(["t"], answer) == {"t": (overrides, defaults)}


async def test_a_topic_in_error_or_left_out_fails_alone() -> None:
    answer = SimpleNamespace(results=[result("a", entry("retention.ms", "1", OVERRIDE)),
                                      result("b", error=29)])  # TOPIC_AUTHORIZATION_FAILED
    out = await described(["a", "b", "c"], answer)
    assert out["a"] == ({"retention.ms": "1"}, {})
    assert isinstance(out["b"], KafkaFailure) and out["b"].reason == Reason.AUTHORIZATION_FAILED
    assert isinstance(out["c"], KafkaFailure) and "left it out" in out["c"].message


async def test_a_request_that_fails_fails_every_topic() -> None:
    out = await described(["a", "b"], TimeoutError("no answer"))
    assert set(out) == {"a", "b"} and all(isinstance(v, KafkaFailure) and v.retriable for v in out.values())


async def test_no_topics_no_request() -> None:
    assert await described([], SimpleNamespace(results=[])) == {}
