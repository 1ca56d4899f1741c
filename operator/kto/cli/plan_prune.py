"""``kto plan --prune``, pure: which KafkaTopics and KafkaUsers a folder owns but no longer lists, and what
deleting each would do in Kafka.

What a folder owns is read as the tool that prunes reads it: a label selector (``-l``), or by default Argo CD's
tracking (its annotation ``argocd.argoproj.io/tracking-id``, whose value names the Application and the object
itself, else its legacy label ``app.kubernetes.io/instance``), taken from the live objects of the folder's own
manifests. What a deletion does is the operator's own rule: ``kto.reconcile.gates.decide`` on a resource being
deleted, with the kind's ``RULES``, mapped to a word (deleted, retained, adopted, retained, kept, waits).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from kto.api.objects import Key, annotation
from kto.reconcile.gates import KindRules
from kto.reconcile.outcomes import Decision, Delete, Release, Report, Skip

ARGOCD_ANNOTATION = "argocd.argoproj.io/tracking-id"
ARGOCD_LABEL = "app.kubernetes.io/instance"

# What deleting the resource does in Kafka.
DELETED, RETAINED, ADOPTED_RETAINED, KEPT, WAITS = "deleted", "retained", "adopted, retained", "kept", "waits"


@dataclass(frozen=True)
class Pruned:
    """A live resource the folder owns and no longer lists: applying with prune deletes it."""

    kind: str
    namespace: str
    name: str
    kafka_name: str  # the topic or user it names in Kafka
    cluster: Key
    effect: str  # DELETED, RETAINED, ...
    message: str


# --- What the folder owns ----------------------------------------------------------------------------------


Selector = Callable[[Mapping[str, str]], bool]
_REQUIREMENT = re.compile(r"^\s*(?P<key>!?[A-Za-z0-9./_-]+)\s*(?:(?P<op>==|!=|=)\s*(?P<value>[A-Za-z0-9._-]*)"
                          r"|\s+(?P<set>in|notin)\s*\((?P<values>[^()]*)\))?\s*$")


def parse_selector(text: str) -> Selector:
    """A Kubernetes label selector (``a=b``, ``a!=b``, ``a in (x,y)``, ``a notin (x)``, ``a``, ``!a``,
    comma-separated); ValueError names the part that is not one."""
    tests = [_requirement(part) for part in _split(text)]
    if not tests:
        raise ValueError(f"label selector {text!r} is empty")
    return lambda labels: all(t(labels) for t in tests)


def _split(text: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for ch in text:
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    return [p for p in [*parts, current] if p.strip()]


def _requirement(part: str) -> Selector:
    m = _REQUIREMENT.match(part)
    if m is None:
        raise ValueError(f"label selector: {part.strip()!r} is not a requirement (key=value, key!=value, "
                         "key in (a,b), key notin (a,b), key, !key)")
    key, op, value, values = m["key"], m["op"] or m["set"], m["value"], m["values"]
    if key.startswith("!"):
        if op:
            raise ValueError(f"label selector: {part.strip()!r}: !key takes no value")
        return lambda labels: key[1:] not in labels
    if op is None:
        return lambda labels: key in labels
    if op in ("=", "=="):
        return lambda labels: labels.get(key) == value
    if op == "!=":
        return lambda labels: labels.get(key) != value
    members = {v.strip() for v in values.split(",") if v.strip()}
    if op == "in":
        return lambda labels: labels.get(key) in members
    return lambda labels: labels.get(key) not in members


def labels_of(body: Mapping[str, Any]) -> dict[str, str]:
    return dict((body.get("metadata") or {}).get("labels") or {})


def tracked_app(body: Mapping[str, Any], kind: str, group: str) -> str | None:
    """The Argo CD Application that tracks the object: its tracking annotation when the annotation names this very
    object (Argo CD ignores one copied from another object), else its instance label."""
    value = annotation(body, ARGOCD_ANNOTATION)
    if value:
        app, _, rest = value.partition(":")
        meta = body.get("metadata") or {}
        if rest == f"{group}/{kind}:{meta.get('namespace', '')}/{meta.get('name', '')}" and app:
            return app
        return None
    return labels_of(body).get(ARGOCD_LABEL) or None


def owned_by_apps(apps: set[str], kind: str, group: str) -> Callable[[Mapping[str, Any]], bool]:
    return lambda body: tracked_app(body, kind, group) in apps


def prune_candidates(live: Iterable[tuple[str, Mapping[str, Any]]], listed: set[tuple[str, str, str]],
                     owned: Callable[[str, Mapping[str, Any]], bool]) -> list[tuple[str, Mapping[str, Any]]]:
    """The live (kind, object)s the folder owns and does not list ((kind, namespace, name)), not being deleted."""
    out = []
    for kind, body in live:
        meta = body.get("metadata") or {}
        if (kind, meta.get("namespace", ""), meta.get("name")) in listed or meta.get("deletionTimestamp"):
            continue
        if owned(kind, body):
            out.append((kind, body))
    return sorted(out, key=lambda kb: (kb[0], kb[1]["metadata"].get("namespace", ""), kb[1]["metadata"]["name"]))


# --- What deleting does ------------------------------------------------------------------------------------


def prune_effect(decision: Decision, rules: KindRules, policy: str, thing_name: str) -> tuple[str, str]:
    """(effect, what a person reads) for the decision kto's gate takes on the resource being deleted."""
    thing = f"{rules.thing} {thing_name}"
    match decision:
        case Delete():
            gone = "deleted" if rules.kind == "KafkaTopic" else "deleted with its credentials, ACLs and quotas"
            return DELETED, f"{thing} {gone} (deletionPolicy {policy})"
        case Release(note=note) if note is not None and note.reason == rules.retained_reason:
            return (ADOPTED_RETAINED if policy == "Adopted" else RETAINED), note.message
        case Release(note=note, detail=detail):
            if note is not None or detail:
                return KEPT, note.message if note is not None else str(detail)
            return KEPT, (f"{thing} is not touched: the resource does not own it (observe-only, another resource's "
                          "claim, or a namespace its KafkaCluster does not allow)")
        case Skip():
            return KEPT, f"the resource has no kto finalizer: {thing} is not touched"
        case Report(verdict=v):
            return WAITS, v.message
    return KEPT, f"{thing} is not touched"
