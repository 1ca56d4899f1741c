"""A KafkaCluster's identity: the cluster id status records is one the brokers confirmed, so removing a wrong
``kto.dev/cluster-id`` annotation returns the cluster to its probed id; a cluster whose refresh raises says so
on itself and never holds the other clusters' ownership decisions."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from kto.api import names
from kto.api.conditions import find
from kto.api.models import KafkaClusterSpec
from kto.api.reasons import Reason
from kto.clusters.registry import ClusterRegistry, _Cluster, error_text, recorded_cluster_id
from kto.reconcile.cluster_state import Connected
from kto.reconcile.status import StatusWriter

from tests.support.fakes import FakeGateway, FakeKube

KEY = ("platform", "kafka")
OTHER = ("platform", "other")


@pytest.mark.parametrize(("annotated", "recorded", "probed", "expected"), [
    (None, None, "id-1", "id-1"),  # the first probe binds
    (None, "id-1", "id-2", "id-1"),  # bound: a probe of other brokers changes nothing (ClusterIdChanged)
    (None, None, None, None),  # never probed
    ("id-1", None, "id-1", "id-1"),  # the annotation, confirmed by the brokers
    ("wrong", None, "id-1", None),  # not confirmed: never recorded
    ("wrong", "id-1", "id-1", "id-1"),  # not confirmed: the recorded id stays
    ("id-2", "id-1", "id-2", "id-2"),  # the brokers are another cluster now, and the annotation accepts it
    ("id-2", "id-1", None, "id-1"),  # not probed (brokers down): not confirmed yet
])
def test_the_recorded_cluster_id_is_one_the_brokers_confirmed(annotated, recorded, probed, expected) -> None:
    body = {"metadata": {"annotations": {names.ANNOTATION_CLUSTER_ID: annotated} if annotated else {}},
            "status": {"clusterId": recorded} if recorded else {}}
    assert recorded_cluster_id(body, probed) == expected


class ApiError(Exception):
    """Shaped like kubernetes' ApiException."""

    def __init__(self, status: int, reason: str, message: str):
        super().__init__(f"({status})\nReason: {reason}\nHTTP response headers: {{'X': 'y'}}\n")
        self.status, self.reason = status, reason
        self.body = json.dumps({"kind": "Status", "message": message})


async def settled(probe, timeout: float) -> None:
    """Let the registry's tasks run until ``probe()`` holds (they wake on the event loop, not on a clock)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not probe():
        assert asyncio.get_running_loop().time() < deadline, "the clusters did not refresh"
        await asyncio.sleep(0.01)


def test_error_text_is_short() -> None:
    assert error_text(ApiError(403, "Forbidden", 'secrets "s" is forbidden')) == \
        'the Kubernetes API answered 403 Forbidden: secrets "s" is forbidden'
    assert error_text(RuntimeError("boom\nstack")) == "RuntimeError: boom"
    assert error_text(TimeoutError()) == "TimeoutError"


# --- the refresh, with the status kto wrote coming back as the watch delivers it ---------------------------


def registry() -> tuple[ClusterRegistry, FakeKube]:
    kube, kafka = FakeKube(), FakeGateway()
    writer = StatusWriter(kube, lambda: datetime(2025, 5, 1, tzinfo=UTC))
    return ClusterRegistry(kube, writer, gateway_factory=lambda conf, label: kafka), kube


def cluster_body(key=KEY, cluster_id: str | None = None, **spec: Any) -> dict[str, Any]:
    annotations = {names.ANNOTATION_CLUSTER_ID: cluster_id} if cluster_id else {}
    return {"apiVersion": names.API_VERSION, "kind": names.CLUSTER_KIND,
            "metadata": {"name": key[1], "namespace": key[0], "generation": 1, "uid": "u",
                         "annotations": annotations},
            "spec": {"bootstrapServers": ["kafka:9092"], **spec}}


async def refreshed(reg: ClusterRegistry, kube: FakeKube, body: dict[str, Any], key=KEY) -> tuple[str, str, str]:
    state = reg._clusters.get(key)
    if state is None:
        state = reg._clusters[key] = _Cluster(key)
    state.body = {**body, "status": dict(kube.statuses.get(key, {}))}
    state.spec = KafkaClusterSpec.model_validate(body["spec"])
    await reg.refresh(state)
    cond = find(kube.statuses[key]["conditions"])
    return cond["status"], cond["reason"], cond["message"]


async def test_a_wrong_cluster_id_annotation_once_removed_leaves_no_trace() -> None:
    reg, kube = registry()
    assert (await refreshed(reg, kube, cluster_body()))[:2] == ("True", "Connected")
    assert kube.statuses[KEY]["clusterId"] == "fake-cluster"
    ready, reason, message = await refreshed(reg, kube, cluster_body(cluster_id="not-this-one"))
    assert (ready, reason) == ("False", "ClusterIdChanged") and "bound to not-this-one" in message
    assert kube.statuses[KEY]["clusterId"] == "fake-cluster"  # the unconfirmed annotation is not recorded
    assert (await refreshed(reg, kube, cluster_body()))[:2] == ("True", "Connected")


async def test_a_wrong_annotation_before_the_first_probe_is_not_recorded_either() -> None:
    reg, kube = registry()
    assert (await refreshed(reg, kube, cluster_body(cluster_id="not-this-one")))[1] == "ClusterIdChanged"
    assert "clusterId" not in kube.statuses[KEY]
    assert (await refreshed(reg, kube, cluster_body()))[:2] == ("True", "Connected")
    assert kube.statuses[KEY]["clusterId"] == "fake-cluster"


async def test_an_annotation_the_brokers_confirm_is_recorded() -> None:
    reg, kube = registry()
    assert (await refreshed(reg, kube, cluster_body(cluster_id="fake-cluster")))[:2] == ("True", "Connected")
    assert kube.statuses[KEY]["clusterId"] == "fake-cluster"


async def test_a_changed_cluster_id_annotation_wakes_the_cluster() -> None:
    reg, _kube = registry()
    reg._clusters[KEY] = state = _Cluster(KEY, task=object())  # no background task
    reg.event("MODIFIED", cluster_body())
    state.wake.clear()
    reg.event("MODIFIED", cluster_body())
    assert not state.wake.is_set()  # nothing that matters changed
    reg.event("MODIFIED", cluster_body(cluster_id="x"))
    assert state.wake.is_set()
    state.wake.clear()
    reg.event("MODIFIED", cluster_body())
    assert state.wake.is_set()


SASL = {"security": {"protocol": "SASL_PLAINTEXT", "sasl": {"mechanism": "SCRAM-SHA-512",
                                                             "secretRef": {"name": "kafka-admin"}}}}


async def test_a_secret_that_cannot_be_read_is_reported_on_its_cluster_alone() -> None:
    reg, kube = registry()
    kube.put_secret(KEY[0], "kafka-admin", {"username": "u", "password": "p"}, labels={"kto.dev/credentials": "true"})
    kube.secret_errors[(KEY[0], "kafka-admin")] = ApiError(403, "Forbidden", "secrets is forbidden")
    ready, reason, message = await refreshed(reg, kube, cluster_body(**SASL))
    assert (ready, reason) == ("False", "RefreshFailed")
    assert "403 Forbidden: secrets is forbidden" in message and "HTTP response headers" not in message
    assert kube.events_of(KEY) == [("Warning", "RefreshFailed")]
    # Another cluster's ownership decisions do not wait for it: it is not "still to be probed".
    await refreshed(reg, kube, cluster_body(OTHER), OTHER)
    assert [s.key for s in reg.same_kafka(OTHER)] == [OTHER]
    # Readable again: connected at the next refresh.
    del kube.secret_errors[(KEY[0], "kafka-admin")]
    assert (await refreshed(reg, kube, cluster_body(**SASL)))[:2] == ("True", "Connected")


async def test_a_refresh_that_raises_before_the_first_probe_says_so_and_holds_no_other_cluster(monkeypatch) -> None:
    reg, kube = registry()
    real = reg.refresh

    async def refresh(state):
        if state.key == KEY:
            raise RuntimeError("something unforeseen")
        await real(state)

    monkeypatch.setattr(reg, "refresh", refresh)
    reg.event("ADDED", cluster_body(OTHER))
    reg.event("ADDED", cluster_body())
    try:
        await settled(lambda: (reg._clusters[KEY].reason, reg._clusters[OTHER].reason)
                      == (Reason.REFRESH_FAILED, Reason.CONNECTED), timeout=5)
        assert reg.same_kafka(OTHER) is not None  # not held by KEY
        assert "RuntimeError: something unforeseen" in find(kube.statuses[KEY]["conditions"])["message"]
        assert kube.events_of(KEY) == [("Warning", "RefreshFailed")]
    finally:
        await reg.stop()


async def test_a_connected_cluster_whose_status_write_fails_stays_connected() -> None:
    reg, kube = registry()
    await refreshed(reg, kube, cluster_body())
    state = reg._clusters[KEY]
    await reg._refresh_failed(state, RuntimeError("status write: 500"))
    assert reg._clusters[KEY].reason == Reason.CONNECTED and isinstance(reg.snapshot(KEY), Connected)


async def test_until_probed_a_cluster_holds_the_others() -> None:
    """The rule the fix keeps: a cluster whose identity is unknown and that has not been tried yet may reach the
    same brokers, so the others wait for it (for one refresh, not forever)."""
    reg, kube = registry()
    await refreshed(reg, kube, cluster_body(OTHER), OTHER)
    reg._clusters[KEY] = _Cluster(KEY, spec=KafkaClusterSpec.model_validate({"bootstrapServers": ["kafka:9092"]}))
    assert reg.same_kafka(OTHER) is None


def test_a_cluster_unreachable_for_its_stalled_time_gets_stalled_and_loses_it_when_back() -> None:
    from datetime import UTC, datetime, timedelta

    from kto.api.models import KafkaClusterSpec
    from kto.clusters.registry import with_stalled

    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    spec = KafkaClusterSpec(bootstrapServers=["k:9092"], stalledAfterSeconds=60)
    down = [{"type": "Ready", "status": "False", "reason": "Unreachable", "message": "refused",
             "lastTransitionTime": "2025-01-01T00:00:00Z"}]
    assert with_stalled(down, {}, spec, t0 + timedelta(seconds=59)) == down
    stalled = with_stalled(down, {}, spec, t0 + timedelta(seconds=60))
    assert [c["type"] for c in stalled] == ["Ready", "Stalled"] and stalled[1]["status"] == "True"
    # Kept as first written while it lasts: a probe writes nothing new.
    assert with_stalled(down, {"conditions": stalled}, spec, t0 + timedelta(seconds=600)) == stalled
    back = [{"type": "Ready", "status": "True", "reason": "Connected", "message": "ok",
             "lastTransitionTime": "2025-01-01T00:10:00Z"}]
    assert with_stalled([*back, stalled[1]], {"conditions": stalled}, spec, t0 + timedelta(seconds=601)) == back
