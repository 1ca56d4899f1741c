"""Frozen values that flow between the planner, the Kafka gateway and the reconciler.

No I/O here and no imports of kopf, kubernetes or confluent-kafka: these are plain values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from kto.api import names
from kto.api.reasons import Reason

EMPTY: Mapping[str, str] = MappingProxyType({})

# Topic configs kto sets itself while replicas move (the replication throttle): never the user's overrides.
THROTTLED_REPLICAS = ("leader.replication.throttled.replicas", "follower.replication.throttled.replicas")


@dataclass(frozen=True)
class DesiredTopic:
    """What the resource (with its cluster's defaults) asks of Kafka. ``None`` means: the broker's default."""

    name: str
    partitions: int | None = None
    replication_factor: int | None = None
    config: Mapping[str, str] = field(default_factory=lambda: EMPTY)


@dataclass(frozen=True)
class ObservedTopic:
    """What Kafka has for one topic."""

    name: str
    topic_id: str | None
    partitions: int
    replication_factor: int
    # Dynamic topic overrides (config source DYNAMIC_TOPIC_CONFIG): the ones kto manages.
    overrides: Mapping[str, str] = field(default_factory=lambda: EMPTY)
    # Effective values of every other config (broker or static defaults), for messages.
    defaults: Mapping[str, str] = field(default_factory=lambda: EMPTY)
    # Replica broker ids per partition, in partition order.
    replicas: tuple[tuple[int, ...], ...] = ()


@dataclass(frozen=True)
class ClusterFacts:
    """What the periodic probe learnt about a Kafka cluster."""

    cluster_id: str | None
    controller_id: int | None
    broker_ids: tuple[int, ...]
    racks: Mapping[int, str] = field(default_factory=lambda: MappingProxyType({}))
    super_users: frozenset[str] = frozenset()  # user names in the brokers' super.users (User:<name>)
    default_user_quotas: Mapping[str, float] | None = None  # the quotas of Kafka's default user entity, if known

    @property
    def brokers(self) -> int:
        return len(self.broker_ids)


@dataclass(frozen=True)
class SecretContents:
    """A Secret kto was pointed at: its data, and whether it is marked for kto (labelled
    ``kto.dev/credentials=true``); kto uses an unmarked Secret's data for nothing."""

    data: Mapping[str, bytes]
    marked: bool

    @classmethod
    def of(cls, data: Mapping[str, bytes], labels: Mapping[str, str]) -> SecretContents:
        """A Secret's data, marked when its labels say ``kto.dev/credentials: "true"``."""
        return cls(data, labels.get(names.LABEL_CREDENTIALS) == "true")


@dataclass(frozen=True)
class Reassignment:
    """A partition reassignment in progress, as Kafka reports it."""

    replicas: tuple[int, ...]  # the full set while moving (target + removing)
    adding: tuple[int, ...] = ()
    removing: tuple[int, ...] = ()

    @property
    def target(self) -> tuple[int, ...]:
        return tuple(b for b in self.replicas if b not in self.removing)

    @property
    def original(self) -> tuple[int, ...]:
        return tuple(b for b in self.replicas if b not in self.adding)


@dataclass(frozen=True)
class KafkaFailure:
    """A Kafka error classified once, at the gateway: the reason, a message a person can act on, and
    whether retrying can help."""

    reason: Reason
    message: str
    retriable: bool


# --- Users ---------------------------------------------------------------------------------------

SCRAM_ITERATIONS = 8192  # iterations of every SCRAM credential kto sets


@dataclass(frozen=True, order=True)
class Acl:
    """One ACL binding of a principal, in Kafka's own words (resource type TOPIC, operation READ, ...)."""

    resource_type: str  # TOPIC | GROUP | CLUSTER | TRANSACTIONAL_ID
    name: str
    pattern: str  # LITERAL | PREFIXED
    host: str
    operation: str  # READ, WRITE, ... (Kafka's AclOperation names)
    permission: str  # ALLOW | DENY

    def describe(self) -> str:
        pattern = "" if self.pattern == "LITERAL" else f" ({self.pattern.lower()})"
        host = "" if self.host == "*" else f" from {self.host}"
        return f"{self.permission.lower()} {self.operation} on {self.resource_type.lower()} {self.name}{pattern}{host}"



# --- Actions (what to change in Kafka) ---------------------------------------------------------


@dataclass(frozen=True)
class CreateTopic:
    name: str
    partitions: int | None
    replication_factor: int | None
    config: Mapping[str, str] = field(default_factory=lambda: EMPTY)


@dataclass(frozen=True)
class _Resize:
    """A count of a topic's that goes from ``current`` to ``target``."""

    name: str
    current: int
    target: int


class CreatePartitions(_Resize):
    """Grow the topic to ``target`` partitions."""

    @property
    def total(self) -> int:
        return self.target


@dataclass(frozen=True)
class ConfigChange:
    key: str
    old: str | None  # None: not set (the default applied)
    new: str | None  # None: the override is removed


@dataclass(frozen=True)
class AlterConfigs:
    name: str
    changes: tuple[ConfigChange, ...]

    @property
    def to_set(self) -> dict[str, str]:
        return {c.key: c.new for c in self.changes if c.new is not None}

    @property
    def to_delete(self) -> list[str]:
        return [c.key for c in self.changes if c.new is None]


class ChangeReplicationFactor(_Resize):
    """Move replicas until every partition has ``target`` of them."""


@dataclass(frozen=True)
class DeleteTopic:
    name: str


Action = CreateTopic | CreatePartitions | AlterConfigs | ChangeReplicationFactor | DeleteTopic


@dataclass(frozen=True)
class Refusal:
    """Something the spec asks that kto will not do; the resource waits for the spec to change."""

    reason: Reason
    message: str


@dataclass(frozen=True)
class TopicPlan:
    actions: tuple[Action, ...] = ()
    refusals: tuple[Refusal, ...] = ()
    # Differences between spec and Kafka, described for people (status messages, Events).
    differences: tuple[str, ...] = field(default=())

    @property
    def in_sync(self) -> bool:
        return not self.actions and not self.refusals
