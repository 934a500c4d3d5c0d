"""A page sent as a direct message: what it says (marked late when it waited past the paged
tier's acknowledgement time), when it has nothing left to do, and what became of it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlmodel import Session

from statuspage.context import WriteContext
from statuspage.db.models import Incident, OutboxMessage
from statuspage.domain.enums import IncidentStatus
from statuspage.oncall import delivery
from statuspage.slack.messages import render


def render_page_dm(message: OutboxMessage, ctx: WriteContext) -> dict[str, Any]:
    payload = message.payload
    data = dict(payload["data"])
    late = late_by(message, ctx)
    if late is not None:
        data["late"] = late
    return render("page_dm", ctx.config, incident=payload["incident"], data=data)


def late_by(message: OutboxMessage, ctx: WriteContext) -> str | None:
    """How long a page waited, when that is longer than the paged tier's acknowledgement window
    (Slack was rate-limiting or down): it still goes out, marked as late."""
    data = message.payload.get("data") or {}
    waited = ctx.now() - message.created_at
    tier = ctx.config.escalation.tier(int(data["tier"])) if data.get("tier") is not None else None
    if tier is None:
        return None
    severity = int(message.payload["incident"].get("severity") or 0)
    within = tier.acknowledge_within.for_severity(f"sev{severity}")
    if within.is_business or waited <= within.timedelta:
        return None
    return format_wait(waited)


def format_wait(waited: timedelta) -> str:
    minutes = int(waited.total_seconds() // 60)
    if minutes < 1:
        return f"{int(waited.total_seconds())}s"
    if minutes < 60:
        return f"{minutes}m"
    return f"{minutes // 60}h {minutes % 60}m"


def late_result(message: OutboxMessage, ctx: WriteContext) -> dict[str, Any]:
    late = late_by(message, ctx)
    return {"late": late} if late is not None else {}


def page_moot(session: Session, incident_id: int) -> str | None:
    incident = session.get(Incident, incident_id)
    if incident is None:
        return "the incident no longer exists"
    if incident.acknowledged_at is not None:
        return f"already acknowledged by {incident.acknowledged_by}"
    if not IncidentStatus(incident.status).is_open:
        return "the incident is resolved"
    return None


def page_id_of(message: OutboxMessage) -> int | None:
    """The page row a message carries (direct messages and owner posts queued since delivery
    is tracked); None for other messages."""
    value = (message.payload.get("data") or {}).get("page_id")
    return int(value) if value is not None else None


def note_delivery(
    ctx: WriteContext, message: OutboxMessage, state: str, *, ref: str | None = None, error: str | None = None
) -> None:
    """Record on the page's row what became of the message that carries it."""
    page_id = page_id_of(message)
    if page_id is not None:
        delivery.record_delivery(ctx=ctx, page_id=page_id, state=state, ref=ref, error=error)
