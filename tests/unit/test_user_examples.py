"""The Media Gateway's KafkaUsers example: it renders, parses, and grants only topics the base declares."""

from __future__ import annotations

import yaml
from kto.api.models import KafkaUserSpec
from kto.users.access import desired_acls

from tests.unit.test_gitops_examples import EXAMPLE, by_kind, kustomize


def test_users_example_is_least_privilege_on_the_base_topics() -> None:
    docs = kustomize(EXAMPLE / "users")
    users = {d["metadata"]["name"]: KafkaUserSpec.model_validate(d["spec"]) for d in by_kind(docs, "KafkaUser")}
    assert set(users) == {"ingestion", "playback", "analytics"}
    assert {d["metadata"]["namespace"] for d in docs} == {"media-gateway"}
    topics = {yaml.safe_load(p.read_text())["metadata"]["name"] for p in (EXAMPLE / "base" / "topics").glob("*.yaml")}
    for name, spec in users.items():
        assert spec.clusterRef.name == "media-gateway", name
        for acl in desired_acls(spec):
            assert acl.permission == "ALLOW" and acl.operation in ("READ", "WRITE", "DESCRIBE"), (name, acl)
            if acl.resource_type == "TOPIC":
                assert acl.name in topics, (name, acl)
            else:
                assert (acl.resource_type, acl.name) == ("GROUP", spec.userName), (name, acl)
    writes = {u: {a.name for a in desired_acls(s) if a.operation == "WRITE"} for u, s in users.items()}
    assert writes == {"ingestion": {"content-ingested", "content-updated", "content-validation"},
                      "playback": {"playback-events", "playback-errors"}, "analytics": set()}
    # Not in the base: `make demo` has no authorizer.
    assert "users" not in (EXAMPLE / "base" / "kustomization.yaml").read_text()
