"""A KafkaCluster's state as the reconcilers see it: the registry's record turned into one variant (table)."""

from __future__ import annotations

import pytest
from kto.api.domain import ClusterFacts
from kto.api.models import KafkaClusterSpec
from kto.api.reasons import Reason
from kto.reconcile.cluster_state import (
    Connected,
    Invalid,
    NotProbed,
    Unreachable,
    brokers_of,
    cluster_state,
    spec_of,
)

from tests.support.fakes import FakeGateway

KEY = ("apps", "kafka")
SPEC = KafkaClusterSpec(bootstrapServers=["kafka:9092"])
FACTS = ClusterFacts("id", 1, (1, 2, 3))
GATEWAY = FakeGateway()

# (id, spec, reason, facts, gateway, the variant expected)
CASES = [
    ("an invalid spec wins over everything", None, Reason.CONNECTED, FACTS, GATEWAY,
     Invalid(KEY, "bootstrapServers: required")),
    ("an invalid spec before any probe", None, None, None, None, Invalid(KEY, "bootstrapServers: required")),
    ("not probed yet", SPEC, None, None, None, NotProbed(KEY, SPEC)),
    ("not probed yet, a client already built", SPEC, None, None, GATEWAY, NotProbed(KEY, SPEC)),
    ("connected", SPEC, Reason.CONNECTED, FACTS, GATEWAY, Connected(KEY, SPEC, FACTS, GATEWAY, "kto")),
    ("connected, but the client is gone", SPEC, Reason.CONNECTED, FACTS, None,
     Unreachable(KEY, SPEC, Reason.CONNECTED, "said", FACTS, "kto")),
    ("connected, but no facts", SPEC, Reason.CONNECTED, None, GATEWAY,
     Unreachable(KEY, SPEC, Reason.CONNECTED, "said", None, "kto")),
    ("unreachable keeps the last probe's facts", SPEC, Reason.UNREACHABLE, FACTS, None,
     Unreachable(KEY, SPEC, Reason.UNREACHABLE, "said", FACTS, "kto")),
    ("a missing Secret, never probed", SPEC, Reason.SECRET_NOT_FOUND, None, None,
     Unreachable(KEY, SPEC, Reason.SECRET_NOT_FOUND, "said", None, "kto")),
    ("bound to another cluster id", SPEC, Reason.CLUSTER_ID_CHANGED, FACTS, GATEWAY,
     Unreachable(KEY, SPEC, Reason.CLUSTER_ID_CHANGED, "said", FACTS, "kto")),
]


@pytest.mark.parametrize(("spec", "reason", "facts", "gateway", "expected"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_the_record_becomes_one_variant(spec, reason, facts, gateway, expected):
    state = cluster_state(KEY, spec, "bootstrapServers: required", reason, "said", facts, gateway, "kto")
    assert state == expected


@pytest.mark.parametrize(("state", "spec", "brokers"), [
    (None, None, None),
    (Invalid(KEY, "bad"), None, None),
    (NotProbed(KEY, SPEC), SPEC, None),
    (Unreachable(KEY, SPEC, Reason.UNREACHABLE, "down"), SPEC, None),
    (Unreachable(KEY, SPEC, Reason.UNREACHABLE, "down", FACTS), SPEC, 3),
    (Connected(KEY, SPEC, FACTS, GATEWAY), SPEC, 3),
], ids=["missing", "invalid", "not probed", "unreachable, never probed", "unreachable", "connected"])
def test_what_each_variant_offers(state, spec, brokers):
    assert (spec_of(state), brokers_of(state)) == (spec, brokers)
