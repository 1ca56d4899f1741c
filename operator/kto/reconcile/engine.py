"""One batch reconciler for every kind: gather, decide (pure), act, write.

The machinery every kind needs lives here once: the store and its indexes (by cluster, by claimed Kafka
name), dedupe of irrelevant changes (kto's own status patches), one ``BatchQueue`` per cluster, finalizers,
status diff-and-patch through the typed models, Events, metrics, backoff and blocking. A kind is a small
adapter (``Kind``) plus its pure logic: ``kto.topics`` and ``kto.users``.

A batch, for the keys of one cluster:
1. gather an immutable ``Gathered`` per resource (parsed spec, annotations, the cluster's state, owner, block);
2. decide with the pure gate (``kto.gates.decide``): skip, report, release, delete, observe or converge;
3. the kind acts on everything that needs Kafka, with one request per kind of change, and returns a
   ``Verdict`` or a ``Release`` per resource. It looks at Kafka first (adoption is decided on what is there)
   and calls ``guard`` before it writes for a resource: kto's finalizer is added first, and a resource whose
   finalizer could not be added is not written for;
4. releases remove the finalizer; verdicts become status (written only when it changed) and Events.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from functools import partial
from typing import Any, NamedTuple, Protocol

from prometheus_client import Gauge
from pydantic import BaseModel, ValidationError

from kto.api import names
from kto.api.conditions import build_condition, find, now_rfc3339, set_condition
from kto.api.models import KafkaClusterSpec
from kto.api.objects import (
    Key,
    cluster_key_of,
    finalizers_of,
    is_established,
    is_older,
    is_unmanaged,
    key_of,
    own,
    relevant_state,
    validation_message,
    was_in_sync,
)
from kto.api.reasons import Reason, is_permanent
from kto.kube.client import KubeClient, is_unavailable
from kto.kube.ledger import Ledger
from kto.reconcile.batching import Backoff, BatchQueue
from kto.reconcile.cluster_state import ClusterState, Connected, brokers_of, spec_of
from kto.reconcile.gates import UNKNOWN_OWNER_UID, Gathered, KindFacts, KindRules, decide, gather
from kto.reconcile.outcomes import (
    BACKOFF,
    AfterBackoff,
    Converge,
    Decision,
    Delete,
    Observe,
    Outcome,
    Release,
    Report,
    Revoke,
    Verdict,
)
from kto.reconcile.ownership import Claim, owner_of
from kto.reconcile.status import StatusWriter, condition_status, is_news
from kto.reconcile.store import Store
from kto.telemetry import logs, metrics

log = logging.getLogger("kto.reconcile.engine")


# The owner cannot be known yet: another KafkaCluster, maybe reaching the same brokers, was not probed yet.
UNKNOWN_OWNER = Claim("", "", "", uid=UNKNOWN_OWNER_UID)
# Transient failures of a resource that was in sync are retried without a status write for this long.
QUIET_SECONDS = 60.0


@dataclass(frozen=True)
class Blocked:
    """A permanent failure remembered until the resource's generation or the cluster's broker count changes."""

    generation: Any
    brokers: int | None
    verdict: Verdict


class KindCheck(NamedTuple):
    """When the kind's CRD was last looked at (the reconciler's clock), and whether it was being deleted."""

    at: float
    deleted: bool


@dataclass(frozen=True)
class Item:
    """One resource a kind acts on: what was gathered, what the gate decided, the object itself."""

    gathered: Gathered
    decision: Decision
    body: Mapping[str, Any]


# Called by a kind before it writes to Kafka: adds kto's finalizer to the first keys and records in kto's ledger
# the intent to create for the second (keys whose finalizer could not be added are left out); returns the keys
# whose finalizer is not in place.
Guard = Callable[..., Awaitable[set[Key]]]


@dataclass(frozen=True)
class KindInfo:
    """How a kind is stored and shown: its API names, metrics, and status shape."""

    plural: str
    finalizer: str
    metric: str  # the kind label of metrics: topic, user
    ready_gauge: Gauge
    spec_model: type[BaseModel]
    status_model: type[BaseModel]
    name_field: str  # the status field showing the Kafka name (topicName, userName)
    status_fields: tuple[str, ...] = ()  # the kind's status fields a verdict with ``keep`` keeps
    sticky_fields: tuple[str, ...] = ()  # status fields kept until a verdict sets them
    drift_field: str | None = None  # where the last drift correction is recorded, if anywhere
    claim_space: Callable[[str], str] | None = None  # names that collide in Kafka share one claim (topics: . and _)
    info_gauge: Gauge | None = None  # kto_<kind>_info: namespace, name -> kafka_cluster, Kafka name


class Clusters(Protocol):
    """What the reconciler asks of the KafkaCluster registry (``kto.clusters.registry.ClusterRegistry``)."""

    listeners: list[Callable[[Key], None]]  # told a cluster's key when it was probed or is gone

    def snapshot(self, key: Key) -> ClusterState | None:
        """The KafkaCluster's state now (None: it does not exist)."""

    def same_kafka(self, key: Key) -> list[ClusterState] | None:
        """The KafkaClusters reaching the same Kafka cluster as ``key`` (None: one is not probed yet)."""

    def reprobe(self, key: Key) -> None: ...


class Kind(KindFacts, Protocol):
    """What a kind plugs into the reconciler: its facts (``gates.KindFacts``, what the gather step asks), its
    rules for the gate, its storage and status, and ``act``."""

    rules: KindRules
    info: KindInfo

    async def act(self, cluster: Connected, items: dict[Key, Item], guard: Guard) -> dict[Key, Outcome]:
        """Do the batch's Kafka work; call ``guard`` with the resources about to be written for first."""


class Reconciler:
    def __init__(self, kind: Kind, kube: KubeClient, clusters: Clusters, writer: StatusWriter,
                 batch_window: float = 0.1, max_batch: int = 10000, backoff: Backoff | None = None,
                 ledger: Ledger | None = None):
        self.kind = kind
        self.info = kind.info
        self.kube = kube
        self.clusters = clusters
        self.writer = writer
        self.batch_window = batch_window
        self.max_batch = max_batch
        self.store = Store(kind.claimed_name, kind.info.claim_space)
        self.ledger = ledger  # None: no ledger (unit tests of other concerns); intents are then never recorded
        self._kind_checked = KindCheck(-1e9, False)
        self.queues: dict[Key, BatchQueue[Key]] = {}
        self._handled: dict[Key, tuple[Any, ...]] = {}
        self._backoff = backoff or Backoff(jitter=0.2)
        self.clock = time.monotonic
        # Permanent failures wait for the spec (generation) or the broker count to change.
        self._blocked: dict[Key, Blocked] = {}
        self._behind: dict[Key, str | None] = {}  # objects the last sweep's LIST showed newer than the store
        self.watch_missed = 0  # sweeps in a row that found changes the watch did not deliver
        self._quiet_since: dict[Key, float] = {}  # when each in-sync resource's transient failures began
        self._info = metrics.InfoSeries(kind.info.info_gauge)  # kto_<kind>_info: one series per owning resource
        clusters.listeners.append(self.enqueue_cluster)

    # --- events -------------------------------------------------------------------------------------

    def prime(self, bodies: list[dict[str, Any]]) -> None:
        """Know every resource before handling any event, so ownership is decided with every claim."""
        for body in map(own, bodies):
            body.setdefault("apiVersion", names.API_VERSION)
            body.setdefault("kind", self.kind.rules.kind)
            self.store.put(key_of(body), body)

    def event(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        key = key_of(body)
        if event_type == "DELETED":
            self._forget(key)
            return
        body = own(body)
        body.setdefault("apiVersion", names.API_VERSION)
        body.setdefault("kind", self.kind.rules.kind)
        if is_older(body, self.store.get(key)):
            return  # a relisted copy older than kto's own writes: it would forget kto's finalizer and status
        old = self.store.put(key, body)
        if old is not None and self.store.claim_of(old) != self.store.claim_of(body):
            self._enqueue_rivals(key, body)  # its status now owns, or gives up, the name: the others look again
        state = relevant_state(body, self.info.finalizer)
        if self._handled.get(key) == state:
            return  # our own status patch, or a change that does not matter
        self._handled[key] = state
        self._blocked.pop(key, None)
        self._backoff.reset(key)
        self.queue(cluster_key_of(body)).enqueue(key)

    def _forget(self, key: Key) -> None:
        body = self.store.pop(key)
        self._handled.pop(key, None)
        self._blocked.pop(key, None)
        self._quiet_since.pop(key, None)
        self._backoff.reset(key)
        metrics.forget(self.info.ready_gauge, key)
        self._info.set(key, None)
        if body is not None:
            self._enqueue_rivals(key, body)  # another claimant of the same Kafka name may own it now

    def _enqueue_rivals(self, key: Key, body: Mapping[str, Any]) -> None:
        ckey = cluster_key_of(body)
        for other in self.store.claimants(self.store.claim_key(body)):
            if other != key:
                self.queue(ckey).enqueue(other)

    async def sweep(self, namespaces: list[str] | None = None) -> list[Key]:
        """Forget objects that no longer exist: after a watch expires, kopf lists again but sends no DELETED
        for what vanished meanwhile, and such a phantom would keep its claim and keep acting. Compares the store
        with a metadata-only LIST; an object that changed while the LIST ran is left for the watch. The same LIST
        tells whether the watch still delivers (``watch_missed``)."""
        before = {k: (b["metadata"].get("resourceVersion"), b["metadata"].get("uid"))
                  for k in self.store if (b := self.store.get(k)) is not None}
        listed = {(ns, name): (uid, version)
                  for ns, name, uid, version in await self.kube.list_keys(self.info.plural, namespaces)}
        gone = [k for k, (version, uid) in before.items() if listed.get(k, (None,))[0] != uid
                and (body := self.store.get(k)) is not None and body["metadata"].get("resourceVersion") == version]
        for key in gone:
            log.info("Forgot a vanished object", extra=logs.fields(self.kind.rules.kind, key))
            self._forget(key)
        self._check_watch(before, listed)
        return gone

    def _check_watch(self, before: dict[Key, tuple[Any, ...]], listed: dict[Key, tuple[Any, ...]]) -> None:
        """A change the LIST shows and the store lacks is normal for an instant (the watch is a moment behind),
        not for a whole sweep interval: objects behind at the previous sweep, still behind now, whose copy did not
        change in between, are changes the watch missed. Two sweeps in a row with such misses make ``/healthz``
        fail (``Operator.problems``), so the process is restarted and watches again."""
        behind = {k: before.get(k, (None,))[0] for k, (uid, version) in listed.items()
                  if before.get(k) != (version, uid)}
        missed = [k for k, version in self._behind.items() if k in behind and behind[k] == version]
        self.watch_missed = (self.watch_missed + 1) if missed else 0
        if missed:
            log.warning("The watch missed changes kind=%s objects=%d example=%s/%s sweeps=%d", self.info.metric,
                        len(missed), *missed[0], self.watch_missed)
        self._behind = behind

    def enqueue_cluster(self, ckey: Key) -> None:
        """The cluster was probed (resync) or is gone: look at each of its resources again."""
        for key in self.store.of_cluster(ckey):
            self.queue(ckey).enqueue(key)

    def queue(self, ckey: Key) -> BatchQueue[Key]:
        q = self.queues.get(ckey)
        if q is None:
            q = self.queues[ckey] = BatchQueue(
                f"{self.info.metric} {ckey[0]}/{ckey[1]}", partial(self.reconcile, ckey),
                window=self.batch_window, max_batch=self.max_batch, labels=(self.info.metric, f"{ckey[0]}/{ckey[1]}"))
            q.start()
        return q

    def owner_namespace(self, cluster: ClusterState, name: str) -> str | None:
        """The namespace of the resource whose status records that it owns ``name`` on ``cluster``'s Kafka
        cluster and that kto manages (not observe-only), if one does: what grants a tenant ACLs on a topic. A
        claim that is new, refused, observe-only or waiting for adoption owns nothing here."""
        owner = self._owner(name, cluster)
        if owner is None or owner is UNKNOWN_OWNER or not owner.established or owner.unmanaged:
            return None
        return owner.namespace

    def is_owned(self, body: Mapping[str, Any]) -> bool:
        """``body``'s status records that it owns its Kafka name, kto manages it, and it is that name's owner."""
        owner = self._owner(self.kind.claimed_name(body), self.clusters.snapshot(cluster_key_of(body)))
        return owner is not None and owner is not UNKNOWN_OWNER and owner.established and not owner.unmanaged \
            and (owner.namespace, owner.name) == key_of(body)

    def served(self, ckey: Key, spec: KafkaClusterSpec) -> int:
        """Resources of the cluster from namespaces it allows."""
        return sum(1 for k in self.store.of_cluster(ckey) if self.kind.allows(spec, ckey[0], k[0]))

    async def stop(self) -> None:
        for q in self.queues.values():
            await q.stop()

    # --- one batch ------------------------------------------------------------------------------------

    async def reconcile(self, ckey: Key, keys: list[Key]) -> dict[Key, float]:
        started = time.monotonic()
        cluster = self.clusters.snapshot(ckey)
        deleting = any((b := self.store.get(k)) is not None and b["metadata"].get("deletionTimestamp") for k in keys)
        if self.ledger is not None and (deleting or isinstance(cluster, Connected)):
            await self.ledger.load(ckey)  # read once per process; needed before acting or deleting
        kind_deleted = deleting and await self._kind_deleted()
        items: dict[Key, Item] = {}
        for key in keys:
            body = self.store.get(key)
            if body is not None:
                g = self.gather(key, body, cluster, kind_deleted)
                items[key] = Item(g, decide(g, self.kind.rules), body)
        outcomes = await self._act(cluster, items)
        retries = await self._write(ckey, items, outcomes)
        label = f"{ckey[0]}/{ckey[1]}"
        metrics.BATCHES.labels(self.info.metric, label).observe(time.monotonic() - started)
        metrics.BATCH_SIZE.labels(self.info.metric, label).observe(len(keys))
        return retries

    async def _kind_deleted(self) -> bool:
        """Whether the kind's CRD is being deleted (looked at most once a second): an uninstall deletes every
        object of the kind, and that must never delete what they made in Kafka."""
        if self.clock() - self._kind_checked.at > 1.0:
            self._kind_checked = KindCheck(self.clock(), await self.kube.is_crd_terminating(self.info.plural))
        return self._kind_checked.deleted

    def gather(self, key: Key, body: Mapping[str, Any], cluster: ClusterState | None,
               kind_deleted: bool = False) -> Gathered:
        try:
            spec, error = self.info.spec_model.model_validate(body.get("spec") or {}), None
        except ValidationError as err:
            spec, error = None, validation_message(err)
        intended = self.ledger is not None and self.ledger.intended(
            cluster_key_of(body), body["metadata"].get("uid", ""), self.kind.claimed_name(body))
        return gather(self.kind, key, body, spec, error, cluster, lambda name: self._owner(name, cluster),
                      intended=intended, kind_deleted=kind_deleted, blocked=self._block_of(key, body, cluster))

    def _owner(self, name: str, cluster: ClusterState | None) -> Claim | None:
        """The claim that owns ``name`` on the Kafka cluster: KafkaClusters that reach the same brokers share one
        claim space. A claim counts when its status records that it owns the name (ownership never moves by
        itself), or when its namespace is allowed on the KafkaCluster it references and kto manages it (not
        observe-only); ``Claim.rank`` orders them."""
        if cluster is None:
            return None
        aliases = self.clusters.same_kafka(cluster.key)
        if aliases is None:
            return UNKNOWN_OWNER
        claims = []
        for alias in aliases:
            aspec = spec_of(alias)
            if aspec is None:
                continue
            claims += [c for c in self.store.claims(self.store.claim_key_of(alias.key, name)) if c.established
                       or (not c.unmanaged and self.kind.allows(aspec, alias.key[0], c.namespace))]
        return owner_of(claims)

    def _block_of(self, key: Key, body: Mapping[str, Any], cluster: ClusterState | None) -> Verdict | None:
        held = self._blocked.get(key)
        if held is None or cluster is None:
            return None
        same = (held.generation, held.brokers) == (body["metadata"].get("generation"), brokers_of(cluster))
        return held.verdict if same else None

    async def _act(self, cluster: ClusterState | None, items: dict[Key, Item]) -> dict[Key, Outcome]:
        outcomes: dict[Key, Outcome] = {}
        for key, item in items.items():
            match item.decision:
                case Report(verdict):
                    outcomes[key] = verdict
                case Release():
                    outcomes[key] = item.decision
        work = {k: i for k, i in items.items() if isinstance(i.decision, Converge | Observe | Delete | Revoke)}
        connected = cluster if isinstance(cluster, Connected) else None
        if work and connected is None:
            # Only a revocation gets here with a cluster kto cannot reach (the gate checks reachability after what
            # a KafkaCluster forbids): it says the refusal, and is tried again until the cluster can be reached.
            return outcomes | {k: replace(d.verdict, retry=BACKOFF) for k, i in work.items()
                               if isinstance(d := i.decision, Revoke)}
        if work and connected is not None:
            for key, outcome in (await self._act_isolated(connected, work)).items():
                outcomes[key] = outcome
                self._remember_block(key, items[key].body, cluster, outcome)
        return outcomes

    async def _act_isolated(self, cluster: Connected, work: dict[Key, Item]) -> dict[Key, Outcome]:
        """The kind's act; when it raises, the batch is split in halves until the resource that makes it raise
        is alone: that one gets a verdict with the error, every other resource is acted on."""
        try:
            return await self.kind.act(cluster, work, self.guard)
        except asyncio.CancelledError:
            raise
        except Exception as err:
            if is_unavailable(err):
                raise  # the apiserver is down: no resource is at fault, the whole batch is retried
            if len(work) == 1:
                key = next(iter(work))
                log.exception("Acting failed", extra=logs.fields(self.kind.rules.kind, key, cluster.key))
                return {key: Verdict(False, Reason.KAFKA_ERROR, f"kto failed on this resource: {type(err).__name__}: "
                                     f"{err}", keep=True, retry=BACKOFF)}
        keys = list(work)
        half = len(keys) // 2
        first = await self._act_isolated(cluster, {k: work[k] for k in keys[:half]})
        return first | await self._act_isolated(cluster, {k: work[k] for k in keys[half:]})

    def _remember_block(self, key: Key, body: Mapping[str, Any], cluster: ClusterState | None,
                        outcome: Outcome) -> None:
        """A permanent failure is remembered until the spec or the broker count changes; any other outcome of
        acting forgets an earlier one."""
        if isinstance(outcome, Verdict) and outcome.ready is False and outcome.retry is None \
                and is_permanent(outcome.reason) and cluster is not None:
            self._blocked[key] = Blocked(body["metadata"].get("generation"), brokers_of(cluster),
                                         _blocked_copy(outcome))
        else:
            self._blocked.pop(key, None)

    async def guard(self, keys: list[Key], creates: list[Key] | tuple[Key, ...] = ()) -> set[Key]:
        """Before the kind writes to Kafka: for ``creates`` (about to be created in Kafka) kto's intent is in its
        ledger, one write for the batch; then each of ``keys`` carries kto's finalizer. Returns the keys whose
        finalizer is not in place (the patch did not apply: the object changed or is gone)."""
        creating = [k for k in creates if self.store.get(k) is not None]
        if creating and self.ledger is not None:
            await self._record_intents(creating)

        async def add(key: Key) -> bool:
            body = self.store.get(key)
            if body is None:
                return False
            fins = finalizers_of(body)
            if self.info.finalizer in fins:
                return True
            if await self.kube.add_finalizer(self.info.plural, key[0], key[1], fins, self.info.finalizer,
                                             body["metadata"].get("resourceVersion")):
                body["metadata"]["finalizers"] = [*fins, self.info.finalizer]
                metrics.KUBE_WRITES.labels("finalizer").inc()
                self._handled[key] = relevant_state(body, self.info.finalizer)
                return True
            return False

        done = await asyncio.gather(*(add(k) for k in keys))
        return {k for k, ok in zip(keys, done, strict=True) if not ok}

    async def _record_intents(self, keys: list[Key]) -> None:
        first, ledger = self.store.get(keys[0]), self.ledger
        if first is None or ledger is None:  # the caller passes keys it has, with a ledger
            return
        ckey = cluster_key_of(first)
        entries = [self._entry(k) for k in keys]
        pending = [self._entry(k) for k in self.store.of_cluster(ckey)
                   if not is_established(self.store.get(k) or {})]
        if await ledger.record(ckey, entries, pending):
            metrics.KUBE_WRITES.labels("ledger").inc()

    def _entry(self, key: Key) -> tuple[str, str]:
        body = self.store.get(key) or {"metadata": {"name": key[1]}}
        return body["metadata"].get("uid", ""), self.kind.claimed_name(body)

    # --- writing the outcomes ---------------------------------------------------------------------------

    async def _write(self, ckey: Key, items: dict[Key, Item], outcomes: dict[Key, Outcome]) -> dict[Key, float]:
        releases = {k: o for k, o in outcomes.items() if isinstance(o, Release)}
        verdicts = {k: self._quiet(k, o) for k, o in outcomes.items() if isinstance(o, Verdict)}
        await asyncio.gather(*(self._release(k, r) for k, r in releases.items()))
        await asyncio.gather(*(self._apply(k, v, ckey) for k, v in verdicts.items()))
        if any(v.reason == Reason.AUTHENTICATION_FAILED for v in verdicts.values()):
            self.clusters.reprobe(ckey)  # credentials changed under the batch: connect again now
        retries: dict[Key, float] = {}
        label = f"{ckey[0]}/{ckey[1]}"
        for key, v in verdicts.items():
            metrics.count_verdict(self.info.metric, label, str(v.reason), v.ready)
            if v.ready is True:
                self._backoff.reset(key)
            match v.retry:
                case AfterBackoff.BACKOFF:
                    retries[key] = self._backoff.next(key)
                case float() | int() as seconds:
                    retries[key] = float(seconds)
        return retries

    def _quiet(self, key: Key, verdict: Verdict) -> Verdict:
        """A transient failure (retried with backoff) of a resource that was in sync is retried without a word
        for QUIET_SECONDS: a broker restarting or a request lost with its connection is not news about each
        resource, and a resync puts every resource of a cluster in one batch. Longer, the status says it; a
        deletion that fails says it at once."""
        body = self.store.get(key)
        if not (verdict.ready is False and verdict.retry == BACKOFF and not verdict.silent and body is not None
                and was_in_sync(body) and not body["metadata"].get("deletionTimestamp")):
            self._quiet_since.pop(key, None)
            return verdict
        since = self._quiet_since.setdefault(key, self.clock())
        return replace(verdict, silent=True) if self.clock() - since < QUIET_SECONDS else verdict

    async def _release(self, key: Key, release: Release) -> None:
        body = self.store.get(key)
        if body is None:
            return
        if release.note is not None:
            await self.kube.post_event(body, release.note.type, release.note.reason, release.note.message)
        if await self.kube.remove_finalizer(self.info.plural, key[0], key[1], finalizers_of(body),
                                            self.info.finalizer):
            metrics.KUBE_WRITES.labels("finalizer").inc()
            log.info("Released", extra=logs.fields(self.kind.rules.kind, key, detail=release.detail))

    async def _apply(self, key: Key, verdict: Verdict, ckey: Key) -> None:
        body = self.store.get(key)
        if body is None or verdict.silent:
            return
        old = body.get("status") or {}
        status = build_status(self.info, self.kind.claimed_name(body), body, verdict, self.writer.clock())
        if verdict.drift:
            metrics.DRIFT.labels(self.info.metric, f"{ckey[0]}/{ckey[1]}").inc()
        if verdict.applied:
            metrics.CLUSTER_CHANGES.labels(self.info.metric, f"{ckey[0]}/{ckey[1]}").inc()
        for note in verdict.notes:
            await self.kube.post_event(body, note.type, note.reason, note.message)
        self.info.ready_gauge.labels(*key).set(1 if verdict.ready else 0)
        new = find(status["conditions"])
        if new is not None and is_news(verdict, find(old.get("conditions")), new):
            # Logged (and posted) when it is new, not at every resync of a resource that waits for a change.
            await self.kube.post_event(body, "Warning", str(verdict.reason), verdict.message)
            log.info("Not ready", extra=logs.fields(self.kind.rules.kind, key, ckey, verdict.reason,
                                                    detail=verdict.message))
        await self.writer.patch(self.info.plural, body, self.info.status_model, status)
        self._set_info(key, ckey, body)  # after the patch: the status now records what the resource owns

    def _set_info(self, key: Key, ckey: Key, body: Mapping[str, Any]) -> None:
        # Only a resource that owns its Kafka name shows which one: a refused or observe-only claim reveals
        # nothing in /metrics.
        owns = is_established(body) and not is_unmanaged(body)
        self._info.set(key, (*key, f"{ckey[0]}/{ckey[1]}", self.kind.claimed_name(body)) if owns else None)



def _blocked_copy(verdict: Verdict) -> Verdict:
    """What a blocked resource shows until its spec or the cluster changes: the failure, the rest kept."""
    return Verdict(False, verdict.reason, verdict.message, keep=True)


def build_status(info: KindInfo, claimed: str, body: Mapping[str, Any], verdict: Verdict,
                 now: datetime) -> dict[str, Any]:
    """A resource's new status: the condition, the kind's base fields (``claimed``: the Kafka name it claims),
    what the verdict says and keeps."""
    old = body.get("status") or {}
    status = condition_status(old, body, verdict.ready, verdict.reason, verdict.message, now)
    status[info.name_field] = claimed
    kept = info.sticky_fields + (info.status_fields if verdict.keep else ())
    status |= {k: old[k] for k in kept if old.get(k) is not None}
    status |= verdict.status
    for c in verdict.conditions:
        status["conditions"] = set_condition(status["conditions"], build_condition(
            old.get("conditions"), c.status, c.reason, c.message, body["metadata"].get("generation"), now, c.type))
    if verdict.drift and info.drift_field:
        status[info.drift_field] = {"time": now_rfc3339(now), "message": verdict.drift}
    return status
