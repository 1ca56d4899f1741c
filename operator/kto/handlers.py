"""kopf registrations: the only module with kopf handlers (``kto.__main__`` imports kopf too, to run its
operator; no other module imports it).

kto uses kopf for watching and startup/cleanup (``/healthz`` is kto's own, ``kto.ops.health``). Handlers are
raw-event handlers that feed the reconcilers; kopf keeps no per-object progress or diff-base, so kopf itself
never writes to the watched objects. Before any event is handled, the startup handler lists every KafkaCluster,
KafkaTopic and KafkaUser once, so ownership of a Kafka name is decided with every claim known, even right after a
restart.
"""

from __future__ import annotations

import logging
from typing import Any

import kopf

from kto.api import names
from kto.app import Operator
from kto.kube.client import KubeClient
from kto.ops import health

log = logging.getLogger("kto.handlers")


class NoDiffBase(kopf.DiffBaseStorage):
    """kto has raw-event handlers only, and kopf diffs an object for change handlers alone; yet for every watch
    event kopf deep-copies the body to build that diff-base (a tenth of kto's CPU while 10,000 topics are
    deleted, ``docs/benchmarks.md``). Nothing is built, fetched or stored."""

    def build(self, *, body: Any, extra_fields: Any = None) -> Any:
        return None

    def fetch(self, *, body: Any) -> Any:
        return None

    def store(self, *, body: Any, patch: Any, essence: Any) -> None:
        return None


def configure(settings: kopf.OperatorSettings) -> None:
    settings.persistence.finalizer = f"{names.PREFIX}/kopf"  # kopf's own (unused: no kopf-managed handlers)
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=names.PREFIX)
    settings.persistence.diffbase_storage = NoDiffBase()
    settings.posting.enabled = False  # kto posts its own Events
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.watching.connect_timeout = 30
    settings.watching.reconnect_backoff = 1.0
    settings.networking.request_timeout = 60
    settings.queueing.worker_limit = None


def operator_of(memo: kopf.Memo) -> Operator:
    """The ``Operator`` the startup handler keeps in kopf's memo (whose attributes are untyped)."""
    operator: Operator = memo.operator
    return operator


@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    configure(settings)
    options = dict(memo.get("controller_options", {}))
    namespaces = options.pop("namespaces", None) or None
    operator = Operator(KubeClient.from_environment(), **options)
    await operator.prime(namespaces)
    memo.operator = operator
    health.register("queues", lambda: "; ".join(operator.problems()) or None)
    log.info("Started kto %s", " ".join(f"{k}={v}" for k, v in operator.counts().items()))


@kopf.on.cleanup()
async def cleanup(memo: kopf.Memo, **_: Any) -> None:
    operator: Operator | None = memo.get("operator")
    if operator is not None:
        health.unregister("queues")
        await operator.stop()


def _feeds(plural: str, reconciler: str) -> None:
    """A raw-event handler for ``plural`` that hands every event to the Operator's ``reconciler``."""

    @kopf.on.event(names.GROUP, names.VERSION, plural, id=f"{plural}-events")
    async def feed(event: kopf.RawEvent, memo: kopf.Memo, **_: Any) -> None:
        getattr(operator_of(memo), reconciler).event(event.get("type"), event["object"])


for _plural, _reconciler in ((names.TOPIC_PLURAL, "topics"), (names.CLUSTER_PLURAL, "clusters"),
                             (names.USER_PLURAL, "users"), (names.POLICY_PLURAL, "policies")):
    _feeds(_plural, _reconciler)
