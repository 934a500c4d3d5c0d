"""The admin API's operations, one function each: read the call, ask the service layer, answer
with the page and the changed object. A service-layer refusal is turned into a problem document by
the caller (see :func:`statuspage.web.admin.operations.execute`)."""

from __future__ import annotations

from sqlmodel import col, select

from statuspage.audit.actions import AuditAction
from statuspage.components import service as components_service
from statuspage.db.models import AuditEvent, Component, Maintenance
from statuspage.errors import NotFound
from statuspage.incidents import corrections, handling, visibility
from statuspage.incidents import service as incidents
from statuspage.maintenance import service as maintenance_service
from statuspage.oncall import engine as oncall
from statuspage.oncall import queries as oncall_queries
from statuspage.web.admin.calls import PREFIX, Call, Reply
from statuspage.web.admin.payloads import (
    audit_json,
    component_payload,
    incident_payload,
    incident_reply,
    incidents_payload,
    maintenance_payload,
    paging_json,
    parse_id,
    sla_targets_json,
    update_reply,
    utc,
)
from statuspage.web.admin.schemas import (
    AcknowledgeIncident,
    AuditQuery,
    ChangeSeverity,
    DeclareIncident,
    EditTitle,
    EditUpdate,
    EscalateIncident,
    HandOverIncident,
    IncidentListQuery,
    PauseSla,
    PostUpdate,
    RecordPlan,
    RecordRootCause,
    ReopenIncident,
    ResolveIncident,
    RetractIncident,
    ScheduleMaintenance,
    SetComponentStatus,
    UpdateMaintenance,
)


def token_info(call: Call) -> Reply:
    token = call.token
    assert token is not None
    return Reply(
        {
            "page": call.builder.page_json(),
            "token": {
                "name": token.name,
                "scope": token.scope,
                "prefix": token.prefix,
                "created_at": utc(token.created_at),
                "last_used_at": utc(token.last_used_at),
            },
            "actor": call.ctx.actor.name,
        }
    )


def list_incidents(call: Call) -> Reply:
    query: IncidentListQuery = call.query
    rows = incidents.list_incidents(session=call.session, open_only=query.open, limit=query.limit)
    return Reply({"page": call.builder.page_json(), "incidents": incidents_payload(call.builder, rows)})


def declare_incident(call: Call) -> Reply:
    """Also says whom the playbook paged, and which playbook files were skipped as broken (the
    declaration goes ahead regardless)."""
    body: DeclareIncident = call.body
    _loaded, problems = oncall.load_lenient(call.ctx.config, call.ctx.wiring.playbooks_dir)
    with oncall_queries.added_rows(call.session) as added:
        incident = incidents.declare(
            ctx=call.ctx,
            severity=body.severity,
            title=body.title,
            components=dict(body.components),
            message=body.message,
            commander=body.commander or call.human,
            detected_at=body.detected_at,
            impact=body.impact,
            playbook=body.playbook,
            page_me=body.page_me,
            declarer=call.human,
        )
    assert incident.id is not None
    return Reply(
        {
            "page": call.builder.page_json(),
            "incident": incident_payload(call, incident.id),
            "paging": paging_json(call.session, incident.id, added),
            "warnings": problems,
        },
        status=201,
        headers={"location": f"{PREFIX}/incidents/{incident.id}"},
    )


def show_incident(call: Call) -> Reply:
    incident = incidents.get(session=call.session, incident_id=parse_id(call.params["incident_id"], "incident"))
    (data,) = incidents_payload(call.builder, [incident])
    events = call.session.exec(
        select(AuditEvent)
        .where(AuditEvent.subject_type == "incident", AuditEvent.subject_id == str(incident.id))
        .order_by(col(AuditEvent.at), col(AuditEvent.id))
    ).all()
    return Reply(
        {
            "page": call.builder.page_json(),
            "incident": data,
            "audit_events": [audit_json(e) for e in events],
            "sla_targets": sla_targets_json(call, incident),
            "paging": oncall_queries.outlook(call.session, incident.id or 0).to_json(),
        }
    )


def post_update(call: Call) -> Reply:
    body: PostUpdate = call.body
    update = incidents.post_update(
        ctx=call.ctx,
        incident_id=parse_id(call.params["incident_id"], "incident"),
        message=body.message,
        status=body.status,
        components=dict(body.components or {}),
        at=body.at,
    )
    return update_reply(call, update)


def resolve_incident(call: Call) -> Reply:
    body: ResolveIncident = call.body
    update = incidents.resolve(
        ctx=call.ctx, incident_id=parse_id(call.params["incident_id"], "incident"), message=body.message, at=body.at
    )
    return update_reply(call, update)


def reopen_incident(call: Call) -> Reply:
    body: ReopenIncident = call.body
    update = incidents.reopen(
        ctx=call.ctx, incident_id=parse_id(call.params["incident_id"], "incident"), message=body.message, status=body.status
    )
    return update_reply(call, update)


def acknowledge_incident(call: Call) -> Reply:
    body: AcknowledgeIncident = call.body
    incident, changed = incidents.acknowledge(
        ctx=call.ctx, incident_id=parse_id(call.params["incident_id"], "incident"), by=body.by or call.human
    )
    assert incident.id is not None
    return Reply({"page": call.builder.page_json(), "incident": incident_payload(call, incident.id), "acknowledged": changed})


def hand_over_incident(call: Call) -> Reply:
    body: HandOverIncident = call.body
    incident = handling.hand_over(ctx=call.ctx, incident_id=parse_id(call.params["incident_id"], "incident"), to=body.to)
    return incident_reply(call, incident)


def pause_sla(call: Call) -> Reply:
    body: PauseSla = call.body
    incident = handling.pause_sla(ctx=call.ctx, incident_id=parse_id(call.params["incident_id"], "incident"), reason=body.reason)
    return incident_reply(call, incident)


def resume_sla(call: Call) -> Reply:
    incident = handling.resume_sla(ctx=call.ctx, incident_id=parse_id(call.params["incident_id"], "incident"))
    return incident_reply(call, incident)


def record_plan(call: Call) -> Reply:
    from statuspage.incidents import plan as plans

    body: RecordPlan = call.body
    incident = plans.record_plan(ctx=call.ctx, incident_id=parse_id(call.params["incident_id"], "incident"), plan=body.plan)
    return incident_reply(call, incident)


def record_root_cause(call: Call) -> Reply:
    body: RecordRootCause = call.body
    incident = handling.record_root_cause(
        ctx=call.ctx,
        incident_id=parse_id(call.params["incident_id"], "incident"),
        root_cause=body.root_cause,
        remediation=body.remediation,
        category=body.category,
    )
    return incident_reply(call, incident)


def escalate_incident(call: Call) -> Reply:
    body: EscalateIncident = call.body
    key = parse_id(call.params["incident_id"], "incident")
    with oncall_queries.added_rows(call.session) as added:
        tier = incidents.escalate(ctx=call.ctx, incident_id=key, to_tier=body.to_tier)
    return Reply(
        {
            "page": call.builder.page_json(),
            "incident": incident_payload(call, key),
            "escalated_to_tier": tier,
            "paging": paging_json(call.session, key, added),
        }
    )


def change_severity(call: Call) -> Reply:
    body: ChangeSeverity = call.body
    key = parse_id(call.params["incident_id"], "incident")
    with oncall_queries.added_rows(call.session) as added:
        incident = incidents.change_severity(
            ctx=call.ctx, incident_id=key, severity=body.severity, components=body.components or None
        )
    change = next(
        (row.after or {} for row in added if isinstance(row, AuditEvent) and row.action == AuditAction.INCIDENT_SEVERITY), {}
    )
    return Reply(
        {
            "page": call.builder.page_json(),
            "incident": incident_payload(call, key),
            "severity_change": {
                "from": change.get("from", incident.severity),
                "to": incident.severity,
                "playbook": change.get("playbook"),
            },
            "paging": paging_json(call.session, key, added),
        }
    )


def list_components(call: Call) -> Reply:
    builder = call.builder
    rows = components_service.list_components(session=call.session)
    return Reply({"page": builder.page_json(), "components": [component_payload(builder, c) for c in rows]})


def set_component(call: Call) -> Reply:
    body: SetComponentStatus = call.body
    component_id = call.params["component_id"]
    if any(ord(ch) < 32 for ch in component_id):
        raise NotFound(f"unknown component {component_id!r}", field="components")
    changes = components_service.set_status(ctx=call.ctx, component_id=component_id, status=body.status.value)
    component = call.session.get(Component, component_id)
    assert component is not None
    builder = call.builder
    return Reply({"page": builder.page_json(), "component": component_payload(builder, component), "changes": changes})


def schedule_maintenance(call: Call) -> Reply:
    body: ScheduleMaintenance = call.body
    row: Maintenance = maintenance_service.schedule(
        ctx=call.ctx,
        title=body.title,
        components=body.components,
        scheduled_for=body.scheduled_for,
        scheduled_until=body.scheduled_until,
        message=body.message,
    )
    assert row.id is not None
    return Reply(
        {"page": call.builder.page_json(), "scheduled_maintenance": maintenance_payload(call, row.id)},
        status=201,
        headers={"location": f"{PREFIX}/maintenances/{row.id}"},
    )


def show_maintenance(call: Call) -> Reply:
    row = maintenance_service.get(session=call.session, maintenance_id=parse_id(call.params["maintenance_id"], "maintenance"))
    assert row.id is not None
    return Reply({"page": call.builder.page_json(), "scheduled_maintenance": maintenance_payload(call, row.id)})


def update_maintenance(call: Call) -> Reply:
    body: UpdateMaintenance = call.body
    update = maintenance_service.set_status(
        ctx=call.ctx,
        maintenance_id=parse_id(call.params["maintenance_id"], "maintenance"),
        status=body.status,
        message=body.message,
    )
    return Reply({"page": call.builder.page_json(), "scheduled_maintenance": maintenance_payload(call, update.maintenance_id)})


def list_audit(call: Call) -> Reply:
    query: AuditQuery = call.query
    statement = select(AuditEvent).order_by(col(AuditEvent.at).desc(), col(AuditEvent.id).desc()).limit(query.limit)
    if query.subject_type is not None:
        statement = statement.where(AuditEvent.subject_type == query.subject_type)
    if query.subject_id is not None:
        statement = statement.where(AuditEvent.subject_id == query.subject_id)
    if query.action is not None:
        statement = statement.where(AuditEvent.action == query.action)
    events = call.session.exec(statement).all()
    return Reply({"page": call.builder.page_json(), "audit_events": [audit_json(e) for e in events]})


# Corrections -------------------------------------------------------------------------------------


def edit_title(call: Call) -> Reply:
    body: EditTitle = call.body
    incident = corrections.edit_title(ctx=call.ctx, incident_id=parse_id(call.params["incident_id"], "incident"), title=body.title)
    return incident_reply(call, incident)


def edit_update(call: Call) -> Reply:
    body: EditUpdate = call.body
    key = parse_id(call.params["incident_id"], "incident")
    number = parse_id(call.params["number"], "update")
    return update_reply(call, corrections.edit_update(ctx=call.ctx, incident_id=key, number=number, message=body.message))


def retract_incident(call: Call) -> Reply:
    body: RetractIncident = call.body
    incident, changes = corrections.retract(ctx=call.ctx, incident_id=parse_id(call.params["incident_id"], "incident"), reason=body.reason)
    return Reply({**incident_reply(call, incident).data, "changes": changes})


def publish_incident(call: Call) -> Reply:
    incident, changes = visibility.publish(ctx=call.ctx, incident_id=parse_id(call.params["incident_id"], "incident"))
    return Reply({**incident_reply(call, incident).data, "changes": changes})
