"""A KafkaCluster as the reconcilers see it during one batch, as a sum of what kto knows of it now (pure).

``NotProbed | Invalid | Unreachable | Connected``: the gate matches on the variant, and a function that receives
``Connected`` never checks for ``None`` (a missing KafkaCluster is ``None`` where a state is optional). The
registry (``kto.clusters.registry``) keeps its working record (what the last event and the last probe said) and
hands out these frozen values through ``cluster_state``; ``kto plan`` builds a ``Connected`` the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

from kto.api.domain import ClusterFacts
from kto.api.models import KafkaClusterSpec
from kto.api.objects import Key
from kto.api.reasons import Reason
from kto.reconcile.ports import KafkaPort


@dataclass(frozen=True)
class NotProbed:
    """A KafkaCluster with a valid spec that kto has not probed even once since it started: nothing of it is
    decided yet (its first probe enqueues every resource of it). Its spec counts for the claims on a Kafka
    cluster it is bound to."""

    key: Key
    spec: KafkaClusterSpec


@dataclass(frozen=True)
class Invalid:
    """A KafkaCluster whose spec kto cannot understand: nothing is probed."""

    key: Key
    error: str  # the validation message


@dataclass(frozen=True)
class Unreachable:
    """A KafkaCluster with a valid spec that kto cannot use now: ``reason`` says why (Unreachable, SecretNotFound,
    AuthenticationFailed, ClusterIdChanged, ...). ``facts`` are the last probe's, when there was one."""

    key: Key
    spec: KafkaClusterSpec
    reason: Reason
    message: str
    facts: ClusterFacts | None = None
    principal: str | None = None  # the Kafka user kto connects as (SASL), always protected

    @property
    def brokers(self) -> int | None:
        return self.facts.brokers if self.facts is not None else None


@dataclass(frozen=True)
class Connected:
    """A KafkaCluster kto can reach now, as a kind acts on it: nothing here is missing. ``gateway`` is the port kto
    reached it through (``kto plan``'s is closed once it has described the topics: the plan never acts)."""

    key: Key
    spec: KafkaClusterSpec
    facts: ClusterFacts
    gateway: KafkaPort
    principal: str | None = None  # the Kafka user kto connects as (SASL), always protected

    @property
    def brokers(self) -> int:
        return self.facts.brokers


ClusterState = NotProbed | Invalid | Unreachable | Connected
Probed = Unreachable | Connected  # a valid KafkaCluster kto has probed: what a kind checks a resource against


def cluster_state(key: Key, spec: KafkaClusterSpec | None, spec_error: str, reason: Reason | None, message: str,
                  facts: ClusterFacts | None, gateway: KafkaPort | None, principal: str | None) -> ClusterState:
    """The variant of a KafkaCluster from what its last event (spec) and its last probe (reason, facts, gateway)
    said. An invalid spec wins: there is nothing to probe. ``Connected`` needs all of it at once."""
    if spec is None:
        return Invalid(key, spec_error)
    if reason is None:
        return NotProbed(key, spec)
    if reason == Reason.CONNECTED and gateway is not None and facts is not None:
        return Connected(key, spec, facts, gateway, principal)
    return Unreachable(key, spec, reason, message, facts, principal)


def spec_of(cluster: ClusterState | None) -> KafkaClusterSpec | None:
    """The cluster's valid spec, if it has one."""
    match cluster:
        case NotProbed(spec=spec) | Unreachable(spec=spec) | Connected(spec=spec):
            return spec
    return None


def brokers_of(cluster: ClusterState | None) -> int | None:
    """How many brokers the cluster's last probe saw, if it saw any."""
    match cluster:
        case Unreachable() | Connected():
            return cluster.brokers
    return None
