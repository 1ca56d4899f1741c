"""The API models, and the CRDs generated from them."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from kto import crdgen
from kto.models import KafkaClusterSpec, KafkaTopicSpec
from pydantic import ValidationError

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("filename", sorted(crdgen.FILES))
def test_committed_crds_are_generated_from_the_models(filename: str) -> None:
    committed = (REPO / "crds" / filename).read_text()
    assert committed == crdgen.render(crdgen.FILES[filename]()), \
        "crds/ is stale: run `make crds` (python -m kto.crdgen crds/)"


def _schema(filename: str) -> dict:
    doc = yaml.safe_load((REPO / "crds" / filename).read_text())
    return doc["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]


def _fields(schema: dict, prefix: str = "") -> set[str]:
    out = set()
    for name, child in (schema.get("properties") or {}).items():
        out.add(prefix + name)
        out |= _fields(child, f"{prefix}{name}.")
    return out


def _model_fields(model, prefix: str = "") -> set[str]:
    out = set()
    for name, info in model.model_fields.items():
        out.add(prefix + name)
        for arg in getattr(info.annotation, "__args__", (info.annotation,)):
            if isinstance(arg, type) and hasattr(arg, "model_fields"):
                out |= _model_fields(arg, f"{prefix}{name}.")
    return out


@pytest.mark.parametrize(("filename", "model"), [
    ("kafka.kto.dev_kafkatopics.yaml", KafkaTopicSpec),
    ("kafka.kto.dev_kafkaclusters.yaml", KafkaClusterSpec),
])
def test_crd_fields_match_the_model(filename, model) -> None:
    assert _fields(_schema(filename)) == _model_fields(model)


def test_the_seed_examples_parse() -> None:
    examples = REPO / "manifests" / "examples" / "media-gateway" / "base"
    topics = [yaml.safe_load(p.read_text()) for p in sorted((examples / "topics").glob("*.yaml"))]
    assert len(topics) == 17
    for doc in topics:
        spec = KafkaTopicSpec.model_validate(doc["spec"])
        assert spec.partitions in (2, 3, 5)
    docs = list(yaml.safe_load_all((examples / "kafkacluster.yaml").read_text()))
    cluster = KafkaClusterSpec.model_validate(next(d for d in docs if d["kind"] == "KafkaCluster")["spec"])
    assert cluster.protocol == "SASL_PLAINTEXT"


@pytest.mark.parametrize("spec", [
    {"clusterRef": {"name": "c"}, "partitions": 0},
    {"clusterRef": {"name": "c"}, "topicName": "has space"},
    {"clusterRef": {"name": "c"}, "topicName": "x" * 250},
    {"clusterRef": {"name": "c"}, "deletionPolicy": "Orphan"},
    {"clusterRef": {"name": "c"}, "unknown": 1},
    {"partitions": 1},
])
def test_invalid_topic_specs(spec) -> None:
    with pytest.raises(ValidationError):
        KafkaTopicSpec.model_validate(spec)


def test_cluster_defaults_and_namespace_allowance() -> None:
    spec = KafkaClusterSpec.model_validate({"bootstrapServers": ["a:1"]})
    assert (spec.protocol, spec.resync_interval, spec.deletion_policy) == ("PLAINTEXT", 60, "Delete")
    assert spec.allows_namespace("kafka", "kafka")
    assert not spec.allows_namespace("kafka", "team-a")
    spec = KafkaClusterSpec.model_validate({"bootstrapServers": ["a:1"], "allowedNamespaces": ["team-a"]})
    assert spec.allows_namespace("kafka", "team-a") and not spec.allows_namespace("kafka", "team-b")
    spec = KafkaClusterSpec.model_validate({"bootstrapServers": ["a:1"], "allowedNamespaces": ["*"]})
    assert spec.allows_namespace("kafka", "anything")
