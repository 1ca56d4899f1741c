"""Generate the CustomResourceDefinitions from the pydantic models (``python -m kto.api.crdgen crds/ schemas/``), and
from them the JSON schemas editors validate manifests with.

pydantic's JSON schema is turned into a Kubernetes structural schema: references inlined, ``Optional``
collapsed, ``int | str`` mapped to ``x-kubernetes-int-or-string``, titles dropped. Printer columns, short
names and root-level rules are declared here.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from kto.api import models, names, policy

KEEP = {
    "type", "description", "properties", "required", "items", "additionalProperties", "enum", "format",
    "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength", "maxLength", "minItems", "maxItems",
    "pattern", "x-kubernetes-validations", "x-kubernetes-int-or-string", "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
}


def _resolve(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        if "$ref" in node:
            target = defs[node["$ref"].split("/")[-1]]
            merged = {**_resolve(target, defs), **{k: v for k, v in node.items() if k != "$ref"}}
            return _resolve(merged, defs)
        return {k: _resolve(v, defs) for k, v in node.items()}
    if isinstance(node, list):
        return [_resolve(v, defs) for v in node]
    return node


def _structural(node: dict[str, Any]) -> dict[str, Any]:
    """A pydantic JSON schema node as a structural OpenAPI v3 schema the apiserver accepts."""
    node = _openapi_keywords(_without_any_of(node))
    out: dict[str, Any] = {}
    for key in sorted(node, key=_order):
        value = node[key]
        if key not in KEEP or (key == "additionalProperties" and value is False):
            continue
        if key == "properties":
            out[key] = {name: _structural(child) for name, child in value.items()}
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            out[key] = _structural(value)
        else:
            out[key] = value
    if out.get("type") == "object" and "properties" not in out and "additionalProperties" not in out:
        out["x-kubernetes-preserve-unknown-fields"] = True
    return out


def _without_any_of(node: dict[str, Any]) -> dict[str, Any]:
    """``anyOf`` (pydantic's optional and union fields) as one schema: int-or-string, or the one non-null variant."""
    node = dict(node)
    if "anyOf" not in node:
        return node
    variants = [v for v in node.pop("anyOf") if v.get("type") != "null"]
    types = sorted(v.get("type") for v in variants)
    if types == ["integer", "string"]:
        node["x-kubernetes-int-or-string"] = True
        return node
    if len(variants) == 1:
        return {**variants[0], **node}
    raise ValueError(f"cannot express {variants} in a structural schema")


def _openapi_keywords(node: dict[str, Any]) -> dict[str, Any]:
    """JSON Schema keywords OpenAPI v3 spells differently: numeric exclusive bounds, ``const``, a typeless enum."""
    node = dict(node)
    for bound, flag in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        # JSON Schema's numeric exclusive bound (pydantic's gt/lt) is OpenAPI v3's bound with a boolean flag.
        if isinstance(node.get(bound), int | float) and not isinstance(node[bound], bool):
            node[flag] = node.pop(bound)
            node[bound] = True
    if "const" in node:
        node["enum"] = [node.pop("const")]
    if "enum" in node and "type" not in node:
        node["type"] = "string"
    return node


ORDER = ["description", "type", "x-kubernetes-int-or-string", "format", "enum", "pattern", "minimum",
         "exclusiveMinimum", "maximum", "exclusiveMaximum",
         "minLength", "maxLength", "minItems", "maxItems", "required", "properties", "items", "additionalProperties",
         "x-kubernetes-list-type", "x-kubernetes-list-map-keys", "x-kubernetes-validations"]


def _order(key: str) -> int:
    return ORDER.index(key) if key in ORDER else len(ORDER)


def schema_of(model: type[BaseModel]) -> dict[str, Any]:
    raw = model.model_json_schema(mode="validation")
    defs = raw.pop("$defs", {})
    return _structural(_resolve(raw, defs))


def _conditions_list_type(status: dict[str, Any]) -> dict[str, Any]:
    conditions = status["properties"]["conditions"]
    conditions["x-kubernetes-list-type"] = "map"
    conditions["x-kubernetes-list-map-keys"] = ["type"]
    return status


# `kubectl get kto` lists kto's kinds. Not `kafka`: that is the singular of Strimzi's Kafka kind, and kt, kc, ku
# are Strimzi's short names (tests/integration/test_crd_names.py installs both side by side; DESIGN.md, Decisions).
CATEGORY = "kto"
READY = '.status.conditions[?(@.type=="Ready")]'
API_VERSION = ("APIVersion defines the versioned schema of this representation of an object. More info: "
               "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources")
KIND = ("Kind is a string value representing the REST resource this object represents. More info: "
        "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds")
NAME = (f"The resource's name, at most {models.MAX_RESOURCE_NAME_LENGTH} characters: kto derives the names of its "
        "Events (and a KafkaUser's Secret) from it.")


def column(name: str, type_: str, path: str, description: str, priority: int = 0) -> dict[str, Any]:
    out = {"name": name, "type": type_, "jsonPath": path, "description": description}
    return out | ({"priority": priority} if priority else {})


def condition_columns() -> list[dict[str, Any]]:
    """Ready and Reason, shown by default; Age; Message with -o wide."""
    return [
        column("Ready", "string", f"{READY}.status", "The Ready condition's status: True, False or Unknown."),
        column("Reason", "string", f"{READY}.reason", "Why the resource is (or is not) Ready."),
        column("Age", "date", ".metadata.creationTimestamp", "When the resource was created."),
    ]


MESSAGE = column("Message", "string", f"{READY}.message", "The Ready condition's message: what to do when it is "
                 "not Ready.", priority=1)


def crd(kind: str, plural: str, short: list[str], spec_model: type[BaseModel], status_model: type[BaseModel],
        columns: Sequence[dict[str, Any]], wide: Sequence[dict[str, Any]] = (),
        root_rules: Sequence[dict[str, str]] = (), description: str = "", scope: str = "Namespaced") -> dict[str, Any]:
    """One kind's CRD; every kind's metadata.name carries the length rule. Printer columns: the kind's own, then
    Ready, Reason and Age, then ``wide`` and the message (both with -o wide)."""
    columns = [*columns, *condition_columns(), *wide, MESSAGE]
    root: dict[str, Any] = {
        "description": description,
        "type": "object",
        "required": ["spec"],
        "properties": {
            "apiVersion": {"description": API_VERSION, "type": "string"},
            "kind": {"description": KIND, "type": "string"},
            # The apiserver refuses anything on metadata but type and name/generateName (not even a description).
            "metadata": {"type": "object", "properties": {"name": {
                "description": NAME, "type": "string", "x-kubernetes-validations": [models.RESOURCE_NAME_RULE]}}},
            "spec": schema_of(spec_model),
            "status": _conditions_list_type(schema_of(status_model)),
        },
    }
    if root_rules:
        root["x-kubernetes-validations"] = list(root_rules)
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{names.GROUP}", "labels": {"app.kubernetes.io/part-of": "kto"}},
        "spec": {
            "group": names.GROUP,
            "scope": scope,
            "names": {"kind": kind, "listKind": f"{kind}List", "plural": plural, "singular": kind.lower(),
                      "shortNames": short, "categories": [CATEGORY]},
            "versions": [{
                "name": names.VERSION,
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "additionalPrinterColumns": columns,
                "schema": {"openAPIV3Schema": root},
            }],
        },
    }


TOPIC_COLUMNS = [
    column("Topic", "string", ".status.topicName", "The Kafka topic's name."),
    column("Partitions", "integer", ".status.partitions", "The partitions the topic has in Kafka."),
    column("Replicas", "integer", ".status.replicationFactor", "The topic's replication factor in Kafka."),
]
USER_COLUMNS = [
    column("User", "string", ".status.userName", "The Kafka user name (principal User:<name>)."),
    column("Auth", "string", ".spec.authentication.type", "The SASL/SCRAM mechanism of the credential."),
    column("ACLs", "integer", ".status.acls", "How many of the user's ACL bindings are in Kafka."),
]


def cluster_column(what: str) -> dict[str, Any]:
    return column("Cluster", "string", ".spec.clusterRef.name", f"The KafkaCluster that holds the {what}.")


def topic_crd() -> dict[str, Any]:
    return crd(
        names.TOPIC_KIND, names.TOPIC_PLURAL, ["ktt", "ktopic"], models.KafkaTopicSpec, models.KafkaTopicStatus,
        [cluster_column("topic"), *TOPIC_COLUMNS],
        description="A Kafka topic, managed by kto on the KafkaCluster it references.",
    )


def cluster_crd() -> dict[str, Any]:
    brokers = [column("Bootstrap", "string", ".spec.bootstrapServers", "The brokers kto bootstraps from."),
               column("Brokers", "integer", ".status.brokers", "How many brokers the cluster reports."),
               column("Topics", "integer", ".status.topics", "How many KafkaTopics use this cluster.", priority=1)]
    return crd(
        names.CLUSTER_KIND, names.CLUSTER_PLURAL, ["ktc", "kcluster"], models.KafkaClusterSpec,
        models.KafkaClusterStatus, brokers,
        description="A connection to an existing Apache Kafka cluster, used by KafkaTopics and KafkaUsers.",
    )


def user_crd() -> dict[str, Any]:
    secret = column("Secret", "string", ".status.secretName", "The Secret with the user's credentials.", priority=1)
    return crd(
        names.USER_KIND, names.USER_PLURAL, ["ktu", "kuser"], models.KafkaUserSpec, models.KafkaUserStatus,
        [cluster_column("user"), *USER_COLUMNS], wide=[secret],
        root_rules=[models.rule(
            "has(self.spec.userName) || self.metadata.name.matches('^[a-zA-Z0-9._@-]+$')",
            "metadata.name is not a valid Kafka user name: set spec.userName")],
        description="A Kafka user: SASL/SCRAM credentials and ACLs, managed by kto on the KafkaCluster it "
                    "references; kto writes the application's Secret.",
    )


def policy_crd() -> dict[str, Any]:
    binding = column("Binding", "string", ".status.binding", "The ValidatingAdmissionPolicyBinding kto keeps for "
                     "the policy.", priority=1)
    return crd(
        names.POLICY_KIND, names.POLICY_PLURAL, ["kpol"], policy.KafkaPolicySpec, policy.KafkaPolicyStatus, [],
        wide=[binding], scope="Cluster",
        description="A platform team's rules for the KafkaTopics of a team's namespaces: names, partitions, "
                    "replication, min.insync.replicas, retention and config keys; each rule refuses at admission "
                    "or clamps. Platform-owned: tenants cannot write it.",
    )


def render(doc: dict[str, Any]) -> str:
    header = "# Generated by `python -m kto.api.crdgen crds/` from operator/kto/api/models.py: do not edit by hand.\n"
    return header + yaml.safe_dump(doc, sort_keys=False, width=120)


FILES = {
    f"{names.GROUP}_{names.CLUSTER_PLURAL}.yaml": cluster_crd,
    f"{names.GROUP}_{names.TOPIC_PLURAL}.yaml": topic_crd,
    f"{names.GROUP}_{names.USER_PLURAL}.yaml": user_crd,
    f"{names.GROUP}_{names.POLICY_PLURAL}.yaml": policy_crd,
}


def _editor_node(node: dict[str, Any], open_object: bool = False) -> dict[str, Any]:
    """One openAPIV3Schema node as JSON Schema: int-or-string as ``anyOf``, the apiserver's own keys (CEL rules,
    list types) dropped, and objects closed to the properties they declare (the apiserver prunes the rest, so
    an unknown key is a typo an editor should flag)."""
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "x-kubernetes-int-or-string":
            out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
        elif key == "properties":
            out[key] = {name: _editor_node(child) for name, child in value.items()}
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            out[key] = _editor_node(value)
        elif not key.startswith("x-kubernetes-"):
            out[key] = value
    for bound, flag in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if out.get(bound) is True:  # back to draft-07's numeric exclusive bound
            out[bound] = out.pop(flag)
    if "properties" in out and "additionalProperties" not in out and not open_object:
        out["additionalProperties"] = False
    return out


def editor_schema(doc: dict[str, Any]) -> dict[str, Any]:
    """A JSON Schema of one kind for editors (yaml-language-server), from its CRD's openAPIV3Schema."""
    spec = doc["spec"]
    version = spec["versions"][0]
    root = version["schema"]["openAPIV3Schema"]
    props = dict(root["properties"])
    props["apiVersion"] = {**props["apiVersion"], "enum": [f"{spec['group']}/{version['name']}"]}
    props["kind"] = {**props["kind"], "enum": [spec["names"]["kind"]]}
    props["metadata"] = _editor_node(props["metadata"], open_object=True)  # labels, annotations, ...
    body = _editor_node({**root, "properties": props})
    body["properties"]["metadata"] = props["metadata"]
    body["required"] = ["apiVersion", "kind", "metadata", *body.get("required", [])]
    return {"$schema": "http://json-schema.org/draft-07/schema#",
            "title": f"{spec['names']['kind']} ({spec['group']}/{version['name']})", **body}


def render_schema(doc: dict[str, Any]) -> str:
    return json.dumps(editor_schema(doc), indent=2) + "\n"


def schema_filename(doc: dict[str, Any]) -> str:
    return f"{doc['spec']['names']['singular']}.json"


def main(argv: list[str]) -> int:
    """``python -m kto.api.crdgen [crds-dir [schemas-dir]]``: the CRDs, and the editors' JSON schemas."""
    out = Path(argv[0] if argv else "crds")
    out.mkdir(parents=True, exist_ok=True)
    for filename, build in FILES.items():
        (out / filename).write_text(render(build()))
        print(f"wrote {out / filename}")
    if len(argv) > 1:
        schemas = Path(argv[1])
        schemas.mkdir(parents=True, exist_ok=True)
        for build in FILES.values():
            doc = build()
            (schemas / schema_filename(doc)).write_text(render_schema(doc))
            print(f"wrote {schemas / schema_filename(doc)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
