"""The confluent-kafka (librdkafka) AdminClient of one cluster, and what every adapter using it shares.

``Admin`` holds the one AdminClient handle, the admin requests in flight (``kto.kafka.pending``), the client's
connection-level errors, the count of requests sent, and what the brokers answered to ApiVersions once asked
(their mode decides some hints). The adapters by concern (``kto.kafka.topics``, ``security``, ``cluster``) take
an ``Admin`` and send their requests through ``client``; ``outcomes`` turns one request's futures into an
outcome per name.

confluent-kafka's AdminClient is thread-safe and returns concurrent futures; they are awaited through
``PendingRequests`` (``asyncio.wrap_future``, and librdkafka's controller kept fresh while they wait), so the
event loop never blocks.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Iterable, Mapping
from concurrent.futures import Future
from typing import Any

from confluent_kafka import KafkaError
from confluent_kafka.admin import AdminClient

from kto.api.domain import KafkaFailure
from kto.api.reasons import Reason
from kto.kafka.compat import BrokerApis
from kto.kafka.errors import classify, connection_failure, is_pending_deletion, kafka_error_of
from kto.kafka.pending import PendingRequests
from kto.telemetry import metrics

Outcome = KafkaFailure | None


class Admin:
    """One librdkafka admin connection to one Kafka cluster (``label``: the KafkaCluster's namespace/name)."""

    def __init__(self, conf: Mapping[str, str], label: str, request_timeout: float = 30.0):
        self.label = label
        self.request_timeout = request_timeout
        self.requests = 0  # admin requests sent (both clients), for metrics and benchmarks
        self.apis: BrokerApis | None = None  # what the brokers answered to ApiVersions, once asked
        self._client_errors: deque[tuple[float, KafkaError]] = deque(maxlen=20)
        config: dict[str, Any] = {
            **conf,
            "error_cb": self._on_client_error,
            "logger": logging.getLogger("kto.librdkafka"),
            "socket.connection.setup.timeout.ms": str(int(request_timeout * 1000)),
            "reconnect.backoff.max.ms": "5000",
        }
        self.client = AdminClient(config)
        self.pending = PendingRequests(self._refresh_metadata)

    @property
    def mode(self) -> str | None:
        """``zookeeper`` or ``kraft`` once the brokers' API versions are known."""
        return self.apis.mode if self.apis is not None else None

    def count(self, api: str) -> None:
        """One request of Kafka's ``api`` sent (counted under the port operation that sends it)."""
        self.requests += 1
        metrics.count_request(self.label, api)

    def _refresh_metadata(self) -> None:
        """A Metadata request for one topic, sent to any live broker (see kto.kafka.pending)."""
        self.client.list_topics(topic="__consumer_offsets", timeout=min(self.request_timeout, 5.0))

    def _on_client_error(self, err: KafkaError) -> None:
        self._client_errors.append((time.monotonic(), err))

    def recent_client_error(self, within: float = 60.0) -> KafkaError | None:
        """The latest connection-level error (e.g. failed authentication) in the last ``within`` seconds."""
        self.client.poll(0)  # error callbacks are served from poll()
        cutoff = time.monotonic() - within
        for at, err in reversed(self._client_errors):
            if at >= cutoff:
                return err
        return None

    def connection_failure(self, exc: BaseException) -> KafkaFailure:
        return connection_failure(exc, self.recent_client_error())

    async def outcomes(self, futures: Mapping[Any, Future[Any]], what: str, ok_codes: Iterable[int] = (),
                       existed: set[str] | None = None) -> dict[str, Outcome]:
        """The outcome per resource (a key is a name, or an object with a ``name``); an error in ``ok_codes`` is
        a success, and its name goes into ``existed``."""
        ok = set(ok_codes)
        keys = list(futures.keys())
        results = await self.pending.gather([futures[k] for k in keys])
        out: dict[str, Outcome] = {}
        for key, result in zip(keys, results, strict=True):
            name = key if isinstance(key, str) else str(key.name)
            if not isinstance(result, BaseException):
                out[name] = None
                continue
            err = kafka_error_of(result)
            if err is not None and err.code() in ok and not is_pending_deletion(err):
                out[name] = None
                if existed is not None:
                    existed.add(name)
                continue
            failure = classify(result, f"{what} {name}")
            if failure.reason == Reason.KAFKA_ERROR and self.recent_client_error(10) is not None:
                failure = self.connection_failure(result)
            out[name] = failure
        return out
