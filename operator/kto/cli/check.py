"""``kto check``: can kto do its job on this Kafka cluster? Each step kto needs, tried for real through the
operator's own gateway (so failures read as kto's own messages), one line each: OK, or the exact failure.

Writes are made only to a scratch topic ``kto-check-<random>`` (and, where users are used, a scratch user of
the same name), which are deleted at the end. The name does not start with ``__``: kto treats those as Kafka's
internal topics and would refuse them.
"""

from __future__ import annotations

import argparse
import secrets
from dataclasses import dataclass

from kto.api import names
from kto.api.domain import Acl, AlterConfigs, ClusterFacts, ConfigChange, CreateTopic, KafkaFailure
from kto.api.objects import cluster_key_of
from kto.api.reasons import Reason
from kto.cli.connect import Target, gateway_of, kube_client, parse_key, target_of
from kto.kafka.gateway import KafkaGateway
from kto.users.access import principal

OK, FAIL, WARN, SKIP = "OK", "FAIL", "WARN", "SKIP"
SCRATCH_PREFIX = "kto-check-"


@dataclass(frozen=True)
class Line:
    status: str
    step: str
    detail: str


def format_lines(lines: list[Line]) -> str:
    return "".join(f"{line.status:<5} {line.step:<24} {line.detail}\n" for line in lines)


def format_json(lines: list[Line]) -> str:
    """The same lines for a program: ``{"ok": bool, "steps": [{"status", "step", "detail"}]}``."""
    import json

    return json.dumps({"ok": check_exit_code(lines) == 0,
                       "steps": [{"status": ln.status, "step": ln.step, "detail": ln.detail} for ln in lines]},
                      indent=2) + "\n"


READ_ONLY_SKIPPED = ("create topic", "alter topic configs", "delete topic")


def check_exit_code(lines: list[Line]) -> int:
    return 1 if any(line.status == FAIL for line in lines) else 0


def connection_lines(target: Target, described: ClusterFacts | KafkaFailure) -> list[Line]:
    """connect / authenticate / describe cluster, from how DescribeCluster went (pure)."""
    sasl = target.conf.get("sasl.mechanism")
    who = f"as {target.conf.get('sasl.username')} ({sasl})" if sasl else "not used (no SASL)"
    where = f"{target.conf['security.protocol']} to {target.conf['bootstrap.servers']}"
    if isinstance(described, ClusterFacts):
        return [Line(OK, "connect", where), Line(OK, "authenticate", who),
                Line(OK, "describe cluster", f"cluster id {described.cluster_id}, {described.brokers} broker(s), "
                                             f"controller {described.controller_id}")]
    failure = described
    if failure.reason == Reason.UNREACHABLE:
        return [Line(FAIL, "connect", failure.message)]
    if failure.reason == Reason.AUTHENTICATION_FAILED:
        return [Line(OK, "connect", where), Line(FAIL, "authenticate", failure.message)]
    return [Line(OK, "connect", where), Line(OK, "authenticate", who), Line(FAIL, "describe cluster", failure.message)]


def outcome_line(step: str, outcome: KafkaFailure | None, ok: str, required: bool = True) -> Line:
    if outcome is None:
        return Line(OK, step, ok)
    return Line(FAIL if required else WARN, step, outcome.message + ("" if required else
                                                                      " (needed only for KafkaUsers)"))


async def run_check(args: argparse.Namespace) -> tuple[list[Line], int]:
    target = await target_of(args)
    users = args.users or await users_in_use(args, target)
    gateway = gateway_of(target, request_timeout=args.timeout)
    try:
        facts = await gateway.describe_cluster()
        failure = facts if isinstance(facts, KafkaFailure) else None
        lines = connection_lines(target, facts)
        if failure is None and getattr(args, "read_only", False):
            lines += await read_only_lines(gateway)
        elif failure is None:
            lines += await topic_lines(gateway)
            lines += await user_lines(gateway, users)
    finally:
        gateway.close()
    return lines, check_exit_code(lines)


async def users_in_use(args: argparse.Namespace, target: Target) -> bool:
    """Whether KafkaUsers reference the KafkaCluster (then ACLs and SCRAM must work)."""
    if target.cluster is None:
        return False
    kube = kube_client(args)
    try:
        found = await kube.list_objects(names.USER_PLURAL, None, missing_ok=True) or []
    except Exception:  # noqa: BLE001 - not allowed to list them: assume none
        return False
    finally:
        kube.close()
    return any(cluster_key_of(u) == parse_key(args.cluster) for u in found)


async def read_only_lines(gateway: KafkaGateway) -> list[Line]:
    """--read-only: what can be checked without writing anything to Kafka."""
    listed = await gateway.list_topics()
    acls = await gateway.describe_acls()
    lines = [Line(FAIL, "describe topics", listed.message) if isinstance(listed, KafkaFailure)
             else Line(OK, "describe topics", f"{len(listed)} topic(s)")]
    if isinstance(acls, KafkaFailure) and acls.reason != Reason.AUTHORIZER_NOT_ENABLED:
        lines.append(Line(WARN, "describe ACLs", acls.message))
    else:
        lines.append(Line(OK, "describe ACLs", "no authorizer" if isinstance(acls, KafkaFailure) else
                          f"{sum(len(v) for v in acls.values())} binding(s)"))
    return lines + [Line(SKIP, step, "--read-only: nothing written") for step in READ_ONLY_SKIPPED]


async def topic_lines(gateway: KafkaGateway) -> list[Line]:
    listed = await gateway.list_topics()
    lines = [Line(FAIL, "describe topics", listed.message) if isinstance(listed, KafkaFailure)
             else Line(OK, "describe topics", f"{len(listed)} topic(s)")]
    scratch = f"{SCRATCH_PREFIX}{secrets.token_hex(4)}"
    created = (await gateway.create_topics([CreateTopic(scratch, 1, None)])).get(scratch)
    lines.append(outcome_line("create topic", created, f"created {scratch}"))
    if created is not None:
        return [*lines, Line(SKIP, "alter topic configs", "no scratch topic"),
                Line(SKIP, "delete topic", "no scratch topic")]
    altered = (await gateway.alter_configs([AlterConfigs(scratch, (ConfigChange("retention.ms", None, "60000"),))])
               ).get(scratch)
    lines.append(outcome_line("alter topic configs", altered, f"set retention.ms on {scratch}"))
    deleted = (await gateway.delete_topics([scratch])).get(scratch)
    lines.append(outcome_line("delete topic", deleted, f"deleted {scratch}"))
    return lines


async def user_lines(gateway: KafkaGateway, required: bool) -> list[Line]:
    """The authorizer, ACLs and SCRAM credentials: required when KafkaUsers use the cluster (or --users)."""
    acls = await gateway.describe_acls()
    if isinstance(acls, KafkaFailure):
        lines = [outcome_line("list ACLs", acls, "", required)]
    else:
        lines = [Line(OK, "list ACLs", f"{sum(len(a) for a in acls.values())} ACL binding(s)")]
    scram = await gateway.list_scram_users()
    lines.append(outcome_line("list SCRAM users", scram if isinstance(scram, KafkaFailure) else None,
                              "" if isinstance(scram, KafkaFailure) else f"{len(scram)} user(s)", required))
    if not required:
        return [*lines, Line(SKIP, "manage ACLs and SCRAM", "no KafkaUser uses this cluster (--users to check)")]
    user = f"{SCRATCH_PREFIX}{secrets.token_hex(4)}"
    set_ = (await gateway.alter_scram([(user, "SCRAM-SHA-512", secrets.token_urlsafe(24))], [])).get(user)
    lines.append(outcome_line("set SCRAM credential", set_, f"for scratch user {user}"))
    if set_ is None:
        gone = (await gateway.alter_scram([], [(user, "SCRAM-SHA-512")])).get(user)
        lines.append(outcome_line("delete SCRAM credential", gone, f"of {user}"))
    if isinstance(acls, KafkaFailure):
        return [*lines, Line(SKIP, "create / delete ACL", "no authorizer")]
    acl = Acl("TOPIC", user, "LITERAL", "*", "READ", "ALLOW")
    made = (await gateway.create_acls({principal(user): [acl]})).get(principal(user))
    lines.append(outcome_line("create ACL", made, f"allow READ on topic {user} for {principal(user)}"))
    if made is None:
        removed = (await gateway.delete_acls({principal(user): [acl]})).get(principal(user))
        lines.append(outcome_line("delete ACL", removed, f"of {principal(user)}"))
    return lines
