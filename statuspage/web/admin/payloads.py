"""What the admin API answers with: Statuspage v2 objects (see :mod:`statuspage.read.v2`), each
incident and maintenance with an ``admin`` object of what the public format leaves out."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlmodel import Session, col, select

from statuspage import ids
from statuspage.contact_urls import shown_contact
from statuspage.db.models import (
    ActionItem,
    AuditEvent,
    Component,
    Incident,
    IncidentComponent,
    IncidentUpdate,
)
from statuspage.errors import NotFound, UserError
from statuspage.incidents import service as incidents
from statuspage.maintenance import service as maintenance_service
from statuspage.oncall import queries as oncall_queries
from statuspage.postmortems import service as postmortems
from statuspage.read.v2 import V2Builder
from statuspage.web.admin.calls import JSON, Call, Reply


def utc(value: datetime | None) -> str | None:
    """Exact times for the ``admin`` objects: the v2 ones are rounded to milliseconds."""
    return value.astimezone(UTC).isoformat() if value is not None else None


def parse_id(raw: str, kind: str) -> int:
    """The id in the path, read by :func:`statuspage.ids.parse_id`: what cannot be an id (other
    scripts' digits, past 32 bits) names nothing, a 404 before any driver sees it."""
    text = raw.strip().lstrip("#")
    if kind == "maintenance":
        text = text.removeprefix("m")
    try:
        return ids.parse_id(text, what=kind)
    except UserError as exc:
        raise NotFound(exc.message, field="id") from None


def incidents_payload(builder: V2Builder, rows: Sequence[Incident]) -> list[JSON]:
    """Statuspage v2 incidents, each with the ``admin`` object (see the package docstring)."""
    data = builder.incidents_json(rows)
    ids = [row.id for row in rows if row.id is not None]
    held: dict[int, dict[str, str]] = defaultdict(dict)
    updates: dict[int, dict[str, JSON]] = defaultdict(dict)
    if ids:
        for link in builder.session.exec(select(IncidentComponent).where(col(IncidentComponent.incident_id).in_(ids))).all():
            held[link.incident_id][link.component_id] = link.status
        for update in builder.session.exec(select(IncidentUpdate).where(col(IncidentUpdate.incident_id).in_(ids))).all():
            updates[update.incident_id][f"{update.incident_id}-{update.id}"] = {
                "author": update.author,
                "created_at": utc(update.created_at),
                "edited_at": utc(update.edited_at),
            }
    for item, row in zip(data, rows, strict=True):
        key = row.id or 0
        item["admin"] = {
            "id": row.id,
            "severity": row.severity,
            "commander": row.commander,
            "declared_by": row.declared_by,
            "acknowledged_by": row.acknowledged_by,
            "detected_at": utc(row.detected_at),
            "declared_at": utc(row.declared_at),
            "acknowledged_at": utc(row.acknowledged_at),
            "first_response_at": utc(row.first_response_at),
            "mitigated_at": utc(row.mitigated_at),
            "resolved_at": utc(row.resolved_at),
            "updated_at": utc(row.updated_at),
            "root_cause": row.root_cause,
            "remediation": row.remediation,
            "root_cause_category": row.root_cause_category,
            "root_cause_category_label": builder.config.causes.label(row.root_cause_category) if row.root_cause_category else None,
            "sla_pauses": row.sla_pauses or [],
            "internal": row.internal,
            "resolution_plan": row.resolution_plan,
            "resolution_plan_at": utc(row.resolution_plan_at),
            "components": held[key],
            "updates": updates[key],
        }
    return data


def incident_payload(call: Call, incident_id: int) -> JSON:
    incident = incidents.get(session=call.session, incident_id=incident_id)
    (data,) = incidents_payload(call.builder, [incident])
    return data


def incident_reply(call: Call, incident: Incident) -> Reply:
    """The envelope every incident change answers with: the page and the incident as it is now."""
    assert incident.id is not None
    return Reply({"page": call.builder.page_json(), "incident": incident_payload(call, incident.id)})


def update_reply(call: Call, update: IncidentUpdate) -> Reply:
    incident = incident_payload(call, update.incident_id)
    update_id = f"{update.incident_id}-{update.id}"
    posted = next(u for u in incident["incident_updates"] if u["id"] == update_id)
    return Reply({"page": call.builder.page_json(), "incident": incident, "incident_update": posted})


def audit_json(event: AuditEvent) -> JSON:
    return {
        "id": event.id,
        "at": utc(event.at),
        "actor": event.actor,
        "source": event.source,
        "action": event.action,
        "subject_type": event.subject_type,
        "subject_id": event.subject_id,
        "before": event.before,
        "after": event.after,
    }


def component_payload(builder: V2Builder, component: Component) -> JSON:
    return {**builder.component_json(component, component.position + 1), "admin": {"base_status": component.base_status}}


def maintenance_payload(call: Call, maintenance_id: int) -> JSON:
    row = maintenance_service.get(session=call.session, maintenance_id=maintenance_id)
    (data,) = call.builder.maintenances_json([row])
    return {**data, "admin": {"id": row.id}}


def sla_targets_json(call: Call, incident: Incident) -> list[JSON]:
    """The incident against its severity's public targets, as of now (what ``incident show`` prints)."""
    from statuspage.incidents.sla import calendar_for, measure

    config = call.site.settings.config
    evaluation = measure(incident, config, calendar_for(config), call.ctx.now())
    return [
        {
            "target": t.target,
            "clock": t.clock,
            "target_seconds": t.target_seconds,
            "deadline": utc(t.deadline),
            "event_at": utc(t.event_at),
            "elapsed_seconds": t.elapsed_seconds,
            "outcome": t.outcome.value,
            "breached_by_seconds": t.breached_by_seconds,
            "remaining_seconds": t.remaining_seconds,
            "paused": t.paused,
            "paused_seconds": t.paused_seconds,
            "working_day_seconds": t.working_day_seconds,
        }
        for t in (evaluation.targets if evaluation else ())
    ]


def paging_json(session: Session, incident_id: int, added: Sequence[object]) -> JSON:
    """Who a change paged, whom it did not page (they declared it) and, when it paged anyone,
    the acknowledgement deadline now pending (see :func:`statuspage.oncall.queries.paging_of_change`)."""
    change = oncall_queries.paging_of_change(session, incident_id, added)
    return {
        "pages": [
            {"tier": p.tier, "owner": p.owner, "contact_kind": p.contact_kind, "contact": shown_contact(p.contact_kind, p.contact), "paged_at": utc(p.paged_at)}
            for p in change.pages
        ],
        "next_step_at": utc(change.next_step_at),
        "not_paged": change.not_paged,
    }


def action_json(item: ActionItem) -> JSON:
    return {
        "id": item.id,
        "incident_id": item.incident_id,
        "title": item.title,
        "owner": item.owner,
        "due_on": item.due_on.isoformat(),
        "status": item.status,
        "created_at": utc(item.created_at),
        "done_at": utc(item.done_at),
    }


def postmortem_json(session: Session, incident_id: int) -> JSON:
    """The analysis recorded for an incident beyond its root cause, and whether it is published."""
    row = postmortems.get_postmortem(session=session, incident_id=incident_id)
    return {
        "incident_id": incident_id,
        "contributing_factors": [
            {"text": f.text, "author": f.author, "created_at": utc(f.created_at)}
            for f in postmortems.factors(session=session, incident_id=incident_id)
        ],
        "why_chain": list(row.why_chain or []) if row else [],
        "detection_gap": row.detection_gap if row else None,
        "response_gap": row.response_gap if row else None,
        "published_at": utc(row.published_at) if row else None,
        "published_by": row.published_by if row else None,
    }
