"""``kto plan -f DIR``: what applying a folder of KafkaTopics would change in Kafka, before anything changes.

Gather, decide, never act: per KafkaCluster the manifests name, read the cluster and its Secrets through the
kubeconfig, connect as kto does, describe the topics (the same two requests kto's batch sends), list the
KafkaTopics that already claim names on that Kafka cluster; then, per manifest, the operator's own pure
decisions: the gate (``kto.gates.decide``: invalid spec, missing cluster, namespace not allowed, protected
topic, conflict, paused, observe-only), the planner (``kto.planner.plan_topic``) and the adoption rule
(``kto.topics.verdicts.plan_adoption``). Messages are kto's own, word for word.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kto.api import domain
from kto.api.domain import DesiredTopic, KafkaFailure, ObservedTopic
from kto.api.reasons import Reason
from kto.cli.plan_fanout import ClusterChange, FieldChange
from kto.cli.plan_prune import Pruned
from kto.reconcile.cluster_state import brokers_of
from kto.reconcile.gates import Gathered, decide
from kto.reconcile.outcomes import Converge, Observe, Report, Verdict
from kto.topics.planner import plan_topic
from kto.topics.verdicts import RULES, observe_verdict, plan_adoption

# What a resource's entry in the plan is.
CREATE, UPDATE, TAKE_OVER = "create", "update", "take-over"
UNCHANGED, ADOPT, OBSERVE, PAUSED = "unchanged", "adopt", "observe-only", "paused"
REFUSED, CONFLICT = "refused", "conflict"
CHANGES = (CREATE, UPDATE, TAKE_OVER)
ATTENTION = (REFUSED, CONFLICT)
SYMBOLS = {CREATE: "+", UPDATE: "~", TAKE_OVER: "~", REFUSED: "!", CONFLICT: "!", ADOPT: "=", OBSERVE: "?",
           PAUSED: "-", UNCHANGED: " "}
# Like `terraform plan -detailed-exitcode`, and one more: refusals need a person, not a review.
EXIT_NO_CHANGES, EXIT_ERROR, EXIT_CHANGES, EXIT_REFUSED = 0, 1, 2, 3


@dataclass(frozen=True)
class Entry:
    """One KafkaTopic of the plan: what applying it would do."""

    source: str
    namespace: str
    name: str
    topic: str
    cluster: tuple[str, str]
    outcome: str  # CREATE, UPDATE, ...
    actions: tuple[domain.Action, ...] = ()
    reason: str | None = None
    message: str | None = None  # kto's own words: the Ready condition it would write
    via: str | None = None  # an existing KafkaTopic changed by a KafkaCluster manifest: that manifest's file
    effective: tuple[FieldChange, ...] = ()  # with ``via``: its effective topic, old -> new


# --- Deciding (pure) --------------------------------------------------------------------------------


def plan_entry(g: Gathered, desired: DesiredTopic, seen: ObservedTopic | KafkaFailure | None,
               body: Mapping[str, Any], source: str) -> Entry:
    """What kto would do with one KafkaTopic: the gate first, then the planner and the adoption rule."""
    base: dict[str, Any] = {"source": source, "namespace": g.key[0], "name": g.key[1], "topic": g.name,
                            "cluster": g.cluster_ref}
    match decide(g, RULES):
        case Report(verdict=v):
            return Entry(**base, outcome=_reported(v), reason=str(v.reason), message=v.message)
        case Observe():
            v = observe_verdict(desired, seen)
            return Entry(**base, outcome=OBSERVE, reason=str(v.reason), message=v.message)
        case Converge():
            return _converge(base, g, desired, seen, body)
    raise AssertionError("the gate decides Report, Observe or Converge for a resource not being deleted")


def _reported(v: Verdict) -> str:
    if v.reason == Reason.PAUSED:
        return PAUSED
    return CONFLICT if v.reason == Reason.RESOURCE_CONFLICT else REFUSED


def _converge(base: dict[str, Any], g: Gathered, desired: DesiredTopic, seen: ObservedTopic | KafkaFailure | None,
              body: Mapping[str, Any]) -> Entry:
    if isinstance(seen, KafkaFailure):
        return Entry(**base, outcome=REFUSED, reason=str(seen.reason), message=seen.message)
    plan = plan_topic(desired, seen, brokers=brokers_of(g.cluster))
    adoption = plan_adoption(desired, body, g.owns, seen, plan)
    if adoption is not None and adoption.reason == Reason.ADOPTING:
        return Entry(**base, outcome=TAKE_OVER, actions=plan.actions, reason=str(adoption.reason),
                     message=adoption.message)
    if adoption is not None:
        outcome = ADOPT if adoption.ready else REFUSED
        return Entry(**base, outcome=outcome, reason=str(adoption.reason), message=adoption.message)
    if plan.refusals:
        return Entry(**base, outcome=REFUSED, actions=plan.actions, reason=str(plan.refusals[0].reason),
                     message="; ".join(r.message for r in plan.refusals))
    if any(isinstance(a, domain.CreateTopic) for a in plan.actions):
        return Entry(**base, outcome=CREATE, actions=plan.actions)
    return Entry(**base, outcome=UPDATE if plan.actions else UNCHANGED, actions=plan.actions)


def exit_code(entries: list[Entry], clusters: Sequence[ClusterChange] = (), pruned: Sequence[Pruned] = ()) -> int:
    """0: applying changes nothing and refuses nothing; 2: something changes (in Kafka, a KafkaCluster's spec, or
    a resource pruned); 3: something would be refused or conflicts (whatever else changes). 1 is an error (usage
    errors included), from ``kto.cli.main``."""
    if any(e.outcome in ATTENTION for e in entries):
        return EXIT_REFUSED
    changes = any(e.outcome in CHANGES for e in entries) or bool(clusters) or bool(pruned)
    return EXIT_CHANGES if changes else EXIT_NO_CHANGES


# --- Formatting (pure) ------------------------------------------------------------------------------


def describe_action(action: domain.Action) -> list[str]:
    """The lines a person reads for one action."""
    match action:
        case domain.CreateTopic(partitions=p, replication_factor=rf, config=config):
            lines = [f"partitions: {p if p is not None else '(broker default)'}",
                     f"replication factor: {rf if rf is not None else '(broker default)'}"]
            return lines + [f"config {k}: {v}" for k, v in config.items()]
        case domain.CreatePartitions(current=current, target=target):
            return [f"partitions: {current} -> {target}"]
        case domain.ChangeReplicationFactor(current=current, target=target):
            return [f"replication factor: {current} -> {target} (replicas move by partition reassignment)"]
        case domain.AlterConfigs(changes=changes):
            return [describe_config_change(c) for c in changes]
    return [str(action)]


def describe_config_change(change: domain.ConfigChange) -> str:
    if change.new is None:
        return f"config {change.key}: {change.old} -> (override removed, the broker default applies)"
    old = "(unset)" if change.old is None else change.old
    return f"config {change.key}: {old} -> {change.new}"


def shown(value: object) -> str:
    return "(unset)" if value is None else str(value)


def describe_field(change: FieldChange) -> str:
    return f"{change.path}: {shown(change.old)} -> {shown(change.new)}"


def format_cluster(c: ClusterChange, entries: Sequence[Entry]) -> list[str]:
    moved = [e for e in entries if e.via == c.source and e.cluster == c.key]
    head = "create" if c.created else "update"
    lines = [f"{SYMBOLS[CREATE] if c.created else SYMBOLS[UPDATE]} {head:<12} KafkaCluster {c.key[0]}/{c.key[1]}  "
             f"({c.source})"]
    lines += [f"      {describe_field(f)}" for f in c.changes]
    lines.append(f"      existing KafkaTopics whose effective spec changes: {len(moved)}")
    return lines


def format_entry(e: Entry) -> list[str]:
    via = f"via KafkaCluster ({e.via})" if e.via else e.source
    lines = [f"{SYMBOLS[e.outcome]} {e.outcome:<12} KafkaTopic {e.namespace}/{e.name} -> topic {e.topic} "
             f"on {e.cluster[0]}/{e.cluster[1]}  ({via})"]
    lines += [f"      effective {describe_field(f)}" for f in e.effective]
    lines += [f"      {line}" for a in e.actions for line in describe_action(a)]
    if e.message:
        lines.append(f"      {e.reason}: {e.message}")
    return lines


def format_pruned(p: Pruned) -> str:
    return (f"- prune        {p.kind} {p.namespace}/{p.name} -> {p.effect}: {p.message}  "
            f"(on {p.cluster[0]}/{p.cluster[1]})")


def format_text(entries: list[Entry], notes: Sequence[str] = (), clusters: Sequence[ClusterChange] = (),
                pruned: Sequence[Pruned] = ()) -> str:
    lines = [line for c in clusters for line in format_cluster(c, entries)]
    for e in entries:
        if e.outcome != UNCHANGED or e.effective:
            lines += format_entry(e)
    lines += [format_pruned(p) for p in pruned]
    lines += [f"note: {n}" for n in notes]
    lines.append(summary(entries, clusters, pruned))
    return "\n".join(lines) + "\n"


LABELS = ((CREATE, "to create"), (UPDATE, "to change"), (TAKE_OVER, "to take over"), (ADOPT, "to adopt unchanged"),
          (REFUSED, "refused"), (CONFLICT, "in conflict"), (OBSERVE, "observed only"), (PAUSED, "paused"),
          (UNCHANGED, "unchanged"))


def summary(entries: Sequence[Entry], clusters: Sequence[ClusterChange] = (), pruned: Sequence[Pruned] = ()) -> str:
    counts = {o: sum(1 for e in entries if e.outcome == o) for o in SYMBOLS}
    parts = [f"{counts[o]} {label}" for o, label in LABELS if counts[o]]
    if clusters:
        moved = sum(1 for e in entries if e.via)
        parts.append(f"{len(clusters)} KafkaCluster(s) changed, changing the effective spec of {moved} existing "
                     "KafkaTopic(s)")
    if pruned:
        effects = {p.effect: sum(1 for q in pruned if q.effect == p.effect) for p in pruned}
        parts.append(f"{len(pruned)} to prune (" + ", ".join(f"{n} {e}" for e, n in sorted(effects.items())) + ")")
    return "Plan: " + (", ".join(parts) if parts else "no KafkaTopics") + "."


def action_json(action: domain.Action) -> list[dict[str, Any]]:
    match action:
        case domain.CreateTopic(partitions=p, replication_factor=rf, config=config):
            return [{"type": "create", "partitions": p, "replicationFactor": rf, "config": dict(config)}]
        case domain.CreatePartitions(current=current, target=target):
            return [{"type": "partitions", "from": current, "to": target}]
        case domain.ChangeReplicationFactor(current=current, target=target):
            return [{"type": "replicationFactor", "from": current, "to": target}]
        case domain.AlterConfigs(changes=changes):
            return [{"type": "config", "key": c.key, "from": c.old, "to": c.new} for c in changes]
    return []


def entry_json(e: Entry) -> dict[str, Any]:
    out = {"source": e.source, "namespace": e.namespace, "name": e.name, "topic": e.topic,
           "cluster": f"{e.cluster[0]}/{e.cluster[1]}", "outcome": e.outcome,
           "changes": [c for a in e.actions for c in action_json(a)], "reason": e.reason, "message": e.message}
    if e.via:
        out["via"] = e.via
        out["effective"] = [{"field": f.path, "from": f.old, "to": f.new} for f in e.effective]
    return out


def format_json(entries: list[Entry], notes: Sequence[str] = (), clusters: Sequence[ClusterChange] = (),
                pruned: Sequence[Pruned] = ()) -> str:
    doc = {
        "resources": [entry_json(e) for e in entries],
        "clusters": [cluster_json(c, entries) for c in clusters],
        "prune": [pruned_json(p) for p in pruned],
        "summary": summary_json(entries, clusters, pruned),
        "notes": list(notes),
        "exitCode": exit_code(entries, clusters, pruned),
    }
    return json.dumps(doc, indent=2) + "\n"


def cluster_json(c: ClusterChange, entries: Sequence[Entry]) -> dict[str, Any]:
    return {"source": c.source, "namespace": c.key[0], "name": c.key[1], "created": c.created,
            "changes": [{"field": f.path, "from": f.old, "to": f.new} for f in c.changes],
            "topics": sum(1 for e in entries if e.via == c.source and e.cluster == c.key)}


def pruned_json(p: Pruned) -> dict[str, Any]:
    return {"kind": p.kind, "namespace": p.namespace, "name": p.name, "kafkaName": p.kafka_name,
            "cluster": f"{p.cluster[0]}/{p.cluster[1]}", "effect": p.effect, "message": p.message}


def summary_json(entries: Sequence[Entry], clusters: Sequence[ClusterChange],
                 pruned: Sequence[Pruned]) -> dict[str, int]:
    counts = {o: sum(1 for e in entries if e.outcome == o) for o in SYMBOLS}
    counts |= {"clusters": len(clusters), "changedByClusters": sum(1 for e in entries if e.via),
               "prune": len(pruned)}
    return {k: v for k, v in counts.items() if v}


@dataclass
class PlanResult:
    entries: list[Entry] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    clusters: list[ClusterChange] = field(default_factory=list)
    pruned: list[Pruned] = field(default_factory=list)

    def text(self) -> str:
        return format_text(self.entries, self.notes, self.clusters, self.pruned)

    def json(self) -> str:
        return format_json(self.entries, self.notes, self.clusters, self.pruned)

    def exit_code(self) -> int:
        return exit_code(self.entries, self.clusters, self.pruned)
