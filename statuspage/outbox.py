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

Three kinds of failure, told apart by the sender:

- *wait*: the receiver is rate-limiting us (429 with ``Retry-After``) or is unreachable (5xx,
  time-outs, refused connections). Waiting that out is not a failed attempt: the message is
  tried again after the wait asked for, or after a backoff that grows with the waits but stays
  short (``max_wait``), and never goes dead for it however long it lasts.
- *retry*: an answer that is wrong but might not stay wrong (a webhook receiver answering 404
  during a deploy). It counts as a failed attempt: after ``max_attempts`` of them, or once such a
  failure happens more than ``max_age`` after the message was written, it is dead.
- *dead*: an answer that can never succeed (a revoked token, a channel that does not exist).

Dead letters stay in the table, visible with ``statuspage outbox`` and sent again with
``statuspage outbox retry``; the worker says so on its console, and a sender may act on them
(a page that cannot be delivered is reported so that someone pages the person another way).

Claiming is one ``UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED) RETURNING id`` in a
short transaction of its own, setting ``claimed_until`` (a lease) on the rows it takes. The lease
is short (seconds) and renewed by a heartbeat while the worker holds the batch, so a worker that
is killed gives its messages up within one lease, and the ordering keys behind them move on. On
PostgreSQL, several workers can run side by side: each skips the rows another is claiming. On
SQLite the statement runs under the database's single write lock, so claims are atomic too, but
workers would only take turns: run one. The network call happens outside any transaction, and
each result is recorded in a transaction of its own right after.
"""

from __future__ import annotations

import logging
import random
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from sqlalchemy import exists, func, or_, update
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from statuspage.context import Actor, Process, WriteContext
from statuspage.db.models import OutboxMessage
from statuspage.domain.enums import Source

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
        values["last_error"] = _one_line(outcome.detail or outcome.status)[:MAX_ERROR]
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
    mine = [col(OutboxMessage.id) == message.id, col(OutboxMessage.state) == PENDING]
    if claim is not None:
        mine.append(col(OutboxMessage.claimed_until) == claim)
    try:
        session.exec(
            update(OutboxMessage).where(*mine).values(**values).execution_options(synchronize_session=False)
        )
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return str(values.get("state", PENDING))


class Heartbeat:
    """Renews a worker's claim on the messages it holds, every third of the lease, from a thread
    of its own, until stopped: the lease can then be short, so that a killed worker's messages
    (and every message queued behind them under the same ordering key) are taken over quickly.

    Each renewal moves ``claimed_until`` on only where it still holds the value this worker wrote
    last, so a claim another worker took over (after this one stalled past its lease) is never
    renewed by mistake; :meth:`holds` then says the message is no longer this worker's to send.
    """

    def __init__(self, runtime: Process, messages: Sequence[OutboxMessage], lease: timedelta) -> None:
        self.runtime = runtime
        self.lease = lease
        self._lock = threading.Lock()
        # Held for a whole renewal, so that a message taken for recording is not renewed meanwhile.
        self._renewing = threading.Lock()
        self._held: dict[int, datetime] = {
            m.id: m.claimed_until for m in messages if m.id is not None and m.claimed_until is not None
        }
        self._lost: set[int] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="outbox-heartbeat", daemon=True)

    def __enter__(self) -> Heartbeat:
        if self._held:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def take(self, message: OutboxMessage) -> datetime | None:
        """Stop renewing ``message`` (its outcome is about to be recorded) and return the
        ``claimed_until`` this worker wrote last, or None if another worker has taken it over."""
        with self._renewing, self._lock:
            if message.id in self._lost:
                return None
            return self._held.pop(message.id or 0, message.claimed_until)

    def holds(self, message: OutboxMessage) -> bool:
        with self._lock:
            return message.id not in self._lost

    def _run(self) -> None:
        interval = max(self.lease.total_seconds() / 3, 0.05)
        while not self._stop.wait(interval):
            try:
                self.renew()
            except Exception as exc:  # noqa: BLE001 - a missed renewal only shortens the claim
                log.warning("could not renew the claim on outbox messages: %s", _one_line(str(exc))[:200])

    def renew(self) -> None:
        with self._renewing:
            self._renew()

    def _renew(self) -> None:
        with self._lock:
            held = dict(self._held)
        if not held:
            return
        until = self.runtime.clock.now() + self.lease
        renewed: set[int] = set()
        with self.runtime.session() as session:
            try:
                for message_id, token in held.items():
                    result = session.exec(
                        update(OutboxMessage)
                        .where(
                            col(OutboxMessage.id) == message_id,
                            col(OutboxMessage.state) == PENDING,
                            col(OutboxMessage.claimed_until) == token,
                        )
                        .values(claimed_until=until)
                        .execution_options(synchronize_session=False)
                    )
                    if result.rowcount:  # type: ignore[attr-defined]
                        renewed.add(message_id)
                session.commit()
            except BaseException:
                session.rollback()
                raise
        with self._lock:
            for message_id in held:
                if message_id not in self._held:
                    continue  # recorded meanwhile
                if message_id in renewed:
                    self._held[message_id] = until
                else:
                    self._lost.add(message_id)
                    del self._held[message_id]


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
    runtime: Process,
    *,
    senders: Mapping[str, Sender],
    policy: RetryPolicy = DEFAULT_POLICY,
    rand: Callable[[], float] = random.random,
    stop: Callable[[], bool] | None = None,
    say: Callable[[str], None] | None = None,
) -> DeliveryReport:
    """One pass: claim what is due, send each message, record each outcome.

    The time comes from ``runtime.clock`` and the jitter from ``rand``, so tests can drive retries
    exactly. ``stop`` is asked between messages; when it says so, the rest of the batch is
    released unsent. ``say`` gets a console line for every message that went dead. The senders
    (one per channel this worker delivers) belong to the caller, who closes them.
    """
    active = senders
    report = DeliveryReport()
    with runtime.session() as session:
        claimed = claim_due(session, now=runtime.clock.now(), channels=list(active), policy=policy)
        report.claimed = len(claimed)
        with Heartbeat(runtime, claimed, policy.lease) as heartbeat:
            for index, message in enumerate(claimed):
                if stop is not None and stop():
                    rest = [m.id for m in claimed[index:] if m.id is not None]
                    release(session, rest)
                    report.released = len(rest)
                    break
                if not heartbeat.holds(message):
                    log.warning("outbox message %s was taken over by another worker; leaving it", message.id)
                    continue
                outcome = _attempt(runtime, active[message.channel], message)
                claim = heartbeat.take(message)
                if claim is None:
                    log.warning("outbox message %s was taken over by another worker while it was sent", message.id)
                    report.released += 1
                    continue
                message.claimed_until = claim
                state = _record_when_possible(
                    runtime, session, message, outcome, policy=policy, rand=rand, stop=stop
                )
                if state == DELIVERED:
                    report.delivered += 1
                elif state == DEAD:
                    report.dead += 1
                    _gave_up(runtime, active[message.channel], message, outcome, say)
                else:
                    report.retried += 1
    return report


def _gave_up(
    runtime: Process, sender: Sender, message: OutboxMessage, outcome: Outcome, say: Callable[[str], None] | None
) -> None:
    """Tell the console, and let the sender tell whoever must know, that a message went dead."""
    line = f"outbox message {message.id} ({message.channel} {message.event} to {message.target}) is dead: {outcome.detail}"
    log.warning("%s", line)
    extra: str | None = None
    handler = getattr(sender, "gave_up", None)
    if handler is not None:
        try:
            with runtime.session() as session:
                extra = handler(message, outcome, runtime.context(session, WORKER_ACTOR))
        except Exception:  # noqa: BLE001 - the dead letter is recorded; telling about it must not stop the worker
            log.exception("reporting dead outbox message %s failed", message.id)
    if say is not None:
        say(line + ("; " + extra if extra else "; resend it with: statuspage outbox retry " + str(message.id)))


def _record_when_possible(
    runtime: Process,
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
            return record(
                session, message, outcome, now=runtime.clock.now(), policy=policy, rand=rand, claim=message.claimed_until
            )
        except Exception as exc:
            claim_ends = message.claimed_until
            out_of_time = claim_ends is not None and runtime.clock.now() + timedelta(seconds=wait) >= claim_ends
            if not database_unavailable(exc) or out_of_time or (stop is not None and stop()):
                raise
            log.warning("cannot record what became of outbox message %s (the database is unavailable); "
                        "trying again in %gs", message.id, wait)
        threading.Event().wait(wait)
        wait = min(wait * 2, RECORD_RETRY_MAX)


def _attempt(runtime: Process, sender: Sender, message: OutboxMessage) -> Outcome:
    with runtime.session() as session:
        ctx = runtime.context(session, WORKER_ACTOR)
        try:
            return sender.send(message, ctx)
        except Exception as exc:  # noqa: BLE001 - a sender's bug must not stop the other deliveries
            if database_unavailable(exc):
                # Our database failed, not the receiver: no backoff against the receiver. A post
                # that may have gone out is found again by senders that mark it uncertain first.
                log.warning("outbox message %s: the database went away while sending it; retrying soon", message.id)
                return Outcome.wait(f"database unavailable while sending: {type(exc).__name__}", retry_after=MIN_DELAY)
            log.exception("sending outbox message %s failed", message.id)
            return Outcome.retry(f"{type(exc).__name__}: {exc}")


def run_worker(
    runtime: Process,
    *,
    stop: threading.Event,
    once: bool = False,
    poll_interval: float = 1.0,
    senders: Mapping[str, Sender],
    policy: RetryPolicy = DEFAULT_POLICY,
    rand: Callable[[], float] = random.random,
    on_pass: Callable[[DeliveryReport], None] | None = None,
    say: Callable[[str], None] | None = None,
) -> DeliveryReport:
    """Deliver until ``stop`` is set, sleeping ``poll_interval`` seconds whenever nothing is due.

    With ``once``, return as soon as a pass delivers or kills nothing: everything due has then
    been tried, and the messages a delivery unblocked (the next one of the same key) have been
    tried too, but a failing message is not retried again in the same run. The senders belong to
    the caller.
    """
    totals = DeliveryReport()
    while not stop.is_set():
        report = deliver_due(runtime, senders=senders, policy=policy, rand=rand, stop=stop.is_set, say=say)
        totals.add(report)
        if on_pass is not None and report.claimed:
            on_pass(report)
        if once:
            if report.delivered + report.dead == 0:
                break
            continue
        if report.claimed == 0:
            stop.wait(poll_interval)
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


def oldest_pending(session: Session) -> OutboxMessage | None:
    """The pending message written longest ago: the one that has waited longest to go out."""
    return session.exec(
        select(OutboxMessage)
        .where(col(OutboxMessage.state) == PENDING)
        .order_by(col(OutboxMessage.created_at), col(OutboxMessage.id))
        .limit(1)
    ).first()


def summary_json(session: Session, *, dead_limit: int = 20) -> dict[str, Any]:
    """The outbox as ``statuspage outbox --json`` prints it. The shape, which stays as it is::

        {
          "counts": {CHANNEL: {"pending": N, "delivered": N, "dead": N}, ...},
          "oldest_pending": null | {"id", "delivery_id", "channel", "target", "event", "attempts",
                                    "waits", "created_at", "next_attempt_at", "last_error"},
          "dead": [{"id", "delivery_id", "channel", "target", "event", "attempts", "created_at",
                    "last_error"}, ...]
        }

    ``counts`` has every channel with a message, each with all three states; ``dead`` lists the
    newest ``dead_limit`` dead letters, newest first (the counts say how many there are in all).
    Times are ISO 8601 in UTC; ``last_error`` is null when there was none.
    """
    report = summary(session, dead_limit=dead_limit)
    counts: dict[str, dict[str, int]] = {}
    for (channel, state), count in report.counts.items():
        counts.setdefault(channel, dict.fromkeys(STATES, 0))[state] = count
    oldest = oldest_pending(session)
    return {
        "counts": counts,
        "oldest_pending": None
        if oldest is None
        else {
            **_letter_json(oldest),
            "waits": oldest.waits,
            "next_attempt_at": _utc_iso(oldest.next_attempt_at),
        },
        "dead": [_letter_json(message) for message in report.dead],
    }


def _letter_json(message: OutboxMessage) -> dict[str, Any]:
    return {
        "id": message.id,
        "delivery_id": message.delivery_id,
        "channel": message.channel,
        "target": message.target,
        "event": message.event,
        "attempts": message.attempts,
        "created_at": _utc_iso(message.created_at),
        "last_error": message.last_error,
    }


def _utc_iso(moment: datetime | None) -> str | None:
    from datetime import UTC

    return None if moment is None else moment.astimezone(UTC).isoformat()


def retry_dead(*, ctx: WriteContext, ids: Sequence[int] | None = None) -> list[OutboxMessage]:
    """Send dead letters again: the messages ``ids``, or every dead letter when ``ids`` is None.

    Each goes back to pending, due now, with its failed attempts and waits counted from zero, and
    keeps its delivery id (a receiver that did get an earlier attempt recognises it) and its last
    error until the next attempt. One ``outbox.retry`` audit event per message. A message that is
    unknown or not dead refuses the whole request: nothing changes. Returns the messages queued.
    """
    from statuspage.context import write

    return write(_retry_dead)(ctx=ctx, ids=ids)


def _retry_dead(*, ctx: WriteContext, ids: Sequence[int] | None) -> list[OutboxMessage]:
    from statuspage.errors import Conflict, NotFound

    statement = select(OutboxMessage).order_by(col(OutboxMessage.id))
    if ids is None:
        statement = statement.where(col(OutboxMessage.state) == DEAD)
    else:
        statement = statement.where(col(OutboxMessage.id).in_(list(ids)))
    messages = list(ctx.session.exec(statement).all())
    if ids is not None:
        known = {message.id: message for message in messages}
        missing = [str(i) for i in dict.fromkeys(ids) if i not in known]
        if missing:
            raise NotFound(f"no outbox message {', '.join(missing)}")
        alive = [f"{m.id} is {m.state}" for m in messages if m.state != DEAD]
        if alive:
            raise Conflict(f"only dead letters can be sent again: outbox message {', '.join(alive)}")
    now = ctx.now()
    for message in messages:
        ctx.audit(
            action="outbox.retry",
            subject_type="outbox_message",
            subject_id=message.id or 0,
            at=now,
            before={"state": DEAD, "attempts": message.attempts, "waits": message.waits, "last_error": message.last_error},
            after={"state": PENDING, "channel": message.channel, "target": message.target, "event": message.event},
        )
    if messages:
        ctx.session.exec(
            update(OutboxMessage)
            .where(col(OutboxMessage.id).in_([m.id for m in messages]), col(OutboxMessage.state) == DEAD)
            .values(state=PENDING, attempts=0, waits=0, next_attempt_at=now, claimed_until=None)
            .execution_options(synchronize_session=False)
        )
    return messages
