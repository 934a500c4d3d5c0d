"""Who may see an incident: an internal one (opened from an alert) is seen by responders only,
until a person publishes it.

Publishing shows the incident on every public output from then on: the pages, feeds and v2 API
read only public incidents, its components take the status it holds them at (an internal
incident holds nothing in public), and webhook subscribers get it as ``incident.created``, since
they have never heard of it. Its timeline so far (the first update, any a playbook posted)
becomes public as it is. A public incident declared by mistake is withdrawn with
:func:`statuspage.incidents.corrections.retract`, which makes it internal again; publishing shows
it once more.
"""

from __future__ import annotations

from sqlmodel import select

from statuspage.audit.actions import AuditAction
from statuspage.components.service import refresh_statuses
from statuspage.context import WriteContext, write
from statuspage.db.models import Incident, IncidentComponent
from statuspage.errors import Conflict
from statuspage.incidents.queries import get


@write
def publish(*, ctx: WriteContext, incident_id: int | str) -> tuple[Incident, list[dict[str, str]]]:
    """Make an internal incident (opened from an alert, or retracted) public; returns it with the
    component changes that made."""
    incident = get(session=ctx.session, incident_id=incident_id, for_update=True)
    if not incident.internal:
        raise Conflict(f"incident {incident.id} is already public")
    assert incident.id is not None
    at = max(ctx.now(), incident.updated_at)
    incident.internal = False
    held = ctx.session.exec(select(IncidentComponent.component_id).where(IncidentComponent.incident_id == incident.id)).all()
    changes = refresh_statuses(session=ctx.session, component_ids=held, at=at, incident_id=incident.id)
    ctx.audit(
        action=AuditAction.INCIDENT_PUBLISH,
        subject_type="incident",
        subject_id=incident.id,
        at=at,
        before={"internal": True},
        after={"internal": False, "components": {c["code"]: c["new_status"] for c in changes}},
    )
    return incident, changes
