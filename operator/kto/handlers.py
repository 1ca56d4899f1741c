"""kopf registrations: the only module that imports kopf.

kto uses kopf for watching, indexing, startup/cleanup and the health endpoint. Handlers are raw-event
handlers that feed the controller; kopf keeps no per-object progress or diff-base, so kopf itself never
writes to the watched objects. Before any event is handled, the startup handler lists every KafkaTopic
once, so ownership of a Kafka topic is decided with every claim known, even right after a restart.
(kopf's own indexes would give the same guarantee, at a measured 20 % of kto's CPU per event.)
"""

from __future__ import annotations

import logging
from typing import Any

import kopf

from kto import names
from kto.controller import Controller
from kto.kube import KubeClient
from kto.user_controller import UserController

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
async def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    configure(settings)
    options = dict(memo.get("controller_options", {}))
    namespaces = options.pop("namespaces", None) or None
    controller = Controller(KubeClient.from_environment(), **options)
    await controller.prime(namespaces)
    users = UserController(controller)
    await users.prime(namespaces)
    memo.controller = controller
    memo.users = users
    log.info("Started kto topics=%d users=%d", len(controller.topics), len(users.users))


@kopf.on.cleanup()
async def cleanup(memo: kopf.Memo, **_: Any) -> None:
    controller: Controller | None = memo.get("controller")
    users: UserController | None = memo.get("users")
    if users is not None:
        await users.stop()
    if controller is not None:
        await controller.stop()
        controller.kube.close()


@kopf.on.event(names.GROUP, names.VERSION, names.TOPIC_PLURAL)
async def topic_event(event: kopf.RawEvent, memo: kopf.Memo, **_: Any) -> None:
    memo.controller.topic_event(event.get("type"), event["object"])


@kopf.on.event(names.GROUP, names.VERSION, names.CLUSTER_PLURAL)
async def cluster_event(event: kopf.RawEvent, memo: kopf.Memo, **_: Any) -> None:
    memo.controller.cluster_event(event.get("type"), event["object"])


@kopf.on.event(names.GROUP, names.VERSION, names.USER_PLURAL)
async def user_event(event: kopf.RawEvent, memo: kopf.Memo, **_: Any) -> None:
    memo.users.user_event(event.get("type"), event["object"])
