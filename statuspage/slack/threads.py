"""What the Slack sender keeps in the database: the headline of each incident per channel, the
channels Slack has rate-limited, and the outbox rows whose post may be under way. Each write
commits on its own."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from statuspage.context import WriteContext
from statuspage.db.models import OutboxMessage, SlackChannelState, SlackThread
from statuspage.outbox import PENDING
from statuspage.slack import hook

log = logging.getLogger(__name__)


def is_uncertain(message: OutboxMessage) -> bool:
    return bool((message.result or {}).get("uncertain"))


def mark_uncertain(ctx: WriteContext, message: OutboxMessage) -> None:
    """Note in the outbox row, before posting, that a post may be under way: a retry after a
    crash, a time-out or a 5xx then looks in Slack before posting again."""
    if is_uncertain(message):
        return
    session = ctx.session
    try:
        session.exec(
            update(OutboxMessage)
            .where(col(OutboxMessage.id) == message.id, col(OutboxMessage.state) == PENDING)
            .values(result={"uncertain": True})
            .execution_options(synchronize_session=False)
        )
        session.commit()
    except BaseException:
        session.rollback()
        raise
    message.result = {"uncertain": True}


def blocked_until(session: Session, channel: str) -> datetime | None:
    state = session.get(SlackChannelState, channel)
    return state.blocked_until if state is not None else None


def block_channel(ctx: WriteContext, channel: str, until: datetime) -> None:
    """Back a rate-limited channel off as a whole: note it for every worker, and move the
    channel's other pending messages (those no worker holds right now) to when it opens again,
    so that they do not each spend an attempt learning the same thing."""
    session, now = ctx.session, ctx.now()
    for _ in range(2):
        try:
            state = session.get(SlackChannelState, channel)
            if state is None:
                session.add(SlackChannelState(channel=channel, blocked_until=until, updated_at=now))
            elif state.blocked_until is None or state.blocked_until < until:
                state.blocked_until = until
                state.updated_at = now
            session.exec(
                update(OutboxMessage)
                .where(
                    col(OutboxMessage.channel) == hook.CHANNEL,
                    col(OutboxMessage.target) == channel,
                    col(OutboxMessage.state) == PENDING,
                    col(OutboxMessage.next_attempt_at) < until,
                    or_(col(OutboxMessage.claimed_until).is_(None), col(OutboxMessage.claimed_until) <= now),
                )
                .values(next_attempt_at=until)
                .execution_options(synchronize_session=False)
            )
            session.commit()
            return
        except IntegrityError:
            session.rollback()  # another worker noted the same channel at the same moment: update theirs
    log.warning("could not note that %s is rate-limited", channel)


def thread_of(session: Session, incident_id: int, channel: str) -> tuple[str, str] | None:
    row = session.get(SlackThread, (incident_id, channel))
    if row is None:
        return None
    return (row.channel_id or channel, row.ts)


def store_thread(ctx: WriteContext, incident_id: int, channel: str, channel_id: str, ts: str) -> None:
    session, now = ctx.session, ctx.now()
    try:
        row = session.get(SlackThread, (incident_id, channel))
        if row is None:
            session.add(
                SlackThread(
                    incident_id=incident_id,
                    channel=channel,
                    channel_id=channel_id,
                    ts=ts,
                    created_at=now,
                    updated_at=now,
                )
            )
        else:
            row.channel_id, row.ts, row.updated_at = channel_id, ts, now
        session.commit()
    except BaseException:
        session.rollback()
        raise


def touch_thread(ctx: WriteContext, incident_id: int, channel: str) -> None:
    session = ctx.session
    try:
        row = session.get(SlackThread, (incident_id, channel))
        if row is not None:
            row.updated_at = max(row.updated_at, ctx.now())
        session.commit()
    except BaseException:
        session.rollback()
        raise


def forget_thread(ctx: WriteContext, incident_id: int, channel: str) -> None:
    session = ctx.session
    try:
        row = session.get(SlackThread, (incident_id, channel))
        if row is not None:
            session.delete(row)
        session.commit()
    except BaseException:
        session.rollback()
        raise


def known_channel_id(session: Session, channel: str) -> str | None:
    return session.exec(
        select(SlackThread.channel_id)
        .where(SlackThread.channel == channel, col(SlackThread.channel_id).is_not(None))
        .limit(1)
    ).first()
