"""The API of KafkaPolicy: a platform team's rules for the KafkaTopics of a set of namespaces (issue 27).

A KafkaPolicy is cluster-scoped and platform-owned: the chart's tenant roles never name it, so a tenant can
neither write nor delete the rules that bind it. Each rule says what to do with a topic that breaks it:
``Refuse`` (the default: refused at ``kubectl apply`` time by the ValidatingAdmissionPolicy that
``kto.policy.admission`` generates, and reported by kto for what admission cannot see) or ``Clamp`` (kto
changes the topic it makes to fit, and says so in status and an Event; ``kto.policy.rules``).

Like the other kinds, no defaults are written into the CRD: an unset ``action`` is ``Refuse`` both here
(``Rule.refuses``) and in the admission rules (``!has(...action) || ...action != 'Clamp'``).
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, ConfigDict, Field, model_validator

from kto.api.models import (
    CONFIG_RULES,
    CONTROL,
    NAMESPACE_PATTERN,
    TOPIC_NAME_PATTERN,
    Condition,
    Model,
    check_config_keys,
    is_trimmed,
    rule,
    validations,
)
from kto.api.models import Status as BaseStatus

Action = Literal["Refuse", "Clamp"]
REFUSE: Action = "Refuse"
CLAMP: Action = "Clamp"
ACTION = Field(None, description="Refuse (default): the apiserver refuses a KafkaTopic that breaks the rule, and "
                                 "kto reports a topic admitted before the rule as out of policy. Clamp: kto makes "
                                 "the topic fit the rule and records that in the KafkaTopic's status and an Event.")
# A topic's retention the policy reads: Kafka's retention.ms; -1 is unlimited (always over a maximum).
RETENTION_KEY = "retention.ms"
MIN_ISR_KEY = "min.insync.replicas"
MAX_REPLICATION_FACTOR = 32767


def check_namespace_name(value: str) -> str:
    if not re.fullmatch(NAMESPACE_PATTERN, value) or len(value) > 63:
        raise ValueError(f"namespaces: {value!r} is not a namespace name (lowercase letters, digits and '-', "
                         "starting and ending with a letter or digit, at most 63 characters)")
    return value


NamespaceName = Annotated[str, Field(min_length=1, max_length=63, pattern=NAMESPACE_PATTERN),
                          AfterValidator(check_namespace_name)]

CONFIG_KEY_MESSAGE = "config keys must be Kafka config names: no empty key, no spaces around it, no control characters"


def check_config_key(value: str) -> str:
    if not value or not is_trimmed(value) or re.search(CONTROL, value):
        raise ValueError(f"{CONFIG_KEY_MESSAGE} (key {value!r})")
    return value


ConfigKey = Annotated[str, Field(min_length=1, max_length=249, json_schema_extra=validations(rule(
    f"self.trim() == self && !self.matches(r'{CONTROL}')", CONFIG_KEY_MESSAGE))), AfterValidator(check_config_key)]


class Rule(Model):
    action: Action | None = ACTION

    @property
    def refuses(self) -> bool:
        return self.action != CLAMP


class LabelSelectorRequirement(Model):
    key: str = Field(min_length=1, max_length=317, description="The label key.")
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"] = Field(description="In, NotIn, Exists or DoesNotExist.")
    values: list[Annotated[str, Field(max_length=63)]] | None = Field(
        None, max_length=1000, description="The values for In and NotIn; empty for Exists and DoesNotExist.")


class LabelSelector(Model):
    """A Kubernetes label selector (metav1.LabelSelector) over namespaces' labels."""

    matchLabels: dict[str, Annotated[str, Field(max_length=63)]] | None = Field(
        None, description="Labels a namespace must have, each with this value.")
    matchExpressions: list[LabelSelectorRequirement] | None = Field(
        None, max_length=100, description="Requirements on a namespace's labels; all must hold.")

    @model_validator(mode="after")
    def _not_empty(self) -> LabelSelector:
        if not self.matchLabels and not self.matchExpressions:
            raise ValueError("namespaceSelector must have matchLabels or matchExpressions: an empty selector would "
                             "choose every namespace")
        return self


NOT_EMPTY_SELECTOR = rule("has(self.matchLabels) && size(self.matchLabels) > 0 || has(self.matchExpressions) && "
                          "size(self.matchExpressions) > 0", "namespaceSelector must have matchLabels or "
                          "matchExpressions: an empty selector would choose every namespace")


class TopicNames(Model):
    """Names are always refused (nothing can be clamped into a name)."""

    namePrefixes: list[Annotated[str, Field(min_length=1, max_length=249, pattern=TOPIC_NAME_PATTERN)]] | None = Field(
        None, max_length=100, description="The Kafka topic name must start with one of these. Example: [ingestion.]")
    namePattern: str | None = Field(
        None, min_length=1, max_length=1000,
        description="The Kafka topic name must match this regular expression (RE2, as CEL's matches(); anchor it "
                    "with ^ and $ to match the whole name). Example: ^ingestion\\.[a-z0-9-]+$")


class Partitions(Rule):
    min: int | None = Field(None, ge=1, le=9000, description="The fewest partitions a topic may have.")
    max: int | None = Field(None, ge=1, le=9000, description="The most partitions a topic may have.")


class ReplicationFactor(Rule):
    min: int | None = Field(None, ge=1, le=MAX_REPLICATION_FACTOR, description="The lowest replication factor.")
    atLeastBrokersUpTo3: bool | None = Field(
        None, description="The replication factor must be at least the broker count or 3, whichever is smaller "
                          "(checked by kto against the live broker count, not at admission).")


class MinInsyncReplicas(Rule):
    min: int | None = Field(None, ge=1, le=MAX_REPLICATION_FACTOR,
                            description="The lowest min.insync.replicas a topic may set.")


class Retention(Rule):
    maxMs: int | None = Field(None, ge=1, description="The longest retention.ms a topic may set; -1 (unlimited) "
                                                      "is over any maximum.")


class Configs(Rule):
    allowedKeys: list[ConfigKey] | None = Field(
        None, max_length=500, description="When set, a team may set only these config keys (platformKeys are the "
                                          "platform's). Clamp drops any other key instead of refusing it.")
    platformKeys: Annotated[dict[str, str] | None, Field(json_schema_extra=CONFIG_RULES),
                            AfterValidator(check_config_keys)] = Field(
        None, description="Config keys the platform sets on every topic of the team. Refuse: a KafkaTopic may not "
                          "set such a key to another value. Clamp: the platform's value wins. kto applies them "
                          "either way.")


POLICY_SPEC_RULES = validations(
    rule("has(self.namespaces) && size(self.namespaces) > 0 || has(self.namespaceSelector)",
         "a KafkaPolicy must choose its team's namespaces: set namespaces, namespaceSelector or both"),
    rule("!has(self.partitions) || !has(self.partitions.min) || !has(self.partitions.max) || "
         "self.partitions.min <= self.partitions.max", "partitions.min must not be over partitions.max"),
)


class KafkaPolicySpec(Model):
    """A platform team's rules for the KafkaTopics of a team's namespaces."""

    model_config = ConfigDict(frozen=True, extra="forbid", json_schema_extra=POLICY_SPEC_RULES)

    namespaces: list[NamespaceName] | None = Field(
        None, max_length=1000, description="The team's namespaces. With namespaceSelector too, a namespace must "
                                           "be listed here and match the selector.")
    namespaceSelector: Annotated[LabelSelector | None, Field(json_schema_extra=validations(NOT_EMPTY_SELECTOR))] = \
        Field(None, description="The team's namespaces by their labels. Enforced at admission; kto's own clamps "
                                "and out-of-policy reports follow only the namespaces listed in namespaces (it does "
                                "not read namespace labels yet). Select on labels tenants cannot edit.")
    topics: TopicNames | None = Field(None, description="Rules for Kafka topic names (always refused).")
    partitions: Partitions | None = Field(None, description="The range of partitions.")
    replicationFactor: ReplicationFactor | None = Field(None, description="The replication factor's floor.")
    minInsyncReplicas: MinInsyncReplicas | None = Field(None, description="min.insync.replicas's floor.")
    retention: Retention | None = Field(None, description="The longest retention.")
    configs: Configs | None = Field(None, description="Which config keys a team may set, and the platform's keys.")

    @model_validator(mode="after")
    def _chooses_namespaces(self) -> KafkaPolicySpec:
        if not self.namespaces and self.namespaceSelector is None:
            raise ValueError("a KafkaPolicy must choose its team's namespaces: set namespaces, namespaceSelector "
                             "or both")
        p = self.partitions
        if p is not None and p.min is not None and p.max is not None and p.min > p.max:
            raise ValueError("partitions.min must not be over partitions.max")
        return self


class KafkaPolicyStatus(BaseStatus):
    """What kto did with the policy, written by kto only."""

    binding: str | None = Field(None, description="The ValidatingAdmissionPolicyBinding kto keeps for this policy.")
    conditions: list[Condition] | None = Field(
        None, description="Ready says whether kto keeps the policy's admission binding in step with it.")
