"""The I/O half of ``kto import``: describe the cluster through the gateway, write the files
(the manifests themselves are built by the pure ``kto.cli_import``)."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path

from kto.api.domain import KafkaFailure, ObservedTopic
from kto.cli.connect import CliError, Target, gateway_of, target_of
from kto.cli.importer import (
    adoption_gap,
    cluster_ref,
    kustomization,
    render,
    resource_name,
    selection,
    topic_manifest,
    user_manifest,
)
from kto.cli.progress import Progress, in_chunks
from kto.kafka.gateway import KafkaGateway
from kto.users.access import principal


@dataclass
class Written:
    files: dict[str, str] = field(default_factory=dict)  # relative path -> text
    warnings: list[str] = field(default_factory=list)
    left_out: dict[str, str] = field(default_factory=dict)  # topic -> why


async def run_import(args: argparse.Namespace) -> int:
    target = await target_of(args)
    namespace, ref = destination(args, target)
    gateway = gateway_of(target)
    try:
        written = await gather_topics(gateway, target, args, namespace, ref)
        if args.users:
            await gather_users(gateway, target, namespace, ref, written)
    finally:
        gateway.close()
    write(Path(args.dir), written, args.force)
    report(written, args)
    return 0


def destination(args: argparse.Namespace, target: Target) -> tuple[str, dict[str, str]]:
    """The manifests' namespace and their ``clusterRef``: from the flags, else the KafkaCluster's."""
    namespace = args.namespace or (target.cluster[0] if target.cluster else None)
    ref_value = args.cluster_ref or (f"{target.cluster[0]}/{target.cluster[1]}" if target.cluster else None)
    if not namespace or not ref_value:
        raise CliError("with --bootstrap, say where the manifests go: --namespace NS and --cluster-ref [NS/]NAME "
                       "(the KafkaCluster the topics will reference)")
    ref_ns, _, ref_name = ref_value.rpartition("/")
    return namespace, cluster_ref(ref_name, ref_ns or None, namespace)


def report(written: Written, args: argparse.Namespace) -> None:
    """What was left out and why, warnings (stderr), and what was written (stdout)."""
    topics = sum(1 for p in written.files if p.startswith("topics/"))
    users = sum(1 for p in written.files if p.startswith("users/"))
    for topic, why in sorted(written.left_out.items()):
        print(f"left out: {topic} ({why})", file=sys.stderr)
    for warning in written.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(f"Wrote {topics} KafkaTopic(s){f', {users} KafkaUser(s)' if args.users else ''} and "
          f"kustomization.yaml to {args.dir}: kubectl apply -k {args.dir}")


async def gather_topics(gateway: KafkaGateway, target: Target, args: argparse.Namespace, namespace: str,
                        ref: dict[str, str]) -> Written:
    facts = await gateway.describe_cluster()
    if isinstance(facts, KafkaFailure):
        raise CliError(f"{target.label}: {facts.message}")
    listed = await gateway.list_topics()
    if isinstance(listed, KafkaFailure):
        raise CliError(f"{target.label}: {listed.message}")
    cluster_spec = target.spec if target.cluster else None
    out = Written()
    chosen = []
    for topic in listed:
        why = selection(topic, args.include, args.exclude, cluster_spec)
        if why is None:
            chosen.append(topic)
        else:
            out.left_out[topic] = why
    observed = await in_chunks(gateway.describe_topics, chosen, Progress())
    taken: set[str] = set()
    for topic in chosen:
        seen = observed.get(topic)
        if not isinstance(seen, ObservedTopic):
            out.warnings.append(f"topic {topic} not imported: "
                                f"{seen.message if isinstance(seen, KafkaFailure) else 'it is gone'}")
            continue
        name = resource_name(topic, taken)
        taken.add(name)
        defaults = cluster_spec.topicDefaults.config if cluster_spec and cluster_spec.topicDefaults else None
        doc = topic_manifest(seen, name, namespace, ref, defaults)
        gap = adoption_gap(doc, seen, cluster_spec, facts.brokers)
        if gap:
            out.warnings.append(f"topic {topic}: with the KafkaCluster's topicDefaults, adopting it would change it "
                                f"({gap}); kto will refuse it (AdoptionRequired) until the spec or the defaults "
                                "change")
        out.files[f"topics/{name}.yaml"] = render(doc, f"Kafka topic {topic}, imported by kto import from "
                                                       f"{target.label}")
    return out


async def gather_users(gateway: KafkaGateway, target: Target, namespace: str, ref: dict[str, str],
                       out: Written) -> None:
    """KafkaUsers for the SCRAM users (kto's own user and protected principals left out) and their ACLs."""
    users = await gateway.list_scram_users()
    if isinstance(users, KafkaFailure):
        raise CliError(f"{target.label}: {users.message}")
    acls = await gateway.describe_acls()
    if isinstance(acls, KafkaFailure):
        out.warnings.append(f"ACLs not imported: {acls.message}")
        acls = {}
    own = target.conf.get("sasl.username")
    taken: set[str] = set()
    for user, mechanisms in sorted(users.items()):
        if user == own or target.spec.is_protected_principal(user, own):
            out.left_out[f"user {user}"] = "kto's own or a protected principal"
            continue
        name = resource_name(user, taken)
        taken.add(name)
        made = user_manifest(user, name, namespace, ref, mechanisms, acls.get(principal(user), ()))
        out.files[f"users/{name}.yaml"] = render(made.manifest, made.comment)
        if made.skipped:
            out.warnings.append(f"user {user}: {len(made.skipped)} ACL binding(s) not imported (see its file)")
    for p in sorted(set(acls) - {principal(u) for u in users}):
        out.left_out[f"principal {p}"] = "has ACLs but no SCRAM credential (a KafkaUser is a SCRAM user)"


def write(folder: Path, written: Written, force: bool) -> None:
    """The files and a kustomization.yaml listing them; an existing file is replaced only with --force."""
    files = dict(sorted(written.files.items()))
    files["kustomization.yaml"] = kustomization(list(files))
    existing = [p for p in files if (folder / p).exists()]
    if existing and not force:
        raise CliError(f"{folder} already holds {', '.join(existing[:3])}{', ...' if len(existing) > 3 else ''}: "
                       "choose another --output folder, or --force to replace them")
    for path, text in files.items():
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_text(text)
