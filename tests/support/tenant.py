"""A hostile tenant with nothing but the chart's tenant roles: a ServiceAccount in its own namespace, and a
Kubernetes client that impersonates it; and what the tenant can do in Kafka with the credentials kto gives it.

The tenant's rights are what Kubernetes' ``edit`` role is in its namespace once aggregated: the chart's
``<release>-kto-view`` and ``<release>-kto-edit`` ClusterRoles (``helm/kto/templates/tenant-roles.yaml``,
rendered by ``helm template --set tenantRoles.enabled=true``) and Kubernetes' own ``system:aggregate-to-view``
and ``system:aggregate-to-edit`` (Secrets among them). The test environment runs no kube-controller-manager, so
the aggregation controller never fills ``edit`` itself: the tenant is bound to its sources, one RoleBinding
each, in its own namespace.

The client is the admin's with ``Impersonate-User: system:serviceaccount:NS:NAME``. The Python client keeps
default headers in a dict, so it cannot send the three ``Impersonate-Group`` headers; the apiserver derives a
ServiceAccount's groups itself when none are given (``system:serviceaccounts``, ``system:serviceaccounts:NS``,
``system:authenticated``), and ``Tenant.whoami`` reads them back (SelfSubjectReview) so a test can assert it.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

import yaml
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource
from kubernetes import client
from kubernetes.client.rest import ApiException

from tests.support import chart
from tests.support.env import KafkaEndpoints, LocalEnv
from tests.support.kube import admin_client
from tests.support.resources import GROUP, Resources
from tests.support.users import as_user, authenticates, produce_one

KUBERNETES_EDIT_SOURCES = ("system:aggregate-to-view", "system:aggregate-to-edit")


# --- the chart's tenant roles ------------------------------------------------------------------------------


def render_tenant_roles(release: str) -> list[dict[str, Any]]:
    """The chart's tenant ClusterRoles for ``release``, as ``helm template`` renders them."""
    out = chart.helm("template", release, str(chart.CHART), "--namespace", release,
                     "--show-only", "templates/tenant-roles.yaml",
                     "--kube-version", chart.localenv.read_versions()["KUBERNETES_VERSION"],
                     values={"tenantRoles": {"enabled": True}})
    roles = [doc for doc in yaml.safe_load_all(out) if doc]
    assert {r["kind"] for r in roles} == {"ClusterRole"} and len(roles) == 2, roles
    return roles


def install_tenant_roles(api: client.ApiClient, release: str) -> list[str]:
    """Apply the chart's tenant ClusterRoles to the apiserver; their names (view first, then edit)."""
    rbac = client.RbacAuthorizationV1Api(api)
    names = []
    for role in render_tenant_roles(release):
        try:
            rbac.create_cluster_role(role)
        except ApiException as err:
            if err.status != 409:
                raise
            rbac.replace_cluster_role(role["metadata"]["name"], role)
        names.append(role["metadata"]["name"])
    return names


def remove_cluster_roles(api: client.ApiClient, names: list[str]) -> None:
    rbac = client.RbacAuthorizationV1Api(api)
    for name in names:
        try:
            rbac.delete_cluster_role(name)
        except ApiException as err:
            if err.status != 404:
                raise


# --- the tenant ----------------------------------------------------------------------------------------------


@dataclass
class Tenant:
    """A ServiceAccount bound to the tenant roles in ``namespace``; ``api`` impersonates it and ``res`` drives
    kto's kinds with it (the admin's ``Resources`` are for the checks)."""

    namespace: str
    service_account: str
    api: client.ApiClient

    @property
    def user(self) -> str:
        return f"system:serviceaccount:{self.namespace}:{self.service_account}"

    @property
    def res(self) -> Resources:
        return Resources(self.api, self.namespace)

    def whoami(self) -> tuple[str, set[str]]:
        """The user and groups the apiserver sees for this client (SelfSubjectReview)."""
        review = client.AuthenticationV1Api(self.api).create_self_subject_review(
            client.V1SelfSubjectReview(api_version="authentication.k8s.io/v1", kind="SelfSubjectReview"))
        info = review.status.user_info
        return info.username, set(info.groups or ())

    def can_i(self, verb: str, resource: str, namespace: str | None, group: str = GROUP,
              subresource: str | None = None) -> bool:
        """The apiserver's answer for this client (SelfSubjectAccessReview)."""
        attrs = client.V1ResourceAttributes(group=group, resource=resource, subresource=subresource, verb=verb,
                                            namespace=namespace)
        review = client.AuthorizationV1Api(self.api).create_self_subject_access_review(
            client.V1SelfSubjectAccessReview(spec=client.V1SelfSubjectAccessReviewSpec(resource_attributes=attrs)))
        return bool(review.status.allowed)

    def secret(self, name: str) -> dict[str, str] | None:
        """A Secret of the tenant's namespace, read as the tenant (None when there is none)."""
        import base64

        try:
            obj = client.CoreV1Api(self.api).read_namespaced_secret(name, self.namespace)
        except ApiException as err:
            if err.status == 404:
                return None
            raise
        return {k: base64.b64decode(v).decode() for k, v in (obj.data or {}).items()}


def impersonating(env: LocalEnv, user: str) -> client.ApiClient:
    """The admin's client, acting as ``user`` (the apiserver checks every request against that user's RBAC)."""
    api = admin_client(env)
    api.set_default_header("Impersonate-User", user)
    return api


def make_tenant(env: LocalEnv, namespace: str, chart_roles: list[str], service_account: str = "tenant") -> Tenant:
    """A ServiceAccount in ``namespace`` (which must exist) bound there to the chart's tenant ClusterRoles
    (``chart_roles``) and to the Kubernetes sources of ``edit``; a client that impersonates it."""
    admin = admin_client(env)
    core, rbac = client.CoreV1Api(admin), client.RbacAuthorizationV1Api(admin)
    try:
        core.create_namespaced_service_account(namespace, {"metadata": {"name": service_account}})
    except ApiException as err:
        if err.status != 409:
            raise
    for role in (*chart_roles, *KUBERNETES_EDIT_SOURCES):
        body = {"metadata": {"name": f"{service_account}-{role.replace(':', '-')}"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
                "subjects": [{"kind": "ServiceAccount", "name": service_account, "namespace": namespace}]}
        try:
            rbac.create_namespaced_role_binding(namespace, body)
        except ApiException as err:
            if err.status != 409:
                raise
    return Tenant(namespace, service_account, impersonating(env, f"system:serviceaccount:{namespace}:"
                                                                f"{service_account}"))


# --- Kafka as the tenant -----------------------------------------------------------------------------------


def read_from_start(conf: dict[str, str], topic: str, timeout: float = 10) -> tuple[int, set[str]]:
    """Messages read from partition 0 of ``topic`` from its start (assigned, no group offsets fetched or
    committed), and the names of the errors seen meanwhile."""
    errors: set[str] = set()
    consumer = Consumer({**conf, "group.id": f"peek-{uuid.uuid4().hex[:8]}", "enable.auto.commit": "false",
                         "log_level": 0, "error_cb": lambda e: errors.add(e.name())})
    consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    read = 0
    deadline = time.monotonic() + timeout
    try:
        while not read and time.monotonic() < deadline:
            for msg in consumer.consume(num_messages=100, timeout=0.5):
                if msg.error() is None:
                    read += 1
                else:
                    errors.add(msg.error().name())
            if "TOPIC_AUTHORIZATION_FAILED" in errors or "_AUTHENTICATION" in errors:
                break
    finally:
        consumer.close()
    return read, errors


def alters_config(conf: dict[str, str], topic: str, key: str = "retention.ms", value: str = "1000") -> str | None:
    """Whether the brokers let these credentials change a topic config: a validate-only IncrementalAlterConfigs
    (authorized like a real one, changes nothing). None when allowed, else the error's name."""
    admin = AdminClient({**conf, "log_level": 0})
    res = ConfigResource(ConfigResource.Type.TOPIC, topic, incremental_configs=[
        ConfigEntry(key, value, incremental_operation=AlterConfigOpType.SET)])
    try:
        admin.incremental_alter_configs([res], validate_only=True, request_timeout=10)[res].result(15)
    except KafkaException as err:
        return err.args[0].name()
    return None


def kafka_access(kafka: KafkaEndpoints, username: str | None, password: str | None, topic: str) -> list[str]:
    """What these credentials may do to ``topic`` on the SASL listener, as a list of what succeeded (empty:
    nothing; no credentials at all is nothing too): read its messages, produce to it, change its configs."""
    if not username or not password:
        return []
    conf = as_user(kafka, username, password)
    if not authenticates(conf):
        return []
    done = []
    read, _errors = read_from_start(conf, topic)
    if read:
        done.append(f"read {read} message(s) of {topic}")
    if produce_one(conf, topic, timeout=8) is None:
        done.append(f"produced to {topic}")
    if alters_config(conf, topic) is None:
        done.append(f"may alter {topic}'s configs")
    return done
