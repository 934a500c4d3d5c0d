"""Webhook subscriptions, and the queueing of their deliveries in the transaction of each change.

A subscriber is a URL that gets every incident and maintenance change POSTed to it as
Statuspage v2 JSON, signed with a secret that only the subscriber and this database know (see
:mod:`statuspage.webhooks.sender`). Deliveries are not sent from here: :func:`enqueue_changes`,
run by :func:`statuspage.context.write` just before each commit, writes them to the outbox in the
same transaction as the change, and the ``statuspage deliver`` worker sends them.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import update
from sqlmodel import Session, col, select

from statuspage import outbox
from statuspage.audit.actions import AuditAction
from statuspage.context import WriteContext, write
from statuspage.db.models import AuditEvent, Incident, Maintenance, OutboxMessage, WebhookSubscriber
from statuspage.domain.enums import MaintenanceStatus
from statuspage.errors import InvalidInput, NotFound, UserError
from statuspage.ids import parse_id
from statuspage.incidents.service import clean_text
from statuspage.oncall.engine import ONCALL_ACTIONS
from statuspage.read.v2 import V2Builder

CHANNEL = "webhook"
SECRET_PREFIX = "whsec_"
MAX_URL = 2000
MAX_DESCRIPTION = 200
SUBJECT_TYPE = "webhook_subscriber"


# Subscriptions -------------------------------------------------------------------------------


def validate_url(url: str) -> str:
    """An absolute http(s) URL with a host; refused with one line naming the field otherwise.

    Only the shape is checked. Where it points (an internal address, say) is the business of the
    administrator who adds it: subscriptions are added from the admin CLI, not by the public.
    """
    text = (url or "").strip()
    if not text:
        raise InvalidInput("url is required", field="url")
    if len(text) > MAX_URL:
        raise InvalidInput(f"url is {len(text)} characters long; the limit is {MAX_URL}", field="url")
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in text):
        raise InvalidInput("url must not contain spaces or control characters", field="url")
    shown = text if len(text) <= 80 else text[:77] + "..."
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise InvalidInput(f"url {shown!r} is not a valid URL (check the port)", field="url") from None
    if parts.scheme.lower() not in {"http", "https"}:
        raise InvalidInput(f"url {shown!r} must start with http:// or https://", field="url")
    if not parts.hostname:
        raise InvalidInput(f"url {shown!r} has no host to send to", field="url")
    if port == 0:
        raise InvalidInput(f"url {shown!r} has port 0", field="url")
    return text


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_hex(32)


@write
def subscribe(
    *, ctx: WriteContext, url: str, description: str | None = None, check_addresses: bool = False, allow_private: bool = False
) -> tuple[WebhookSubscriber, str]:
    """Add a subscriber; returns it with its signing secret, which the caller shows once.

    The secret is kept in clear (the worker must sign with it) but never written to the audit log.
    With ``check_addresses`` (``subscriptions.check_admin_webhooks``), a URL whose host resolves to
    a private address is refused, as customers' webhooks are.
    """
    clean_url = validate_url(url)
    if check_addresses:
        from statuspage.public_addresses import AddressRefused, validate_public_url

        try:
            validate_public_url(clean_url, allow_private=allow_private)
        except AddressRefused as exc:
            raise InvalidInput(str(exc), field="url") from None
    clean_description = clean_text(description, field="description", limit=MAX_DESCRIPTION, required=False) or ""
    secret = new_secret()
    now = ctx.now()
    subscriber = WebhookSubscriber(
        url=clean_url,
        secret=secret,
        description=clean_description,
        created_by=ctx.actor.name,
        created_at=now,
    )
    ctx.session.add(subscriber)
    ctx.session.flush()
    assert subscriber.id is not None
    ctx.audit(
        action=AuditAction.WEBHOOK_SUBSCRIBE,
        subject_type=SUBJECT_TYPE,
        subject_id=subscriber.id,
        at=now,
        after={"url": clean_url, "description": clean_description},
    )
    return subscriber, secret


def get(*, session: Session, subscriber_id: int | str) -> WebhookSubscriber:
    try:
        key = parse_id(str(subscriber_id), what="webhook")
    except UserError as exc:
        raise NotFound(exc.message, field="id") from None
    subscriber = session.get(WebhookSubscriber, key)
    if subscriber is None:
        raise NotFound(f"no webhook {key}", field="id")
    return subscriber


def list_subscribers(*, session: Session, include_disabled: bool = True) -> Sequence[WebhookSubscriber]:
    statement = select(WebhookSubscriber).order_by(col(WebhookSubscriber.id))
    if not include_disabled:
        statement = statement.where(col(WebhookSubscriber.disabled_at).is_(None))
    return session.exec(statement).all()


@write
def disable(*, ctx: WriteContext, subscriber_id: int | str, reason: str = "disabled") -> WebhookSubscriber:
    """Stop sending to a subscriber but keep it listed. Its undelivered messages go dead.

    The worker calls this when a receiver answers 410 Gone. Disabling twice changes nothing.
    """
    subscriber = get(session=ctx.session, subscriber_id=subscriber_id)
    if subscriber.disabled_at is not None:
        return subscriber
    now = ctx.now()
    subscriber.disabled_at = now
    assert subscriber.id is not None
    _bury_pending(ctx, subscriber.id, f"webhook {subscriber.id} disabled: {reason}")
    ctx.audit(
        action=AuditAction.WEBHOOK_DISABLE,
        subject_type=SUBJECT_TYPE,
        subject_id=subscriber.id,
        at=now,
        before={"disabled_at": None},
        after={"disabled_at": now, "reason": reason},
    )
    return subscriber


@write
def remove(*, ctx: WriteContext, subscriber_id: int | str) -> WebhookSubscriber:
    """Delete a subscriber and its secret. Its undelivered messages go dead (and stay visible)."""
    subscriber = get(session=ctx.session, subscriber_id=subscriber_id)
    assert subscriber.id is not None
    _bury_pending(ctx, subscriber.id, f"webhook {subscriber.id} removed")
    ctx.audit(
        action=AuditAction.WEBHOOK_REMOVE,
        subject_type=SUBJECT_TYPE,
        subject_id=subscriber.id,
        at=ctx.now(),
        before={"url": subscriber.url, "description": subscriber.description, "disabled_at": subscriber.disabled_at},
    )
    ctx.session.delete(subscriber)
    return subscriber


def _bury_pending(ctx: WriteContext, subscriber_id: int, reason: str) -> None:
    ctx.session.exec(
        update(OutboxMessage)
        .where(
            col(OutboxMessage.channel) == CHANNEL,
            col(OutboxMessage.target) == str(subscriber_id),
            col(OutboxMessage.state) == outbox.PENDING,
        )
        .values(state=outbox.DEAD, last_error=reason, claimed_until=None)
        .execution_options(synchronize_session=False)
    )


# Queueing deliveries -------------------------------------------------------------------------


# Changes that only responders see. Subscribers get the public record (the Statuspage v2 incident),
# so these would send a copy identical to the last one.
RESPONDER_ACTIONS = ONCALL_ACTIONS | {
    AuditAction.INCIDENT_ACKNOWLEDGE,
    AuditAction.INCIDENT_HAND_OVER,
    AuditAction.INCIDENT_HANDOVER_EARLY,
    AuditAction.INCIDENT_SLA_BREACH,
    AuditAction.INCIDENT_SLA_PAUSE,
    AuditAction.INCIDENT_SLA_RESUME,
    AuditAction.INCIDENT_RESOLUTION_PLAN,
}


def enqueue_changes(ctx: WriteContext) -> None:
    """The before-commit hook: one outbox message per changed incident or maintenance per
    active subscriber, in the transaction that made the change.

    What changed is read from the audit events the transaction wrote, so every service function
    that audits its change (they all must) is covered without knowing about webhooks. Several
    events about one subject in one transaction make one message, built from the state about to
    be committed.
    """
    changed: dict[tuple[str, int], list[AuditEvent]] = {}
    for event in ctx.audit_events:
        if event.action in RESPONDER_ACTIONS:
            continue  # paging, acknowledging, handing over: nothing a subscriber's copy shows changed
        if event.subject_type in {"incident", "maintenance"}:
            changed.setdefault((event.subject_type, int(event.subject_id)), []).append(event)
    if not changed:
        return
    session = ctx.session
    subscribers = list_subscribers(session=session, include_disabled=False)
    if not subscribers:
        return
    session.flush()
    builder = V2Builder(session, ctx.config, now=ctx.now())
    page = builder.page_json()
    now = ctx.now()
    for (subject_type, subject_id), events in changed.items():
        body_key, body = _subject_json(builder, subject_type, subject_id)
        if body is None:
            continue  # deleted in the same transaction, or an internal incident: nothing to tell
        event_name = _event_name(subject_type, events)
        changed_at = builder.time(max(event.at for event in events))
        for subscriber in subscribers:
            delivery_id = outbox.new_delivery_id()
            outbox.enqueue(
                session,
                channel=CHANNEL,
                target=str(subscriber.id),
                ordering_key=f"{CHANNEL}:{subscriber.id}:{subject_type}:{subject_id}",
                event=event_name,
                payload={
                    "id": delivery_id,
                    "event": event_name,
                    "created_at": changed_at,
                    "page": page,
                    body_key: body,
                },
                now=now,
                delivery_id=delivery_id,
            )


def _subject_json(builder: V2Builder, subject_type: str, subject_id: int) -> tuple[str, dict[str, Any] | None]:
    if subject_type == "incident":
        incident = builder.session.get(Incident, subject_id)
        # Subscribers are the public: an internal incident is not theirs until it is published.
        return "incident", builder.incidents_json([incident])[0] if incident and not incident.internal else None
    maintenance = builder.session.get(Maintenance, subject_id)
    return "scheduled_maintenance", builder.maintenances_json([maintenance])[0] if maintenance else None


def _event_name(subject_type: str, events: Sequence[AuditEvent]) -> str:
    """``created`` if the subject was created (or an internal incident published) in this
    transaction (the receiver has never heard of it), otherwise what the last change was:
    ``resolved``/``completed`` or ``updated``."""
    actions = [event.action for event in events]
    if subject_type == "incident":
        if AuditAction.INCIDENT_DECLARE in actions or AuditAction.INCIDENT_PUBLISH in actions:
            return "incident.created"
        return "incident.resolved" if actions[-1] == AuditAction.INCIDENT_RESOLVE else "incident.updated"
    if AuditAction.MAINTENANCE_SCHEDULE in actions:
        return "maintenance.created"
    last = events[-1]
    if last.after and last.after.get("status") == MaintenanceStatus.COMPLETED.value:
        return "maintenance.completed"
    return "maintenance.updated"
