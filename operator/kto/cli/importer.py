"""``kto import``: write KafkaTopic (and KafkaUser) manifests for what a Kafka cluster already has.

A written topic says exactly what Kafka has (partitions, replication factor, every dynamic override, nothing
else), so that kto adopts it with zero writes: adoption needs no annotation, only a spec the operator's planner
finds in sync with the topic (``kto.topics.verdicts.plan_adoption``). Each written spec is put through that planner
(``build_desired`` with the KafkaCluster's topicDefaults, then ``plan_topic``) before it is written; a topic
that would not plan to nothing is reported. A key of the KafkaCluster's topicDefaults that the topic does not
override is written with the value the topic has now (its broker default): otherwise applying the manifest
would give the topic the cluster's default, a write (and ``AdoptionRequired`` before that).
"""

from __future__ import annotations

import fnmatch
import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from kto.api import names
from kto.api.domain import THROTTLED_REPLICAS, Acl, ObservedTopic
from kto.api.models import INTERNAL_TOPIC_PREFIX, MAX_RESOURCE_NAME_LENGTH, KafkaClusterSpec, KafkaTopicSpec
from kto.topics.planner import build_desired, describe_drift, plan_topic
from kto.users.access import OPERATIONS, RESOURCE_TYPES

LABEL_PATTERN = re.compile(r"[^a-z0-9-]+")
RESOURCE_TYPE_NAMES = {v: k for k, v in RESOURCE_TYPES.items()}
OPERATION_NAMES = {v: k for k, v in OPERATIONS.items()}
PASSWORD_SECRET_SUFFIX = "-password"


# --- Which topics (pure) -------------------------------------------------------------------------------


def selection(topic: str, include: list[str], exclude: list[str], cluster: KafkaClusterSpec | None) -> str | None:
    """Why ``topic`` is left out, or None when it is imported. Kafka's internal topics (``__*``) and the
    KafkaCluster's protectedTopics are always left out (kto refuses them); other names starting with ``_``
    (Schema Registry's ``_schemas``, Confluent's ``_confluent-*``) belong to other tools and are left out unless
    an --include pattern that starts with ``_`` names them."""
    if topic.startswith(INTERNAL_TOPIC_PREFIX):
        return "internal topic"
    if cluster is not None and cluster.is_protected_topic(topic):
        return "protected by the KafkaCluster's protectedTopics"
    if topic.startswith("_") and not any(p.startswith("_") and fnmatch.fnmatchcase(topic, p) for p in include):
        return "starts with _ (another tool's topic; --include '_name' to import it)"
    if include and not any(fnmatch.fnmatchcase(topic, p) for p in include):
        return "not matched by --include"
    if any(fnmatch.fnmatchcase(topic, p) for p in exclude):
        return "matched by --exclude"
    return None


# --- Names (pure) -------------------------------------------------------------------------------------


def resource_name(kafka_name: str, taken: set[str]) -> str:
    """A Kubernetes name for a Kafka name (Kafka allows capitals and '_', Kubernetes does not): lowercase,
    other characters turned into '-', and a short hash of the Kafka name when that collides or is too long."""
    labels = [LABEL_PATTERN.sub("-", label.lower()).strip("-") for label in kafka_name.split(".")]
    name = ".".join(label for label in labels if label) or "topic"
    digest = hashlib.sha256(kafka_name.encode()).hexdigest()[:8]
    if len(name) > MAX_RESOURCE_NAME_LENGTH:
        name = name[:MAX_RESOURCE_NAME_LENGTH - 9].rstrip("-.") + "-" + digest
    if name in taken:
        name = f"{name[:MAX_RESOURCE_NAME_LENGTH - 9].rstrip('-.')}-{digest}"
    return name


# --- Topics (pure) ------------------------------------------------------------------------------------


def cluster_ref(name: str, cluster_namespace: str | None, namespace: str) -> dict[str, str]:
    return {"name": name} | ({"namespace": cluster_namespace} if cluster_namespace and
                             cluster_namespace != namespace else {})


def topic_manifest(topic: ObservedTopic, resource: str, namespace: str, ref: Mapping[str, str],
                   defaults: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The KafkaTopic that says exactly what Kafka has: its overrides, and for every key of the KafkaCluster's
    topicDefaults (``defaults``) it does not override, the value it has now. The replication throttle kto sets
    while moving replicas is not the topic's own and is left out (kto leaves it alone too)."""
    spec: dict[str, Any] = {"clusterRef": dict(ref)}
    if resource != topic.name:
        spec["topicName"] = topic.name
    spec |= {"partitions": topic.partitions, "replicationFactor": topic.replication_factor}
    inherited = {k: topic.defaults[k] for k in (defaults or {}) if k not in topic.overrides
                 and topic.defaults.get(k) is not None}
    config = {k: v for k, v in sorted((dict(topic.overrides) | inherited).items())
              if k not in THROTTLED_REPLICAS and v is not None}
    if config:
        spec["config"] = config
    return {"apiVersion": names.API_VERSION, "kind": names.TOPIC_KIND,
            "metadata": {"name": resource, "namespace": namespace}, "spec": spec}


def adoption_gap(manifest: Mapping[str, Any], topic: ObservedTopic, cluster: KafkaClusterSpec | None,
                 brokers: int | None) -> str | None:
    """What kto would change when adopting ``topic`` with this manifest (None: nothing, the adoption is a
    no-op), by the operator's own planner."""
    spec = KafkaTopicSpec.model_validate(manifest["spec"])
    plan = plan_topic(build_desired(manifest["metadata"]["name"], spec, cluster), topic, brokers)
    return None if plan.in_sync else describe_drift(plan)


def render(doc: Mapping[str, Any], comment: str = "") -> str:
    head = "".join(f"# {line}\n" if line else "#\n" for line in comment.splitlines())
    return head + yaml.safe_dump(dict(doc), sort_keys=False, default_flow_style=False, width=120)


def kustomization(resources: Iterable[str]) -> str:
    return render({"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
                   "resources": list(resources)}, "Written by kto import: kubectl apply -k <this folder>")


# --- Users (pure) -------------------------------------------------------------------------------------


@dataclass
class UserImport:
    manifest: dict[str, Any]
    comment: str
    skipped: list[str] = field(default_factory=list)  # ACL bindings a KafkaUser cannot say


def acl_rules(acls: Iterable[Acl]) -> tuple[list[dict[str, Any]], list[str]]:
    """A principal's ACL bindings as KafkaUser rules (operations of one resource, host and permission together),
    and the bindings that cannot be said in a KafkaUser."""
    grouped: dict[tuple[str, str, str, str, str], list[str]] = {}
    skipped = []
    for acl in sorted(acls):
        rtype, op = RESOURCE_TYPE_NAMES.get(acl.resource_type), OPERATION_NAMES.get(acl.operation)
        if rtype is None or op is None or acl.pattern not in ("LITERAL", "PREFIXED"):
            skipped.append(acl.describe())
            continue
        grouped.setdefault((rtype, acl.name, acl.pattern, acl.host, acl.permission), []).append(op)
    rules = []
    for (rtype, name, pattern, host, permission), ops in grouped.items():
        resource: dict[str, Any] = {"type": rtype}
        if rtype != "cluster":
            resource["name"] = name
        if pattern == "PREFIXED":
            resource["patternType"] = "prefixed"
        rule: dict[str, Any] = {"resource": resource, "operations": ops}
        if host != "*":
            rule["host"] = host
        if permission == "DENY":
            rule["permission"] = "deny"
        rules.append(rule)
    return rules, skipped


def user_manifest(user: str, resource: str, namespace: str, ref: Mapping[str, str], mechanisms: Iterable[str],
                  acls: Iterable[Acl]) -> UserImport:
    """A KafkaUser for an existing SCRAM user. kto cannot read a password back from Kafka: the manifest names a
    Secret (passwordSecretRef) that a person fills with the user's current password before applying."""
    mechanism = "SCRAM-SHA-512" if "SCRAM-SHA-512" in mechanisms else "SCRAM-SHA-256"
    secret = f"{resource}{PASSWORD_SECRET_SUFFIX}"
    rules, skipped = acl_rules(acls)
    spec: dict[str, Any] = {"clusterRef": dict(ref)}
    if resource != user:
        spec["userName"] = user
    spec["authentication"] = {"type": mechanism.lower(), "passwordSecretRef": {"name": secret, "key": "password"}}
    if rules:
        spec["authorization"] = {"acls": rules}
    manifest = {"apiVersion": names.API_VERSION, "kind": names.USER_KIND,
                "metadata": {"name": resource, "namespace": namespace}, "spec": spec}
    comment = (f"Kafka user {user} existed with {mechanism} credentials. kto cannot read a password back from Kafka:\n"
               f"before applying, put the user's current password in the Secret {secret}, marked for kto:\n"
               f"  kubectl -n {namespace} create secret generic {secret} --from-file=password=<file>\n"
               f"  kubectl -n {namespace} label secret {secret} {names.LABEL_CREDENTIALS}=true\n"
               f"kto adopts an existing user only when told to: add the annotation {names.ANNOTATION_ADOPT}: "
               f"{names.ADOPT_OVERWRITE}\n(kto then sets the credential from the Secret and keeps exactly these ACLs).")
    if skipped:
        comment += "\nNot imported (a KafkaUser cannot say them): " + "; ".join(skipped)
    return UserImport(manifest, comment, skipped)
