"""Consumer lag and topic size: the pure sums, and the collector's gauges (which series appear and go)."""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

import pytest
from kto.api.domain import KafkaFailure, ObservedTopic
from kto.api.reasons import Reason
from kto.ops import lag
from kto.telemetry import metrics
from prometheus_client import REGISTRY

FAIL = KafkaFailure(Reason.KAFKA_ERROR, "boom", retriable=True)


def topic(name: str, ready: str | None = "True", topic_name: str | None = None) -> dict:
    conditions = [{"type": "Ready", "status": ready}] if ready is not None else []
    spec = {"clusterRef": {"name": "c"}} | ({"topicName": topic_name} if topic_name else {})
    return {"metadata": {"namespace": "ns", "name": name}, "spec": spec, "status": {"conditions": conditions}}


@pytest.mark.parametrize(("bodies", "expected"), [
    ([topic("a"), topic("b")], {"a", "b"}),
    ([topic("a"), topic("b", "False"), topic("c", None)], {"a"}),   # not Ready, no status yet: not managed
    ([topic("my-topic", topic_name="My_Topic")], {"My_Topic"}),      # the Kafka name
    ([None, {"metadata": {"name": "x"}}], set()),                    # gone from the store, no status at all
])
def test_managed_topics_are_the_ready_ones(bodies, expected) -> None:
    assert lag.managed_topics(bodies) == expected


@pytest.mark.parametrize(("replicas", "topics", "expected"), [
    ([("a", 0, 100), ("a", 1, 50)], ["a"], {"a": 150}),
    ([("a", 0, 100), ("a", 0, 100), ("a", 0, 90)], ["a"], {"a": 290}),  # three replicas: all on disk
    ([("a", 0, 10), ("other", 0, 999)], ["a", "b"], {"a": 10, "b": 0}),  # unmanaged left out; no replica: 0
    ([("a", 0, -1)], ["a"], {"a": 0}),
])
def test_topic_size_is_the_sum_of_every_replica(replicas, topics, expected) -> None:
    assert lag.topic_sizes(replicas, topics) == expected


@pytest.mark.parametrize(("ends", "partitions", "expected"), [
    ({("a", 0): 5, ("a", 1): 7}, {"a": 2}, {("a", 0): 5, ("a", 1): 7}),
    ({("a", 0): 5}, {"a": 2}, {}),                                       # a partition missing: the topic is out
    ({("a", 0): 5, ("a", 1): FAIL, ("b", 0): 3}, {"a": 2, "b": 1}, {("b", 0): 3}),
    ({("a", 0): -1}, {"a": 1}, {}),
])
def test_only_topics_whose_every_partition_answered_count(ends, partitions, expected) -> None:
    assert lag.complete_offsets(ends, partitions) == expected


def test_end_offsets_are_summed_per_topic() -> None:
    assert lag.end_offset_sums({("a", 0): 5, ("a", 1): 7, ("b", 0): 0}) == {"a": 12, "b": 0}


@pytest.mark.parametrize(("ends", "committed", "expected"), [
    ({("a", 0): 10, ("a", 1): 10}, {"g": {("a", 0): 4, ("a", 1): 10}}, {("a", "g"): 6}),
    ({("a", 0): 10}, {"g": {("a", 0): 10}}, {("a", "g"): 0}),                       # caught up: 0, not absent
    ({("a", 0): 10}, {"g": {("a", 0): 12}}, {("a", "g"): 0}),                       # ahead (truncated log): 0
    ({("a", 0): 10}, {"g": {("other", 0): 1}}, {}),                                 # unmanaged topic: nothing
    ({("a", 0): 10}, {"g": {("a", 0): -1}}, {}),                                    # no committed offset
    ({("a", 0): 10, ("b", 0): 3}, {"g": {("a", 0): 1}, "h": {("a", 0): 2, ("b", 0): 0}},
     {("a", "g"): 9, ("a", "h"): 8, ("b", "h"): 3}),
    ({("a", 0): 10, ("a", 1): 10}, {"g": {("a", 0): 4}}, {("a", "g"): 6}),          # only partitions it committed on
])
def test_lag_is_end_minus_committed_over_the_partitions_read(ends, committed, expected) -> None:
    assert lag.group_lags(ends, committed) == expected


@pytest.mark.parametrize(("previous", "current", "expected"), [
    ({("a",), ("b",)}, {("a",)}, {("b",)}),
    (set(), {("a",)}, set()),
    ({("a", "g")}, {("a", "h")}, {("a", "g")}),
])
def test_series_that_disappear_are_removed(previous, current, expected) -> None:
    assert lag.stale(previous, current) == expected


# --- the collector --------------------------------------------------------------------------------


class LagGateway:
    """What the collector asks of a gateway, with one broker's answers; ``fail`` makes a step fail."""

    def __init__(self):
        self.partitions = {"a": 2, "b": 1, "unmanaged": 1}
        self.ends = {("a", 0): 10, ("a", 1): 10, ("b", 0): 4, ("unmanaged", 0): 100}
        self.sizes = [("a", 0, 300), ("a", 1, 200), ("b", 0, 50), ("unmanaged", 0, 9999)]
        self.committed = {"g": {("a", 0): 7, ("a", 1): 10, ("unmanaged", 0): 1}, "other": {("unmanaged", 0): 1}}
        self.fail: set[str] = set()
        self.asked: list[str] = []

    async def describe_topics(self, names, configs=True):
        self.asked.append("describe_topics")
        if "describe" in self.fail:
            return {n: FAIL for n in names}
        return {n: ObservedTopic(n, None, self.partitions[n], 1, MappingProxyType({}), MappingProxyType({}))
                if n in self.partitions else None for n in names}

    async def describe_log_dirs(self, partitions):
        self.asked.append("describe_log_dirs")
        return FAIL if "sizes" in self.fail else [r for r in self.sizes if r[0] in partitions]

    async def list_end_offsets(self, partitions):
        self.asked.append("list_offsets")
        return FAIL if "ends" in self.fail else {tp: o for tp, o in self.ends.items() if tp[0] in partitions}

    async def list_groups(self):
        self.asked.append("list_groups")
        return sorted(self.committed)

    async def list_committed_offsets(self, groups):
        self.asked.append("list_group_offsets")
        return {g: FAIL if g in self.fail else self.committed[g] for g in groups}


@dataclass
class Snap:
    gateway: object
    exists: bool = True


KEY = ("lagns", "lagcluster")
CLUSTER = "lagns/lagcluster"


def series(name: str) -> dict[tuple, float]:
    out = {}
    for family in REGISTRY.collect():
        for s in family.samples:
            if s.name == name and s.labels.get("kafka_cluster") == CLUSTER:
                out[tuple(v for k, v in sorted(s.labels.items()) if k != "kafka_cluster")] = s.value
    return out


@pytest.fixture
def collector():
    gateway = LagGateway()
    topics = {"a": topic("a"), "b": topic("b")}
    snap = {KEY: Snap(gateway)}
    c = lag.LagCollector(snap.get, lambda key: list(topics.values()), interval=60)
    yield c, gateway, topics, snap
    c.forget(KEY)


async def test_collector_exports_size_end_offsets_and_lag_of_managed_topics_only(collector) -> None:
    c, gateway, _topics, _snap = collector
    await c.collect_once(KEY)
    assert series("kto_topic_size_bytes") == {("a",): 500, ("b",): 50}
    assert series("kto_topic_end_offsets") == {("a",): 20, ("b",): 4}
    # (group, topic) in label order: the group "other" reads only an unmanaged topic and never appears.
    assert series("kto_consumer_group_lag") == {("g", "a"): 3}
    assert sorted(gateway.asked) == sorted(["describe_topics", "describe_log_dirs", "list_offsets", "list_groups",
                                            "list_group_offsets"])


async def test_series_of_a_topic_no_longer_managed_are_removed(collector) -> None:
    c, _gateway, topics, _snap = collector
    await c.collect_once(KEY)
    topics["a"] = topic("a", "False")
    await c.collect_once(KEY)
    assert series("kto_topic_size_bytes") == {("b",): 50}
    assert series("kto_consumer_group_lag") == {}
    del topics["b"]
    await c.collect_once(KEY)
    assert series("kto_topic_end_offsets") == {}


async def test_a_failing_step_keeps_its_series_and_counts_an_error(collector) -> None:
    c, gateway, _topics, _snap = collector
    await c.collect_once(KEY)
    errors = REGISTRY.get_sample_value("kto_lag_collection_errors_total",
                                       {"kafka_cluster": CLUSTER, "step": "describe_log_dirs"}) or 0
    gateway.fail.add("sizes")
    gateway.committed["g"] = {("a", 0): 10, ("a", 1): 10}
    await c.collect_once(KEY)
    assert series("kto_topic_size_bytes") == {("a",): 500, ("b",): 50}   # as before
    assert series("kto_consumer_group_lag") == {("g", "a"): 0}           # the other steps went on
    assert REGISTRY.get_sample_value("kto_lag_collection_errors_total",
                                     {"kafka_cluster": CLUSTER, "step": "describe_log_dirs"}) == errors + 1


async def test_a_failed_describe_keeps_every_series(collector) -> None:
    c, gateway, _topics, _snap = collector
    await c.collect_once(KEY)
    gateway.fail.add("describe")
    await c.collect_once(KEY)
    assert series("kto_topic_size_bytes") == {("a",): 500, ("b",): 50}
    assert series("kto_consumer_group_lag") == {("g", "a"): 3}
    assert gateway.asked.count("describe_log_dirs") == 1  # nothing else was asked the second time


async def test_a_group_that_fails_alone_loses_only_its_own_lag(collector) -> None:
    c, gateway, _topics, _snap = collector
    gateway.committed["h"] = {("b", 0): 1}
    gateway.fail.add("g")
    await c.collect_once(KEY)
    assert series("kto_consumer_group_lag") == {("h", "b"): 3}


async def test_a_cluster_not_connected_is_not_asked_and_a_gone_one_loses_its_series(collector) -> None:
    c, gateway, _topics, snap = collector
    await c.collect_once(KEY)
    snap[KEY] = Snap(None)
    gateway.asked.clear()
    assert await c.collect_once(KEY) is None and gateway.asked == []
    assert series("kto_topic_size_bytes") != {}
    del snap[KEY]
    c.on_cluster(KEY)  # the registry tells its listeners when a cluster is gone
    assert series("kto_topic_size_bytes") == {} and series("kto_consumer_group_lag") == {}


async def test_no_managed_topics_means_no_kafka_requests(collector) -> None:
    c, gateway, topics, _snap = collector
    topics.clear()
    await c.collect_once(KEY)
    assert gateway.asked == []


async def test_one_task_per_cluster_and_stop_ends_them(collector) -> None:
    c, _gateway, _topics, _snap = collector
    c.on_cluster(KEY)
    c.on_cluster(KEY)
    assert len(c._tasks) == 1
    await c.stop()
    assert c._tasks == {}


def test_the_gauges_have_the_agreed_names_and_labels() -> None:
    assert metrics.TOPIC_SIZE._name == "kto_topic_size_bytes"
    assert metrics.TOPIC_SIZE._labelnames == ("kafka_cluster", "topic")
    assert metrics.TOPIC_END_OFFSETS._name == "kto_topic_end_offsets"
    assert metrics.TOPIC_END_OFFSETS._labelnames == ("kafka_cluster", "topic")
    assert metrics.GROUP_LAG._name == "kto_consumer_group_lag"
    assert metrics.GROUP_LAG._labelnames == ("kafka_cluster", "topic", "group")


# --- the cap on lag series ------------------------------------------------------------------------


@pytest.mark.parametrize(("lags", "limit", "kept"), [
    ({}, 3, {}),
    ({("a", "g"): 5, ("a", "h"): 1}, 2, {("a", "g"): 5, ("a", "h"): 1}),
    ({("a", "g"): 5, ("a", "h"): 1, ("b", "g"): 9}, 2, {("b", "g"): 9, ("a", "g"): 5}),
    # equal lags: the first by (topic, group), so the same series stay while nothing changes
    ({("b", "g"): 0, ("a", "h"): 0, ("a", "g"): 0}, 2, {("a", "g"): 0, ("a", "h"): 0}),
    ({("a", "g"): 7, ("z", "z"): 7, ("m", "m"): 3}, 1, {("a", "g"): 7}),
    ({("a", "g"): 1}, 0, {}),
])
def test_the_largest_lags_are_kept(lags, limit, kept) -> None:
    assert lag.largest(lags, limit) == kept


async def test_lag_series_are_capped_per_cluster_and_the_dropped_counted(collector) -> None:
    c, gateway, _topics, _snap = collector
    c.max_series = 2
    # 3,000 groups committed under a tenant's prefix, most at lag 0; two behind.
    gateway.committed = {f"team-a-{i:04}": {("a", 0): 10} for i in range(3000)}
    gateway.committed["team-a-0100"] = {("a", 0): 1}
    gateway.committed["team-a-2000"] = {("b", 0): 0}
    await c.collect_once(KEY)
    assert series("kto_consumer_group_lag") == {("team-a-0100", "a"): 9, ("team-a-2000", "b"): 4}
    assert series("kto_lag_series_dropped") == {(): 2998}
    del gateway.committed["team-a-2000"]
    await c.collect_once(KEY)  # the freed place goes to the next largest (all 0 now: the first by name)
    assert series("kto_consumer_group_lag") == {("team-a-0100", "a"): 9, ("team-a-0000", "a"): 0}
    assert series("kto_lag_series_dropped") == {(): 2997}
    c.max_series = lag.MAX_SERIES
    gateway.committed = {"g": {("a", 0): 7}}
    await c.collect_once(KEY)
    assert series("kto_lag_series_dropped") == {(): 0}
    c.forget(KEY)
    assert series("kto_lag_series_dropped") == {}


def test_the_cap_is_kto_runs_default() -> None:
    from kto.__main__ import parse_args

    assert parse_args(["run", "--no-leader-elect"]).lag_max_series == lag.MAX_SERIES == 1000
    assert parse_args(["run", "--no-leader-elect", "--lag-max-series", "50"]).lag_max_series == 50
    with pytest.raises(SystemExit):
        parse_args(["run", "--no-leader-elect", "--lag-max-series", "0"])


# --- the gateway's side: answers read, requests batched -------------------------------------------


@pytest.fixture
def gateway():
    from kto.kafka.gateway import KafkaGateway

    g = KafkaGateway({"bootstrap.servers": "127.0.0.1:1"}, "test")
    yield g
    g.close()


async def test_a_failing_offset_fetch_is_split_until_the_bad_group_is_alone(gateway, monkeypatch) -> None:
    from kafka.errors import GroupAuthorizationFailedError
    from kafka.structs import OffsetAndMetadata, TopicPartition

    sent: list[list[str]] = []

    async def lag_call(method, specs):
        sent.append(list(specs))
        if "secret" in specs:
            raise GroupAuthorizationFailedError("not allowed")
        return {g: {TopicPartition("a", 0): OffsetAndMetadata(5, "", -1)} for g in specs}

    monkeypatch.setattr(gateway.kpy, "_lag_call", lag_call)
    groups = [f"g{i}" for i in range(7)] + ["secret"]
    out = await gateway.list_committed_offsets(groups)
    assert isinstance(out["secret"], KafkaFailure) and out["secret"].reason == Reason.AUTHORIZATION_FAILED
    assert all(out[g] == {("a", 0): 5} for g in groups if g != "secret")
    assert sent[0] == groups  # every group in one request first
    assert len(sent) <= 1 + 2 * 3  # then halves down to the bad one: log2(8) levels


async def test_log_dirs_answers_become_one_row_per_replica(gateway, monkeypatch) -> None:
    answer = [{"broker": b, "log_dirs": [
        {"error_code": 0, "log_dir": "/d1", "topics": [{"name": "a", "partitions": [
            {"partition_index": 0, "partition_size": 606, "offset_lag": 0, "is_future_key": False}]}]},
        {"error_code": 57, "log_dir": "/offline", "topics": []}]} for b in (1, 2)]

    async def lag_call(method, spec):
        assert method == "describe_log_dirs" and spec == {"a": [0]}
        return answer

    monkeypatch.setattr(gateway.kpy, "_lag_call", lag_call)
    assert await gateway.describe_log_dirs({"a": 1}) == [("a", 0, 606), ("a", 0, 606)]


@pytest.mark.parametrize(("fail", "missing", "steps"), [
    (set(), set(), []),
    ({"sizes"}, {"sizes"}, ["describe_log_dirs"]),
    ({"ends"}, {"ends", "lags"}, ["list_offsets"]),  # no end offsets: no lag either
    ({"g"}, set(), ["list_group_offsets"]),  # one group failed: the others' lag is there
    ({"ends", "g"}, {"ends", "lags"}, ["list_offsets"]),  # without offsets a group's failure changes nothing
    ({"sizes", "ends"}, {"sizes", "ends", "lags"}, ["describe_log_dirs", "list_offsets"]),
    ({"describe"}, {"sizes", "ends", "lags"}, ["describe_topics"]),  # nothing is complete
])
async def test_a_collection_leaves_out_what_failed_and_names_each_failed_step_once(fail, missing, steps) -> None:
    gateway = LagGateway()
    gateway.fail |= fail
    collected = await lag.collect(gateway, ["a", "b"])
    parts = {"sizes": collected.sample.sizes, "ends": collected.sample.ends, "lags": collected.sample.lags}
    assert {name for name, part in parts.items() if part is None} == missing
    assert [step for step, _failure in collected.failures] == steps
