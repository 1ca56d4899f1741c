"""The gathering half of ``kto plan``: what the decisions of ``kto.cli_plan`` need, read from Kubernetes and
Kafka, the way the operator's reconciler gathers it (``Reconciler.gather`` and ``_owner``). Nothing is written.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from kubernetes.client.exceptions import ApiException

from kto.api import names
from kto.api.domain import ClusterFacts, KafkaFailure, ObservedTopic
from kto.api.models import KafkaClusterSpec, KafkaTopicSpec, KafkaUserSpec
from kto.api.objects import (
    Key,
    bound_cluster_id,
    cluster_key_of,
    finalizers_of,
    topic_name_of,
)
from kto.cli.connect import CliError, cluster_target, default_namespace, gateway_of, kube_client
from kto.cli.manifests import Manifest, load
from kto.cli.plan import Entry, PlanResult, plan_entry
from kto.cli.plan_fanout import Affected, ClusterChange, affected_topics, diff_cluster
from kto.cli.plan_prune import (
    ARGOCD_ANNOTATION,
    ARGOCD_LABEL,
    DELETED,
    KEPT,
    Pruned,
    labels_of,
    parse_selector,
    prune_candidates,
    prune_effect,
    tracked_app,
)
from kto.cli.progress import Progress, in_chunks
from kto.kube.client import KubeClient
from kto.reconcile import cluster_state
from kto.reconcile.gates import Gathered, decide, gather
from kto.reconcile.ownership import Claim, owner_of
from kto.reconcile.store import claim_of
from kto.topics.planner import build_desired
from kto.topics.verdicts import RULES, TopicFacts
from kto.users.access import RULES as USER_RULES
from kto.users.access import UserFacts, user_name_of

NOT_YET_CREATED = "9999-12-31T23:59:59Z"  # a manifest not in the cluster yet: newer than every existing claim


@dataclass
class World:
    """What Kubernetes has: every KafkaTopic, KafkaCluster (and, for --prune, KafkaUser) kto would see."""

    topics: dict[Key, dict[str, Any]]
    clusters: dict[Key, dict[str, Any]]
    users: dict[Key, dict[str, Any]] = field(default_factory=dict)


@dataclass
class Connected:
    """One KafkaCluster the plan needs, connected to and described."""

    snapshot: cluster_state.ClusterState | None  # None: the KafkaCluster does not exist
    observed: Mapping[str, Any]  # topic name -> ObservedTopic | KafkaFailure | None
    aliases: list[Key]  # the KafkaClusters that reach the same Kafka cluster (itself first)


@dataclass
class Folder:
    """The folder's manifests, by kind."""

    topics: list[Manifest]
    clusters: dict[Key, Manifest]
    listed: set[tuple[str, str, str]]  # (kind, namespace, name) of every kto object in it


async def run_plan(args: argparse.Namespace, progress: Progress | None = None) -> PlanResult:
    kube = kube_client(args)
    progress = progress or Progress()
    try:
        loaded = load(args.filename, args.namespace or default_namespace(args))
        folder = Folder([m for m in loaded.manifests if m.kind == names.TOPIC_KIND],
                        {(m.namespace, m.name): m for m in loaded.manifests if m.kind == names.CLUSTER_KIND},
                        {(m.kind, m.namespace, m.name) for m in loaded.manifests})
        world = await read_world(kube, {m.namespace for m in loaded.manifests}, users=args.prune)
        result = PlanResult(notes=loaded.notes, clusters=cluster_changes(folder, world))
        fanned = {c.key: affected_topics(_spec(world.clusters.get(c.key)), folder.clusters[c.key].spec,
                                         bound_topics(c.key, world, folder)) for c in result.clusters}
        pruned = prune_list(args, folder, world) if args.prune else []
        keys = {cluster_key_of(m.body) for m in folder.topics} | set(fanned) | {cluster_key_of(b) for _, b in pruned}
        for ckey in sorted(keys):
            await plan_cluster(kube, ckey, world, folder, fanned.get(ckey, []), pruned, result, progress)
        return result
    finally:
        kube.close()


async def plan_cluster(kube: KubeClient, ckey: Key, world: World, folder: Folder, fanned: list[Affected],
                       pruned: list[tuple[str, Mapping[str, Any]]], result: PlanResult, progress: Progress) -> None:
    """Everything the plan says about one KafkaCluster: its manifests' topics, the existing topics its manifest
    changes, and what pruning deletes on it."""
    mine = [m for m in folder.topics if cluster_key_of(m.body) == ckey]
    theirs = [(kind, body) for kind, body in pruned if cluster_key_of(body) == ckey]
    planned = folder.clusters.get(ckey)
    connected = await connect(kube, ckey, world, described(mine, fanned, theirs), planned.spec if planned else None,
                              progress)
    entries = [entry_of(m, connected, world, folder.topics) for m in mine]
    if planned is not None:
        entries = cluster_part(entries, mine, _spec(world.clusters.get(ckey)), planned)
    result.entries += entries
    result.entries += [fanned_entry(a, planned, connected, world, folder.topics) for a in fanned if planned]
    result.pruned += [pruned_of(kind, body, connected, world) for kind, body in theirs]


def described(mine: list[Manifest], fanned: list[Affected], pruned: list[tuple[str, Mapping[str, Any]]]) -> list[str]:
    """The Kafka topics the plan looks at on one cluster."""
    return [m.spec.topicName or m.name for m in mine] + [a.desired.name for a in fanned] + \
        [topic_name_of(b) for kind, b in pruned if kind == names.TOPIC_KIND]


def cluster_part(entries: list[Entry], mine: list[Manifest], live: KafkaClusterSpec | None,
                 planned: Manifest) -> list[Entry]:
    """The folder's topic entries, each with the part of its effective topic the folder's KafkaCluster changes."""
    moved = {a.key: a for a in affected_topics(live, planned.spec, [((m.namespace, m.name), m.spec) for m in mine])}
    return [replace(e, via=planned.source, effective=moved[(e.namespace, e.name)].changes)
            if (e.namespace, e.name) in moved else e for e in entries]


async def read_world(kube: KubeClient, namespaces: set[str], users: bool = False) -> World:
    """Every KafkaTopic and KafkaCluster (or, without the right to list them cluster-wide, those of the manifests'
    namespaces: claims elsewhere are then not seen, and a note says so); with ``users``, the KafkaUsers too."""
    plurals = [names.TOPIC_PLURAL, names.CLUSTER_PLURAL] + ([names.USER_PLURAL] if users else [])
    try:
        found = [await kube.list_objects(p, None, missing_ok=True) for p in plurals]
    except ApiException as err:
        if err.status != 403:
            raise
        found = [await kube.list_objects(p, sorted(namespaces), missing_ok=True) for p in plurals]
    if found[0] is None:
        raise CliError(f"the apiserver does not know {names.TOPIC_PLURAL}.{names.GROUP}: install kto's CRDs first")
    return World({_key(t): t for t in found[0]}, {_key(c): c for c in found[1] or []},
                 {_key(u): u for u in (found[2] or [] if users else [])})


def _key(body: Mapping[str, Any]) -> Key:
    return body["metadata"].get("namespace", ""), body["metadata"]["name"]


async def connect(kube: KubeClient, ckey: Key, world: World, topic_names: list[str],
                  planned: KafkaClusterSpec | None = None, progress: Progress | None = None) -> Connected:
    """Connect as kto does for the KafkaCluster and describe the topics; a cluster that does not exist is no error
    (each of its topics is reported ClusterNotFound, as kto would). With ``planned`` (the folder's manifest of the
    KafkaCluster), decisions use its spec: it is what kto would see once the folder is applied. The connection
    is the live KafkaCluster's (its Secrets are read as they are now)."""
    body = world.clusters.get(ckey)
    if body is None:
        return Connected(None, {}, [ckey])
    target = await cluster_target(kube, ckey)
    gateway = gateway_of(target)
    try:
        facts = await gateway.describe_cluster()
        if isinstance(facts, KafkaFailure):
            raise CliError(f"KafkaCluster {ckey[0]}/{ckey[1]}: {facts.message}")
        observed = await in_chunks(gateway.describe_topics, sorted(set(topic_names)), progress or Progress())
    finally:
        gateway.close()
    # The gateway the topics were described through (closed now): the plan decides and never acts.
    snapshot = cluster_state.Connected(ckey, planned or target.spec, facts, gateway, target.conf.get("sasl.username"))
    return Connected(snapshot, observed, same_kafka(ckey, facts, world))


def same_kafka(ckey: Key, facts: ClusterFacts, world: World) -> list[Key]:
    """The KafkaClusters bound to the same Kafka cluster id as ``ckey`` (kto's claim space), itself first."""
    own = bound_cluster_id(world.clusters.get(ckey)) or facts.cluster_id
    return [ckey, *sorted(k for k, b in world.clusters.items()
                          if k != ckey and own is not None and bound_cluster_id(b) == own)]


def claims_of(topic: str, connected: Connected, world: World, planned: list[Manifest]) -> list[Claim]:
    """Every claim on ``topic`` on that Kafka cluster: the KafkaTopics that exist, and the manifests (those not
    created yet are the newest claims, in the order of the files)."""
    specs = {k: _spec(world.clusters.get(k)) for k in connected.aliases}
    claims = []
    for body in world.topics.values():
        ckey = cluster_key_of(body)
        if ckey in specs and topic_name_of(body) == topic:
            claims.append(claim_of(body, claimed=topic))
    for i, m in enumerate(planned):
        ckey = cluster_key_of(m.body)
        if ckey in specs and (m.namespace, m.name) not in world.topics and (m.spec.topicName or m.name) == topic:
            claims.append(claim_of(m.body, created=f"{NOT_YET_CREATED}#{i:06d}", claimed=topic))
    return [c for c in claims if c.established or (not c.unmanaged and _allows(specs[c.cluster], c))]


def _allows(spec: KafkaClusterSpec | None, claim: Claim) -> bool:
    return spec is not None and spec.allows_namespace(claim.cluster[0], claim.namespace)


def _spec(body: Mapping[str, Any] | None) -> KafkaClusterSpec | None:
    try:
        return KafkaClusterSpec.model_validate(body.get("spec") or {}) if body is not None else None
    except ValueError:
        return None


def entry_of(m: Manifest, connected: Connected, world: World, planned: list[Manifest]) -> Entry:
    """Gather for one manifest what ``Reconciler.gather`` would, and decide."""
    live = world.topics.get((m.namespace, m.name)) or {}
    # What kto would see once the manifest is applied: its spec and annotations, the live finalizers and status.
    body = {**m.body, "metadata": {**m.body["metadata"], "finalizers": finalizers_of(live)},
            "status": live.get("status") or {}}
    body["metadata"].setdefault("namespace", m.namespace)
    return decide_topic((m.namespace, m.name), m.spec, body, connected, world, planned, m.source)


def fanned_entry(a: Affected, cluster: Manifest, connected: Connected, world: World, planned: list[Manifest]) -> Entry:
    """An existing KafkaTopic (its file may be elsewhere) under the folder's KafkaCluster: decided as kto would,
    with the effective topic's old -> new values beside what it does in Kafka."""
    live = world.topics[a.key]
    spec = KafkaTopicSpec.model_validate(live.get("spec") or {})
    entry = decide_topic(a.key, spec, live, connected, world, planned, f"{a.key[0]}/{a.key[1]} (live)")
    return replace(entry, via=cluster.source, effective=a.changes)


def decide_topic(key: Key, spec: KafkaTopicSpec, body: Mapping[str, Any], connected: Connected, world: World,
                 planned: list[Manifest], source: str) -> Entry:
    """``body``: the resource as kto would see it once applied (the manifest's spec and annotations, the live
    finalizers and status)."""
    cluster = connected.snapshot
    cspec = cluster_state.spec_of(cluster)
    g = gather(TopicFacts(), key, body, spec, None, cluster,
               lambda topic: owner_of(claims_of(topic, connected, world, planned)))
    desired = build_desired(key[1], spec, cspec)
    return plan_entry(g, desired, connected.observed.get(g.name), body, source)


# --- The folder's KafkaClusters, and the topics they change --------------------------------------------------


def cluster_changes(folder: Folder, world: World) -> list[ClusterChange]:
    """The folder's KafkaClusters whose spec is not the live one (or that do not exist yet)."""
    out = []
    for key, m in sorted(folder.clusters.items()):
        live = world.clusters.get(key)
        changes = diff_cluster(_spec(live), m.spec)
        if changes:
            out.append(ClusterChange(m.source, key, changes, created=live is None))
    return out


def bound_topics(ckey: Key, world: World, folder: Folder) -> list[tuple[Key, KafkaTopicSpec]]:
    """The existing KafkaTopics bound to the KafkaCluster whose files are not in the folder (those that are get
    planned from their file, under the folder's KafkaCluster), not being deleted, with a valid spec."""
    listed = {(m.namespace, m.name) for m in folder.topics}
    out = []
    for key, body in sorted(world.topics.items()):
        if key in listed or cluster_key_of(body) != ckey or body["metadata"].get("deletionTimestamp"):
            continue
        try:
            out.append((key, KafkaTopicSpec.model_validate(body.get("spec") or {})))
        except ValueError:
            continue  # kto refuses it (InvalidSpec) whatever the KafkaCluster says
    return out


# --- Prune ---------------------------------------------------------------------------------------------------


def prune_list(args: argparse.Namespace, folder: Folder, world: World) -> list[tuple[str, Mapping[str, Any]]]:
    """The live KafkaTopics and KafkaUsers the folder owns (by ``--selector``, else by Argo CD's tracking of the
    folder's own objects) and no longer lists."""
    live = [(names.TOPIC_KIND, b) for b in world.topics.values()] + [(names.USER_KIND, b) for b in world.users.values()]
    if args.selector:
        try:
            matches = parse_selector(args.selector)
        except ValueError as err:
            raise CliError(str(err)) from err
        return prune_candidates(live, folder.listed, lambda kind, body: matches(labels_of(body)))
    mine = {(kind, *_key(b)) for kind, b in live} & folder.listed
    lookup = {(kind, *_key(b)): b for kind, b in live}
    apps = {app for k in mine if (app := tracked_app(lookup[k], k[0], names.GROUP))}
    if not apps:
        raise CliError("--prune: none of the folder's objects in the cluster carries Argo CD's tracking "
                       f"({ARGOCD_ANNOTATION} or the label {ARGOCD_LABEL}), so what the folder owns is unknown: "
                       "say it with -l/--selector")
    return prune_candidates(live, folder.listed, lambda kind, body: tracked_app(body, kind, names.GROUP) in apps)


def pruned_of(kind: str, body: Mapping[str, Any], connected: Connected, world: World) -> Pruned:
    """What deleting a live resource would do in Kafka: the gate's deletion rules, as kto would decide them."""
    key = _key(body)
    topic = kind == names.TOPIC_KIND
    rules = RULES if topic else USER_RULES
    model = KafkaTopicSpec if topic else KafkaUserSpec
    name = topic_name_of(body) if topic else user_name_of(body)
    try:
        spec = model.model_validate(body.get("spec") or {})
    except ValueError:
        spec = None
    g = deleting(key, body, spec, world, connected, topic)
    effect, message = prune_effect(decide(g, rules), rules, g.deletion_policy, name)
    if effect == DELETED and topic:
        effect, message = not_the_same_topic(body, connected.observed.get(name)) or (effect, message)
    return Pruned(kind, key[0], key[1], name, connected.aliases[0], effect, message)


def deleting(key: Key, body: Mapping[str, Any], spec: Any, world: World, connected: Connected,
             topic: bool) -> Gathered:
    """What ``Reconciler.gather`` would have for the resource once it is deleted (kto's ledger, which only
    records creations in flight, is not read)."""
    body = {**body, "metadata": {**body["metadata"], "deletionTimestamp": "planned"}}
    if topic:
        return gather(TopicFacts(), key, body, spec, None, connected.snapshot,
                      lambda name: owner_of(claims_of(name, connected, world, [])))
    return gather(UserFacts(lambda cluster, topic: topic_owner(topic, connected, world)), key, body, spec, None,
                  connected.snapshot, lambda name: owner_of(user_claims(name, connected, world)))


def topic_owner(topic: str, connected: Connected, world: World) -> str | None:
    """The namespace of the KafkaTopic that owns ``topic`` (what grants a tenant's KafkaUser ACLs on it), as
    ``Reconciler.owner_namespace`` says: an established, managed claim."""
    owner = owner_of(claims_of(topic, connected, world, []))
    if owner is None or not owner.established or owner.unmanaged:
        return None
    return owner.namespace


def user_claims(user: str, connected: Connected, world: World) -> list[Claim]:
    return [claim_of(b, claimed=user) for b in world.users.values()
            if cluster_key_of(b) in connected.aliases and user_name_of(b) == user]


def not_the_same_topic(body: Mapping[str, Any], seen: Any) -> tuple[str, str] | None:
    """kto deletes only the very topic it made or adopted (``topics.kind.delete_topics``): another topic of the
    same name is left alone."""
    recorded = (body.get("status") or {}).get("topicId")
    if isinstance(seen, ObservedTopic) and recorded is not None and seen.topic_id != recorded:
        return KEPT, (f"Kafka topic {seen.name} is not the topic kto made for this resource (its id is "
                      f"{seen.topic_id}, kto recorded {recorded}): it is not deleted")
    return None
