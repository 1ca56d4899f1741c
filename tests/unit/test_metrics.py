"""kto's own metrics where they are made: the Kafka gateway's timing, the work queues, the build info."""

from __future__ import annotations

import asyncio
import inspect
import re
import time
from pathlib import Path

import confluent_kafka
import pytest
from kto import __version__
from kto.api.domain import KafkaFailure
from kto.api.reasons import Reason
from kto.reconcile.batching import BatchQueue
from kto.telemetry import metrics
from prometheus_client import REGISTRY, generate_latest

FAILED = KafkaFailure(Reason.KAFKA_ERROR, "timed out", retriable=True)


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@metrics.timed_calls(KafkaFailure)
class Gateway:
    label = "ns/timed"

    async def create_topics(self, names: list[str]) -> dict[str, KafkaFailure | None]:
        return {n: FAILED if n.startswith("bad") else None for n in names}

    async def describe_cluster(self) -> KafkaFailure:
        return FAILED

    async def describe_acls(self) -> dict:
        raise RuntimeError("the client broke")

    async def _private(self) -> int:
        return 1


async def test_every_public_gateway_call_is_timed_and_its_failures_counted() -> None:
    g = Gateway()
    ops = ("create_topics", "describe_cluster", "describe_acls")
    before = {op: (sample("kto_kafka_request_duration_seconds_count", kafka_cluster="ns/timed", operation=op),
                   sample("kto_kafka_errors_total", kafka_cluster="ns/timed", operation=op)) for op in ops}
    assert await g.create_topics(["a", "bad1", "bad2"]) == {"a": None, "bad1": FAILED, "bad2": FAILED}
    assert await g.describe_cluster() is FAILED
    with pytest.raises(RuntimeError):
        await g.describe_acls()
    after = {op: (sample("kto_kafka_request_duration_seconds_count", kafka_cluster="ns/timed", operation=op),
                  sample("kto_kafka_errors_total", kafka_cluster="ns/timed", operation=op)) for op in ops}
    assert {op: (after[op][0] - before[op][0], after[op][1] - before[op][1]) for op in ops} == {
        "create_topics": (1, 2), "describe_cluster": (1, 1), "describe_acls": (1, 1)}
    assert await g._private() == 1
    assert REGISTRY.get_sample_value("kto_kafka_request_duration_seconds_count",
                                     {"kafka_cluster": "ns/timed", "operation": "_private"}) is None


def test_the_real_gateway_is_timed() -> None:
    from kto.kafka.gateway import KafkaGateway

    assert KafkaGateway.describe_topics.__wrapped__ is not None
    assert not hasattr(KafkaGateway.recent_client_error, "__wrapped__")


async def test_the_oldest_age_is_the_running_batch_or_the_longest_due_key() -> None:
    release = asyncio.Event()
    started = asyncio.Event()

    async def process(keys):
        started.set()
        await release.wait()
        return {}

    q = BatchQueue("t", process, window=0, labels=("topic", "ns/aging"))
    q.start()
    try:
        now = time.monotonic()
        assert q.oldest_age(now) == 0 and q.depth() == 0
        q.enqueue("a")
        q.enqueue("later", delay=3600)
        assert q.depth() == 2
        assert q.oldest_age(now + 100) == pytest.approx(100, abs=1)  # "later" is not due: it does not age
        await asyncio.wait_for(started.wait(), 10)
        assert q.depth() == 1
        assert q.oldest_age(time.monotonic() + 100) >= 100  # the running batch ages
        assert sample("kto_queue_depth", kind="topic", kafka_cluster="ns/aging") == 1
    finally:
        release.set()
        await q.stop()


async def test_a_failed_batch_counts_an_error_and_a_retry_per_resource() -> None:
    calls = asyncio.Event()

    async def process(keys):
        calls.set()
        raise RuntimeError("boom")

    labels = {"kind": "user", "kafka_cluster": "ns/failing"}
    errors = sample("kto_reconcile_errors_total", **labels, reason="BatchFailed")
    retries = sample("kto_retries_total", **labels)
    q = BatchQueue("t", process, window=0, labels=("user", "ns/failing"))
    q.start()
    try:
        q.enqueue("a")
        q.enqueue("b")
        await asyncio.wait_for(calls.wait(), 10)
        for _ in range(500):  # the counters move right after the batch raises
            if sample("kto_retries_total", **labels) > retries:
                break
            await asyncio.sleep(0.01)
    finally:
        await q.stop()
    assert sample("kto_reconcile_errors_total", **labels, reason="BatchFailed") == errors + 2
    assert sample("kto_retries_total", **labels) == retries + 2
    assert q.depth() == 2  # both wait for their retry


def test_build_info_names_kto_python_and_the_kafka_client() -> None:
    labels = {"version": __version__, "confluent_kafka": confluent_kafka.version()[0],
              "librdkafka": confluent_kafka.libversion()[0]}
    (line,) = [x for x in generate_latest().decode().splitlines() if x.startswith("kto_build_info{")]
    assert line.endswith(" 1.0") and all(f'{k}="{v}"' in line for k, v in labels.items())


# --- one vocabulary of the operation label ----------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[2]


def operation_metrics() -> dict[str, tuple[str, ...]]:
    """Every kto metric that has an ``operation`` label, with its label names."""
    return {c._name: c._labelnames for c in list(REGISTRY._collector_to_names)
            if "operation" in getattr(c, "_labelnames", ())}


def test_the_operations_are_exactly_the_gateways_public_calls_and_cover_the_port() -> None:
    from kto.kafka.gateway import KafkaGateway
    from kto.reconcile import ports

    public = {n for n, m in vars(KafkaGateway).items() if not n.startswith("_") and inspect.iscoroutinefunction(m)}
    assert public == set(metrics.KAFKA_OPERATIONS)
    assert len(metrics.KAFKA_OPERATIONS) == len(set(metrics.KAFKA_OPERATIONS))
    port = {n for n in vars(ports.TopicPort) | vars(ports.UserPort) | vars(ports.LagPort) if not n.startswith("_")}
    assert port <= set(metrics.KAFKA_OPERATIONS)


def test_every_kafka_metric_names_the_label_operation() -> None:
    assert set(operation_metrics()) == {"kto_kafka_admin_requests", "kto_kafka_request_duration_seconds",
                                        "kto_kafka_errors"}


def test_a_call_outside_the_vocabulary_is_refused_when_the_gateway_is_defined() -> None:
    with pytest.raises(TypeError, match="KAFKA_OPERATIONS"):
        @metrics.timed_calls(KafkaFailure)
        class Stray:
            async def alter_things(self) -> None: ...


async def test_requests_are_counted_under_the_operation_that_sent_them() -> None:
    @metrics.timed_calls(KafkaFailure)
    class Sender:
        label = "ns/vocabulary"

        async def describe_topics(self) -> None:
            metrics.count_request(self.label, "describe_topics")
            metrics.count_request(self.label, "describe_configs")

    await Sender().describe_topics()
    assert {(api, sample("kto_kafka_admin_requests_total", kafka_cluster="ns/vocabulary",
                         operation="describe_topics", api=api)) for api in ("describe_topics", "describe_configs")} \
        == {("describe_topics", 1.0), ("describe_configs", 1.0)}
    assert sample("kto_kafka_request_duration_seconds_count", kafka_cluster="ns/vocabulary",
                  operation="describe_topics") == 1
    with pytest.raises(RuntimeError, match="outside a timed gateway operation"):
        metrics.count_request("ns/vocabulary", "describe_topics")


def test_every_operation_value_in_the_alerts_dashboard_and_their_tests_is_in_the_vocabulary() -> None:
    files = [ROOT / "helm/kto/templates/prometheusrule.yaml", ROOT / "helm/kto/dashboards/kto.json",
             *sorted((ROOT / "tests/promrules").glob("*.yaml"))]
    used = set()
    for path in files:
        text = path.read_text()
        used |= set(re.findall(r'operation\s*[:=~]+\s*\\?"?([a-z_|]+)', text))
    values = {v for u in used for v in u.split("|")}
    assert values, "the parsing finds the operation values"
    assert values <= set(metrics.KAFKA_OPERATIONS), values - set(metrics.KAFKA_OPERATIONS)
