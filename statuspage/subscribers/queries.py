"""Reading subscriptions: one subscriber, the subscribers of an address or a component, counts
by state, kind and component, and a subscriber's delivery log (what was sent, is waiting, or
went dead). For ``statuspage subscribers`` and the admin API."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from statuspage.db.models import Component, OutboxMessage
from statuspage.db.subscriber_models import Subscriber, SubscriberComponent
from statuspage.errors import NotFound
from statuspage.subscribers.service import (
    ACTIVE,
    CHANNELS,
    EMAIL,
    PENDING,
    REMOVED,
    STATES,
    SUSPENDED,
    WEBHOOK,
)
from statuspage.subscribers.service import (
    find as find,
)


def get(session: Session, subscriber_id: int) -> Subscriber:
    subscriber = session.get(Subscriber, subscriber_id)
    if subscriber is None:
        raise NotFound(f"no subscriber {subscriber_id}", field="id")
    return subscriber


def list_subscribers(
    session: Session, *, states: Sequence[str] = (PENDING, ACTIVE, SUSPENDED), component: str | None = None, limit: int | None = None
) -> list[Subscriber]:
    statement = select(Subscriber).where(col(Subscriber.state).in_(list(states))).order_by(col(Subscriber.id))
    if component is not None:
        statement = statement.where(
            col(Subscriber.all_components)
            | col(Subscriber.id).in_(select(SubscriberComponent.subscriber_id).where(col(SubscriberComponent.component_id) == component))
        )
    if limit is not None:
        statement = statement.limit(limit)
    return list(session.exec(statement).all())


def counts(session: Session) -> dict[str, Any]:
    """Subscribers by state and kind, and the confirmed ones per component (those following
    everything count for every component)::

        {"by_state": {"pending": N, "active": N, "suspended": N, "removed": N},
         "by_kind": {"email": N, "webhook": N},          # not removed
         "everything": N,                                  # active, following every component
         "components": {"api": N, ...}}                    # active, following the component
    """
    by_state = dict.fromkeys(STATES, 0)
    for state, count in session.exec(select(Subscriber.state, func.count()).group_by(col(Subscriber.state))).all():
        by_state[state] = count
    by_kind = {EMAIL: 0, WEBHOOK: 0}
    for kind, count in session.exec(
        select(Subscriber.kind, func.count()).where(col(Subscriber.state) != REMOVED).group_by(col(Subscriber.kind))
    ).all():
        by_kind[kind] = count
    everything = session.exec(
        select(func.count()).where(col(Subscriber.state) == ACTIVE, col(Subscriber.all_components).is_(True))
    ).one()
    chosen = dict(
        session.exec(
            select(SubscriberComponent.component_id, func.count())
            .join(Subscriber, col(Subscriber.id) == col(SubscriberComponent.subscriber_id))
            .where(col(Subscriber.state) == ACTIVE)
            .group_by(col(SubscriberComponent.component_id))
        ).all()
    )
    components = session.exec(select(Component.id).where(col(Component.archived).is_(False)).order_by(col(Component.position))).all()
    return {
        "by_state": by_state,
        "by_kind": by_kind,
        "everything": everything,
        "components": {component: everything + chosen.get(component, 0) for component in components},
    }


def delivery_log(session: Session, subscriber_id: int, *, limit: int = 50) -> list[OutboxMessage]:
    """What was sent to a subscriber (or is waiting, or went dead), newest first."""
    return list(
        session.exec(
            select(OutboxMessage)
            .where(col(OutboxMessage.channel).in_(CHANNELS), col(OutboxMessage.target) == str(subscriber_id))
            .order_by(col(OutboxMessage.id).desc())
            .limit(limit)
        ).all()
    )
