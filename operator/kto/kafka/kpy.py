"""What kto asks through kafka-python, because confluent-kafka (librdkafka) does not offer it: the brokers' API
versions, partition reassignments, client quotas (Describe/AlterClientQuotas), the cluster-wide dynamic broker
configs (the default broker resource, whose empty name librdkafka refuses), and for the lag collector every
broker's log dirs and consumer groups' committed offsets in batches (confluent-kafka asks one group at a time).

``kafka_python_client`` is the one place that builds a kafka-python client from kto's connection config (the
librdkafka properties of ``kto.kafka.connection``). ``KafkaPython`` keeps two of them, each created on first use:
one for the reconcile's calls and one for lag collections, whose calls run on their own threads so that a slow
cluster's collection never holds a thread the reconcile needs. kafka-python's calls block: they run in threads.
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from types import MappingProxyType
from typing import Any

from kto.api.domain import KafkaFailure, Reassignment
from kto.api.quotas import QuotaChange
from kto.api.reasons import Reason
from kto.kafka.chunking import MAX_GROUPS
from kto.kafka.compat import BrokerApis
from kto.kafka.errors import classify_kafka_python, kafka_python_failure

log = logging.getLogger("kto.kafka")

Outcome = KafkaFailure | None

# DescribeClientQuotas match types: 0 a given name, 1 the default entity, 2 any named entity.
QUOTA_MATCH_DEFAULT, QUOTA_MATCH_SPECIFIED = 1, 2
# Kafka's protocol constants: the BROKER resource type, the DYNAMIC_DEFAULT_BROKER_CONFIG config source, and
# IncrementalAlterConfigs' SET and DELETE operations.
BROKER_RESOURCE, DYNAMIC_DEFAULT_BROKER_CONFIG, CONFIG_SET, CONFIG_DELETE = 4, 3, 0, 1
TOPIC_RESOURCE, DYNAMIC_TOPIC_CONFIG = 2, 1
# What one topic's DescribeConfigs gave: its overrides and its inherited (default) values.
TopicConfigs = tuple[dict[str, str], dict[str, str]]

# kafka-python calls of lag collections run here, not on asyncio's default executor that replica moves use:
# a slow cluster's lag collection never holds a thread the reconcile needs.
_LAG_THREADS = ThreadPoolExecutor(max_workers=8, thread_name_prefix="kto-lag")


def kafka_python_client(conf: Mapping[str, str], request_timeout: float) -> Any:
    """kafka-python's admin client (``KafkaAdminClient``) for the same cluster and credentials as the librdkafka
    one; it connects to a bootstrap broker before it returns."""
    from kafka.admin import KafkaAdminClient

    protocol = conf.get("security.protocol", "PLAINTEXT")
    kwargs: dict[str, Any] = {
        "bootstrap_servers": conf["bootstrap.servers"].split(","),
        "security_protocol": protocol,
        "request_timeout_ms": int(request_timeout * 1000),
        "client_id": "kto",
    }
    if protocol.startswith("SASL"):
        kwargs |= {"sasl_mechanism": conf["sasl.mechanism"], "sasl_plain_username": conf["sasl.username"],
                   "sasl_plain_password": conf["sasl.password"]}
    if protocol in ("SSL", "SASL_SSL"):
        kwargs["ssl_context"] = _ssl_context(conf)
    return KafkaAdminClient(**kwargs)


def _ssl_context(conf: Mapping[str, str]) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cadata=conf["ssl.ca.pem"]) if conf.get("ssl.ca.pem") \
        else ssl.create_default_context()
    if conf.get("ssl.endpoint.identification.algorithm") == "none":
        ctx.check_hostname = False
    if conf.get("ssl.certificate.pem"):
        # The ssl module loads a client certificate only from files: a private temporary folder, removed at once.
        with tempfile.TemporaryDirectory() as tmp:
            cert, key = os.path.join(tmp, "tls.crt"), os.path.join(tmp, "tls.key")
            for path, text in ((cert, conf["ssl.certificate.pem"]), (key, conf["ssl.key.pem"])):
                fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
                with os.fdopen(fd, "w") as f:
                    f.write(text)
            ctx.load_cert_chain(cert, key)
    return ctx


def _quota_entry(Alter: Any, change: QuotaChange) -> Any:
    """One user's entry of an AlterClientQuotasRequest (``Alter``, kafka-python's class): keys set, keys removed."""
    Op = Alter.EntryData.OpData
    return Alter.EntryData(
        entity=[Alter.EntryData.EntityData(entity_type="user", entity_name=change.user)],
        ops=[Op(key=k, value=float(v), remove=False) for k, v in sorted(change.to_set.items())]
        + [Op(key=k, value=0.0, remove=True) for k in change.to_remove])


class _Client:
    """One kafka-python client, created on first use and used by one thread at a time."""

    def __init__(self, conf: Mapping[str, str], request_timeout: float, what: str):
        self._conf = conf
        self._timeout = request_timeout
        self._what = what
        self._lock = threading.Lock()
        self._client: Any = None

    def call(self, use: Callable[[Any], Any], wait: float | None = None) -> Any:
        """``use(client)`` while holding the client; with ``wait``, give up (TimeoutError) when another call
        still holds it after that many seconds (a call of an abandoned lag collection)."""
        if not self._lock.acquire(timeout=-1 if wait is None else wait):
            raise TimeoutError(f"the previous call of the kafka-python {self._what} client is still running")
        try:
            if self._client is None:
                self._client = kafka_python_client(self._conf, self._timeout)
            return use(self._client)
        finally:
            self._lock.release()

    def send(self, request: Any) -> Any:
        """Send one protocol message (to the least loaded broker); its response. kafka-python 3.0 has no
        public call for a raw request, nor public calls for most of what kto sends this way (client quotas, the
        default broker resource's configs); its public ``describe_configs`` would serve topic configs but turns
        every entry into a dict of its fields, the cost ``describe_topic_configs`` exists to avoid. Its admin
        client's own calls use ``_manager`` just so."""
        def use(client: Any) -> Any:
            manager = client._manager

            async def send() -> Any:
                return await manager.send(request)

            return manager.run(send)
        return self.call(use)

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                try:
                    self._client.close()
                except Exception:  # noqa: BLE001 - closing is best effort
                    log.debug("Closing the kafka-python %s client failed", self._what)
                self._client = None


class KafkaPython:
    """The port's calls that go through kafka-python, for one cluster; ``count`` counts each request sent."""

    def __init__(self, conf: Mapping[str, str], request_timeout: float, count: Callable[[str], None]):
        self.request_timeout = request_timeout
        self._count = count
        self._client = _Client(dict(conf), request_timeout, "admin")
        self._lag = _Client(dict(conf), request_timeout, "lag")

    def close(self) -> None:
        self._client.close()
        self._lag.close()

    async def _send(self, request: Any) -> Any:
        return await asyncio.to_thread(self._client.send, request)

    async def _request(self, api: str, request: Any, what: str) -> Any:
        """One raw request, counted under its Kafka ``api``: the response, or the failure it raised, classified."""
        self._count(api)
        try:
            return await self._send(request)
        except Exception as exc:  # noqa: BLE001 - classified here
            return classify_kafka_python(exc, what)

    async def _lag_call(self, method: str, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(
            _LAG_THREADS, lambda: self._lag.call(lambda c: getattr(c, method)(*args), wait=self.request_timeout))

    # --- the brokers ---------------------------------------------------------------------------------

    async def describe_broker_apis(self) -> BrokerApis | KafkaFailure:
        """The API versions the brokers support (kafka-python asks ApiVersions when it connects)."""
        self._count("api_versions")
        try:
            # The bootstrap broker's ApiVersions answer (api_versions: key -> (min, max); broker_version: the
            # release it matches). kafka-python 3.0's public calls give the API versions without the release
            # (api_versions()) or ask a named broker again (get_broker_version_data): its own calls read this.
            data = await asyncio.to_thread(self._client.call, lambda c: c._manager.broker_version_data)
        except Exception as exc:  # noqa: BLE001 - classified below
            return classify_kafka_python(exc, "asking the brokers which API versions they support")
        release = tuple(data.broker_version) if data.broker_version else None
        return BrokerApis(MappingProxyType(dict(data.api_versions)), release)

    async def describe_topic_configs(self, names: Sequence[str]) -> dict[str, TopicConfigs | KafkaFailure]:
        """Each topic's overrides (source DYNAMIC_TOPIC_CONFIG) and inherited values (the rest, but sensitive or
        unset ones): one DescribeConfigs without synonyms or documentation, which is all drift detection
        compares (``topics.planner.diff_configs``)."""
        from kafka.protocol.admin import DescribeConfigsRequest as Describe

        out: dict[str, TopicConfigs | KafkaFailure] = {}
        if not names:
            return out
        request = Describe(resources=[Describe.DescribeConfigsResource(
            resource_type=TOPIC_RESOURCE, resource_name=n, configuration_keys=None) for n in names],
            include_synonyms=False, include_documentation=False)
        response = await self._request("describe_configs", request, "describing topic configs")
        if isinstance(response, KafkaFailure):
            return dict.fromkeys(names, response)
        for result in response.results:
            if result.error_code:
                out[result.resource_name] = kafka_python_failure(
                    result.error_code, result.error_message, f"describing configs of topic {result.resource_name}")
                continue
            overrides, defaults = {}, {}
            for c in result.configs:
                if c.config_source == DYNAMIC_TOPIC_CONFIG:
                    overrides[c.name] = c.value
                elif c.value is not None and not c.is_sensitive:
                    defaults[c.name] = c.value
            out[result.resource_name] = (overrides, defaults)
        # A topic the answer leaves out is not "no overrides": that would plan writes.
        return out | {n: KafkaFailure(Reason.KAFKA_ERROR, f"describing configs of topic {n}: the brokers' answer "
                                      "left it out", retriable=True) for n in names if n not in out}

    async def describe_broker_defaults(self) -> dict[str, str] | KafkaFailure:
        """The cluster-wide dynamic broker configs (the default broker resource, empty name: its
        DYNAMIC_DEFAULT_BROKER_CONFIG entries). One DescribeConfigs."""
        from kafka.protocol.admin import DescribeConfigsRequest as Describe

        request = Describe(resources=[Describe.DescribeConfigsResource(
            resource_type=BROKER_RESOURCE, resource_name="", configuration_keys=None)], include_synonyms=False,
            include_documentation=False)
        what = "describing the cluster-wide broker configs"
        response = await self._request("describe_configs", request, what)
        if isinstance(response, KafkaFailure):
            return response
        out: dict[str, str] = {}
        for result in response.results:
            if result.error_code:
                return kafka_python_failure(result.error_code, result.error_message, what)
            out |= {c.name: c.value for c in result.configs
                    if c.config_source == DYNAMIC_DEFAULT_BROKER_CONFIG and c.value is not None}
        return out

    async def alter_broker_defaults(self, to_set: Mapping[str, str], to_delete: Sequence[str],
                                    validate_only: bool = False) -> Outcome:
        """Set and delete cluster-wide dynamic broker configs in one IncrementalAlterConfigs (``validate_only``:
        the brokers check it and change nothing)."""
        from kafka.protocol.admin import IncrementalAlterConfigsRequest as Alter

        Config = Alter.AlterConfigsResource.AlterableConfig
        configs = [Config(name=k, config_operation=CONFIG_SET, value=v) for k, v in sorted(to_set.items())]
        configs += [Config(name=k, config_operation=CONFIG_DELETE, value=None) for k in to_delete]
        if not configs:
            return None
        request = Alter(resources=[Alter.AlterConfigsResource(resource_type=BROKER_RESOURCE, resource_name="",
                                                              configs=configs)], validate_only=validate_only)
        what = "setting the cluster-wide broker configs"
        response = await self._request("incremental_alter_configs", request, what)
        if isinstance(response, KafkaFailure):
            return response
        for result in response.responses:
            if result.error_code:
                return kafka_python_failure(result.error_code, result.error_message, what)
        return None

    # --- partition reassignments -----------------------------------------------------------------------

    async def list_reassignments(self) -> dict[str, dict[int, Reassignment]] | KafkaFailure:
        """Every ongoing reassignment of the cluster, by topic and partition (one request)."""
        self._count("list_partition_reassignments")
        try:
            ongoing = await asyncio.to_thread(self._client.call, lambda c: c.list_partition_reassignments())
        except Exception as exc:  # noqa: BLE001 - classified below
            return classify_kafka_python(exc, "listing partition reassignments")
        out: dict[str, dict[int, Reassignment]] = {}
        for tp, state in ongoing.items():
            out.setdefault(tp.topic, {})[tp.partition] = Reassignment(
                tuple(state["replicas"]), tuple(state["adding_replicas"]), tuple(state["removing_replicas"]))
        return out

    async def alter_reassignments(self, moves: Mapping[str, Mapping[int, list[int] | None]]) -> dict[str, Outcome]:
        """Start (a replica list) or cancel (``None``) reassignments; one request for every topic."""
        from kafka import TopicPartition

        if not moves:
            return {}
        request = {TopicPartition(t, p): r for t, parts in moves.items() for p, r in parts.items()}
        self._count("alter_partition_reassignments")
        try:
            results = await asyncio.to_thread(self._client.call, lambda c: c.alter_partition_reassignments(request))
        except Exception as exc:  # noqa: BLE001 - classified below
            failure = classify_kafka_python(exc, "reassigning partitions")
            return {t: failure for t in moves}
        out: dict[str, Outcome] = {t: None for t in moves}
        for tp, err in results.items():
            # Cancelling a reassignment that already finished is no error.
            if err is not None and err.__name__ != "NoReassignmentInProgressError":
                out[tp.topic] = KafkaFailure(Reason.KAFKA_ERROR, f"reassigning partition {tp.partition} of topic "
                                             f"{tp.topic}: {err.__name__}: {getattr(err, 'description', '')}",
                                             retriable=bool(getattr(err, "retriable", True)))
        return out

    # --- client quotas -----------------------------------------------------------------------------------

    async def describe_user_quotas(self, default: bool = False) -> dict[str | None, dict[str, float]] | KafkaFailure:
        """The client quotas of every user entity (entity type user, a user name, no client id), by user name;
        with ``default``, of the default user entity only (under None). One DescribeClientQuotas."""
        from kafka.protocol.admin import DescribeClientQuotasRequest as Describe

        match = QUOTA_MATCH_DEFAULT if default else QUOTA_MATCH_SPECIFIED
        request = Describe(components=[Describe.ComponentData(entity_type="user", match_type=match, match=None)],
                           strict=default)
        response = await self._request("describe_client_quotas", request, "describing client quotas")
        if isinstance(response, KafkaFailure):
            return response
        if response.error_code:
            return kafka_python_failure(response.error_code, response.error_message, "describing client quotas")
        out: dict[str | None, dict[str, float]] = {}
        for entry in response.entries or ():
            if len(entry.entity) == 1 and entry.entity[0].entity_type == "user" \
                    and (entry.entity[0].entity_name is None) == default:
                out[entry.entity[0].entity_name] = {v.key: float(v.value) for v in entry.values}
        return out

    async def alter_user_quotas(self, changes: Sequence[QuotaChange]) -> dict[str | None, Outcome]:
        """Set and remove quota keys of user entities (user None: the default user entity), every user in one
        AlterClientQuotas; the outcome by user."""
        from kafka.protocol.admin import AlterClientQuotasRequest as Alter

        changes = [c for c in changes if not c.in_sync]
        if not changes:
            return {}
        response = await self._request("alter_client_quotas", Alter(
            entries=[_quota_entry(Alter, c) for c in changes], validate_only=False), "setting client quotas")
        if isinstance(response, KafkaFailure):
            return {c.user: response for c in changes}
        out: dict[str | None, Outcome] = {c.user: None for c in changes}
        for entry in response.entries:
            user = entry.entity[0].entity_name if entry.entity else None
            if entry.error_code and user in out:
                out[user] = kafka_python_failure(entry.error_code, entry.error_message, "setting the client quotas "
                                                 f"of {f'user {user}' if user is not None else 'the default user'}")
        return out

    # --- consumer lag and topic size (kto.ops.lag), on the lag client ------------------------------------

    async def describe_log_dirs(self, partitions: Mapping[str, int]) -> list[tuple[str, int, int]] | KafkaFailure:
        """(topic, partition, bytes) for every replica of these topics' partitions, from every broker's log
        dirs: one DescribeLogDirs per broker (confluent-kafka has no DescribeLogDirs)."""
        if not partitions:
            return []
        self._count("describe_log_dirs")
        try:
            answers = await self._lag_call("describe_log_dirs", {t: list(range(n)) for t, n in partitions.items()})
        except Exception as exc:  # noqa: BLE001 - classified below
            return classify_kafka_python(exc, "describing log dirs")
        return [(topic["name"], p["partition_index"], p["partition_size"])
                for broker in answers for log_dir in broker["log_dirs"] if not log_dir.get("error_code")
                for topic in log_dir["topics"] for p in topic["partitions"]]

    async def list_committed_offsets(self, groups: Sequence[str]
                                     ) -> dict[str, dict[tuple[str, int], int] | KafkaFailure] | KafkaFailure:
        """Each group's committed offsets: one FindCoordinator and one OffsetFetch per coordinator for up to
        ``MAX_GROUPS`` groups (kafka-python batches groups; confluent-kafka asks one group at a time). A request
        that fails is sent again in halves, so that one group at fault fails alone."""
        out: dict[str, dict[tuple[str, int], int] | KafkaFailure] = {}
        pending = [list(groups[i:i + MAX_GROUPS]) for i in range(0, len(groups), MAX_GROUPS)]
        while pending:
            chunk = pending.pop()
            self._count("list_group_offsets")
            try:
                answer = await self._lag_call("list_group_offsets", dict.fromkeys(chunk))
            except Exception as exc:  # noqa: BLE001 - classified below
                if len(chunk) == 1:
                    out[chunk[0]] = classify_kafka_python(exc, f"listing the offsets of consumer group {chunk[0]}")
                else:
                    pending += [chunk[:len(chunk) // 2], chunk[len(chunk) // 2:]]
                continue
            for group, offsets in answer.items():
                out[group] = {(tp.topic, tp.partition): o.offset for tp, o in offsets.items()}
        return out
