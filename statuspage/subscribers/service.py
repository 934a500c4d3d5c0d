"""Every change to a customer's subscription, each in one transaction with its audit event.

The public form and the operators' commands both come here. What the form answers never
depends on whether the address is known (:data:`SUBSCRIBE_ANSWER`): a new address gets a
confirmation link, a pending one a new link, a confirmed one a link to manage what it follows;
nobody can learn from the page who subscribed. Audit events name subscribers by id only, never
by address: the log outlives a removal.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, update
from sqlmodel import Session, col, select

from statuspage import outbox
from statuspage.audit.actions import AuditAction
from statuspage.config_sections import EMAIL_ADDRESS
from statuspage.context import WriteContext, write
from statuspage.db.models import Component, OutboxMessage
from statuspage.db.subscriber_models import SubscribeAttempt, Subscriber, SubscriberComponent
from statuspage.errors import InvalidInput, NotFound, UserError
from statuspage.subscribers import tokens

# Outbox channels: the emails with links (confirm, manage, a webhook's failure) go ahead of the
# notices, which may be tens of thousands at once; webhooks have their own.
EMAIL_CHANNEL = "sub_email"
NOTICE_CHANNEL = "sub_notice"
WEBHOOK_CHANNEL = "sub_webhook"
CHANNELS = (EMAIL_CHANNEL, NOTICE_CHANNEL, WEBHOOK_CHANNEL)
CONFIRM_EVENT = "subscriber.confirm"
MANAGE_EVENT = "subscriber.manage"
FAILING_EVENT = "subscriber.failing"
SUBJECT = "subscriber"
EMAIL, WEBHOOK = "email", "webhook"
PENDING, ACTIVE, SUSPENDED, REMOVED = "pending", "active", "suspended", "removed"
STATES = (PENDING, ACTIVE, SUSPENDED, REMOVED)
MAX_EMAIL = 254
COMPONENT_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
SUBSCRIBE_ANSWER = (
    "Thank you. If this address can receive mail, a message with a confirmation link is on its way. "
    "Nothing else is sent until the link is used."
)


class TooManyRequests(UserError):
    status_code = 429
    title = "Too many requests"

    def __init__(self, message: str, *, retry_after: timedelta) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class LinkExpired(UserError):
    status_code = 410
    title = "Link no longer valid"


# Checking what was typed -----------------------------------------------------------------


def clean_email(value: str | None, *, field: str = "email") -> str:
    text = (value or "").strip()
    if not text:
        raise InvalidInput("an email address is required", field=field)
    if len(text) > MAX_EMAIL:
        raise InvalidInput(f"the address is {len(text)} characters long; the limit is {MAX_EMAIL}", field=field)
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in text) or not EMAIL_ADDRESS.match(text):
        raise InvalidInput("that is not an email address like name@example.com", field=field)
    local, _, domain = text.rpartition("@")
    if "." not in domain or domain.startswith(".") or domain.endswith(".") or ".." in domain:
        raise InvalidInput("that is not an email address like name@example.com", field=field)
    return f"{local}@{domain.lower()}"


def address_key(email: str) -> str:
    return email.lower()


def clean_components(session: Session, ids: Iterable[str], *, field: str = "component") -> list[str]:
    """The component ids chosen, each a public component of the page; none means everything."""
    chosen = list(dict.fromkeys(str(i).strip() for i in ids if str(i).strip()))
    if not chosen:
        return []
    shaped = [i for i in chosen if not COMPONENT_ID.match(i)]
    if shaped:
        raise InvalidInput(f"no component {shaped[0][:64]!r} on this page", field=field)
    known = {
        row.id: row
        for row in session.exec(select(Component).where(col(Component.id).in_(chosen), col(Component.archived).is_(False))).all()
    }
    unknown = [i for i in chosen if i not in known]
    if unknown:
        shown = ", ".join(repr(i[:64]) for i in unknown[:3])
        raise InvalidInput(f"no component {shown} on this page", field=field)
    return chosen


def _hash(kind: str, value: str) -> str:
    return hashlib.sha256(f"{kind}:{value}".encode()).hexdigest()


# Subscribing -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Subscribed:
    """What :func:`subscribe` did; the form shows :data:`SUBSCRIBE_ANSWER` whatever it was."""

    subscriber: Subscriber
    created: bool
    mailed: bool  # a confirmation (or manage) email was queued; False when the address was throttled


@write
def subscribe(
    *,
    ctx: WriteContext,
    email: str,
    components: Sequence[str] = (),
    webhook_url: str | None = None,
    client: str | None = None,
    allow_private: bool = False,
    source: str = "form",
    confirmed: bool = False,
) -> Subscribed:
    """Subscribe ``email`` (or ``webhook_url``, with ``email`` told about its failures) to the
    components given (none: everything).

    Unless ``confirmed`` (an import of addresses confirmed elsewhere), the subscription stays
    pending and one confirmation email is queued, at most ``per_address`` per address per
    window. ``client`` (the visitor's IP address) is held to ``per_client`` requests per window:
    beyond it, :class:`TooManyRequests`. A known address keeps its components until the change
    is made through its own manage link.
    """
    settings = ctx.config.subscriptions
    now = ctx.now()
    address = clean_email(email)
    chosen = clean_components(ctx.session, components)
    kind = EMAIL
    url: str | None = None
    if webhook_url is not None and webhook_url.strip():
        from statuspage.public_addresses import AddressRefused, validate_public_url
        from statuspage.webhooks.service import validate_url

        url = validate_url(webhook_url)
        try:
            validate_public_url(url, allow_private=allow_private)
        except AddressRefused as exc:
            raise InvalidInput(str(exc), field="url") from None
        kind = WEBHOOK
    window = settings.throttle_window.timedelta
    if client:
        _throttle_client(ctx, client, now, window, settings.per_client)
    key = address_key(address) if kind == EMAIL else "url:" + hashlib.sha256(str(url).encode()).hexdigest()
    subscriber = ctx.session.exec(
        select(Subscriber).where(col(Subscriber.kind) == kind, col(Subscriber.address_key) == key)
    ).first()
    created = subscriber is None
    if subscriber is None:
        subscriber = Subscriber(
            kind=kind,
            state=ACTIVE if confirmed else PENDING,
            email=address,
            address_key=key,
            webhook_url=url,
            all_components=not chosen,
            source=source,
            created_at=now,
            confirmed_at=now if confirmed else None,
            manage_nonce=tokens.new_nonce(),
        )
        ctx.session.add(subscriber)
        ctx.session.flush()
        _set_components(ctx.session, subscriber, chosen)
    elif subscriber.state != ACTIVE:
        # Not confirmed (or suspended): nothing of it is in use yet, so the latest request counts.
        subscriber.email = address
        subscriber.all_components = not chosen
        _set_components(ctx.session, subscriber, chosen)
        if confirmed:
            _activate(subscriber, now)
    assert subscriber.id is not None
    mailed = False
    if not (created and confirmed) and not (confirmed and subscriber.state == ACTIVE):
        if _address_allowed(ctx, key, now, window, settings.per_address):
            _queue_link_email(ctx, subscriber, now)
            mailed = True
    ctx.audit(
        action=AuditAction.SUBSCRIBER_SUBSCRIBE,
        subject_type=SUBJECT,
        subject_id=subscriber.id,
        at=now,
        after={
            "kind": kind,
            "state": subscriber.state,
            "components": chosen or "all",
            "source": source,
            "new": created,
            "mailed": mailed,
        },
    )
    return Subscribed(subscriber, created, mailed)


def _throttle_client(ctx: WriteContext, client: str, now: datetime, window: timedelta, limit: int) -> None:
    key = _hash("client", client)
    since = now - window
    recent = ctx.session.exec(
        select(func.count(), func.min(SubscribeAttempt.at)).where(
            col(SubscribeAttempt.kind) == "client", col(SubscribeAttempt.key) == key, col(SubscribeAttempt.at) > since
        )
    ).one()
    if recent[0] >= limit:
        oldest: datetime = recent[1]
        wait = max(oldest + window - now, timedelta(seconds=1))
        minutes = max(1, round(wait.total_seconds() / 60))
        raise TooManyRequests(
            f"too many subscription requests from your network; try again in {minutes} minute{'s' if minutes != 1 else ''}",
            retry_after=wait,
        )
    ctx.session.add(SubscribeAttempt(kind="client", key=key, at=now))
    # Old attempts tell nothing any more.
    ctx.session.exec(delete(SubscribeAttempt).where(col(SubscribeAttempt.at) < now - max(window, timedelta(days=1))))


def _address_allowed(ctx: WriteContext, key: str, now: datetime, window: timedelta, limit: int) -> bool:
    hashed = _hash("address", key)
    count = ctx.session.exec(
        select(func.count()).where(
            col(SubscribeAttempt.kind) == "address", col(SubscribeAttempt.key) == hashed, col(SubscribeAttempt.at) > now - window
        )
    ).one()
    if count >= limit:
        return False
    ctx.session.add(SubscribeAttempt(kind="address", key=hashed, at=now))
    return True


def _queue_link_email(ctx: WriteContext, subscriber: Subscriber, now: datetime) -> None:
    """The confirmation email of a pending subscription (a new link, voiding older ones), or,
    for a confirmed one, an email with its manage link."""
    assert subscriber.id is not None
    if subscriber.state == ACTIVE:
        event, payload = MANAGE_EVENT, {"kind": "manage"}
    else:
        subscriber.confirm_nonce = tokens.new_nonce()
        subscriber.confirm_sent_at = now
        expires = now + ctx.config.subscriptions.confirm_within.timedelta
        event, payload = CONFIRM_EVENT, {"kind": "confirm", "nonce": subscriber.confirm_nonce, "expires": expires.isoformat()}
    outbox.enqueue(
        ctx.session,
        channel=EMAIL_CHANNEL,
        target=str(subscriber.id),
        ordering_key=f"sub:{subscriber.id}:links",
        event=event,
        payload=payload,
        now=now,
    )


def _set_components(session: Session, subscriber: Subscriber, chosen: Sequence[str]) -> None:
    session.exec(delete(SubscriberComponent).where(col(SubscriberComponent.subscriber_id) == subscriber.id))
    assert subscriber.id is not None
    for component_id in chosen:
        session.add(SubscriberComponent(subscriber_id=subscriber.id, component_id=component_id))


def _activate(subscriber: Subscriber, now: datetime) -> None:
    subscriber.state = ACTIVE
    subscriber.confirmed_at = now
    subscriber.confirm_nonce = None
    subscriber.bounces = 0
    subscriber.suspended_at = None
    if subscriber.manage_nonce is None:
        subscriber.manage_nonce = tokens.new_nonce()


# Links -----------------------------------------------------------------------------------


NOT_VALID = "This link is not valid: it may be incomplete, or it was not made by this status page."


def by_token(session: Session, key: bytes | None, token: str, purpose: str) -> Subscriber:
    """The subscriber a genuine link names; :class:`NotFound` for anything else, including a
    link of a removed subscriber (its nonces are gone)."""
    parsed = tokens.parse(token)
    if key is None or parsed is None or parsed.purpose != purpose:
        raise NotFound(NOT_VALID)
    subscriber = session.get(Subscriber, parsed.subscriber_id, populate_existing=True)
    if subscriber is None or subscriber.state == REMOVED:
        raise NotFound(NOT_VALID)
    if purpose == tokens.MANAGE:
        if not tokens.genuine(key, parsed, subscriber.manage_nonce):
            raise NotFound(NOT_VALID)
        return subscriber
    if subscriber.confirm_nonce is None:
        if subscriber.state == ACTIVE and subscriber.confirmed_at is not None:
            raise LinkExpired("This subscription is confirmed already: nothing more to do.")
        raise NotFound(NOT_VALID)
    if not tokens.genuine(key, parsed, subscriber.confirm_nonce):
        raise LinkExpired("This confirmation link was replaced by a newer one: use the link in the latest email.")
    return subscriber


def check_confirm(session: Session, key: bytes | None, token: str, now: datetime) -> Subscriber:
    subscriber = by_token(session, key, token, tokens.CONFIRM)
    parsed = tokens.parse(token)
    assert parsed is not None and parsed.expires is not None
    if now.timestamp() > parsed.expires:
        raise LinkExpired("This confirmation link has expired: subscribe again to get a new one.")
    return subscriber


@write
def confirm(*, ctx: WriteContext, token: str, key: bytes | None) -> Subscriber:
    """Confirm the subscription a confirmation link names; the link is used up."""
    subscriber = check_confirm(ctx.session, key, token, ctx.now())
    assert subscriber.id is not None
    before = subscriber.state
    _activate(subscriber, ctx.now())
    ctx.audit(
        action=AuditAction.SUBSCRIBER_CONFIRM,
        subject_type=SUBJECT,
        subject_id=subscriber.id,
        at=ctx.now(),
        before={"state": before},
        after={"state": ACTIVE},
    )
    return subscriber


def components_of(session: Session, subscriber: Subscriber) -> list[str]:
    if subscriber.all_components:
        return []
    return list(
        session.exec(
            select(SubscriberComponent.component_id)
            .where(col(SubscriberComponent.subscriber_id) == subscriber.id)
            .order_by(col(SubscriberComponent.component_id))
        ).all()
    )


@write
def choose_components(*, ctx: WriteContext, token: str, key: bytes | None, components: Sequence[str]) -> Subscriber:
    """Change what a subscriber follows, through their manage link (none: everything)."""
    subscriber = by_token(ctx.session, key, token, tokens.MANAGE)
    chosen = clean_components(ctx.session, components)
    before = components_of(ctx.session, subscriber)
    subscriber.all_components = not chosen
    _set_components(ctx.session, subscriber, chosen)
    assert subscriber.id is not None
    ctx.audit(
        action=AuditAction.SUBSCRIBER_UPDATE,
        subject_type=SUBJECT,
        subject_id=subscriber.id,
        at=ctx.now(),
        before={"components": before or "all"},
        after={"components": chosen or "all"},
    )
    return subscriber


@write
def unsubscribe(*, ctx: WriteContext, token: str, key: bytes | None, how: str = "link") -> Subscriber:
    """End a subscription through its manage or unsubscribe link: the personal data goes."""
    subscriber = by_token(ctx.session, key, token, tokens.MANAGE)
    _erase(ctx, subscriber, reason=f"unsubscribed ({how})")
    return subscriber


def find(session: Session, email: str) -> list[Subscriber]:
    """The subscriptions of an address (by email, and webhooks it is the contact of), not removed."""
    address = clean_email(email)
    return list(
        session.exec(
            select(Subscriber)
            .where(col(Subscriber.state) != REMOVED, func.lower(col(Subscriber.email)) == address.lower())
            .order_by(col(Subscriber.id))
        ).all()
    )


@write
def remove(*, ctx: WriteContext, email: str) -> int:
    """Remove every subscription of ``email`` (by email, and webhooks it is the contact of):
    the address, URLs and link nonces are erased; anonymous delivery counts stay. How many."""
    rows = find(ctx.session, email)
    if not rows:
        raise NotFound(f"no subscriber with the address {clean_email(email)}", field="email")
    for subscriber in rows:
        _erase(ctx, subscriber, reason="removed by an operator")
    return len(rows)


def _erase(ctx: WriteContext, subscriber: Subscriber, *, reason: str) -> None:
    assert subscriber.id is not None
    session = ctx.session
    counts = dict(
        session.exec(
            select(OutboxMessage.state, func.count())
            .where(col(OutboxMessage.channel).in_(CHANNELS), col(OutboxMessage.target) == str(subscriber.id))
            .group_by(col(OutboxMessage.state))
        ).all()
    )
    subscriber.delivered_count = max(subscriber.delivered_count, counts.get(outbox.DELIVERED, 0))
    subscriber.failed_count = max(subscriber.failed_count, counts.get(outbox.DEAD, 0))
    # What was still to be sent is not: it was for this person only.
    session.exec(
        delete(OutboxMessage).where(
            col(OutboxMessage.channel).in_(CHANNELS),
            col(OutboxMessage.target) == str(subscriber.id),
            col(OutboxMessage.state) == outbox.PENDING,
        )
    )
    if subscriber.email:
        # A mail server's refusal names the address ("refused ana@…: 550"): keep the reason, not it.
        session.exec(
            update(OutboxMessage)
            .where(col(OutboxMessage.channel).in_(CHANNELS), col(OutboxMessage.target) == str(subscriber.id))
            .values(last_error=func.replace(col(OutboxMessage.last_error), subscriber.email, "(removed address)"))
            .execution_options(synchronize_session=False)
        )
    before = subscriber.state
    subscriber.state = REMOVED
    subscriber.removed_at = ctx.now()
    subscriber.email = subscriber.address_key = subscriber.webhook_url = None
    subscriber.confirm_nonce = subscriber.manage_nonce = None
    subscriber.last_failure = None
    _set_components(session, subscriber, [])
    ctx.audit(
        action=AuditAction.SUBSCRIBER_REMOVE,
        subject_type=SUBJECT,
        subject_id=subscriber.id,
        at=ctx.now(),
        before={"state": before},
        after={"state": REMOVED, "reason": reason},
    )


# Failures --------------------------------------------------------------------------------


@write
def record_failure(*, ctx: WriteContext, subscriber_id: int, detail: str) -> bool:
    """Count a permanent failure (a bounce, a webhook that went dead); suspend the subscriber at
    the configured limit. True when this suspended them."""
    subscriber = ctx.session.get(Subscriber, subscriber_id, populate_existing=True)
    if subscriber is None or subscriber.state != ACTIVE:
        return False
    now = ctx.now()
    subscriber.bounces += 1
    subscriber.failed_count += 1
    subscriber.last_failure = detail[:500]
    subscriber.last_failure_at = now
    if subscriber.bounces < ctx.config.subscriptions.bounce_limit:
        return False
    subscriber.state = SUSPENDED
    subscriber.suspended_at = now
    ctx.audit(
        action=AuditAction.SUBSCRIBER_SUSPEND,
        subject_type=SUBJECT,
        subject_id=subscriber_id,
        at=now,
        before={"state": ACTIVE},
        after={"state": SUSPENDED, "bounces": subscriber.bounces, "last_failure": subscriber.last_failure},
    )
    if subscriber.kind == WEBHOOK:
        # The address given for failures hears that its webhook stopped.
        outbox.enqueue(
            ctx.session,
            channel=EMAIL_CHANNEL,
            target=str(subscriber_id),
            ordering_key=f"sub:{subscriber_id}:links",
            event=FAILING_EVENT,
            payload={"kind": "failing", "detail": subscriber.last_failure},
            now=now,
        )
    return True


def record_success(*, session: Session, subscriber_id: int) -> None:
    """A delivery succeeded: failures in a row start again from zero (written only when there
    were some, so a healthy subscriber costs no write)."""
    session.exec(
        update(Subscriber)
        .where(col(Subscriber.id) == subscriber_id, col(Subscriber.bounces) > 0)
        .values(bounces=0)
        .execution_options(synchronize_session=False)
    )
    session.commit()
