"""Who owns a Kafka name (topic or user) among the resources that claim it (pure): ``Claim`` and ``owner_of``.

A claim's tier comes from what its status records (``api.objects.ownership_of``, ``refusal_of``): only records
a tenant cannot write rank a claim first. Used by the reconciler's store and gate, and by ``kto plan``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Claim:
    """A resource's claim on a Kafka name (topic or user) of a Kafka cluster."""

    created: str  # RFC 3339 creationTimestamp: sorts chronologically, to the second
    namespace: str
    name: str
    uid: str = ""
    established: bool = False  # its status records that it owns the name (objects.ownership_of)
    cluster: tuple[str, str] = ("", "")  # the KafkaCluster the resource references
    unmanaged: bool = False  # observe only (kto.dev/managed=false)
    refused: str | None = None  # the reason kto refused it at its generation, as its status says
    claimed: str = ""  # the Kafka name it claims (names that collide in Kafka compete for one claim)

    @property
    def tier(self) -> int:
        """0: it owns the name (ownership never moves by itself: a namespace allowed later, a relist, a restart);
        1: a claim kto has not refused; 2: one refused only because another claim held the name; 3: refused for
        what it is (adoption required, not permitted, ...): it wins only where nothing better claims the name."""
        if self.established:
            return 0
        if self.refused is None:
            return 1
        return 2 if self.refused == "ResourceConflict" else 3

    @property
    def rank(self) -> tuple[int, str, str, str]:
        return self.tier, self.created, self.namespace, self.name


def owner_of(claims: Iterable[Claim]) -> Claim | None:
    """The claim that owns the name: the established one, else the best tier, oldest first."""
    return min(claims, key=lambda c: c.rank, default=None)
