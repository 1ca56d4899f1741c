"""Builders for kto's resources and a small client to drive them, as a user would with kubectl."""

from __future__ import annotations

import uuid
from typing import Any

from kubernetes import client
from kubernetes.client.rest import ApiException

from tests.support.env import KafkaEndpoints
from tests.support.wait import wait_until

GROUP, VERSION = "kafka.kto.dev", "v1alpha1"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def kafka_cluster(name: str, kafka: KafkaEndpoints, listener: str = "SASL_PLAINTEXT", secret: str = "kafka-admin",
                  **spec: Any) -> dict[str, Any]:
    security: dict[str, Any] = {"protocol": listener}
    bootstrap = {"PLAINTEXT": kafka.plaintext, "SASL_PLAINTEXT": kafka.sasl, "SASL_SSL": kafka.sasl_ssl}[listener]
    if listener.startswith("SASL"):
        security["sasl"] = {"mechanism": "SCRAM-SHA-512", "secretRef": {"name": secret}}
    if listener == "SASL_SSL":
        security["tls"] = {"caSecretRef": {"name": f"{secret}-ca", "key": "ca.crt"}}
    return {
        "apiVersion": f"{GROUP}/{VERSION}", "kind": "KafkaCluster", "metadata": {"name": name},
        "spec": {"bootstrapServers": bootstrap.split(","), "security": security, **spec},
    }


def kafka_topic(name: str, cluster: str, annotations: dict | None = None, **spec: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if annotations:
        meta["annotations"] = annotations
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "KafkaTopic", "metadata": meta,
            "spec": {"clusterRef": {"name": cluster}, **spec}}


def ready(obj: dict | None) -> dict | None:
    for c in ((obj or {}).get("status") or {}).get("conditions") or []:
        if c["type"] == "Ready":
            return c
    return None


class Resources:
    """KafkaClusters, KafkaTopics, Secrets and Events of one namespace."""

    def __init__(self, api: client.ApiClient, namespace: str):
        self.api = api
        self.ns = namespace
        self.objects = client.CustomObjectsApi(api)
        self.core = client.CoreV1Api(api)

    # --- plumbing ------------------------------------------------------------------------------------

    def create(self, plural: str, body: dict) -> dict:
        return self.objects.create_namespaced_custom_object(GROUP, VERSION, self.ns, plural, body)

    def get(self, plural: str, name: str) -> dict | None:
        try:
            return self.objects.get_namespaced_custom_object(GROUP, VERSION, self.ns, plural, name)
        except ApiException as err:
            if err.status == 404:
                return None
            raise

    def patch(self, plural: str, name: str, patch: dict) -> dict:
        return self.objects.patch_namespaced_custom_object(GROUP, VERSION, self.ns, plural, name, patch,
                                                           _content_type="application/merge-patch+json")

    def delete(self, plural: str, name: str) -> None:
        try:
            self.objects.delete_namespaced_custom_object(GROUP, VERSION, self.ns, plural, name)
        except ApiException as err:
            if err.status != 404:
                raise

    def wait_gone(self, plural: str, name: str, timeout: float = 60) -> None:
        wait_until(lambda: self.get(plural, name) is None, timeout=timeout, what=f"{plural}/{name} to be gone")

    def wait_condition(self, plural: str, name: str, status: str = "True", reason: str | None = None,
                       timeout: float = 60, current: bool = True) -> dict:
        """The object once its Ready condition has ``status`` (and ``reason``) for its current generation."""

        def probe():
            obj = self.get(plural, name)
            cond = ready(obj)
            if cond is None or cond["status"] != status or (reason and cond["reason"] != reason):
                return None
            if current and obj["status"].get("observedGeneration") != obj["metadata"]["generation"]:
                return None
            return obj

        return wait_until(probe, timeout=timeout,
                          what=f"{plural}/{name} Ready={status}" + (f" reason={reason}" if reason else "")
                          + f" (now: {ready(self.get(plural, name))})")

    # --- kto's kinds ----------------------------------------------------------------------------------

    def secret(self, name: str, data: dict[str, str], marked: bool = True) -> None:
        """A Secret; ``marked`` labels it for kto (kto reads only Secrets labelled kto.dev/credentials=true)."""
        labels = {"kto.dev/credentials": "true"} if marked else {}
        body = {"metadata": {"name": name, "labels": labels}, "stringData": data}
        try:
            self.core.create_namespaced_secret(self.ns, body)
        except ApiException as err:
            if err.status != 409:
                raise
            self.core.replace_namespaced_secret(name, self.ns, body)

    def cluster(self, body: dict) -> dict:
        return self.create("kafkaclusters", body)

    def topic(self, body: dict) -> dict:
        return self.create("kafkatopics", body)

    def topic_ready(self, name: str, reason: str = "Reconciled", timeout: float = 60) -> dict:
        return self.wait_condition("kafkatopics", name, "True", reason, timeout)

    def events(self, name: str, reason: str | None = None) -> list:
        items = self.core.list_namespaced_event(self.ns, field_selector=f"involvedObject.name={name}").items
        return [e for e in items if reason is None or e.reason == reason]

    def wait_event(self, name: str, reason: str, contains: str = "", timeout: float = 60):
        return wait_until(
            lambda: [e for e in self.events(name, reason) if contains in (e.message or "")],
            timeout=timeout, what=f"an Event {reason} containing {contains!r} on {name}")

    def clean_up(self, timeout: float = 90) -> None:
        """At the end of a test: its KafkaTopics deleted and waited for, its KafkaUsers deleted (waited for a
        while: one whose cluster is unreachable keeps kto's finalizer), then its KafkaClusters, so that the
        session's kto stops probing them (a test's brokers may be gone by the next test)."""
        self.delete_all_topics(timeout)
        users = [i["metadata"]["name"] for i in self._items("kafkausers")]
        for name in users:
            self.delete("kafkausers", name)
        for name in users:
            try:
                self.wait_gone("kafkausers", name, 30)
            except AssertionError:
                pass  # released once its KafkaCluster is deleted below
        for item in self._items("kafkaclusters"):
            self.delete("kafkaclusters", item["metadata"]["name"])

    def _items(self, plural: str) -> list[dict]:
        return self.objects.list_namespaced_custom_object(GROUP, VERSION, self.ns, plural)["items"]

    def delete_all_topics(self, timeout: float = 90) -> None:
        items = self.objects.list_namespaced_custom_object(GROUP, VERSION, self.ns, "kafkatopics")["items"]
        for item in items:
            self.delete("kafkatopics", item["metadata"]["name"])
        for item in items:
            self.wait_gone("kafkatopics", item["metadata"]["name"], timeout)
