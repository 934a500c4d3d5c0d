"""Expanding notices into one outbox message per subscriber, in the worker.

A notice (:mod:`statuspage.subscribers.notices`) is expanded oldest first, in chunks of
subscribers by id, each chunk in a transaction of its own that inserts the chunk's messages and
moves the notice's ``expanded_to`` past it: a worker killed mid-way loses nothing and repeats
nothing (the next pass goes on from ``expanded_to``; a chunk whose transaction was cut was never
written). Each message's delivery id is made from the notice and the subscriber
(``notice-<n>-sub-<s>``) and is unique in the outbox, so one subscriber cannot get one event twice
even if two workers raced for a chunk.

Order: a notice is expanded only once every older one is done, so a subscriber's messages about
one incident enter the outbox, and so leave it (ordering key ``sub:<id>:<subject>``), in the order
the changes happened.

Who gets a notice: confirmed (``active``) subscribers whose kind takes the event (email
subscribers are not sent component-only changes) and who follow everything or one of the
components the event concerns (a notice that concerns no component goes to everyone).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy import exists, insert, or_, text, update
from sqlmodel import Session, col, select

from statuspage.context import Process
from statuspage.db.models import OutboxMessage
from statuspage.db.subscriber_models import Subscriber, SubscriberComponent, SubscriberNotice
from statuspage.outbox import PENDING
from statuspage.subscribers.notices import EMAIL_EVENTS
from statuspage.subscribers.service import ACTIVE, EMAIL, NOTICE_CHANNEL, WEBHOOK, WEBHOOK_CHANNEL

log = logging.getLogger(__name__)

CHUNK = 5000
# A fan-out this large refreshes PostgreSQL's statistics of the outbox once it is queued.
ANALYZE_AFTER = 2000
CHANNEL_OF = {EMAIL: NOTICE_CHANNEL, WEBHOOK: WEBHOOK_CHANNEL}


def delivery_id(notice_id: int, subscriber_id: int) -> str:
    return f"notice-{notice_id}-sub-{subscriber_id}"


def ordering_key(subscriber_id: int, subject_type: str, subject_id: str) -> str:
    return f"sub:{subscriber_id}:{subject_type}:{subject_id}"


def expand_chunk(session: Session, *, now_fn: Callable[[], object], chunk: int = CHUNK) -> int | None:
    """Expand the next chunk of the oldest notice not done; how many messages it queued, or
    None when no notice waits. Commits."""
    try:
        # Write first: on SQLite this takes the write lock now (waiting out another writer), so the
        # reads below cannot be overtaken by a commit that would make their snapshot impossible to
        # upgrade when the chunk is written; on PostgreSQL it locks the notices waiting, as the
        # SELECT … FOR UPDATE below does.
        session.exec(
            update(SubscriberNotice)
            .where(col(SubscriberNotice.done_at).is_(None))
            .values(expanded_to=col(SubscriberNotice.expanded_to))
            .execution_options(synchronize_session=False)
        )
        notice = session.exec(
            select(SubscriberNotice)
            .where(col(SubscriberNotice.done_at).is_(None))
            .order_by(col(SubscriberNotice.id))
            .limit(1)
            .with_for_update()  # PostgreSQL: a second worker waits for this chunk, then sees it done
        ).first()
        if notice is None:
            session.rollback()
            return None
        assert notice.id is not None
        kinds = [EMAIL, WEBHOOK] if notice.event in EMAIL_EVENTS else [WEBHOOK]
        statement = (
            select(Subscriber.id, Subscriber.kind)
            .where(
                col(Subscriber.state) == ACTIVE,
                col(Subscriber.id) > notice.expanded_to,
                col(Subscriber.kind).in_(kinds),
            )
            .order_by(col(Subscriber.id))
            .limit(chunk)
        )
        if notice.components:
            follows = exists().where(
                col(SubscriberComponent.subscriber_id) == col(Subscriber.id),
                col(SubscriberComponent.component_id).in_(list(notice.components)),
            )
            statement = statement.where(or_(col(Subscriber.all_components).is_(True), follows))
        rows = [(int(subscriber_id or 0), str(kind)) for subscriber_id, kind in session.exec(statement).all()]
        now = now_fn()
        if rows:
            session.execute(
                insert(OutboxMessage),
                [
                    {
                        "delivery_id": delivery_id(notice.id, subscriber_id),
                        "channel": CHANNEL_OF[kind],
                        "target": str(subscriber_id),
                        "ordering_key": ordering_key(subscriber_id, notice.subject_type, notice.subject_id),
                        "event": notice.event,
                        "payload": {"notice": notice.id},
                        "state": PENDING,
                        "attempts": 0,
                        "waits": 0,
                        "created_at": now,
                        "next_attempt_at": now,
                    }
                    for subscriber_id, kind in rows
                ],
            )
            notice.expanded_to = rows[-1][0]
            notice.queued += len(rows)
        if len(rows) < chunk:
            notice.done_at = now  # type: ignore[assignment]
        session.add(notice)
        session.commit()
        if notice.done_at is not None:
            log.info("notice %s (%s) queued for %d subscriber(s)", notice.id, notice.event, notice.queued)
            if notice.queued >= ANALYZE_AFTER and session.get_bind().dialect.name == "postgresql":
                # The outbox grew by thousands of rows at once: statistics from before would have the
                # planner check each candidate's ordering key against every pending row.
                session.execute(text("ANALYZE outbox_message"))
                session.commit()
        return len(rows)
    except BaseException:
        session.rollback()
        raise


def expand_due(runtime: Process, *, chunk: int = CHUNK, budget: int = 4) -> int:
    """Expand up to ``budget`` chunks; how many messages were queued. Bounded so that the lane
    starts sending a large fan-out before all of it is queued."""
    queued = 0
    with runtime.session() as session:
        for _ in range(budget):
            done = expand_chunk(session, now_fn=runtime.clock.now, chunk=chunk)
            if done is None:
                break
            queued += done
    return queued

