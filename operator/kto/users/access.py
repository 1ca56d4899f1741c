"""Pure logic for KafkaUsers: the ACLs a spec asks for, what to change to get there, the credential's hash
and the Secret an application mounts.

No I/O, no clock, no logging (like ``kto.topics.planner``). Passwords pass through here only to be hashed or
written into the application's Secret data; nothing here formats one into a message.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from kto.api import names
from kto.api.domain import SCRAM_ITERATIONS, Acl
from kto.api.models import CLUSTER_RESOURCE_NAME, AclRule, DeletionPolicy, KafkaClusterSpec, KafkaUserSpec, TenantGrant
from kto.api.objects import Key, cluster_key_of, deletion_policy_of
from kto.api.quotas import above_defaults
from kto.api.reasons import EventReason, Reason
from kto.reconcile.cluster_state import Probed
from kto.reconcile.gates import KindRules, prefix_refusal
from kto.reconcile.outcomes import Verdict

MECHANISMS = ("SCRAM-SHA-256", "SCRAM-SHA-512")
SECRET_SUFFIX = "-kafka"
PASSWORD_KEY = "password"


@dataclass(frozen=True)
class AclPlan:
    to_create: tuple[Acl, ...] = ()
    to_delete: tuple[Acl, ...] = ()

    @property
    def in_sync(self) -> bool:
        return not self.to_create and not self.to_delete


# The kind's gate rules, shared by the reconciler's user kind and ``kto plan --prune``.
RULES = KindRules(kind=names.USER_KIND, noun="users", thing="Kafka user", retained_reason=EventReason.USER_RETAINED,
                  retained_what=": credentials and ACLs ", allowed_field="spec.users.allowedNamespaces",
                  revocable=True)
RESOURCE_TYPES = {"topic": "TOPIC", "group": "GROUP", "cluster": "CLUSTER", "transactionalId": "TRANSACTIONAL_ID"}
OPERATIONS = {"All": "ALL", "Read": "READ", "Write": "WRITE", "Create": "CREATE", "Delete": "DELETE",
              "Alter": "ALTER", "Describe": "DESCRIBE", "ClusterAction": "CLUSTER_ACTION",
              "DescribeConfigs": "DESCRIBE_CONFIGS", "AlterConfigs": "ALTER_CONFIGS",
              "IdempotentWrite": "IDEMPOTENT_WRITE"}


def user_name_of(body: Mapping[str, Any]) -> str:
    """The Kafka user a KafkaUser names: spec.userName, else its own name."""
    name: str = (body.get("spec") or {}).get("userName") or body["metadata"]["name"]
    return name


ANONYMOUS = "ANONYMOUS"


def protected_why(name: str, cluster: Probed) -> str | None:
    """Why no KafkaUser may manage the principal ``name`` on this cluster, or None."""
    if name == cluster.principal:
        return "it is the user kto itself connects as"
    if name == ANONYMOUS:
        return "it is Kafka's unauthenticated principal"
    if cluster.facts is not None and name in cluster.facts.super_users:
        return "it is one of the brokers' super.users"
    if cluster.spec is not None and cluster.spec.is_protected_principal(name):
        return "it matches the KafkaCluster's spec.protectedPrincipals"
    return None


def user_deletion_policy(spec: KafkaUserSpec, body: Mapping[str, Any]) -> DeletionPolicy:
    """A tenant's KafkaUser cannot Retain: the access kto gave never outlives its resource unless the
    platform (a KafkaUser in the KafkaCluster's own namespace) says so."""
    policy = deletion_policy_of(spec.deletionPolicy, spec.deletion_policy, body)
    tenant = cluster_key_of(body)[0] != (body.get("metadata") or {}).get("namespace")
    return DeletionPolicy.DELETE if tenant and policy == DeletionPolicy.RETAIN else policy


def principal(user_name: str) -> str:
    return f"User:{user_name}"


def secret_name_of(resource_name: str) -> str:
    return f"{resource_name}{SECRET_SUFFIX}"


def desired_acls(spec: KafkaUserSpec) -> frozenset[Acl]:
    """Every binding the spec asks for: one per rule and operation."""
    return rule_acls(spec.authorization.acls if spec.authorization else ())


def rule_acls(rules: Iterable[AclRule]) -> frozenset[Acl]:
    """The bindings of these rules: one per rule and operation."""
    out = set()
    for rule in rules:
        res = rule.resource
        name = res.name if res.type != "cluster" else CLUSTER_RESOURCE_NAME
        for op in rule.operations:
            out.add(Acl(RESOURCE_TYPES[res.type], name or "", (res.patternType or "literal").upper(),
                        rule.host or "*", OPERATIONS[op], (rule.permission or "allow").upper()))
    return frozenset(out)


def plan_acls(desired: Iterable[Acl], observed: Iterable[Acl]) -> AclPlan:
    """Create what the spec asks and Kafka lacks; delete the principal's bindings the spec does not list."""
    want, have = set(desired), set(observed)
    return AclPlan(to_create=tuple(sorted(want - have)), to_delete=tuple(sorted(have - want)))


def describe_acl_plan(plan: AclPlan) -> str:
    parts = []
    if plan.to_create:
        parts.append(f"{len(plan.to_create)} ACL(s) added")
    if plan.to_delete:
        parts.append(f"{len(plan.to_delete)} removed ({', '.join(a.describe() for a in plan.to_delete[:5])}"
                     f"{', ...' if len(plan.to_delete) > 5 else ''})")
    return "; ".join(parts)


# The record of the credential kto applied, kept on the application's Secret to notice a rotation: salted and
# stretched like the SCRAM credential Kafka itself stores, so the annotation never gives the password away.
RECORD_SCHEME, RECORD_ITERATIONS = "pbkdf2-sha256", 10000


def _derive(user_name: str, mechanism: str, password: str, salt: bytes, iterations: int) -> bytes:
    return hashlib.pbkdf2_hmac("sha256", f"{mechanism}\0{user_name}\0{password}".encode(), salt, iterations)


def describe_existing_user(credentials: Mapping[str, int], acls: Iterable[Acl]) -> str:
    """What a Kafka user already has, for people deciding whether kto may take it over."""
    acls = sorted(acls)
    parts = []
    if credentials:
        parts.append(f"{' and '.join(sorted(credentials))} credentials")
    if acls:
        shown = ", ".join(a.describe() for a in acls[:5])
        parts.append(f"{len(acls)} ACL(s): {shown}{', ...' if len(acls) > 5 else ''}")
    return "; ".join(parts)


def credential_record(user_name: str, mechanism: str, password: str, salt: bytes | None = None) -> str:
    """``pbkdf2-sha256$<iterations>$<salt>$<digest>`` (base64): identifies a credential without revealing it."""
    salt = salt if salt is not None else os.urandom(16)
    digest = _derive(user_name, mechanism, password, salt, RECORD_ITERATIONS)
    return "$".join((RECORD_SCHEME, str(RECORD_ITERATIONS), base64.b64encode(salt).decode(),
                     base64.b64encode(digest).decode()))


def credential_matches(record: str | None, user_name: str, mechanism: str, password: str) -> bool:
    """Whether ``record`` (a ``credential_record``) was made from this credential."""
    parts = (record or "").split("$")
    if len(parts) != 4 or parts[0] != RECORD_SCHEME or not parts[1].isdigit():
        return False
    try:
        salt, digest = base64.b64decode(parts[2], validate=True), base64.b64decode(parts[3], validate=True)
    except ValueError:
        return False
    return hmac.compare_digest(_derive(user_name, mechanism, password, salt, int(parts[1])), digest)


def _jaas_quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def jaas_config(user_name: str, password: str) -> str:
    """The ``sasl.jaas.config`` line of a Java client."""
    return (f'org.apache.kafka.common.security.scram.ScramLoginModule required username="{_jaas_quote(user_name)}" '
            f'password="{_jaas_quote(password)}";')


def application_secret_data(user_name: str, password: str, mechanism: str, bootstrap_servers: Iterable[str],
                            security_protocol: str) -> dict[str, str]:
    """What a Deployment mounts as it is: the credential and how to connect."""
    return {
        "username": user_name,
        PASSWORD_KEY: password,
        "sasl.mechanism": mechanism,
        "security.protocol": security_protocol,
        "bootstrap.servers": ",".join(bootstrap_servers),
        "sasl.jaas.config": jaas_config(user_name, password),
    }


def scram_changes(mechanism: str, existing: Mapping[str, int] | None, applied: bool) -> tuple[bool, tuple[str, ...]]:
    """Whether to upsert the spec's credential, and which other mechanisms to delete.

    ``existing``: mechanism -> iterations as the brokers describe the user (None: no credentials); ``applied``:
    the spec's password is the one kto last applied (its record matches)."""
    existing = existing or {}
    upsert = mechanism not in existing or existing[mechanism] < SCRAM_ITERATIONS or not applied
    stale = tuple(m for m in sorted(existing) if m != mechanism)
    return upsert, stale


# --- What a tenant may grant ------------------------------------------------------------------------------

PREFIX_FIELDS = {"topic": "topicPrefixes", "group": "groupPrefixes", "transactionalId": "transactionalIdPrefixes"}


def refused_rules(spec: KafkaUserSpec, namespace: str, grants: list[TenantGrant],
                  topic_owner: Callable[[str], str | None]) -> list[str]:
    """The ACL rules a KafkaUser of ``namespace`` (not the KafkaCluster's own) may not have, each with why.

    Allowed: topics that KafkaTopics of the namespace own (``topic_owner`` names a topic's owning namespace),
    names under the prefixes the cluster grants the namespace, cluster operations and wildcards it grants.
    Deny rules only ever restrict the user itself, so they are always allowed."""
    refused = []
    for i, rule in enumerate(spec.authorization.acls if spec.authorization else ()):
        if (rule.permission or "allow") == "deny":
            continue
        why = _refusal(rule, namespace, grants, topic_owner)
        if why:
            refused.append(f"acls[{i}] ({rule.resource.type} {rule.resource.name or CLUSTER_RESOURCE_NAME}): {why}")
    return refused


def refused_acls(spec: KafkaUserSpec, namespace: str, grants: list[TenantGrant],
                 topic_owner: Callable[[str], str | None]) -> frozenset[Acl]:
    """The bindings of the rules ``refused_rules`` names."""
    return rule_acls(r for r in (spec.authorization.acls if spec.authorization else ())
                     if (r.permission or "allow") != "deny" and _refusal(r, namespace, grants, topic_owner))


def _refusal(rule: AclRule, namespace: str, grants: list[TenantGrant], topic_owner: Callable[[str], str | None]
             ) -> str | None:
    res = rule.resource
    if res.type == "cluster":
        return _cluster_refusal(rule, namespace, grants)
    prefixed = (res.patternType or "literal") == "prefixed"
    if res.name == "*" or (prefixed and not res.name):
        return None if any(g.allowWildcards for g in grants) else \
            f"wildcards are not granted to namespace {namespace} (users.grants[].allowWildcards)"
    return _name_refusal(res.type, res.name or "", prefixed, namespace, grants, topic_owner)


def _cluster_refusal(rule: AclRule, namespace: str, grants: list[TenantGrant]) -> str | None:
    granted = {op for g in grants for op in g.clusterOperations or ()}
    missing = sorted(set(rule.operations) - granted)
    return (f"cluster operations {', '.join(missing)} are not granted to namespace {namespace} "
            "(users.grants[].clusterOperations)") if missing else None


def _name_refusal(kind: str, name: str, prefixed: bool, namespace: str, grants: list[TenantGrant],
                  topic_owner: Callable[[str], str | None]) -> str | None:
    """A named resource: under a prefix the namespace is granted, or (a topic, literally) owned by one of its
    KafkaTopics."""
    field = PREFIX_FIELDS[kind]
    if any(name.startswith(p) for g in grants for p in getattr(g, field) or ()):
        return None
    owned_topic = kind == "topic" and not prefixed
    if owned_topic and topic_owner(name) == namespace:
        return None
    own = "no KafkaTopic of the namespace owns it, and " if owned_topic else ""
    return f"{own}no prefix in users.grants[].{field} for namespace {namespace} covers it"


# The namespace of the KafkaTopic that owns a Kafka topic on a cluster (None: no KafkaTopic owns it).
TopicOwner = Callable[[Probed, str], str | None]


def not_permitted(key: Key, cluster: Probed, refused: list[str]) -> Verdict:
    """A tenant's KafkaUser asks what its namespace may not have: nothing of it is applied."""
    return Verdict(False, Reason.NOT_PERMITTED, f"namespace {key[0]} may not grant what this KafkaUser asks: "
                   f"{'; '.join(refused)}. kto applies none of its changes: remove these rules, or ask the owner "
                   f"of KafkaCluster {cluster.key[0]}/{cluster.key[1]} to grant them (spec.users.grants)")


class UserFacts:
    """A KafkaUser's facts for the gather step (``gates.KindFacts``): the operator's (``UserKind`` is these plus
    ``act``) and ``kto plan``'s. ``topic_owner`` says which namespace's KafkaTopic owns a Kafka topic."""

    finalizer = names.USER_FINALIZER

    def __init__(self, topic_owner: TopicOwner = lambda cluster, topic: None):
        self.topic_owner = topic_owner

    def claimed_name(self, body: Mapping[str, Any]) -> str:
        return user_name_of(body)

    def allows(self, cluster: KafkaClusterSpec, cluster_namespace: str, namespace: str) -> bool:
        return cluster.allows_user_namespace(cluster_namespace, namespace)

    def check(self, key: Key, spec: KafkaUserSpec, name: str, cluster: Probed) -> Verdict | None:
        """kto's own user, the brokers' super users, ANONYMOUS and protected principals are nobody's; a tenant
        (a namespace other than the KafkaCluster's) may grant only what the KafkaCluster grants it."""
        why = protected_why(name, cluster)
        if why is not None:
            return Verdict(False, Reason.PROTECTED, f"Kafka user {name} is protected ({why}): no KafkaUser may "
                           "manage it")
        if key[0] == cluster.key[0]:
            return None  # the KafkaCluster's own namespace: its owner's
        if cluster.spec is None:  # the engine asks only about a cluster whose spec is valid
            raise ValueError(f"KafkaCluster {cluster.key[0]}/{cluster.key[1]} has no valid spec to check against")
        squat = prefix_refusal("Kafka user", name, key[0], cluster)
        if squat is not None:
            return squat
        refused = refused_rules(spec, key[0], cluster.spec.grants_for(key[0]),
                                lambda topic: self.topic_owner(cluster, topic))
        refused += above_defaults(spec.quotas, cluster.spec.defaultUserQuotas,
                                  cluster.facts.default_user_quotas if cluster.facts else None)
        return not_permitted(key, cluster, refused) if refused else None

    def deletion_policy(self, spec: KafkaUserSpec, cluster: KafkaClusterSpec | None, body: Mapping[str, Any]
                        ) -> DeletionPolicy:
        return user_deletion_policy(spec, body)
