"""The reasons kto writes into ``Ready`` conditions and Events, and how each is handled.

A permanent reason waits for the spec (or the cluster's broker count) to change; a transient one is
retried with backoff. The constants are part of kto's API: the Argo CD health checks and alerting rely
on them.
"""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    # KafkaTopic
    RECONCILED = "Reconciled"  # Kafka matches the spec
    UNMANAGED = "Unmanaged"  # kto.dev/managed=false: observed, never written
    PAUSED = "Paused"  # kto.dev/paused=true: nothing applied until removed
    INVALID_SPEC = "InvalidSpec"  # the resource cannot be understood (also: a bad KafkaCluster spec)
    INVALID_CONFIG = "InvalidConfig"  # Kafka rejected a topic config key or value
    NOT_SUPPORTED = "NotSupported"  # asks for what Kafka cannot do (e.g. fewer partitions)
    RESOURCE_CONFLICT = "ResourceConflict"  # an older KafkaTopic owns the same Kafka topic
    CLUSTER_NOT_FOUND = "ClusterNotFound"  # the referenced KafkaCluster does not exist
    CLUSTER_NOT_READY = "ClusterNotReady"  # the referenced KafkaCluster cannot be reached now
    NAMESPACE_NOT_ALLOWED = "NamespaceNotAllowed"  # the KafkaCluster does not allow this namespace
    INSUFFICIENT_BROKERS = "InsufficientBrokers"  # replication factor above the live broker count
    BELOW_MIN_INSYNC_REPLICAS = "BelowMinInSyncReplicas"  # replication factor below min.insync.replicas
    REPLICAS_CHANGING = "ReplicasChanging"  # replicas are moving to a new replication factor
    KAFKA_ERROR = "KafkaError"  # any other error from Kafka
    ADOPTING = "Adopting"  # taking over what exists in Kafka: recorded, applied in the next pass
    TOPIC_BEING_DELETED = "TopicBeingDeleted"  # ZooKeeper still deletes an earlier topic of this name
    ADOPTION_REQUIRED = "AdoptionRequired"  # exists in Kafka, differs from the spec, and kto did not make it
    PROTECTED = "Protected"  # an internal or protected topic, kto's own or a protected principal
    NOT_PERMITTED = "NotPermitted"  # a KafkaUser asks for ACLs its namespace may not grant
    # KafkaCluster
    CONNECTED = "Connected"
    UNREACHABLE = "Unreachable"
    AUTHENTICATION_FAILED = "AuthenticationFailed"
    AUTHORIZATION_FAILED = "AuthorizationFailed"
    SECRET_NOT_FOUND = "SecretNotFound"
    SECRET_NOT_MARKED = "SecretNotMarked"  # a referenced Secret lacks the label kto.dev/credentials=true
    INSECURE_CONNECTION = "InsecureConnection"  # PLAIN over SASL_PLAINTEXT without allowCleartextPassword
    INVALID_CLIENT_CONFIG = "InvalidClientConfig"  # no Kafka client can be built (e.g. a CA that is not PEM)
    CLUSTER_ID_CHANGED = "ClusterIdChanged"  # the brokers report another cluster id than the one bound
    UNSUPPORTED_KAFKA_VERSION = "UnsupportedKafkaVersion"  # brokers older than kto supports, or missing an API
    BROKER_CONFIG_REFUSED = "BrokerConfigRefused"  # spec.brokerConfig asks for what kto may not or cannot set
    DEFAULT_QUOTAS_REFUSED = "DefaultQuotasRefused"  # spec.defaultUserQuotas: set by hand, or a value refused
    REFRESH_FAILED = "RefreshFailed"  # the refresh raised (e.g. the apiserver refused to read a Secret): retried
    # KafkaUser
    AUTHORIZER_NOT_ENABLED = "AuthorizerNotEnabled"  # the brokers have no authorizer: ACLs cannot be set


class EventReason(StrEnum):
    """The reasons of Events that are never a condition's (an Event may also carry a ``Reason``). Kept apart
    from ``Reason``: every ``Reason`` is a condition reason the Argo CD health checks map."""

    KIND_DELETED = "KindDeleted"  # a kind's CRD is being deleted: finalizer released, Kafka untouched
    DRIFT_CORRECTED = "DriftCorrected"  # an out-of-band change in Kafka set back to the spec
    CLUSTER_DEFAULTS_APPLIED = "ClusterDefaultsApplied"  # a change of the KafkaCluster's topicDefaults applied
    TOPIC_RECREATED = "TopicRecreated"  # a topic kto made was deleted behind its back and made again
    TOPIC_ADOPTED = "TopicAdopted"  # an existing topic matching the spec: kto manages it now
    TOPIC_TAKEN_OVER = "TopicTakenOver"  # an existing topic that differs: the resource said overwrite
    TOPIC_NOT_DELETED = "TopicNotDeleted"  # the Kafka topic is not the one kto made for the resource
    TOPIC_RETAINED = "TopicRetained"  # deletionPolicy Retain (or adopted): the Kafka topic kept
    USER_ADOPTED = "UserAdopted"  # an existing Kafka user: kto manages it now
    USER_DELETED = "UserDeleted"  # credentials, ACLs and quotas kto set deleted with the resource
    USER_RETAINED = "UserRetained"  # deletionPolicy Retain (or adopted): the Kafka user kept
    CREDENTIALS_ROTATED = "CredentialsRotated"  # the user's password changed on the brokers
    ACCESS_REVOKED = "AccessRevoked"  # the namespace is no longer allowed: what kto gave the user taken back
    OUT_OF_POLICY = "OutOfPolicy"  # a topic breaks a KafkaPolicy rule that refuses (its InPolicy condition says which)
    POLICY_CLAMPED = "PolicyClamped"  # a KafkaPolicy clamped what the topic asks for
    ACLS_REVOKED = "AclsRevoked"  # a narrowed grant: the ACLs it no longer permits removed


# Waiting for a change of spec (or of the cluster) fixes these; retrying does not.
PERMANENT = frozenset({
    Reason.INVALID_SPEC,
    Reason.INVALID_CONFIG,
    Reason.NOT_SUPPORTED,
    Reason.RESOURCE_CONFLICT,
    Reason.NAMESPACE_NOT_ALLOWED,
    Reason.INSUFFICIENT_BROKERS,
    Reason.BELOW_MIN_INSYNC_REPLICAS,
    Reason.ADOPTION_REQUIRED,
    Reason.PROTECTED,
    Reason.NOT_PERMITTED,
    Reason.BROKER_CONFIG_REFUSED,
    Reason.DEFAULT_QUOTAS_REFUSED,
})


def is_permanent(reason: Reason) -> bool:
    return reason in PERMANENT
