"""Changing an open incident's severity: what a raise starts and what it publishes.

Raising it (to a more severe level than the incident had):

- attaches the new severity's playbook from this moment when the running one was attached for a
  less severe level, or when none runs: its pages, waits and reminders replace the old ones; an
  acknowledgement already given stands. It runs on the escalation matrix frozen when the
  incident's escalation began, normally at its declaration: the owners, contacts, notification
  rules and channels of then, with that matrix's acknowledgement times for the new severity (see
  :mod:`statuspage.oncall.frozen`). Nobody removed from the configuration since is dropped, nobody
  added since is paged. An incident that ran no playbook until now (a Sev-3 or Sev-4 of the demo
  configuration) runs on the matrix frozen on the incident when it was declared
  (``Incident.escalation_matrix``); only one declared before that was kept starts on the matrix in
  force at the raise.
- moves its components with it: each component the incident holds at the old severity's
  ``component_status`` (the status the declaration or an update gave it by default) takes the new
  severity's; one set to another status for this incident keeps it. Statuses given with the
  change (``components``: a component id to a status, or to ``None`` for the new severity's)
  are applied as given, to those components. The change is a public update like any other: the
  components' history, the status page and the API, subscribers and webhooks.

Lowering it leaves the running escalation alone (people already paged are stopped by
acknowledging, not by a relabelling) and leaves the components as they are: a better public status
is said with an update, when it is true. Statuses given with the change are applied either way.

The impact follows the severity, either way, unless it was set by hand. The change is in the audit
log (``incident.severity``; ``incident.update`` for the components; ``incident.playbook`` when one
is attached), all in the one transaction, which ``incident show`` prints in the timeline and Slack
posts to the incident's thread. The severity itself is not posted on the public timeline: it is
the responders' vocabulary, and a playbook that wants to tell customers does so with a
post_update step.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlmodel import col, select

from statuspage.audit.actions import AuditAction
from statuspage.components.service import get_components, parse_status
from statuspage.context import WriteContext
from statuspage.db.models import Component, Incident, IncidentComponent
from statuspage.domain.enums import IncidentStatus
from statuspage.errors import Conflict
from statuspage.incidents.parsing import parse_severity
from statuspage.incidents.queries import get
from statuspage.incidents.service import event_time, post_update
from statuspage.oncall import engine as oncall

__all__ = ["change"]


def change(
    ctx: WriteContext,
    *,
    incident_id: int | str,
    severity: int | str,
    components: Mapping[str, str | None] | None,
    publish: oncall.Publish,
) -> Incident:
    """See the module's documentation; called by
    :func:`statuspage.incidents.service.change_severity` inside its transaction."""
    incident = get(session=ctx.session, incident_id=incident_id, for_update=True)
    level = parse_severity(severity, ctx.config)
    if not IncidentStatus(incident.status).is_open:
        raise Conflict(f"incident {incident.id} is resolved; reopen it before changing its severity")
    previous = incident.severity
    if level == previous:
        raise Conflict(f"incident {incident.id} is already sev{level}")
    given = _given_statuses(ctx, components or {})
    assert incident.id is not None
    run = oncall.get_run(ctx, incident.id)
    raised = run.severity > level if run is not None else level < previous
    chosen = oncall.choose_playbook(ctx.config, ctx.wiring.playbooks_dir, level) if raised or run is None else None
    when = event_time(incident, ctx, None)
    old_definition = ctx.config.severity(previous)
    new_definition = ctx.config.severity(level)
    if old_definition is not None and new_definition is not None and incident.impact == old_definition.impact.value:
        incident.impact = new_definition.impact.value
    following: dict[str, str | None] = {}
    if level < previous and old_definition is not None and new_definition is not None:
        following = _following(ctx, incident.id, old_definition.component_status.value, new_definition.component_status.value)
    incident.severity = level
    incident.updated_at = when
    ctx.audit(
        action=AuditAction.INCIDENT_SEVERITY,
        subject_type="incident",
        subject_id=incident.id,
        at=when,
        before={"severity": previous},
        after={"from": previous, "to": level, "playbook": chosen.name if chosen else None},
    )
    statuses = {**following, **given}
    if statuses:
        # Through the incident service's own path, as a playbook's set_component step goes: the
        # hold, the components' history, the public update and its audit event.
        post_update(ctx=ctx, incident_id=incident.id, status=incident.status, components=statuses, at=when)
    if chosen is not None:
        oncall.attach(ctx, incident, chosen, at=when, publish=publish)
    return incident


def _given_statuses(ctx: WriteContext, components: Mapping[str, str | None]) -> dict[str, str | None]:
    """Statuses named with the change, checked before anything is written."""
    if not components:
        return {}
    known = get_components(session=ctx.session, ids=components.keys())
    return {
        c.id: (parse_status(status, field=f"components.{c.id}").value if (status := components[c.id]) else None)
        for c in known
    }


def _following(ctx: WriteContext, incident_id: int, old_default: str, new_default: str) -> dict[str, str | None]:
    """The components the incident holds at the old severity's default status: they take the new
    one's. Held at any other status, a component was set explicitly and keeps it."""
    if old_default == new_default:
        return {}
    held = ctx.session.exec(
        select(IncidentComponent.component_id)
        .join(Component, col(Component.id) == IncidentComponent.component_id)
        .where(IncidentComponent.incident_id == incident_id, IncidentComponent.status == old_default)
        .where(col(Component.archived).is_(False))  # an archived component is no longer shown
        .order_by(col(IncidentComponent.component_id))
    ).all()
    return {component_id: new_default for component_id in held}
