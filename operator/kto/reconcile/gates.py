"""The gate: what the reconciler does with one resource before any Kafka call (pure).

Every kind goes through the same rules, in this order, each a named function tested by table
(``tests/unit/test_gates.py``). Kinds differ only by ``KindRules`` (their words, whether they can be paused
or observed) and by the facts the reconciler gathers for them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from kto.api import names
from kto.api.models import DeletionPolicy, KafkaClusterSpec
from kto.api.objects import (
    Key,
    cluster_key_of,
    finalizers_of,
    is_established,
    is_paused,
    is_unmanaged,
    was_in_sync,
)
from kto.api.reasons import EventReason, Reason
from kto.reconcile.cluster_state import ClusterState, Connected, Invalid, NotProbed, Probed, Unreachable, spec_of
from kto.reconcile.outcomes import (
    BACKOFF,
    Converge,
    Decision,
    Delete,
    Note,
    Observe,
    Release,
    Report,
    Retry,
    Revoke,
    Skip,
    Verdict,
)
from kto.reconcile.ownership import Claim

UNKNOWN_OWNER_UID = "(unknown: a KafkaCluster is not probed yet)"


@dataclass(frozen=True)
class KindRules:
    """What differs between kinds at the gate."""

    kind: str  # KafkaTopic
    noun: str  # topics
    thing: str  # Kafka topic
    retained_reason: EventReason  # the Event reason when deletionPolicy Retain releases a resource
    retained_what: str  # what was kept, after the thing's name (" " or ": credentials and ACLs ")
    allowed_field: str = "spec.allowedNamespaces"  # the KafkaCluster's list of namespaces that may use it
    pausable: bool = False  # honours kto.dev/paused
    observable: bool = False  # honours kto.dev/managed=false (observe only)
    revocable: bool = False  # what a narrowed grant no longer permits is removed (NotPermitted)


@dataclass(frozen=True)
class Gathered:
    """Everything the gate needs about one resource, gathered once per batch."""

    key: Key
    name: str  # the Kafka name the resource claims (topic or user name)
    cluster_ref: Key
    cluster: ClusterState | None  # None: the KafkaCluster does not exist
    spec: Any = None  # the parsed spec, None when invalid
    spec_error: str | None = None
    deleting: bool = False
    holds: bool = False  # carries kto's finalizer (it must be released; it proves nothing: a tenant can set it)
    established: bool = False  # its status records that it owns the Kafka name (objects.ownership_of)
    intended: bool = False  # kto's ledger (kto.ledger) says kto was creating the Kafka name for it
    kind_deleted: bool = False  # the kind's CustomResourceDefinition is being deleted (an uninstall)
    allowed: bool = True  # the cluster allows the resource's namespace
    owner: Claim | None = None  # the claim that owns the Kafka name (None: no claim is allowed)
    deletion_policy: DeletionPolicy = DeletionPolicy.DELETE  # Adopted: kept unless the resource says Delete
    paused: bool = False
    unmanaged: bool = False
    blocked: Verdict | None = None  # a permanent failure at this generation and broker count
    refusal: Verdict | None = None  # what the KafkaCluster forbids (a protected name, a grant a tenant lacks)
    in_sync: bool = False  # Ready/Reconciled at its current generation (status.was_in_sync)

    @property
    def owner_unknown(self) -> bool:
        return self.owner is not None and self.owner.uid == UNKNOWN_OWNER_UID

    @property
    def owns(self) -> bool:
        """kto's own records (status, or its ledger) say the resource owns the Kafka name it claims."""
        return self.established or self.intended

    @property
    def is_owner(self) -> bool:
        return self.owner is None or (self.owner.namespace, self.owner.name) == self.key


class KindFacts(Protocol):
    """What the gather step asks of a kind (pure): its finalizer, the name a resource claims, whether a
    KafkaCluster allows its namespace, what the KafkaCluster forbids it, and its deletion policy. A kind's
    adapter is its facts plus ``act``; ``kto plan`` uses the facts alone."""

    finalizer: str

    def claimed_name(self, body: Mapping[str, Any]) -> str: ...

    def allows(self, cluster: KafkaClusterSpec, cluster_namespace: str, namespace: str) -> bool: ...

    def check(self, key: Key, spec: Any, name: str, cluster: Probed) -> Verdict | None:
        """What the KafkaCluster forbids this resource (a protected name, a grant its namespace lacks)."""

    def deletion_policy(self, spec: Any, cluster: KafkaClusterSpec | None, body: Mapping[str, Any]
                        ) -> DeletionPolicy: ...


def gather(facts: KindFacts, key: Key, body: Mapping[str, Any], spec: Any, spec_error: str | None,
           cluster: ClusterState | None, owner: Callable[[str], Claim | None], *, intended: bool = False,
           kind_deleted: bool = False, blocked: Verdict | None = None) -> Gathered:
    """Everything the gate needs about one resource, read from its object and its KafkaCluster's state: the one
    gather of the operator's batch (``Reconciler.gather``) and of ``kto plan``. ``owner`` finds the claim that
    owns a Kafka name; ``intended`` (kto's ledger) and ``blocked`` (a permanent failure kto remembers) are the
    operator's own records."""
    meta = body["metadata"]
    ckey = cluster_key_of(body)
    cspec = spec_of(cluster)
    name = facts.claimed_name(body)
    # A cluster not probed yet decides nothing (the gate skips it), so nothing is checked against it.
    refusal = facts.check(key, spec, name, cluster) \
        if isinstance(cluster, Unreachable | Connected) and spec is not None else None
    return Gathered(
        key=key, name=name, cluster_ref=ckey, cluster=cluster, spec=spec, spec_error=spec_error, refusal=refusal,
        deleting=bool(meta.get("deletionTimestamp")), holds=facts.finalizer in finalizers_of(body),
        established=is_established(body), allowed=cspec is not None and facts.allows(cspec, ckey[0], key[0]),
        intended=intended, kind_deleted=kind_deleted, owner=owner(name) if cspec is not None else None,
        deletion_policy=facts.deletion_policy(spec, cspec, body) if spec is not None else DeletionPolicy.DELETE,
        paused=is_paused(body), unmanaged=is_unmanaged(body), blocked=blocked, in_sync=was_in_sync(body))


def prefix_refusal(thing: str, name: str, namespace: str, cluster: Probed) -> Verdict | None:
    """A tenant's name outside the prefixes its KafkaCluster requires of it (users.grants[].requiredNamePrefixes)."""
    if namespace == cluster.key[0]:
        return None
    required = cluster.spec.required_prefixes(namespace)
    if not required or any(name.startswith(p) for p in required):
        return None
    return Verdict(False, Reason.NOT_PERMITTED, f"{thing} {name}: KafkaCluster {cluster.key[0]}/{cluster.key[1]} "
                   f"requires the names of namespace {namespace} to start with {' or '.join(sorted(required))} "
                   "(users.grants[].requiredNamePrefixes): rename it")


def decide(g: Gathered, rules: KindRules) -> Decision:
    """The first rule that applies decides."""
    if g.deleting:
        return decide_deletion(g, rules)
    for check in _RULES:
        decision = check(g, rules)
        if decision is not None:
            return decision
    return Converge()


def decide_deletion(g: Gathered, rules: KindRules) -> Decision:
    if not g.holds:
        return Skip()  # not ours to hold up
    if g.kind_deleted:
        return Release(Note("Warning", EventReason.KIND_DELETED, f"the {rules.kind} CustomResourceDefinition is being "
                            f"deleted: finalizer released, {rules.thing} {g.name} was not deleted"),
                       detail=f"{rules.kind} CRD deleted: {rules.thing} {g.name} left in Kafka")
    for check in _DELETION_RULES:
        decision = check(g, rules)
        if decision is not None:
            return decision
    return Delete()


# --- The rules, in order --------------------------------------------------------------------------------

Rule = Callable[[Gathered, KindRules], Decision | None]


def invalid_spec(g: Gathered, rules: KindRules) -> Decision | None:
    if g.spec is None:
        return Report(Verdict(False, Reason.INVALID_SPEC, f"invalid spec: {g.spec_error}"))
    return None


def cluster_usable(g: Gathered, rules: KindRules) -> Decision | None:
    """A missing cluster, one not probed yet (skip: its first probe enqueues everything), an invalid
    cluster spec, a namespace the cluster does not allow."""
    ns, name = g.cluster_ref
    match g.cluster:
        case None:
            return Report(Verdict(False, Reason.CLUSTER_NOT_FOUND,
                                  f"KafkaCluster {ns}/{name} does not exist: create it or fix spec.clusterRef"))
        case NotProbed():
            return Skip()
        case Invalid(error=error):
            return Report(Verdict(False, Reason.CLUSTER_NOT_READY,
                                  f"KafkaCluster {ns}/{name} has an invalid spec: {error}"))
    if not g.allowed:
        verdict = Verdict(
            False, Reason.NAMESPACE_NOT_ALLOWED,
            f"KafkaCluster {ns}/{name} does not allow {rules.noun} from namespace {g.key[0]}: add it to the "
            f"cluster's {rules.allowed_field}, or use a cluster in this namespace")
        # What kto gave this resource while its namespace was allowed is taken back.
        return Revoke(verdict) if rules.revocable and g.established else Report(verdict)
    return None


def forbidden(g: Gathered, rules: KindRules) -> Decision | None:
    """A protected name, or ACLs the resource's namespace may not grant: nothing of it is applied. What kto
    applied before the grant was narrowed is revoked (the kind removes only what is refused now)."""
    if g.refusal is None:
        return None
    if rules.revocable and g.established and g.refusal.reason == Reason.NOT_PERMITTED:
        return Revoke(g.refusal)
    return Report(g.refusal)


def conflict(g: Gathered, rules: KindRules) -> Decision | None:
    owner = g.owner
    if owner is None or g.is_owner:
        return None
    if g.owner_unknown:
        return _WAIT_FOR_PROBES
    ns, name = g.cluster_ref
    via = "" if owner.cluster == g.cluster_ref else \
        f" (through KafkaCluster {owner.cluster[0]}/{owner.cluster[1]}, which reaches the same Kafka cluster)"
    if owner.claimed and owner.claimed != g.name:
        return Report(Verdict(
            False, Reason.RESOURCE_CONFLICT,
            f"{rules.thing} {g.name} on cluster {ns}/{name} collides with {owner.claimed}, claimed by {rules.kind} "
            f"{owner.namespace}/{owner.name}{via}: Kafka treats '.' and '_' in topic names alike; choose another "
            "name. This resource is ignored and deleting it will not touch Kafka"))
    return Report(Verdict(
        False, Reason.RESOURCE_CONFLICT,
        f"{rules.thing} {g.name} on cluster {ns}/{name} is already managed by {rules.kind} "
        f"{owner.namespace}/{owner.name}{via}: this resource is ignored and deleting it will not touch Kafka"))


def paused(g: Gathered, rules: KindRules) -> Decision | None:
    if rules.pausable and g.paused:
        return Report(Verdict(None, Reason.PAUSED, f"reconciliation is paused by the annotation "
                              f"{names.ANNOTATION_PAUSED}; remove it to resume", keep=True))
    return None


def cluster_ready(g: Gathered, rules: KindRules) -> Decision | None:
    """A cluster that cannot be reached now. A resource that was in sync keeps its status: the outage is the
    KafkaCluster's to report (its status and one Event), not one write and one Event per resource; the cluster's
    next probe looks at everything again. A resource waiting for a change says why it waits."""
    if isinstance(g.cluster, Connected):
        return None
    return Report(_not_ready(g, "", silent=g.in_sync))


def _not_ready(g: Gathered, doing: str, retry: Retry = None, silent: bool = False) -> Verdict:
    ns, name = g.cluster_ref
    return Verdict(False, Reason.CLUSTER_NOT_READY, f"{doing}KafkaCluster {ns}/{name} is not ready "
                   f"{_why_not_ready(g.cluster)}", keep=True, retry=retry, silent=silent)


def _why_not_ready(cluster: ClusterState | None) -> str:
    """The reason and message of a cluster that is not Connected (the earlier rules leave only Unreachable)."""
    match cluster:
        case Unreachable(reason=reason, message=message):
            return f"({reason}): {message}"
        case Invalid(error=error):
            return f"({Reason.INVALID_SPEC}): invalid spec: {error}"
        case NotProbed():
            return "(not probed yet)"
        case Connected():
            return f"({Reason.CONNECTED})"
    return f"({Reason.CLUSTER_NOT_FOUND})"


def observe_only(g: Gathered, rules: KindRules) -> Decision | None:
    return Observe() if rules.observable and g.unmanaged else None


def blocked(g: Gathered, rules: KindRules) -> Decision | None:
    return Report(g.blocked) if g.blocked is not None else None


_RULES: tuple[Rule, ...] = (invalid_spec, cluster_usable, forbidden, conflict, paused, cluster_ready, observe_only,
                           blocked)


# --- Deletion rules, in order --------------------------------------------------------------------------


def cluster_gone(g: Gathered, rules: KindRules) -> Decision | None:
    """A vanished cluster never blocks a deletion: release with a warning. One not probed yet: wait."""
    match g.cluster:
        case None:
            ns, name = g.cluster_ref
            return Release(Note("Warning", Reason.CLUSTER_NOT_FOUND,
                                f"KafkaCluster {ns}/{name} no longer exists: finalizer released, {rules.thing} "
                                f"{g.name} was not deleted"))
        case NotProbed():
            return Skip()  # its first probe enqueues everything of the cluster
    return None


def invalid_spec_kept(g: Gathered, rules: KindRules) -> Decision | None:
    """An invalid spec keeps the Kafka object, except what kto gave a user: access never outlives its resource."""
    if g.spec is None and not (rules.revocable and g.established):
        return Release(Note("Warning", Reason.INVALID_SPEC,
                            f"invalid spec: {rules.thing} {g.name} was not deleted"))
    return None


def protected_kept(g: Gathered, rules: KindRules) -> Decision | None:
    """A protected name is never deleted, whoever asks."""
    if g.refusal is not None and g.refusal.reason == Reason.PROTECTED:
        return Release(Note("Warning", Reason.PROTECTED, f"{g.refusal.message}; {rules.thing} {g.name} was "
                            "not deleted"))
    return None


def observed_only_kept(g: Gathered, rules: KindRules) -> Decision | None:
    return Release() if rules.observable and g.unmanaged else None


def paused_kept(g: Gathered, rules: KindRules) -> Decision | None:
    if rules.pausable and g.paused:
        return Release(Note("Warning", Reason.PAUSED, f"deleted while paused: {rules.thing} {g.name} was not "
                            "deleted"))
    return None


def not_ours_kept(g: Gathered, rules: KindRules) -> Decision | None:
    """Not allowed on the cluster, or another resource owns the name: Kafka is not touched. A user kto gave
    access while its namespace was allowed is the exception: that access is taken back."""
    if isinstance(g.cluster, Invalid):
        return Release()
    if not g.allowed and not (rules.revocable and g.established):
        return Release()
    if g.owner_unknown:
        return _WAIT_FOR_PROBES
    return None if g.is_owner else Release()


def unowned_kept(g: Gathered, rules: KindRules) -> Decision | None:
    """kto has no record that the resource owns its Kafka name (status or ledger): its finalizer (which anyone
    can set) is released and Kafka is not touched."""
    if g.owns:
        return None
    return Release(detail=f"kto has no record of owning {rules.thing} {g.name} for this resource: not deleted")


# Another KafkaCluster, which may reach the same brokers, has not been probed even once: its claims count too.
_WAIT_FOR_PROBES = Report(Verdict(False, Reason.CLUSTER_NOT_READY, "waiting for every KafkaCluster's first probe",
                                  retry=1.0, silent=True))


def retained(g: Gathered, rules: KindRules) -> Decision | None:
    kept = f"{rules.thing} {g.name}{rules.retained_what}kept"
    if g.deletion_policy == DeletionPolicy.RETAIN:
        return Release(Note("Normal", rules.retained_reason, f"{kept} (deletionPolicy Retain)"))
    if g.deletion_policy == DeletionPolicy.ADOPTED:
        return Release(Note("Normal", rules.retained_reason, f"{kept}: kto adopted it, and this resource does not "
                            "itself say deletionPolicy: Delete"))
    return None


def wait_for_cluster(g: Gathered, rules: KindRules) -> Decision | None:
    """The user asked for a deletion: wait for the cluster rather than skip it."""
    if isinstance(g.cluster, Connected):
        return None
    return Report(_not_ready(g, f"waiting to delete {rules.thing} {g.name}: ", retry=BACKOFF))


_DELETION_RULES: tuple[Rule, ...] = (cluster_gone, invalid_spec_kept, protected_kept, observed_only_kept, paused_kept,
                                     not_ours_kept, unowned_kept, retained, wait_for_cluster)
