"""kto's copy of the watched objects of one kind, indexed by cluster and by the Kafka name they claim.

Claims are indexed by (cluster, Kafka name): an ownership check touches only the resources naming the same
topic or user, never a scan of the cluster's resources (that was O(N^2) per batch at 10,000 topics).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from kto.api.objects import Key, cluster_key_of, is_established, is_unmanaged, refusal_of
from kto.reconcile.ownership import Claim

ClaimKey = tuple[str, str, str]  # (cluster namespace, cluster name, Kafka name)


class Store:
    def __init__(self, claimed_name: Callable[[Mapping[str, Any]], str],
                 claim_space: Callable[[str], str] | None = None):
        self._claimed_name = claimed_name
        self._space = claim_space or (lambda name: name)  # names that collide in Kafka share one claim
        self._objects: dict[Key, dict[str, Any]] = {}
        self._by_cluster: dict[Key, set[Key]] = defaultdict(set)
        self._claimants: dict[ClaimKey, set[Key]] = defaultdict(set)

    def __len__(self) -> int:
        return len(self._objects)

    def __contains__(self, key: Key) -> bool:
        return key in self._objects

    def __iter__(self) -> Iterator[Key]:
        return iter(list(self._objects))

    def get(self, key: Key) -> dict[str, Any] | None:
        return self._objects.get(key)

    def claim_key(self, body: Mapping[str, Any]) -> ClaimKey:
        return self.claim_key_of(cluster_key_of(body), self._claimed_name(body))

    def claim_key_of(self, cluster: Key, name: str) -> ClaimKey:
        return (*cluster, self._space(name))

    def put(self, key: Key, body: dict[str, Any]) -> dict[str, Any] | None:
        """Keep ``body`` as the object's latest state; the previous one, if any, is returned."""
        old = self._objects.get(key)
        if old is not None:
            self._unindex(key, old)
        self._objects[key] = body
        self._by_cluster[cluster_key_of(body)].add(key)
        self._claimants[self.claim_key(body)].add(key)
        return old

    def pop(self, key: Key) -> dict[str, Any] | None:
        old = self._objects.pop(key, None)
        if old is not None:
            self._unindex(key, old)
        return old

    def _unindex(self, key: Key, body: Mapping[str, Any]) -> None:
        ckey = cluster_key_of(body)
        members = self._by_cluster.get(ckey)
        if members is not None:
            members.discard(key)
            if not members:
                del self._by_cluster[ckey]
        claim = self.claim_key(body)
        claimants = self._claimants.get(claim)
        if claimants is not None:
            claimants.discard(key)
            if not claimants:
                del self._claimants[claim]

    def of_cluster(self, ckey: Key) -> list[Key]:
        return list(self._by_cluster.get(ckey, ()))

    def claimants(self, claim: ClaimKey) -> list[Key]:
        return list(self._claimants.get(claim, ()))

    def claims(self, claim: ClaimKey) -> list[Claim]:
        """Every resource naming this Kafka name on this cluster."""
        return [self.claim_of(self._objects[k]) for k in self._claimants.get(claim, ())]

    def claim_of(self, body: Mapping[str, Any]) -> Claim:
        return claim_of(body, claimed=self._claimed_name(body))


def claim_of(body: Mapping[str, Any], created: str | None = None, claimed: str = "") -> Claim:
    """A resource's claim on its Kafka name ``claimed``, from what its status records (``created``: instead of
    its creationTimestamp, for a manifest not applied yet)."""
    meta = body["metadata"]
    return Claim(meta.get("creationTimestamp", "") if created is None else created, meta.get("namespace", ""),
                 meta["name"], meta.get("uid", ""), established=is_established(body), cluster=cluster_key_of(body),
                 unmanaged=is_unmanaged(body), refused=refusal_of(body), claimed=claimed)
