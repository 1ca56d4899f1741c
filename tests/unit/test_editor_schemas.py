"""The JSON schemas for editors (schemas/<kind>.json): generated from the CRDs, and they accept kto's examples and
flag what the apiserver would refuse or prune."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import jsonschema
import pytest
import yaml
from kto.api import crdgen

from tests.unit.test_gitops_examples import EXAMPLE, kustomize

REPO = Path(__file__).resolve().parents[2]
SCHEMAS = REPO / "schemas"
EXAMPLES = REPO / "manifests" / "examples"
DOCS = {crdgen.schema_filename(build()): build() for build in crdgen.FILES.values()}


def _schema(kind: str) -> dict:
    return json.loads((SCHEMAS / f"{kind.lower()}.json").read_text())


def _examples() -> list:
    """Every kto object in the examples: the files that are whole objects, not kustomize patches."""
    out = []
    for path in sorted(EXAMPLES.rglob("*.yaml")):
        if "overlays" in path.parts:
            continue
        for doc in yaml.safe_load_all(path.read_text()):
            if isinstance(doc, dict) and str(doc.get("apiVersion", "")).startswith("kafka.kto.dev/"):
                out.append(pytest.param(doc, id=f"{path.relative_to(EXAMPLES)}:{doc['metadata']['name']}"))
    return out


@pytest.mark.parametrize("overlay", ["development", "production"])
def test_the_rendered_overlays_are_valid(overlay: str) -> None:
    docs = [d for d in kustomize(EXAMPLE / "overlays" / overlay) if d["apiVersion"].startswith("kafka.kto.dev/")]
    assert docs
    for doc in docs:
        jsonschema.validate(doc, _schema(doc["kind"]))


@pytest.mark.parametrize("filename", sorted(DOCS))
def test_committed_schemas_are_generated_from_the_crds(filename: str) -> None:
    assert sorted(p.name for p in SCHEMAS.glob("*.json")) == sorted(DOCS)
    committed = (SCHEMAS / filename).read_text()
    assert committed == crdgen.render_schema(DOCS[filename]), \
        "schemas/ is stale: run `make crds` (python -m kto.api.crdgen crds/ schemas/)"
    jsonschema.Draft7Validator.check_schema(json.loads(committed))


@pytest.mark.parametrize("doc", _examples())
def test_the_examples_are_valid(doc: dict) -> None:
    jsonschema.validate(doc, _schema(doc["kind"]))


TOPIC = {"apiVersion": "kafka.kto.dev/v1alpha1", "kind": "KafkaTopic",
         "metadata": {"name": "orders", "labels": {"team": "a"}, "annotations": {"kto.dev/paused": "true"}},
         "spec": {"clusterRef": {"name": "kafka"}, "partitions": 3, "config": {"retention.ms": 1000,
                                                                               "cleanup.policy": "delete"}}}


@pytest.mark.parametrize(("change", "valid"), [
    (lambda t: t, True),
    (lambda t: t["spec"].update(partitions="3"), False),  # a string where Kafka wants a number
    (lambda t: t["spec"].update(partitons=3), False),  # a typo: the apiserver would prune it silently
    (lambda t: t["spec"]["clusterRef"].update(nam="kafka"), False),
    (lambda t: t["spec"].update(deletionPolicy="Keep"), False),
    (lambda t: t["spec"].pop("clusterRef"), False),
    (lambda t: t.update(apiVersion="kafka.strimzi.io/v1beta2"), False),
    (lambda t: t.update(kind="KafkaUser"), False),
    (lambda t: t["spec"]["config"].update({"segment.bytes": "1073741824"}), True),  # int or string
    (lambda t: t.update(status={"topicName": "orders", "observedGeneration": 1}), True),
])
def test_the_topic_schema_flags_what_the_apiserver_would_refuse_or_prune(change, valid: bool) -> None:
    topic = copy.deepcopy(TOPIC)
    change(topic)
    errors = list(jsonschema.Draft7Validator(_schema("KafkaTopic")).iter_errors(topic))
    assert (not errors) == valid, errors
