"""Pure logic for a KafkaCluster's ``spec.brokerConfig``: cluster-wide dynamic broker defaults.

kto sets them on the default broker resource (every broker, now and later) with IncrementalAlterConfigs. The
rules, in order (see DESIGN.md):
- only keys Kafka can change at runtime for the whole cluster (``CLUSTER_WIDE``, Kafka's DynamicBrokerConfig
  "cluster-wide" update mode) are accepted; any other is refused, naming the key: it belongs in the brokers'
  properties file;
- a key someone set by hand (present with another value, not recorded as kto's) is refused unless the
  KafkaCluster is annotated ``kto.dev/adopt=overwrite``;
- when anything is refused, nothing is written;
- kto removes only keys it set (``status.brokerConfigKeys``) that left the spec.
No I/O, no clock, no logging.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

# Broker configs Kafka accepts as cluster-wide dynamic defaults (kafka.server.DynamicBrokerConfig, the broker
# configs documented with "Dynamic Update Mode: cluster-wide", Kafka 3.x). Everything else is read-only (read
# from server.properties at start, e.g. log.dirs, process.roles, log.retention.hours,
# log.retention.check.interval.ms, auto.create.topics.enable) or per-broker only (listeners, ssl.*).
CLUSTER_WIDE = frozenset({
    "background.threads", "compression.type", "compression.gzip.level", "compression.lz4.level",
    "compression.zstd.level", "log.cleaner.backoff.ms", "log.cleaner.dedupe.buffer.size",
    "log.cleaner.delete.retention.ms", "log.cleaner.io.buffer.load.factor", "log.cleaner.io.buffer.size",
    "log.cleaner.io.max.bytes.per.second", "log.cleaner.max.compaction.lag.ms", "log.cleaner.min.cleanable.ratio",
    "log.cleaner.min.compaction.lag.ms", "log.cleaner.threads", "log.cleanup.policy", "log.flush.interval.messages",
    "log.flush.interval.ms", "log.index.interval.bytes", "log.index.size.max.bytes", "log.local.retention.bytes",
    "log.local.retention.ms", "log.message.downconversion.enable", "log.message.timestamp.after.max.ms",
    "log.message.timestamp.before.max.ms", "log.message.timestamp.difference.max.ms", "log.message.timestamp.type",
    "log.preallocate", "log.retention.bytes", "log.retention.ms", "log.roll.jitter.ms", "log.roll.ms",
    "log.segment.bytes", "log.segment.delete.delay.ms", "max.connection.creation.rate", "max.connections",
    "max.connections.per.ip", "max.connections.per.ip.overrides", "message.max.bytes", "metric.reporters",
    "min.insync.replicas", "num.io.threads", "num.network.threads", "num.recovery.threads.per.data.dir",
    "num.replica.fetchers", "producer.id.expiration.ms", "remote.log.manager.copy.max.bytes.per.second",
    "remote.log.manager.fetch.max.bytes.per.second", "transaction.partition.verification.enable",
    "unclean.leader.election.enable",
})
# Read-only keys with a dynamic equivalent: said in the refusal.
INSTEAD = {
    "log.retention.hours": "log.retention.ms", "log.retention.minutes": "log.retention.ms",
    "log.roll.hours": "log.roll.ms", "log.roll.jitter.hours": "log.roll.jitter.ms",
}


@dataclass(frozen=True)
class BrokerConfigPlan:
    to_set: Mapping[str, str] = field(default_factory=dict)
    to_delete: tuple[str, ...] = ()
    refused: tuple[str, ...] = ()  # one sentence per refused key
    drift: Mapping[str, str | None] = field(default_factory=dict)  # kto's keys changed out of band: key -> found
    keys: tuple[str, ...] = ()  # the keys kto holds once the plan is applied (status.brokerConfigKeys)

    @property
    def in_sync(self) -> bool:
        return not self.to_set and not self.to_delete


def refusal_of(key: str) -> str | None:
    """Why ``key`` cannot be a cluster-wide dynamic broker default, or None."""
    if key in CLUSTER_WIDE:
        return None
    instead = f" (its dynamic equivalent is {INSTEAD[key]})" if key in INSTEAD else ""
    return (f"{key} is not a cluster-wide dynamic broker config{instead}: brokers read it from their properties "
            "file (server.properties) at start, or accept it only per broker; it belongs in the broker's properties")


def plan_broker_config(desired: Mapping[str, str], observed: Mapping[str, str], recorded: Iterable[str],
                       overwrite: bool = False) -> BrokerConfigPlan:
    """What to change on the default broker resource. ``observed``: the cluster-wide dynamic defaults Kafka has;
    ``recorded``: the keys kto set before; ``overwrite``: the KafkaCluster may take over keys set by hand."""
    recorded = set(recorded)
    refused = [why for k in sorted(desired) if (why := refusal_of(k))]
    if not overwrite:
        refused += [_set_by_hand(key, observed[key]) for key in sorted(desired)
                    if _is_set_by_hand(key, desired[key], observed, recorded)]
    to_set = {k: v for k, v in desired.items() if observed.get(k) != v}
    to_delete = tuple(sorted(k for k in recorded - set(desired) if k in observed))
    drift = {k: observed.get(k) for k in sorted(set(to_set) & recorded)}
    # A key already equal to the spec and not kto's stays someone else's: kto does not remove it later.
    keys = tuple(sorted(k for k in desired if k in recorded or k in to_set))
    if refused:
        return BrokerConfigPlan(refused=tuple(refused), keys=tuple(sorted(recorded)))
    return BrokerConfigPlan(to_set, to_delete, (), drift, keys)


def _is_set_by_hand(key: str, value: str, observed: Mapping[str, str], recorded: set[str]) -> bool:
    """A valid key Kafka has with another value, that kto did not set."""
    return key in observed and observed[key] != value and key not in recorded and refusal_of(key) is None


def _set_by_hand(key: str, value: str) -> str:
    return (f"{key} was set by hand to {value} (kto did not set it): annotate the KafkaCluster "
            "kto.dev/adopt=overwrite to let kto replace it, or remove it from the spec")


def describe_drift(drift: Mapping[str, str | None], desired: Mapping[str, str]) -> str:
    return ", ".join(f"{k} {v if v is not None else 'unset'} -> {desired[k]}" for k, v in drift.items())


def config_strings(config: Mapping[str, object] | None) -> dict[str, str]:
    """spec.brokerConfig as Kafka takes it: every value a string (booleans lower-case)."""
    return {k: (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in (config or {}).items()}
