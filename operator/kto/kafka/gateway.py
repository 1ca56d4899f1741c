"""The Kafka port's one implementation: ``KafkaGateway``, a thin façade over the adapters of one cluster.

Two clients sit behind it: confluent-kafka (librdkafka) for everything it offers, through ``kto.kafka.admin``'s
one AdminClient and the adapters by concern (``topics``, ``security``, ``cluster``), and kafka-python for what it
does not offer (``kto.kafka.kpy``: API versions, reassignments, client quotas, the default broker resource, log
dirs and batched committed offsets). The rest of kto sees one gateway, typed by the Protocols of
``kto.reconcile.ports``.

Batch-first and idempotent: every call takes many names and returns an outcome per name (``None`` for success, a
``KafkaFailure`` otherwise). Kafka errors are classified once, in the adapters (``kto.kafka.errors``). Each public
call is timed, its failures counted, and the requests it sends labelled with its name
(``metrics.timed_calls``: its name is one of ``metrics.KAFKA_OPERATIONS``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from confluent_kafka import KafkaError

from kto.api.domain import (
    Acl,
    AlterConfigs,
    ClusterFacts,
    CreatePartitions,
    CreateTopic,
    KafkaFailure,
    ObservedTopic,
    Reassignment,
)
from kto.api.quotas import QuotaChange
from kto.kafka.admin import Admin, Outcome
from kto.kafka.cluster import ClusterAdapter
from kto.kafka.compat import BrokerApis
from kto.kafka.kpy import KafkaPython
from kto.kafka.security import SecurityAdapter
from kto.kafka.topics import TopicAdapter
from kto.telemetry import metrics


@metrics.timed_calls(KafkaFailure)
class KafkaGateway:
    """One admin connection to one Kafka cluster (``label``: the KafkaCluster's namespace/name)."""

    def __init__(self, conf: Mapping[str, str], label: str, request_timeout: float = 30.0):
        self.label = label
        self.request_timeout = request_timeout
        self.admin = Admin(conf, label, request_timeout)
        self.kpy = KafkaPython(conf, request_timeout, self.admin.count)
        self.cluster = ClusterAdapter(self.admin)
        self.topics = TopicAdapter(self.admin, self.kpy.describe_topic_configs)
        self.security = SecurityAdapter(self.admin)

    @property
    def requests(self) -> int:
        """Admin requests sent through both clients, for benchmarks."""
        return self.admin.requests

    @property
    def apis(self) -> BrokerApis | None:
        """What the brokers answered to ApiVersions, once asked."""
        return self.admin.apis

    @property
    def mode(self) -> str | None:
        """``zookeeper`` or ``kraft`` once the brokers' API versions are known."""
        return self.admin.mode

    def recent_client_error(self, within: float = 60.0) -> KafkaError | None:
        return self.admin.recent_client_error(within)

    def close(self) -> None:
        # AdminClient has no close(): the librdkafka handle goes with the last reference (a batch still
        # using this gateway finishes with it). The kafka-python clients are closed.
        self.kpy.close()

    # --- the cluster --------------------------------------------------------------------------------

    async def describe_cluster(self, attempts: int = 2) -> ClusterFacts | KafkaFailure:
        return await self.cluster.describe_cluster(attempts)

    async def describe_super_users(self, broker_ids: Sequence[int]) -> frozenset[str] | KafkaFailure:
        return await self.cluster.describe_super_users(broker_ids)

    async def describe_broker_apis(self) -> BrokerApis | KafkaFailure:
        """Asked once per connection: the Kafka release and mode the brokers tell are those of the cluster until
        kto reconnects (a new gateway)."""
        if self.admin.apis is not None:
            return self.admin.apis
        apis = await self.kpy.describe_broker_apis()
        if isinstance(apis, BrokerApis):
            self.admin.apis = apis
        return apis

    async def describe_broker_defaults(self) -> dict[str, str] | KafkaFailure:
        return await self.kpy.describe_broker_defaults()

    async def alter_broker_defaults(self, to_set: Mapping[str, str], to_delete: Sequence[str],
                                    validate_only: bool = False) -> Outcome:
        return await self.kpy.alter_broker_defaults(to_set, to_delete, validate_only)

    # --- topics (TopicPort) --------------------------------------------------------------------------

    async def list_topics(self) -> list[str] | KafkaFailure:
        return await self.topics.list_topics()

    async def describe_topics(self, names: Sequence[str], configs: bool = True
                              ) -> dict[str, ObservedTopic | KafkaFailure | None]:
        return await self.topics.describe_topics(names, configs)

    async def create_topics(self, actions: Iterable[CreateTopic]) -> dict[str, Outcome]:
        return await self.topics.create_topics(actions)

    async def create_partitions(self, actions: Iterable[CreatePartitions]) -> dict[str, Outcome]:
        return await self.topics.create_partitions(actions)

    async def alter_configs(self, actions: Iterable[AlterConfigs]) -> dict[str, Outcome]:
        return await self.topics.alter_configs(actions)

    async def delete_topics(self, names: Iterable[str]) -> dict[str, Outcome]:
        return await self.topics.delete_topics(names)

    async def describe_replica_load(self) -> dict[int, int] | KafkaFailure:
        return await self.topics.describe_replica_load()

    async def list_reassignments(self) -> dict[str, dict[int, Reassignment]] | KafkaFailure:
        return await self.kpy.list_reassignments()

    async def alter_reassignments(self, moves: dict[str, dict[int, list[int] | None]]) -> dict[str, Outcome]:
        return await self.kpy.alter_reassignments(moves)

    async def set_replication_throttle(self, broker_ids: Sequence[int], rate: int | None) -> Outcome:
        return await self.topics.set_replication_throttle(broker_ids, rate)

    async def set_topic_throttle(self, topics: dict[str, bool]) -> dict[str, Outcome]:
        return await self.topics.set_topic_throttle(topics)

    # --- users (UserPort) ----------------------------------------------------------------------------

    async def describe_scram(self, users: Sequence[str]) -> dict[str, dict[str, int] | KafkaFailure | None]:
        return await self.security.describe_scram(users)

    async def list_scram_users(self) -> dict[str, dict[str, int]] | KafkaFailure:
        return await self.security.list_scram_users()

    async def alter_scram(self, upserts: Sequence[tuple[str, str, str]],
                          deletions: Sequence[tuple[str, str]]) -> dict[str, Outcome]:
        return await self.security.alter_scram(upserts, deletions)

    async def describe_acls(self) -> dict[str, set[Acl]] | KafkaFailure:
        return await self.security.describe_acls()

    async def create_acls(self, acls: dict[str, Sequence[Acl]]) -> dict[str, Outcome]:
        return await self.security.create_acls(acls)

    async def delete_acls(self, acls: dict[str, Sequence[Acl] | None]) -> dict[str, Outcome]:
        return await self.security.delete_acls(acls)

    async def describe_user_quotas(self, default: bool = False) -> dict[str | None, dict[str, float]] | KafkaFailure:
        return await self.kpy.describe_user_quotas(default)

    async def alter_user_quotas(self, changes: Sequence[QuotaChange]) -> dict[str | None, Outcome]:
        return await self.kpy.alter_user_quotas(changes)

    # --- consumer lag and topic size (LagPort) -------------------------------------------------------

    async def describe_log_dirs(self, partitions: Mapping[str, int]) -> list[tuple[str, int, int]] | KafkaFailure:
        return await self.kpy.describe_log_dirs(partitions)

    async def list_end_offsets(self, partitions: Mapping[str, int]
                               ) -> dict[tuple[str, int], int | KafkaFailure] | KafkaFailure:
        return await self.cluster.list_end_offsets(partitions)

    async def list_groups(self) -> list[str] | KafkaFailure:
        return await self.cluster.list_groups()

    async def list_committed_offsets(self, groups: Sequence[str]
                                     ) -> dict[str, dict[tuple[str, int], int] | KafkaFailure] | KafkaFailure:
        return await self.kpy.list_committed_offsets(groups)
