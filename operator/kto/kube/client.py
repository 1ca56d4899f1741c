"""kto's Kubernetes client: everything kto reads and writes in the Kubernetes API beyond kopf's watching (lists,
Secrets, kto's ConfigMaps, status, finalizers, Events), and ``api_client``, the one place that loads Kubernetes
credentials (the Lease of ``kto.ops.leader`` and the CLI build their clients with it).

The kubernetes client is synchronous and its functions carry no annotations: every call goes through
``KubeClient._call``, which runs it in a worker thread and is the one place its untyped results enter kto (as
``Any``, read into kto's own types right there)."""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, Literal, overload

import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from kto.api import names
from kto.api.domain import SecretContents
from kto.telemetry import logs

log = logging.getLogger("kto.kube.client")


# Every call gives up after this long (connect, read), so a half-open connection never wedges a queue.
REQUEST_TIMEOUT = (10.0, 30.0)
METADATA_ONLY = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"

# The kubernetes client's credential loaders, typed at kto's side (the library declares no annotations).
_load_incluster_config: Callable[..., None] = config.load_incluster_config
_load_kube_config: Callable[..., None] = config.load_kube_config


def api_client(kubeconfig: str | None = None, context: str | None = None, pool_size: int = 16,
               retries: int | None = None) -> client.ApiClient:
    """kto's one way to reach the apiserver: in a Pod (and with no kubeconfig named), the ServiceAccount;
    elsewhere the kubeconfig (``kubeconfig``, else $KUBECONFIG, else ~/.kube/config) and its ``context``.
    ``retries``: urllib3's retries inside one call (None: the client's default)."""
    cfg = client.Configuration()
    if os.environ.get("KUBERNETES_SERVICE_HOST") and not (kubeconfig or os.environ.get("KUBECONFIG")):
        _load_incluster_config(client_configuration=cfg)
    else:
        _load_kube_config(config_file=kubeconfig, context=context, client_configuration=cfg)
    cfg.connection_pool_maxsize = pool_size
    if retries is not None:
        cfg.retries = retries
    return client.ApiClient(cfg)


def close_api(api: client.ApiClient) -> None:
    """Close an ``ApiClient``'s connection pool (and thread pool, if it made one)."""
    close: Callable[[], None] = api.close  # untyped in the library
    close()


def is_unavailable(exc: BaseException) -> bool:
    """The Kubernetes API could not be reached or could not answer (connection refused, timeout, 5xx, 429):
    a failure of the whole batch, not of one resource."""
    if isinstance(exc, ApiException):
        return exc.status in (0, 429) or (exc.status or 0) >= 500
    return isinstance(exc, urllib3.exceptions.HTTPError | TimeoutError | ConnectionError)


class KubeClient:
    def __init__(self, api: client.ApiClient, concurrency: int = 16):
        self.api = api
        self.core = client.CoreV1Api(api)
        self.objects = client.CustomObjectsApi(api)
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="kube")

    @classmethod
    def from_environment(cls, concurrency: int = 16) -> KubeClient:
        """In a Pod: the ServiceAccount; elsewhere: $KUBECONFIG (or ~/.kube/config)."""
        return cls(api_client(pool_size=concurrency), concurrency)

    async def _call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``fn(*args, **kwargs)`` of the kubernetes client, in a worker thread, with kto's timeout."""
        kwargs.setdefault("_request_timeout", REQUEST_TIMEOUT)
        return await asyncio.get_running_loop().run_in_executor(self._pool, lambda: fn(*args, **kwargs))

    async def _found(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``_call``, with None for an object that is not there (404)."""
        try:
            return await self._call(fn, *args, **kwargs)
        except ApiException as err:
            if err.status == 404:
                return None
            raise

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        close_api(self.api)

    # --- Secrets -----------------------------------------------------------------------------------

    async def read_secret(self, namespace: str, name: str) -> SecretContents | None:
        """A Secret's data (decoded) and whether it is marked for kto, or None when it does not exist."""
        found = await self.read_secret_object(namespace, name)
        if found is None:
            return None
        return SecretContents.of(found["data"], found["labels"])

    async def read_secret_object(self, namespace: str, name: str) -> dict[str, Any] | None:
        """A Secret with its metadata: ``{"data": {key: bytes}, "annotations", "ownerReferences", "labels"}``."""
        secret = await self._found(self.core.read_namespaced_secret, name, namespace)
        if secret is None:
            return None
        meta = secret.metadata
        return {"data": {k: base64.b64decode(v) for k, v in (secret.data or {}).items()},
                "annotations": dict(meta.annotations or {}), "labels": dict(meta.labels or {}),
                "ownerReferences": [self._plain(r) for r in meta.owner_references or []]}

    def _plain(self, model: Any) -> dict[str, Any]:
        """A kubernetes client model as the API's JSON (camelCase keys)."""
        sanitize: Callable[[Any], dict[str, Any]] = self.api.sanitize_for_serialization  # untyped in the library
        return sanitize(model)

    async def write_secret(self, namespace: str, name: str, data: Mapping[str, str], annotations: Mapping[str, str],
                           labels: Mapping[str, str], owner_references: list[dict[str, Any]], exists: bool) -> None:
        """Create (or, when it ``exists``, replace) an Opaque Secret kto writes for an application."""
        body = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                "metadata": {"name": name, "namespace": namespace, "annotations": dict(annotations),
                             "labels": dict(labels), "ownerReferences": owner_references},
                "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}}
        if exists:
            await self._call(self.core.replace_namespaced_secret, name, namespace, body)
        else:
            await self._call(self.core.create_namespaced_secret, namespace, body)

    # --- kto's own ConfigMaps (the ledger) -----------------------------------------------------

    async def read_config_map(self, namespace: str, name: str) -> tuple[dict[str, str], str] | None:
        """A ConfigMap's data and resourceVersion, or None when it does not exist."""
        found = await self._found(self.core.read_namespaced_config_map, name, namespace)
        if found is None:
            return None
        return dict(found.data or {}), str(found.metadata.resource_version)

    async def write_config_map(self, namespace: str, name: str, data: Mapping[str, str], labels: Mapping[str, str],
                               resource_version: str | None) -> str | None:
        """Create the ConfigMap (``resource_version`` None) or replace the version kto read; its new
        resourceVersion, or None when another writer got there first (409: read it again)."""
        body = {"apiVersion": "v1", "kind": "ConfigMap", "data": dict(data),
                "metadata": {"name": name, "namespace": namespace, "labels": dict(labels),
                             **({"resourceVersion": resource_version} if resource_version else {})}}
        try:
            if resource_version is None:
                done = await self._call(self.core.create_namespaced_config_map, namespace, body)
            else:
                done = await self._call(self.core.replace_namespaced_config_map, name, namespace, body)
        except ApiException as err:
            if err.status == 409:
                return None
            raise
        return str(done.metadata.resource_version)

    async def is_crd_terminating(self, plural: str) -> bool:
        """The CustomResourceDefinition of one of kto's kinds is being deleted (its objects are being removed
        with it, which is an uninstall, not a user's deletion)."""
        api = client.ApiextensionsV1Api(self.api)
        try:
            crd = await self._call(api.read_custom_resource_definition, f"{plural}.{names.GROUP}")
        except ApiException as err:
            if err.status == 404:
                return True  # already gone: its objects are being removed with it
            raise
        return crd.metadata.deletion_timestamp is not None

    # --- listing ---------------------------------------------------------------------------------

    async def get_object(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        """One of kto's objects, or None when it does not exist."""
        found: dict[str, Any] | None = await self._found(self.objects.get_namespaced_custom_object, names.GROUP,
                                                         names.VERSION, namespace, plural, name)
        if found is None:
            return None
        return found

    @overload
    async def list_objects(self, plural: str, namespaces: list[str] | None = None,
                           missing_ok: Literal[False] = False) -> list[dict[str, Any]]: ...

    @overload
    async def list_objects(self, plural: str, namespaces: list[str] | None = None, *,
                           missing_ok: Literal[True]) -> list[dict[str, Any]] | None: ...

    async def list_objects(self, plural: str, namespaces: list[str] | None = None,
                           missing_ok: bool = False) -> list[dict[str, Any]] | None:
        """Every object of a kind (of the given namespaces, or all), page by page; with ``missing_ok``, None
        when the kind is not installed."""
        try:
            return await self._list_objects(plural, namespaces)
        except ApiException as err:
            if missing_ok and err.status == 404:
                return None
            raise

    async def _list_objects(self, plural: str, namespaces: list[str] | None,
                            headers: dict[str, str] | None = None) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        scopes: list[str | None] = list(namespaces) if namespaces else [None]
        for ns in scopes:
            token = None
            while True:
                kwargs: dict[str, Any] = {"limit": 500, **({"_continue": token} if token else {}),
                          **({"_headers": headers} if headers else {})}
                if ns is None:
                    page = await self._call(self.objects.list_cluster_custom_object, names.GROUP, names.VERSION,
                                            plural, **kwargs)
                else:
                    page = await self._call(self.objects.list_namespaced_custom_object, names.GROUP,
                                            names.VERSION, ns, plural, **kwargs)
                items += page.get("items") or []  # a metadata-only list of nothing says null
                token = page.get("metadata", {}).get("continue")
                if not token:
                    break
        return items

    async def list_keys(self, plural: str, namespaces: list[str] | None = None) -> set[tuple[str, str, str, str]]:
        """(namespace, name, uid, resourceVersion) of every object of a kind, listed as metadata only (cheap at
        50,000 objects)."""
        items = await self._list_objects(plural, namespaces, {"Accept": METADATA_ONLY})
        return {(m.get("namespace", ""), m.get("name", ""), m.get("uid", ""), str(m.get("resourceVersion", "")))
                for m in (item.get("metadata", {}) for item in items)}

    # --- status ------------------------------------------------------------------------------------

    async def patch_status(self, plural: str, namespace: str, name: str, status: Mapping[str, Any]) -> str | None:
        """Merge-patch the status subresource; the object's new resourceVersion, or None when it is gone."""
        return _version(await self._found(self.objects.patch_namespaced_custom_object_status, names.GROUP,
                                          names.VERSION, namespace, plural, name, {"status": dict(status)},
                                          _content_type="application/merge-patch+json"))

    # --- finalizers --------------------------------------------------------------------------------

    async def add_finalizer(self, plural: str, namespace: str, name: str, finalizers: list[str],
                            finalizer: str = names.FINALIZER, resource_version: str | None = None) -> bool:
        return await self._set_finalizers(plural, namespace, name, finalizers, [*finalizers, finalizer],
                                          resource_version)

    async def remove_finalizer(self, plural: str, namespace: str, name: str, finalizers: list[str],
                               finalizer: str = names.FINALIZER) -> bool:
        return await self._set_finalizers(plural, namespace, name, finalizers,
                                          [f for f in finalizers if f != finalizer])

    async def _set_finalizers(self, plural: str, namespace: str, name: str, old: list[str], new: list[str],
                              resource_version: str | None = None) -> bool:
        """JSON patch guarded by a test of the current list (or, when kto saw none, of the resourceVersion kto
        saw: another controller may have added one since), so a concurrent change is never overwritten.
        False when the object is gone or changed meanwhile (a newer event will bring it back)."""
        if old:
            guard = [{"op": "test", "path": "/metadata/finalizers", "value": old}]
        elif resource_version:
            guard = [{"op": "test", "path": "/metadata/resourceVersion", "value": resource_version}]
        else:
            guard = []
        patch = [*guard, {"op": "add", "path": "/metadata/finalizers", "value": new}]
        try:
            await self._call(self.objects.patch_namespaced_custom_object, names.GROUP, names.VERSION, namespace,
                             plural, name, patch, _content_type="application/json-patch+json")
        except ApiException as err:
            if err.status in (404, 409, 422):
                return False
            raise
        return True

    # --- Events ------------------------------------------------------------------------------------

    async def post_event(self, obj: Mapping[str, Any], type_: str, reason: str, message: str) -> None:
        """A core/v1 Event about ``obj``; failures to post are logged, never raised."""
        meta = obj.get("metadata", {})
        now = datetime.now(UTC)
        body = {
            "metadata": {"name": f"{meta.get('name')}.{uuid.uuid4().hex[:12]}", "namespace": meta.get("namespace")},
            "involvedObject": {
                "apiVersion": obj.get("apiVersion"), "kind": obj.get("kind"), "name": meta.get("name"),
                "namespace": meta.get("namespace"), "uid": meta.get("uid"),
            },
            "reason": reason,
            "message": message[:1024],
            "type": type_,
            "source": {"component": names.COMPONENT},
            "reportingComponent": names.COMPONENT,
            "reportingInstance": os.environ.get("HOSTNAME", names.COMPONENT),
            "firstTimestamp": now.isoformat(),
            "lastTimestamp": now.isoformat(),
            "count": 1,
        }
        where = logs.fields(obj.get("kind"), (meta.get("namespace") or "", meta.get("name") or ""), reason=reason,
                            event_type=type_)
        try:
            await self._call(self.core.create_namespaced_event, meta.get("namespace"), body)
            log.debug("Posted an Event", extra=where | {"detail": body["message"]})
        except ApiException as err:
            log.warning("Posting an Event failed", extra=where | {"status": err.status})

    # --- KafkaPolicy: its status and its admission binding -----------------------------------------------

    async def patch_cluster_status(self, plural: str, name: str, status: Mapping[str, Any]) -> str | None:
        """Merge-patch a cluster-scoped object's status subresource; its new resourceVersion, or None when gone."""
        return _version(await self._found(self.objects.patch_cluster_custom_object_status, names.GROUP, names.VERSION,
                                          plural, name, {"status": dict(status)},
                                          _content_type="application/merge-patch+json"))

    async def read_policy_binding(self, name: str) -> dict[str, Any] | None:
        """A ValidatingAdmissionPolicyBinding as a plain dict, or None when there is none."""
        api = client.AdmissionregistrationV1Api(self.api)
        found = await self._found(api.read_validating_admission_policy_binding, name)
        if found is None:
            return None
        serialize: Callable[[Any], dict[str, Any]] = self.api.sanitize_for_serialization
        return dict(serialize(found))

    async def write_policy_binding(self, body: Mapping[str, Any], resource_version: str | None) -> None:
        """Create the binding (``resource_version`` None) or replace the one kto read at that version (a
        concurrent change makes the replace fail, and the next event tries again)."""
        api = client.AdmissionregistrationV1Api(self.api)
        meta = {**body["metadata"], **({"resourceVersion": resource_version} if resource_version else {})}
        plain: Any = {**body, "metadata": meta}  # the client sends a dict as it is
        if resource_version is None:
            await self._call(api.create_validating_admission_policy_binding, plain)
        else:
            await self._call(api.replace_validating_admission_policy_binding, meta["name"], plain)


def _version(patched: dict[str, Any] | None) -> str | None:
    """The resourceVersion a status patch returned; None when the object was gone."""
    if patched is None:
        return None
    return str(patched.get("metadata", {}).get("resourceVersion", "")) or "?"
