"""kopf registrations: the only module that imports kopf.

kto uses kopf for watching, indexing, startup/cleanup and the health endpoint. Handlers are raw-event
handlers that feed the controller; kopf keeps no per-object progress or diff-base, so kopf itself never
writes to the watched objects. The ``kto_topic_claims`` index makes kopf hold every handler back until the
initial listing of all KafkaTopics is indexed, so ownership of a Kafka topic is decided with every claim
known, even right after a restart.
"""

from __future__ import annotations

import logging
from typing import Any

import kopf

from kto import names
from kto.controller import Controller, claim_key_of, claim_of
from kto.kube import KubeClient

log = logging.getLogger("kto.handlers")


def configure(settings: kopf.OperatorSettings) -> None:
    settings.persistence.finalizer = f"{names.PREFIX}/kopf"  # kopf's own (unused: no kopf-managed handlers)
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=names.PREFIX)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=names.PREFIX, key="last-handled-configuration")
    settings.posting.enabled = False  # kto posts its own Events
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.watching.connect_timeout = 30
    settings.watching.reconnect_backoff = 1.0
    settings.networking.request_timeout = 60
    settings.queueing.worker_limit = None


@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, kto_topic_claims: kopf.Index, **_: Any) -> None:
    configure(settings)
    controller = Controller(KubeClient.from_environment(), **memo.get("controller_options", {}))
    controller.claims = lambda key: list(kto_topic_claims.get(key, ()))
    memo.controller = controller
    log.info("Started kto")


@kopf.on.cleanup()
async def cleanup(memo: kopf.Memo, **_: Any) -> None:
    controller: Controller | None = memo.get("controller")
    if controller is not None:
        await controller.stop()
        controller.kube.close()


@kopf.index(names.GROUP, names.VERSION, names.TOPIC_PLURAL)
def kto_topic_claims(body: kopf.Body, **_: Any):
    return {claim_key_of(body): claim_of(body)}


@kopf.on.event(names.GROUP, names.VERSION, names.TOPIC_PLURAL)
async def topic_event(event: kopf.RawEvent, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    memo.controller.topic_event(event.get("type"), body)


@kopf.on.event(names.GROUP, names.VERSION, names.CLUSTER_PLURAL)
async def cluster_event(event: kopf.RawEvent, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    memo.controller.cluster_event(event.get("type"), body)
