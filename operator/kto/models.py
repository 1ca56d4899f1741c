"""The API: pydantic models of the KafkaCluster, KafkaTopic and KafkaUser specs and statuses.

The CRDs in ``crds/`` are generated from these models by ``kto.crdgen`` (``make crds``), and a test fails
when the committed files differ, so the schema the apiserver enforces and the one kto parses cannot drift.
Admission-time rules (CEL) sit next to the fields they guard, in ``json_schema_extra``.

No defaults are written into the CRDs: a topic's unset ``deletionPolicy`` must fall back to its cluster's,
which a schema default would hide. Defaults are applied here, when kto parses a spec.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

TOPIC_NAME_PATTERN = r"^[a-zA-Z0-9._-]+$"
HOST_PORT_PATTERN = r"^[^\s:,]+:[0-9]{1,5}$|^\[[0-9a-fA-F:.]+\]:[0-9]{1,5}$"

# Config values: integers and strings are both accepted and sent to Kafka as strings.
ConfigValue = int | str
ConfigMap = dict[str, ConfigValue]

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
DeletionPolicy = Literal["Delete", "Retain"]


def rule(expression: str, message: str, reason: str | None = None) -> dict:
    r = {"rule": expression, "message": message}
    if reason:
        r["reason"] = reason
    return r


def validations(*rules: dict) -> dict:
    return {"x-kubernetes-validations": list(rules)}


class Model(BaseModel):
    """Specs are frozen and reject unknown fields (the CRD prunes them anyway)."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


# ----------------------------------------------------------------------------------------------
# KafkaCluster
# ----------------------------------------------------------------------------------------------


class SaslSecretRef(Model):
    name: str = Field(min_length=1, description="Secret in the KafkaCluster's namespace holding the credentials.")
    usernameKey: str | None = Field(None, min_length=1, description="Key of the username (default: username).")
    passwordKey: str | None = Field(None, min_length=1, description="Key of the password (default: password).")


class SaslSpec(Model):
    mechanism: SaslMechanism = Field(description="SASL mechanism: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.")
    secretRef: SaslSecretRef


class SecretKeyRef(Model):
    name: str = Field(min_length=1, description="Secret in the KafkaCluster's namespace.")
    key: str | None = Field(None, min_length=1, description="Key in the Secret (default: ca.crt).")


class CertSecretRef(Model):
    name: str = Field(min_length=1, description="Secret with the client certificate (tls.crt) and key (tls.key).")
    certKey: str | None = Field(None, min_length=1, description="Key of the certificate (default: tls.crt).")
    keyKey: str | None = Field(None, min_length=1, description="Key of the private key (default: tls.key).")


class TlsSpec(Model):
    caSecretRef: SecretKeyRef | None = Field(
        None, description="CA that signed the brokers' certificates (default: the system's trust store).")
    certSecretRef: CertSecretRef | None = Field(None, description="Client certificate for mutual TLS.")
    verifyHostname: bool | None = Field(None, description="Check the broker's hostname against its certificate "
                                                          "(default: true).")


class SecuritySpec(Model):
    protocol: SecurityProtocol = Field(description="PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL.")
    sasl: SaslSpec | None = None
    tls: TlsSpec | None = None


SECURITY_RULES = validations(
    rule("!(self.protocol in ['SASL_PLAINTEXT', 'SASL_SSL']) || has(self.sasl)",
         "security.sasl is required when protocol is SASL_PLAINTEXT or SASL_SSL", "FieldValueRequired"),
    rule("self.protocol in ['SASL_PLAINTEXT', 'SASL_SSL'] || !has(self.sasl)",
         "security.sasl is only used with protocol SASL_PLAINTEXT or SASL_SSL: remove it or change the protocol"),
    rule("self.protocol in ['SSL', 'SASL_SSL'] || !has(self.tls)",
         "security.tls is only used with protocol SSL or SASL_SSL: remove it or change the protocol"),
)


class TopicDefaults(Model):
    partitions: Annotated[int, Field(ge=1, le=100000)] | None = Field(
        None, description="Partitions of a topic that does not set them (default: the brokers' num.partitions).")
    replicationFactor: Annotated[int, Field(ge=1, le=32767)] | None = Field(
        None, description="Replication factor of a topic that does not set it "
                          "(default: the brokers' default.replication.factor).")
    config: ConfigMap | None = Field(None, description="Topic configs applied under each topic's own config.")


class KafkaClusterSpec(Model):
    bootstrapServers: list[Annotated[str, Field(pattern=HOST_PORT_PATTERN, max_length=261)]] = Field(
        min_length=1, max_length=100, description="Brokers to bootstrap from, as host:port.")
    security: Annotated[SecuritySpec | None, Field(json_schema_extra=SECURITY_RULES)] = Field(
        None, description="How kto connects (default: PLAINTEXT).")
    topicDefaults: TopicDefaults | None = None
    deletionPolicy: DeletionPolicy | None = Field(
        None, description="What deleting a KafkaTopic does to the Kafka topic, unless the topic says: Delete "
                          "(default) or Retain.")
    allowedNamespaces: list[Annotated[str, Field(min_length=1, max_length=63)]] | None = Field(
        None, max_length=1000,
        description='Namespaces besides this one whose KafkaTopics may use this cluster; ["*"] allows all.')
    resyncIntervalSeconds: Annotated[int, Field(ge=10, le=86400)] | None = Field(
        None, description="How often kto compares every topic with Kafka and corrects drift (default: 60).")
    replicationThrottleBytesPerSecond: Annotated[int, Field(ge=1024)] | None = Field(
        None, description="While replicas move (a replication-factor change), limit replication traffic to this "
                          "many bytes per second per broker; removed when the move ends (default: no limit).")

    @property
    def protocol(self) -> str:
        return self.security.protocol if self.security else "PLAINTEXT"

    @property
    def resync_interval(self) -> int:
        return self.resyncIntervalSeconds or 60

    @property
    def deletion_policy(self) -> str:
        return self.deletionPolicy or "Delete"

    def allows_namespace(self, own_namespace: str, namespace: str) -> bool:
        allowed = self.allowedNamespaces or []
        return namespace == own_namespace or "*" in allowed or namespace in allowed


# ----------------------------------------------------------------------------------------------
# KafkaTopic
# ----------------------------------------------------------------------------------------------


class ClusterRef(Model):
    name: str = Field(min_length=1, max_length=253, description="Name of the KafkaCluster.")
    namespace: str | None = Field(
        None, min_length=1, max_length=63,
        description="Namespace of the KafkaCluster (default: the topic's own); the cluster must allow it.")


TOPIC_NAME_RULES = validations(rule("self != '.' && self != '..'", "topicName cannot be '.' or '..'"))

TOPIC_SPEC_RULES = validations(
    rule("self.clusterRef == oldSelf.clusterRef",
         "spec.clusterRef is immutable: create a new KafkaTopic for another cluster"),
    rule("has(self.topicName) == has(oldSelf.topicName)"
         " && (!has(self.topicName) || self.topicName == oldSelf.topicName)",
         "spec.topicName is immutable: create a new KafkaTopic to use another Kafka topic name"),
    rule("!has(oldSelf.partitions) || (has(self.partitions) && self.partitions >= oldSelf.partitions)",
         "spec.partitions cannot decrease: Kafka cannot remove partitions from a topic"),
)


class KafkaTopicSpec(Model):
    model_config = ConfigDict(frozen=True, extra="forbid", json_schema_extra=TOPIC_SPEC_RULES)

    clusterRef: ClusterRef
    topicName: Annotated[
        str | None,
        Field(json_schema_extra=TOPIC_NAME_RULES),
    ] = Field(None, min_length=1, max_length=249, pattern=TOPIC_NAME_PATTERN,
              description="Kafka topic name when it differs from metadata.name (letters, digits, '.', '_', '-'; "
                          "at most 249 characters); immutable.")
    partitions: Annotated[int, Field(ge=1, le=100000)] | None = Field(
        None, description="Number of partitions; may grow, never shrink (default: the cluster's topicDefaults).")
    replicationFactor: Annotated[int, Field(ge=1, le=32767)] | None = Field(
        None, description="Replicas per partition (default: the cluster's topicDefaults).")
    config: ConfigMap | None = Field(
        None, description="Topic configs (retention.ms, cleanup.policy, ...); integers or strings. "
                          "Dynamic overrides not listed here are removed.")
    deletionPolicy: DeletionPolicy | None = Field(
        None, description="Delete the Kafka topic with this resource (Delete) or keep it (Retain); "
                          "default: the cluster's deletionPolicy.")

    @field_validator("config")
    @classmethod
    def _config_keys(cls, value: ConfigMap | None) -> ConfigMap | None:
        for key in value or {}:
            if not key or key.strip() != key:
                raise ValueError(f"config key {key!r} is not a Kafka config name")
        return value


# ----------------------------------------------------------------------------------------------
# KafkaUser
# ----------------------------------------------------------------------------------------------

ScramType = Literal["scram-sha-256", "scram-sha-512"]
AclResourceType = Literal["topic", "group", "cluster", "transactionalId"]
AclPatternType = Literal["literal", "prefixed"]
AclOperationName = Literal["All", "Read", "Write", "Create", "Delete", "Alter", "Describe", "ClusterAction",
                           "DescribeConfigs", "AlterConfigs", "IdempotentWrite"]
USER_NAME_PATTERN = r"^[a-zA-Z0-9._@-]+$"
CLUSTER_RESOURCE_NAME = "kafka-cluster"


class PasswordSecretRef(Model):
    name: str = Field(min_length=1, max_length=253, description="Secret in the KafkaUser's namespace.")
    key: str | None = Field(None, min_length=1, max_length=253, description="Key of the password (default: password).")


class UserAuthentication(Model):
    type: ScramType = Field(description="SASL/SCRAM mechanism of the credential: scram-sha-256 or scram-sha-512.")
    passwordSecretRef: PasswordSecretRef | None = Field(
        None, description="The password to set; changing it in the Secret rotates it on the brokers "
                          "(default: kto generates one and keeps it in the Secret it writes).")

    @property
    def mechanism(self) -> str:
        return self.type.upper()


ACL_RESOURCE_RULES = validations(
    rule("self.type == 'cluster' || has(self.name)", "resource.name is required unless type is cluster",
         "FieldValueRequired"),
    rule("self.type != 'cluster' || !has(self.name) || self.name == 'kafka-cluster'",
         "the cluster resource is named kafka-cluster (or leave resource.name out)"),
)


class AclResource(Model):
    model_config = ConfigDict(frozen=True, extra="forbid", json_schema_extra=ACL_RESOURCE_RULES)

    type: AclResourceType = Field(description="topic, group, cluster or transactionalId.")
    name: str | None = Field(None, min_length=1, max_length=255,
                             description="Resource name, or prefix with patternType prefixed; '*' is every resource "
                                         "(cluster: kafka-cluster, the default).")
    patternType: AclPatternType | None = Field(None, description="literal (default) or prefixed.")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        if value is not None and value.strip() != value:
            raise ValueError("resource name has leading or trailing spaces")
        return value


class AclRule(Model):
    resource: AclResource
    operations: list[AclOperationName] = Field(min_length=1, max_length=11, description="Operations granted "
                                               "(or denied): Read, Write, Describe, Create, Delete, Alter, ...")
    host: str | None = Field(None, min_length=1, max_length=255, description='Client host ("*", the default: any).')
    permission: Literal["allow", "deny"] | None = Field(None, description="allow (default) or deny.")


class UserAuthorization(Model):
    acls: list[AclRule] = Field(default_factory=list, max_length=1000,
                                description="The user's ACLs; kto removes the user's ACLs that are not listed.")


USER_SPEC_RULES = validations(
    rule("self.clusterRef == oldSelf.clusterRef",
         "spec.clusterRef is immutable: create a new KafkaUser for another cluster"),
    rule("has(self.userName) == has(oldSelf.userName) && (!has(self.userName) || self.userName == oldSelf.userName)",
         "spec.userName is immutable: create a new KafkaUser for another Kafka user"),
)


class KafkaUserSpec(Model):
    model_config = ConfigDict(frozen=True, extra="forbid", json_schema_extra=USER_SPEC_RULES)

    clusterRef: ClusterRef
    userName: str | None = Field(None, min_length=1, max_length=253, pattern=USER_NAME_PATTERN,
                                 description="Kafka user name (principal User:<userName>) when it differs from "
                                             "metadata.name; immutable.")
    authentication: UserAuthentication
    authorization: UserAuthorization | None = None
    deletionPolicy: DeletionPolicy | None = Field(
        None, description="Delete the user's credentials and ACLs with this resource (Delete, the default) or keep "
                          "them (Retain).")

    @property
    def deletion_policy(self) -> str:
        return self.deletionPolicy or "Delete"


# ----------------------------------------------------------------------------------------------
# Status (written by kto only)
# ----------------------------------------------------------------------------------------------


class Condition(BaseModel):
    """metav1.Condition."""

    model_config = ConfigDict(extra="forbid")
    type: str = Field(max_length=316)
    status: Literal["True", "False", "Unknown"]
    observedGeneration: int | None = Field(None, ge=0)
    lastTransitionTime: str = Field(json_schema_extra={"format": "date-time"})
    reason: str = Field(max_length=1024)
    message: str = Field(max_length=32768)


class DriftCorrection(BaseModel):
    model_config = ConfigDict(extra="forbid")
    time: str = Field(json_schema_extra={"format": "date-time"})
    message: str


class ReplicasChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    targetReplicas: int
    state: Literal["Pending", "InProgress"]
    message: str | None = None


class KafkaTopicStatus(BaseModel):
    model_config = ConfigDict(extra="forbid")
    observedGeneration: int | None = None
    conditions: list[Condition] | None = None
    topicName: str | None = None
    topicId: str | None = None
    partitions: int | None = None
    replicationFactor: int | None = None
    lastDriftCorrection: DriftCorrection | None = None
    replicasChange: ReplicasChange | None = None


class KafkaClusterStatus(BaseModel):
    model_config = ConfigDict(extra="forbid")
    observedGeneration: int | None = None
    conditions: list[Condition] | None = None
    clusterId: str | None = None
    controllerId: int | None = None
    brokers: int | None = None
    topics: int | None = None


class KafkaUserStatus(BaseModel):
    model_config = ConfigDict(extra="forbid")
    observedGeneration: int | None = None
    conditions: list[Condition] | None = None
    userName: str | None = None
    secretName: str | None = None
    acls: int | None = None
