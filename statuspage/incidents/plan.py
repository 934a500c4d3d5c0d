"""The resolution plan: how and by when an open incident will be resolved, told to responders
and kept on the incident.

Recording the first plan stops the severity's ``resolution_plan`` clock (a Sev-1 promises one
within 24 hours unless it is resolved first). A plan recorded again replaces the text and keeps
the time of the first, so revising a plan never turns a met target into a breach; the audit log
keeps every version. Audited as ``incident.resolution_plan``, which Slack posts to the
incident's thread and ``incident show`` lists in the timeline. Not published: the public reads
the incident's updates.
"""

from __future__ import annotations

from statuspage.audit.actions import AuditAction
from statuspage.context import WriteContext, write
from statuspage.db.models import Incident
from statuspage.domain.enums import IncidentStatus
from statuspage.errors import Conflict
from statuspage.incidents.parsing import clean_text
from statuspage.incidents.queries import get
from statuspage.incidents.service import event_time
from statuspage.validators import MAX_TEXT


@write
def record_plan(*, ctx: WriteContext, incident_id: int | str, plan: str) -> Incident:
    """Record (or revise) the open incident's resolution plan."""
    incident = get(session=ctx.session, incident_id=incident_id, for_update=True)
    text = clean_text(plan, field="plan", limit=MAX_TEXT, required=True)
    if not IncidentStatus(incident.status).is_open:
        raise Conflict(f"incident {incident.id} is resolved; a resolution plan is for an open incident")
    when = event_time(incident, ctx, None)
    before = {"resolution_plan": incident.resolution_plan, "resolution_plan_at": incident.resolution_plan_at}
    incident.resolution_plan = text
    if incident.resolution_plan_at is None:
        incident.resolution_plan_at = when
    incident.updated_at = when
    ctx.audit(
        action=AuditAction.INCIDENT_RESOLUTION_PLAN,
        subject_type="incident",
        subject_id=incident.id or 0,
        at=when,
        before=before,
        after={"resolution_plan": text, "resolution_plan_at": incident.resolution_plan_at},
    )
    return incident
