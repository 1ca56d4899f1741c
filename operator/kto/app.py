"""kto's parts wired together: the KafkaCluster registry and one reconciler per kind, sharing one Kubernetes
client and one status writer. ``kto.handlers`` feeds it kopf's events; tests build it with fakes."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from kubernetes.client.exceptions import ApiException

from kto.api import names
from kto.api.objects import cluster_key_of
from kto.clusters.registry import ClusterRegistry, GatewayFactory
from kto.kube.client import KubeClient
from kto.kube.ledger import Ledger
from kto.ops import gcpolicy
from kto.ops.lag import MAX_SERIES, LagCollector
from kto.policy.bindings import PolicyBindings
from kto.reconcile.engine import Reconciler
from kto.reconcile.status import Clock, StatusWriter
from kto.telemetry import logs
from kto.topics.kind import TopicKind
from kto.users.kind import UserKind

log = logging.getLogger("kto.app")


SWEEP_SECONDS = 60.0  # how often the stores are compared with a LIST (vanished objects are forgotten)
WEDGED_SECONDS = 600.0  # a batch running longer than this makes /healthz fail
WATCH_MISSED_SWEEPS = 2  # sweeps in a row finding changes the watch did not deliver make /healthz fail


class Operator:
    def __init__(self, kube: KubeClient, batch_window: float = 0.1, max_batch: int = 10000,
                 gateway_factory: GatewayFactory | None = None, clock: Clock | None = None,
                 sweep_seconds: float = SWEEP_SECONDS, lag_interval: float = 0.0, state_namespace: str = "default",
                 lag_max_series: int = MAX_SERIES):
        self.kube = kube
        self.sweep_seconds = sweep_seconds
        self._namespaces: list[str] | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._settler: asyncio.Task[None] | None = None
        self.writer = StatusWriter(kube, clock)
        self.clusters = ClusterRegistry(kube, self.writer, gateway_factory)
        self.policies = PolicyBindings(kube, clock)
        self.topics = Reconciler(TopicKind(self.policies.policies_for), kube, self.clusters, self.writer,
                                 batch_window, max_batch, ledger=Ledger(kube, state_namespace, "topic"))
        self.users = Reconciler(UserKind(kube, self.topics.owner_namespace), kube, self.clusters, self.writer,
                                batch_window, max_batch, ledger=Ledger(kube, state_namespace, "user"))
        self.clusters.served_topics = self.topics.served
        self.policies.listeners.append(self._policies_changed)
        # Consumer lag and topic size (kto.ops.lag), per cluster on its own interval; 0: off.
        self.lag: LagCollector | None = None
        if lag_interval > 0:
            store = self.topics.store
            owned = self.topics.is_owned
            self.lag = LagCollector(self.clusters.snapshot, lambda c: (b for k in store.of_cluster(c)
                                                                       if (b := store.get(k)) is not None
                                                                       and owned(b)), lag_interval,
                                    max_series=lag_max_series)
            self.clusters.listeners.append(self.lag.on_cluster)

    async def prime(self, namespaces: list[str] | None = None) -> None:
        """Know every KafkaCluster, KafkaTopic and KafkaUser before handling any event: ownership is decided
        with all claims, and no resource is taken for one whose cluster is missing only because the
        cluster's event comes later."""
        for body in await self.kube.list_objects(names.CLUSTER_PLURAL, namespaces):
            body.setdefault("apiVersion", names.API_VERSION)
            body.setdefault("kind", names.CLUSTER_KIND)
            self.clusters.event(None, body)
        await self._prime_policies()
        self.topics.prime(await self.kube.list_objects(names.TOPIC_PLURAL, namespaces))
        users = await self.kube.list_objects(names.USER_PLURAL, namespaces, missing_ok=True)
        if users is None:
            log.warning("The KafkaUser CRD is not installed: kafkausers are not served until it is")
        self.users.prime(users or [])
        self._namespaces = namespaces
        await self._check_kinds_readable()
        self._sweeper = asyncio.get_running_loop().create_task(self._sweep_forever(), name="sweep")
        gcpolicy.settle()
        held = lambda: len(self.topics.store) + len(self.users.store)  # noqa: E731
        self._settler = asyncio.get_running_loop().create_task(gcpolicy.keep_settling(held), name="gc")

    def _policies_changed(self) -> None:
        """A KafkaPolicy changed: every topic is judged again (one batch per KafkaCluster)."""
        store = self.topics.store
        for ckey in {cluster_key_of(b) for k in store if (b := store.get(k)) is not None}:
            self.topics.enqueue_cluster(ckey)

    async def _prime_policies(self) -> None:
        """The KafkaPolicies in force before the first topic is reconciled, so a Clamp applies from the start."""
        try:
            policies = await self.kube.list_objects(names.POLICY_PLURAL, None, missing_ok=True)
        except ApiException as err:
            log.warning("Cannot list KafkaPolicies: they are not applied until kto can (give it list and watch on "
                        "kafkapolicies) error=%s", (err.body or str(err)).strip())
            return
        if policies is None:
            log.warning("The KafkaPolicy CRD is not installed: no policy is applied until it is")
        for body in policies or []:
            self.policies.event(None, body)

    async def _check_kinds_readable(self) -> None:
        """kto reads its CRDs before deleting anything in Kafka (a CRD being deleted is an uninstall, which never
        deletes data): say at startup when it cannot, rather than at the first deletion."""
        for plural in (names.TOPIC_PLURAL, names.USER_PLURAL):
            try:
                await self.kube.is_crd_terminating(plural)
            except ApiException as err:
                log.warning("Cannot read the %s CustomResourceDefinition: deletions wait until kto can (give it "
                            "get on customresourcedefinitions) error=%s", plural, (err.body or str(err)).strip())

    async def _sweep_forever(self) -> None:
        """Keep the stores true to the apiserver: a watch that expired and relisted sends no DELETED for what
        vanished meanwhile (``Reconciler.sweep``)."""
        while True:
            await asyncio.sleep(self.sweep_seconds)
            for reconciler in (self.topics, self.users):
                try:
                    await reconciler.sweep(self._namespaces)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.warning("Sweep failed", extra=logs.fields(reconciler.kind.rules.kind), exc_info=True)

    def problems(self) -> list[str]:
        """What makes kto unhealthy now: a batch that has been running for too long (a wedged queue), a watch
        that no longer delivers changes (seen by two sweeps in a row)."""
        now = time.monotonic()
        wedged = [f"queue {q.name} has been busy for {now - q.busy_since:.0f}s"
                  for r in (self.topics, self.users) for q in r.queues.values()
                  if q.busy_since is not None and now - q.busy_since > WEDGED_SECONDS]
        return wedged + [f"the {r.info.metric} watch missed changes for {r.watch_missed} sweeps in a row"
                         for r in (self.topics, self.users) if r.watch_missed >= WATCH_MISSED_SWEEPS]

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
        if self._settler is not None:
            self._settler.cancel()
        if self.lag is not None:
            await self.lag.stop()
        await self.users.stop()
        await self.topics.stop()
        await self.clusters.stop()
        await self.policies.stop()
        self.kube.close()

    def counts(self) -> dict[str, Any]:
        return {"clusters": len(self.clusters), "topics": len(self.topics.store), "users": len(self.users.store)}
