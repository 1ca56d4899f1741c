"""The cluster as a whole through confluent-kafka's AdminClient: its id, brokers and racks (the probe), the
brokers' ``super.users``, and the reads the lag collector makes of every partition and group (end offsets, the
consumer groups). The brokers' API versions, the cluster-wide broker configs, log dirs and committed offsets are
kafka-python's (``kto.kafka.kpy``)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType

from confluent_kafka import TopicPartition
from confluent_kafka.admin import ConfigResource, OffsetSpec

from kto.api.domain import ClusterFacts, KafkaFailure
from kto.api.reasons import Reason
from kto.kafka.admin import Admin
from kto.kafka.errors import classify

SUPER_USERS = "super.users"
# confluent-kafka leaves OffsetSpec's constructors untyped.
_latest: Callable[[], OffsetSpec] = OffsetSpec.latest


def super_users_of(value: str | None) -> frozenset[str]:
    """The user names in a ``super.users`` value: ``User:<name>`` entries separated by ';' (spaces around an entry
    or its name ignored, as Kafka ignores them); principals of another type, and empty names, are left out."""
    names = set()
    for entry in (value or "").split(";"):
        kind, sep, name = entry.strip().partition(":")
        if sep and kind.strip() == "User" and name.strip():
            names.add(name.strip())
    return frozenset(names)


class ClusterAdapter:
    """The cluster-wide calls of the port, on one ``Admin``."""

    def __init__(self, admin: Admin):
        self.admin = admin

    async def describe_cluster(self, attempts: int = 2) -> ClusterFacts | KafkaFailure:
        """The cluster's id, brokers and racks. A request lost with the broker it went to (the broker died, its
        connection was refused) is sent once more: the other brokers answer it, and one broker down of several
        does not make the whole cluster unreachable. One that timed out is not: nobody answered."""
        timeout = min(self.admin.request_timeout, 10.0)
        for attempt in range(attempts):
            self.admin.count("describe_cluster")
            sent = time.monotonic()
            try:
                result = await self.admin.pending.track(self.admin.client.describe_cluster(request_timeout=timeout))
                break
            except Exception as exc:  # noqa: BLE001 - classified below
                failure = self.admin.connection_failure(exc)
                lost = time.monotonic() - sent < timeout / 2
                if failure.reason != Reason.UNREACHABLE or not lost or attempt == attempts - 1:
                    return failure
        else:
            return KafkaFailure(Reason.UNREACHABLE, "cannot reach the brokers: no attempt was made", retriable=True)
        return ClusterFacts(
            cluster_id=result.cluster_id,
            controller_id=result.controller.id if result.controller else None,
            broker_ids=tuple(sorted(n.id for n in result.nodes)),
            racks=MappingProxyType({n.id: n.rack for n in result.nodes if getattr(n, "rack", None)}),
        )

    async def describe_super_users(self, broker_ids: Sequence[int]) -> frozenset[str] | KafkaFailure:
        """The user names of the brokers' ``super.users`` (a static broker config: one DescribeConfigs of a broker
        resource, sent to that broker, on KRaft and ZooKeeper alike). The first of ``broker_ids`` that answers is
        asked; a refusal to describe the cluster's configs is the same on every broker, and ends the asking.

        Stock Kafka (3.x and 4.x, both modes) describes ``super.users`` as sensitive, without its value: it is an
        authorizer's key, not one of the broker's own, and the broker hides every key whose type it does not know.
        That is a failure here (the value is unknown), never an empty set; brokers without an authorizer have no
        ``super.users`` at all, which is an empty set."""
        failure = KafkaFailure(Reason.KAFKA_ERROR, "describing super.users: no broker to ask", retriable=True)
        for broker in list(broker_ids)[:3]:
            resource = ConfigResource(ConfigResource.Type.BROKER, str(broker))
            self.admin.count("describe_configs")
            try:
                futures = self.admin.client.describe_configs([resource],
                                                             request_timeout=min(self.admin.request_timeout, 10.0))
                configs = await self.admin.pending.track(futures[resource])
            except Exception as exc:  # noqa: BLE001 - classified below
                failure = classify(exc, f"describing the config super.users of broker {broker}", self.admin.mode)
                if failure.reason == Reason.AUTHORIZATION_FAILED:
                    return failure
                continue
            entry = configs.get(SUPER_USERS)
            if entry is not None and entry.value is None and entry.is_sensitive:
                return KafkaFailure(Reason.KAFKA_ERROR, f"broker {broker} describes super.users as sensitive, without "
                                    "its value (Kafka hides the keys it has no type for): list the super users in "
                                    "the KafkaCluster's protectedPrincipals", retriable=False)
            return super_users_of(entry.value if entry is not None else None)
        return failure

    async def list_end_offsets(self, partitions: Mapping[str, int]) -> dict[tuple[str, int], int | KafkaFailure] \
            | KafkaFailure:
        """The end offset of every partition of these topics: one ListOffsets per partition leader."""
        request = {TopicPartition(t, p): _latest() for t, n in partitions.items() for p in range(n)}
        if not request:
            return {}
        self.admin.count("list_offsets")
        try:
            futures = self.admin.client.list_offsets(request, request_timeout=self.admin.request_timeout)
        except Exception as exc:  # noqa: BLE001 - classified below
            return classify(exc, "listing end offsets")
        keys = list(futures)
        results = await self.admin.pending.gather([futures[k] for k in keys])
        return {(k.topic, k.partition): classify(r, f"listing the end offset of {k.topic}/{k.partition}")
                if isinstance(r, BaseException) else r.offset for k, r in zip(keys, results, strict=True)}

    async def list_groups(self) -> list[str] | KafkaFailure:
        """Every consumer group's id (one ListGroups per broker)."""
        self.admin.count("list_consumer_groups")
        try:
            result = await self.admin.pending.track(
                self.admin.client.list_consumer_groups(request_timeout=self.admin.request_timeout))
        except Exception as exc:  # noqa: BLE001 - classified below
            return classify(exc, "listing consumer groups")
        return sorted(g.group_id for g in result.valid)
