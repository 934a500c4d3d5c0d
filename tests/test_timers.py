"""Durable timers: claimed with a lease, fired once, a stale claim does nothing.

The timers here are of a test kind whose handler writes one audit event, so "fired twice" is
something the database can count. The escalation engine's own timers are exercised in
tests/test_oncall.py and, with a real worker process, in tests/test_watch.py.
"""

from __future__ import annotations

import dataclasses
import threading
from datetime import timedelta

import pytest
from sqlalchemy import func
from sqlmodel import col, select

from statuspage.clock import FixedClock
from statuspage.context import WriteContext
from statuspage.db.models import AuditEvent, Timer
from statuspage.oncall import timers
from statuspage.runtime import Runtime

KIND = "test_timer"
LEASE = timedelta(seconds=30)


def _handler(ctx: WriteContext, timer: Timer) -> None:
    if (timer.payload or {}).get("explode"):
        raise RuntimeError("handler bug")
    ctx.audit(action="timer.test", subject_type="timer", subject_id=timer.key, at=ctx.now())


@pytest.fixture
def runtime(runtime: Runtime) -> Runtime:
    """The test runtime, firing this module's timer kind with ``_handler``."""
    return dataclasses.replace(runtime, timer_handlers={**runtime.timer_handlers, KIND: _handler})


def add(runtime: Runtime, key: str, due_in: timedelta = timedelta(0), **payload: object) -> None:
    with runtime.session() as session:
        now = runtime.clock.now()
        timers.schedule(
            session, incident_id=None, kind=KIND, key=key, due_at=now + due_in, now=now, payload=payload or None
        )
        session.commit()


def claim(runtime: Runtime, **kwargs: object) -> list[timers.Claim]:
    with runtime.session() as session:
        return timers.claim_due(session, now=runtime.clock.now(), kinds=[KIND], lease=LEASE, **kwargs)  # type: ignore[arg-type]


def fire(runtime: Runtime, c: timers.Claim) -> timers.Fired | None:
    with runtime.session() as session:
        return timers.fire(ctx=runtime.context(session, timers.WORKER_ACTOR), claim=c, handler=_handler)


def fired_counts(runtime: Runtime) -> dict[str, int]:
    with runtime.session() as session:
        rows = session.exec(
            select(AuditEvent.subject_id, func.count())
            .where(AuditEvent.action == "timer.test")
            .group_by(col(AuditEvent.subject_id))
        ).all()
    return {key: count for key, count in rows}


def state_of(runtime: Runtime, key: str) -> Timer:
    with runtime.session() as session:
        return session.exec(select(Timer).where(Timer.key == key)).one()


def test_only_due_timers_are_claimed_soonest_first_and_a_claim_holds(runtime: Runtime, clock: FixedClock) -> None:
    add(runtime, "later", timedelta(seconds=20))
    add(runtime, "b", timedelta(seconds=-10))
    add(runtime, "a", timedelta(seconds=-20))
    first = claim(runtime)
    assert [c.key for c in first] == ["a", "b"]
    assert claim(runtime) == []  # the lease holds them
    clock.advance(seconds=20)
    assert [c.key for c in claim(runtime)] == ["later"]  # a and b are still held


def test_fire_runs_the_handler_once_and_marks_the_timer(runtime: Runtime, clock: FixedClock) -> None:
    add(runtime, "t1")
    (c,) = claim(runtime)
    result = fire(runtime, c)
    assert result is not None and [e.action for e in result.events] == ["timer.test"]
    assert fire(runtime, c) is None  # firing the same claim again does nothing
    row = state_of(runtime, "t1")
    assert (row.state, row.fired_at, row.claimed_until) == (timers.FIRED, clock.now(), None)
    clock.advance(hours=1)
    assert claim(runtime) == []
    assert fired_counts(runtime) == {"t1": 1}


def test_an_expired_lease_is_claimed_again_and_the_stale_claim_does_nothing(runtime: Runtime, clock: FixedClock) -> None:
    add(runtime, "t1")
    (stale,) = claim(runtime)  # this worker then stalls (or dies) past its lease
    clock.advance(seconds=29)
    assert claim(runtime) == []
    clock.advance(seconds=2)
    (fresh,) = claim(runtime)
    assert fresh.token > stale.token
    assert fire(runtime, stale) is None
    assert fire(runtime, fresh) is not None
    assert fire(runtime, stale) is None
    assert fired_counts(runtime) == {"t1": 1}


def test_a_timer_cancelled_after_its_claim_is_not_fired(runtime: Runtime) -> None:
    add(runtime, "t1")
    (c,) = claim(runtime)
    with runtime.session() as session:
        assert timers.cancel(session, incident_id=None, key="t1")
        session.commit()
    assert fire(runtime, c) is None
    assert state_of(runtime, "t1").state == timers.CANCELLED
    assert fired_counts(runtime) == {}


def test_kinds_without_a_handler_are_left_alone(runtime: Runtime) -> None:
    with runtime.session() as session:
        now = runtime.clock.now()
        timers.schedule(session, incident_id=None, kind="digest", key="digest:2026-11-25", due_at=now, now=now)
        session.commit()
        assert timers.claim_due(session, now=now, kinds=list(runtime.timer_handlers)) == []
    assert state_of(runtime, "digest:2026-11-25").claimed_until is None


def test_scheduling_a_pending_key_again_moves_it_and_a_fired_key_is_refused(runtime: Runtime, clock: FixedClock) -> None:
    add(runtime, "t1", timedelta(minutes=5))
    add(runtime, "t1", timedelta(minutes=1))
    assert state_of(runtime, "t1").due_at == clock.now() + timedelta(minutes=1)
    clock.advance(minutes=1)
    (c,) = claim(runtime)
    fire(runtime, c)
    with pytest.raises(RuntimeError, match="already fired"):
        add(runtime, "t1")


def test_a_failing_handler_rolls_back_and_is_retried_after_the_lease(runtime: Runtime, clock: FixedClock) -> None:
    add(runtime, "bad", explode=True)
    add(runtime, "good")
    report = timers.fire_due(runtime, kinds=[KIND], lease=LEASE)
    assert (report.claimed, report.fired, report.failed) == (2, 1, 1)
    assert state_of(runtime, "bad").state == timers.PENDING
    assert timers.fire_due(runtime, kinds=[KIND], lease=LEASE).claimed == 0
    clock.advance(seconds=31)
    assert timers.fire_due(runtime, kinds=[KIND], lease=LEASE).failed == 1
    assert fired_counts(runtime) == {"good": 1}


def test_stopping_releases_the_rest_of_the_batch(runtime: Runtime) -> None:
    for key in ("a", "b", "c"):
        add(runtime, key)
    answers = iter([False, True])
    report = timers.fire_due(runtime, kinds=[KIND], lease=LEASE, stop=lambda: next(answers))
    assert (report.fired, report.released) == (1, 2)
    assert [c.key for c in claim(runtime)] == ["b", "c"]  # at once, not after the lease


def test_two_workers_over_1000_timers_never_fire_one_twice(runtime: Runtime, db_url: str) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite runs one worker; row locks and SKIP LOCKED are PostgreSQL's")
    with runtime.session() as session:
        now = runtime.clock.now()
        session.add_all(
            Timer(kind=KIND, key=f"t{n:04d}", due_at=now - timedelta(seconds=n % 7), state=timers.PENDING, created_at=now)
            for n in range(1000)
        )
        session.commit()
    totals: list[timers.FireReport] = []
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def worker() -> None:
        try:
            start.wait()
            total = timers.FireReport()
            while True:
                report = timers.fire_due(runtime, kinds=[KIND], lease=LEASE, limit=25)
                if report.claimed == 0:
                    break
                total.claimed += report.claimed
                total.fired += report.fired
                total.stale += report.stale
                total.failed += report.failed
            totals.append(total)
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert len(totals) == 2
    # Both worked, and between them claimed each timer exactly once.
    assert all(t.fired > 0 for t in totals), totals
    assert sum(t.claimed for t in totals) == 1000
    assert sum(t.fired for t in totals) == 1000 and sum(t.failed + t.stale for t in totals) == 0
    counts = fired_counts(runtime)
    assert len(counts) == 1000 and set(counts.values()) == {1}
    with runtime.session() as session:
        states = session.exec(select(Timer.state, func.count()).group_by(col(Timer.state))).all()
    assert dict(states) == {timers.FIRED: 1000}
