"""The outbox: messages to the outside world (webhook POSTs, later Slack calls), written in the
same transaction as the change that causes them and delivered afterwards by a worker.

Why an outbox rather than sending from the service function: a POST made inside the transaction
could announce a change that then rolls back, and one made after the commit is lost if the
process dies in between. Writing the message as a row in the change's own transaction makes
"the change happened" and "it will be announced" one fact; a worker (``statuspage deliver``)
then delivers the rows, retrying as long as it makes sense.

The contract a receiver can rely on: **at least once, with a delivery id, in order per key.**

- *At least once*: a message is marked delivered only after its sender reported success. If the
  worker dies between sending and marking (or its claim's lease runs out mid-send), the message is
  sent again later, so a receiver can see the same message twice.
- *With a delivery id*: every message has a unique ``delivery_id`` that stays the same on every
  attempt (for webhooks: the ``X-Statuspage-Delivery`` header and the payload's ``id``). Receivers
  de-duplicate on it.
- *In order per key*: messages sharing an ``ordering_key`` (for webhooks: one incident to one
  subscriber) are attempted strictly one after the other, oldest first: a message is not tried
  while an older one with its key is still pending, even if the older one is waiting out a
  backoff. A message that went dead no longer holds the ones behind it. Messages with different
  keys are independent, so one slow receiver or incident does not hold up the others.

Failures are retried with exponential backoff and jitter (or after the ``Retry-After`` the
receiver asked for); after ``max_attempts`` attempts, or once a failing message is older than
``max_age``, it is marked dead. Dead letters stay in the table, visible with ``statuspage outbox``.

Claiming is one ``UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED) RETURNING id`` in a
short transaction of its own, setting ``claimed_until`` (a lease) on the rows it takes. On
PostgreSQL, several workers can run side by side: each skips the rows another is claiming. On
SQLite the statement runs under the database's single write lock, so claims are atomic too, but
workers would only take turns: run one. The network call happens outside any transaction, and
each result is recorded in a transaction of its own right after.
"""

from __future__ import annotations

import logging
import pkgutil
import random
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, Protocol

from sqlalchemy import exists, func, or_, update
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from statuspage.context import Actor, WriteContext
from statuspage.db.models import OutboxMessage
from statuspage.domain.enums import Source

if TYPE_CHECKING:
    from statuspage.runtime import Runtime

log = logging.getLogger(__name__)

PENDING = "pending"
DELIVERED = "delivered"
DEAD = "dead"
STATES = (PENDING, DELIVERED, DEAD)
WORKER_ACTOR = Actor("outbox-worker", Source.SYSTEM)
MAX_ERROR = 2000
# The shortest wait before a retry, even when a receiver says "Retry-After: 0": a worker must not
# spin on one message.
MIN_DELAY = timedelta(seconds=1)


# While the database is unreachable, a worker holding an outcome it could not record tries again
# after these waits (doubling up to the last), for as long as its claim on the message lasts.
RECORD_RETRY_FIRST = 0.2
RECORD_RETRY_MAX = 5.0


def database_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` says the database went away (a restart, a failover, a cut connection, a
    locked SQLite file) rather than that a statement was wrong: worth waiting out, not a bug."""
    if isinstance(exc, OperationalError | InterfaceError | DisconnectionError):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


# Outcomes and senders ------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What a sender reports about one attempt.

    ``retry_after`` is the wait the receiver asked for; ``max_attempts`` lowers the policy's limit
    for this kind of failure (a 404 is worth a few tries in case of a deploy, not a day of them).
    """

    status: Literal["delivered", "retry", "dead"]
    detail: str = ""
    result: dict[str, Any] | None = None
    retry_after: timedelta | None = None
    max_attempts: int | None = None

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
    def dead(cls, detail: str, *, result: dict[str, Any] | None = None) -> Outcome:
        return cls("dead", detail, result)


class Sender(Protocol):
    """Delivers the messages of one channel.

    ``send`` gets the message and a context on a session of its own, outside any transaction, for
    looking up the target and for state changes the answer calls for (a webhook receiver answering
    410 Gone disables its subscription). It reports an :class:`Outcome`; an exception counts as a
    failure to retry. ``close`` releases connections when the worker stops.
    """

    def send(self, message: OutboxMessage, ctx: WriteContext) -> Outcome: ...

    def close(self) -> None: ...


SenderFactory = Callable[[], Sender]

# channel -> a factory, or "module:attribute" naming one, imported only when a worker starts so
# that this module needs no channel's code (nor its HTTP client) to be imported.
_SENDERS: dict[str, SenderFactory | str] = {
    "webhook": "statuspage.webhooks.sender:WebhookSender",
    "slack": "statuspage.slack.sender:SlackSender",
}


def register_sender(channel: str, factory: SenderFactory | str) -> None:
    """Make ``statuspage deliver`` deliver ``channel`` with senders made by ``factory``."""
    _SENDERS[channel] = factory


def make_senders() -> dict[str, Sender]:
    senders: dict[str, Sender] = {}
    for channel, factory in _SENDERS.items():
        if isinstance(factory, str):
            factory = pkgutil.resolve_name(factory)
        senders[channel] = factory()  # type: ignore[operator]
    return senders


# Policy --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    """When to try again and when to give up.

    The n-th failure waits ``base_delay * 2**(n-1)``, capped at ``max_delay``, then scaled by a
    random factor between 0.5 and 1 ("equal jitter"): receivers that failed together (a deploy, an
    outage) are not all retried in the same second, yet no retry comes much sooner than planned.
    The defaults try for about a day: 10 s, 20 s, 40 s … then hourly, dead after 25 attempts or
    when a failure happens more than 24 hours after the message was written.
    """

    base_delay: timedelta = timedelta(seconds=10)
    max_delay: timedelta = timedelta(hours=1)
    max_attempts: int = 25
    max_age: timedelta = timedelta(hours=24)
    # How long a claim holds a message. It must outlast sending a whole batch (batch_size times a
    # sender's timeout); a worker that dies leaves its messages to be retried after it.
    lease: timedelta = timedelta(minutes=5)
    batch_size: int = 10

    def backoff(self, failures: int, rand: Callable[[], float]) -> timedelta:
        exponent = min(max(failures - 1, 0), 30)
        delay = min(self.base_delay * (2**exponent), self.max_delay)
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


# The worker ----------------------------------------------------------------------------------


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
        older.ordering_key == candidate.ordering_key,
        older.state == PENDING,
        col(older.id) < col(candidate.id),
    )
    due = (
        select(candidate.id)
        .where(
            candidate.state == PENDING,
            candidate.next_attempt_at <= now,
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
            .returning(OutboxMessage.id)
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
) -> str:
    """Write what an attempt came to, in a transaction of its own; returns the new state.

    ``message`` is the row as claimed: while the claim holds, nobody else changes it.
    """
    attempts = message.attempts + 1
    values: dict[str, Any] = {"attempts": attempts, "claimed_until": None}
    if outcome.result is not None:
        values["result"] = outcome.result
    if outcome.status == "delivered":
        values.update(state=DELIVERED, delivered_at=now)
    else:
        values["last_error"] = _one_line(outcome.detail or outcome.status)[:MAX_ERROR]
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
    try:
        session.exec(
            update(OutboxMessage)
            .where(col(OutboxMessage.id) == message.id, col(OutboxMessage.state) == PENDING)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return str(values.get("state", PENDING))


@dataclass
class DeliveryReport:
    """What one or more passes did: messages claimed, and what became of them."""

    claimed: int = 0
    delivered: int = 0
    retried: int = 0
    dead: int = 0
    released: int = 0

    def add(self, other: DeliveryReport) -> None:
        self.claimed += other.claimed
        self.delivered += other.delivered
        self.retried += other.retried
        self.dead += other.dead
        self.released += other.released

    def __str__(self) -> str:
        released = f", {self.released} released" if self.released else ""
        return f"{self.delivered} delivered, {self.retried} to retry, {self.dead} dead{released}"


def deliver_due(
    runtime: Runtime,
    *,
    senders: Mapping[str, Sender] | None = None,
    policy: RetryPolicy = DEFAULT_POLICY,
    rand: Callable[[], float] = random.random,
    stop: Callable[[], bool] | None = None,
) -> DeliveryReport:
    """One pass: claim what is due, send each message, record each outcome.

    The time comes from ``runtime.clock`` and the jitter from ``rand``, so tests can drive retries
    exactly. ``stop`` is asked between messages; when it says so, the rest of the batch is
    released unsent. Senders made here (``senders=None``) are closed at the end; senders passed
    in belong to the caller.
    """
    own = senders is None
    active: Mapping[str, Sender] = make_senders() if senders is None else senders
    report = DeliveryReport()
    try:
        with runtime.session() as session:
            claimed = claim_due(session, now=runtime.clock.now(), channels=list(active), policy=policy)
            report.claimed = len(claimed)
            for index, message in enumerate(claimed):
                if stop is not None and stop():
                    rest = [m.id for m in claimed[index:] if m.id is not None]
                    release(session, rest)
                    report.released = len(rest)
                    break
                outcome = _attempt(runtime, active[message.channel], message)
                state = _record_when_possible(runtime, session, message, outcome, policy=policy, rand=rand, stop=stop)
                if state == DELIVERED:
                    report.delivered += 1
                elif state == DEAD:
                    report.dead += 1
                    log.warning("outbox message %s (%s) is dead: %s", message.id, message.event, outcome.detail)
                else:
                    report.retried += 1
    finally:
        if own:
            for sender in active.values():
                sender.close()
    return report


def _record_when_possible(
    runtime: Runtime,
    session: Session,
    message: OutboxMessage,
    outcome: Outcome,
    *,
    policy: RetryPolicy,
    rand: Callable[[], float],
    stop: Callable[[], bool] | None,
) -> str:
    """:func:`record`, waiting out a database that went away after the message was sent.

    The outcome is known only to this worker: recording it when the database is back saves the
    receiver a second copy (webhooks) or a look-up (Slack). The wait lasts while the claim does;
    after that, or when the worker is told to stop, the error goes up and the message is retried
    once its lease has run out, as after a crash.
    """
    wait = RECORD_RETRY_FIRST
    while True:
        try:
            return record(session, message, outcome, now=runtime.clock.now(), policy=policy, rand=rand)
        except Exception as exc:
            claim_ends = message.claimed_until
            out_of_time = claim_ends is not None and runtime.clock.now() + timedelta(seconds=wait) >= claim_ends
            if not database_unavailable(exc) or out_of_time or (stop is not None and stop()):
                raise
            log.warning("cannot record what became of outbox message %s (the database is unavailable); "
                        "trying again in %gs", message.id, wait)
        threading.Event().wait(wait)
        wait = min(wait * 2, RECORD_RETRY_MAX)


def _attempt(runtime: Runtime, sender: Sender, message: OutboxMessage) -> Outcome:
    with runtime.session() as session:
        ctx = runtime.context(session, WORKER_ACTOR)
        try:
            return sender.send(message, ctx)
        except Exception as exc:  # noqa: BLE001 - a sender's bug must not stop the other deliveries
            if database_unavailable(exc):
                # Our database failed, not the receiver: no backoff against the receiver. A post
                # that may have gone out is found again by senders that mark it uncertain first.
                log.warning("outbox message %s: the database went away while sending it; retrying soon", message.id)
                return Outcome.retry(f"database unavailable while sending: {type(exc).__name__}", retry_after=MIN_DELAY)
            log.exception("sending outbox message %s failed", message.id)
            return Outcome.retry(f"{type(exc).__name__}: {exc}")


def run_worker(
    runtime: Runtime,
    *,
    stop: threading.Event,
    once: bool = False,
    poll_interval: float = 1.0,
    senders: Mapping[str, Sender] | None = None,
    policy: RetryPolicy = DEFAULT_POLICY,
    rand: Callable[[], float] = random.random,
    on_pass: Callable[[DeliveryReport], None] | None = None,
) -> DeliveryReport:
    """Deliver until ``stop`` is set, sleeping ``poll_interval`` seconds whenever nothing is due.

    With ``once``, return as soon as a pass delivers or kills nothing: everything due has then
    been tried, and the messages a delivery unblocked (the next one of the same key) have been
    tried too, but a failing message is not retried again in the same run.
    """
    own = senders is None
    active: Mapping[str, Sender] = make_senders() if senders is None else senders
    totals = DeliveryReport()
    try:
        while not stop.is_set():
            report = deliver_due(runtime, senders=active, policy=policy, rand=rand, stop=stop.is_set)
            totals.add(report)
            if on_pass is not None and report.claimed:
                on_pass(report)
            if once:
                if report.delivered + report.dead == 0:
                    break
                continue
            if report.claimed == 0:
                stop.wait(poll_interval)
    finally:
        if own:
            for sender in active.values():
                sender.close()
    return totals


# Reading -------------------------------------------------------------------------------------


@dataclass
class OutboxSummary:
    counts: dict[tuple[str, str], int] = field(default_factory=dict)  # (channel, state) -> count
    dead: list[OutboxMessage] = field(default_factory=list)
    oldest_pending: datetime | None = None


def summary(session: Session, *, dead_limit: int = 20) -> OutboxSummary:
    """Counts by channel and state, the newest dead letters and the oldest pending message."""
    result = OutboxSummary()
    for channel, state, count in session.exec(
        select(OutboxMessage.channel, OutboxMessage.state, func.count())
        .group_by(col(OutboxMessage.channel), col(OutboxMessage.state))
        .order_by(col(OutboxMessage.channel), col(OutboxMessage.state))
    ).all():
        result.counts[(channel, state)] = count
    result.dead = list(
        session.exec(
            select(OutboxMessage)
            .where(col(OutboxMessage.state) == DEAD)
            .order_by(col(OutboxMessage.id).desc())
            .limit(dead_limit)
        ).all()
    )
    result.oldest_pending = session.exec(
        select(func.min(OutboxMessage.created_at)).where(col(OutboxMessage.state) == PENDING)
    ).one()
    return result


def _one_line(text: str) -> str:
    return " ".join(text.split())
