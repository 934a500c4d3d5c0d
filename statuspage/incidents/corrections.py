"""Putting a published incident right: its title, the text of an update, and whether the public
sees it at all.

- Editing the title or an update's text changes what every public output shows from then on (the
  page, feeds, the v2 API and webhook subscribers, who are told ``incident.updated``); an edited
  update carries ``edited_at``, and the page says "edited" beside it. The text before and after is
  in the audit log (``incident.edit_title``, ``incident.edit_update``).
- Retracting withdraws an incident declared by mistake from every public output: it becomes
  internal, as one opened from an alert is, and its components return to their own status unless
  another public incident holds them. It is kept, with its timeline and audit trail, and nothing
  else about it changes: an open incident stays open (and its escalation runs on) until resolved,
  so a false alarm is retracted and then resolved. Webhook subscribers hear nothing more of it.
  :func:`statuspage.incidents.visibility.publish` shows it again.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import select

from statuspage.audit.actions import AuditAction
from statuspage.components.service import refresh_statuses
from statuspage.context import WriteContext, write
from statuspage.db.models import Incident, IncidentComponent, IncidentUpdate
from statuspage.errors import Conflict, NotFound
from statuspage.incidents.parsing import clean_text
from statuspage.incidents.queries import get, timeline
from statuspage.validators import MAX_REASON, MAX_TEXT
from statuspage.validators import title as one_line_title


def _moment(ctx: WriteContext, incident: Incident) -> datetime:
    """Now, never before the incident's last entry (times never go backwards)."""
    at = max(ctx.now(), incident.updated_at)
    incident.updated_at = at
    return at


@write
def edit_title(*, ctx: WriteContext, incident_id: int | str, title: str) -> Incident:
    """Correct the incident's title."""
    incident = get(session=ctx.session, incident_id=incident_id, for_update=True)
    new = one_line_title(title)
    old = incident.title
    if new == old:
        raise Conflict(f"incident {incident.id} is already titled {old!r}")
    incident.title = new
    ctx.audit(
        action=AuditAction.INCIDENT_EDIT_TITLE,
        subject_type="incident",
        subject_id=incident.id or 0,
        at=_moment(ctx, incident),
        before={"title": old},
        after={"title": new},
    )
    return incident


def nth_update(*, ctx: WriteContext, incident: Incident, number: int) -> IncidentUpdate:
    """The ``number``-th update of the timeline, oldest first, counted from 1 (as ``show`` lists them)."""
    updates = timeline(session=ctx.session, incident_id=incident.id or 0)
    if not 1 <= number <= len(updates):
        raise NotFound(f"incident {incident.id} has no update {number} (it has {len(updates)}, numbered from 1)", field="update")
    return updates[number - 1]


@write
def edit_update(*, ctx: WriteContext, incident_id: int | str, number: int, message: str) -> IncidentUpdate:
    """Correct the text of the incident's ``number``-th published update (1 = the first)."""
    incident = get(session=ctx.session, incident_id=incident_id, for_update=True)
    body = clean_text(message, field="message", limit=MAX_TEXT, required=True)
    assert body is not None
    update = nth_update(ctx=ctx, incident=incident, number=number)
    old = update.body
    if body == old:
        raise Conflict(f"update {number} of incident {incident.id} already reads so")
    at = _moment(ctx, incident)
    update.body = body
    update.edited_at = at
    ctx.session.add(update)
    ctx.audit(
        action=AuditAction.INCIDENT_EDIT_UPDATE,
        subject_type="incident",
        subject_id=incident.id or 0,
        at=at,
        before={"update": number, "update_id": update.id, "body": old},
        after={"update": number, "update_id": update.id, "body": body},
    )
    return update


@write
def retract(*, ctx: WriteContext, incident_id: int | str, reason: str) -> tuple[Incident, list[dict[str, str]]]:
    """Withdraw a public incident from the public: internal again; returns it with the component
    changes that made."""
    incident = get(session=ctx.session, incident_id=incident_id, for_update=True)
    why = clean_text(reason, field="reason", limit=MAX_REASON, required=True)
    if incident.internal:
        raise Conflict(f"incident {incident.id} is not public; there is nothing to retract")
    assert incident.id is not None
    at = _moment(ctx, incident)
    incident.internal = True
    ctx.session.flush()
    held = ctx.session.exec(select(IncidentComponent.component_id).where(IncidentComponent.incident_id == incident.id)).all()
    changes = refresh_statuses(session=ctx.session, component_ids=held, at=at, incident_id=incident.id)
    ctx.audit(
        action=AuditAction.INCIDENT_RETRACT,
        subject_type="incident",
        subject_id=incident.id,
        at=at,
        before={"internal": False},
        after={"internal": True, "reason": why, "components": {c["code"]: c["new_status"] for c in changes}},
    )
    return incident, changes
