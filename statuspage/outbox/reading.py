"""Reading the outbox and sending dead letters again: ``statuspage outbox``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, update
from sqlmodel import Session, col, select

from statuspage.audit.actions import AuditAction
from statuspage.context import WriteContext, write
from statuspage.db.models import OutboxMessage
from statuspage.errors import Conflict, NotFound
from statuspage.outbox.store import DEAD, PENDING, STATES


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

    return None if moment is None else moment.astimezone(UTC).isoformat()


def retry_dead(*, ctx: WriteContext, ids: Sequence[int] | None = None) -> list[OutboxMessage]:
    """Send dead letters again: the messages ``ids``, or every dead letter when ``ids`` is None.

    Each goes back to pending, due now, with its failed attempts and waits counted from zero, and
    keeps its delivery id (a receiver that did get an earlier attempt recognises it) and its last
    error until the next attempt. One ``outbox.retry`` audit event per message. A message that is
    unknown or not dead refuses the whole request: nothing changes. Returns the messages queued.
    """
    return write(_retry_dead)(ctx=ctx, ids=ids)


def _retry_dead(*, ctx: WriteContext, ids: Sequence[int] | None) -> list[OutboxMessage]:
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
            action=AuditAction.OUTBOX_RETRY,
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
