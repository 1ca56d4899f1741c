"""Users' access through confluent-kafka's AdminClient: SCRAM credentials and ACL bindings, batch-first and
idempotent like every call of the port (deleting what is not there is a success)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from typing import Any

from confluent_kafka import KafkaError
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    ResourcePatternType,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialAlteration,
    UserScramCredentialDeletion,
    UserScramCredentialUpsertion,
)

from kto.api.domain import SCRAM_ITERATIONS, Acl, KafkaFailure
from kto.kafka.admin import Admin, Outcome
from kto.kafka.chunking import MAX_BINDINGS, send_in_chunks
from kto.kafka.errors import classify, kafka_error_of


def acl_of(b: AclBinding) -> Acl:
    """kto's value of one of confluent-kafka's bindings (its enums by name; the BROKER resource is CLUSTER)."""
    restype = "CLUSTER" if b.restype == ResourceType.BROKER else _name(b.restype)
    return Acl(restype, b.name, _name(b.resource_pattern_type), b.host, _name(b.operation),
               _name(b.permission_type))


def _name(value: Any) -> str:
    """An enum member's name (confluent-kafka types a binding's fields as the enum, a str or an int: what it
    reads back from the brokers are always its enums)."""
    return str(value.name)


def _binding(principal: str, acl: Acl) -> AclBinding:
    return AclBinding(_restype(acl), acl.name, ResourcePatternType[acl.pattern], principal, acl.host,
                      AclOperation[acl.operation], AclPermissionType[acl.permission])


def _binding_filter(principal: str, acl: Acl | None) -> AclBindingFilter:
    """The filter of one binding, or with ``None`` of every binding of the principal."""
    if acl is None:
        # confluent-kafka types these as str, but a filter's None is its documented "any".
        return AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, principal, None,  # type: ignore[arg-type]
                                AclOperation.ANY, AclPermissionType.ANY)
    return AclBindingFilter(_restype(acl), acl.name, ResourcePatternType[acl.pattern], principal, acl.host,
                            AclOperation[acl.operation], AclPermissionType[acl.permission])


def _restype(acl: Acl) -> ResourceType:
    return ResourceType.BROKER if acl.resource_type == "CLUSTER" else ResourceType[acl.resource_type]


def _mechanism(mech: str) -> ScramMechanism:
    return ScramMechanism[mech.replace("-", "_")]


class SecurityAdapter:
    """The SCRAM and ACL calls of the port, on one ``Admin``."""

    def __init__(self, admin: Admin):
        self.admin = admin

    async def describe_scram(self, users: Sequence[str]) -> dict[str, dict[str, int] | KafkaFailure | None]:
        """Each user's SCRAM mechanisms and iterations (``None``: no credentials). One request."""
        out: dict[str, dict[str, int] | KafkaFailure | None] = {}
        if not users:
            return out
        self.admin.count("describe_user_scram_credentials")
        try:
            futures = self.admin.client.describe_user_scram_credentials(
                list(users), request_timeout=self.admin.request_timeout)
        except Exception as exc:  # noqa: BLE001 - classified below
            failure = classify(exc, "describing SCRAM credentials")
            return {u: failure for u in users}
        assert isinstance(futures, dict)  # a future per user when users are named
        keys = list(futures)
        results = await self.admin.pending.gather([futures[k] for k in keys])
        for user, result in zip(keys, results, strict=True):
            if isinstance(result, BaseException):
                err = kafka_error_of(result)
                out[user] = None if err is not None and err.code() == KafkaError.RESOURCE_NOT_FOUND \
                    else classify(result, f"describing the SCRAM credentials of user {user}")
            else:
                out[user] = _mechanisms(result)
        return out

    async def list_scram_users(self) -> dict[str, dict[str, int]] | KafkaFailure:
        """Every user with SCRAM credentials: its mechanisms and iterations (one request)."""
        self.admin.count("describe_user_scram_credentials")
        future = self.admin.client.describe_user_scram_credentials(request_timeout=self.admin.request_timeout)
        assert isinstance(future, Future)  # one future for all users when none is named
        try:
            described = await self.admin.pending.track(future)
        except Exception as exc:  # noqa: BLE001 - classified below
            return classify(exc, "describing SCRAM credentials")
        return {user: _mechanisms(result) for user, result in described.items()}

    async def alter_scram(self, upserts: Sequence[tuple[str, str, str]],
                          deletions: Sequence[tuple[str, str]]) -> dict[str, Outcome]:
        """Upsert (user, mechanism, password) and delete (user, mechanism) credentials, in one request; the
        outcome per user. Deleting a credential that does not exist is a success."""
        alterations: list[UserScramCredentialAlteration] = [UserScramCredentialUpsertion(
            user, ScramCredentialInfo(_mechanism(mech), SCRAM_ITERATIONS), password.encode())
            for user, mech, password in upserts]
        alterations += [UserScramCredentialDeletion(user, _mechanism(mech)) for user, mech in deletions]
        if not alterations:
            return {}
        self.admin.count("alter_user_scram_credentials")
        try:
            futures = self.admin.client.alter_user_scram_credentials(alterations,
                                                                     request_timeout=self.admin.request_timeout)
        except Exception as exc:  # noqa: BLE001 - classified below
            failure = classify(exc, "altering SCRAM credentials")
            return {a.user: failure for a in alterations}
        # Kafka alters a user's credentials all or nothing: a missing one is no error only when all are deletions.
        return await self.admin.outcomes(futures, "setting the SCRAM credentials of user",
                                         ok_codes=() if upserts else (KafkaError.RESOURCE_NOT_FOUND,))

    async def describe_acls(self) -> dict[str, set[Acl]] | KafkaFailure:
        """Every ACL binding of the cluster, by principal (one request)."""
        self.admin.count("describe_acls")
        acl_filter = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, None, None,  # type: ignore[arg-type]
                                      AclOperation.ANY, AclPermissionType.ANY)
        try:
            bindings = await self.admin.pending.track(
                self.admin.client.describe_acls(acl_filter, request_timeout=self.admin.request_timeout))
        except Exception as exc:  # noqa: BLE001 - classified below
            return classify(exc, "listing ACLs", self.admin.mode)
        out: dict[str, set[Acl]] = {}
        for b in bindings:
            out.setdefault(b.principal, set()).add(acl_of(b))
        return out

    async def create_acls(self, acls: Mapping[str, Sequence[Acl]]) -> dict[str, Outcome]:
        """Create bindings, by principal; the first failure per principal. At most 1,000 bindings per request,
        and a principal's bindings stay in one request."""
        async def send(chunk: list[str]) -> dict[str, Outcome]:
            self.admin.count("create_acls")
            futures = self.admin.client.create_acls([_binding(p, a) for p in chunk for a in acls[p]],
                                                    request_timeout=self.admin.request_timeout)
            return await self._acl_outcomes(futures, "creating ACLs of")

        principals = [p for p, items in acls.items() if items]
        return await send_in_chunks(principals, lambda p: len(acls[p]), send, lambda p: p, limit=MAX_BINDINGS)

    async def delete_acls(self, acls: Mapping[str, Sequence[Acl] | None]) -> dict[str, Outcome]:
        """Delete the given bindings of each principal (``None``: every binding of the principal)."""
        def filters(p: str) -> list[AclBindingFilter]:
            items = acls[p]
            return [_binding_filter(p, None)] if items is None else [_binding_filter(p, a) for a in items]

        async def send(chunk: list[str]) -> dict[str, Outcome]:
            self.admin.count("delete_acls")
            futures = self.admin.client.delete_acls([f for p in chunk for f in filters(p)],
                                                    request_timeout=self.admin.request_timeout)
            return await self._acl_outcomes(futures, "deleting ACLs of")

        principals = [p for p, items in acls.items() if items is None or items]
        return await send_in_chunks(principals, lambda p: len(acls[p] or (None,)), send, lambda p: p,
                                    limit=MAX_BINDINGS)

    async def _acl_outcomes(self, futures: Mapping[Any, Future[Any]], what: str) -> dict[str, Outcome]:
        """The first failure per principal of one request's bindings (or filters)."""
        keys = list(futures)
        results = await self.admin.pending.gather([futures[k] for k in keys])
        out: dict[str, Outcome] = {}
        for key, result in zip(keys, results, strict=True):
            if isinstance(result, BaseException):
                out.setdefault(key.principal, classify(result, f"{what} {key.principal}", self.admin.mode))
            else:
                out.setdefault(key.principal, None)
        return out


def _mechanisms(description: Any) -> dict[str, int]:
    """A user's SCRAM mechanisms (``SCRAM-SHA-512``) and iterations, from confluent-kafka's description."""
    return {info.mechanism.name.replace("_", "-"): info.iterations for info in description.scram_credential_infos}
