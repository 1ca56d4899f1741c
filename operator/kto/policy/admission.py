"""KafkaPolicy at ``kubectl apply`` time: one static ValidatingAdmissionPolicy (Kubernetes' built-in CEL admission,
admissionregistration.k8s.io/v1, Kubernetes 1.30 and later) whose ``paramKind`` is KafkaPolicy, and one
ValidatingAdmissionPolicyBinding per KafkaPolicy, which kto keeps in step with it (``kto.policy.bindings``).

Both are built here, pure: ``validating_policy()`` is rendered into ``crds/`` by ``python -m kto.policy.admission
crds/`` (``make crds``; ``make manifests`` copies it into the chart like the CRDs), so the CEL cannot drift from
the model in ``kto.api.policy``; a unit test fails when the committed file is stale.

Rules with ``action: Clamp`` are skipped here (kto clamps them). Every rule ratchets: on UPDATE it looks only at
a value that changed, so a KafkaTopic admitted before a policy tightened still updates (its finalizer removed,
its labels changed) and is reported out of policy by kto instead.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from kto.api import names
from kto.api.policy import KafkaPolicySpec

POLICY_NAME = "kto-kafkapolicy"
BINDING_PREFIX = "kto-policy-"
MANAGED_BY = {"app.kubernetes.io/managed-by": "kto", "app.kubernetes.io/part-of": "kto"}
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"  # set by the apiserver on every namespace
MIN_KUBE_VERSION = "1.30"  # admissionregistration.k8s.io/v1 ValidatingAdmissionPolicy

P = "params.spec"
CREATED = "request.operation == 'CREATE'"
WHO = "' (KafkaPolicy ' + params.metadata.name + ': "


def _refuses(rule: str, field: str) -> str:
    """The rule is set, has ``field``, and refuses (an unset action is Refuse)."""
    return (f"has({P}.{rule}) && has({P}.{rule}.{field}) && "
            f"(!has({P}.{rule}.action) || {P}.{rule}.action != 'Clamp')")


def _changed(path: str) -> str:
    """On CREATE always; on UPDATE only when ``object.<path>`` differs from the old object's (ratcheting)."""
    return f"{CREATED} || oldObject.?{path.replace('.', '.?')} != object.?{path.replace('.', '.?')}"


def _config(key: str) -> str:
    return f"has(object.spec.config) && '{key}' in object.spec.config"


def _config_changed(key: str) -> str:
    return (f"{CREATED} || !has(oldObject.spec.config) || !('{key}' in oldObject.spec.config) || "
            f"oldObject.spec.config['{key}'] != object.spec.config['{key}']")


def _validation(expression: str, message: str) -> dict[str, str]:
    return {"expression": expression, "messageExpression": message, "reason": "Forbidden"}


def _number(key: str) -> str:
    """A config value (int or string) as an int; a value that is not a whole number counts as -1 (never within a
    limit: Kafka would refuse it anyway)."""
    value = f"string(object.spec.config['{key}'])"
    return f"({value}.matches('^-?[0-9]+$') ? int({value}) : -1)"


def _rules() -> list[dict[str, str]]:
    name = "variables.topicName"
    rf, parts = "object.spec.replicationFactor", "object.spec.partitions"
    retention, isr = "retention.ms", "min.insync.replicas"
    return [
        _validation(
            f"!has({P}.topics) || !has({P}.topics.namePrefixes) || !({CREATED}) || "
            f"{P}.topics.namePrefixes.exists(p, {name}.startsWith(p))",
            f"'topic name ' + {name} + ' does not start with one of the team policy\\'s prefixes ' + "
            f"{P}.topics.namePrefixes.join(', ') + {WHO}topics.namePrefixes)'"),
        _validation(
            f"!has({P}.topics) || !has({P}.topics.namePattern) || !({CREATED}) || "
            f"{name}.matches({P}.topics.namePattern)",
            f"'topic name ' + {name} + ' does not match the team policy\\'s pattern ' + {P}.topics.namePattern + "
            f"{WHO}topics.namePattern)'"),
        _validation(
            f"!({_refuses('partitions', 'max')}) || !has({parts}) || {parts} <= {P}.partitions.max || "
            f"!({_changed('spec.partitions')})",
            f"'partitions ' + string({parts}) + ' is over the team policy\\'s maximum ' + "
            f"string({P}.partitions.max) + {WHO}partitions.max)'"),
        _validation(
            f"!({_refuses('partitions', 'min')}) || !has({parts}) || {parts} >= {P}.partitions.min || "
            f"!({_changed('spec.partitions')})",
            f"'partitions ' + string({parts}) + ' is under the team policy\\'s minimum ' + "
            f"string({P}.partitions.min) + {WHO}partitions.min)'"),
        _validation(
            f"!({_refuses('replicationFactor', 'min')}) || !has({rf}) || {rf} >= {P}.replicationFactor.min || "
            f"!({_changed('spec.replicationFactor')})",
            f"'replicationFactor ' + string({rf}) + ' is under the team policy\\'s minimum ' + "
            f"string({P}.replicationFactor.min) + {WHO}replicationFactor.min)'"),
        _validation(
            f"!({_refuses('minInsyncReplicas', 'min')}) || !({_config(isr)}) || "
            f"{_number(isr)} >= {P}.minInsyncReplicas.min || !({_config_changed(isr)})",
            f"'min.insync.replicas ' + string(object.spec.config['{isr}']) + ' is under the team policy\\'s "
            f"minimum ' + string({P}.minInsyncReplicas.min) + {WHO}minInsyncReplicas.min)'"),
        _validation(
            f"!({_refuses('retention', 'maxMs')}) || !({_config(retention)}) || "
            f"({_number(retention)} >= 0 && {_number(retention)} <= {P}.retention.maxMs) || "
            f"!({_config_changed(retention)})",
            f"'retention.ms ' + string(object.spec.config['{retention}']) + ' is over the team policy\\'s "
            f"maximum ' + string({P}.retention.maxMs) + {WHO}retention.maxMs)'"),
        _validation(
            f"!({_refuses('configs', 'allowedKeys')}) || size(variables.notAllowed) == 0",
            f"'config keys ' + variables.notAllowed.join(', ') + ' are not among the keys the team policy "
            f"allows (' + {P}.configs.allowedKeys.join(', ') + ') {WHO[2:]}configs.allowedKeys)'"),
        _validation(
            f"!({_refuses('configs', 'platformKeys')}) || size(variables.platformSet) == 0",
            f"'config keys ' + variables.platformSet.join(', ') + ' are set by the platform and cannot be "
            f"changed {WHO[2:]}configs.platformKeys)'"),
    ]


def _variables() -> list[dict[str, str]]:
    config = "object.spec.config"
    old_value_same = (f"!({CREATED}) && has(oldObject.spec.config) && k in oldObject.spec.config && "
                      f"oldObject.spec.config[k] == {config}[k]")
    return [
        {"name": "topicName", "expression": "has(object.spec.topicName) ? object.spec.topicName : "
                                            "object.metadata.name"},
        {"name": "configKeys", "expression": f"has({config}) ? {config}.map(k, k) : []"},
        # Keys the topic sets (new or changed) that the policy does not allow (platform keys are judged apart).
        {"name": "notAllowed", "expression":
            f"has({P}.configs) && has({P}.configs.allowedKeys) ? variables.configKeys.filter(k, "
            f"!(k in {P}.configs.allowedKeys) && !(has({P}.configs.platformKeys) && k in {P}.configs.platformKeys) "
            f"&& !({old_value_same})) : []"},
        # Platform keys the topic sets (new or changed) to another value than the platform's.
        {"name": "platformSet", "expression":
            f"has({P}.configs) && has({P}.configs.platformKeys) ? variables.configKeys.filter(k, "
            f"k in {P}.configs.platformKeys && string({config}[k]) != {P}.configs.platformKeys[k] "
            f"&& !({old_value_same})) : []"},
    ]


def validating_policy() -> dict[str, Any]:
    """The one ValidatingAdmissionPolicy every KafkaPolicy's binding uses."""
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": POLICY_NAME, "labels": {"app.kubernetes.io/part-of": "kto"}},
        "spec": {
            "failurePolicy": "Fail",
            "paramKind": {"apiVersion": names.API_VERSION, "kind": names.POLICY_KIND},
            "matchConstraints": {"resourceRules": [{
                "apiGroups": [names.GROUP], "apiVersions": ["*"], "operations": ["CREATE", "UPDATE"],
                "resources": [names.TOPIC_PLURAL]}]},
            "variables": _variables(),
            "validations": _rules(),
        },
    }


# --- the binding of one KafkaPolicy --------------------------------------------------------------------


def binding_name(policy: str) -> str:
    """``kto-policy-<policy>``; a name too long for Kubernetes (253) keeps its start and a digest of the whole."""
    name = BINDING_PREFIX + policy
    if len(name) <= 253:
        return name
    return name[:236] + "-" + hashlib.sha256(policy.encode()).hexdigest()[:16]


def namespace_selector(spec: KafkaPolicySpec) -> dict[str, Any]:
    """The binding's namespaceSelector: the listed namespaces (by the name label the apiserver sets on every
    namespace) and the policy's selector, both at once when both are given."""
    selector = spec.namespaceSelector
    labels = dict(selector.matchLabels or {}) if selector else {}
    expressions = [e.model_dump(exclude_none=True) for e in (selector.matchExpressions or [])] if selector else []
    if spec.namespaces:
        expressions.append({"key": NAMESPACE_NAME_LABEL, "operator": "In", "values": sorted(set(spec.namespaces))})
    return ({"matchLabels": labels} if labels else {}) | ({"matchExpressions": expressions} if expressions else {})


def build_binding(policy: Mapping[str, Any], spec: KafkaPolicySpec) -> dict[str, Any]:
    """The ValidatingAdmissionPolicyBinding for one KafkaPolicy object, owned by it (so Kubernetes' garbage
    collector removes it with the policy even while kto is down)."""
    meta = policy.get("metadata", {})
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {
            "name": binding_name(meta["name"]),
            "labels": dict(MANAGED_BY),
            "ownerReferences": [{"apiVersion": names.API_VERSION, "kind": names.POLICY_KIND, "name": meta["name"],
                                 "uid": meta["uid"], "controller": True, "blockOwnerDeletion": False}],
        },
        "spec": {
            "policyName": POLICY_NAME,
            # The policy is the binding's owner: it is missing only while it is being deleted.
            "paramRef": {"name": meta["name"], "parameterNotFoundAction": "Allow"},
            "validationActions": ["Deny"],
            "matchResources": {"namespaceSelector": namespace_selector(spec)},
        },
    }


def is_owned_by(binding: Mapping[str, Any], policy_uid: str) -> bool:
    """Whether an existing binding is the one kto made for the policy with this uid: kto never changes or
    deletes a binding it did not make."""
    refs = binding.get("metadata", {}).get("ownerReferences") or []
    return any(r.get("kind") == names.POLICY_KIND and r.get("uid") == policy_uid for r in refs)


# --- the file in crds/ -------------------------------------------------------------------------------------

# Beside the CRDs: installed and upgraded with them (`kubectl apply --server-side -f crds/`; Helm creates what is
# in its crds/ when absent and skips it when present), so any number of releases share the one policy.
FILENAME = "admissionregistration.k8s.io_validatingadmissionpolicies_kto-kafkapolicy.yaml"


def render() -> str:
    header = ("# Generated by `python -m kto.policy.admission crds/` from operator/kto/policy/admission.py: do not "
              "edit by hand.\n# The ValidatingAdmissionPolicy every KafkaPolicy's binding uses (kto creates the "
              f"bindings); Kubernetes {MIN_KUBE_VERSION} or later.\n")
    return header + yaml.safe_dump(validating_policy(), sort_keys=False, width=120)


def main(argv: list[str]) -> int:
    """``python -m kto.policy.admission [crds-dir]``."""
    out = Path(argv[0] if argv else "crds") / FILENAME
    out.write_text(render())
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))


# --- what to do with the binding (pure) ---------------------------------------------------------------------


@dataclass(frozen=True)
class BindingPlan:
    """``action``: create, replace, keep (already as it should be) or conflict (a binding of that name that
    the policy does not own: never touched)."""

    action: Literal["create", "replace", "keep", "conflict"]
    resource_version: str | None = None


def plan_binding(desired: Mapping[str, Any], existing: Mapping[str, Any] | None, policy_uid: str) -> BindingPlan:
    if existing is None:
        return BindingPlan("create")
    if not is_owned_by(existing, policy_uid):
        return BindingPlan("conflict")
    meta = existing.get("metadata", {})
    same = (_holds(existing.get("spec"), desired["spec"])
            and _holds(meta.get("labels"), desired["metadata"]["labels"]))
    return BindingPlan("keep") if same else BindingPlan("replace", str(meta.get("resourceVersion")))


def _holds(actual: Any, wanted: Any) -> bool:
    """Whether ``actual`` has everything ``wanted`` says (the apiserver adds defaults, e.g. matchPolicy)."""
    if isinstance(wanted, Mapping):
        return isinstance(actual, Mapping) and all(_holds(actual.get(k), v) for k, v in wanted.items())
    return bool(actual == wanted)
