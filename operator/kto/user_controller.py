"""KafkaUsers: SCRAM credentials and ACLs reconciled in batches per cluster, and the Secret an application mounts.

It rides on the topic ``Controller``: the KafkaCluster's state and admin connection come from
``controller.clusters``, and every probe/resync of a cluster (or its disappearance) enqueues the cluster's
users through ``controller.cluster_hooks``. Like topics, a batch gathers the world (the KafkaUsers, their
Secrets, one DescribeUserScramCredentials and one DescribeAcls), asks the pure ``kto.users`` what differs,
changes it with one request per kind, and writes status only where it changed.

Passwords are read from Secrets, sent to Kafka and written into the application's Secret; they are never
logged, put in status, annotations or Events (a hash of the applied credential sits on the application's
Secret, which holds the password anyway, so a rotation is noticed without a restart).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from kto import names
from kto.batching import Backoff, BatchQueue
from kto.conditions import build_condition, find, set_condition
from kto.controller import (
    ClusterState,
    Controller,
    Key,
    Verdict,
    cluster_key_of,
    finalizers_of,
    gate_cluster,
    gate_cluster_for_deletion,
    is_news,
    key_of,
    own,
    same_status,
    validation_message,
)
from kto.domain import KafkaFailure
from kto.models import KafkaUserSpec
from kto.planner import Claim, owner_of
from kto.reasons import Reason
from kto.users import (
    PASSWORD_KEY,
    application_secret_data,
    credential_hash,
    describe_acl_plan,
    desired_acls,
    plan_acls,
    principal,
    scram_changes,
    secret_name_of,
    user_name_of,
)

log = logging.getLogger("kto.users")


def _relevant(body: Mapping[str, Any]) -> tuple:
    meta = body.get("metadata") or {}
    return meta.get("generation"), bool(meta.get("deletionTimestamp")), names.USER_FINALIZER in finalizers_of(body)


def _user_name(body: Mapping[str, Any]) -> str:
    return (body.get("spec") or {}).get("userName") or body["metadata"]["name"]


def _claim(body: Mapping[str, Any]) -> Claim:
    meta = body["metadata"]
    return Claim(meta.get("creationTimestamp", ""), meta.get("namespace", ""), meta["name"], meta.get("uid", ""),
                 holds=names.USER_FINALIZER in finalizers_of(body))


@dataclass
class _Work:
    """One user to converge in this batch."""

    key: Key
    body: dict[str, Any]
    spec: KafkaUserSpec
    user: str
    secret: dict[str, Any] | None = None  # the application's Secret as it is now
    password: str | None = None
    verdict: Verdict | None = None
    acls: int | None = None  # ACLs of the spec in place on the brokers


class UserController:
    def __init__(self, controller: Controller):
        self.controller = controller
        self.kube = controller.kube
        self.users: dict[Key, dict[str, Any]] = {}
        self.users_by_cluster: dict[Key, set[Key]] = defaultdict(set)
        self.queues: dict[Key, BatchQueue[Key]] = {}
        self._handled: dict[Key, tuple] = {}
        self._backoff = Backoff()
        self._applied: dict[tuple[Key, str], str] = {}  # (cluster, user) -> hash of the credential last applied
        controller.cluster_hooks.append(self.enqueue_cluster)

    # --- events ----------------------------------------------------------------------------------

    async def prime(self, namespaces: list[str] | None = None) -> None:
        """Know every KafkaUser before handling any event, so ownership is decided with all claims."""
        from kubernetes.client.rest import ApiException

        try:
            items = await self.kube.list_objects(names.USER_PLURAL, namespaces)
        except ApiException as err:
            if err.status != 404:
                raise
            log.warning("The KafkaUser CRD is not installed: kafkausers are not served until it is")
            items = []
        for body in items:
            body.setdefault("apiVersion", names.API_VERSION)
            body.setdefault("kind", names.USER_KIND)
            key = key_of(body)
            self.users[key] = body
            self.users_by_cluster[cluster_key_of(body)].add(key)

    def user_event(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        key = key_of(body)
        if event_type == "DELETED":
            old = self.users.pop(key, None)
            self._handled.pop(key, None)
            self._backoff.reset(key)
            if old is not None:
                ckey = cluster_key_of(old)
                self.users_by_cluster[ckey].discard(key)
                # Another claimant of the same Kafka user may own it now.
                for other in list(self.users_by_cluster.get(ckey, ())):
                    if _user_name(self.users[other]) == _user_name(old):
                        self.queue(ckey).enqueue(other)
            return
        body = own(body)
        body.setdefault("apiVersion", names.API_VERSION)
        body.setdefault("kind", names.USER_KIND)
        old = self.users.get(key)
        if old is not None and cluster_key_of(old) != cluster_key_of(body):
            self.users_by_cluster[cluster_key_of(old)].discard(key)
        self.users[key] = body
        ckey = cluster_key_of(body)
        self.users_by_cluster[ckey].add(key)
        state = _relevant(body)
        if self._handled.get(key) == state:
            return  # our own status patch, or a change that does not matter
        self._handled[key] = state
        self._backoff.reset(key)
        self.queue(ckey).enqueue(key)

    def enqueue_cluster(self, ckey: Key) -> None:
        """The cluster was probed (resync) or is gone: look at each of its users again."""
        for key in list(self.users_by_cluster.get(ckey, ())):
            self.queue(ckey).enqueue(key)

    def queue(self, ckey: Key) -> BatchQueue[Key]:
        q = self.queues.get(ckey)
        if q is None:
            q = self.queues[ckey] = BatchQueue(
                f"users {ckey[0]}/{ckey[1]}", lambda keys, c=ckey: self.reconcile_users(c, keys),
                window=self.controller.batch_window, max_batch=self.controller.max_batch)
            q.start()
        return q

    async def stop(self) -> None:
        for q in self.queues.values():
            await q.stop()

    # --- one batch -------------------------------------------------------------------------------

    async def reconcile_users(self, ckey: Key, keys: list[Key]) -> dict[Key, float]:
        cluster = self.controller.clusters.get(ckey)
        verdicts: dict[Key, Verdict] = {}
        work: dict[Key, _Work] = {}
        to_delete: dict[Key, str] = {}
        releases: dict[Key, tuple[str, str, str] | None] = {}
        for key in keys:
            body = self.users.get(key)
            if body is None:
                continue
            kind, value = self._gate(key, body, cluster)
            if kind == "verdict":
                verdicts[key] = value
            elif kind == "release":
                releases[key] = value
            elif kind == "delete":
                to_delete[key] = value
            elif kind == "converge":
                work[key] = value

        await self._ensure_finalizers([k for k in work if names.USER_FINALIZER not in finalizers_of(self.users[k])])
        if work:
            verdicts |= await self._converge(cluster, work)
        if to_delete:
            for key, outcome in (await self._delete(cluster, to_delete)).items():
                if isinstance(outcome, KafkaFailure):
                    verdicts[key] = Verdict(False, outcome.reason, f"deleting Kafka user {to_delete[key]} failed: "
                                            f"{outcome.message}", retry=self._backoff.next(key))
                else:
                    releases[key] = ("Normal", "UserDeleted", f"Kafka user {to_delete[key]}: credentials and ACLs "
                                     "deleted (deletionPolicy Delete)")
        await asyncio.gather(*(self._release(k, note) for k, note in releases.items()))
        await asyncio.gather(*(self._apply_verdict(k, v, work.get(k)) for k, v in verdicts.items()))
        return {k: v.retry for k, v in verdicts.items() if v.retry is not None}

    def _gate(self, key: Key, body: dict[str, Any], cluster: ClusterState | None) -> tuple[str, Any]:
        meta = body["metadata"]
        user = _user_name(body)
        ns, name = cluster_key_of(body)
        if meta.get("deletionTimestamp"):
            if names.USER_FINALIZER not in finalizers_of(body):
                return "skip", None
            return self._gate_deletion(key, body, cluster, user)
        try:
            spec = KafkaUserSpec.model_validate(body.get("spec") or {})
        except ValidationError as err:
            return "verdict", Verdict(False, Reason.INVALID_SPEC, f"invalid spec: {validation_message(err)}")
        refused = gate_cluster(cluster, (ns, name), key[0], "users")
        if refused is not None:
            return refused
        owner = self._owner(body, cluster)
        if owner is not None and (owner.namespace, owner.name) != key:
            return "verdict", Verdict(
                False, Reason.RESOURCE_CONFLICT,
                f"Kafka user {user} on cluster {ns}/{name} is already managed by the older KafkaUser "
                f"{owner.namespace}/{owner.name}: this resource is ignored and deleting it will not touch Kafka")
        if not cluster.ready:
            return "verdict", Verdict(False, Reason.CLUSTER_NOT_READY,
                                      f"KafkaCluster {ns}/{name} is not ready ({cluster.reason}): {cluster.message}")
        return "converge", _Work(key, body, spec, user_name_of(meta["name"], spec))

    def _gate_deletion(self, key: Key, body: dict[str, Any], cluster: ClusterState | None, user: str):
        ns, name = cluster_key_of(body)
        held = gate_cluster_for_deletion(cluster, (ns, name), f"Kafka user {user}")
        if held is not None:
            return held
        try:
            spec = KafkaUserSpec.model_validate(body.get("spec") or {})
        except ValidationError:
            return "release", ("Warning", str(Reason.INVALID_SPEC), f"invalid spec: Kafka user {user} was not deleted")
        if cluster.spec is None or not cluster.spec.allows_namespace(ns, key[0]):
            return "release", None
        owner = self._owner(body, cluster)
        if owner is not None and (owner.namespace, owner.name) != key:
            return "release", None
        if spec.deletion_policy == "Retain":
            return "release", ("Normal", "UserRetained",
                               f"Kafka user {user}: credentials and ACLs kept (deletionPolicy Retain)")
        if not cluster.ready:
            return "verdict", Verdict(False, Reason.CLUSTER_NOT_READY,
                                      f"waiting to delete Kafka user {user}: KafkaCluster {ns}/{name} is not ready "
                                      f"({cluster.reason}): {cluster.message}", retry=self._backoff.next(key))
        return "delete", user

    def _owner(self, body: dict[str, Any], cluster: ClusterState) -> Claim | None:
        ckey, user = cluster_key_of(body), _user_name(body)
        claims = [_claim(self.users[k]) for k in self.users_by_cluster.get(ckey, ())
                  if k in self.users and _user_name(self.users[k]) == user
                  and cluster.spec.allows_namespace(ckey[0], k[0])]
        return owner_of(claims)

    # --- converge ---------------------------------------------------------------------------------

    async def _converge(self, cluster: ClusterState, work: dict[Key, _Work]) -> dict[Key, Verdict]:
        gateway = cluster.gateway
        verdicts: dict[Key, Verdict] = {}
        await asyncio.gather(*(self._read_password(w) for w in work.values()))
        for key, w in list(work.items()):
            if w.verdict is not None:
                verdicts[key] = w.verdict
                del work[key]
        if not work:
            return verdicts

        # Credentials: one describe, one alter for the whole batch.
        existing = await gateway.describe_scram(sorted({w.user for w in work.values()}))
        upserts, deletions, wanted, rotated = [], [], {}, set()
        for key, w in work.items():
            seen = existing.get(w.user)
            if isinstance(seen, KafkaFailure):
                verdicts[key] = self._failure(key, seen)
                continue
            mech = w.spec.authentication.mechanism
            wanted[key] = credential_hash(w.user, mech, w.password)
            applied = (w.secret or {}).get("annotations", {}).get(names.ANNOTATION_CREDENTIAL_HASH) \
                or self._applied.get((cluster.key, w.user))
            upsert, stale = scram_changes(mech, seen, applied, wanted[key])
            if upsert:
                upserts.append((w.user, mech, w.password))
                if applied is not None and applied != wanted[key] and seen and mech in seen:
                    rotated.add(key)
            deletions += [(w.user, m) for m in stale]
        altered = await gateway.alter_scram(upserts, deletions) if upserts or deletions else {}
        for key, w in work.items():
            failure = altered.get(w.user)
            if failure is not None and key not in verdicts:
                verdicts[key] = self._failure(key, failure, "setting credentials")
            elif key in wanted:
                self._applied[(cluster.key, w.user)] = wanted[key]

        # The application's Secret, once the brokers accept its credential.
        await asyncio.gather(*(self._write_secret(cluster, w, wanted[k]) for k, w in work.items()
                               if k not in verdicts and k in wanted))

        # ACLs: one describe for the cluster, one create and one delete for the batch.
        desired = {k: desired_acls(w.spec) for k, w in work.items()}
        observed = await gateway.describe_acls()
        plans, counts = {}, {}
        for key, w in work.items():
            if isinstance(observed, KafkaFailure):
                if observed.reason == Reason.AUTHORIZER_NOT_ENABLED and not desired[key]:
                    counts[key] = 0  # nothing to authorize: no authorizer is fine
                elif key not in verdicts:
                    verdicts[key] = self._failure(key, observed, "listing ACLs")
                continue
            plans[key] = plan_acls(desired[key], observed.get(principal(w.user), ()))
        creates = {principal(work[k].user): p.to_create for k, p in plans.items() if p.to_create}
        removes = {principal(work[k].user): p.to_delete for k, p in plans.items() if p.to_delete}
        made, removed = await asyncio.gather(gateway.create_acls(creates), gateway.delete_acls(removes))
        drift: dict[Key, str] = {}
        for key, plan in plans.items():
            p = principal(work[key].user)
            failure = made.get(p) or removed.get(p)
            if failure is not None:
                if key not in verdicts:
                    verdicts[key] = self._failure(key, failure, "setting ACLs")
                continue
            counts[key] = len(desired[key])
            if not plan.in_sync and _was_ready(work[key].body):
                drift[key] = describe_acl_plan(plan)

        for key, w in work.items():
            if key in verdicts:
                continue
            self._backoff.reset(key)
            if key in rotated:
                await self.kube.post_event(w.body, "Normal", "CredentialsRotated",
                                           f"Kafka user {w.user}: password changed on the brokers")
            if key in drift:
                await self.kube.post_event(w.body, "Normal", "DriftCorrected",
                                           f"Kafka user {w.user}: ACLs corrected: {drift[key]}")
            n = counts.get(key, 0)
            verdicts[key] = Verdict(True, Reason.RECONCILED,
                                    f"Kafka user {w.user}: {w.spec.authentication.mechanism} credentials and {n} "
                                    f"ACL(s) in place; Secret {secret_name_of(w.key[1])}")
            w.acls = n
        for key, w in work.items():
            if w.acls is None and isinstance(observed, dict):
                w.acls = len(desired[key] & set(observed.get(principal(w.user), ())))
        return verdicts

    async def _read_password(self, w: _Work) -> None:
        ns, name = w.key
        secret_name = secret_name_of(name)
        w.secret = await self.kube.read_secret_object(ns, secret_name)
        if w.secret is not None and not _is_ours(w.secret, name):
            w.verdict = Verdict(False, Reason.RESOURCE_CONFLICT,
                                f"Secret {secret_name} exists and was not written by kto for this KafkaUser: delete "
                                "or rename it, kto writes the user's credentials there")
            return
        ref = w.spec.authentication.passwordSecretRef
        if ref is None:
            current = (w.secret or {}).get("data", {}).get(PASSWORD_KEY)
            w.password = current.decode(errors="replace") if current else secrets.token_urlsafe(24)
            return
        data = await self.kube.read_secret(ns, ref.name)
        key = ref.key or PASSWORD_KEY
        if data is None or key not in data:
            what = f"Secret {ref.name} does not exist" if data is None else f"Secret {ref.name} has no key {key!r}"
            w.verdict = Verdict(False, Reason.SECRET_NOT_FOUND, f"{what} (spec.authentication.passwordSecretRef): "
                                "create it in the KafkaUser's namespace", retry=self._backoff.next(w.key))
            return
        try:
            w.password = data[key].decode()
        except UnicodeDecodeError:
            w.password = None
        if not w.password:
            w.verdict = Verdict(False, Reason.INVALID_SPEC, f"Secret {ref.name} key {key!r} is empty or not UTF-8 "
                                "text", retry=self._backoff.next(w.key))

    async def _write_secret(self, cluster: ClusterState, w: _Work, applied_hash: str) -> None:
        ns, name = w.key
        data = application_secret_data(w.user, w.password, w.spec.authentication.mechanism,
                                       cluster.spec.bootstrapServers, cluster.spec.protocol)
        meta = w.body["metadata"]
        owner = [{"apiVersion": names.API_VERSION, "kind": names.USER_KIND, "name": name, "uid": meta.get("uid"),
                  "controller": True, "blockOwnerDeletion": False}]
        annotations = {names.ANNOTATION_CREDENTIAL_HASH: applied_hash}
        labels = {"app.kubernetes.io/managed-by": names.COMPONENT, f"{names.PREFIX}/kafkauser": name}
        current = w.secret
        if current is not None and {k: v.decode(errors="replace") for k, v in current["data"].items()} == data \
                and current["annotations"].get(names.ANNOTATION_CREDENTIAL_HASH) == applied_hash \
                and [r.get("uid") for r in current["ownerReferences"]] == [meta.get("uid")]:
            return
        keep = {k: v for k, v in (current or {}).get("annotations", {}).items()
                if k != names.ANNOTATION_CREDENTIAL_HASH}
        await self.kube.write_secret(ns, secret_name_of(name), data, keep | annotations,
                                     (current or {}).get("labels", {}) | labels, owner, exists=current is not None)

    # --- deletion ---------------------------------------------------------------------------------

    async def _delete(self, cluster: ClusterState, to_delete: dict[Key, str]) -> dict[Key, KafkaFailure | None]:
        gateway = cluster.gateway
        out: dict[Key, KafkaFailure | None] = {}
        existing = await gateway.describe_scram(sorted(set(to_delete.values())))
        deletions = []
        for key, user in to_delete.items():
            seen = existing.get(user)
            if isinstance(seen, KafkaFailure):
                out[key] = seen
            else:
                deletions += [(user, m) for m in sorted(seen or {})]
        altered = await gateway.alter_scram([], deletions)
        acls = await gateway.delete_acls({principal(u): None for k, u in to_delete.items() if k not in out})
        for key, user in to_delete.items():
            if key in out:
                continue
            failure = altered.get(user) or acls.get(principal(user))
            if failure is not None and failure.reason == Reason.AUTHORIZER_NOT_ENABLED:
                failure = None  # no authorizer: there are no ACLs to delete
            out[key] = failure
            if failure is None:
                self._applied.pop((cluster.key, user), None)
        return out

    # --- Kubernetes writes ------------------------------------------------------------------------

    def _failure(self, key: Key, failure: KafkaFailure, what: str = "") -> Verdict:
        retry = self._backoff.next(key) if failure.retriable else None
        if failure.reason == Reason.AUTHORIZER_NOT_ENABLED:
            retry = None  # looked at again at the cluster's next resync
        return Verdict(False, failure.reason, failure.message, retry=retry)

    async def _ensure_finalizers(self, keys: list[Key]) -> None:
        async def add(key: Key) -> None:
            body = self.users[key]
            fins = finalizers_of(body)
            if await self.kube.add_finalizer(names.USER_PLURAL, key[0], key[1], fins, names.USER_FINALIZER):
                body["metadata"]["finalizers"] = [*fins, names.USER_FINALIZER]
                self._handled[key] = _relevant(body)

        await asyncio.gather(*(add(k) for k in keys))

    async def _release(self, key: Key, note: tuple[str, str, str] | None) -> None:
        body = self.users.get(key)
        if body is None:
            return
        if note is not None:
            await self.kube.post_event(body, *note)
        if await self.kube.remove_finalizer(names.USER_PLURAL, key[0], key[1], finalizers_of(body),
                                            names.USER_FINALIZER):
            log.info("Released user=%s/%s", *key)

    async def _apply_verdict(self, key: Key, verdict: Verdict, w: _Work | None) -> None:
        body = self.users.get(key)
        if body is None:
            return
        old = body.get("status") or {}
        generation = body["metadata"].get("generation")
        cond = build_condition(old.get("conditions"), verdict.ready, verdict.reason, verdict.message, generation,
                               self.controller.clock())
        status: dict[str, Any] = {
            "observedGeneration": generation,
            "conditions": set_condition(old.get("conditions"), cond),
            "userName": _user_name(body),
            "secretName": secret_name_of(key[1]) if verdict.ready or old.get("secretName") else None,
            "acls": w.acls if w is not None and w.acls is not None else old.get("acls"),
        }
        status = {k: v for k, v in status.items() if v is not None}
        if is_news(verdict, find(old.get("conditions")), cond):
            await self.kube.post_event(body, "Warning", str(verdict.reason), verdict.message)
        if verdict.ready is not True:
            log.info("User not ready user=%s/%s reason=%s message=%r", key[0], key[1], verdict.reason,
                     verdict.message)
        if same_status(old, status):
            return
        patch = {**{k: None for k in old if k not in status}, **status}
        if await self.kube.patch_status(names.USER_PLURAL, key[0], key[1], patch):
            body["status"] = status


def _is_ours(secret: Mapping[str, Any], name: str) -> bool:
    """A Secret kto wrote for a KafkaUser of this name (also one of an earlier KafkaUser of the same name)."""
    return any(r.get("kind") == names.USER_KIND and r.get("name") == name
               and str(r.get("apiVersion", "")).startswith(f"{names.GROUP}/") for r in secret["ownerReferences"])


def _was_ready(body: Mapping[str, Any]) -> bool:
    status = body.get("status") or {}
    cond = find(status.get("conditions"))
    return (cond is not None and cond.get("status") == "True"
            and status.get("observedGeneration") == body["metadata"].get("generation"))
