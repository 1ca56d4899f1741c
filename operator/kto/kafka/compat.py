"""Which Kafka brokers kto supports, decided from what they answer to ApiVersions. Pure: no I/O.

kto supports Apache Kafka 3.0 and later, in ZooKeeper or KRaft mode (DESIGN.md, "Kafka versions"). Every
admin API kto sends is listed here with the lowest version of it kto needs and the Kafka release that
brought it; a broker without one of them, or older than 3.0, is refused before anything is written.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

OLDEST_SUPPORTED = (3, 0)
ZOOKEEPER, KRAFT = "zookeeper", "kraft"
# LeaderAndIsr (ApiVersions key 4) is a ZooKeeper-mode broker's inter-broker API: a broker in KRaft mode
# (3.x and 4.x) does not list it (checked on 3.0 and 3.9 with ZooKeeper, 3.9 and 4.1 with KRaft).
LEADER_AND_ISR = 4


@dataclass(frozen=True)
class Api:
    key: int  # the ApiVersions key
    name: str
    min_version: int  # the lowest version of it kto needs
    since: str  # the Kafka release that brought that version
    used_for: str


REQUIRED_APIS = (
    Api(3, "Metadata", 10, "2.8", "topic ids"),
    Api(19, "CreateTopics", 0, "0.10.1", "creating topics"),
    Api(20, "DeleteTopics", 0, "0.10.1", "deleting topics"),
    Api(29, "DescribeAcls", 1, "2.0", "KafkaUser ACLs"),
    Api(30, "CreateAcls", 1, "2.0", "KafkaUser ACLs"),
    Api(31, "DeleteAcls", 1, "2.0", "KafkaUser ACLs"),
    Api(32, "DescribeConfigs", 1, "1.1", "reading topic configs and their sources"),
    Api(37, "CreatePartitions", 0, "1.0", "adding partitions"),
    Api(44, "IncrementalAlterConfigs", 0, "2.3", "changing topic configs"),
    Api(45, "AlterPartitionReassignments", 0, "2.4", "replication-factor changes"),
    Api(46, "ListPartitionReassignments", 0, "2.4", "replication-factor changes"),
    Api(50, "DescribeUserScramCredentials", 0, "2.7", "KafkaUser SCRAM credentials"),
    Api(51, "AlterUserScramCredentials", 0, "2.7", "KafkaUser SCRAM credentials"),
    Api(60, "DescribeCluster", 0, "2.8", "the KafkaCluster probe"),
)


@dataclass(frozen=True)
class BrokerApis:
    """What one broker answered to ApiVersions: each API key's (min, max) version, and the Kafka release those
    match (``None`` when the client could not tell)."""

    api_versions: Mapping[int, tuple[int, int]] = field(default_factory=lambda: MappingProxyType({}))
    release: tuple[int, ...] | None = None

    @property
    def mode(self) -> str:
        return ZOOKEEPER if LEADER_AND_ISR in self.api_versions else KRAFT

    @property
    def release_text(self) -> str:
        return ".".join(map(str, self.release)) if self.release else "unknown"


def missing_apis(apis: BrokerApis) -> list[Api]:
    """The APIs kto needs that the broker lacks, or has only in versions older than kto needs."""
    out = []
    for api in REQUIRED_APIS:
        span = apis.api_versions.get(api.key)
        if span is None or span[1] < api.min_version:
            out.append(api)
    return out


def is_too_old(apis: BrokerApis) -> bool:
    return apis.release is not None and tuple(apis.release[:2]) < OLDEST_SUPPORTED


def support_problem(apis: BrokerApis) -> str | None:
    """Why kto cannot work with these brokers (a message for the KafkaCluster's status), or None."""
    missing = missing_apis(apis)
    if not missing and not is_too_old(apis):
        return None
    oldest = ".".join(map(str, OLDEST_SUPPORTED))
    message = (f"the brokers answer ApiVersions like Apache Kafka {apis.release_text} "
               f"({'ZooKeeper' if apis.mode == ZOOKEEPER else 'KRaft'} mode); kto supports Kafka {oldest} and later")
    if missing:
        message += "; missing: " + ", ".join(
            f"{a.name} v{a.min_version}+ (Kafka {a.since}+, for {a.used_for})" for a in missing)
    return message + ": upgrade the brokers; kto writes nothing to this cluster until then"


def authorizer_hint(mode: str | None) -> str:
    """What to configure on brokers that have no authorizer: the class depends on the cluster's mode."""
    where = "(and super.users for kto's and the brokers' own principals) on every broker"
    if mode == ZOOKEEPER:
        return ("the brokers have no authorizer, so ACLs cannot be set: configure authorizer.class.name="
                f"kafka.security.authorizer.AclAuthorizer (these brokers run in ZooKeeper mode) {where}")
    if mode == KRAFT:
        return ("the brokers have no authorizer, so ACLs cannot be set: configure authorizer.class.name="
                f"org.apache.kafka.metadata.authorizer.StandardAuthorizer {where}")
    return ("the brokers have no authorizer, so ACLs cannot be set: configure authorizer.class.name="
            "org.apache.kafka.metadata.authorizer.StandardAuthorizer on KRaft clusters, or "
            f"kafka.security.authorizer.AclAuthorizer on ZooKeeper clusters, {where}")
