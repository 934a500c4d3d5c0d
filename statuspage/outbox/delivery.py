"""The worker's side of the outbox: a pass claims what is due, sends each message with its
channel's sender, and records what became of it."""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from sqlmodel import Session

from statuspage.context import Process
from statuspage.db.models import OutboxMessage
from statuspage.db.unavailable import database_unavailable, while_claim_lasts
from statuspage.outbox.heartbeat import Heartbeat
from statuspage.outbox.store import (
    DEAD,
    DEFAULT_POLICY,
    DELIVERED,
    MIN_DELAY,
    WORKER_ACTOR,
    Outcome,
    RetryPolicy,
    Sender,
    claim_due,
    record,
    release,
)

log = logging.getLogger(__name__)


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
        _prepare(runtime, active, claimed)
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


def _prepare(runtime: Process, senders: Mapping[str, Sender], claimed: list[OutboxMessage]) -> None:
    """Let each sender that can read what a whole batch needs at once (``prepare(messages, ctx)``)
    do so, instead of a query per message. A failure only costs that saving."""
    by_sender: dict[int, tuple[Sender, list[OutboxMessage]]] = {}
    for message in claimed:
        sender = senders[message.channel]
        by_sender.setdefault(id(sender), (sender, []))[1].append(message)
    for sender, messages in by_sender.values():
        prepare = getattr(sender, "prepare", None)
        if prepare is None:
            continue
        try:
            with runtime.session() as session:
                prepare(messages, runtime.context(session, WORKER_ACTOR))
        except Exception:  # noqa: BLE001 - each message is then read on its own
            log.exception("preparing a batch of %d outbox messages failed", len(messages))


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
    return while_claim_lasts(
        lambda: record(
            session, message, outcome, now=runtime.clock.now(), policy=policy, rand=rand, claim=message.claimed_until
        ),
        claim_ends=message.claimed_until,
        now=runtime.clock.now,
        stop=stop,
        what=f"recording what became of outbox message {message.id}",
    )


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
