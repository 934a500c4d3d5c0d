"""The headline: one message per incident in the incidents channel, rendered from the database
when it is sent, and which of its queued edits can be skipped."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, col, select

from statuspage.db.models import Component as ComponentRow
from statuspage.db.models import Incident, IncidentComponent, OutboxMessage
from statuspage.incidents.queries import declaration_message
from statuspage.oncall.queries import paging_now
from statuspage.outbox import PENDING, Outcome
from statuspage.settings import Config
from statuspage.slack import hook
from statuspage.slack.messages import render

# An edit that has waited this long is sent even if a newer one is queued behind it, so that a
# stream of changes cannot keep the headline stale.
MAX_COALESCE_LAG = timedelta(seconds=30)
# While the headline's first post is in flight, an edit waits this long and looks again.
HEADLINE_IN_FLIGHT_WAIT = timedelta(seconds=2)


def edit_to_skip(session: Session, message: OutboxMessage, now: datetime) -> Outcome | None:
    """A headline edit with a newer edit queued behind it has nothing to do: the newer one renders
    the same (current) state. Unless it has waited too long already and the newer one is not due
    yet (a stream of changes must not keep the headline stale); edits that piled up while Slack
    was rate-limiting or down are all due, and become the newest one."""
    newer = session.exec(
        select(OutboxMessage.id, OutboxMessage.next_attempt_at)
        .where(
            col(OutboxMessage.ordering_key) == message.ordering_key,
            col(OutboxMessage.state) == PENDING,
            col(OutboxMessage.id) > message.id,
        )
        .order_by(col(OutboxMessage.id).desc())
        .limit(1)
    ).first()
    if newer is None:
        return None
    newer_id, newer_due = newer
    if now - message.created_at >= MAX_COALESCE_LAG and newer_due > now:
        return None
    return Outcome.delivered({"superseded_by": newer_id})


def edit_without_headline(session: Session, message: OutboxMessage, incident_id: int, now: datetime) -> Outcome:
    """An edit for an incident whose headline is not in Slack yet."""
    first_post = session.exec(
        select(OutboxMessage)
        .where(
            col(OutboxMessage.ordering_key) == hook.thread_key(message.target, incident_id),
            col(OutboxMessage.event) == hook.HEADLINE_POST,
            col(OutboxMessage.state) == PENDING,
        )
        .limit(1)
    ).first()
    session.rollback()
    if first_post is None:
        # Never to come (dead, or Slack was switched on mid-incident): the next reply posts one.
        return Outcome.delivered({"skipped": "no headline to edit"})
    if first_post.claimed_until is not None and first_post.claimed_until > now:
        # Not a failed attempt: the edit waits for the post (a newer edit, or the post itself,
        # then shows the latest state).
        return Outcome.wait("waiting for the headline to be posted", retry_after=HEADLINE_IN_FLIGHT_WAIT)
    # The first post, still to come, is rendered when it is sent: it will show this state.
    return Outcome.delivered({"superseded_by": first_post.id})


def headline_data(session: Session, config: Config, incident_id: int) -> dict[str, Any]:
    """The incident as the headline shows it, read now."""
    incident = session.get(Incident, incident_id)
    if incident is None:
        raise LookupError(f"incident {incident_id} no longer exists")
    components = session.exec(
        select(ComponentRow.name, IncidentComponent.status)
        .join(IncidentComponent, col(IncidentComponent.component_id) == col(ComponentRow.id))
        .where(IncidentComponent.incident_id == incident_id)
        .order_by(col(ComponentRow.position), col(ComponentRow.id))
    ).all()
    severity = config.severity(incident.severity)
    return {
        "id": incident.id,
        "title": incident.title,
        "severity": incident.severity,
        "severity_name": severity.name if severity else "",
        "status": incident.status,
        "commander": incident.commander,
        "acknowledged_by": incident.acknowledged_by,
        "acknowledged_at": incident.acknowledged_at,
        "declared_at": incident.declared_at,
        "resolved_at": incident.resolved_at,
        "url": config.incident_url(incident_id),
        "components": [{"name": name, "status": status} for name, status in components],
        "message": declaration_message(session=session, incident_id=incident_id),
    }


def headline_message(session: Session, config: Config, incident_id: int, now: datetime, *, op: str) -> dict[str, Any]:
    return render(
        "headline",
        config,
        incident=headline_data(session, config, incident_id),
        paging=paging_now(session, incident_id),
        op=op,
        now=now,
    )
