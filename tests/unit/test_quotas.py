"""KafkaUser client quotas: the pure plan, and the user kind's batch with a fake Kafka (status, Events, requests)."""

from __future__ import annotations

import pytest
from kto.api.domain import KafkaFailure
from kto.api.models import UserQuotas
from kto.api.quotas import QuotaChange, above_defaults, desired_quotas, drifted, plan_quotas
from kto.api.reasons import Reason

from tests.unit.test_reconciler import bump, deleting, made, message, ready, user, world

QUOTAS = {"producerByteRate": 10240, "consumerByteRate": 20480}


def test_desired_quotas_use_kafkas_keys() -> None:
    assert desired_quotas(None) == {}
    assert desired_quotas(UserQuotas(producerByteRate=1024, requestPercentage=12.5, controllerMutationRate=2)) == {
        "producer_byte_rate": 1024.0, "request_percentage": 12.5, "controller_mutation_rate": 2.0}


@pytest.mark.parametrize(("desired", "observed", "recorded", "to_set", "to_remove"), [
    ({"producer_byte_rate": 1.0}, {}, set(), {"producer_byte_rate": 1.0}, ()),  # new
    ({"producer_byte_rate": 1.0}, {"producer_byte_rate": 1.0}, {"producer_byte_rate"}, {}, ()),  # in sync
    ({"producer_byte_rate": 1.0}, {"producer_byte_rate": 5.0}, {"producer_byte_rate"}, {"producer_byte_rate": 1.0},
     ()),  # changed out of band
    ({}, {"producer_byte_rate": 1.0}, {"producer_byte_rate"}, {}, ("producer_byte_rate",)),  # left the spec
    ({}, {"producer_byte_rate": 1.0}, set(), {}, ()),  # set by hand, never kto's: left alone
    ({}, {}, {"producer_byte_rate"}, {}, ()),  # kto's, already gone
    ({"consumer_byte_rate": 2.0}, {"request_percentage": 50.0}, set(), {"consumer_byte_rate": 2.0}, ()),
])
def test_plan_quotas(desired, observed, recorded, to_set, to_remove) -> None:
    plan = plan_quotas("u", desired, observed, recorded)
    assert (dict(plan.to_set), plan.to_remove) == (to_set, to_remove)


def test_only_keys_kto_had_set_are_drift() -> None:
    plan = QuotaChange("u", {"producer_byte_rate": 1.0, "consumer_byte_rate": 2.0})
    assert dict(drifted(plan, {"producer_byte_rate"}).to_set) == {"producer_byte_rate": 1.0}


async def test_quotas_are_set_shown_in_status_and_removed_with_the_spec() -> None:
    w = world("user")
    body = user(quotas=QUOTAS)
    key = await made(w, body)
    assert w.kafka.quotas["ingest"] == {"producer_byte_rate": 10240.0, "consumer_byte_rate": 20480.0}
    status = w.status(key)
    assert status["quotas"] == [{"key": "consumer_byte_rate", "value": 20480.0},
                                {"key": "producer_byte_rate", "value": 10240.0}]
    assert "2 quota(s)" in message(status)
    requests = w.kafka.requests["alter_user_quotas"]
    assert await w.run(key) == {}  # in sync: described, not altered
    assert w.kafka.requests["alter_user_quotas"] == requests
    w.kafka.quotas["ingest"]["request_percentage"] = 50.0  # someone's own quota on a key kto never set
    w.put(bump(body, quotas={"producerByteRate": 10240}))
    assert await w.run(key) == {}
    assert w.kafka.quotas["ingest"] == {"producer_byte_rate": 10240.0, "request_percentage": 50.0}
    assert w.status(key)["quotas"] == [{"key": "producer_byte_rate", "value": 10240.0}]
    w.put(bump(body, quotas=None))
    assert await w.run(key) == {}
    assert w.kafka.quotas["ingest"] == {"request_percentage": 50.0}
    assert "quotas" not in w.status(key)
    assert w.kube.events_of(key) == []  # spec changes, not drift


async def test_an_out_of_band_quota_change_is_corrected_with_an_event() -> None:
    w = world("user")
    key = await made(w, user(quotas=QUOTAS))
    w.kafka.quotas["ingest"]["producer_byte_rate"] = 999999.0
    del w.kafka.quotas["ingest"]["consumer_byte_rate"]
    assert await w.run(key) == {}
    assert w.kafka.quotas["ingest"] == {"producer_byte_rate": 10240.0, "consumer_byte_rate": 20480.0}
    [event] = w.kube.messages_of(key, "DriftCorrected")
    assert "quotas corrected: consumer_byte_rate unset -> 20480, producer_byte_rate 999999 -> 10240" in event


async def test_a_batch_costs_one_describe_and_one_alter() -> None:
    w = world("user")
    keys = [w.put(user(f"u{i}", quotas={"producerByteRate": 1024 * (i + 1)})) for i in range(5)]
    keys.append(w.put(user("plain")))
    await w.run(*keys)
    assert (w.kafka.requests["describe_user_quotas"], w.kafka.requests["alter_user_quotas"]) == (1, 1)
    assert {u: q["producer_byte_rate"] for u, q in w.kafka.quotas.items()} == {f"u{i}": 1024.0 * (i + 1)
                                                                               for i in range(5)}


async def test_a_rejected_quota_fails_only_its_user_and_waits_for_the_spec() -> None:
    w = world("user")
    bad, good = w.put(user("bad", quotas=QUOTAS)), w.put(user("good", quotas=QUOTAS))
    w.kafka.fail("alter_user_quotas", "bad", KafkaFailure(Reason.INVALID_CONFIG, "setting the client quotas of user "
                                                          "bad: InvalidRequestError: no", retriable=False))
    assert await w.run(bad, good) == {}
    assert ready(w.status(bad)) == ("False", "InvalidConfig")
    assert ready(w.status(good)) == ("True", "Reconciled")
    assert "bad" not in w.kafka.quotas


async def test_without_quotas_no_quota_request_is_sent() -> None:
    w = world("user")
    await made(w, user())
    assert w.kafka.requests["describe_user_quotas"] == 0


async def test_deleting_a_user_removes_only_the_quotas_kto_set() -> None:
    w = world("user")
    body = user(quotas={"producerByteRate": 1024})
    key = await made(w, body)
    w.kafka.quotas["ingest"]["request_percentage"] = 50.0
    w.put(deleting(body))
    assert await w.run(key) == {}
    assert w.kafka.quotas["ingest"] == {"request_percentage": 50.0}
    assert w.kube.events_of(key) == [("Normal", "UserDeleted")]


@pytest.mark.parametrize(("observed", "recorded", "overwrite", "to_set", "to_remove", "refused"), [
    ({}, (), False, {"producer_byte_rate": 1.0}, (), 0),
    ({"producer_byte_rate": 9.0}, (), False, {}, (), 1),  # set by hand: refused, nothing written
    ({"producer_byte_rate": 9.0}, (), True, {"producer_byte_rate": 1.0}, (), 0),
    ({"producer_byte_rate": 9.0}, ("producer_byte_rate",), False, {"producer_byte_rate": 1.0}, (), 0),  # drift
    ({"producer_byte_rate": 1.0, "consumer_byte_rate": 2.0}, ("consumer_byte_rate",), False, {},
     ("consumer_byte_rate",), 0),
])
def test_plan_default_quotas(observed, recorded, overwrite, to_set, to_remove, refused) -> None:
    from kto.api.quotas import plan_default_quotas

    plan = plan_default_quotas({"producer_byte_rate": 1.0}, observed, recorded, overwrite)
    assert (dict(plan.change.to_set), plan.change.to_remove, len(plan.refused)) == (to_set, to_remove, refused)
    assert plan.change.user is None


@pytest.mark.parametrize(("code", "reason", "retriable"), [
    (42, Reason.INVALID_CONFIG, False),  # INVALID_REQUEST: "Quota producer_byte_rate must be greater than 0"
    (40, Reason.INVALID_CONFIG, False),  # INVALID_CONFIG
    (31, Reason.AUTHORIZATION_FAILED, True),  # CLUSTER_AUTHORIZATION_FAILED
    (7, Reason.KAFKA_ERROR, True),  # REQUEST_TIMED_OUT
])
def test_kafka_python_error_codes_are_classified(code: int, reason: Reason, retriable: bool) -> None:
    from kto.kafka.errors import kafka_python_failure

    failure = kafka_python_failure(code, "what the broker said", "setting the client quotas of user u")
    assert (failure.reason, failure.retriable) == (reason, retriable)
    assert failure.message.startswith("setting the client quotas of user u: ")
    assert "what the broker said" in failure.message


@pytest.mark.parametrize(("asked", "defaults", "refused"), [
    ({"producerByteRate": 2048}, {"producerByteRate": 1024}, ["producer_byte_rate 2048"]),
    ({"producerByteRate": 1024}, {"producerByteRate": 1024}, []),
    ({"producerByteRate": 512, "consumerByteRate": 9999}, {"producerByteRate": 1024}, []),  # no default: free
    ({"requestPercentage": 300}, {"requestPercentage": 200, "producerByteRate": 1}, ["request_percentage 300"]),
    ({}, {"producerByteRate": 1024}, []),
    ({"producerByteRate": 2048}, None, []),
])
def test_a_tenant_may_not_ask_above_the_cluster_defaults(asked, defaults, refused) -> None:
    got = above_defaults(UserQuotas(**asked), UserQuotas(**defaults) if defaults is not None else None)
    assert [g.split(")")[0].removeprefix("quotas (") for g in got] == refused


@pytest.mark.parametrize(("asked", "spec", "live", "refused", "where"), [
    # A default set in Kafka by hand caps too (the spec says nothing of it).
    ({"producerByteRate": 10**10}, None, {"producer_byte_rate": 1048576.0}, ["producer_byte_rate 10000000000"],
     "Kafka's default user quota (1048576)"),
    # The lower of the two caps.
    ({"producerByteRate": 4096}, {"producerByteRate": 8192}, {"producer_byte_rate": 2048.0},
     ["producer_byte_rate 4096"], "Kafka's default user quota (2048)"),
    ({"producerByteRate": 4096}, {"producerByteRate": 2048}, {"producer_byte_rate": 8192.0},
     ["producer_byte_rate 4096"], "spec.defaultUserQuotas (2048)"),
    ({"producerByteRate": 4096}, None, {}, [], ""),
])
def test_the_cap_is_what_kafka_has_too(asked, spec, live, refused, where) -> None:
    got = above_defaults(UserQuotas(**asked), UserQuotas(**spec) if spec is not None else None, live)
    assert [g.split(")")[0].removeprefix("quotas (") for g in got] == refused
    assert all(where in g for g in got)


async def test_a_tenant_user_above_the_default_quota_is_not_permitted_and_nothing_is_applied() -> None:
    w = world("user", users={"allowedNamespaces": ["team-a"]}, defaultUserQuotas={"producerByteRate": 1024})
    key = w.put(user("app", ns="team-a", clusterRef={"name": "kafka", "namespace": "apps"},
                     quotas={"producerByteRate": 1048576}))
    await w.run(key)
    assert ready(w.status(key)) == ("False", "NotPermitted")
    assert "above the KafkaCluster's spec.defaultUserQuotas (1024)" in message(w.status(key))
    assert w.kafka.quotas.get("app") is None and w.kube.secrets == {}
    # The cluster's own namespace may set what it likes.
    own = w.put(user("own", quotas={"producerByteRate": 1048576}))
    await w.run(own)
    assert ready(w.status(own)) == ("True", "Reconciled")
