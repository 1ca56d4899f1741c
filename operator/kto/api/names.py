"""Every name kto puts on Kubernetes objects, in one place."""

from __future__ import annotations

GROUP = "kafka.kto.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"

CLUSTER_KIND = "KafkaCluster"
CLUSTER_PLURAL = "kafkaclusters"
TOPIC_KIND = "KafkaTopic"
TOPIC_PLURAL = "kafkatopics"
USER_KIND = "KafkaUser"
USER_PLURAL = "kafkausers"
POLICY_KIND = "KafkaPolicy"
POLICY_PLURAL = "kafkapolicies"

PREFIX = "kto.dev"
FINALIZER = f"{PREFIX}/topic-protection"
USER_FINALIZER = f"{PREFIX}/user-protection"
# On the Secret kto writes for a KafkaUser: a hash of the credential applied on the brokers (never the password).
ANNOTATION_CREDENTIAL_HASH = f"{PREFIX}/credential-hash"
ANNOTATION_MANAGED = f"{PREFIX}/managed"
# On a KafkaTopic or KafkaUser: "overwrite" takes over what exists in Kafka even where it differs from the spec.
ANNOTATION_ADOPT = f"{PREFIX}/adopt"
ADOPT_OVERWRITE = "overwrite"
# On a KafkaCluster: the Kafka cluster id it is bound to, when it differs from the one in its status.
ANNOTATION_CLUSTER_ID = f"{PREFIX}/cluster-id"
# On a Secret: kto may read it (a KafkaCluster's credentials or CA, a KafkaUser's password).
LABEL_CREDENTIALS = f"{PREFIX}/credentials"
ANNOTATION_PAUSED = f"{PREFIX}/paused"

COMPONENT = "kto"
# The Lease kto elects its leader with, unless told another (kto run --leader-election-name).
LEASE_NAME = "kto-leader"
