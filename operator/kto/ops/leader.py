"""Leader election with a ``coordination.k8s.io/v1`` Lease: one kto writes, the others stand by.

The decisions are pure functions of the Lease as read, this process's identity and the clocks (``decide``,
``is_expired``, ``build_spec``, ``next_renewal``, ``is_lost``; table-tested in tests/unit/test_leader.py). The
I/O is ``LeaseClient`` (its own Kubernetes client, loaded by ``kto.kube.client.api_client`` like every other, on
its own thread, every call with a timeout, so a renewal never waits behind a busy pool of status writes) and
``LeaderElector``, which acquires the Lease, renews it and gives it back at a clean shutdown.

Safety, as client-go's leaderelection keeps it: a leader stops acting once its last successful renewal is a
renew deadline old (10 s by default), well before the lease duration (15 s) after which a standby may take the
Lease. The renewal runs on the event loop, so a wedged loop stops renewing; a watchdog thread, independent of
the loop, ends the process (``on_lost``) at the renew deadline, and the renewal task does so as soon as it sees
another holder. A standby never reads another machine's clock: it takes a held Lease over only when it has seen
the same version of it, unchanged, for a whole lease duration by its own monotonic clock, counted from its own
first observation (so a fresh standby waits a duration too, and clock skew between machines changes nothing).
Writes carry the resourceVersion that was read, so of two standbys taking over at once one gets 409 Conflict and
keeps standing by.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import sys
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import urllib3
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from kto.kube.client import api_client as kube_api_client
from kto.kube.client import close_api
from kto.telemetry import metrics

log = logging.getLogger("kto.ops.leader")

SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


# --- values ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Timing:
    """How long a Lease lasts, how often its holder renews it, how often a standby (or a failed renewal) tries
    again, and how long a leader goes on without a successful renewal (``renew_deadline``; None: two thirds of
    the lease duration, client-go's 10 s of 15), in seconds."""

    lease_duration: int = 15
    renew_period: float = 5.0
    retry_period: float = 2.0
    renew_deadline: float | None = None

    @property
    def deadline(self) -> float:
        return self.renew_deadline if self.renew_deadline is not None else self.lease_duration * 2 / 3

    def problems(self) -> list[str]:
        found = []
        if self.lease_duration < 1:
            found.append("the lease duration must be at least 1 second")
        if not 0 < self.renew_period < self.lease_duration:
            found.append("the renew period must be above 0 and below the lease duration")
        if not 0 < self.retry_period < self.lease_duration:
            found.append("the retry period must be above 0 and below the lease duration")
        if not self.renew_period < self.deadline < self.lease_duration:
            found.append("the renew deadline must be above the renew period and below the lease duration (a "
                         "leader must stop before a standby may take its Lease)")
        return found

    @property
    def request_timeout(self) -> float:
        """Seconds one Lease request may take: a hung request must not eat the whole lease."""
        return max(1.0, min(self.renew_period, self.lease_duration / 3))


@dataclass(frozen=True)
class LeaseRecord:
    """A Lease as read: who holds it, since when, when it was last renewed, and its resourceVersion."""

    holder: str | None
    duration: int
    acquired: datetime | None
    renewed: datetime | None
    transitions: int
    version: str | None

    @classmethod
    def from_lease(cls, lease: client.V1Lease) -> LeaseRecord:
        spec = lease.spec or client.V1LeaseSpec()
        return cls(holder=spec.holder_identity or None, duration=spec.lease_duration_seconds or 0,
                   acquired=spec.acquire_time, renewed=spec.renew_time, transitions=spec.lease_transitions or 0,
                   version=lease.metadata.resource_version if lease.metadata else None)


@dataclass(frozen=True)
class Seen:
    """What a standby remembers of the Lease: its resourceVersion, and when (monotonic, its own clock) it first
    saw that version."""

    version: str | None
    changed_at: float


# --- decisions (pure) -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Create:
    """No Lease yet: create it, holding it."""


@dataclass(frozen=True)
class Take:
    """Write the Lease as its holder: it is free, expired, or already this process's."""

    record: LeaseRecord


@dataclass(frozen=True)
class Wait:
    """Someone else holds a live Lease: stand by (``expires_in``: seconds, by this process's clock, until it may
    be taken if nobody renews it)."""

    holder: str
    expires_in: float


Acquisition = Create | Take | Wait


def observe(seen: Seen | None, record: LeaseRecord | None, now: float) -> Seen:
    """Remember the Lease's version and when this process first saw it (``now`` on its own monotonic clock)."""
    version = record.version if record else None
    if seen is None or version != seen.version:
        return Seen(version, now)
    return seen


def expires_at(record: LeaseRecord) -> datetime | None:
    """When the Lease expires by its holder's wall clock (shown to people; never used to decide)."""
    if record.renewed is None:
        return None
    return record.renewed + timedelta(seconds=record.duration)


def is_expired(record: LeaseRecord, unchanged_for: float) -> bool:
    """Free to take: nobody holds it, or this process has seen this very version of it for a whole lease
    duration by its own clock (``unchanged_for``). The holder's renewTime is never compared with this machine's
    clock."""
    return not record.holder or unchanged_for >= record.duration


def decide(record: LeaseRecord | None, identity: str, unchanged_for: float) -> Acquisition:
    """What a process that does not lead does with the Lease it just read."""
    if record is None:
        return Create()
    if record.holder == identity or is_expired(record, unchanged_for):
        return Take(record)
    return Wait(record.holder or "", max(0.0, record.duration - unchanged_for))


def _micro(when: datetime) -> datetime:
    """The apiserver reads MicroTime with exactly six fractional digits, and Python's isoformat leaves them out
    when they are all zero: move such an instant by one microsecond."""
    return when if when.microsecond else when.replace(microsecond=1)


def build_spec(record: LeaseRecord | None, identity: str, now: datetime, duration: int) -> dict[str, Any]:
    """The spec to write to hold the Lease: a new Lease, a takeover (one more transition, a new acquireTime) or
    a renewal (only renewTime moves)."""
    now = _micro(now)
    if record is not None and record.holder == identity:
        acquired, transitions = record.acquired or now, record.transitions
    else:
        acquired, transitions = now, (0 if record is None else record.transitions + 1)
    return {"holderIdentity": identity, "leaseDurationSeconds": duration, "acquireTime": acquired,
            "renewTime": now, "leaseTransitions": transitions}


def build_release(record: LeaseRecord, now: datetime) -> dict[str, Any]:
    """The spec that gives the Lease back: no holder, so a standby takes it at its next try."""
    return {"leaseDurationSeconds": record.duration, "acquireTime": record.acquired, "renewTime": _micro(now),
            "leaseTransitions": record.transitions}


def next_renewal(renewed_at: float, failed_at: float | None, timing: Timing) -> float:
    """When (monotonic) to renew next: a renew period after the last successful renewal started, or a retry
    period after a failed attempt, whichever is later."""
    due = renewed_at + timing.renew_period
    if failed_at is not None:
        due = max(due, failed_at + timing.retry_period)
    return due


def is_lost(renewed_at: float, now: float, timing: Timing) -> bool:
    """Stop leading: the last successful renewal started a renew deadline ago or more. The deadline is shorter
    than the lease duration, so the leader has stopped before any standby may take its Lease."""
    return now - renewed_at >= timing.deadline


# --- the Lease, read and written -------------------------------------------------------------------------


class Conflict(Exception):
    """The Lease changed since it was read (409): someone else wrote it."""


def api_client() -> client.ApiClient:
    """The Lease's own client: one connection is enough, and no retries inside a call (urllib3 would retry a
    hung request three times): the elector retries itself."""
    return kube_api_client(pool_size=1, retries=0)


def default_namespace() -> str:
    """The Pod's namespace (from its ServiceAccount), else ``default``."""
    try:
        return SERVICE_ACCOUNT_NAMESPACE.read_text().strip() or "default"
    except OSError:
        return "default"


def default_identity() -> str:
    """The Pod's name ($HOSTNAME) and a random suffix: a restarted container is a new candidate."""
    return f"{os.environ.get('HOSTNAME') or socket.gethostname()}_{uuid.uuid4().hex[:8]}"


def describe_error(err: BaseException) -> str:
    """An API error as the apiserver said it (e.g. ``... cannot get resource "leases" ...``), else the error."""
    if isinstance(err, ApiException):
        try:
            message = json.loads(err.body or "{}").get("message")
        except (ValueError, AttributeError):
            message = None
        return f"status={err.status} {message or err.reason}"
    return f"{type(err).__name__}: {err}"


TRANSIENT = (ApiException, urllib3.exceptions.HTTPError, OSError)


class LeaseClient:
    """Reads and writes one Lease; every call runs on this client's own thread, with a timeout."""

    def __init__(self, api: client.ApiClient, namespace: str, name: str, timeout: float):
        self.api = api
        self.coordination = client.CoordinationV1Api(api)
        self.namespace, self.name, self.timeout = namespace, name, timeout
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lease")

    async def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` of the kubernetes client (untyped: its result is read into a ``LeaseRecord`` at once),
        on this client's thread, with the timeout."""
        return await asyncio.get_running_loop().run_in_executor(
            self._pool, lambda: fn(*args, _request_timeout=self.timeout))

    async def read(self) -> LeaseRecord | None:
        try:
            lease = await self._call(self.coordination.read_namespaced_lease, self.name, self.namespace)
        except ApiException as err:
            if err.status == 404:
                return None
            raise
        return LeaseRecord.from_lease(lease)

    async def create(self, spec: dict[str, Any]) -> LeaseRecord:
        body = {"metadata": {"name": self.name, "namespace": self.namespace}, "spec": spec}
        try:
            return LeaseRecord.from_lease(await self._call(self.coordination.create_namespaced_lease,
                                                           self.namespace, body))
        except ApiException as err:
            if err.status == 409:
                raise Conflict from err
            raise

    async def replace(self, spec: dict[str, Any], version: str | None) -> LeaseRecord:
        body = {"metadata": {"name": self.name, "namespace": self.namespace, "resourceVersion": version},
                "spec": spec}
        try:
            return LeaseRecord.from_lease(await self._call(self.coordination.replace_namespaced_lease,
                                                           self.name, self.namespace, body))
        except ApiException as err:
            if err.status in (404, 409):  # changed, or deleted, since it was read
                raise Conflict from err
            raise

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        close_api(self.api)


# --- the elector -----------------------------------------------------------------------------------------


def exit_now(reason: str) -> None:
    """Leadership is gone: say so, flush the logs and end the process at once (its Deployment starts it again,
    as a standby)."""
    log.error("Lost the leader Lease: %s; exiting so that another kto leads", reason)
    for handler in logging.getLogger().handlers:
        handler.flush()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(1)


def utc_now() -> datetime:
    return datetime.now(UTC)


class LeaderElector:
    """Acquire the Lease (``acquire``), keep it (``keep``, a task that ends the process through ``on_lost``
    when the Lease is lost), give it back (``release``)."""

    def __init__(self, leases: LeaseClient, identity: str, timing: Timing,
                 on_lost: Callable[[str], None] = exit_now, monotonic: Callable[[], float] = time.monotonic,
                 wall: Callable[[], datetime] = utc_now, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep):
        self.leases, self.identity, self.timing = leases, identity, timing
        self._on_lost, self._mono, self._wall, self._sleep = on_lost, monotonic, wall, sleep
        self._record: LeaseRecord | None = None  # the Lease as this process last wrote it
        self.renewed_at: float | None = None  # monotonic start of the last successful write
        self.leading_since: float | None = None
        self.holder: str | None = None  # who holds the Lease, as last seen
        self._lost = threading.Event()
        self._watchdog: threading.Thread | None = None

    @property
    def lease(self) -> str:
        return f"{self.leases.namespace}/{self.leases.name}"

    @property
    def leading(self) -> bool:
        return self.renewed_at is not None and not self._lost.is_set()

    # --- acquiring ---

    async def acquire(self) -> None:
        """Return once this process holds the Lease; until then, stand by (try again every retry period)."""
        seen: Seen | None = None
        waiting_for: str | None = None
        while True:
            started = self._mono()
            try:
                record = await self.leases.read()
                seen = observe(seen, record, self._mono())
                self.holder = record.holder if record else None
                match decide(record, self.identity, self._mono() - seen.changed_at):
                    case Create():
                        written = await self.leases.create(build_spec(None, self.identity, self._wall(),
                                                                      self.timing.lease_duration))
                    case Take(record=old):
                        written = await self.leases.replace(build_spec(old, self.identity, self._wall(),
                                                                       self.timing.lease_duration), old.version)
                    case Wait(holder=holder, expires_in=expires_in):
                        if holder != waiting_for:
                            log.info("Standing by lease=%s holder=%s takeover_in=%.0fs identity=%s", self.lease,
                                     holder, expires_in, self.identity)
                            waiting_for = holder
                        await self._sleep(self.timing.retry_period)
                        continue
            except Conflict:
                log.info("The leader Lease changed while this kto was taking it lease=%s", self.lease)
            except TRANSIENT as err:
                log.warning("Acquiring the leader Lease failed lease=%s %s", self.lease, describe_error(err))
            else:
                self._won(written, started)
                return
            await self._sleep(self.timing.retry_period)

    def _won(self, record: LeaseRecord, started: float) -> None:
        self._record, self.renewed_at, self.leading_since = record, started, started
        self.holder = self.identity
        metrics.LEADER.set(1)
        log.info("Acquired the leader Lease lease=%s identity=%s transitions=%d", self.lease, self.identity,
                 record.transitions)
        self._watchdog = threading.Thread(target=self._watch, name="lease-watchdog", daemon=True)
        self._watchdog.start()

    # --- keeping ---

    async def keep(self) -> None:
        """Renew the Lease until cancelled; on losing it, ``on_lost``."""
        failed_at: float | None = None
        while not self._lost.is_set():
            assert self.renewed_at is not None
            await self._sleep(max(0.0, next_renewal(self.renewed_at, failed_at, self.timing) - self._mono()))
            if self._lost.is_set():
                return
            started = self._mono()
            try:
                await self._renew(started)
            except Conflict as lost:
                self._lose(str(lost) or "the Lease changed under this process")
                return
            except TRANSIENT as err:
                failed_at = self._mono()
                log.warning("Renewing the leader Lease failed lease=%s %s", self.lease, describe_error(err))
            else:
                failed_at = None

    async def _renew(self, started: float) -> None:
        """One renewal; Conflict (with the reason) when someone else holds the Lease now."""
        assert self._record is not None
        spec = build_spec(self._record, self.identity, self._wall(), self.timing.lease_duration)
        try:
            written = await self.leases.replace(spec, self._record.version)
        except Conflict:
            # Our own earlier write may have landed without its answer: read, and renew only if it is still ours.
            current = await self.leases.read()
            if current is None or current.holder != self.identity:
                holder = current.holder if current else None
                raise Conflict(f"the Lease is now held by {holder or 'nobody'}") from None
            written = await self.leases.replace(build_spec(current, self.identity, self._wall(),
                                                           self.timing.lease_duration), current.version)
        self._record, self.renewed_at = written, started

    def _watch(self) -> None:
        """The watchdog: ends leadership when the last renewal is a renew deadline old, even if the event loop
        is stuck."""
        while not self._lost.wait(0.2):
            renewed_at = self.renewed_at
            if renewed_at is not None and is_lost(renewed_at, self._mono(), self.timing):
                self._lose(f"not renewed within the renew deadline ({self.timing.deadline:g}s; the Lease lasts "
                           f"{self.timing.lease_duration}s)")
                return

    def _lose(self, reason: str) -> None:
        if self._lost.is_set():
            return
        self._lost.set()
        metrics.LEADER.set(0)
        self._on_lost(reason)

    # --- giving back ---

    async def release(self) -> None:
        """At a clean shutdown, after the last write: give the Lease back so a standby takes it at once."""
        if not self.leading or self._record is None:
            return
        self._lost.set()  # stops the watchdog; nothing is written any more
        metrics.LEADER.set(0)
        try:
            await self.leases.replace(build_release(self._record, self._wall()), self._record.version)
        except (Conflict, *TRANSIENT) as err:
            log.warning("Releasing the leader Lease failed lease=%s %s", self.lease, describe_error(err))
            return
        log.info("Released the leader Lease lease=%s", self.lease)

    def close(self) -> None:
        self.leases.close()

    # --- health ---

    def problem(self) -> str | None:
        """Why leading is not healthy now (the Lease not renewed within the renew deadline), or None."""
        if self.renewed_at is None:
            return None
        ago = self._mono() - self.renewed_at
        if ago >= self.timing.deadline:
            return (f"the leader Lease was last renewed {ago:.0f}s ago (renew deadline {self.timing.deadline:g}s, "
                    f"it lasts {self.timing.lease_duration}s)")
        return None

    def describe(self) -> dict[str, Any]:
        ago = None if self.renewed_at is None else round(self._mono() - self.renewed_at, 1)
        return {"leaderElection": True, "lease": self.lease, "identity": self.identity, "holder": self.holder,
                "renewedSecondsAgo": ago}


class Unelected:
    """``--no-leader-elect``: this process leads from the start, with nothing to renew."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic):
        self.leading_since = monotonic()
        self.leading = True

    async def acquire(self) -> None:
        metrics.LEADER.set(1)

    async def keep(self) -> None:
        await asyncio.Event().wait()

    async def release(self) -> None:
        return None

    def close(self) -> None:
        return None

    def problem(self) -> str | None:
        return None

    def describe(self) -> dict[str, Any]:
        return {"leaderElection": False}
