"""KafkaCluster spec.brokerConfig: the pure plan, and the cluster refresh with a fake Kafka (status, Events)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from kto.api import names
from kto.api.conditions import find
from kto.api.domain import KafkaFailure
from kto.api.models import KafkaClusterSpec
from kto.api.reasons import Reason
from kto.clusters.broker_config import CLUSTER_WIDE, config_strings, plan_broker_config, refusal_of
from kto.clusters.registry import ClusterRegistry, _Cluster
from kto.reconcile.cluster_state import Connected
from kto.reconcile.status import StatusWriter

from tests.support.fakes import FakeGateway, FakeKube

KEY = ("platform", "kafka")
SEED = {"log.retention.ms": 604800000, "log.segment.bytes": 1073741824}


@pytest.mark.parametrize("key", ["log.dirs", "broker.id", "process.roles", "node.id", "listeners",
                                 "log.retention.hours", "log.retention.check.interval.ms",
                                 "auto.create.topics.enable", "offsets.topic.replication.factor"])
def test_static_and_per_broker_keys_are_refused_naming_the_key(key: str) -> None:
    why = refusal_of(key)
    assert why is not None and why.startswith(f"{key} is not a cluster-wide dynamic broker config")
    assert "belongs in the broker's properties" in why
    assert "log.retention.ms" in (refusal_of("log.retention.hours") or "")


def test_the_seeds_dynamic_keys_are_cluster_wide() -> None:
    assert {"log.retention.ms", "log.segment.bytes", "min.insync.replicas", "message.max.bytes"} <= CLUSTER_WIDE


def test_values_are_strings_for_kafka() -> None:
    assert config_strings({"a": 1, "b": True, "c": "x"}) == {"a": "1", "b": "true", "c": "x"}


@pytest.mark.parametrize(("desired", "observed", "recorded", "overwrite", "to_set", "to_delete", "keys", "refused"), [
    ({"log.segment.bytes": "1"}, {}, (), False, {"log.segment.bytes": "1"}, (), ("log.segment.bytes",), 0),
    ({"log.segment.bytes": "1"}, {"log.segment.bytes": "1"}, ("log.segment.bytes",), False, {}, (),
     ("log.segment.bytes",), 0),
    # set by hand to another value: refused unless overwrite
    ({"log.segment.bytes": "1"}, {"log.segment.bytes": "2"}, (), False, {}, (), (), 1),
    ({"log.segment.bytes": "1"}, {"log.segment.bytes": "2"}, (), True, {"log.segment.bytes": "1"}, (),
     ("log.segment.bytes",), 0),
    # set by hand to the spec's value: left as it is, and not kto's to remove later
    ({"log.segment.bytes": "1"}, {"log.segment.bytes": "1"}, (), False, {}, (), (), 0),
    # kto's key left the spec: removed; someone else's key: untouched
    ({}, {"log.segment.bytes": "1", "message.max.bytes": "9"}, ("log.segment.bytes",), False, {},
     ("log.segment.bytes",), (), 0),
    # one static key: nothing at all is written, the record is kept
    ({"log.segment.bytes": "1", "log.dirs": "/x"}, {}, ("message.max.bytes",), False, {}, (),
     ("message.max.bytes",), 1),
    # a static key Kafka has with another value: refused once, as static (not also as set by hand)
    ({"log.dirs": "/x"}, {"log.dirs": "/y"}, (), False, {}, (), (), 1),
    # two keys set by hand: each refused
    ({"log.segment.bytes": "1", "message.max.bytes": "2"}, {"log.segment.bytes": "3", "message.max.bytes": "4"},
     (), False, {}, (), (), 2),
])
def test_plan_broker_config(desired, observed, recorded, overwrite, to_set, to_delete, keys, refused) -> None:
    plan = plan_broker_config(desired, observed, recorded, overwrite)
    assert (dict(plan.to_set), plan.to_delete, plan.keys, len(plan.refused)) == (to_set, to_delete, keys, refused)


def test_a_changed_key_of_ktos_is_drift() -> None:
    plan = plan_broker_config({"log.segment.bytes": "1"}, {"log.segment.bytes": "5"}, ("log.segment.bytes",))
    assert dict(plan.drift) == {"log.segment.bytes": "5"}


# --- the cluster refresh ------------------------------------------------------------------------------------


def registry() -> tuple[ClusterRegistry, FakeKube, FakeGateway]:
    kube, kafka = FakeKube(), FakeGateway()
    writer = StatusWriter(kube, lambda: datetime(2025, 5, 1, tzinfo=UTC))
    return ClusterRegistry(kube, writer, gateway_factory=lambda conf, label: kafka), kube, kafka


def cluster_body(gen: int = 1, annotations: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": names.API_VERSION, "kind": names.CLUSTER_KIND,
            "metadata": {"name": KEY[1], "namespace": KEY[0], "generation": gen, "uid": "u",
                         "annotations": annotations or {}},
            "spec": {"bootstrapServers": ["kafka:9092"], **spec}}


async def refreshed(reg: ClusterRegistry, body: dict[str, Any]):
    """The cluster's state after one refresh with this body (no background task)."""
    state = reg._clusters.get(KEY)
    if state is None:
        state = reg._clusters[KEY] = _Cluster(KEY)
    if state.body is not None:
        body.setdefault("status", state.body.get("status"))  # what the watch delivers: the status kto wrote
    state.body = body
    state.spec = KafkaClusterSpec.model_validate(body["spec"])
    await reg.refresh(state)
    return state


def condition(kube: FakeKube) -> tuple[str, str, str]:
    cond = find(kube.statuses[KEY]["conditions"])
    return cond["status"], cond["reason"], cond["message"]


async def test_broker_config_is_set_recorded_corrected_and_removed() -> None:
    reg, kube, kafka = registry()
    kafka.broker_defaults["message.max.bytes"] = "2000000"  # someone's own
    body = cluster_body(brokerConfig=SEED)
    state = await refreshed(reg, body)
    assert kafka.broker_defaults == {"log.retention.ms": "604800000", "log.segment.bytes": "1073741824",
                                     "message.max.bytes": "2000000"}
    assert condition(kube)[:2] == ("True", "Connected")
    assert kube.statuses[KEY]["brokerConfigKeys"] == ["log.retention.ms", "log.segment.bytes"]
    # validated first, then applied
    assert [d[2] for m, d in kafka.calls if m == "alter_broker_defaults"] == [True, False]
    assert isinstance(state.state(), Connected)

    kafka.broker_defaults["log.segment.bytes"] = "536870912"  # out of band
    await refreshed(reg, body)
    assert kafka.broker_defaults["log.segment.bytes"] == "1073741824"
    assert "log.segment.bytes 536870912 -> 1073741824" in kube.messages_of(KEY, "DriftCorrected")[0]

    requests = kafka.requests["alter_broker_defaults"]
    await refreshed(reg, body)  # in sync: described only
    assert kafka.requests["alter_broker_defaults"] == requests

    body = cluster_body(gen=2, brokerConfig={"log.retention.ms": 604800000})
    await refreshed(reg, body)
    assert kafka.broker_defaults == {"log.retention.ms": "604800000", "message.max.bytes": "2000000"}
    assert kube.statuses[KEY]["brokerConfigKeys"] == ["log.retention.ms"]
    await refreshed(reg, cluster_body(gen=3))
    assert kafka.broker_defaults == {"message.max.bytes": "2000000"}
    assert "brokerConfigKeys" not in kube.statuses[KEY]


async def test_a_static_key_is_refused_and_nothing_is_written() -> None:
    reg, kube, kafka = registry()
    state = await refreshed(reg, cluster_body(brokerConfig={**SEED, "log.retention.check.interval.ms": 300000}))
    assert kafka.broker_defaults == {}
    assert kafka.requests["alter_broker_defaults"] == 0
    ready, reason, message = condition(kube)
    assert (ready, reason) == ("False", "BrokerConfigRefused")
    assert "log.retention.check.interval.ms is not a cluster-wide dynamic broker config" in message
    assert "kto changed no broker config" in message
    assert kube.events_of(KEY) == [("Warning", "BrokerConfigRefused")]
    assert isinstance(state.state(), Connected)  # topics and users go on
    await refreshed(reg, cluster_body(gen=2, brokerConfig=SEED))
    assert condition(kube)[:2] == ("True", "Connected")
    assert kafka.broker_defaults == {"log.retention.ms": "604800000", "log.segment.bytes": "1073741824"}


async def test_a_value_the_brokers_reject_is_refused_and_nothing_is_written() -> None:
    reg, kube, kafka = registry()
    kafka.rejected_broker_configs["log.segment.bytes"] = "Invalid value -1 for configuration log.segment.bytes"
    await refreshed(reg, cluster_body(brokerConfig={"log.retention.ms": 1000, "log.segment.bytes": -1}))
    assert kafka.broker_defaults == {}
    ready, reason, message = condition(kube)
    assert (ready, reason) == ("False", "BrokerConfigRefused")
    assert "Invalid value -1 for configuration log.segment.bytes" in message


async def test_a_key_set_by_hand_is_taken_over_only_with_the_annotation() -> None:
    reg, kube, kafka = registry()
    kafka.broker_defaults["log.segment.bytes"] = "536870912"
    await refreshed(reg, cluster_body(brokerConfig=SEED))
    assert kafka.broker_defaults == {"log.segment.bytes": "536870912"}
    assert "log.segment.bytes was set by hand to 536870912" in condition(kube)[2]
    await refreshed(reg, cluster_body(brokerConfig=SEED, annotations={names.ANNOTATION_ADOPT: "overwrite"}))
    assert kafka.broker_defaults["log.segment.bytes"] == "1073741824"
    assert condition(kube)[:2] == ("True", "Connected")


async def test_a_transient_failure_says_so_and_keeps_the_record() -> None:
    reg, kube, kafka = registry()
    body = cluster_body(brokerConfig=SEED)
    await refreshed(reg, body)
    kafka.fail("describe_broker_defaults", None, KafkaFailure(Reason.KAFKA_ERROR, "timed out", retriable=True))
    await refreshed(reg, body)
    assert condition(kube)[:2] == ("False", "KafkaError")
    assert kube.statuses[KEY]["brokerConfigKeys"] == ["log.retention.ms", "log.segment.bytes"]


async def test_no_broker_config_costs_no_request() -> None:
    reg, _kube, kafka = registry()
    await refreshed(reg, cluster_body())
    assert kafka.requests["describe_broker_defaults"] == 0


async def test_outcomes_are_counted_as_cluster_reconciles() -> None:
    from prometheus_client import REGISTRY

    def count(reason: str) -> float:
        return REGISTRY.get_sample_value("kto_reconciles_total", {"kind": "cluster", "kafka_cluster": "platform/kafka",
                                                                  "reason": reason}) or 0.0

    reg, _kube, _kafka = registry()
    refused, connected = count("BrokerConfigRefused"), count("Connected")
    await refreshed(reg, cluster_body(brokerConfig={"log.dirs": "/x"}))
    assert count("BrokerConfigRefused") == refused + 1
    assert REGISTRY.get_sample_value("kto_cluster_ready", {"namespace": "platform", "name": "kafka"}) == 0
    await refreshed(reg, cluster_body(gen=2, brokerConfig=SEED))
    assert count("Connected") == connected + 1
    assert REGISTRY.get_sample_value("kto_cluster_ready", {"namespace": "platform", "name": "kafka"}) == 1


def test_the_media_gateway_example_asks_only_for_dynamic_keys() -> None:
    from pathlib import Path

    import yaml

    path = Path(__file__).parents[2] / "manifests/examples/media-gateway/base/kafkacluster.yaml"
    [cluster] = [d for d in yaml.safe_load_all(path.read_text()) if d["kind"] == "KafkaCluster"]
    spec = KafkaClusterSpec.model_validate(cluster["spec"])
    assert config_strings(spec.brokerConfig) == {"log.retention.ms": "604800000", "log.segment.bytes": "1073741824"}
    assert all(refusal_of(k) is None for k in spec.brokerConfig)
    assert all(refusal_of(k) is not None for k in ("auto.create.topics.enable", "log.retention.check.interval.ms"))


# --- spec.defaultUserQuotas, on the same refresh ----------------------------------------------------------


async def test_default_user_quotas_are_set_recorded_corrected_and_removed() -> None:
    reg, kube, kafka = registry()
    kafka.quotas["svc"] = {"producer_byte_rate": 5.0}  # a user's own quota: another entity, untouched
    body = cluster_body(defaultUserQuotas={"producerByteRate": 1048576, "consumerByteRate": 2097152})
    await refreshed(reg, body)
    assert kafka.quotas[None] == {"producer_byte_rate": 1048576.0, "consumer_byte_rate": 2097152.0}
    assert kube.statuses[KEY]["defaultUserQuotaKeys"] == ["consumer_byte_rate", "producer_byte_rate"]
    assert condition(kube)[:2] == ("True", "Connected")
    kafka.quotas[None]["producer_byte_rate"] = 1.0
    await refreshed(reg, body)
    assert kafka.quotas[None]["producer_byte_rate"] == 1048576.0
    assert "producer_byte_rate 1 -> 1048576" in kube.messages_of(KEY, "DriftCorrected")[0]
    await refreshed(reg, cluster_body(gen=2))
    assert kafka.quotas[None] == {} and kafka.quotas["svc"] == {"producer_byte_rate": 5.0}
    assert "defaultUserQuotaKeys" not in kube.statuses[KEY]


async def test_a_default_quota_set_by_hand_is_refused_unless_overwrite() -> None:
    reg, kube, kafka = registry()
    kafka.quotas[None] = {"producer_byte_rate": 5.0}
    body = cluster_body(defaultUserQuotas={"producerByteRate": 1048576})
    state = await refreshed(reg, body)
    ready, reason, message = condition(kube)
    assert (ready, reason) == ("False", "DefaultQuotasRefused")
    assert "producer_byte_rate of the default user quota was set by hand to 5" in message
    assert kafka.quotas[None] == {"producer_byte_rate": 5.0} and kafka.requests["alter_user_quotas"] == 0
    assert isinstance(state.state(), Connected)
    await refreshed(reg, cluster_body(defaultUserQuotas={"producerByteRate": 1048576},
                                      annotations={names.ANNOTATION_ADOPT: "overwrite"}))
    assert kafka.quotas[None] == {"producer_byte_rate": 1048576.0}
    assert condition(kube)[:2] == ("True", "Connected")
