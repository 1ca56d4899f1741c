"""The Kafka port: what the kinds and the lag collector ask of a Kafka cluster, as a typed ``Protocol``.

``kto.kafka.gateway.KafkaGateway`` implements it (checked by mypy where the registry builds a ``Connected``
cluster state); tests implement it in memory (``tests/support/fakes.FakeGateway``). Every call is
batch-first and idempotent: it takes many names and answers per name, ``None`` for success or a
``KafkaFailure`` already classified into kto's reasons; a failure of the whole call is a ``KafkaFailure``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

from kto.api.domain import (
    Acl,
    AlterConfigs,
    CreatePartitions,
    CreateTopic,
    KafkaFailure,
    ObservedTopic,
    Reassignment,
)
from kto.api.quotas import QuotaChange

Outcome = KafkaFailure | None  # per name: None when done


class TopicPort(Protocol):
    async def describe_topics(self, names: Sequence[str], configs: bool = True
                              ) -> dict[str, ObservedTopic | KafkaFailure | None]: ...

    async def create_topics(self, actions: Iterable[CreateTopic]) -> dict[str, Outcome]: ...

    async def create_partitions(self, actions: Iterable[CreatePartitions]) -> dict[str, Outcome]: ...

    async def alter_configs(self, actions: Iterable[AlterConfigs]) -> dict[str, Outcome]: ...

    async def delete_topics(self, names: Iterable[str]) -> dict[str, Outcome]: ...

    async def describe_replica_load(self) -> dict[int, int] | KafkaFailure: ...

    async def list_reassignments(self) -> dict[str, dict[int, Reassignment]] | KafkaFailure: ...

    async def alter_reassignments(self, moves: dict[str, dict[int, list[int] | None]]) -> dict[str, Outcome]: ...

    async def set_replication_throttle(self, broker_ids: Sequence[int], rate: int | None) -> Outcome: ...

    async def set_topic_throttle(self, topics: dict[str, bool]) -> dict[str, Outcome]: ...


class UserPort(Protocol):
    async def describe_scram(self, users: Sequence[str]) -> dict[str, dict[str, int] | KafkaFailure | None]: ...

    async def alter_scram(self, upserts: Sequence[tuple[str, str, str]],
                          deletions: Sequence[tuple[str, str]]) -> dict[str, Outcome]: ...

    async def describe_acls(self) -> dict[str, set[Acl]] | KafkaFailure: ...

    async def create_acls(self, acls: dict[str, Sequence[Acl]]) -> dict[str, Outcome]: ...

    async def delete_acls(self, acls: dict[str, Sequence[Acl] | None]) -> dict[str, Outcome]: ...

    async def describe_user_quotas(self, default: bool = False
                                   ) -> dict[str | None, dict[str, float]] | KafkaFailure: ...

    async def alter_user_quotas(self, changes: Sequence[QuotaChange]) -> dict[str | None, Outcome]: ...


class LagPort(Protocol):
    async def describe_log_dirs(self, partitions: Mapping[str, int]) -> list[tuple[str, int, int]] | KafkaFailure: ...

    async def list_end_offsets(self, partitions: Mapping[str, int]
                               ) -> dict[tuple[str, int], int | KafkaFailure] | KafkaFailure: ...

    async def list_groups(self) -> list[str] | KafkaFailure: ...

    async def list_committed_offsets(self, groups: Sequence[str]
                                     ) -> dict[str, dict[tuple[str, int], int] | KafkaFailure] | KafkaFailure: ...


class KafkaPort(TopicPort, UserPort, LagPort, Protocol):
    """Everything a ``Connected`` cluster's gateway offers."""
