"""The gathering half of ``kto plan``: what the decisions of ``kto.cli_plan`` need, read from Kubernetes and
Kafka, the way the operator's reconciler gathers it (``Reconciler.gather`` and ``_owner``). Nothing is written.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kubernetes.client.rest import ApiException

from kto.api import names
from kto.api.domain import ClusterFacts, KafkaFailure
from kto.api.models import KafkaClusterSpec
from kto.api.objects import (
    Key,
    bound_cluster_id,
    cluster_key_of,
    finalizers_of,
    is_established,
    is_paused,
    is_unmanaged,
    topic_name_of,
)
from kto.cli.connect import CliError, cluster_target, default_namespace, gateway_of, kube_client
from kto.cli.manifests import Manifest, load
from kto.cli.plan import Entry, PlanResult, plan_entry
from kto.reconcile import cluster_state
from kto.reconcile.gates import Gathered
from kto.reconcile.ownership import Claim, owner_of
from kto.reconcile.store import claim_of
from kto.topics.planner import build_desired
from kto.topics.verdicts import check_topic

NOT_YET_CREATED = "9999-12-31T23:59:59Z"  # a manifest not in the cluster yet: newer than every existing claim


@dataclass
class World:
    """What Kubernetes has: every KafkaTopic and KafkaCluster kto would see."""

    topics: dict[Key, dict[str, Any]]
    clusters: dict[Key, dict[str, Any]]


@dataclass
class Connected:
    """One KafkaCluster the manifests name, connected to and described."""

    snapshot: cluster_state.ClusterState | None  # None: the KafkaCluster does not exist
    observed: Mapping[str, Any]  # topic name -> ObservedTopic | KafkaFailure | None
    aliases: list[Key]  # the KafkaClusters that reach the same Kafka cluster (itself first)


async def run_plan(args: argparse.Namespace) -> PlanResult:
    kube = kube_client(args)
    try:
        loaded = load(args.filename, args.namespace or default_namespace(args))
        topics = [m for m in loaded.manifests if m.kind == names.TOPIC_KIND]
        world = await read_world(kube, {m.namespace for m in topics})
        result = PlanResult(notes=loaded.notes)
        for ckey in sorted({cluster_key_of(m.body) for m in topics}):
            mine = [m for m in topics if cluster_key_of(m.body) == ckey]
            connected = await connect(kube, ckey, world, [m.spec.topicName or m.name for m in mine])
            result.entries += [entry_of(m, connected, world, topics) for m in mine]
        return result
    finally:
        kube.close()


async def read_world(kube, namespaces: set[str]) -> World:
    """Every KafkaTopic and KafkaCluster (or, without the right to list them cluster-wide, those of the manifests'
    namespaces: claims elsewhere are then not seen, and a note says so)."""
    try:
        topics = await kube.list_objects(names.TOPIC_PLURAL, None, missing_ok=True)
        clusters = await kube.list_objects(names.CLUSTER_PLURAL, None, missing_ok=True)
    except ApiException as err:
        if err.status != 403:
            raise
        topics = await kube.list_objects(names.TOPIC_PLURAL, sorted(namespaces), missing_ok=True)
        clusters = await kube.list_objects(names.CLUSTER_PLURAL, sorted(namespaces), missing_ok=True)
    if topics is None:
        raise CliError(f"the apiserver does not know {names.TOPIC_PLURAL}.{names.GROUP}: install kto's CRDs first")
    return World({_key(t): t for t in topics}, {_key(c): c for c in clusters or []})


def _key(body: Mapping[str, Any]) -> Key:
    return body["metadata"].get("namespace", ""), body["metadata"]["name"]


async def connect(kube, ckey: Key, world: World, topic_names: list[str]) -> Connected:
    """Connect as kto does for the KafkaCluster and describe the manifests' topics; a cluster that does not exist
    is no error (each of its topics is reported ClusterNotFound, as kto would)."""
    body = world.clusters.get(ckey)
    if body is None:
        return Connected(None, {}, [ckey])
    target = await cluster_target(kube, ckey)
    gateway = gateway_of(target)
    try:
        facts = await gateway.describe_cluster()
        if isinstance(facts, KafkaFailure):
            raise CliError(f"KafkaCluster {ckey[0]}/{ckey[1]}: {facts.message}")
        observed = await gateway.describe_topics(sorted(set(topic_names)))
    finally:
        gateway.close()
    snapshot = cluster_state.Connected(ckey, target.spec, facts, gateway, target.conf.get("sasl.username"))
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
    return [c for c in claims if c.established or (not c.unmanaged and specs[c.cluster] is not None
                                                   and specs[c.cluster].allows_namespace(c.cluster[0], c.namespace))]


def _spec(body: Mapping[str, Any] | None) -> KafkaClusterSpec | None:
    try:
        return KafkaClusterSpec.model_validate(body.get("spec") or {}) if body is not None else None
    except ValueError:
        return None


def entry_of(m: Manifest, connected: Connected, world: World, planned: list[Manifest]) -> Entry:
    """Gather for one manifest what ``Reconciler.gather`` would, and decide."""
    cluster, ckey = connected.snapshot, cluster_key_of(m.body)
    live = world.topics.get((m.namespace, m.name)) or {}
    # What kto would see once the manifest is applied: its spec and annotations, the live finalizers and status.
    body = {**m.body, "metadata": {**m.body["metadata"], "finalizers": finalizers_of(live)},
            "status": live.get("status") or {}}
    topic = m.spec.topicName or m.name
    cspec = cluster_state.spec_of(cluster)
    g = Gathered(
        key=(m.namespace, m.name), name=topic, cluster_ref=ckey, cluster=cluster, spec=m.spec,
        holds=names.FINALIZER in finalizers_of(live), established=is_established(live) if live else False,
        allowed=cspec is not None and cspec.allows_namespace(ckey[0], m.namespace),
        owner=owner_of(claims_of(topic, connected, world, planned)) if cspec is not None else None,
        refusal=check_topic((m.namespace, m.name), topic, cluster)
        if isinstance(cluster, cluster_state.Connected) else None,
        paused=is_paused(m.body), unmanaged=is_unmanaged(m.body))
    desired = build_desired(m.name, m.spec, cspec)
    return plan_entry(g, desired, connected.observed.get(topic), body, m.source)
