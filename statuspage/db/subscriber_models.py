"""The tables of customer subscriptions (see :mod:`statuspage.subscribers`), in the same metadata
as every other table (:mod:`statuspage.db.models` imports this module)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index
from sqlmodel import Field, SQLModel

from statuspage.db.types import UTCDateTime


def _time(*, nullable: bool = False, index: bool = False) -> Any:
    return Field(default=None, sa_type=UTCDateTime, nullable=nullable, index=index)


class Subscriber(SQLModel, table=True):
    """Someone who asked to be told about incidents and maintenance: an email address, or a
    webhook URL with an address to tell about failures.

    ``state``: ``pending`` until the address is confirmed, then ``active``; ``suspended`` after
    repeated permanent failures; ``removed`` once unsubscribed or removed, when the address, URL
    and token nonces are erased and only anonymous counts stay. ``address_key`` is the address in
    lower case (unique among subscribers that are not removed, per kind). ``all_components``: the
    subscriber follows everything; else the components in :class:`SubscriberComponent`.
    """

    __tablename__ = "subscriber"
    __table_args__ = (
        Index("ix_subscriber_address", "kind", "address_key", unique=True),
        Index("ix_subscriber_state", "state", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=16)  # email, webhook
    state: str = Field(max_length=16)  # pending, active, suspended, removed
    email: str | None = Field(default=None, max_length=320)
    address_key: str | None = Field(default=None, max_length=400)
    webhook_url: str | None = Field(default=None, max_length=2000)
    all_components: bool = Field(default=True)
    source: str = Field(default="form", max_length=16)  # form, import, admin
    created_at: datetime = _time()
    confirmed_at: datetime | None = _time(nullable=True)
    # Random values signed into the links: a new confirm nonce voids older confirmation links; the
    # manage nonce is erased on removal, which voids every manage and unsubscribe link at once.
    confirm_nonce: str | None = Field(default=None, max_length=64)
    confirm_sent_at: datetime | None = _time(nullable=True)
    manage_nonce: str | None = Field(default=None, max_length=64)
    # Permanent failures since the last success; suspended at the configured limit.
    bounces: int = Field(default=0)
    last_failure: str | None = Field(default=None, max_length=500)
    last_failure_at: datetime | None = _time(nullable=True)
    suspended_at: datetime | None = _time(nullable=True)
    removed_at: datetime | None = _time(nullable=True)
    # Kept after removal, when the outbox rows that counted them may have been pruned.
    delivered_count: int = Field(default=0)
    failed_count: int = Field(default=0)


class SubscriberComponent(SQLModel, table=True):
    """A component a subscriber follows (when they do not follow everything)."""

    __tablename__ = "subscriber_component"
    __table_args__ = (Index("ix_subscriber_component_component", "component_id", "subscriber_id"),)

    subscriber_id: int = Field(foreign_key="subscriber.id", primary_key=True)
    component_id: str = Field(foreign_key="component.id", primary_key=True, max_length=64)


class SubscriberNotice(SQLModel, table=True):
    """Something every matching subscriber is to be told (a new incident, an update, a
    resolution, maintenance announced, started, completed; a component's status), written in the
    transaction of the change. The worker expands it into one outbox message per subscriber, in
    chunks: ``expanded_to`` is the highest subscriber id done, ``done_at`` set once all are.

    ``components``: the component ids the event concerns (a subscriber following any of them
    gets it); empty for page-wide news. ``payload``: what the messages are made from.
    """

    __tablename__ = "subscriber_notice"
    __table_args__ = (Index("ix_subscriber_notice_pending", "done_at", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    event: str = Field(max_length=64)
    subject_type: str = Field(max_length=32)
    subject_id: str = Field(max_length=64)
    components: list[str] = Field(default_factory=list, sa_type=JSON)
    payload: dict[str, Any] = Field(sa_type=JSON)
    created_at: datetime = _time()
    expanded_to: int = Field(default=0)
    queued: int = Field(default=0)
    done_at: datetime | None = _time(nullable=True)


class SubscribeAttempt(SQLModel, table=True):
    """A subscription request, for throttling: ``key`` is a hash of the address or of the client
    address (never either in clear), ``kind`` says which."""

    __tablename__ = "subscribe_attempt"
    __table_args__ = (Index("ix_subscribe_attempt_key", "kind", "key", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=16)  # address, client
    key: str = Field(max_length=64)
    at: datetime = _time(index=True)
