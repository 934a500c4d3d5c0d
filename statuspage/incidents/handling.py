"""Changes to how an incident is handled that publish nothing: who commands it, whether its SLA
clocks run, and its root cause. Each is audited like every other change (see
:mod:`statuspage.incidents.service`)."""

from __future__ import annotations

from statuspage.audit.actions import AuditAction
from statuspage.context import WriteContext, write
from statuspage.db.models import Incident
from statuspage.domain.enums import IncidentStatus
from statuspage.errors import Conflict, InvalidInput
from statuspage.incidents.parsing import clean_text
from statuspage.incidents.queries import get
from statuspage.incidents.service import event_time
from statuspage.incidents.sla import close_pause, open_pause
from statuspage.validators import MAX_REASON, MAX_TEXT, person_name


@write
def hand_over(*, ctx: WriteContext, incident_id: int | str, to: str) -> Incident:
    """Transfer command. The audit log keeps who had it and who handed it over."""
    incident = get(session=ctx.session, incident_id=incident_id, for_update=True)
    new_commander = person_name(to, field="to")
    if not IncidentStatus(incident.status).is_open:
        raise Conflict(f"incident {incident.id} is resolved; command cannot be handed over")
    if new_commander == incident.commander:
        raise Conflict(f"{new_commander} is already the commander of incident {incident.id}")
    when = event_time(incident, ctx, None)
    before = {"commander": incident.commander}
    incident.commander = new_commander
    incident.updated_at = when
    ctx.audit(
        action=AuditAction.INCIDENT_HAND_OVER,
        subject_type="incident",
        subject_id=incident.id or 0,
        at=when,
        before=before,
        after={"commander": new_commander},
    )
    return incident


@write
def pause_sla(*, ctx: WriteContext, incident_id: int | str, reason: str) -> Incident:
    """Stop the incident's SLA clocks while the next step is the customer's (waiting on their
    logs, their change window, their confirmation). Targets already met or breached stay so;
    the others lose no time until :func:`resume_sla` (or resolving) starts them again.

    Internal: audited as ``incident.sla_pause`` and posted to the Slack thread, not published.
    """
    incident = get(session=ctx.session, incident_id=incident_id, for_update=True)
    why = clean_text(reason, field="reason", limit=MAX_REASON, required=True)
    if not IncidentStatus(incident.status).is_open:
        raise Conflict(f"incident {incident.id} is resolved; its SLA clocks have stopped already")
    current = open_pause(incident)
    if current is not None:
        raise Conflict(f"incident {incident.id}'s SLA clocks are already paused since {current['start']} ({current.get('reason')})")
    when = event_time(incident, ctx, None)
    pause = {"start": when.isoformat(), "end": None, "reason": why, "by": ctx.actor.name}
    # A new list, so that the JSON column is seen as changed.
    incident.sla_pauses = [*(incident.sla_pauses or []), pause]
    incident.updated_at = when
    ctx.audit(
        action=AuditAction.INCIDENT_SLA_PAUSE,
        subject_type="incident",
        subject_id=incident.id or 0,
        at=when,
        after={"reason": why, "paused_at": when},
    )
    return incident


@write
def resume_sla(*, ctx: WriteContext, incident_id: int | str) -> Incident:
    """Start the SLA clocks of a paused incident again; audited as ``incident.sla_resume``."""
    incident = get(session=ctx.session, incident_id=incident_id, for_update=True)
    if open_pause(incident) is None:
        raise Conflict(f"incident {incident.id}'s SLA clocks are not paused")
    when = event_time(incident, ctx, None)
    paused_since = close_pause(incident, when)
    incident.updated_at = when
    ctx.audit(
        action=AuditAction.INCIDENT_SLA_RESUME,
        subject_type="incident",
        subject_id=incident.id or 0,
        at=when,
        after={"paused_at": paused_since, "resumed_at": when, "paused_seconds": int((when - paused_since).total_seconds())},
    )
    return incident


@write
def record_root_cause(
    *,
    ctx: WriteContext,
    incident_id: int | str,
    root_cause: str | None = None,
    remediation: str | None = None,
    category: str | None = None,
) -> Incident:
    """The public root-cause summary and remediation plan, shown with the incident and beside any
    SLA it breached, and the cause category (an id of ``causes:`` in the configuration). Any may
    be given alone; an empty text clears it."""
    incident = get(session=ctx.session, incident_id=incident_id, for_update=True)
    if root_cause is None and remediation is None and category is None:
        raise InvalidInput("give a root cause, a remediation or both, or a category", field="root_cause")
    before = {"root_cause": incident.root_cause, "remediation": incident.remediation, "category": incident.root_cause_category}
    if category is not None:
        incident.root_cause_category = cause_category(ctx, category)
    if root_cause is not None:
        incident.root_cause = clean_text(root_cause, field="root_cause", limit=MAX_TEXT, required=False)
    if remediation is not None:
        incident.remediation = clean_text(remediation, field="remediation", limit=MAX_TEXT, required=False)
    now = ctx.now()
    incident.updated_at = max(incident.updated_at, now)
    ctx.audit(
        action=AuditAction.INCIDENT_ROOT_CAUSE,
        subject_type="incident",
        subject_id=incident.id or 0,
        at=now,
        before=before,
        after={"root_cause": incident.root_cause, "remediation": incident.remediation, "category": incident.root_cause_category},
    )
    return incident


def cause_category(ctx: WriteContext, value: str) -> str | None:
    """A configured cause category's id as given (surrounding blanks ignored); empty clears it."""
    key = value.strip()
    if not key:
        return None
    causes = ctx.config.causes
    if key not in causes:
        raise InvalidInput(f"{key[:64]!r} is not a cause category; known: {', '.join(causes)}", field="category")
    return key
