"""kto's ledger of what it is about to create, kept in its own namespace where no tenant can write.

kto records that it owns a Kafka topic or user in the resource's status (``objects.ownership_of``). Between
the Kafka create and that status write, a crash would leave a topic or user kto made with no record of it: the
next pass would take it for somebody else's. So before a batch creates anything, kto writes its intent here,
one ConfigMap per kind and KafkaCluster, once per batch (not once per topic): a digest of each resource's uid
and the Kafka name it is about to create. A resource whose status records ownership, or that is gone, is
dropped from the ledger at the next write. A finalizer cannot play this part: a tenant can set one at creation.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Mapping
from typing import Protocol

from kto.api import names
from kto.api.objects import Key

log = logging.getLogger("kto.kube.ledger")

Entry = tuple[str, str]  # (resource uid, Kafka name)
DATA_KEY = "intents"
DIGEST_CHARS = 24  # 96 bits: 10,000 intents take 250 KB, a quarter of a ConfigMap


class ConfigMaps(Protocol):
    """What the ledger asks of the Kubernetes API (``kto.kube.client.KubeClient``)."""

    async def read_config_map(self, namespace: str, name: str) -> tuple[dict[str, str], str] | None: ...

    async def write_config_map(self, namespace: str, name: str, data: Mapping[str, str], labels: Mapping[str, str],
                               resource_version: str | None) -> str | None: ...


def digest(uid: str, name: str) -> str:
    return hashlib.sha256(f"{uid}\0{name}".encode()).hexdigest()[:DIGEST_CHARS]


def config_map_name(kind: str, cluster: Key) -> str:
    """One ConfigMap per kind and KafkaCluster: ``kto-intents-topic-<hash of namespace/name>``."""
    return f"kto-intents-{kind}-{hashlib.sha256('/'.join(cluster).encode()).hexdigest()[:16]}"


class Ledger:
    """The intents of one kind, per KafkaCluster; read once per cluster, then kept in memory (only the leader
    writes)."""

    def __init__(self, kube: ConfigMaps, namespace: str, kind: str):
        self.kube = kube
        self.namespace = namespace
        self.kind = kind
        self._intents: dict[Key, set[str]] = {}
        self._versions: dict[Key, str | None] = {}

    async def load(self, cluster: Key) -> None:
        """Read the cluster's ledger, once per process (after that kto is its only writer); a missing one is
        created empty, so that every later write is an update (and a ledger kto may not write stops it before
        it changes anything)."""
        if cluster in self._intents:
            return
        name = config_map_name(self.kind, cluster)
        found = await self.kube.read_config_map(self.namespace, name)
        if found is None:
            version = await self.kube.write_config_map(self.namespace, name, {DATA_KEY: ""}, self._labels(), None)
            found = ({}, version) if version is not None else await self.kube.read_config_map(self.namespace, name)
        data, version = found if found is not None else ({}, None)
        self._intents[cluster] = set((data.get(DATA_KEY) or "").split())
        self._versions[cluster] = version

    def _labels(self) -> dict[str, str]:
        return {"app.kubernetes.io/managed-by": names.COMPONENT, f"{names.PREFIX}/ledger": self.kind}

    def intended(self, cluster: Key, uid: str, name: str) -> bool:
        """kto recorded that it was about to create ``name`` for the resource ``uid`` (``load`` first)."""
        return digest(uid, name) in self._intents.get(cluster, ())

    def forget(self, cluster: Key, entries: Iterable[Entry]) -> None:
        """Creates Kafka refused for good (nothing was created): dropped at the next write."""
        self._intents.get(cluster, set()).difference_update(digest(u, n) for u, n in entries)

    async def record(self, cluster: Key, entries: Iterable[Entry], pending: Iterable[Entry]) -> bool:
        """Write the intents of ``entries`` before creating them, in one write (False: all were recorded
        already). ``pending``: the cluster's resources whose status does not record ownership yet; any other
        intent is dropped (done, or gone)."""
        await self.load(cluster)
        new = {digest(u, n) for u, n in entries}
        if new <= self._intents[cluster]:
            return False
        keep = {digest(u, n) for u, n in pending} & self._intents[cluster]
        intents = keep | new
        name = config_map_name(self.kind, cluster)
        for _ in range(3):
            version = await self.kube.write_config_map(self.namespace, name, {DATA_KEY: "\n".join(sorted(intents))},
                                                       self._labels(), self._versions[cluster])
            if version is not None:
                self._intents[cluster], self._versions[cluster] = intents, version
                return True
            # Another writer (a previous leader's last write): read it again and keep its intents too.
            del self._intents[cluster]
            await self.load(cluster)
            intents |= self._intents[cluster]
        raise RuntimeError(f"could not write kto's ledger ConfigMap {self.namespace}/{name}: it kept changing")
