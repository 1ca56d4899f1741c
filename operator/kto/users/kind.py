"""KafkaUser as a kind of the reconciler: SCRAM credentials, ACLs, client quotas and the Secret an application
mounts.

A batch of users costs one DescribeUserScramCredentials, at most two AlterUserScramCredentials (the upserts,
then the other mechanisms' deletions: Kafka refuses to alter one user twice in one request), one DescribeAcls
(the whole cluster's, grouped by principal), at most one CreateAcls and one DeleteAcls, and, when a user of the
batch has client quotas in its spec or status, one DescribeClientQuotas (two when a tenant's user has quotas:
the defaults are read again to cap them) and at most one AlterClientQuotas; what differs is decided by the pure
``kto.users.access`` and ``kto.api.quotas``.

Passwords are read from Secrets, sent to Kafka and written into the application's Secret; they are never
logged, put in status, annotations or Events (a hash of the applied credential sits on the application's
Secret, which holds the password anyway, so a rotation is noticed without a restart).
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from kto.api import names
from kto.api.domain import Acl, KafkaFailure
from kto.api.models import KafkaUserSpec, KafkaUserStatus
from kto.api.objects import ADOPTED, CREATED, Key, annotation, ownership_of, was_in_sync
from kto.api.quotas import (
    QuotaChange,
    above_defaults,
    describe_quota_change,
    desired_quotas,
    drifted,
    plan_quotas,
    recorded_quotas,
    status_quotas,
)
from kto.api.reasons import EventReason, Reason
from kto.kafka.connection import not_marked_message
from kto.kube.client import KubeClient
from kto.reconcile.cluster_state import Connected
from kto.reconcile.engine import Guard, Item, KindInfo
from kto.reconcile.outcomes import BACKOFF, FINALIZER_PENDING, Converge, Delete, Note, Outcome, Release, Revoke, Verdict
from kto.telemetry import metrics
from kto.users.access import (
    PASSWORD_KEY,
    RECORD_SCHEME,
    RULES,
    AclPlan,
    TopicOwner,
    UserFacts,
    application_secret_data,
    credential_matches,
    credential_record,
    describe_acl_plan,
    describe_existing_user,
    desired_acls,
    not_permitted,
    plan_acls,
    principal,
    refused_acls,
    scram_changes,
    secret_name_of,
)

ADOPT_SETTLE_SECONDS = 0.2  # an adopted user is looked at again soon, to add kto's finalizer and apply the spec


@dataclass
class _Work:
    """One user converging in this batch."""

    key: Key
    body: Mapping[str, Any]
    spec: KafkaUserSpec
    user: str
    secret: dict[str, Any] | None = None  # the application's Secret as it is now
    password: str | None = None
    record: str | None = None  # the salted record of the credential the spec asks for (users.credential_record)
    acls: int | None = None  # ACLs of the spec in place on the brokers
    ours: bool = False  # kto made (or adopted) this Kafka user for this resource
    holds: bool = False  # the resource carries kto's finalizer
    quotas: dict[str, float] | None = None  # the client quotas of the spec in place on the brokers

    def credential(self) -> tuple[str, str]:
        """The password and the record of the credential applied, once both are known (``_read_password``,
        then ``_credential_change``, have run for every user still pending)."""
        if self.password is None or self.record is None:
            raise RuntimeError(f"Kafka user {self.user}: its credential is not known yet")
        return self.password, self.record


class UserKind(UserFacts):
    rules = RULES
    info = KindInfo(names.USER_PLURAL, names.USER_FINALIZER, "user", metrics.USER_READY, KafkaUserSpec,
                    KafkaUserStatus, "userName", sticky_fields=("secretName", "acls", "adopted", "quotas", "ownership"),
                    info_gauge=metrics.USER_INFO)

    def __init__(self, kube: KubeClient, topic_owner: TopicOwner = lambda cluster, topic: None):
        super().__init__(topic_owner)
        self.kube = kube
        self.applied: dict[tuple[Key, str], str] = {}  # (cluster, user) -> record of the credential last applied
        self._verified: dict[tuple[str, bytes], bool] = {}  # (record, digest of the credential) -> it matches

    def matches(self, record: str | None, user: str, mechanism: str, password: str) -> bool:
        """``credential_matches``, remembered: the record's key stretching costs milliseconds, and every resync
        asks again. Only a digest of the credential is kept here, in memory, never written anywhere."""
        if not record:
            return False
        digest = hashlib.sha256(f"{mechanism}\0{user}\0{password}".encode()).digest()
        known = self._verified.get((record, digest))
        if known is None:
            known = self._verified[(record, digest)] = credential_matches(record, user, mechanism, password)
        return known

    async def act(self, cluster: Connected, items: dict[Key, Item], guard: Guard) -> dict[Key, Outcome]:
        out: dict[Key, Outcome] = {}
        work = {k: _Work(k, i.body, i.gathered.spec, i.gathered.name, holds=i.gathered.holds, ours=i.gathered.owns)
                for k, i in items.items() if isinstance(i.decision, Converge)}
        if work:
            out |= await UserBatch(self, cluster, work, guard).run()
        deletions = {k: i.gathered.name for k, i in items.items() if isinstance(i.decision, Delete)}
        if deletions:
            out |= await self.delete(cluster, deletions, {k: recorded_quotas(items[k].body.get("status"))
                                                          for k in deletions})
        revocations = {k: i for k, i in items.items() if isinstance(i.decision, Revoke)}
        if revocations:
            out |= await self.revoke(cluster, revocations)
        return out

    async def revoke(self, cluster: Connected, items: dict[Key, Item]) -> dict[Key, Outcome]:
        """Users kto gave access that their namespace may no longer have (only users whose status records that
        they own their principal get here): a namespace no longer allowed loses all of it (credentials, ACLs,
        the quotas kto set); a narrowed grant loses the bindings of the rules it no longer permits."""
        whole = {k: i for k, i in items.items() if revoked(i).reason == Reason.NAMESPACE_NOT_ALLOWED}
        out = await self._revoke_all(cluster, whole) if whole else {}
        narrowed = {k: i for k, i in items.items() if k not in whole}
        return out | (await self._revoke_rules(cluster, narrowed) if narrowed else {})

    async def _revoke_all(self, cluster: Connected, items: dict[Key, Item]) -> dict[Key, Outcome]:
        deleted = await self.delete(cluster, {k: i.gathered.name for k, i in items.items()},
                                    {k: recorded_quotas(i.body.get("status")) for k, i in items.items()})
        out: dict[Key, Outcome] = {}
        for key, item in items.items():
            outcome, verdict = deleted[key], revoked(item)
            if isinstance(outcome, Verdict):
                out[key] = outcome
                continue
            out[key] = replace(verdict, status={"ownership": None, "acls": 0, "quotas": None, "adopted": None},
                               message=f"{verdict.message}. The access kto gave Kafka user {item.gathered.name} "
                               "(credentials, ACLs, quotas) is revoked",
                               notes=(Note("Warning", EventReason.ACCESS_REVOKED, f"Kafka user {item.gathered.name}: "
                                           f"credentials, ACLs and quotas revoked: namespace {key[0]} is no longer "
                                           "allowed to have users on the cluster"),))
        return out

    async def _revoke_rules(self, cluster: Connected, items: dict[Key, Item]) -> dict[Key, Outcome]:
        refused = {k: refused_acls(i.gathered.spec, k[0], cluster.spec.grants_for(k[0]),
                                   lambda topic: self.topic_owner(cluster, topic)) for k, i in items.items()}
        observed = await cluster.gateway.describe_acls()
        if isinstance(observed, KafkaFailure):
            return {k: user_failure(observed) for k in items}
        revoke = {principal(i.gathered.name): sorted(refused[k] & observed.get(principal(i.gathered.name), set()))
                  for k, i in items.items()}
        failed = await cluster.gateway.delete_acls({p: acls for p, acls in revoke.items() if acls})
        out: dict[Key, Outcome] = {}
        for key, item in items.items():
            p = principal(item.gathered.name)
            if (failure := failed.get(p)) is not None:
                out[key] = user_failure(failure)
                continue
            verdict = revoked(item)
            out[key] = replace(verdict, message=verdict.message + ". The bindings of these rules that kto applied "
                               "before the grant was narrowed are revoked",
                               notes=(Note("Warning", EventReason.ACLS_REVOKED, f"Kafka user {item.gathered.name}: "
                                           f"{len(revoke[p])} ACL binding(s) revoked: namespace {key[0]} may no "
                                           "longer grant them"),) if revoke[p] else ())
        return out

    async def delete(self, cluster: Connected, deletions: dict[Key, str],
                     quotas: Mapping[Key, set[str]] | None = None) -> dict[Key, Outcome]:
        """The credentials (the mechanisms that exist), every ACL of each principal, and the client quotas kto
        set for it (``quotas``: the keys recorded in each resource's status)."""
        gateway = cluster.gateway
        failures, removals = scram_removals(deletions, await gateway.describe_scram(sorted(set(deletions.values()))))
        altered = await gateway.alter_scram([], removals)
        acls = await gateway.delete_acls({principal(u): None for k, u in deletions.items() if k not in failures})
        removed = await gateway.alter_user_quotas([QuotaChange(u, {}, tuple(sorted((quotas or {}).get(k, ()))))
                                                   for k, u in deletions.items() if k not in failures])
        return {key: self._deleted(cluster, user, failures.get(key) or altered.get(user) or acls.get(principal(user))
                                   or removed.get(user)) for key, user in deletions.items()}

    def _deleted(self, cluster: Connected, user: str, failure: KafkaFailure | None) -> Outcome:
        if failure is not None and failure.reason == Reason.AUTHORIZER_NOT_ENABLED:
            failure = None  # no authorizer: there are no ACLs to delete
        if failure is not None:
            return Verdict(False, failure.reason, f"deleting Kafka user {user} failed: {failure.message}",
                           retry=BACKOFF)
        self.applied.pop((cluster.key, user), None)
        return Release(Note("Normal", EventReason.USER_DELETED,
                            f"Kafka user {user}: credentials, ACLs and the quotas kto set "
                            "deleted (deletionPolicy Delete)"))


def scram_removals(deletions: Mapping[Key, str], existing: Mapping[str, Mapping[str, int] | KafkaFailure | None]
                   ) -> tuple[dict[Key, KafkaFailure], list[tuple[str, str]]]:
    """The users whose credentials could not be described (by resource), and the (user, mechanism) pairs to
    delete for the others."""
    failures: dict[Key, KafkaFailure] = {}
    removals: list[tuple[str, str]] = []
    for key, user in deletions.items():
        seen = existing.get(user)
        if isinstance(seen, KafkaFailure):
            failures[key] = seen
        else:
            removals += [(user, m) for m in sorted(seen or {})]
    return failures, removals


def revoked(item: Item) -> Verdict:
    """The verdict of a ``Revoke`` decision (``UserKind.revoke`` is given no other)."""
    if not isinstance(item.decision, Revoke):
        raise TypeError(f"not a revocation: {item.decision!r}")
    return item.decision.verdict


# Kafka's name for an unauthenticated client: in super.users on many clusters, never a tenant's.
def user_failure(failure: KafkaFailure, **fields: Any) -> Verdict:
    """Retried with backoff when retrying can help; a missing authorizer is looked at again at the resync."""
    retry = BACKOFF if failure.retriable and failure.reason != Reason.AUTHORIZER_NOT_ENABLED else None
    return Verdict(False, failure.reason, failure.message, retry=retry, **fields)


class UserBatch:
    """The converging users of one batch: what Kafka has (and whether kto may take it over), then credentials,
    the application's Secret, and ACLs."""

    def __init__(self, kind: UserKind, cluster: Connected, work: dict[Key, _Work], guard: Guard):
        self.kind = kind
        self.kube = kind.kube
        self.cluster = cluster
        self.gateway = cluster.gateway
        self.work = work
        self.guard = guard
        self.out: dict[Key, Verdict] = {}
        self.rotated: set[Key] = set()
        self.existing: Mapping[str, Any] = {}  # user -> mechanisms and iterations, None, or a failure
        self.observed: Mapping[str, set[Acl]] | KafkaFailure = {}  # the cluster's ACLs by principal

    def _pending(self) -> dict[Key, _Work]:
        return {k: w for k, w in self.work.items() if k not in self.out}

    async def run(self) -> dict[Key, Outcome]:
        await asyncio.gather(*(self._read_password(w) for w in self.work.values()))
        await self._cap_quotas()
        if self._pending():
            self.existing, self.observed = await asyncio.gather(
                self.gateway.describe_scram(sorted({w.user for w in self._pending().values()})),
                self.gateway.describe_acls())
            for w in self._pending().values():
                if not w.ours:
                    self._adoption(w)
            pending = self._pending()
            for key in await self.guard([k for k, w in pending.items() if not w.holds],
                                        [k for k, w in pending.items() if not w.ours]):
                self.out[key] = FINALIZER_PENDING
        if self._pending():
            await self._credentials()
            await asyncio.gather(*(self._write_secret(w) for w in self._pending().values()))
            drift = self._acls_drift(await self._acls())
            quota_drift = await self._quotas()
            for key, w in self._pending().items():
                self.out[key] = self._ready(w, drift.get(key), quota_drift.get(key))
        return dict(self.out)

    def _adoption(self, w: _Work) -> None:
        """A Kafka user kto did not make for this resource: go on when nothing of it exists; record the adoption
        first (next pass applies) when the resource says overwrite or its ACLs are exactly the spec's and it has
        no credential; else refuse, saying what exists."""
        creds = self.existing.get(w.user)
        acls = self.observed.get(principal(w.user), set()) if isinstance(self.observed, dict) else set()
        if isinstance(creds, KafkaFailure) or (not creds and not acls):
            return
        what = describe_existing_user(creds or {}, acls)
        if creds and w.key[0] != self.cluster.key[0]:
            self.out[w.key] = Verdict(
                False, Reason.ADOPTION_REQUIRED,
                f"Kafka user {w.user} already exists ({what}) and kto did not create it for this resource: only a "
                f"KafkaUser in the KafkaCluster's namespace {self.cluster.key[0]} may take over a user that has "
                "credentials; choose another spec.userName")
            return
        if annotation(w.body, names.ANNOTATION_ADOPT) == names.ADOPT_OVERWRITE or \
                (not creds and set(acls) == set(desired_acls(w.spec))):
            self.out[w.key] = Verdict(False, Reason.ADOPTING, f"taking over the existing Kafka user {w.user} ({what})",
                                      status={"adopted": True, "ownership": ADOPTED}, retry=ADOPT_SETTLE_SECONDS,
                                      notes=(Note("Normal", EventReason.USER_ADOPTED,
                                                  f"Kafka user {w.user} existed ({what}): "
                                                  "kto manages it now, as the resource says"),))
            return
        self.out[w.key] = Verdict(
            False, Reason.ADOPTION_REQUIRED,
            f"Kafka user {w.user} already exists ({what}) and kto did not create it for this resource: kto would "
            f"replace its credentials and ACLs with the spec's. If this resource is meant to manage it, annotate it "
            f"{names.ANNOTATION_ADOPT}={names.ADOPT_OVERWRITE}; otherwise choose another spec.userName")

    async def _cap_quotas(self) -> None:
        """Tenants' quotas against the defaults Kafka has right now (one DescribeClientQuotas, only for a batch
        with a tenant's quota): the gate compared them with the last probe's, and a default set by hand since
        must not let a quota above it through."""
        tenants = {k: w for k, w in self._pending().items()
                   if w.spec.quotas is not None and k[0] != self.cluster.key[0]}
        if not tenants:
            return
        live = await self.gateway.describe_user_quotas(default=True)
        for key, w in tenants.items():
            if isinstance(live, KafkaFailure):
                self.out[key] = user_failure(live)
                continue
            refused = above_defaults(w.spec.quotas, self.cluster.spec.defaultUserQuotas, live.get(None, {}))
            if refused:
                self.out[key] = not_permitted(key, self.cluster, refused)

    async def _read_password(self, w: _Work) -> None:
        ns, name = w.key
        secret_name = secret_name_of(name)
        w.secret = await self.kube.read_secret_object(ns, secret_name)
        if w.secret is not None and not _is_ours(w.secret, name):
            self.out[w.key] = Verdict(False, Reason.RESOURCE_CONFLICT,
                                      f"Secret {secret_name} exists and was not written by kto for this KafkaUser: "
                                      "delete or rename it, kto writes the user's credentials there",
                                      retry=BACKOFF)  # looked at again: deleting the Secret ends it
            return
        ref = w.spec.authentication.passwordSecretRef
        if ref is None:
            current = (w.secret or {}).get("data", {}).get(PASSWORD_KEY)
            w.password = current.decode(errors="replace") if current else secrets.token_urlsafe(24)
            return
        secret = await self.kube.read_secret(ns, ref.name)
        key = ref.key or PASSWORD_KEY
        if secret is not None and not secret.marked:
            self.out[w.key] = Verdict(False, Reason.SECRET_NOT_MARKED, not_marked_message(ref.name, "the password "
                                      "of spec.authentication.passwordSecretRef"), retry=BACKOFF)
            return
        if secret is None or key not in secret.data:
            what = f"Secret {ref.name} does not exist" if secret is None else f"Secret {ref.name} has no key {key!r}"
            self.out[w.key] = Verdict(False, Reason.SECRET_NOT_FOUND, f"{what} (spec.authentication."
                                      "passwordSecretRef): create it in the KafkaUser's namespace", retry=BACKOFF)
            return
        try:
            w.password = secret.data[key].decode()
        except UnicodeDecodeError:
            w.password = None
        if not w.password:
            self.out[w.key] = Verdict(False, Reason.INVALID_SPEC, f"Secret {ref.name} key {key!r} is empty or not "
                                      "UTF-8 text", retry=BACKOFF)

    async def _credentials(self) -> None:
        """Upserts in one request, then the other mechanisms' deletions in a second (Kafka refuses to alter one
        user twice in one request)."""
        upserts: list[tuple[str, str, str]] = []
        deletions: list[tuple[str, str]] = []
        for key, w in self._pending().items():
            seen = self.existing.get(w.user)
            if isinstance(seen, KafkaFailure):
                self.out[key] = user_failure(seen)
                continue
            upsert, stale = self._credential_change(key, w, seen)
            upserts += [upsert] if upsert else []
            deletions += [(w.user, m) for m in stale]
        altered = await self.gateway.alter_scram(upserts, []) if upserts else {}
        failed = {u for u, f in altered.items() if f is not None}
        removed = await self.gateway.alter_scram([], [d for d in deletions if d[0] not in failed]) if deletions else {}
        for key, w in self._pending().items():
            failure = altered.get(w.user) or removed.get(w.user)
            if failure is not None:
                self.out[key] = user_failure(failure)
            else:
                self.kind.applied[(self.cluster.key, w.user)] = w.credential()[1]

    def _credential_change(self, key: Key, w: _Work, seen: Mapping[str, int] | None
                           ) -> tuple[tuple[str, str, str] | None, tuple[str, ...]]:
        """The upsert the user's credential needs (None: it is in place) and the other mechanisms to delete;
        records the credential applied and whether this is a rotation."""
        mech, password = w.spec.authentication.mechanism, w.password or ""
        applied = (w.secret or {}).get("annotations", {}).get(names.ANNOTATION_CREDENTIAL_HASH) \
            or self.kind.applied.get((self.cluster.key, w.user))
        matches = self.kind.matches(applied, w.user, mech, password)
        upsert, stale = scram_changes(mech, seen, matches)
        w.record = applied if matches else credential_record(w.user, mech, password)
        if upsert and applied and applied.startswith(RECORD_SCHEME) and not matches and seen and mech in seen:
            self.rotated.add(key)
        return ((w.user, mech, password) if upsert else None), stale

    async def _write_secret(self, w: _Work) -> None:
        """The application's Secret, once the brokers accept its credential."""
        ns, name = w.key
        spec = self.cluster.spec
        password, record = w.credential()
        data = application_secret_data(w.user, password, w.spec.authentication.mechanism, spec.bootstrapServers,
                                       spec.protocol)
        meta = w.body["metadata"]
        owner = [{"apiVersion": names.API_VERSION, "kind": names.USER_KIND, "name": name, "uid": meta.get("uid"),
                  "controller": True, "blockOwnerDeletion": False}]
        annotations = {names.ANNOTATION_CREDENTIAL_HASH: record}
        labels = {"app.kubernetes.io/managed-by": names.COMPONENT, f"{names.PREFIX}/kafkauser": name}
        current = w.secret
        if current is not None and {k: v.decode(errors="replace") for k, v in current["data"].items()} == data \
                and current["annotations"].get(names.ANNOTATION_CREDENTIAL_HASH) == record \
                and [r.get("uid") for r in current["ownerReferences"]] == [meta.get("uid")]:
            return
        keep = {k: v for k, v in (current or {}).get("annotations", {}).items()
                if k != names.ANNOTATION_CREDENTIAL_HASH}
        await self.kube.write_secret(ns, secret_name_of(name), data, keep | annotations,
                                     (current or {}).get("labels", {}) | labels, owner, exists=current is not None)

    async def _acls(self) -> Mapping[str, KafkaFailure | None]:
        """One create and one delete for the batch, from the ACLs described at the start; the failures by
        principal."""
        work = self._pending()
        if isinstance(self.observed, KafkaFailure):
            return {}
        plans = {k: plan_acls(desired_acls(w.spec), self.observed.get(principal(w.user), ())) for k, w in work.items()}
        made, removed = await asyncio.gather(
            self.gateway.create_acls({principal(work[k].user): p.to_create for k, p in plans.items() if p.to_create}),
            self.gateway.delete_acls({principal(work[k].user): p.to_delete for k, p in plans.items() if p.to_delete}))
        return {p: made.get(p) or removed.get(p) for p in made.keys() | removed.keys()}

    def _acls_drift(self, failed: Mapping[str, KafkaFailure | None]) -> dict[Key, str]:
        """Verdicts for the users whose ACLs failed; the drift corrected, by user."""
        work = self._pending()
        desired = {k: desired_acls(w.spec) for k, w in work.items()}
        if isinstance(self.observed, KafkaFailure):
            for key, w in work.items():
                if self.observed.reason == Reason.AUTHORIZER_NOT_ENABLED and not desired[key]:
                    w.acls = 0  # nothing to authorize: no authorizer is fine
                else:
                    self.out[key] = user_failure(self.observed)
            return {}
        plans = {k: plan_acls(desired[k], self.observed.get(principal(w.user), ())) for k, w in work.items()}
        return self._acl_outcomes(work, desired, self.observed, plans, failed)

    def _acl_outcomes(self, work: dict[Key, _Work], desired: dict[Key, frozenset[Acl]],
                      observed: Mapping[str, set[Acl]], plans: dict[Key, AclPlan],
                      failed: Mapping[str, KafkaFailure | None]) -> dict[Key, str]:
        drift: dict[Key, str] = {}
        for key, plan in plans.items():
            w = work[key]
            failure = failed.get(principal(w.user))
            if failure is not None:
                in_place = len(desired[key] & set(observed.get(principal(w.user), ())))
                self.out[key] = user_failure(failure, status={"acls": in_place})
                continue
            w.acls = len(desired[key])
            if not plan.in_sync and was_in_sync(w.body):
                drift[key] = describe_acl_plan(plan)
        return drift

    async def _quotas(self) -> dict[Key, str]:
        """One DescribeClientQuotas and at most one AlterClientQuotas for the batch's users that have quotas in
        their spec or recorded in their status; the drift corrected, by user."""
        work = {k: w for k, w in self._pending().items()
                if w.spec.quotas is not None or recorded_quotas(w.body.get("status"))}
        if not work:
            return {}
        observed = await self.gateway.describe_user_quotas()
        if isinstance(observed, KafkaFailure):
            for key in work:
                self.out[key] = user_failure(observed)
            return {}
        recorded = {k: recorded_quotas(w.body.get("status")) for k, w in work.items()}
        plans = {k: plan_quotas(w.user, desired_quotas(w.spec.quotas), observed.get(w.user, {}), recorded[k])
                 for k, w in work.items()}
        failed = await self.gateway.alter_user_quotas(list(plans.values()))
        drift: dict[Key, str] = {}
        for key, plan in plans.items():
            w = work[key]
            if (failure := failed.get(w.user)) is not None:
                self.out[key] = user_failure(failure)
                continue
            w.quotas = desired_quotas(w.spec.quotas)
            corrected = drifted(plan, recorded[key])
            if not corrected.in_sync and was_in_sync(w.body):
                drift[key] = describe_quota_change(corrected, observed.get(w.user, {}))
        return drift

    def _ready(self, w: _Work, drift: str | None, quota_drift: str | None = None) -> Verdict:
        notes = []
        if w.key in self.rotated:
            notes.append(Note("Normal", EventReason.CREDENTIALS_ROTATED,
                              f"Kafka user {w.user}: password changed on the brokers"))
        if drift:
            notes.append(Note("Normal", EventReason.DRIFT_CORRECTED, f"Kafka user {w.user}: ACLs corrected: {drift}"))
        if quota_drift:
            notes.append(Note("Normal", EventReason.DRIFT_CORRECTED,
                              f"Kafka user {w.user}: quotas corrected: {quota_drift}"))
        n = w.acls or 0
        quotas = f", {len(w.quotas)} quota(s)" if w.quotas else ""
        return Verdict(True, Reason.RECONCILED,
                       f"Kafka user {w.user}: {w.spec.authentication.mechanism} credentials and {n} ACL(s){quotas} in "
                       f"place; Secret {secret_name_of(w.key[1])}",
                       status={"secretName": secret_name_of(w.key[1]), "acls": n,
                               "quotas": status_quotas(w.quotas or {}), "ownership": ownership_of(w.body) or CREATED},
                       drift="; ".join(d for d in (drift, quota_drift and f"quotas: {quota_drift}") if d) or None,
                       notes=tuple(notes))


def _is_ours(secret: Mapping[str, Any], name: str) -> bool:
    """A Secret kto wrote for a KafkaUser of this name (also one of an earlier KafkaUser of the same name)."""
    return any(r.get("kind") == names.USER_KIND and r.get("name") == name
               and str(r.get("apiVersion", "")).startswith(f"{names.GROUP}/") for r in secret["ownerReferences"])
