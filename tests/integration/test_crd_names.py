"""kto beside Strimzi: both sets of CRDs installed on one apiserver, each answering to its own names.

The Strimzi CRDs here are a small fixture of this test: Strimzi's group, kinds, plurals, short names and
category (packaging/install/cluster-operator/040-Crd-kafka.yaml and its siblings: Kafka ``k``, KafkaTopic
``kt``, KafkaUser ``ku``, all in the category ``strimzi``), with a schema that accepts anything. They are
cluster-scoped and the apiserver is the session's: the test deletes them when it ends, and kto's tests name
kto's resources by group (the Kubernetes client) or by kto's short names, never by a bare plural that
Strimzi's group has too.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from kto.api import crdgen

from tests.support.operator import install_crds
from tests.support.resources import GROUP, VERSION, kafka_topic
from tests.support.users import kafka_user

STRIMZI_GROUP = "kafka.strimzi.io"
STRIMZI_VERSION = "v1beta2"
# kind, plural, short names: Strimzi's own.
STRIMZI_KINDS = [("Kafka", "kafkas", ["k"]), ("KafkaTopic", "kafkatopics", ["kt"]), ("KafkaUser", "kafkausers", ["ku"])]
KTO_SHORT_NAMES = {"ktc": "KafkaCluster", "ktt": "KafkaTopic", "ktu": "KafkaUser"}


def strimzi_crd(kind: str, plural: str, short: list[str]) -> dict:
    return {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{STRIMZI_GROUP}", "labels": {"app": "strimzi", "kto.dev/test": "crd-names"}},
        "spec": {
            "group": STRIMZI_GROUP, "scope": "Namespaced",
            "names": {"kind": kind, "listKind": f"{kind}List", "singular": kind.lower(), "plural": plural,
                      "shortNames": short, "categories": ["strimzi"]},
            "versions": [{"name": STRIMZI_VERSION, "served": True, "storage": True, "subresources": {"status": {}},
                          "schema": {"openAPIV3Schema": {"type": "object",
                                                         "x-kubernetes-preserve-unknown-fields": True}}}],
        },
    }


class Kubectl:
    """kubectl with a discovery cache of its own: a cache another test filled before these CRDs existed would
    hide them (categories are expanded from the cached discovery)."""

    def __init__(self, env, cache: Path):
        self.argv = [*env.kubectl(), "--cache-dir", str(cache)]

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        out = subprocess.run([*self.argv, *args], capture_output=True, text=True, timeout=60)
        if check and out.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {out.stderr}")
        return out

    def names(self, what: str, namespace: str) -> set[str]:
        return set(self("get", what, "-n", namespace, "-o", "name").stdout.split())

    def apply(self, docs: list[dict], tmp: Path) -> None:
        path = tmp / f"apply-{len(list(tmp.iterdir()))}.json"
        path.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": docs}))
        self("apply", "-f", str(path))


@pytest.fixture
def strimzi_crds(env, tmp_path):
    kubectl = Kubectl(env, tmp_path / "cache")
    crds = [strimzi_crd(*k) for k in STRIMZI_KINDS]
    kubectl.apply(crds, tmp_path)
    try:
        for crd in crds:
            kubectl("wait", "--for=condition=Established", f"crd/{crd['metadata']['name']}", "--timeout=60s")
        yield kubectl
    finally:
        for crd in crds:
            kubectl("delete", "crd", crd["metadata"]["name"], "--ignore-not-found", "--wait=true", "--timeout=60s")


def test_category_and_short_names_leave_strimzis_alone(env, ns, strimzi_crds, tmp_path) -> None:
    kubectl = strimzi_crds
    install_crds(env)
    for kind, _plural, _short in STRIMZI_KINDS:
        ns.objects.create_namespaced_custom_object(STRIMZI_GROUP, STRIMZI_VERSION, ns.ns, _plural, {
            "apiVersion": f"{STRIMZI_GROUP}/{STRIMZI_VERSION}", "kind": kind,
            "metadata": {"name": f"strimzi-{kind.lower()}"}, "spec": {}})
    # A kto running in the session never reaches kafka.invalid: it adds no finalizer, and the paused topic is
    # released at once when it is deleted.
    paused = {"kto.dev/paused": "true"}
    ns.cluster({"apiVersion": f"{GROUP}/{VERSION}", "kind": "KafkaCluster", "metadata": {"name": "kto-cluster"},
                "spec": {"bootstrapServers": ["kafka.invalid:9092"]}})
    ns.topic(kafka_topic("kto-topic", "kto-cluster", annotations=paused, partitions=1))
    ns.create("kafkausers", kafka_user("kto-user", "kto-cluster"))

    strimzi = {f"{k.lower()}.{STRIMZI_GROUP}/strimzi-{k.lower()}" for k, _, _ in STRIMZI_KINDS}
    kto = {f"{k.lower()}.{GROUP}/kto-{k.removeprefix('Kafka').lower()}" for k in KTO_SHORT_NAMES.values()}
    # `kubectl get kafka` is Strimzi's Kafka. (kubectl 1.34 prefers a resource to a category of the same name, so
    # this held with kto's old category `kafka` too; `kubectl get kto` below is what the old name failed.)
    assert kubectl.names("kafka", ns.ns) == {f"kafka.{STRIMZI_GROUP}/strimzi-kafka"}
    assert kubectl.names("kto", ns.ns) == kto
    assert kubectl.names("strimzi", ns.ns) == strimzi
    for short, kind in KTO_SHORT_NAMES.items():
        assert kubectl.names(short, ns.ns) == {n for n in kto if n.startswith(f"{kind.lower()}.")}, short
    for kind, _plural, (short,) in STRIMZI_KINDS:
        assert kubectl.names(short, ns.ns) == {f"{kind.lower()}.{STRIMZI_GROUP}/strimzi-{kind.lower()}"}, short
    # By group, each plural is unambiguous.
    assert kubectl.names(f"kafkatopics.{GROUP}", ns.ns) == {f"kafkatopic.{GROUP}/kto-topic"}
    assert kubectl.names(f"kafkatopics.{STRIMZI_GROUP}", ns.ns) == {f"kafkatopic.{STRIMZI_GROUP}/strimzi-kafkatopic"}

    api_resources = kubectl("api-resources", "--categories", "kto", "-o", "name").stdout.split()
    # Every kto kind is in the category: the namespaced three and the cluster-scoped, platform-owned KafkaPolicy.
    assert sorted(api_resources) == sorted(f"{p}.{GROUP}" for p in ("kafkaclusters", "kafkapolicies", "kafkatopics",
                                                                    "kafkausers"))
    for doc in crdgen.FILES.values():
        assert not set(doc()["spec"]["names"]["shortNames"]) & {"k", "kt", "ku", "kc", "kctr", "kb", "kmm", "kmm2",
                                                                 "kr", "knp", "sps"}

    for plural, name in (("kafkausers", "kto-user"), ("kafkatopics", "kto-topic"), ("kafkaclusters", "kto-cluster")):
        ns.delete(plural, name)
        ns.wait_gone(plural, name)
