"""KafkaClusters as live connections: one task per cluster connects, probes, writes the cluster's status and
ticks the resync of every kind on it; the reconcilers get its state as a frozen value
(``kto.reconcile.cluster_state``: ``NotProbed | Invalid | Unreachable | Connected``).

Connect: read the referenced Secrets, build the client config (``kto.connection``), and replace the admin
client when the config's fingerprint changed (spec or Secret contents: credential rotation needs no
restart). Probe with DescribeCluster. Then tell every listener (the reconcilers) to look at the cluster's
resources again (the resync), and sleep ``resyncIntervalSeconds`` (2-32 s with backoff while the cluster is
not ready), waking early on a spec change. A connected cluster's ``spec.brokerConfig`` is converged at each
refresh, and its ``spec.defaultUserQuotas`` on Kafka's default user entity (``kto.broker_config`` and
``kto.quotas`` decide; a refusal shows in the KafkaCluster's Ready condition, and the cluster
still serves its topics and users).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from types import MappingProxyType
from typing import Any, NamedTuple

from pydantic import ValidationError

from kto.api import names
from kto.api.conditions import STALLED, find, set_condition, stalled
from kto.api.domain import ClusterFacts, KafkaFailure, SecretContents
from kto.api.models import KafkaClusterSpec, KafkaClusterStatus
from kto.api.objects import Key, annotation, bound_cluster_id, key_of, own, validation_message
from kto.api.quotas import describe_quota_change, desired_quotas, plan_default_quotas
from kto.api.reasons import EventReason, Reason
from kto.clusters.broker_config import config_strings, describe_drift, plan_broker_config
from kto.kafka.compat import support_problem
from kto.kafka.connection import ConnectionError_, build_client_config, fingerprint, referenced_secrets
from kto.kafka.gateway import KafkaGateway
from kto.kube.client import KubeClient
from kto.reconcile.cluster_state import ClusterState, cluster_state
from kto.reconcile.status import StatusWriter, condition_status
from kto.telemetry import logs, metrics

log = logging.getLogger("kto.clusters.registry")

GatewayFactory = Callable[[dict[str, str], str], KafkaGateway]
Listener = Callable[[Key], None]


class Problem(NamedTuple):
    """Why a connected cluster's spec.brokerConfig or spec.defaultUserQuotas is not in place."""

    reason: Reason
    message: str


class Shown(NamedTuple):
    """The KafkaCluster's Ready condition as kto writes it."""

    ready: bool
    reason: Reason | str
    message: str


NOT_PROBED = "NotProbed"  # the reason a Ready condition would show before the first probe (never written)


@dataclass
class _Cluster:
    """One KafkaCluster's working record; only this module changes it. What its last event said (``spec`` or
    ``spec_error``) and what its last probe said (``reason``, ``message``, ``facts``, ``principal``) change at
    different times; ``state()`` turns them into the frozen value the reconcilers get."""

    key: Key
    spec: KafkaClusterSpec | None = None
    spec_error: str = ""
    reason: Reason | None = None  # None: not probed yet
    message: str = ""
    facts: ClusterFacts | None = None  # the last probe's (kept while the cluster cannot be reached)
    principal: str | None = None  # the Kafka user kto connects as (SASL)
    body: dict[str, Any] | None = None
    gateway: KafkaGateway | None = None
    conf_fingerprint: str | None = None
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    broker_keys: tuple[str, ...] | None = None  # the brokerConfig keys kto set (None: read status.brokerConfigKeys)
    config_problem: Problem | None = None  # why spec.brokerConfig is not in place, when it is not
    quota_keys: tuple[str, ...] | None = None  # the default user quota keys kto set (None: read status)
    quota_problem: Problem | None = None  # why spec.defaultUserQuotas is not in place, when it is not
    quotas_read: Mapping[str, float] | None = None  # the default user quotas this refresh's probe read (None: failed)

    @property
    def identity(self) -> str | None:
        """The Kafka cluster id this KafkaCluster stands for."""
        return bound_cluster_id(self.body) or (self.facts.cluster_id if self.facts else None)

    @property
    def connected(self) -> bool:
        return self.reason == Reason.CONNECTED

    def shown(self) -> Shown:
        """The KafkaCluster's Ready condition: the connection, then whether its brokerConfig is in place."""
        problem = self.config_problem or self.quota_problem
        if self.connected and problem is not None:
            return Shown(False, problem.reason, problem.message)
        return Shown(self.connected, self.reason or NOT_PROBED, self.message)

    def state(self) -> ClusterState:
        return cluster_state(self.key, self.spec, self.spec_error, self.reason, self.message, self.facts,
                             self.gateway if self.connected else None, self.principal)


class ClusterRegistry:
    def __init__(self, kube: KubeClient, writer: StatusWriter, gateway_factory: GatewayFactory | None = None):
        self.kube = kube
        self.writer = writer
        self.gateway_factory = gateway_factory or (lambda conf, label: KafkaGateway(conf, label))
        self._clusters: dict[Key, _Cluster] = {}
        self._settled = False  # every KafkaCluster has been probed (or had an identity) at least once
        # Told a cluster's key at each of its resyncs and when it is gone: the reconcilers enqueue its resources.
        self.listeners: list[Listener] = []
        # How many KafkaTopics a cluster serves, for its status (set by the topic reconciler).
        self.served_topics: Callable[[Key, KafkaClusterSpec], int] = lambda key, spec: 0

    def snapshot(self, key: Key) -> ClusterState | None:
        """The KafkaCluster's state now; None when kto does not know it (it does not exist)."""
        state = self._clusters.get(key)
        return state.state() if state is not None and state.body is not None else None

    def __len__(self) -> int:
        return len(self._clusters)

    def same_kafka(self, key: Key) -> list[ClusterState] | None:
        """Every KafkaCluster that reaches the same Kafka cluster as ``key``, ``key``'s own first. A cluster's
        identity is the id it is bound to (its status or annotation: known even while its brokers are down),
        else the id its last probe saw. None while another KafkaCluster has not been probed even once (right
        after a start) and has no recorded id: it may reach the same brokers, and its claims count."""
        own = self._clusters.get(key)
        if own is None:
            return []
        if any(_unknown(c) for k, c in self._clusters.items() if k != key):
            return None
        identity = own.identity
        others = [c.state() for k, c in self._clusters.items()
                  if k != key and identity is not None and c.identity == identity]
        return [own.state(), *others]

    # --- events ------------------------------------------------------------------------------------

    def event(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        key = key_of(body)
        state = self._clusters.get(key)
        if event_type == "DELETED":
            if state is not None:
                self._drop(state)
            return
        body = own(body)
        if state is None:
            state = self._clusters[key] = _Cluster(key)
        changed = state.body is None or state.body["metadata"].get("generation") != body["metadata"].get("generation") \
            or any(annotation(state.body, a) != annotation(body, a)
                   for a in (names.ANNOTATION_ADOPT, names.ANNOTATION_CLUSTER_ID))
        state.body = body
        if changed:
            try:
                state.spec, state.spec_error = KafkaClusterSpec.model_validate(body.get("spec") or {}), ""
            except ValidationError as err:
                state.spec, state.spec_error = None, validation_message(err)
            state.wake.set()
        if state.task is None:
            state.task = asyncio.get_running_loop().create_task(self._run(state), name=f"cluster-{key}")

    def _drop(self, state: _Cluster) -> None:
        if state.task is not None:
            state.task.cancel()
        self._close_gateway(state)
        self._clusters.pop(state.key, None)
        metrics.forget(metrics.CLUSTER_READY, state.key)
        # Its resources learn that the cluster is gone (ClusterNotFound; deletions get released).
        self._tell(state.key)

    def reprobe(self, key: Key) -> None:
        """Connect and probe the cluster now (e.g. authentication failed inside a batch)."""
        state = self._clusters.get(key)
        if state is not None:
            state.wake.set()

    def _tell(self, key: Key) -> None:
        for listener in self.listeners:
            listener(key)

    async def stop(self) -> None:
        for state in list(self._clusters.values()):
            if state.task is not None:
                state.task.cancel()
            self._close_gateway(state)

    # --- connection, probe and resync ----------------------------------------------------------------

    async def _run(self, state: _Cluster) -> None:
        failures = 0
        while True:
            try:
                await self.refresh(state)
                failures = 0 if state.reason == Reason.CONNECTED else failures + 1
            except asyncio.CancelledError:
                raise
            except Exception as err:  # reported on this cluster alone, and tried again with backoff
                failures += 1
                log.exception("Cluster refresh failed", extra=logs.fields(names.CLUSTER_KIND, state.key, state.key))
                await self._refresh_failed(state, err)
            self._tell(state.key)  # the resync: every resource of the cluster is compared with Kafka
            if not self._settled and not any(_unknown(c) for c in self._clusters.values()):
                # Every KafkaCluster's identity is known now: resources that waited for it go in one batch.
                self._settled = True
                for key in list(self._clusters):
                    self._tell(key)
            interval = state.spec.resync_interval if state.spec else 60
            if state.reason != Reason.CONNECTED:
                interval = min(interval, 2.0 * (2 ** min(failures, 4)))
            state.wake.clear()
            try:
                await asyncio.wait_for(state.wake.wait(), timeout=interval)
            except TimeoutError:
                pass

    async def refresh(self, state: _Cluster) -> None:
        """Rebuild the client when the spec or its Secrets changed, probe the brokers, write status."""
        previous = state.shown()
        spec = state.spec  # this refresh's (a spec that changes meanwhile wakes the next one)
        if spec is None:
            self._set(state, Reason.INVALID_SPEC, f"invalid spec: {state.spec_error}")
        else:
            await self._connect_or_say_why(state, spec)
            if state.gateway is not None:
                await self._probe(state, spec, state.gateway)
            if state.connected and state.gateway is not None:
                await self._converge_broker_config(state, spec, state.gateway)
                await self._converge_default_quotas(state, spec, state.gateway)
        ready, reason, message = state.shown()
        metrics.CLUSTER_READY.labels(*state.key).set(1 if ready else 0)
        if state.connected and spec is not None and (spec.brokerConfig or state.broker_keys
                                                     or spec.defaultUserQuotas or state.quota_keys):
            # kto_reconciles_total{kind="cluster"}: Connected, or why spec.brokerConfig is not in place
            metrics.count_verdict("cluster", f"{state.key[0]}/{state.key[1]}", str(reason), ready)
        await self._write_status(state)
        if previous.reason != reason:
            log.info("Cluster state", extra=logs.fields(names.CLUSTER_KIND, state.key, state.key, reason,
                                                        detail=message))
            if not ready and state.body is not None:
                await self.kube.post_event(state.body, "Warning", str(reason), message)

    async def _connect_or_say_why(self, state: _Cluster, spec: KafkaClusterSpec) -> None:
        """``_connect``; when reading the Secrets raises (the apiserver refuses, not a 404), the cluster says so
        (RefreshFailed: the refresh shows it in status and an Event) and is tried again with backoff."""
        try:
            await self._connect(state, spec)
        except Exception as err:  # e.g. 403 Forbidden, 500, a timeout
            log.debug("Reading the cluster's Secrets failed", exc_info=True,
                      extra=logs.fields(names.CLUSTER_KIND, state.key, state.key))
            self._close_gateway(state)
            self._set(state, Reason.REFRESH_FAILED, f"kto cannot read the Secrets this KafkaCluster references: "
                      f"{error_text(err)}; tried again with backoff")

    async def _refresh_failed(self, state: _Cluster, err: BaseException) -> None:
        """A refresh that raised: a cluster never probed says so (RefreshFailed, in status and an Event) instead of
        staying unknown, which would hold every other cluster's ownership decisions; a connected one stays
        connected (the brokers answered; what failed was after them, e.g. a status write)."""
        if state.connected and state.gateway is not None:
            return
        first = state.reason != Reason.REFRESH_FAILED
        self._set(state, Reason.REFRESH_FAILED, f"kto could not refresh this KafkaCluster: {error_text(err)}; tried "
                                                "again with backoff")
        try:
            await self._write_status(state)
            if first and state.body is not None:
                await self.kube.post_event(state.body, "Warning", Reason.REFRESH_FAILED, state.message)
        except Exception:  # the apiserver may be what fails: the log says it, the next try too
            log.warning("Reporting the failed refresh failed", exc_info=True,
                        extra=logs.fields(names.CLUSTER_KIND, state.key, state.key))

    async def _probe(self, state: _Cluster, spec: KafkaClusterSpec, gateway: KafkaGateway) -> None:
        facts = await gateway.describe_cluster()
        if isinstance(facts, KafkaFailure) and facts.reason != Reason.UNSUPPORTED_KAFKA_VERSION:
            self._set(state, facts.reason, facts.message)
            if facts.reason == Reason.UNREACHABLE:
                # A client that knew the brokers keeps reconnecting to them with no backoff while a request
                # waits (kto.pending): the next probe builds a fresh one, which backs off.
                self._close_gateway(state)
            return
        refusal = await self._supported(gateway)
        if refusal is None and isinstance(facts, KafkaFailure):
            refusal = facts
        if refusal is not None:
            self._set(state, refusal.reason, refusal.message)
            return
        if isinstance(facts, KafkaFailure):  # UnsupportedKafkaVersion, yet every API kto needs is there
            self._set(state, facts.reason, facts.message)
            return
        state.facts = await self._live_facts(state, gateway, facts)
        bound = bound_cluster_id(state.body)
        if bound is not None and facts.cluster_id is not None and facts.cluster_id != bound:
            self._set(state, Reason.CLUSTER_ID_CHANGED, cluster_id_changed_message(state.key, spec, bound,
                                                                                   facts.cluster_id))
            return
        self._set(state, Reason.CONNECTED, f"connected to {facts.brokers} broker(s) over {spec.protocol}")

    async def _live_facts(self, state: _Cluster, gateway: KafkaGateway, facts: ClusterFacts) -> ClusterFacts:
        """``facts`` with the brokers' super users and the default user entity's quotas, as Kafka has them now. A
        read that fails fails no probe: the value the last probe read stays (logged at debug)."""
        previous = state.facts
        if previous is not None and previous.cluster_id != facts.cluster_id:
            previous = None  # another Kafka cluster's: nothing of it holds here
        super_users = await gateway.describe_super_users(facts.broker_ids)
        if isinstance(super_users, KafkaFailure):
            log.debug("Reading super.users failed", extra=logs.fields(
                names.CLUSTER_KIND, state.key, state.key, super_users.reason, detail=super_users.message))
            super_users = previous.super_users if previous is not None else frozenset()
        quotas = await gateway.describe_user_quotas(default=True)
        if isinstance(quotas, KafkaFailure):
            log.debug("Reading the default user quotas failed", extra=logs.fields(
                names.CLUSTER_KIND, state.key, state.key, quotas.reason, detail=quotas.message))
            state.quotas_read = None
            default_quotas = previous.default_user_quotas if previous is not None else None
        else:
            state.quotas_read = default_quotas = MappingProxyType(dict(quotas.get(None, {})))
        return replace(facts, super_users=super_users, default_user_quotas=default_quotas)

    def _quotas_fact(self, state: _Cluster, quotas: Mapping[str, float]) -> None:
        """The default user quotas kto just set are what Kafka has now."""
        if state.facts is not None:
            state.facts = replace(state.facts, default_user_quotas=MappingProxyType(dict(quotas)))

    async def _supported(self, gateway: KafkaGateway) -> KafkaFailure | None:
        """Why kto must not work with these brokers (too old, or an API it needs missing), or None. Asked once per
        connection; nothing is written to a cluster that is not Connected."""
        apis = await gateway.describe_broker_apis()
        if isinstance(apis, KafkaFailure):
            return apis
        problem = support_problem(apis)
        if problem is not None:
            return KafkaFailure(Reason.UNSUPPORTED_KAFKA_VERSION, problem, retriable=False)
        return None

    async def _converge_broker_config(self, state: _Cluster, spec: KafkaClusterSpec, gateway: KafkaGateway) -> None:
        """spec.brokerConfig on the default broker resource: validated as a whole by the brokers first, so a
        refused key or value leaves every broker config as it was."""
        desired = config_strings(spec.brokerConfig)
        state.broker_keys, state.config_problem = _known(state.broker_keys, state.body, "brokerConfigKeys"), None
        if not desired and not state.broker_keys:
            return
        observed = await gateway.describe_broker_defaults()
        if isinstance(observed, KafkaFailure):
            state.config_problem = Problem(observed.reason, f"connected, but spec.brokerConfig cannot be checked: "
                                                            f"{observed.message}")
            return
        plan = plan_broker_config(desired, observed, state.broker_keys, _overwrite(state.body))
        if plan.refused:
            state.config_problem = _refused(Reason.BROKER_CONFIG_REFUSED, "brokerConfig", plan.refused,
                                            NO_BROKER_CONFIG)
            return
        if not plan.in_sync:
            failure = await gateway.alter_broker_defaults(dict(plan.to_set), plan.to_delete, validate_only=True)
            if failure is None:
                failure = await gateway.alter_broker_defaults(dict(plan.to_set), plan.to_delete)
            if failure is not None:
                state.config_problem = _not_in_place(failure, Reason.BROKER_CONFIG_REFUSED, "brokerConfig",
                                                     NO_BROKER_CONFIG)
                return
            if plan.drift:
                await self._corrected(state, f"cluster-wide broker configs corrected: "
                                             f"{describe_drift(plan.drift, desired)}")
        state.broker_keys = plan.keys

    async def _converge_default_quotas(self, state: _Cluster, spec: KafkaClusterSpec, gateway: KafkaGateway) -> None:
        """spec.defaultUserQuotas on Kafka's default user entity: one describe, at most one alter."""
        desired = desired_quotas(spec.defaultUserQuotas)
        state.quota_keys, state.quota_problem = _known(state.quota_keys, state.body, "defaultUserQuotaKeys"), None
        if not desired and not state.quota_keys:
            return
        read, state.quotas_read = state.quotas_read, None
        if read is None:  # the probe could not read them: ask once more, and say why when it fails again
            observed = await gateway.describe_user_quotas(default=True)
            if isinstance(observed, KafkaFailure):
                state.quota_problem = Problem(observed.reason, f"connected, but spec.defaultUserQuotas cannot be "
                                                               f"checked: {observed.message}")
                return
            read = observed.get(None, {})
            self._quotas_fact(state, read)
        current = dict(read)
        plan = plan_default_quotas(desired, current, state.quota_keys, _overwrite(state.body))
        if plan.refused:
            state.quota_problem = _refused(Reason.DEFAULT_QUOTAS_REFUSED, "defaultUserQuotas", plan.refused, NO_QUOTA)
            return
        failure = (await gateway.alter_user_quotas([plan.change])).get(None)
        if failure is not None:
            state.quota_problem = _not_in_place(failure, Reason.DEFAULT_QUOTAS_REFUSED, "defaultUserQuotas", NO_QUOTA)
            return
        self._quotas_fact(state, {k: v for k, v in {**current, **plan.change.to_set}.items()
                                  if k not in plan.change.to_remove})
        if plan.drift is not None and not plan.drift.in_sync:
            await self._corrected(state, f"default user quotas corrected: {describe_quota_change(plan.drift, current)}")
        state.quota_keys = plan.keys

    async def _corrected(self, state: _Cluster, message: str) -> None:
        """An out-of-band change of a cluster-wide setting kto set back: counted, and said in an Event."""
        metrics.DRIFT.labels("cluster", f"{state.key[0]}/{state.key[1]}").inc()
        if state.body is not None:
            await self.kube.post_event(state.body, "Normal", EventReason.DRIFT_CORRECTED, message)

    def _set(self, state: _Cluster, reason: Reason, message: str) -> None:
        state.reason, state.message = reason, message
        metrics.CLUSTER_READY.labels(*state.key).set(1 if reason == Reason.CONNECTED else 0)

    async def _connect(self, state: _Cluster, spec: KafkaClusterSpec) -> None:
        ns = state.key[0]
        secrets: dict[str, SecretContents | None] = {}
        for secret_name in referenced_secrets(spec):
            secrets[secret_name] = await self.kube.read_secret(ns, secret_name)
        try:
            conf = build_client_config(spec, lambda n: secrets.get(n))
        except ConnectionError_ as err:
            self._close_gateway(state)
            self._set(state, err.reason, err.message)
            return
        state.principal = conf.get("sasl.username")
        fp = fingerprint(conf)
        if fp != state.conf_fingerprint or state.gateway is None:
            if state.gateway is not None:
                log.info("Replacing the Kafka client: the spec or a Secret changed",
                         extra=logs.fields(names.CLUSTER_KIND, state.key, state.key))
            self._close_gateway(state)
            try:
                state.gateway = self.gateway_factory(conf, f"{ns}/{state.key[1]}")
            except Exception as err:  # noqa: BLE001 - e.g. a CA that is not PEM: said in status, tried again
                self._set(state, Reason.INVALID_CLIENT_CONFIG, f"kto cannot build a Kafka client from the spec and "
                          f"its Secrets: {err} (check the certificates and keys in the referenced Secrets)")
                return
            state.conf_fingerprint = fp

    def _close_gateway(self, state: _Cluster) -> None:
        if state.gateway is not None:
            state.gateway.close()
        state.gateway, state.conf_fingerprint = None, None

    async def _write_status(self, state: _Cluster) -> None:
        if state.body is None:
            return
        body = state.body
        old = body.get("status") or {}
        ready, reason, message = state.shown()
        now = self.writer.clock()
        status = condition_status(old, body, ready, reason, message, now)
        status["conditions"] = with_stalled(status["conditions"], old, state.spec, now)
        keys = state.broker_keys if state.broker_keys is not None else old.get("brokerConfigKeys")
        status["brokerConfigKeys"] = list(keys) if keys else None
        quota_keys = state.quota_keys if state.quota_keys is not None else old.get("defaultUserQuotaKeys")
        status["defaultUserQuotaKeys"] = list(quota_keys) if quota_keys else None
        status["topics"] = self.served_topics(state.key, state.spec) if state.spec is not None else 0
        facts = state.facts
        status["clusterId"] = recorded_cluster_id(body, facts.cluster_id if facts is not None else None)
        if facts is not None:
            status |= {"controllerId": facts.controller_id, "brokers": facts.brokers}
        await self.writer.patch(names.CLUSTER_PLURAL, body, KafkaClusterStatus, status)


def with_stalled(conditions: list[dict[str, Any]], old: Mapping[str, Any], spec: KafkaClusterSpec | None,
                 now: datetime) -> list[dict[str, Any]]:
    """The conditions, with ``Stalled=True`` while the cluster has been Unreachable for spec.stalledAfterSeconds
    or more (kept as first written, so a probe writes nothing new), and without it otherwise."""
    others = [c for c in conditions if c.get("type") != STALLED]
    stall = stalled(others, str(Reason.UNREACHABLE), spec.stalled_after if spec else 300, now)
    if stall is None:
        return others
    before = find(old.get("conditions"), STALLED)
    return set_condition(others, dict(before) if before and before.get("status") == "True" else stall)


NO_BROKER_CONFIG, NO_QUOTA = "kto changed no broker config", "kto changed no quota"


def _recorded(body: Mapping[str, Any] | None, field: str) -> tuple[str, ...]:
    """The keys kto recorded in a KafkaCluster's status as set by itself (the only ones it ever removes)."""
    return tuple(((body or {}).get("status") or {}).get(field) or ())


def _known(keys: tuple[str, ...] | None, body: Mapping[str, Any] | None, field: str) -> tuple[str, ...]:
    """The keys of a cluster-wide setting kto set: those it remembers, else those its status recorded."""
    return keys if keys is not None else _recorded(body, field)


def _overwrite(body: Mapping[str, Any] | None) -> bool:
    """The KafkaCluster asks kto to overwrite what it finds (``kto.dev/adopt: overwrite``)."""
    return annotation(body or {}, names.ANNOTATION_ADOPT) == names.ADOPT_OVERWRITE


def _refused(reason: Reason, field: str, refused: Sequence[str], unchanged: str) -> Problem:
    """kto refuses what ``spec.<field>`` asks (``refused``: why); ``unchanged`` says what it left alone."""
    return Problem(reason, f"spec.{field} refused: {'; '.join(refused)}. {unchanged}")


def _not_in_place(failure: KafkaFailure, refused: Reason, field: str, unchanged: str) -> Problem:
    """Why a cluster-wide setting (``spec.<field>``) is not in place after the brokers answered ``failure``: refused
    (for good), or not yet."""
    if not failure.retriable:
        return Problem(refused, f"the brokers refuse spec.{field}: {failure.message}. {unchanged}")
    return Problem(failure.reason, f"connected, but spec.{field} is not in place: {failure.message}")


def recorded_cluster_id(body: Mapping[str, Any], probed: str | None) -> str | None:
    """The cluster id status records: one the brokers confirmed. A recorded id stays whatever a later probe finds
    (it is what the KafkaCluster is bound to); the annotation is recorded once the brokers report it, and an
    annotated id they do not report is never written, so removing a wrong annotation returns the cluster to
    the id it had."""
    annotated = annotation(body, names.ANNOTATION_CLUSTER_ID)
    if annotated is not None and annotated == probed:
        return annotated
    recorded = (body.get("status") or {}).get("clusterId")
    return recorded or (probed if annotated is None else None)


def error_text(err: BaseException) -> str:
    """An exception in a few words for status and Events: an API error's status, reason and message (not its
    headers), anything else's type and first line."""
    status, reason = getattr(err, "status", None), getattr(err, "reason", None)
    if isinstance(status, int):
        try:
            message = json.loads(getattr(err, "body", None) or "{}").get("message")
        except (ValueError, AttributeError):
            message = None
        return f"the Kubernetes API answered {status} {reason or ''}".rstrip() + (f": {message}" if message else "")
    first = (str(err).strip().splitlines() or [""])[0]
    return f"{type(err).__name__}: {first[:300]}" if first else type(err).__name__


def cluster_id_changed_message(key: Key, spec: KafkaClusterSpec, bound: str, reported: str) -> str:
    ns, name = key
    return (f"the brokers at {','.join(spec.bootstrapServers)} report Kafka cluster id {reported}, but this "
            f"KafkaCluster is bound to {bound}: kto changes nothing on either cluster until this is resolved. If "
            "the brokers are meant to be a different Kafka cluster now, run kubectl annotate kafkacluster "
            f"{name} -n {ns} {names.ANNOTATION_CLUSTER_ID}={reported} --overwrite (existing topics are then adopted "
            f"only where they match their spec); otherwise point spec.bootstrapServers back at cluster {bound}")


def _unknown(cluster: _Cluster) -> bool:
    """A KafkaCluster whose Kafka cluster id is not known yet and whose first probe is still to come."""
    return cluster.identity is None and cluster.reason is None and cluster.spec is not None
