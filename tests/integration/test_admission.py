"""What Kafka or Kubernetes can never serve is refused by the real kube-apiserver, from the CRDs' rules, with a
message that names the field and says what to do; a value just inside each limit is accepted.

Accepted objects are created with dryRun=All: the apiserver validates them exactly as a real create would, and
no kto (if one runs in the session) reconciles a 9000-partition topic into the test Kafka.
"""

from __future__ import annotations

import json
import subprocess

import pytest
from kto.api.models import (
    MAX_ACL_BINDINGS,
    MAX_BYTE_RATE,
    MAX_CONTROLLER_MUTATION_RATE,
    MAX_PARTITIONS,
    MAX_REQUEST_PERCENTAGE,
    MAX_RESOURCE_NAME_LENGTH,
)
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


def acl(type_: str, name: str) -> dict:
    return {"acls": [{"resource": {"type": type_, "name": name}, "operations": ["Read"]}]}


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
    ("padded-config-key", topic(config={" retention.ms": 1}), "spec.config", "the spaces around the key"),
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
    # Quota values: finite, and at most the documented maximum (kto.models.MAX_*).
    ("quota-1e12", user(quotas={"producerByteRate": 10**12}), "spec.quotas.producerByteRate",
     f"less than or equal to {MAX_BYTE_RATE}"),
    ("quota-1e300", user(quotas={"consumerByteRate": 1e300}), "spec.quotas.consumerByteRate",
     "less than or equal to"),
    ("quota-percentage-1e300", user(quotas={"requestPercentage": 1e300}), "spec.quotas.requestPercentage",
     "less than or equal to"),
    ("quota-percentage-zero", user(quotas={"requestPercentage": 0}), "spec.quotas.requestPercentage",
     "greater than 0"),
    ("quota-mutations", user(quotas={"controllerMutationRate": MAX_CONTROLLER_MUTATION_RATE * 2}),
     "spec.quotas.controllerMutationRate", "less than or equal to"),
    ("default-quota-1e12", cluster(defaultUserQuotas={"producerByteRate": 10**12}),
     "spec.defaultUserQuotas.producerByteRate", f"less than or equal to {MAX_BYTE_RATE}"),
    ("default-quota-1e300", cluster(defaultUserQuotas={"requestPercentage": 1e300}),
     "spec.defaultUserQuotas.requestPercentage", "less than or equal to"),
    ("control-config-key", topic(config={"retention.ms\u001f": 1}), "spec.config", "the control characters in it"),
    ("nbsp-bootstrap-server", cluster(bootstrapServers=["kafka\u00a0:9092"]), "spec.bootstrapServers[0]",
     "should match"),
    # ACL resource names: no whitespace around, no control characters; a topic's is a topic name.
    ("acl-trailing-space", user(authorization=acl("topic", "orders ")), "spec.authorization.acls[0].resource.name",
     "cannot start or end with whitespace"),
    ("acl-leading-nbsp", user(authorization=acl("group", "\u00a0team-a")),
     "spec.authorization.acls[0].resource.name", "cannot start or end with whitespace"),
    ("acl-control", user(authorization=acl("group", "team\u0007a")), "spec.authorization.acls[0].resource.name",
     "should match"),
    ("acl-topic-chars", user(authorization=acl("topic", "orders!")), "spec.authorization.acls[0].resource",
     "Kafka topic name or prefix"),
    ("acl-topic-length", user(authorization=acl("topic", "a" * 250)), "spec.authorization.acls[0].resource",
     "Kafka topic name or prefix"),
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
    ("max-quotas", user(quotas={"producerByteRate": MAX_BYTE_RATE, "consumerByteRate": 1,
                                "requestPercentage": MAX_REQUEST_PERCENTAGE, "controllerMutationRate": 0.5})),
    ("max-default-quotas", cluster(defaultUserQuotas={"producerByteRate": MAX_BYTE_RATE,
                                                      "controllerMutationRate": MAX_CONTROLLER_MUTATION_RATE})),
    ("acl-names", user(authorization={"acls": [
        {"resource": {"type": "topic", "name": "a" * 249}, "operations": ["Read"]},
        {"resource": {"type": "topic", "name": "*"}, "operations": ["Read"]},
        {"resource": {"type": "group", "name": "team a consumers"}, "operations": ["Read"]},
        {"resource": {"type": "transactionalId", "name": "tx:1/é"}, "operations": ["Write"]}]})),
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


def _loosened_user_crd() -> dict:
    """kafkausers' CRD without the rules this release tightened: no maximum on quotas, no pattern or rules on an
    ACL resource's name beyond the ones it always had."""
    import yaml
    from kto.api import crdgen

    doc = crdgen.user_crd()
    spec = doc["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
    for quota in spec["quotas"]["properties"].values():
        quota.pop("maximum", None)
    resource = spec["authorization"]["properties"]["acls"]["items"]["properties"]["resource"]
    resource["properties"]["name"].pop("pattern")
    resource["properties"]["name"].pop("x-kubernetes-validations")
    resource["x-kubernetes-validations"] = [r for r in resource["x-kubernetes-validations"]
                                            if "Kafka topic name" not in r["message"]]
    return yaml.safe_load(yaml.safe_dump(doc))


def test_an_object_admitted_before_the_rules_were_tightened_still_updates_and_deletes(env, api) -> None:
    """Upgrading kto's CRDs never strands an existing object: the apiserver ratchets an unchanged invalid value
    (a warning, not a refusal), so kto can still write its status and remove its finalizer."""
    import tempfile

    import yaml

    from tests.support.operator import install_crds
    from tests.support.wait import wait_until

    legacy = user("legacy", authorization={"acls": [{"resource": {"type": "topic", "name": "orders "},
                                                     "operations": ["Read"]}]},
                  quotas={"producerByteRate": 10**12})
    legacy["metadata"]["finalizers"] = ["kafka.kto.dev/test-hold"]

    def admitted() -> bool:
        try:
            accept(api, legacy)
        except ApiException:
            return False
        return True

    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as loose:
        yaml.safe_dump(_loosened_user_crd(), loose)
        loose.flush()
        subprocess.run([*env.kubectl(), "apply", "--server-side", "--force-conflicts", "-f", loose.name], check=True,
                       capture_output=True)
    try:
        wait_until(admitted, timeout=30, what="the loosened CRD to admit the legacy KafkaUser")
        api.create("kafkausers", legacy)
    finally:
        install_crds(env)
    wait_until(lambda: not admitted(), timeout=30, what="today's CRD to refuse the legacy spec")
    objects = api.objects
    objects.patch_namespaced_custom_object_status(GROUP, VERSION, api.ns, "kafkausers", "legacy",
                                                  {"status": {"observedGeneration": 1}},
                                                  _content_type="application/merge-patch+json")
    api.patch("kafkausers", "legacy", {"metadata": {"labels": {"touched": "yes"}}})
    # Changing the invalid value is refused; leaving it as it is, is not.
    with pytest.raises(ApiException) as err:
        api.patch("kafkausers", "legacy", {"spec": {"quotas": {"producerByteRate": 10**13}}})
    assert err.value.status == 422
    api.patch("kafkausers", "legacy", {"metadata": {"finalizers": None}})
    api.delete("kafkausers", "legacy")
    api.wait_gone("kafkausers", "legacy")
