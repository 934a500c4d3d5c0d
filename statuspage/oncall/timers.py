"""Durable timers: an acknowledgement deadline or a reminder, kept as a row so that it outlives
the process that set it, and fired exactly once by whichever worker claims it first.

A timer is *scheduled* inside the transaction of the change that calls for it (a declaration
schedules the first acknowledgement deadline), so it exists exactly when that change committed.

Firing happens in two transactions, like the outbox (:mod:`statuspage.outbox`):

1. **Claim** — one ``UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED) RETURNING`` sets
   ``claimed_until`` (a lease) on a batch of due rows and commits at once. On PostgreSQL two
   workers claiming at the same moment skip each other's rows; on SQLite the statement runs under
   the database's single write lock. The lease is short: firing a timer is a few statements.
2. **Fire** — one write transaction per timer (:func:`fire`): lock the row again, check that it
   is still pending *and still ours*, run the handler for its kind (the escalation engine advances
   the incident's playbook and writes pages), mark it fired, commit. The change a timer causes
   and "this timer has fired" are one fact: a worker killed half-way leaves both undone.

"Still ours" is a fencing token: the ``claimed_until`` value a claim wrote. A worker that stalled
past its lease finds another worker's (strictly later) value there, or the row already fired,
and does nothing. A crashed worker's claim simply runs out, and the next claim takes the row.

Handlers are looked up by ``kind``. Only kinds with a handler are claimed, so rows another part
of the product keeps for its own bookkeeping (the daily Slack digest's ``digest:YYYY-MM-DD``)
are never taken by a worker that does not know them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, func, or_, type_coerce, update
from sqlmodel import Session, col, select

from statuspage.context import Actor, Process, TimerHandler, WriteContext, write
from statuspage.db.models import Timer
from statuspage.db.types import UTCDateTime
from statuspage.db.unavailable import while_claim_lasts
from statuspage.domain.enums import Source

log = logging.getLogger(__name__)

PENDING = "pending"
FIRED = "fired"
CANCELLED = "cancelled"
STATES = (PENDING, FIRED, CANCELLED)

# A claim only has to outlast one short transaction per timer of its batch; a worker killed with
# its claim taken delays those timers by at most this much.
DEFAULT_LEASE = timedelta(seconds=10)
# Each pass of the worker also scans for SLA breaches and delivers the outbox; a bigger batch spreads
# that cost over more timers when many fall due together (a few hundred ms of firing, far inside the lease).
DEFAULT_BATCH = 100
WORKER_ACTOR = Actor("on-call", Source.SYSTEM)



# Setting and cancelling, inside the caller's transaction --------------------------------------


def schedule(
    session: Session,
    *,
    incident_id: int | None,
    kind: str,
    key: str,
    due_at: datetime,
    now: datetime,
    payload: dict[str, Any] | None = None,
) -> Timer:
    """Add a pending timer to the caller's transaction.

    ``(incident_id, key)`` is unique: scheduling a key that is still pending moves its deadline
    (the same deadline asked for twice is one timer); a key that already fired or was cancelled
    is a bug in whoever chose the key, since a fired timer must never fire again.
    """
    existing = session.exec(
        select(Timer).where(Timer.incident_id == incident_id, Timer.key == key).with_for_update()
    ).first()
    if existing is not None:
        if existing.state != PENDING:
            raise RuntimeError(f"timer {key!r} of incident {incident_id} already {existing.state}")
        existing.due_at = due_at
        existing.kind = kind
        existing.payload = payload
        return existing
    timer = Timer(
        incident_id=incident_id, kind=kind, key=key, due_at=due_at, state=PENDING, created_at=now, payload=payload
    )
    session.add(timer)
    return timer


def done_once(session: Session, key: str) -> bool:
    """Whether a site-wide job done once per period (the daily digest, the weekly report, keyed
    by the period) has been marked done by :func:`mark_done`, by any worker."""
    found = session.exec(select(Timer.id).where(Timer.key == key, col(Timer.incident_id).is_(None)).limit(1)).first()
    return found is not None


def mark_done(session: Session, *, kind: str, key: str, due_at: datetime, now: datetime, payload: dict[str, Any]) -> None:
    """Mark a once-per-period job done, in the write transaction that does it: a fired timer
    without an incident. That transaction takes the data-version lock first, so a second worker
    checking :func:`done_once` inside its own sees this row and leaves the job alone."""
    session.add(
        Timer(incident_id=None, kind=kind, key=key, due_at=due_at, state=FIRED, fired_at=now, created_at=now, payload=payload)
    )


def cancel(session: Session, *, incident_id: int | None, key: str) -> bool:
    """Cancel a pending timer; ``False`` when there was none pending (already fired or cancelled)."""
    result = session.exec(
        update(Timer)
        .where(col(Timer.incident_id) == incident_id, col(Timer.key) == key, col(Timer.state) == PENDING)
        .values(state=CANCELLED, claimed_until=None)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)


def cancel_all(session: Session, *, incident_id: int, kinds: Iterable[str] | None = None) -> int:
    """Cancel every pending timer of an incident (of the given kinds); returns how many."""
    statement = update(Timer).where(col(Timer.incident_id) == incident_id, col(Timer.state) == PENDING)
    if kinds is not None:
        statement = statement.where(col(Timer.kind).in_(list(kinds)))
    result = session.exec(
        statement.values(state=CANCELLED, claimed_until=None).execution_options(synchronize_session=False)
    )
    return int(result.rowcount)


def pending(session: Session, *, incident_id: int) -> list[Timer]:
    """An incident's pending timers, soonest first."""
    return list(
        session.exec(
            select(Timer)
            .where(Timer.incident_id == incident_id, Timer.state == PENDING)
            .order_by(col(Timer.due_at), col(Timer.id))
        ).all()
    )


# Claiming and firing -------------------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    """A timer a worker has taken for a while. ``token`` is the lease it wrote (see module doc)."""

    id: int
    kind: str
    key: str
    incident_id: int | None
    due_at: datetime
    token: datetime


def claim_due(
    session: Session,
    *,
    now: datetime,
    kinds: Sequence[str],
    lease: timedelta = DEFAULT_LEASE,
    limit: int = DEFAULT_BATCH,
) -> list[Claim]:
    """Take up to ``limit`` due timers for ``lease``, soonest first, and commit.

    Due means pending, ``due_at`` reached, and no live claim on it. Only ``kinds`` (those this
    worker has handlers for) are taken.
    """
    chosen = list(kinds)
    if not chosen:
        return []
    token = now + lease
    due = (
        select(Timer.id)
        .where(
            col(Timer.state) == PENDING,
            col(Timer.due_at) <= now,
            or_(col(Timer.claimed_until).is_(None), col(Timer.claimed_until) <= now),
            col(Timer.kind).in_(chosen),
        )
        .order_by(col(Timer.due_at), col(Timer.id))
        .limit(limit)
        .with_for_update(skip_locked=True)  # PostgreSQL; SQLite renders nothing
    )
    try:
        # One statement, for the reason statuspage.outbox.claim_due gives: choosing and taking
        # must not be told apart by another worker.
        rows = session.exec(
            update(Timer)
            .where(col(Timer.id).in_(due.scalar_subquery()))
            .values(claimed_until=token)
            .returning(col(Timer.id), col(Timer.kind), col(Timer.key), col(Timer.incident_id), col(Timer.due_at))
            .execution_options(synchronize_session=False)
        ).all()
        session.commit()
    except BaseException:
        session.rollback()
        raise
    claims = [Claim(id=r[0], kind=r[1], key=r[2], incident_id=r[3], due_at=r[4], token=token) for r in rows]
    return sorted(claims, key=lambda c: (c.due_at, c.id))


def next_due(session: Session, *, kinds: Sequence[str]) -> datetime | None:
    """When the soonest pending timer of ``kinds`` falls due, so an idle worker can wake for it
    instead of sleeping a whole poll interval past it."""
    chosen = list(kinds)
    if not chosen:
        return None
    # A timer another worker holds becomes ours to fire only when its claim runs out.
    ready_at = case((col(Timer.claimed_until) > col(Timer.due_at), col(Timer.claimed_until)), else_=col(Timer.due_at))
    soonest = type_coerce(func.min(ready_at), UTCDateTime)
    return session.exec(select(soonest).where(col(Timer.state) == PENDING, col(Timer.kind).in_(chosen))).one()


def release(session: Session, claims: Sequence[Claim]) -> None:
    """Give claimed timers back unfired (the worker is stopping), so they need not wait out the lease."""
    for claim in claims:
        session.exec(
            update(Timer)
            .where(col(Timer.id) == claim.id, col(Timer.state) == PENDING, col(Timer.claimed_until) == claim.token)
            .values(claimed_until=None)
            .execution_options(synchronize_session=False)
        )
    session.commit()


def take(session: Session, claim: Claim) -> Timer | None:
    """Inside the fire transaction: the claimed row, locked, if it is still pending and still ours.

    ``None`` when it was cancelled since the claim (an acknowledgement came first), or fired by
    another worker after this claim's lease ran out.
    """
    return session.exec(
        select(Timer)
        .where(Timer.id == claim.id, Timer.state == PENDING, Timer.claimed_until == claim.token)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()


@dataclass(frozen=True)
class Fired:
    """A timer that fired, and the audit events its handler wrote (what it did)."""

    timer: Timer
    events: tuple[Any, ...]


@write
def fire(*, ctx: WriteContext, claim: Claim, handler: TimerHandler) -> Fired | None:
    """Fire one claimed timer: run its handler and mark it fired, in one write transaction.

    Returns ``None`` (and changes nothing) when the claim has gone stale.
    """
    timer = take(ctx.session, claim)
    if timer is None:
        return None
    mark = len(ctx.audit_events)
    handler(ctx, timer)
    timer.state = FIRED
    timer.fired_at = ctx.now()
    timer.claimed_until = None
    ctx.session.add(timer)
    return Fired(timer=timer, events=tuple(ctx.audit_events[mark:]))


@dataclass
class FireReport:
    claimed: int = 0
    fired: int = 0
    stale: int = 0
    failed: int = 0
    released: int = 0
    results: list[Fired] | None = None


def fire_due(
    runtime: Process,
    *,
    actor: Actor = WORKER_ACTOR,
    kinds: Sequence[str] | None = None,
    lease: timedelta = DEFAULT_LEASE,
    limit: int = DEFAULT_BATCH,
    stop: Callable[[], bool] | None = None,
    on_fired: Callable[[Fired], None] | None = None,
) -> FireReport:
    """One pass: claim a batch of due timers and fire each in a transaction of its own.

    A handler that raises rolls back its own timer's transaction only: the timer stays claimed and
    is tried again when the lease runs out, and the rest of the batch goes on. ``stop`` is asked
    between timers; when it says so, the rest of the batch is released. Timers are fired with the
    process's handlers, of ``kinds`` only when given.
    """
    report = FireReport()
    handlers = runtime.timer_handlers
    chosen = [kind for kind in handlers if kinds is None or kind in kinds]
    with runtime.session() as session:
        claims = claim_due(session, now=runtime.clock.now(), kinds=chosen, lease=lease, limit=limit)
        report.claimed = len(claims)
        for index, claim in enumerate(claims):
            if stop is not None and stop():
                release(session, claims[index:])
                report.released = len(claims) - index
                break
            try:
                result = _fire_when_possible(runtime, session, actor, claim, handlers, stop)
            except Exception:  # noqa: BLE001 - one broken timer must not hold up the others
                log.exception("firing timer %s (%s) failed; it is retried after its lease", claim.id, claim.key)
                report.failed += 1
                continue
            if result is None:
                report.stale += 1
                continue
            report.fired += 1
            if on_fired is not None:
                on_fired(result)
    return report


def _fire_when_possible(
    runtime: Process,
    session: Session,
    actor: Actor,
    claim: Claim,
    handlers: Mapping[str, TimerHandler],
    stop: Callable[[], bool] | None,
) -> Fired | None:
    """:func:`fire`, again when the database went away in the middle of it (a restart, a cut
    connection): the transaction rolled back whole, and the claim is still ours until its lease
    ends, so the same timer is fired as soon as the database is back instead of after the lease.
    Past the lease, or when told to stop, the error goes up and the next claim takes the timer."""
    return while_claim_lasts(
        lambda: fire(ctx=runtime.context(session, actor), claim=claim, handler=handlers[claim.kind]),
        claim_ends=claim.token,
        now=runtime.clock.now,
        stop=stop,
        what=f"timer {claim.id} ({claim.key})",
    )
