"""Leader election: the pure decisions as tables, and the elector against an in-memory Lease with a fake clock."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from kto.ops import leader
from kto.ops.leader import (
    Conflict,
    Create,
    LeaderElector,
    LeaseRecord,
    Seen,
    Take,
    Timing,
    Wait,
    build_release,
    build_spec,
    decide,
    is_expired,
    is_lost,
    next_renewal,
    observe,
)
from kto.telemetry import metrics
from kubernetes.client.rest import ApiException

T0 = datetime(2030, 1, 1, 12, 0, 0, 500_000, tzinfo=UTC)
ME, OTHER = "kto-a_1", "kto-b_2"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def lease(holder: str | None = OTHER, renewed: float | None = 0, duration: int = 15, transitions: int = 2,
          acquired: float = -100, version: str = "7") -> LeaseRecord:
    return LeaseRecord(holder, duration, at(acquired), None if renewed is None else at(renewed), transitions,
                       version)


# --- is it expired, should I take it ------------------------------------------------------------------------


@pytest.mark.parametrize("record, unchanged_for, expired", [
    (lease(holder=None), 0, True),  # given back
    (lease(holder=""), 0, True),
    (lease(), 0, False),  # first seen just now: a fresh standby waits a whole duration too
    (lease(), 14.9, False),
    (lease(), 15, True),  # unchanged for a lease duration by this process's own clock
    (lease(renewed=None), 0, False),  # never renewed: still only this process's own clock decides
    (lease(duration=30), 20, False),  # the Lease's own duration counts, not ours
    (lease(duration=30), 30, True),
])
def test_is_expired(record: LeaseRecord, unchanged_for: float, expired: bool) -> None:
    assert is_expired(record, unchanged_for) is expired


@pytest.mark.parametrize("record, unchanged_for, expected", [
    (None, 0, Create()),
    (lease(holder=None), 0, Take(lease(holder=None))),
    (lease(holder=ME), 0, Take(lease(holder=ME))),  # ours already (an answer we did not get)
    (lease(), 5, Wait(OTHER, 10.0)),
    (lease(), 16, Take(lease())),
    (lease(), 2, Wait(OTHER, 13.0)),
])
def test_decide(record: LeaseRecord | None, unchanged_for: float, expected) -> None:
    assert decide(record, ME, unchanged_for) == expected


@pytest.mark.parametrize("seen, version, now, expected", [
    (None, "7", 10.0, Seen("7", 10.0)),  # first look: its own clock starts now
    (None, None, 10.0, Seen(None, 10.0)),
    (Seen("7", 10.0), "7", 12.0, Seen("7", 10.0)),
    (Seen("7", 10.0), "8", 12.0, Seen("8", 12.0)),  # renewed (or taken) by someone
    (Seen("8", 12.0), "8", 20.0, Seen("8", 12.0)),
    (Seen("8", 12.0), None, 20.0, Seen(None, 20.0)),  # deleted
])
def test_observe(seen: Seen | None, version: str | None, now: float, expected: Seen) -> None:
    record = None if version is None else lease(version=version)
    assert observe(seen, record, now) == expected


# --- what is written --------------------------------------------------------------------------------------


@pytest.mark.parametrize("record, acquired, transitions", [
    (None, 30, 0),  # created
    (lease(holder=OTHER, transitions=2), 30, 3),  # taken over from an expired holder
    (lease(holder=None, transitions=2), 30, 3),  # taken after it was given back
    (lease(holder=ME, transitions=2, acquired=-100), -100, 2),  # renewed: only renewTime moves
])
def test_build_spec_keeps_transitions_right(record: LeaseRecord | None, acquired: float, transitions: int) -> None:
    spec = build_spec(record, ME, at(30), 15)
    assert spec == {"holderIdentity": ME, "leaseDurationSeconds": 15, "acquireTime": at(acquired),
                    "renewTime": at(30), "leaseTransitions": transitions}


def test_times_always_carry_microseconds() -> None:
    """The apiserver parses MicroTime with six fractional digits; isoformat drops them at .000000."""
    whole = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)
    spec = build_spec(None, ME, whole, 15)
    assert spec["renewTime"].isoformat() == "2030-01-01T12:00:00.000001+00:00"
    assert build_release(lease(), whole)["renewTime"].microsecond == 1


def test_build_release_leaves_no_holder_and_keeps_the_count() -> None:
    spec = build_release(lease(holder=ME, transitions=4), at(50))
    assert "holderIdentity" not in spec
    assert (spec["leaseTransitions"], spec["renewTime"], spec["acquireTime"]) == (4, at(50), at(-100))


# --- renewing -------------------------------------------------------------------------------------------------


TIMING = Timing(lease_duration=15, renew_period=5, retry_period=2)
DEADLINE = "not renewed within the renew deadline (10s; the Lease lasts 15s)"


@pytest.mark.parametrize("renewed_at, failed_at, due", [
    (100.0, None, 105.0),  # a renew period after the last renewal started
    (100.0, 101.0, 105.0),  # a failure early on does not bring it forward
    (100.0, 105.0, 107.0),  # after a failed renewal, a retry period later
    (100.0, 111.0, 113.0),
])
def test_next_renewal(renewed_at: float, failed_at: float | None, due: float) -> None:
    assert next_renewal(renewed_at, failed_at, TIMING) == due


@pytest.mark.parametrize("renewed_at, now, lost", [
    (100.0, 100.0, False),
    (100.0, 109.9, False),
    (100.0, 110.0, True),  # the renew deadline (10 s), 5 s before a standby may take the Lease
    (100.0, 200.0, True),
])
def test_is_lost(renewed_at: float, now: float, lost: bool) -> None:
    assert is_lost(renewed_at, now, TIMING) is lost


@pytest.mark.parametrize("timing, problems", [
    (Timing(), []),
    (Timing(15, 15, 2), ["the renew period must be above 0 and below the lease duration",
                         "the renew deadline must be above the renew period and below the lease duration (a "
                         "leader must stop before a standby may take its Lease)"]),
    (Timing(15, 0, 2), ["the renew period must be above 0 and below the lease duration"]),
    (Timing(15, 5, 2, 15), ["the renew deadline must be above the renew period and below the lease duration (a "
                            "leader must stop before a standby may take its Lease)"]),
    (Timing(15, 5, 2, 4), ["the renew deadline must be above the renew period and below the lease duration (a "
                           "leader must stop before a standby may take its Lease)"]),
    (Timing(60, 10, 2), []),
    (Timing(15, 5, 0), ["the retry period must be above 0 and below the lease duration"]),
    (Timing(0, 5, 2), ["the lease duration must be at least 1 second",
                       "the renew period must be above 0 and below the lease duration",
                       "the retry period must be above 0 and below the lease duration",
                       "the renew deadline must be above the renew period and below the lease duration (a "
                       "leader must stop before a standby may take its Lease)"]),
])
def test_timing_problems(timing: Timing, problems: list[str]) -> None:
    assert timing.problems() == problems


@pytest.mark.parametrize("timing, timeout", [(Timing(), 5.0), (Timing(6, 5, 2), 2.0), (Timing(2, 1, 1), 1.0)])
def test_request_timeout_is_well_inside_the_lease(timing: Timing, timeout: float) -> None:
    assert timing.request_timeout == timeout


# --- the elector, against an in-memory Lease ------------------------------------------------------------------


class Clock:
    """Monotonic and wall time that move only when someone sleeps (or the test says so)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def mono(self) -> float:
        return self.now

    def wall(self) -> datetime:
        return T0 + timedelta(seconds=self.now)

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)


class Leases:
    """One Lease with resourceVersions and 409s, as the apiserver keeps it."""

    namespace, name = "kto", "kto-leader"

    def __init__(self) -> None:
        self.record: LeaseRecord | None = None
        self.version = 0
        self.fail: ApiException | None = None  # the next calls fail with this
        self.writes: list[dict[str, Any]] = []

    def _store(self, spec: dict[str, Any]) -> LeaseRecord:
        self.version += 1
        self.record = LeaseRecord(spec.get("holderIdentity"), spec["leaseDurationSeconds"], spec["acquireTime"],
                                  spec["renewTime"], spec["leaseTransitions"], str(self.version))
        self.writes.append(spec)
        return self.record

    async def read(self) -> LeaseRecord | None:
        if self.fail:
            raise self.fail
        record = self.record
        await asyncio.sleep(0)  # another process may read the same version meanwhile
        return record

    async def create(self, spec: dict[str, Any]) -> LeaseRecord:
        if self.fail:
            raise self.fail
        if self.record is not None:
            raise Conflict
        return self._store(spec)

    async def replace(self, spec: dict[str, Any], version: str | None) -> LeaseRecord:
        if self.fail:
            raise self.fail
        if self.record is None or self.record.version != version:
            raise Conflict
        return self._store(spec)

    def close(self) -> None:
        pass


def forbidden(verb: str) -> ApiException:
    err = ApiException(status=403, reason="Forbidden")
    err.body = json.dumps({"message": f'leases.coordination.k8s.io "kto-leader" is forbidden: User "kto" cannot '
                                      f'{verb} resource "leases" in API group "coordination.k8s.io" in the '
                                      f'namespace "kto"'})
    return err


class Lost:
    def __init__(self) -> None:
        self.reasons: list[str] = []
        self.event = threading.Event()

    def __call__(self, reason: str) -> None:
        self.reasons.append(reason)
        self.event.set()


def elector(leases: Leases, clock: Clock, identity: str = ME, lost: Lost | None = None) -> LeaderElector:
    return LeaderElector(leases, identity, TIMING, on_lost=lost or Lost(), monotonic=clock.mono, wall=clock.wall,
                         sleep=clock.sleep)


async def test_the_first_creates_the_lease_and_the_second_stands_by_until_it_expires() -> None:
    clock, leases = Clock(), Leases()
    a, b = elector(leases, clock, ME), elector(leases, clock, OTHER)
    await a.acquire()
    assert a.leading and leases.record.holder == ME and leases.record.transitions == 0
    assert metrics.LEADER._value.get() == 1
    waiting = asyncio.create_task(b.acquire())
    for _ in range(3):  # 6 s of a live Lease
        await asyncio.sleep(0)
    assert not waiting.done() and not b.leading and b.holder == ME
    # a is gone (it never renews): b takes over once renewTime + 15 s has passed.
    await asyncio.wait_for(waiting, 1)
    assert b.leading and leases.record.holder == OTHER and leases.record.transitions == 1
    assert clock.now - 1000.0 >= 15
    assert leases.record.acquired == leases.record.renewed > at(1015)
    await a.release()  # a's release, late, cannot give away b's Lease
    assert leases.record.holder == OTHER
    a._lost.set()
    b._lost.set()


async def test_a_standby_never_takes_a_lease_it_sees_renewed() -> None:
    clock, leases = Clock(), Leases()
    a, b = elector(leases, clock, ME), elector(leases, clock, OTHER)
    await a.acquire()
    keeping = asyncio.create_task(a.keep())
    waiting = asyncio.create_task(b.acquire())
    for _ in range(200):
        await asyncio.sleep(0)
    assert clock.now - 1000.0 > 60  # a minute of renewals and retries
    assert not waiting.done() and leases.record.holder == ME and len(leases.writes) > 10
    assert a.problem() is None
    waiting.cancel()
    await a.release()
    keeping.cancel()
    # Given back: b takes it at its next try.
    before = clock.now
    await asyncio.wait_for(b.acquire(), 1)
    assert leases.record.holder == OTHER and leases.record.transitions == 1 and clock.now - before == 0
    b._lost.set()


async def test_renewal_only_moves_renew_time() -> None:
    clock, leases = Clock(), Leases()
    a = elector(leases, clock)
    await a.acquire()
    first = leases.record
    keeping = asyncio.create_task(a.keep())
    while len(leases.writes) < 3:
        await asyncio.sleep(0)
    keeping.cancel()
    assert leases.record.holder == ME and leases.record.transitions == first.transitions
    assert leases.record.acquired == first.acquired and leases.record.renewed > first.renewed
    a._lost.set()


async def test_someone_else_holding_the_lease_ends_leadership_at_once() -> None:
    clock, leases, lost = Clock(), Leases(), Lost()
    a = elector(leases, clock, lost=lost)
    await a.acquire()
    # Another process wrote the Lease (e.g. after an apiserver that kept a's renewals from landing).
    leases._store(build_spec(leases.record, OTHER, clock.wall(), 15))
    await asyncio.wait_for(a.keep(), 1)
    assert lost.reasons == [f"the Lease is now held by {OTHER}"]
    assert not a.leading and metrics.LEADER._value.get() == 0


async def test_an_unanswered_renewal_that_landed_is_not_a_loss() -> None:
    """A 409 on renewal whose cause is our own earlier write: read, still ours, renew again."""
    clock, leases, lost = Clock(), Leases(), Lost()
    a = elector(leases, clock, lost=lost)
    await a.acquire()
    leases._store(build_spec(leases.record, ME, clock.wall(), 15))  # our write, its answer lost
    await a._renew(clock.mono())
    assert leases.record.holder == ME and not lost.reasons and a.leading
    a._lost.set()


async def test_failing_renewals_end_leadership_when_the_lease_runs_out() -> None:
    clock, leases, lost = Clock(), Leases(), Lost()
    a = elector(leases, clock, lost=lost)
    await a.acquire()
    leases.fail = ApiException(status=500, reason="etcd timeout")
    keeping = asyncio.create_task(a.keep())
    while clock.now - a.renewed_at < 9:
        await asyncio.sleep(0)
    assert not lost.reasons and a.leading and a.problem() is None
    # Retried every 2 s; once the last renewal is a renew deadline (10 s) old the watchdog (a thread) ends it,
    # 5 s before any standby may take the Lease.
    while clock.now - a.renewed_at < 10:
        await asyncio.sleep(0)
    assert lost.event.wait(2)
    assert lost.reasons == [DEADLINE]
    assert not a.leading
    keeping.cancel()


async def test_the_watchdog_does_not_need_the_event_loop() -> None:
    clock, leases, lost = Clock(), Leases(), Lost()
    a = elector(leases, clock, lost=lost)
    await a.acquire()
    clock.now += 10  # nothing renews (as if the loop were stuck)
    assert lost.event.wait(2) and lost.reasons == [DEADLINE]


async def test_forbidden_is_logged_with_the_apiservers_words_and_kto_stands_by(caplog) -> None:
    clock, leases = Clock(), Leases()
    leases.fail = forbidden("get")
    a = elector(leases, clock)
    trying = asyncio.create_task(a.acquire())
    for _ in range(5):
        await asyncio.sleep(0)
    assert not trying.done() and not a.leading
    assert 'status=403 leases.coordination.k8s.io "kto-leader" is forbidden: User "kto" cannot get resource ' \
           '"leases" in API group "coordination.k8s.io" in the namespace "kto"' in caplog.text
    leases.fail = None
    await asyncio.wait_for(trying, 1)
    assert a.leading
    a._lost.set()


async def test_two_standbys_taking_over_at_once_one_wins(caplog) -> None:
    caplog.set_level(logging.INFO, "kto.ops.leader")
    clock, leases = Clock(), Leases()
    leases._store(build_spec(None, "gone_0", clock.wall() - timedelta(seconds=60), 15))  # a dead leader's
    ticks = asyncio.Condition()

    async def tick_sleep(seconds: float) -> None:  # both wait for the test's tick: they read in the same round
        async with ticks:
            await ticks.wait()

    b, c = (LeaderElector(leases, who, TIMING, on_lost=Lost(), monotonic=clock.mono, wall=clock.wall,
                          sleep=tick_sleep) for who in (OTHER, "kto-c_3"))
    # Both read the expired Lease; b writes first, and c's write, with the version both read, gets 409.
    taking = [asyncio.create_task(b.acquire()), asyncio.create_task(c.acquire())]
    for _ in range(12):
        for _ in range(10):
            await asyncio.sleep(0)
        if taking[0].done():
            break
        clock.now += 2
        async with ticks:
            ticks.notify_all()
    await asyncio.wait_for(taking[0], 1)
    async with ticks:
        ticks.notify_all()  # c tries again, and finds b holding it
    for _ in range(10):
        await asyncio.sleep(0)
    assert b.leading and not c.leading and not taking[1].done()
    assert (leases.record.holder, leases.record.transitions) == (OTHER, 1)
    assert "The leader Lease changed while this kto was taking it" in caplog.text
    assert c.holder == OTHER
    taking[1].cancel()
    b._lost.set()


def test_describe_and_problem() -> None:
    clock, leases = Clock(), Leases()
    a = elector(leases, clock)
    assert a.describe() == {"leaderElection": True, "lease": "kto/kto-leader", "identity": ME, "holder": None,
                            "renewedSecondsAgo": None}
    assert not a.leading and a.problem() is None
    a.renewed_at, a._record = clock.now, lease(holder=ME)
    clock.now += 16
    assert a.problem() == "the leader Lease was last renewed 16s ago (renew deadline 10s, it lasts 15s)"


def test_defaults(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("HOSTNAME", "kto-7d9f-abcde")
    assert leader.default_identity().startswith("kto-7d9f-abcde_")
    assert leader.default_identity() != leader.default_identity()
    monkeypatch.setattr(leader, "SERVICE_ACCOUNT_NAMESPACE", tmp_path / "missing")
    assert leader.default_namespace() == "default"
    (tmp_path / "namespace").write_text("platform\n")
    monkeypatch.setattr(leader, "SERVICE_ACCOUNT_NAMESPACE", tmp_path / "namespace")
    assert leader.default_namespace() == "platform"


# --- kto run's flags ---------------------------------------------------------------------------------------


def test_run_flags_default_to_leader_election(monkeypatch) -> None:
    from kto.__main__ import parse_args, timing

    for var in ("KTO_LEADER_ELECT", "KTO_LEADER_ELECTION_NAMESPACE", "KTO_LEADER_ELECTION_NAME"):
        monkeypatch.delenv(var, raising=False)
    args = parse_args(["run"])
    assert args.leader_elect is True
    assert (args.leader_election_namespace, args.leader_election_name) == (None, "kto-leader")
    assert timing(args) == Timing(15, 5.0, 2.0) and timing(args).deadline == 10
    assert parse_args(["run", "--no-leader-elect"]).leader_elect is False
    monkeypatch.setenv("KTO_LEADER_ELECT", "false")
    monkeypatch.setenv("KTO_LEADER_ELECTION_NAMESPACE", "platform")
    args = parse_args(["run"])
    assert (args.leader_elect, args.leader_election_namespace) == (False, "platform")
    assert parse_args(["run", "--leader-elect"]).leader_elect is True


def test_run_refuses_timings_that_cannot_work(capsys) -> None:
    from kto.__main__ import parse_args

    with pytest.raises(SystemExit):
        parse_args(["run", "--leader-elect", "--leader-election-lease-duration", "5",
                    "--leader-election-renew-period", "5"])
    assert "the renew period must be above 0 and below the lease duration" in capsys.readouterr().err


class SkewedClock(Clock):
    """Another machine's clocks: the same monotonic progress, a wall clock ``skew`` seconds off."""

    def __init__(self, base: Clock, skew: float) -> None:
        super().__init__()
        self.base, self.skew = base, skew

    def mono(self) -> float:
        return self.base.now + 7.0  # another machine's monotonic origin

    def wall(self) -> datetime:
        return self.base.wall() + timedelta(seconds=self.skew)

    async def sleep(self, seconds: float) -> None:
        await self.base.sleep(seconds)


@pytest.mark.parametrize("skew", [3600.0, -3600.0, 14.0])
async def test_clock_skew_between_replicas_never_gives_two_leaders(skew: float) -> None:
    """The standby's wall clock is an hour ahead, an hour behind, or nearly a lease ahead: it still never takes a
    Lease it sees renewed, and takes a dead leader's only a full duration after it last saw it change."""
    clock, leases = Clock(), Leases()
    a = elector(leases, clock, ME)
    skewed = SkewedClock(clock, skew)
    b = LeaderElector(leases, OTHER, TIMING, on_lost=Lost(), monotonic=skewed.mono, wall=skewed.wall,
                      sleep=skewed.sleep)
    await a.acquire()
    keeping = asyncio.create_task(a.keep())
    waiting = asyncio.create_task(b.acquire())
    for _ in range(100):
        await asyncio.sleep(0)
    assert clock.now - 1000.0 > 30 and not waiting.done() and leases.record.holder == ME
    keeping.cancel()  # the leader dies without a word
    last_renewal = a.renewed_at
    await asyncio.wait_for(waiting, 1)
    assert leases.record.holder == OTHER
    # a stopped at its renew deadline, b took over only after a lease duration unchanged: never both.
    assert clock.now - last_renewal >= TIMING.lease_duration > TIMING.deadline
    a._lost.set()
    b._lost.set()


async def test_a_fresh_standby_waits_a_whole_duration_even_for_an_old_looking_lease() -> None:
    """The Lease's renewTime is an hour old by this machine's clock (a leader whose clock runs behind, or one that
    just died): a standby that has only now started waits a lease duration of its own before taking it."""
    clock, leases = Clock(), Leases()
    leases._store(build_spec(None, OTHER, clock.wall() - timedelta(hours=1), 15))
    b = elector(leases, clock, ME)
    started = clock.now
    await asyncio.wait_for(b.acquire(), 1)
    assert leases.record.holder == ME and clock.now - started >= 15
    b._lost.set()
