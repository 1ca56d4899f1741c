"""kto's parts wired together: the KafkaCluster registry and one reconciler per kind, sharing one Kubernetes
client and one status writer. ``kto.handlers`` feeds it kopf's events; tests build it with fakes."""

from __future__ import annotations

import logging
from typing import Any

from kto import names
from kto.clusters import ClusterRegistry, GatewayFactory
from kto.kube import KubeClient
from kto.reconciler import Reconciler
from kto.status import Clock, StatusWriter
from kto.topic_kind import TopicKind
from kto.user_kind import UserKind

log = logging.getLogger("kto.app")


class Operator:
    def __init__(self, kube: KubeClient, batch_window: float = 0.1, max_batch: int = 10000,
                 gateway_factory: GatewayFactory | None = None, clock: Clock | None = None):
        self.kube = kube
        self.writer = StatusWriter(kube, clock)
        self.clusters = ClusterRegistry(kube, self.writer, gateway_factory)
        self.topics = Reconciler(TopicKind(), kube, self.clusters, self.writer, batch_window, max_batch)
        self.users = Reconciler(UserKind(kube, self.topics.owner_namespace), kube, self.clusters, self.writer,
                                batch_window, max_batch)
        self.clusters.served_topics = self.topics.served

    async def prime(self, namespaces: list[str] | None = None) -> None:
        """Know every KafkaCluster, KafkaTopic and KafkaUser before handling any event: ownership is decided
        with all claims, and no resource is taken for one whose cluster is missing only because the
        cluster's event comes later."""
        for body in await self.kube.list_objects(names.CLUSTER_PLURAL, namespaces):
            body.setdefault("apiVersion", names.API_VERSION)
            body.setdefault("kind", names.CLUSTER_KIND)
            self.clusters.event(None, body)
        self.topics.prime(await self.kube.list_objects(names.TOPIC_PLURAL, namespaces))
        users = await self.kube.list_objects(names.USER_PLURAL, namespaces, missing_ok=True)
        if users is None:
            log.warning("The KafkaUser CRD is not installed: kafkausers are not served until it is")
        self.users.prime(users or [])

    async def stop(self) -> None:
        await self.users.stop()
        await self.topics.stop()
        await self.clusters.stop()
        self.kube.close()

    def counts(self) -> dict[str, Any]:
        return {"clusters": len(self.clusters), "topics": len(self.topics.store), "users": len(self.users.store)}
