"""What Kafka or Kubernetes can never serve is refused by the real kube-apiserver, from the CRDs' rules, with a
message that names the field and says what to do; a value just inside each limit is accepted.

Accepted objects are created with dryRun=All: the apiserver validates them exactly as a real create would, and
no kto (if one runs in the session) reconciles a 9000-partition topic into the test Kafka.
"""

from __future__ import annotations

import json
import subprocess

import pytest
from kto.api.models import MAX_ACL_BINDINGS, MAX_PARTITIONS, MAX_RESOURCE_NAME_LENGTH
from kubernetes.client.rest import ApiException

from tests.support.resources import GROUP, VERSION, kafka_topic

OPERATIONS = ["Read", "Write", "Create", "Delete", "Alter", "Describe", "ClusterAction", "DescribeConfigs",
              "AlterConfigs", "IdempotentWrite", "All"]


@pytest.fixture(scope="module")
def crds(env):
    """kto's CRDs, installed and Established (no kto process: admission is the apiserver's alone)."""
    from tests.support.operator import install_crds

    install_crds(env)
    subprocess.run([*env.kubectl(), "wait", "--for=condition=Established", f"crd/kafkausers.{GROUP}",
                    "--timeout=60s"], check=True, capture_output=True)


@pytest.fixture
def api(crds, ns):
    return ns


def topic(name: str = "t", **spec) -> dict:
    return kafka_topic(name, "kafka", **spec)


def cluster(name: str = "c", **spec) -> dict:
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "KafkaCluster", "metadata": {"name": name},
            "spec": {"bootstrapServers": ["kafka-0.kafka:9092"], **spec}}


def user(name: str = "u", **spec) -> dict:
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "KafkaUser", "metadata": {"name": name},
            "spec": {"clusterRef": {"name": "kafka"}, "authentication": {"type": "scram-sha-512"}, **spec}}


def acls(rules: int, operations: int) -> dict:
    return {"acls": [{"resource": {"type": "topic", "name": f"t{i}"}, "operations": OPERATIONS[:operations]}
                     for i in range(rules)]}


def plural(body: dict) -> str:
    return {"KafkaTopic": "kafkatopics", "KafkaCluster": "kafkaclusters", "KafkaUser": "kafkausers"}[body["kind"]]


def refusal(res, body: dict) -> dict[str, str]:
    """The apiserver's refusal of ``body``: the message of each refused field, by field path."""
    with pytest.raises(ApiException) as err:
        res.create(plural(body), body)
    assert err.value.status == 422, err.value.body
    causes = json.loads(err.value.body)["details"]["causes"]
    return {c.get("field", ""): c["message"] for c in causes}


def accept(res, body: dict) -> dict:
    return res.objects.create_namespaced_custom_object(GROUP, VERSION, res.ns, plural(body), body, dry_run="All")


LONG = "a" * (MAX_RESOURCE_NAME_LENGTH + 1)
INSIDE = "a" * MAX_RESOURCE_NAME_LENGTH

REFUSED = [
    ("internal-topic", topic(topicName="__consumer_offsets"), "spec.topicName", "Kafka reserves those names"),
    ("internal-prefix", topic(topicName="__anything"), "spec.topicName", "internal topics"),
    ("partitions", topic(partitions=MAX_PARTITIONS + 1), "spec.partitions", "less than or equal to 9000"),
    ("default-partitions", cluster(topicDefaults={"partitions": MAX_PARTITIONS + 1}), "spec.topicDefaults.partitions",
     "less than or equal to 9000"),
    ("acl-bindings", user(authorization=acls(91, 11)), "spec.authorization.acls", "more than 1000 ACL bindings"),
    ("acl-bindings-wide", user(authorization=acls(501, 2)), "spec.authorization.acls", "split the ACLs"),
    ("topic-name", topic(LONG), "metadata.name", "at most 240 characters"),
    ("cluster-name", cluster(LONG), "metadata.name", "at most 240 characters"),
    ("user-name", user(LONG), "metadata.name", "at most 240 characters"),
    ("empty-config-key", topic(config={"": 1}), "spec.config", "config keys must be Kafka config names"),
    ("padded-config-key", topic(config={" retention.ms": 1}), "spec.config", "remove the empty key or the spaces"),
    ("default-config-key", cluster(topicDefaults={"config": {"cleanup.policy ": "compact"}}),
     "spec.topicDefaults.config", "config keys must be Kafka config names"),
    ("topic-cluster-namespace", topic(clusterRef={"name": "kafka", "namespace": "Team_A"}),
     "spec.clusterRef.namespace", "must be a namespace name"),
    ("user-cluster-namespace", user(clusterRef={"name": "kafka", "namespace": "team-"}),
     "spec.clusterRef.namespace", "must be a namespace name"),
    ("port-too-big", cluster(bootstrapServers=["kafka:99999"]), "spec.bootstrapServers[0]", "between 1 and 65535"),
    ("port-zero", cluster(bootstrapServers=["kafka:9092", "kafka:0"]), "spec.bootstrapServers[1]",
     "between 1 and 65535"),
    ("port-ipv6", cluster(bootstrapServers=["[::1]:65536"]), "spec.bootstrapServers[0]", "between 1 and 65535"),
    ("principal-prefix", cluster(protectedPrincipals=["User:admin"]), "spec.protectedPrincipals[0]",
     "without the User: prefix"),
    ("principal-star", cluster(protectedPrincipals=["svc-*-x"]), "spec.protectedPrincipals[0]", "'*' may only end"),
    ("protected-topic-star", cluster(protectedTopics=["a*b"]), "spec.protectedTopics[0]", "should match"),
    ("user-namespaces", cluster(users={"allowedNamespaces": ["Team-A"]}), "spec.users.allowedNamespaces[0]",
     "must be a namespace name"),
    ("grant-namespace", cluster(users={"grants": [{"namespace": "team_a"}]}), "spec.users.grants[0].namespace",
     "must be a namespace name"),
    ("grant-empty-prefix", cluster(users={"grants": [{"namespace": "a", "topicPrefixes": [""]}]}),
     "spec.users.grants[0].topicPrefixes[0]", "at least 1 chars long"),
]


@pytest.mark.parametrize(("body", "field", "says"), [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED])
def test_refused_at_admission_naming_the_field(api, body: dict, field: str, says: str) -> None:
    causes = refusal(api, body)
    assert field in causes, causes
    assert says in causes[field], causes[field]


GRANT = {"namespace": "team-a", "topicPrefixes": ["team-a."], "groupPrefixes": ["team-a-"],
         "transactionalIdPrefixes": ["team-a-"], "clusterOperations": ["IdempotentWrite"], "allowWildcards": False}

ACCEPTED = [
    ("one-underscore", topic(topicName="_schemas")),
    ("max-partitions", topic(partitions=MAX_PARTITIONS)),
    ("max-default-partitions", cluster(topicDefaults={"partitions": MAX_PARTITIONS})),
    ("max-bindings", user(authorization=acls(MAX_ACL_BINDINGS // 10, 10))),
    ("max-rules", user(authorization=acls(MAX_ACL_BINDINGS, 1))),
    ("topic-name", topic(INSIDE)),
    ("cluster-name", cluster(INSIDE)),
    ("user-name", user(INSIDE)),
    ("config-keys", topic(config={"retention.ms": 1, "cleanup.policy": "compact"})),
    ("cluster-namespace", topic(clusterRef={"name": "kafka", "namespace": "a" * 63})),
    ("ports", cluster(bootstrapServers=["a:1", "b:65535", "[::1]:9092", "c:09092"])),
    ("new-fields", cluster(
        protectedTopics=["audit.*", "billing-ledger"], protectedPrincipals=["admin", "svc-*"],
        users={"allowedNamespaces": ["team-a", "*"], "grants": [GRANT, {"namespace": "*"}]},
        security={"protocol": "SASL_PLAINTEXT", "sasl": {
            "mechanism": "PLAIN", "secretRef": {"name": "s"}, "allowCleartextPassword": True}})),
]


@pytest.mark.parametrize("body", [c[1] for c in ACCEPTED], ids=[c[0] for c in ACCEPTED])
def test_just_inside_the_limits_is_accepted(api, body: dict) -> None:
    stored = accept(api, body)
    # Nothing was pruned: every field the test sent is in the schema.
    assert stored["spec"] == body["spec"]


def test_status_adopted_is_kept(api) -> None:
    for body in (topic("adopted"), user("adopted")):
        api.create(plural(body), body)
        stored = api.objects.patch_namespaced_custom_object_status(
            GROUP, VERSION, api.ns, plural(body), "adopted", {"status": {"adopted": True}},
            _content_type="application/merge-patch+json")
        assert stored["status"]["adopted"] is True
        api.delete(plural(body), "adopted")
