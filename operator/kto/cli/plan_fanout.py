"""What a KafkaCluster manifest changes for the topics already bound to it (``kto plan``'s fan-out), pure.

A KafkaCluster's ``topicDefaults`` (config, partitions, replicationFactor) are part of every bound topic's
effective spec. Which topics a new KafkaCluster spec changes is decided here with the operator's own
``build_desired`` (the merge of a topic's spec with its cluster's defaults is never written twice): the
effective topic under the live KafkaCluster and under the manifest's, compared field by field. What that does
in Kafka is then decided by ``kto.cli.plan.plan_entry`` (the gate, ``plan_topic``, adoption), as for any topic.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from kto.api.domain import DesiredTopic
from kto.api.models import KafkaClusterSpec, KafkaTopicSpec
from kto.api.objects import Key
from kto.topics.planner import build_desired


@dataclass(frozen=True)
class FieldChange:
    """One value that changes: a spec path (``topicDefaults.config.compression.type``) or a topic's field
    (``partitions``, ``config compression.type``); None is "not set"."""

    path: str
    old: Any
    new: Any


@dataclass(frozen=True)
class ClusterChange:
    """A KafkaCluster manifest whose spec differs from the live KafkaCluster (or that does not exist yet)."""

    source: str
    key: Key
    changes: tuple[FieldChange, ...]
    created: bool = False


@dataclass(frozen=True)
class Affected:
    """An existing KafkaTopic whose effective topic a KafkaCluster manifest changes."""

    key: Key
    desired: DesiredTopic  # the effective topic under the manifest's KafkaCluster
    changes: tuple[FieldChange, ...]  # old -> new, of the effective topic


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """A nested mapping as ``{"a.b.c": leaf}``; lists are leaves."""
    if not isinstance(value, Mapping):
        return {prefix: value}
    out: dict[str, Any] = {}
    for key, item in value.items():
        out |= flatten(item, f"{prefix}.{key}" if prefix else str(key))
    return out


def diff_cluster(old: KafkaClusterSpec | None, new: KafkaClusterSpec) -> tuple[FieldChange, ...]:
    """Every spec value that differs (a KafkaCluster spec names Secrets, it never holds a credential)."""
    before = flatten(old.model_dump(mode="json", exclude_none=True)) if old is not None else {}
    after = flatten(new.model_dump(mode="json", exclude_none=True))
    return tuple(FieldChange(p, before.get(p), after.get(p)) for p in sorted(before.keys() | after.keys())
                 if before.get(p) != after.get(p))


def desired_changes(before: DesiredTopic, after: DesiredTopic) -> tuple[FieldChange, ...]:
    """What differs between two effective topics, field by field."""
    out = []
    if before.partitions != after.partitions:
        out.append(FieldChange("partitions", before.partitions, after.partitions))
    if before.replication_factor != after.replication_factor:
        out.append(FieldChange("replication factor", before.replication_factor, after.replication_factor))
    out += [FieldChange(f"config {k}", before.config.get(k), after.config.get(k))
            for k in sorted(before.config.keys() | after.config.keys()) if before.config.get(k) != after.config.get(k)]
    return tuple(out)


def affected_topics(old: KafkaClusterSpec | None, new: KafkaClusterSpec,
                    topics: Iterable[tuple[Key, KafkaTopicSpec]]) -> list[Affected]:
    """The topics (key, parsed spec) whose effective topic is not the same under ``new`` as under ``old``."""
    out = []
    for key, spec in topics:
        before, after = build_desired(key[1], spec, old), build_desired(key[1], spec, new)
        changes = desired_changes(before, after)
        if changes:
            out.append(Affected(key, after, changes))
    return out
