"""The API: pydantic models of the KafkaCluster, KafkaTopic and KafkaUser specs and statuses.

The CRDs in ``crds/`` are generated from these models by ``kto.crdgen`` (``make crds``), and a test fails
when the committed files differ, so the schema the apiserver enforces and the one kto parses cannot drift.
Admission-time rules (CEL) sit next to the fields they guard, in ``json_schema_extra``.

No defaults are written into the CRDs: a topic's unset ``deletionPolicy`` must fall back to its cluster's,
which a schema default would hide. Defaults are applied here, when kto parses a spec.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

TOPIC_NAME_PATTERN = r"^[a-zA-Z0-9._-]+$"
# host:port with the host in printable ASCII but ':' and ',' (no whitespace, no control characters), or
# [IPv6]:port. Spelled with \x escapes: Go's RE2 (the apiserver), Rust's regex (pydantic), Python's re and the
# editors' ECMAScript read them alike, where `\s` means four different things.
HOST_PORT_PATTERN = r"^[\x21-\x2b\x2d-\x39\x3b-\x7e]+:[0-9]{1,5}$|^\[[0-9a-fA-F:.]+\]:[0-9]{1,5}$"
NAMESPACE_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"

# KRaft refuses a CreateTopics that writes more than 10,000 metadata records in one operation ("Excessively
# large number of partitions per request"); a topic of N partitions writes N+1 records plus one per config.
MAX_PARTITIONS = 9000
# A KafkaUser's ACL rules expand to one binding per (rule, operation); kto writes them in one request.
MAX_ACL_BINDINGS = 1000
# kto names Events `<metadata.name>.<12 hex>` (13 more characters) and a KafkaUser's Secret
# `<metadata.name>-kafka`; Kubernetes names are at most 253 characters.
MAX_RESOURCE_NAME_LENGTH = 240
# Kafka's internal topics (__consumer_offsets, __transaction_state, ...) start with this.
INTERNAL_TOPIC_PREFIX = "__"

# Config values: integers and strings are both accepted and sent to Kafka as strings.
ConfigValue = int | str
ConfigMap = dict[str, ConfigValue]

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
DeletionPolicyName = Literal["Delete", "Retain"]  # what a spec may say


class DeletionPolicy(StrEnum):
    """What deleting a resource does to what it made in Kafka: its spec (or its cluster's) says Delete or Retain;
    Adopted is kto's own word for "kept": kto adopted it and the resource itself does not say Delete."""

    DELETE = "Delete"
    RETAIN = "Retain"
    ADOPTED = "Adopted"


ScramType = Literal["scram-sha-256", "scram-sha-512"]
AclResourceType = Literal["topic", "group", "cluster", "transactionalId"]
AclPatternType = Literal["literal", "prefixed"]
AclOperationName = Literal["All", "Read", "Write", "Create", "Delete", "Alter", "Describe", "ClusterAction",
                           "DescribeConfigs", "AlterConfigs", "IdempotentWrite"]
USER_NAME_PATTERN = r"^[a-zA-Z0-9._@-]+$"
CLUSTER_RESOURCE_NAME = "kafka-cluster"


def optional(description: str) -> Any:  # pydantic.Field is typed Any
    """An optional field (None when left out)."""
    return Field(None, description=description)


def rule(expression: str, message: str, reason: str | None = None) -> dict[str, str]:
    r = {"rule": expression, "message": message}
    if reason:
        r["reason"] = reason
    return r


def validations(*rules: dict[str, str]) -> dict[str, Any]:
    return {"x-kubernetes-validations": list(rules)}


class Model(BaseModel):
    """Specs are frozen and reject unknown fields (the CRD prunes them anyway)."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


# ----------------------------------------------------------------------------------------------
# Checks shared by the kinds: each is a CEL rule in the CRD and the same check here
# ----------------------------------------------------------------------------------------------

RESOURCE_NAME_MESSAGE = (
    f"metadata.name must be at most {MAX_RESOURCE_NAME_LENGTH} characters: kto names its Events "
    "<metadata.name>.<12 hex> and a KafkaUser's Secret <metadata.name>-kafka, and Kubernetes names are at most 253; "
    "choose a shorter name")
# On the CRD's metadata.name property (not the root): an object created before the rule keeps the name it has, and
# the apiserver's ratcheting lets its updates (finalizer removal included) through only when the rule's own value,
# the name, is unchanged; a root rule's value is the whole object, so it would block them forever.
RESOURCE_NAME_RULE = rule(f"size(self) <= {MAX_RESOURCE_NAME_LENGTH}", RESOURCE_NAME_MESSAGE)


def check_resource_name(name: str) -> str | None:
    """Why kto cannot serve a resource named ``name`` (the CRDs refuse it at admission too), or None."""
    if len(name) > MAX_RESOURCE_NAME_LENGTH:
        return RESOURCE_NAME_MESSAGE
    return None


# Whitespace as CEL's trim() sees it (Go's unicode.IsSpace): what a CEL rule trims, the model strips, and no
# more (Python's str.strip() also strips \x1c-\x1f, control characters the rules refuse on their own).
SPACES = "\t\n\x0b\x0c\r \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + "\u2028\u2029\u202f\u205f\u3000"
# Control characters (C0, DEL, C1): in a name they are a typo or an attack, never what a person means.
CONTROL = r"[\x00-\x1f\x7f-\x9f]"
NO_CONTROL_PATTERN = rf"^[^{CONTROL[1:-1]}]*$"


def is_trimmed(value: str) -> bool:
    """Whether ``value`` has no whitespace around it, as CEL's ``trim()`` decides."""
    return value.strip(SPACES) == value


CONFIG_KEYS_MESSAGE = ("config keys must be Kafka config names (retention.ms, cleanup.policy, ...): remove the "
                       "empty key, the spaces around the key or the control characters in it")
CONFIG_RULES = validations(rule(f"self.all(k, size(k) > 0 && k.trim() == k && !k.matches(r'{CONTROL}'))",
                                CONFIG_KEYS_MESSAGE))


def check_config_keys(value: ConfigMap | None) -> ConfigMap | None:
    for key in value or {}:
        if not key or not is_trimmed(key) or re.search(CONTROL, key):
            raise ValueError(f"{CONFIG_KEYS_MESSAGE} (key {key!r})")
    return value


ConfigField = Annotated[ConfigMap | None, Field(json_schema_extra=CONFIG_RULES), AfterValidator(check_config_keys)]

PORT_MESSAGE = "the port of a bootstrap server must be between 1 and 65535 (host:port, e.g. kafka-0.kafka:9092)"
PORT_RULES = validations(rule(
    "!self.matches(':[0-9]+$') || (int(self.substring(self.lastIndexOf(':') + 1)) >= 1"
    " && int(self.substring(self.lastIndexOf(':') + 1)) <= 65535)", PORT_MESSAGE))

NAMESPACE_MESSAGE = ("clusterRef.namespace must be a namespace name: lowercase letters, digits and '-', starting "
                     "and ending with a letter or digit (at most 63 characters)")
NAMESPACE_RULES = validations(rule(f"self.matches('{NAMESPACE_PATTERN}')", NAMESPACE_MESSAGE))


# ----------------------------------------------------------------------------------------------
# KafkaCluster
# ----------------------------------------------------------------------------------------------


class SaslSecretRef(Model):
    name: str = Field(min_length=1, description="Secret in the KafkaCluster's namespace holding the credentials.")
    usernameKey: str | None = Field(None, min_length=1, description="Key of the username (default: username).")
    passwordKey: str | None = Field(None, min_length=1, description="Key of the password (default: password).")


class SaslSpec(Model):
    mechanism: SaslMechanism = Field(description="SASL mechanism: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.")
    secretRef: SaslSecretRef = Field(
        description="Secret in the KafkaCluster's namespace with the username and password kto authenticates with.")
    allowCleartextPassword: bool | None = optional(
        "Mechanism PLAIN over protocol SASL_PLAINTEXT sends the password unencrypted: kto refuses "
        "to connect that way unless this is true (default: false). Example: true, for a test "
        "cluster on a trusted network.")


class SecretKeyRef(Model):
    name: str = Field(min_length=1, description="Secret in the KafkaCluster's namespace.")
    key: str | None = Field(None, min_length=1, description="Key in the Secret (default: ca.crt).")


class CertSecretRef(Model):
    name: str = Field(min_length=1, description="Secret with the client certificate (tls.crt) and key (tls.key).")
    certKey: str | None = Field(None, min_length=1, description="Key of the certificate (default: tls.crt).")
    keyKey: str | None = Field(None, min_length=1, description="Key of the private key (default: tls.key).")


class TlsSpec(Model):
    caSecretRef: SecretKeyRef | None = optional(
        "CA that signed the brokers' certificates (default: the system's trust store).")
    certSecretRef: CertSecretRef | None = Field(None, description="Client certificate for mutual TLS.")
    verifyHostname: bool | None = Field(None, description="Check the broker's hostname against its certificate "
                                                          "(default: true).")


class SecuritySpec(Model):
    protocol: SecurityProtocol = Field(description="PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL.")
    sasl: SaslSpec | None = Field(None, description="SASL authentication: the mechanism and the Secret with kto's "
                                  "username and password; required with SASL_PLAINTEXT and SASL_SSL.")
    tls: TlsSpec | None = Field(None, description="TLS: the CA, a client certificate for mutual TLS and hostname "
                                "verification; used with SSL and SASL_SSL (default: the system's CAs, no client "
                                "certificate, hostnames verified).")


SASL_REQUIRED = "security.sasl is required when protocol is SASL_PLAINTEXT or SASL_SSL"
SASL_UNUSED = "security.sasl is only used with protocol SASL_PLAINTEXT or SASL_SSL: remove it or change the protocol"
TLS_UNUSED = "security.tls is only used with protocol SSL or SASL_SSL: remove it or change the protocol"
SECURITY_RULES = validations(
    rule("!(self.protocol in ['SASL_PLAINTEXT', 'SASL_SSL']) || has(self.sasl)", SASL_REQUIRED, "FieldValueRequired"),
    rule("self.protocol in ['SASL_PLAINTEXT', 'SASL_SSL'] || !has(self.sasl)", SASL_UNUSED),
    rule("self.protocol in ['SSL', 'SASL_SSL'] || !has(self.tls)", TLS_UNUSED),
)


def check_security(value: SecuritySpec | None) -> SecuritySpec | None:
    """SECURITY_RULES, as the model's own check."""
    if value is None:
        return value
    sasl = value.protocol in ("SASL_PLAINTEXT", "SASL_SSL")
    if sasl and value.sasl is None:
        raise ValueError(SASL_REQUIRED)
    if not sasl and value.sasl is not None:
        raise ValueError(SASL_UNUSED)
    if value.protocol not in ("SSL", "SASL_SSL") and value.tls is not None:
        raise ValueError(TLS_UNUSED)
    return value


PARTITIONS_LIMIT = (f"at most {MAX_PARTITIONS}: KRaft refuses to create a topic that writes more than 10,000 "
                    "metadata records at once, and a topic of N partitions writes N+1 records plus its configs")


class TopicDefaults(Model):
    partitions: Annotated[int, Field(ge=1, le=MAX_PARTITIONS)] | None = Field(
        None, description="Partitions of a topic that does not set them (default: the brokers' num.partitions); "
                          f"{PARTITIONS_LIMIT}.")
    replicationFactor: Annotated[int, Field(ge=1, le=32767)] | None = Field(
        None, description="Replication factor of a topic that does not set it "
                          "(default: the brokers' default.replication.factor).")
    config: ConfigField = Field(None, description="Topic configs applied under each topic's own config.")


def check_port(server: str) -> str:
    if not 1 <= int(server.rsplit(":", 1)[1]) <= 65535:
        raise ValueError(f"{PORT_MESSAGE} (got {server!r})")
    return server


BootstrapServer = Annotated[str, Field(pattern=HOST_PORT_PATTERN, max_length=261, json_schema_extra=PORT_RULES),
                            AfterValidator(check_port)]

# Entries of protectedTopics / protectedPrincipals: a name, or a prefix ending in '*'.
PROTECTED_TOPIC_PATTERN = r"^[a-zA-Z0-9._-]*\*?$"
STAR_MESSAGE = "'*' may only end an entry, where it makes the entry a prefix (e.g. svc-*)"
PRINCIPAL_MESSAGE = "write the Kafka user name without the User: prefix (e.g. admin, not User:admin)"
PRINCIPAL_RULES = validations(
    rule("!self.contains('*') || self.indexOf('*') == size(self) - 1", STAR_MESSAGE),
    rule("!self.startsWith('User:')", PRINCIPAL_MESSAGE),
)


def check_principal_entry(entry: str) -> str:
    if "*" in entry[:-1]:
        raise ValueError(STAR_MESSAGE)
    if entry.startswith("User:"):
        raise ValueError(PRINCIPAL_MESSAGE)
    return entry


ProtectedTopic = Annotated[str, Field(min_length=1, max_length=255, pattern=PROTECTED_TOPIC_PATTERN)]
ProtectedPrincipal = Annotated[str, Field(min_length=1, max_length=255, json_schema_extra=PRINCIPAL_RULES),
                               AfterValidator(check_principal_entry)]


def matches_entry(entries: list[str], name: str) -> bool:
    """Whether ``name`` is one of ``entries`` or starts with an entry's prefix (an entry ending in '*')."""
    return any(name.startswith(e[:-1]) if e.endswith("*") else name == e for e in entries)


NAMESPACE_OR_STAR_MESSAGE = "must be a namespace name (lowercase letters, digits and '-') or '*' (every namespace)"
NAMESPACE_OR_STAR_RULES = validations(rule(f"self == '*' || self.matches('{NAMESPACE_PATTERN}')",
                                           NAMESPACE_OR_STAR_MESSAGE))


def check_namespace_or_star(value: str) -> str:
    if value != "*" and not re.fullmatch(NAMESPACE_PATTERN, value):
        raise ValueError(f"{value!r} {NAMESPACE_OR_STAR_MESSAGE}")
    return value


NamespaceOrStar = Annotated[str, Field(min_length=1, max_length=63, json_schema_extra=NAMESPACE_OR_STAR_RULES),
                            AfterValidator(check_namespace_or_star)]
# A grant's prefixes are never empty: granting every name is what allowWildcards says.
Prefix = Annotated[str, Field(min_length=1, max_length=255)]


def listing(description: str, max_items: int = 1000) -> Any:  # pydantic.Field is typed Any
    """An optional list field of at most ``max_items`` entries."""
    return Field(None, max_length=max_items, description=description)


def prefixes(what: str, example: str) -> Any:
    return listing(f"The namespace's KafkaUsers may have ACLs on {what} with one of these (default: none). "
                   f"Example: [{example}].")


class TenantGrant(Model):
    namespace: NamespaceOrStar = Field(
        description="The namespace whose KafkaUsers this grant is for, or '*' for every namespace the cluster "
                    "allows (users.allowedNamespaces). Example: team-a.")
    topicPrefixes: list[Prefix] | None = prefixes("topics whose names start", "team-a.")
    groupPrefixes: list[Prefix] | None = prefixes("consumer groups whose names start", "team-a-")
    transactionalIdPrefixes: list[Prefix] | None = prefixes("transactional ids that start", "team-a-")
    clusterOperations: list[AclOperationName] | None = Field(
        None, max_length=11, description="Operations on the cluster resource (kafka-cluster) the namespace's "
                                         "KafkaUsers may be granted (default: none). Example: [IdempotentWrite].")
    allowWildcards: bool | None = optional(
        "The namespace's KafkaUsers may have ACLs on '*' (every resource of a type) or on an empty "
        "prefix (default: false).")
    requiredNamePrefixes: list[Prefix] | None = listing(
        "When set, the namespace's KafkaTopics may only name Kafka topics, and its KafkaUsers only Kafka users, "
        "whose names start with one of these, so a tenant cannot take names the platform means to use (default: "
        "any name). Example: [team-a.].")


def namespace_allowed(allowed: list[str] | None, own_namespace: str, namespace: str) -> bool:
    """A cluster's own namespace is always allowed; others when listed, or when the list has '*'."""
    return namespace == own_namespace or namespace in (allowed or ()) or "*" in (allowed or ())


class UserPolicy(Model):
    allowedNamespaces: list[NamespaceOrStar] | None = listing(
        "Namespaces besides the KafkaCluster's own whose KafkaUsers may use this cluster; [\"*\"] allows "
                    "all (default: none, the cluster's own namespace only). Example: [team-a, team-b].")
    grants: list[TenantGrant] | None = listing(
        "What each namespace's KafkaUsers may be granted: name prefixes per resource type, cluster "
                    "operations, wildcards; a namespace's grants are its own entries and those for '*' "
                    "(default: none).")

    def allows_user_namespace(self, own_namespace: str, namespace: str) -> bool:
        return namespace_allowed(self.allowedNamespaces, own_namespace, namespace)

    def grants_for(self, namespace: str) -> list[TenantGrant]:
        """The grants that apply to ``namespace``'s KafkaUsers: its own and those for '*', in spec order."""
        return [g for g in self.grants or [] if g.namespace in (namespace, "*")]


# Client quota values are finite and at most these (a quota left out is Kafka's "no limit"): far above what any
# broker serves, so a limit that matters always fits, and below what would overflow or defeat a cap.
MAX_BYTE_RATE = 100_000_000_000  # bytes per second per broker: 100 GB/s, beyond any broker's network
MAX_REQUEST_PERCENTAGE = 100_000.0  # 1,000 threads' worth of a broker's request handler and network threads
MAX_CONTROLLER_MUTATION_RATE = 1_000_000.0  # partitions created or deleted per second


class UserQuotas(Model):
    """Kafka client quotas of the user's principal (entity user=<userName>); a field left out is not set."""

    producerByteRate: Annotated[int, Field(ge=1, le=MAX_BYTE_RATE)] | None = Field(
        None, description="Bytes per second the user may produce, per broker (producer_byte_rate); at most "
                          f"{MAX_BYTE_RATE} (100 GB/s).")
    consumerByteRate: Annotated[int, Field(ge=1, le=MAX_BYTE_RATE)] | None = Field(
        None, description="Bytes per second the user may fetch, per broker (consumer_byte_rate); at most "
                          f"{MAX_BYTE_RATE} (100 GB/s).")
    requestPercentage: Annotated[float, Field(gt=0, le=MAX_REQUEST_PERCENTAGE, allow_inf_nan=False)] | None = Field(
        None, description="Percentage of one request handler and network thread the user may use, per broker "
                          f"(request_percentage; 100 is one full thread); at most {MAX_REQUEST_PERCENTAGE:.0f}.")
    controllerMutationRate: Annotated[float, Field(gt=0, le=MAX_CONTROLLER_MUTATION_RATE,
                                                   allow_inf_nan=False)] | None = optional(
        "Partitions the user may create or delete per second (controller_mutation_rate); at most "
        f"{MAX_CONTROLLER_MUTATION_RATE:.0f}.")


class KafkaClusterSpec(Model):
    """Where the brokers are, how kto connects, the defaults of its topics, and who may use it."""

    bootstrapServers: list[BootstrapServer] = Field(
        min_length=1, max_length=100, description="Brokers to bootstrap from, as host:port with a port from 1 to "
                                                  "65535. Example: [kafka-0.kafka:9092, kafka-1.kafka:9092].")
    security: Annotated[SecuritySpec | None, Field(json_schema_extra=SECURITY_RULES),
                        AfterValidator(check_security)] = optional(
        "How kto connects (default: PLAINTEXT).")
    topicDefaults: TopicDefaults | None = optional(
        "Partitions, replication factor and configs of the topics that leave them out "
        "(default: the brokers' own). Example: {replicationFactor: 3}.")
    deletionPolicy: DeletionPolicyName | None = optional(
        "What deleting a KafkaTopic does to the Kafka topic, unless the topic says: Delete "
        "(default) or Retain.")
    allowedNamespaces: list[Annotated[str, Field(min_length=1, max_length=63)]] | None = listing(
        'Namespaces besides this one whose KafkaTopics may use this cluster; ["*"] allows all. '
                    "KafkaUsers follow users.allowedNamespaces instead.")
    protectedTopics: list[ProtectedTopic] | None = listing(
        "Kafka topics kto must never create, change or delete for a KafkaTopic; an entry ending in '*' "
                    "is a prefix. Topics starting with __ (Kafka's internal topics) are always protected "
                    "(default: only those). Example: [audit.*, billing-ledger].")
    protectedPrincipals: list[ProtectedPrincipal] | None = listing(
        "Kafka user names (without User:) that no KafkaUser may manage: the brokers' super users, "
                    "service accounts; an entry ending in '*' is a prefix. kto's own user (security.sasl's "
                    "username) is always protected (default: only that one). Example: [admin, svc-*].")
    users: UserPolicy | None = optional(
        "Which namespaces' KafkaUsers may use this cluster, and what their ACLs may grant "
        "(default: only this namespace's KafkaUsers, and no grants).")
    resyncIntervalSeconds: Annotated[int, Field(ge=10, le=86400)] | None = Field(
        None, description="How often kto compares every topic with Kafka and corrects drift (default: 60).")
    stalledAfterSeconds: Annotated[int, Field(ge=1, le=86400)] | None = Field(
        None, description="How long the cluster may stay Unreachable before kto adds the condition Stalled=True "
                          "(Argo CD then shows it Degraded and a sync stops waiting for it); kto keeps probing "
                          "(default: 300).")
    replicationThrottleBytesPerSecond: Annotated[int, Field(ge=1024)] | None = Field(
        None, description="While replicas move (a replication-factor change), limit replication traffic to this "
                          "many bytes per second per broker; removed when the move ends (default: no limit).")
    defaultUserQuotas: UserQuotas | None = optional(
        "Client quotas of every user that has no quota of its own (Kafka's default user "
        "entity). kto removes only the keys it set (status.defaultUserQuotaKeys) and never "
        "overwrites a key set by hand unless the KafkaCluster is annotated kto.dev/adopt=overwrite "
        "(default: none).")
    brokerConfig: ConfigField = optional(
        "Cluster-wide dynamic broker defaults kto sets on every broker (IncrementalAlterConfigs "
        "on the default broker resource), e.g. {log.retention.hours: 168}. Only keys Kafka can "
        "change at runtime for the whole cluster are accepted; kto removes only the keys it set "
        "(status.brokerConfigKeys) and never overwrites a key set by hand unless the KafkaCluster "
        "is annotated kto.dev/adopt=overwrite (default: none).")

    @property
    def protocol(self) -> str:
        return self.security.protocol if self.security else "PLAINTEXT"

    @property
    def resync_interval(self) -> int:
        return self.resyncIntervalSeconds or 60

    @property
    def stalled_after(self) -> int:
        return self.stalledAfterSeconds or 300

    @property
    def deletion_policy(self) -> DeletionPolicy:
        return DeletionPolicy(self.deletionPolicy or DeletionPolicy.DELETE)

    def allows_namespace(self, own_namespace: str, namespace: str) -> bool:
        """Whether KafkaTopics of ``namespace`` may use this cluster (which lives in ``own_namespace``)."""
        return namespace_allowed(self.allowedNamespaces, own_namespace, namespace)

    def allows_user_namespace(self, own_namespace: str, namespace: str) -> bool:
        """Whether KafkaUsers of ``namespace`` may use this cluster (which lives in ``own_namespace``)."""
        return (self.users or UserPolicy()).allows_user_namespace(own_namespace, namespace)

    def grants_for(self, namespace: str) -> list[TenantGrant]:
        return (self.users or UserPolicy()).grants_for(namespace)

    def required_prefixes(self, namespace: str) -> list[str]:
        """The prefixes every Kafka name of ``namespace``'s resources must start with (none: any name)."""
        return [p for g in self.grants_for(namespace) for p in g.requiredNamePrefixes or ()]

    def is_protected_topic(self, topic_name: str) -> bool:
        """Whether kto must leave the Kafka topic alone: an internal topic or one protectedTopics matches."""
        return topic_name.startswith(INTERNAL_TOPIC_PREFIX) or matches_entry(self.protectedTopics or [], topic_name)

    def is_protected_principal(self, user_name: str, own_user: str | None = None) -> bool:
        """Whether no KafkaUser may manage ``user_name``: kto's own user (``own_user``) or protectedPrincipals."""
        return user_name == own_user or matches_entry(self.protectedPrincipals or [], user_name)


# ----------------------------------------------------------------------------------------------
# KafkaTopic
# ----------------------------------------------------------------------------------------------


def check_namespace(value: str | None) -> str | None:
    if value is not None and not re.fullmatch(NAMESPACE_PATTERN, value):
        raise ValueError(NAMESPACE_MESSAGE)
    return value


class ClusterRef(Model):
    name: str = Field(min_length=1, max_length=253, description="Name of the KafkaCluster.")
    namespace: Annotated[str | None, Field(json_schema_extra=NAMESPACE_RULES), AfterValidator(check_namespace)] = Field(
        None, min_length=1, max_length=63,
        description="Namespace of the KafkaCluster (default: the resource's own); the cluster must allow it.")


DOTS_MESSAGE = "topicName cannot be '.' or '..'"
INTERNAL_TOPIC_MESSAGE = ("topicName cannot start with '__': Kafka reserves those names for its internal topics "
                          "(__consumer_offsets, __transaction_state, ...); choose another name")
TOPIC_NAME_RULES = validations(
    rule("self != '.' && self != '..'", DOTS_MESSAGE),
    rule(f"!self.startsWith('{INTERNAL_TOPIC_PREFIX}')", INTERNAL_TOPIC_MESSAGE),
)

def immutable_names(kind: str, field: str, instead: str) -> list[dict[str, str]]:
    """The cluster a resource references, and the Kafka name it gives, never change: moving either would orphan
    what kto made under the old ones."""
    return [rule("self.clusterRef == oldSelf.clusterRef",
                 f"spec.clusterRef is immutable: create a new {kind} for another cluster"),
            rule(f"has(self.{field}) == has(oldSelf.{field})"
                 f" && (!has(self.{field}) || self.{field} == oldSelf.{field})",
                 f"spec.{field} is immutable: create a new {kind} {instead}")]


TOPIC_SPEC_RULES = validations(
    *immutable_names("KafkaTopic", "topicName", "to use another Kafka topic name"),
    rule("!has(oldSelf.partitions) || (has(self.partitions) && self.partitions >= oldSelf.partitions)",
         "spec.partitions cannot decrease: Kafka cannot remove partitions from a topic"),
)


class KafkaTopicSpec(Model):
    """The topic as it should be in Kafka: kto creates it, or changes it to match."""

    model_config = ConfigDict(frozen=True, extra="forbid", json_schema_extra=TOPIC_SPEC_RULES)

    clusterRef: ClusterRef = Field(
        description="The KafkaCluster that holds the topic; immutable.")
    topicName: Annotated[
        str | None,
        Field(json_schema_extra=TOPIC_NAME_RULES),
    ] = Field(None, min_length=1, max_length=249, pattern=TOPIC_NAME_PATTERN,
              description="Kafka topic name when it differs from metadata.name (letters, digits, '.', '_', '-'; "
                          "at most 249 characters); immutable.")
    partitions: Annotated[int, Field(ge=1, le=MAX_PARTITIONS)] | None = Field(
        None, description="Number of partitions; may grow, never shrink (default: the cluster's topicDefaults); "
                          f"{PARTITIONS_LIMIT}.")
    replicationFactor: Annotated[int, Field(ge=1, le=32767)] | None = Field(
        None, description="Replicas per partition (default: the cluster's topicDefaults).")
    config: ConfigField = optional(
        "Topic configs (retention.ms, cleanup.policy, ...); integers or strings. "
        "Dynamic overrides not listed here are removed.")
    deletionPolicy: DeletionPolicyName | None = optional(
        "Delete the Kafka topic with this resource (Delete) or keep it (Retain); "
        "default: the cluster's deletionPolicy.")

    @field_validator("topicName")
    @classmethod
    def _not_internal(cls, value: str | None) -> str | None:
        if value is not None and value.startswith(INTERNAL_TOPIC_PREFIX):
            raise ValueError(INTERNAL_TOPIC_MESSAGE)
        if value in (".", ".."):
            raise ValueError(DOTS_MESSAGE)
        return value


# ----------------------------------------------------------------------------------------------
# KafkaUser
# ----------------------------------------------------------------------------------------------



class PasswordSecretRef(Model):
    name: str = Field(min_length=1, max_length=253, description="Secret in the KafkaUser's namespace.")
    key: str | None = Field(None, min_length=1, max_length=253, description="Key of the password (default: password).")


class UserAuthentication(Model):
    type: ScramType = Field(description="SASL/SCRAM mechanism of the credential: scram-sha-256 or scram-sha-512.")
    passwordSecretRef: PasswordSecretRef | None = optional(
        "The password to set; changing it in the Secret rotates it on the brokers "
        "(default: kto generates one and keeps it in the Secret it writes).")

    @property
    def mechanism(self) -> str:
        return self.type.upper()


MAX_TOPIC_NAME_LENGTH = 249
ACL_TOPIC_MESSAGE = (f"a topic's resource.name must be a Kafka topic name or prefix (letters, digits, '.', '_', '-'; "
                     f"at most {MAX_TOPIC_NAME_LENGTH} characters) or '*' (every topic)")
ACL_NAME_REQUIRED = "resource.name is required unless type is cluster"
ACL_CLUSTER_NAME = "the cluster resource is named kafka-cluster (or leave resource.name out)"
ACL_RESOURCE_RULES = validations(
    rule("self.type == 'cluster' || has(self.name)", ACL_NAME_REQUIRED, "FieldValueRequired"),
    rule(f"self.type != 'cluster' || !has(self.name) || self.name == '{CLUSTER_RESOURCE_NAME}'", ACL_CLUSTER_NAME),
    rule(f"self.type != 'topic' || !has(self.name) || self.name == '*' || (size(self.name) <= {MAX_TOPIC_NAME_LENGTH}"
         f" && self.name.matches('{TOPIC_NAME_PATTERN}'))", ACL_TOPIC_MESSAGE),
)
ACL_NAME_MESSAGE = ("resource.name cannot start or end with whitespace: Kafka would take it as part of the name "
                    "('orders ' is not the topic orders); remove the spaces")
ACL_NAME_RULES = validations(rule("self.trim() == self", ACL_NAME_MESSAGE))


def check_acl_name(value: str | None) -> str | None:
    if value is not None and not is_trimmed(value):
        raise ValueError(f"{ACL_NAME_MESSAGE} (got {value!r})")
    return value


class AclResource(Model):
    model_config = ConfigDict(frozen=True, extra="forbid", json_schema_extra=ACL_RESOURCE_RULES)

    type: AclResourceType = Field(description="topic, group, cluster or transactionalId.")
    name: Annotated[str | None, Field(json_schema_extra=ACL_NAME_RULES), AfterValidator(check_acl_name)] = Field(
        None, min_length=1, max_length=255, pattern=NO_CONTROL_PATTERN,
        description="Resource name, or prefix with patternType prefixed; '*' is every resource (cluster: "
                    "kafka-cluster, the default). No whitespace around it, no control characters; a topic's is a "
                    "topic name or prefix.")
    patternType: AclPatternType | None = Field(None, description="literal (default) or prefixed.")

    @model_validator(mode="after")
    def _topic_name(self) -> AclResource:
        if self.type != "cluster" and self.name is None:
            raise ValueError(ACL_NAME_REQUIRED)
        if self.type == "cluster" and self.name not in (None, CLUSTER_RESOURCE_NAME):
            raise ValueError(ACL_CLUSTER_NAME)
        if self.type == "topic" and self.name is not None and self.name != "*" and (
                len(self.name) > MAX_TOPIC_NAME_LENGTH or not re.fullmatch(TOPIC_NAME_PATTERN, self.name)):
            raise ValueError(f"{ACL_TOPIC_MESSAGE} (got {self.name!r})")
        return self


class AclRule(Model):
    resource: AclResource = Field(description="The Kafka resource the rule is about: a topic, a consumer group, "
                                               "a transactional id or the cluster.")
    operations: list[AclOperationName] = Field(min_length=1, max_length=11, description="Operations granted "
                                               "(or denied): Read, Write, Describe, Create, Delete, Alter, ...")
    host: str | None = Field(None, min_length=1, max_length=255, description='Client host ("*", the default: any).')
    permission: Literal["allow", "deny"] | None = Field(None, description="allow (default) or deny.")


ACL_BINDINGS_MESSAGE = (f"authorization.acls expand to more than {MAX_ACL_BINDINGS} ACL bindings (one per rule and "
                        "operation): use prefixed resources, or split the ACLs across KafkaUsers")
ACL_BINDINGS_RULES = validations(rule(f"self.map(r, size(r.operations)).sum() <= {MAX_ACL_BINDINGS}",
                                      ACL_BINDINGS_MESSAGE))


class UserAuthorization(Model):
    acls: list[AclRule] = Field(default_factory=list, max_length=1000, json_schema_extra=ACL_BINDINGS_RULES,
                                description="The user's ACLs; kto removes the user's ACLs that are not listed. Each "
                                            "(rule, operation) is one ACL binding: at most "
                                            f"{MAX_ACL_BINDINGS} per KafkaUser.")

    @field_validator("acls")
    @classmethod
    def _bindings(cls, value: list[AclRule]) -> list[AclRule]:
        if sum(len(r.operations) for r in value) > MAX_ACL_BINDINGS:
            raise ValueError(ACL_BINDINGS_MESSAGE)
        return value


USER_SPEC_RULES = validations(*immutable_names("KafkaUser", "userName", "for another Kafka user"))


class KafkaUserSpec(Model):
    """The user as it should be in Kafka: its credential and its ACLs."""

    model_config = ConfigDict(frozen=True, extra="forbid", json_schema_extra=USER_SPEC_RULES)

    clusterRef: ClusterRef = Field(
        description="The KafkaCluster that holds the user; immutable.")
    userName: str | None = Field(None, min_length=1, max_length=253, pattern=USER_NAME_PATTERN,
                                 description="Kafka user name (principal User:<userName>) when it differs from "
                                             "metadata.name; immutable.")
    authentication: UserAuthentication = Field(
        description="How the user authenticates: a SASL/SCRAM credential that kto sets on the brokers.")
    authorization: UserAuthorization | None = optional(
        "What the user may do: its ACLs (default: no ACLs).")
    quotas: UserQuotas | None = optional(
        "Client quotas of the user (default: none set by kto). kto removes only the quotas it "
        "set (status.quotas).")
    deletionPolicy: DeletionPolicyName | None = optional(
        "Delete the user's credentials and ACLs with this resource (Delete, the default) or keep "
        "them (Retain).")

    @property
    def deletion_policy(self) -> DeletionPolicy:
        return DeletionPolicy(self.deletionPolicy or DeletionPolicy.DELETE)


# ----------------------------------------------------------------------------------------------
# Status (written by kto only)
# ----------------------------------------------------------------------------------------------


class Condition(BaseModel):
    """A standard Kubernetes condition (metav1.Condition)."""

    model_config = ConfigDict(extra="forbid")
    type: str = Field(max_length=316, description="The condition's type; kto writes Ready.")
    status: Literal["True", "False", "Unknown"] = Field(description="True, False or Unknown.")
    observedGeneration: int | None = Field(
        None, ge=0, description="The metadata.generation the condition was computed from.")
    lastTransitionTime: str = Field(json_schema_extra={"format": "date-time"},
                                    description="When status last changed.")
    reason: str = Field(max_length=1024, description="Why, in one CamelCase word (e.g. Reconciled, NotSupported).")
    message: str = Field(max_length=32768, description="What happened and, when something is wrong, what to do.")


OBSERVED_GENERATION = "The metadata.generation of the spec that kto last acted on."
OWNERSHIP = ("kto's record that this resource owns the Kafka {what} it names: Created (kto created it for this "
             "resource) or Adopted (it existed and kto took it over). Only this record, which tenants cannot write, "
             "lets kto change, revoke or delete the {what}: never a finalizer, label or annotation.")
ADOPTED = ("true when kto adopted a {what} that existed in Kafka before this resource: it is deleted with the "
           "resource only when the resource itself says deletionPolicy: Delete.")
CONDITIONS = ("Standard conditions; Ready says whether Kafka matches this resource (for a KafkaCluster: whether kto "
              "can connect and is authorized), and when it does not, the reason and a message a person can act on.")


class DriftCorrection(BaseModel):
    model_config = ConfigDict(extra="forbid")
    time: str = Field(json_schema_extra={"format": "date-time"}, description="When kto corrected it.")
    message: str = Field(description="What had changed in Kafka, and what kto set it back to.")


class ReplicasChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    targetReplicas: int = Field(description="The replication factor the spec asks for.")
    state: Literal["Pending", "InProgress"] = Field(
        description="Pending (not started yet) or InProgress (replicas are moving).")
    message: str | None = Field(None, description="Progress, e.g. how many partitions have moved.")


class Status(BaseModel):
    """What kto observed and did, written by kto only."""

    model_config = ConfigDict(extra="forbid")
    observedGeneration: int | None = Field(None, description=OBSERVED_GENERATION)
    conditions: list[Condition] | None = Field(None, description=CONDITIONS)


class QuotaValue(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key: str = Field(description="The Kafka quota key, e.g. producer_byte_rate.")
    value: float = Field(description="Its value.")


class KafkaTopicStatus(Status):
    """What kto observed and did, written by kto only."""

    topicName: str | None = Field(None, description="The Kafka topic's name (spec.topicName or metadata.name).")
    topicId: str | None = Field(None, description="Kafka's id of the topic; a new id means the topic was recreated.")
    partitions: int | None = Field(None, description="The partitions the topic has in Kafka.")
    replicationFactor: int | None = Field(None, description="The topic's replication factor in Kafka.")
    lastDriftCorrection: DriftCorrection | None = optional(
        "The last change made in Kafka outside kto that kto undid.")
    replicasChange: ReplicasChange | None = optional(
        "A replication-factor change that is under way (absent when there is none).")
    adopted: bool | None = Field(None, description=ADOPTED.format(what="topic"))
    ownership: Literal["Created", "Adopted"] | None = Field(None, description=OWNERSHIP.format(what="topic"))
    desiredHash: str | None = optional(
        "A digest of what kto last made the topic match (its spec with the KafkaCluster's "
        "topicDefaults): when the defaults change, the change kto applies is intent, not drift.")


class KafkaClusterStatus(Status):
    """What kto observed of the cluster, written by kto only."""

    clusterId: str | None = Field(None, description="The cluster id the brokers report: the cluster's identity.")
    controllerId: int | None = Field(None, description="The node id of the active controller.")
    brokers: int | None = Field(None, description="How many brokers the cluster reports.")
    topics: int | None = Field(None, description="How many KafkaTopics use this cluster.")
    defaultUserQuotaKeys: list[str] | None = optional(
        "The default user quota keys kto set from spec.defaultUserQuotas: the only ones it "
        "removes when they leave the spec.")
    brokerConfigKeys: list[str] | None = optional(
        "The cluster-wide broker config keys kto set from spec.brokerConfig: the only ones it "
        "removes when they leave the spec.")


class KafkaUserStatus(Status):
    """What kto observed and did, written by kto only."""

    userName: str | None = Field(None, description="The Kafka user name (principal User:<userName>).")
    secretName: str | None = Field(None, description="The Secret, in this namespace, where kto wrote the user's "
                                                     "credentials for applications.")
    acls: int | None = Field(None, description="How many ACL bindings the user has in Kafka that this resource "
                                               "asks for.")
    adopted: bool | None = Field(None, description=ADOPTED.format(what="user"))
    ownership: Literal["Created", "Adopted"] | None = Field(None, description=OWNERSHIP.format(what="user"))
    quotas: list[QuotaValue] | None = optional(
        "The client quotas kto set for the user, as Kafka has them: the only ones it removes "
        "when they leave the spec.")
