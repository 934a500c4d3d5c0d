"""The outbox's store: message states, what a sender reports, the retry policy, and the
statements that write, claim and record messages. See :mod:`statuspage.outbox` for the contract."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from sqlalchemy import exists, or_, text, update
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from statuspage.context import Actor, WriteContext
from statuspage.db.models import OutboxMessage
from statuspage.domain.enums import Source

PENDING = "pending"
DELIVERED = "delivered"
DEAD = "dead"
STATES = (PENDING, DELIVERED, DEAD)
WORKER_ACTOR = Actor("outbox-worker", Source.SYSTEM)
MAX_ERROR = 2000
# The shortest wait before a retry, even when a receiver says "Retry-After: 0": a worker must not
# spin on one message.
MIN_DELAY = timedelta(seconds=1)


# Outcomes and senders ------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What a sender reports about one attempt.

    ``retry_after`` is the wait the receiver asked for; ``max_attempts`` lowers the policy's limit
    for this kind of failure (a 404 is worth a few tries in case of a deploy, not a day of them).
    A ``wait`` (rate limited, receiver unreachable) is not a failed attempt and never kills the
    message.
    """

    status: Literal["delivered", "retry", "wait", "dead"]
    detail: str = ""
    result: dict[str, Any] | None = None
    retry_after: timedelta | None = None
    max_attempts: int | None = None
    # For a wait without Retry-After: back off like a failed attempt (up to an hour) rather than
    # by the short waits meant for pages. For receivers that may stay down for days.
    patient: bool = False

    @classmethod
    def delivered(cls, result: dict[str, Any] | None = None) -> Outcome:
        return cls("delivered", result=result)

    @classmethod
    def retry(
        cls,
        detail: str,
        *,
        result: dict[str, Any] | None = None,
        retry_after: timedelta | None = None,
        max_attempts: int | None = None,
    ) -> Outcome:
        return cls("retry", detail, result, retry_after, max_attempts)

    @classmethod
    def wait(
        cls,
        detail: str,
        *,
        retry_after: timedelta | None = None,
        result: dict[str, Any] | None = None,
        patient: bool = False,
    ) -> Outcome:
        """Try again later, without counting this as a failed attempt: the receiver asked us to
        slow down, or could not be reached at all."""
        return cls("wait", detail, result, retry_after, patient=patient)

    @classmethod
    def dead(cls, detail: str, *, result: dict[str, Any] | None = None) -> Outcome:
        return cls("dead", detail, result)


class Sender(Protocol):
    """Delivers the messages of one channel.

    ``send`` gets the message and a context on a session of its own, outside any transaction, for
    looking up the target and for state changes the answer calls for (a webhook receiver answering
    410 Gone disables its subscription). It reports an :class:`Outcome`; an exception counts as a
    failure to retry. ``close`` releases connections when the worker stops.

    A sender may also have ``gave_up(message, outcome, ctx) -> str | None``, called once a message
    of its channel went dead: it tells whoever must know (a page that could not be delivered pages
    by another way) and returns a line for the worker's console.
    """

    def send(self, message: OutboxMessage, ctx: WriteContext) -> Outcome: ...

    def close(self) -> None: ...


SenderFactory = Callable[[], Sender]


# Policy --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    """When to try again and when to give up.

    The n-th failed attempt waits ``base_delay * 2**(n-1)``, capped at ``max_delay``, then scaled
    by a random factor between 0.5 and 1 ("equal jitter"): receivers that failed together (a
    deploy, an outage) are not all retried in the same second, yet no retry comes much sooner than
    planned. The defaults try for about a day: 10 s, 20 s, 40 s … then hourly, dead after 25
    failed attempts or when a failure happens more than 24 hours after the message was written.

    Waits (rate limits, outages) follow ``Retry-After`` when the receiver gave one, else
    ``base_wait`` doubling up to ``max_wait``: short, because a page must go out as soon as Slack
    is back, and never counted against ``max_attempts`` or ``max_age``.
    """

    base_delay: timedelta = timedelta(seconds=10)
    max_delay: timedelta = timedelta(hours=1)
    max_attempts: int = 25
    max_age: timedelta = timedelta(hours=24)
    base_wait: timedelta = timedelta(seconds=2)
    max_wait: timedelta = timedelta(seconds=30)
    # How long a claim holds a message unless renewed. The worker renews it every third of it
    # while it holds the batch (:class:`Heartbeat`), so a worker that dies gives its messages up
    # within one lease, however long a batch takes to send.
    lease: timedelta = timedelta(seconds=10)
    batch_size: int = 10
    # PostgreSQL: record outcomes without waiting for the WAL to reach the disk (a bulk lane's
    # choice). A worker killed loses nothing by it; a crash of the database server itself may
    # forget the last fraction of a second of outcomes, whose messages are then sent again with
    # the same delivery id.
    relaxed_commit: bool = False

    def backoff(self, failures: int, rand: Callable[[], float]) -> timedelta:
        exponent = min(max(failures - 1, 0), 30)
        delay = min(self.base_delay * (2**exponent), self.max_delay)
        return max(delay * (0.5 + 0.5 * rand()), MIN_DELAY)

    def wait_backoff(self, waits: int, rand: Callable[[], float]) -> timedelta:
        exponent = min(max(waits - 1, 0), 30)
        delay = min(self.base_wait * (2**exponent), self.max_wait)
        return max(delay * (0.5 + 0.5 * rand()), MIN_DELAY)


DEFAULT_POLICY = RetryPolicy()


# Writing -------------------------------------------------------------------------------------


def new_delivery_id() -> str:
    return str(uuid.uuid4())


def enqueue(
    session: Session,
    *,
    channel: str,
    target: str,
    ordering_key: str,
    event: str,
    payload: dict[str, Any],
    now: datetime,
    delivery_id: str | None = None,
) -> OutboxMessage:
    """Add a message to the caller's transaction, due at once.

    Call it from inside the write transaction of the change the message is about (a
    before-commit hook): it is then committed, or rolled back, with that change. Ids grow in
    commit order because writers are serialised by the data-version lock, so ordering a key's
    messages by id orders them as the changes happened.
    """
    message = OutboxMessage(
        delivery_id=delivery_id or new_delivery_id(),
        channel=channel,
        target=target,
        ordering_key=ordering_key,
        event=event,
        payload=payload,
        state=PENDING,
        attempts=0,
        created_at=now,
        next_attempt_at=now,
    )
    session.add(message)
    return message


# Claiming and recording ------------------------------------------------------------------------------


def claim_due(
    session: Session, *, now: datetime, channels: Sequence[str], policy: RetryPolicy = DEFAULT_POLICY
) -> list[OutboxMessage]:
    """Take up to ``policy.batch_size`` due messages for ``policy.lease``, oldest first, and commit.

    Due means pending, ``next_attempt_at`` reached, not claimed by a live lease, and no older
    pending message with the same ordering key. Only channels this worker can send are taken, so
    a worker without a Slack sender leaves Slack messages to one that has it.
    """
    if not channels:
        return []
    candidate, older = aliased(OutboxMessage), aliased(OutboxMessage)
    blocked = exists().where(
        col(older.ordering_key) == col(candidate.ordering_key),
        col(older.state) == PENDING,
        col(older.id) < col(candidate.id),
    )
    due = (
        select(candidate.id)
        .where(
            col(candidate.state) == PENDING,
            col(candidate.next_attempt_at) <= now,
            or_(col(candidate.claimed_until).is_(None), col(candidate.claimed_until) <= now),
            col(candidate.channel).in_(list(channels)),
            ~blocked,
        )
        .order_by(col(candidate.id))
        .limit(policy.batch_size)
        .with_for_update(skip_locked=True, of=candidate)  # PostgreSQL; SQLite renders nothing
        .correlate(None)
    )
    try:
        # One statement, so choosing and taking cannot be told apart by another worker or writer:
        # on SQLite it runs under the write lock from its first step (a SELECT first would hold a
        # read snapshot that a concurrent commit makes impossible to upgrade), on PostgreSQL the
        # subquery locks its rows and skips those another worker holds.
        claimed = session.exec(
            update(OutboxMessage)
            .where(col(OutboxMessage.id).in_(due.scalar_subquery()))
            .values(claimed_until=now + policy.lease)
            .returning(col(OutboxMessage.id))
            .execution_options(synchronize_session=False)
        ).all()
        messages = list(
            session.exec(
                select(OutboxMessage)
                .where(col(OutboxMessage.id).in_([row[0] for row in claimed]))
                .order_by(col(OutboxMessage.id))
                .execution_options(populate_existing=True)
            ).all()
        )
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return messages


def release(session: Session, message_ids: Sequence[int]) -> None:
    """Give claimed messages back unsent (the worker is stopping), so they need not wait out the lease."""
    if not message_ids:
        return
    session.exec(
        update(OutboxMessage)
        .where(col(OutboxMessage.id).in_(list(message_ids)), col(OutboxMessage.state) == PENDING)
        .values(claimed_until=None)
        .execution_options(synchronize_session=False)
    )
    session.commit()


def record(
    session: Session,
    message: OutboxMessage,
    outcome: Outcome,
    *,
    now: datetime,
    policy: RetryPolicy = DEFAULT_POLICY,
    rand: Callable[[], float] = random.random,
    claim: datetime | None = None,
) -> str:
    """Write what an attempt came to, in a transaction of its own; returns the new state.

    ``message`` is the row as claimed: while the claim holds, nobody else changes it. With
    ``claim`` (the ``claimed_until`` this worker wrote last), nothing is written if another
    worker has taken the message over since: its own attempt decides.
    """
    values: dict[str, Any] = {"claimed_until": None}
    if outcome.result is not None:
        values["result"] = outcome.result
    if outcome.status == "delivered":
        values.update(state=DELIVERED, delivered_at=now, attempts=message.attempts + 1)
    elif outcome.status == "wait":
        waits = message.waits + 1
        values["waits"] = waits
        values["last_error"] = one_line(outcome.detail or outcome.status)[:MAX_ERROR]
        if outcome.retry_after is not None:
            delay = max(outcome.retry_after, MIN_DELAY)
        elif outcome.patient:
            delay = policy.backoff(waits, rand)
        else:
            delay = policy.wait_backoff(waits, rand)
        values["next_attempt_at"] = now + delay
    else:
        attempts = message.attempts + 1
        values["attempts"] = attempts
        values["last_error"] = one_line(outcome.detail or outcome.status)[:MAX_ERROR]
        limit = min(policy.max_attempts, outcome.max_attempts or policy.max_attempts)
        too_old = now - message.created_at >= policy.max_age
        if outcome.status == "dead" or attempts >= limit or too_old:
            values["state"] = DEAD
        else:
            if outcome.retry_after is not None:
                delay = max(outcome.retry_after, MIN_DELAY)
            else:
                delay = policy.backoff(attempts, rand)
            values["next_attempt_at"] = now + delay
    mine = [col(OutboxMessage.id) == message.id, col(OutboxMessage.state) == PENDING]
    if claim is not None:
        mine.append(col(OutboxMessage.claimed_until) == claim)
    try:
        if policy.relaxed_commit and session.get_bind().dialect.name == "postgresql":
            session.execute(text("SET LOCAL synchronous_commit TO OFF"))
        session.exec(
            update(OutboxMessage).where(*mine).values(**values).execution_options(synchronize_session=False)
        )
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return str(values.get("state", PENDING))



def one_line(text: str) -> str:
    return " ".join(text.split())
