"""Topics through confluent-kafka's AdminClient: metadata, describe, create, partitions, configs, delete, and the
replication throttles of reassignments. Two reads are kafka-python's (``kto.kafka.kpy``), handed in: the topics'
configs (without synonyms) and the reassignments.

Batch-first and idempotent: every call takes many topics and returns an outcome per topic; creating a topic that
exists and deleting one that does not are successes. Writes go in chunks within the brokers' limits
(``kto.kafka.chunking``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

from confluent_kafka import KafkaError, TopicCollection
from confluent_kafka.admin import (
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewPartitions,
    NewTopic,
)

from kto.api.domain import (
    THROTTLED_REPLICAS,
    AlterConfigs,
    CreatePartitions,
    CreateTopic,
    KafkaFailure,
    ObservedTopic,
)
from kto.api.reasons import Reason
from kto.kafka.admin import Admin, Outcome
from kto.kafka.chunking import send_in_chunks
from kto.kafka.compat import ZOOKEEPER
from kto.kafka.errors import HINTS, classify, kafka_error_of

# What one topic's DescribeConfigs gave: its overrides and its inherited (default) values.
Configs = tuple[dict[str, str], dict[str, str]]
DescribeConfigs = Callable[[Sequence[str]], Awaitable[Mapping[str, Configs | KafkaFailure]]]


class TopicAdapter:
    """The topic calls of the port, on one ``Admin``."""

    def __init__(self, admin: Admin, describe_configs: DescribeConfigs):
        self.admin = admin
        # Topic configs come from kafka-python (``kpy.KafkaPython.describe_topic_configs``): it can ask without
        # synonyms and keeps only what drift detection compares; librdkafka always asks for synonyms and builds
        # a ConfigEntry for every entry and synonym (DESIGN.md, "Describing topic configs").
        self._describe_configs = describe_configs
        self._defaults: list[Mapping[str, str]] = []  # distinct sets of topic defaults, newest first

    async def list_topics(self) -> list[str] | KafkaFailure:
        """The names of every topic of the cluster, internal ones included (one Metadata request)."""
        self.admin.count("metadata")
        try:
            md = await asyncio.to_thread(self.admin.client.list_topics, timeout=self.admin.request_timeout)
        except Exception as exc:  # noqa: BLE001 - classified below
            return self.admin.connection_failure(exc)
        return sorted(md.topics)

    async def describe_topics(self, names: Sequence[str], configs: bool = True
                              ) -> dict[str, ObservedTopic | KafkaFailure | None]:
        """Each topic as Kafka has it (``None``: it does not exist). Two requests for any number of topics; one
        without ``configs`` (then the topics' overrides and defaults are left empty)."""
        out: dict[str, ObservedTopic | KafkaFailure | None] = {}
        if not names:
            return out
        self.admin.count("describe_topics")
        futures = self.admin.client.describe_topics(TopicCollection(list(names)),
                                                    request_timeout=self.admin.request_timeout)
        descriptions: dict[str, Any] = {}
        results = await self.admin.pending.gather(list(futures.values()))
        for name, result in zip(futures.keys(), results, strict=True):
            if not isinstance(result, BaseException):
                descriptions[name] = result
                continue
            err = kafka_error_of(result)
            missing = err is not None and err.code() == KafkaError.UNKNOWN_TOPIC_OR_PART
            out[name] = None if missing else classify(result, f"describing topic {name}")
        described = await self._describe_configs(list(descriptions)) if configs and descriptions else {}
        for name, desc in descriptions.items():
            cfg = described.get(name)
            out[name] = cfg if isinstance(cfg, KafkaFailure) else self._observed(name, desc, cfg or ({}, {}))
        return out

    def _observed(self, name: str, desc: Any, configs: Configs) -> ObservedTopic:
        """One topic from its TopicDescription (confluent-kafka's) and its configs."""
        overrides, defaults = configs
        replicas: tuple[tuple[int, ...], ...] = tuple(tuple(n.id for n in p.replicas)
                                     for p in sorted(desc.partitions, key=lambda p: p.id))
        return ObservedTopic(
            name=name,
            topic_id=str(desc.topic_id) if getattr(desc, "topic_id", None) else None,
            partitions=len(desc.partitions),
            replication_factor=min((len(r) for r in replicas), default=0),
            overrides=MappingProxyType(overrides),
            defaults=self._shared(defaults),
            replicas=replicas,
        )

    def _shared(self, defaults: dict[str, str]) -> Mapping[str, str]:
        """The topics' inherited values are the brokers' defaults, alike for nearly every topic: one copy of each
        distinct set is kept (a few hundred bytes per topic otherwise, at 50,000 topics)."""
        for known in self._defaults:
            if known == defaults:
                return known
        shared = MappingProxyType(defaults)
        self._defaults = [shared, *self._defaults[:3]]
        return shared

    async def create_topics(self, actions: Iterable[CreateTopic]) -> dict[str, Outcome]:
        existed: set[str] = set()

        async def send(chunk: list[CreateTopic]) -> dict[str, Outcome]:
            new = [NewTopic(a.name, num_partitions=a.partitions or -1, replication_factor=a.replication_factor or -1,
                            config=dict(a.config)) for a in chunk]
            self.admin.count("create_topics")
            futures = self.admin.client.create_topics(new, operation_timeout=self.admin.request_timeout,
                                                      request_timeout=self.admin.request_timeout)
            return await self.admin.outcomes(futures, "creating topic", ok_codes={KafkaError.TOPIC_ALREADY_EXISTS},
                                             existed=existed)

        out = await send_in_chunks(list(actions), lambda a: (a.partitions or 1) + 1 + len(a.config), send,
                                   lambda a: a.name)
        return out | await self._being_deleted(sorted(existed))

    async def _being_deleted(self, names: list[str]) -> dict[str, Outcome]:
        """Of the topics CreateTopics said exist, those no broker describes. On ZooKeeper, an earlier topic of
        that name is still being deleted (a replica's broker is down): Kafka 3.9 says "marked for deletion"
        (classified at once); 3.0 to 3.8 say "already exists", and the topic is gone from the metadata meanwhile.
        On KRaft (and while the mode is not known) nothing is reported: the controller is still removing an
        earlier topic of the name, or the broker asked has not caught up with the metadata; the topic is looked
        at again in a second, without a status write, and created once the name is free (``topic_verdict``)."""
        if not names or self.admin.mode != ZOOKEEPER:
            return {}
        seen = await self.describe_topics(names, configs=False)
        return {name: KafkaFailure(Reason.TOPIC_BEING_DELETED, f"creating topic {name}: Kafka answers that it "
                                   f"already exists, yet no broker describes it ({HINTS[Reason.TOPIC_BEING_DELETED]})",
                                   retriable=True)
                for name in names if seen.get(name) is None}

    async def create_partitions(self, actions: Iterable[CreatePartitions]) -> dict[str, Outcome]:
        async def send(chunk: list[CreatePartitions]) -> dict[str, Outcome]:
            self.admin.count("create_partitions")
            futures = self.admin.client.create_partitions([NewPartitions(a.name, a.total) for a in chunk],
                                                          operation_timeout=self.admin.request_timeout,
                                                          request_timeout=self.admin.request_timeout)
            return await self.admin.outcomes(futures, "adding partitions to topic")

        return await send_in_chunks(list(actions), lambda a: a.total - a.current, send, lambda a: a.name)

    async def alter_configs(self, actions: Iterable[AlterConfigs]) -> dict[str, Outcome]:
        async def send(chunk: list[AlterConfigs]) -> dict[str, Outcome]:
            resources = []
            for a in chunk:
                entries = [ConfigEntry(k, v, incremental_operation=AlterConfigOpType.SET) for k, v in a.to_set.items()]
                entries += [ConfigEntry(k, None, incremental_operation=AlterConfigOpType.DELETE) for k in a.to_delete]
                resources.append(ConfigResource(ConfigResource.Type.TOPIC, a.name, incremental_configs=entries))
            self.admin.count("incremental_alter_configs")
            futures = self.admin.client.incremental_alter_configs(resources, request_timeout=self.admin.request_timeout)
            return await self.admin.outcomes(futures, "setting configs of topic")

        return await send_in_chunks(list(actions), lambda a: len(a.changes), send, lambda a: a.name)

    async def delete_topics(self, names: Iterable[str]) -> dict[str, Outcome]:
        async def send(chunk: list[str]) -> dict[str, Outcome]:
            self.admin.count("delete_topics")
            futures = self.admin.client.delete_topics(chunk, operation_timeout=self.admin.request_timeout,
                                                      request_timeout=self.admin.request_timeout)
            return await self.admin.outcomes(futures, "deleting topic", ok_codes={KafkaError.UNKNOWN_TOPIC_OR_PART})

        return await send_in_chunks(list(names), lambda _: 1, send, lambda n: n)

    # --- replicas: load and throttles (the reassignments are kafka-python's) ------------------------

    async def describe_replica_load(self) -> dict[int, int] | KafkaFailure:
        """Replicas per broker across the whole cluster (one Metadata request)."""
        self.admin.count("metadata")
        try:
            md = await asyncio.to_thread(self.admin.client.list_topics, timeout=self.admin.request_timeout)
        except Exception as exc:  # noqa: BLE001 - classified below
            return classify(exc, "describing the cluster's replicas")
        load: dict[int, int] = {b: 0 for b in md.brokers}
        for topic in md.topics.values():
            for partition in topic.partitions.values():
                for b in partition.replicas:
                    load[b] = load.get(b, 0) + 1
        return load

    async def set_replication_throttle(self, broker_ids: Sequence[int], rate: int | None) -> Outcome:
        """Set (or, with ``None``, remove) the leader and follower replication throttle on every broker."""
        op = AlterConfigOpType.SET if rate is not None else AlterConfigOpType.DELETE
        value = str(rate) if rate is not None else None
        for broker in broker_ids:
            entries = [ConfigEntry(k, value, incremental_operation=op)
                       for k in ("leader.replication.throttled.rate", "follower.replication.throttled.rate")]
            resource = ConfigResource(ConfigResource.Type.BROKER, str(broker), incremental_configs=entries)
            self.admin.count("incremental_alter_configs")
            futures = self.admin.client.incremental_alter_configs([resource],
                                                                  request_timeout=self.admin.request_timeout)
            failure = (await self.admin.outcomes({str(broker): futures[resource]}, "setting the replication "
                                                 "throttle on broker")).get(str(broker))
            if failure is not None:
                return failure
        return None

    async def set_topic_throttle(self, topics: dict[str, bool]) -> dict[str, Outcome]:
        """Mark (True) or unmark (False) all replicas of each topic as throttled."""
        resources = []
        for topic, on in topics.items():
            op = AlterConfigOpType.SET if on else AlterConfigOpType.DELETE
            entries = [ConfigEntry(k, "*" if on else None, incremental_operation=op) for k in THROTTLED_REPLICAS]
            resources.append(ConfigResource(ConfigResource.Type.TOPIC, topic, incremental_configs=entries))
        if not resources:
            return {}
        self.admin.count("incremental_alter_configs")
        futures = self.admin.client.incremental_alter_configs(resources, request_timeout=self.admin.request_timeout)
        return await self.admin.outcomes(futures, "setting the replication throttle of topic")
