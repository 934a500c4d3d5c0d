"""A subscriber and their delivery log as JSON, the same for the admin API and for
``statuspage subscribers list --json``.

What a subscriber is shown with never includes the nonces signed into their links, nor the
bodies of their messages (a confirmation email's carries one): only what an operator needs to
answer "did they get it?".
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from statuspage import outbox
from statuspage.db.models import OutboxMessage
from statuspage.db.subscriber_models import Subscriber


def _utc(value: datetime | None) -> str | None:
    """An exact time, in UTC, ISO 8601 (as the admin API's ``admin`` objects show times)."""
    return value.astimezone(UTC).isoformat() if value is not None else None


def subscriber_json(subscriber: Subscriber, components: Sequence[str]) -> dict[str, Any]:
    """A subscriber as the API and ``statuspage subscribers list --json`` show it. ``components``:
    those it follows (empty when ``all_components``). A removed one has no address left."""
    return {
        "id": subscriber.id,
        "kind": subscriber.kind,
        "state": subscriber.state,
        "email": subscriber.email,
        "webhook_url": subscriber.webhook_url,
        "all_components": subscriber.all_components,
        "components": list(components),
        "source": subscriber.source,
        "created_at": _utc(subscriber.created_at),
        "confirmed_at": _utc(subscriber.confirmed_at),
        "confirm_sent_at": _utc(subscriber.confirm_sent_at),
        "bounces": subscriber.bounces,
        "last_failure": subscriber.last_failure,
        "last_failure_at": _utc(subscriber.last_failure_at),
        "suspended_at": _utc(subscriber.suspended_at),
        "removed_at": _utc(subscriber.removed_at),
        "delivered_count": subscriber.delivered_count,
        "failed_count": subscriber.failed_count,
    }


def delivery_json(message: OutboxMessage) -> dict[str, Any]:
    """One message of a subscriber's delivery log, without its body."""
    return {
        "id": message.id,
        "delivery_id": message.delivery_id,
        "channel": message.channel,
        "event": message.event,
        "state": message.state,
        "attempts": message.attempts,
        "waits": message.waits,
        "created_at": _utc(message.created_at),
        "next_attempt_at": _utc(message.next_attempt_at) if message.state == outbox.PENDING else None,
        "delivered_at": _utc(message.delivered_at),
        "last_error": message.last_error,
    }
