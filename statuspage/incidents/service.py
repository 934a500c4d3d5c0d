"""Incidents: every state change, its invariants and its audit event.

Invariants kept here, whichever door the call came through (CLI, admin API, playbooks):
- a resolved incident takes no update until it is reopened;
- times never go backwards: an explicit time earlier than the incident's last entry is refused,
  and a clock that reads earlier (another host's) is clamped to that entry;
- resolving releases the incident's components, which return to their own status unless another
  open incident still holds them;
- a declaration attaches the severity's playbook in the same transaction, so an incident is never
  committed without the paging it calls for (see :mod:`statuspage.oncall.engine`); raising the
  severity attaches the new severity's playbook on the matrix frozen at the declaration
  (:mod:`statuspage.incidents.severity`); acknowledging stops the paging; resolving cancels
  every timer.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from sqlmodel import select

from statuspage.audit.actions import AuditAction
from statuspage.components.service import get_components, parse_status, refresh_statuses
from statuspage.context import WriteContext, write
from statuspage.db.models import Incident, IncidentComponent, IncidentUpdate, Timer
from statuspage.domain.enums import ComponentStatus, IncidentStatus
from statuspage.domain.escalation_actions import PostUpdate as PlaybookPostUpdate
from statuspage.domain.escalation_actions import SetComponent as PlaybookSetComponent
from statuspage.domain.matrix import Matrix
from statuspage.errors import Conflict, InvalidInput
from statuspage.incidents.messages import default_body
from statuspage.incidents.parsing import clean_text, parse_impact, parse_incident_status, parse_severity  # noqa: F401 - read from here too
from statuspage.incidents.queries import (  # noqa: F401 - read from here too
    affected_components,
    audit_trail,
    component_names,
    count_open,
    get,
    list_incidents,
    timeline,
)
from statuspage.incidents.recovery import start_service_recovery
from statuspage.incidents.sla import close_pause, open_pause
from statuspage.oncall import engine as oncall
from statuspage.validators import MAX_TEXT, person_name
from statuspage.validators import title as one_line_title

log = logging.getLogger(__name__)

MAX_BODY = MAX_TEXT
# A declaration may say the problem was detected earlier, but not in the future or years ago.
MAX_DETECTION_LEAD = timedelta(days=7)


def event_time(incident: Incident, ctx: WriteContext, at: datetime | None) -> datetime:
    """When this change happened: never before the incident's last recorded moment."""
    now = ctx.now()
    if at is None:
        return max(now, incident.updated_at)
    if at.tzinfo is None:
        raise InvalidInput("times must carry a time zone offset", field="at")
    if at > now + timedelta(seconds=5):
        raise InvalidInput(f"{at.isoformat()} is in the future", field="at")
    if at < incident.updated_at:
        raise InvalidInput(
            f"{at.isoformat()} is before the incident's last entry at {incident.updated_at.isoformat()}; "
            "times never go backwards",
            field="at",
        )
    return at


def _snapshot(incident: Incident) -> dict[str, object]:
    return {
        "title": incident.title,
        "severity": incident.severity,
        "impact": incident.impact,
        "status": incident.status,
        "commander": incident.commander,
    }


def _parse_component_changes(
    ctx: WriteContext, changes: Mapping[str, str | None] | Sequence[str], default: ComponentStatus
) -> dict[str, ComponentStatus]:
    if not isinstance(changes, Mapping):
        changes = {component_id: None for component_id in changes}
    components = get_components(session=ctx.session, ids=changes.keys())
    return {c.id: (parse_status(changes[c.id] or "", field=f"components.{c.id}") if changes[c.id] else default) for c in components}


def _hold(ctx: WriteContext, incident: Incident, statuses: Mapping[str, ComponentStatus], at: datetime) -> None:
    assert incident.id is not None
    for component_id, status in statuses.items():
        row = ctx.session.get(IncidentComponent, (incident.id, component_id))
        if row is None:
            ctx.session.add(
                IncidentComponent(incident_id=incident.id, component_id=component_id, status=status.value, added_at=at)
            )
        else:
            row.status = status.value


def _add_update(
    ctx: WriteContext,
    incident: Incident,
    *,
    status: IncidentStatus,
    body: str,
    at: datetime,
    affected: list[dict[str, str]],
) -> IncidentUpdate:
    assert incident.id is not None
    update = IncidentUpdate(
        incident_id=incident.id,
        status=status.value,
        body=body,
        author=ctx.actor.name,
        created_at=at,
        affected_components=affected or None,
    )
    ctx.session.add(update)
    if incident.first_response_at is None:
        incident.first_response_at = at
    incident.updated_at = at
    return update


@write
def declare(
    *,
    ctx: WriteContext,
    severity: int | str,
    title: str,
    components: Mapping[str, str | None] | Sequence[str],
    message: str | None = None,
    commander: str | None = None,
    detected_at: datetime | None = None,
    impact: str | None = None,
    playbook: str | None = None,
    internal: bool = False,
    page_me: bool = False,
    declarer: str | None = None,
) -> Incident:
    """Open an incident, post its first public update, mark its components and start its playbook.

    ``playbook`` names one to run instead of the one chosen for the severity (an unknown name is
    refused). A Sev-1 always pages: with its playbook, else the built-in escalation. An
    ``internal`` one pages too but stays off every public output until published. The person
    declaring (``declarer``, default the actor) is its commander and is not paged for it, by any
    step of its escalation, unless ``page_me``.
    """
    config = ctx.config
    level = parse_severity(severity, config)
    chosen = oncall.choose_playbook(config, ctx.wiring.playbooks_dir, level, playbook)
    definition = config.severities[f"sev{level}"]
    clean_title = one_line_title(title)
    body = clean_text(message, field="message", limit=MAX_BODY, required=False)
    clean_commander = None if commander is None else person_name(commander, field="commander")
    chosen_impact = definition.impact if impact is None else parse_impact(impact)
    if not components:
        raise InvalidInput("name at least one affected component", field="components")
    statuses = _parse_component_changes(ctx, components, definition.component_status)
    now = ctx.now()
    if detected_at is None:
        detected_at = now
    elif detected_at.tzinfo is None:
        raise InvalidInput("detected_at needs a time zone offset", field="detected_at")
    elif detected_at > now:
        raise InvalidInput(f"detected_at {detected_at.isoformat()} is in the future", field="detected_at")
    elif now - detected_at > MAX_DETECTION_LEAD:
        raise InvalidInput("detected_at is more than 7 days ago; record an old incident with an import", field="detected_at")

    incident = Incident(
        title=clean_title,
        severity=level,
        impact=chosen_impact.value,
        status=IncidentStatus.INVESTIGATING.value,
        commander=clean_commander or ctx.actor.name,
        declared_by=ctx.actor.name,
        detected_at=detected_at,
        declared_at=now,
        updated_at=now,
        internal=internal,
        escalation_matrix=Matrix.from_escalation(ctx.config.escalation).to_json(),
    )
    ctx.session.add(incident)
    ctx.session.flush()
    assert incident.id is not None
    _hold(ctx, incident, statuses, now)
    affected = refresh_statuses(session=ctx.session, component_ids=statuses, at=now, incident_id=incident.id)
    names = [c.name for c in get_components(session=ctx.session, ids=statuses)]
    _add_update(
        ctx,
        incident,
        status=IncidentStatus.INVESTIGATING,
        body=body or default_body("investigating", component_names=names),
        at=now,
        affected=affected,
    )
    ctx.audit(
        action=AuditAction.INCIDENT_DECLARE,
        subject_type="incident",
        subject_id=incident.id,
        at=now,
        after={**_snapshot(incident), "components": {k: v.value for k, v in statuses.items()}, "detected_at": detected_at, "internal": internal},
    )
    if chosen is not None and ctx.announce:
        not_paging = None if page_me else (declarer or ctx.actor.name)
        oncall.attach(ctx, incident, chosen, at=now, publish=_publish, not_paging=not_paging)
    return incident


@write
def post_update(
    *,
    ctx: WriteContext,
    incident_id: int | str,
    message: str | None = None,
    status: str | None = None,
    components: Mapping[str, str | None] | None = None,
    at: datetime | None = None,
) -> IncidentUpdate:
    """Add to the public timeline, optionally moving the status and component statuses.

    Moving to ``resolved`` resolves the incident (see :func:`resolve`).
    """
    incident = get(session=ctx.session, incident_id=incident_id, for_update=True)
    requested = parse_incident_status(status) if status else None
    if not IncidentStatus(incident.status).is_open:
        raise Conflict(f"incident {incident.id} is resolved; reopen it before posting an update")
    if requested is IncidentStatus.RESOLVED:
        return resolve(ctx=ctx, incident_id=incident.id or 0, message=message, at=at)
    new_status = requested or IncidentStatus(incident.status)
    body = clean_text(message, field="message", limit=MAX_BODY, required=status is None)
    when = event_time(incident, ctx, at)
    before = _snapshot(incident)
    severity = ctx.config.severities.get(f"sev{incident.severity}")
    default_status = severity.component_status if severity else ComponentStatus.MAJOR_OUTAGE
    statuses = _parse_component_changes(ctx, components or {}, default_status)
    _hold(ctx, incident, statuses, when)
    affected = refresh_statuses(session=ctx.session, component_ids=statuses, at=when, incident_id=incident.id)
    incident.status = new_status.value
    if new_status is IncidentStatus.MONITORING and incident.mitigated_at is None:
        incident.mitigated_at = when
    update = _add_update(
        ctx,
        incident,
        status=new_status,
        body=body or default_body(new_status.value, component_names=component_names(ctx.session, incident.id or 0)),
        at=when,
        affected=affected,
    )
    ctx.audit(
        action=AuditAction.INCIDENT_UPDATE,
        subject_type="incident",
        subject_id=incident.id or 0,
        at=when,
        before=before,
        after={**_snapshot(incident), "message": update.body, "components": {k: v.value for k, v in statuses.items()}},
    )
    return update


@write
def resolve(
    *, ctx: WriteContext, incident_id: int | str, message: str | None = None, at: datetime | None = None
) -> IncidentUpdate:
    """Close the incident and release its components."""
    incident = get(session=ctx.session, incident_id=incident_id, for_update=True)
    if not IncidentStatus(incident.status).is_open:
        raise Conflict(f"incident {incident.id} is already resolved")
    body = clean_text(message, field="message", limit=MAX_BODY, required=False)
    when = event_time(incident, ctx, at)
    # Before the incident is marked resolved: the playbook's on_resolve update may still be posted.
    oncall.resolve(ctx, incident, at=when, publish=_publish)
    before = _snapshot(incident)
    if open_pause(incident) is not None:
        close_pause(incident, when)  # resolving answers the wait; the clocks stop for good
    incident.status = IncidentStatus.RESOLVED.value
    incident.resolved_at = when
    if incident.mitigated_at is None:
        incident.mitigated_at = when
    held = ctx.session.exec(select(IncidentComponent.component_id).where(IncidentComponent.incident_id == incident.id)).all()
    affected = refresh_statuses(session=ctx.session, component_ids=held, at=when, incident_id=incident.id)
    update = _add_update(
        ctx,
        incident,
        status=IncidentStatus.RESOLVED,
        body=body or default_body("resolved", component_names=[]),
        at=when,
        affected=affected,
    )
    ctx.audit(
        action=AuditAction.INCIDENT_RESOLVE,
        subject_type="incident",
        subject_id=incident.id or 0,
        at=when,
        before=before,
        after={**_snapshot(incident), "message": update.body},
    )
    start_service_recovery(ctx, incident, when)  # the severity's service-recovery action items, once
    return update


@write
def reopen(
    *,
    ctx: WriteContext,
    incident_id: int | str,
    message: str | None = None,
    status: str = "investigating",
    at: datetime | None = None,
) -> IncidentUpdate:
    """Open a resolved incident again; its components are held again at their last status.

    Its playbook starts again from the top: reminders resume, and if nobody ever acknowledged it,
    so does the paging (an acknowledgement given before the resolution stands).
    """
    incident = get(session=ctx.session, incident_id=incident_id, for_update=True)
    if IncidentStatus(incident.status).is_open:
        raise Conflict(f"incident {incident.id} is still open ({incident.status}); there is nothing to reopen")
    new_status = parse_incident_status(status)
    if new_status is IncidentStatus.RESOLVED:
        raise InvalidInput("reopen to investigating, identified or monitoring", field="status")
    body = clean_text(message, field="message", limit=MAX_BODY, required=False)
    when = event_time(incident, ctx, at)
    before = {**_snapshot(incident), "resolved_at": incident.resolved_at}
    incident.status = new_status.value
    incident.resolved_at = None
    held = ctx.session.exec(select(IncidentComponent.component_id).where(IncidentComponent.incident_id == incident.id)).all()
    affected = refresh_statuses(session=ctx.session, component_ids=held, at=when, incident_id=incident.id)
    update = _add_update(
        ctx,
        incident,
        status=new_status,
        body=body or default_body("reopened", component_names=[]),
        at=when,
        affected=affected,
    )
    ctx.audit(
        action=AuditAction.INCIDENT_REOPEN,
        subject_type="incident",
        subject_id=incident.id or 0,
        at=when,
        before=before,
        after={**_snapshot(incident), "message": update.body},
    )
    oncall.reopen(ctx, incident, at=when, publish=_publish)
    return update


@write
def acknowledge(*, ctx: WriteContext, incident_id: int | str, by: str | None = None) -> tuple[Incident, bool]:
    """Record who took the page, stop the paging and mark the outstanding pages acknowledged.

    The first acknowledgement is the incident's; a later one changes nothing on the incident but
    still acknowledges pages sent since (a tier paged by hand after the first acknowledgement).
    Returns the incident and whether this call was the incident's acknowledgement.
    """
    incident = get(session=ctx.session, incident_id=incident_id, for_update=True)
    who = ctx.actor.name if by is None else person_name(by, field="by")
    is_open = IncidentStatus(incident.status).is_open
    if incident.acknowledged_at is not None:
        if is_open:
            oncall.acknowledge(ctx, incident, by=who, at=event_time(incident, ctx, None), publish=_publish)
        return incident, False
    if not is_open:
        raise Conflict(f"incident {incident.id} is resolved; there is nothing to acknowledge")
    when = event_time(incident, ctx, None)
    incident.acknowledged_at = when
    incident.acknowledged_by = who
    incident.updated_at = when
    ctx.audit(
        action=AuditAction.INCIDENT_ACKNOWLEDGE,
        subject_type="incident",
        subject_id=incident.id or 0,
        at=when,
        # Who holds command then: someone other than the commander took the page (Slack offers the hand-over).
        after={"acknowledged_by": who, "acknowledged_at": when, "commander": incident.commander},
    )
    oncall.acknowledge(ctx, incident, by=who, at=when, publish=_publish)
    return incident, True


@write
def change_severity(
    *, ctx: WriteContext, incident_id: int | str, severity: int | str, components: Mapping[str, str | None] | None = None
) -> Incident:
    """Change an open incident's severity. Raising it attaches the new severity's playbook, run on
    the escalation matrix frozen at the declaration, and moves the components still at the old
    severity's status to the new one's; ``components`` sets statuses explicitly. See
    :mod:`statuspage.incidents.severity`."""
    from statuspage.incidents import severity as severities  # it builds on this module

    return severities.change(ctx, incident_id=incident_id, severity=severity, components=components, publish=_publish)


@write
def escalate(*, ctx: WriteContext, incident_id: int | str, to_tier: int | None = None) -> int:
    """Page a tier now, without waiting for the acknowledgement deadline: ``to_tier``, or the tier
    above the last one paged. The running playbook carries on from the step that pages that tier
    when it has one (so the tier is not paged twice); otherwise the tier is paged once.

    Returns the tier paged. Audited as ``incident.escalate`` with reason ``manual``.
    """
    incident = get(session=ctx.session, incident_id=incident_id, for_update=True)
    if not IncidentStatus(incident.status).is_open:
        raise Conflict(f"incident {incident.id} is resolved; there is nobody to escalate to")
    return oncall.escalate(ctx, incident, to_tier=to_tier, at=event_time(incident, ctx, None), publish=_publish)


def on_timer(ctx: WriteContext, timer: Timer) -> None:
    """The timer handler for acknowledgement deadlines and reminders (see :mod:`statuspage.oncall.timers`):
    the incident first, then its escalation run, the order every service function takes them in."""
    if timer.incident_id is None:
        return
    incident = get(session=ctx.session, incident_id=timer.incident_id, for_update=True)
    oncall.on_timer(ctx, incident, timer, publish=_publish)


def _publish(
    ctx: WriteContext, incident: Incident, action: PlaybookPostUpdate | PlaybookSetComponent, at: datetime
) -> None:
    """A playbook's public step, through this service like any change to the incident."""
    assert incident.id is not None
    if not IncidentStatus(incident.status).is_open:
        what = action.body if isinstance(action, PlaybookPostUpdate) else f"component {action.component}"
        log.warning("incident %s is resolved; playbook step left undone: %s", incident.id, what)
        return
    when = max(at, incident.updated_at)
    if isinstance(action, PlaybookPostUpdate):
        post_update(ctx=ctx, incident_id=incident.id, message=action.body, status=action.status, at=when)
    else:
        post_update(
            ctx=ctx, incident_id=incident.id, status=incident.status, components={action.component: action.status}, at=when
        )
