"""The before-commit hook: one :class:`SubscriberNotice` per public change subscribers are told
about, written in the transaction of the change (a change that rolls back tells nobody, one that
commits always tells).

What a notice is for, by event:

- ``incident.created`` (declared in public, or an internal incident published),
  ``incident.updated`` (a public update posted, an incident reopened), ``incident.resolved``;
- ``maintenance.scheduled``, ``maintenance.started`` (in progress), ``maintenance.completed``;
- ``component.updated``: a component's public status changed (webhook subscribers only, as
  Statuspage sends ``component_update`` bodies; email subscribers hear of it through the incident).

Internal incidents are never told. The notice carries the Statuspage v2 body of its subject as it
is about to be committed, so every subscriber gets the same text however late their copy goes
out; the expansion into one message per subscriber happens later, in the worker
(:mod:`statuspage.subscribers.fanout`), so a change with 50,000 subscribers commits as fast as one
with none.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlmodel import col, select

from statuspage.audit.actions import AuditAction
from statuspage.context import WriteContext
from statuspage.db.models import AuditEvent, Component, Incident, Maintenance
from statuspage.db.subscriber_models import Subscriber, SubscriberNotice
from statuspage.domain.enums import MaintenanceStatus
from statuspage.read.v2 import V2Builder
from statuspage.subscribers.service import ACTIVE

INCIDENT_CREATED = "incident.created"
INCIDENT_UPDATED = "incident.updated"
INCIDENT_RESOLVED = "incident.resolved"
MAINTENANCE_SCHEDULED = "maintenance.scheduled"
MAINTENANCE_STARTED = "maintenance.started"
MAINTENANCE_COMPLETED = "maintenance.completed"
COMPONENT_UPDATED = "component.updated"
# What email subscribers receive; webhook subscribers receive every notice.
EMAIL_EVENTS = (
    INCIDENT_CREATED,
    INCIDENT_UPDATED,
    INCIDENT_RESOLVED,
    MAINTENANCE_SCHEDULED,
    MAINTENANCE_STARTED,
    MAINTENANCE_COMPLETED,
)
DOCUMENTATION = "https://support.atlassian.com/statuspage/docs/enable-webhook-notifications/"


def incident_event(actions: Sequence[str]) -> str | None:
    """What a transaction's events about one incident tell subscribers, if anything."""
    if AuditAction.INCIDENT_DECLARE in actions or AuditAction.INCIDENT_PUBLISH in actions:
        return INCIDENT_CREATED
    if AuditAction.INCIDENT_RESOLVE in actions:
        return INCIDENT_RESOLVED
    if AuditAction.INCIDENT_UPDATE in actions or AuditAction.INCIDENT_REOPEN in actions:
        return INCIDENT_UPDATED
    return None


def maintenance_event(events: Sequence[AuditEvent]) -> str | None:
    actions = [event.action for event in events]
    if AuditAction.MAINTENANCE_SCHEDULE in actions:
        return MAINTENANCE_SCHEDULED
    for event in reversed(events):
        if event.action != AuditAction.MAINTENANCE_SET_STATUS:
            continue
        status = (event.after or {}).get("status")
        if status == MaintenanceStatus.IN_PROGRESS.value:
            return MAINTENANCE_STARTED
        if status == MaintenanceStatus.COMPLETED.value:
            return MAINTENANCE_COMPLETED
    return None


def enqueue_changes(ctx: WriteContext) -> None:
    """Write the notices of this transaction's public changes, when anyone is subscribed."""
    incidents: dict[int, list[AuditEvent]] = {}
    maintenances: dict[int, list[AuditEvent]] = {}
    for event in ctx.audit_events:
        if event.subject_type == "incident":
            incidents.setdefault(int(event.subject_id), []).append(event)
        elif event.subject_type == "maintenance":
            maintenances.setdefault(int(event.subject_id), []).append(event)
    changes = list(ctx.component_changes)
    if not (incidents or maintenances or changes):
        return
    session = ctx.session
    anyone = session.exec(select(Subscriber.id).where(col(Subscriber.state) == ACTIVE).limit(1)).first()
    if anyone is None:
        return  # nobody to tell; a subscriber who confirms later hears of what happens next
    session.flush()
    now = ctx.now()
    builder = V2Builder(session, ctx.config, now=now)
    page: dict[str, Any] | None = None

    def page_json() -> dict[str, Any]:
        nonlocal page
        if page is None:
            status = builder.status()["status"]
            page = {
                **builder.page_json(),
                "status_indicator": status["indicator"],
                "status_description": status["description"],
            }
        return page

    def add(event: str, subject_type: str, subject_id: str, components: list[str], body: dict[str, Any]) -> None:
        session.add(
            SubscriberNotice(
                event=event,
                subject_type=subject_type,
                subject_id=subject_id,
                components=components,
                payload={"page": page_json(), **body},
                created_at=now,
            )
        )

    for incident_id, events in incidents.items():
        name = incident_event([event.action for event in events])
        incident = session.get(Incident, incident_id)
        if name is None or incident is None or incident.internal:
            continue
        body = builder.incidents_json([incident])[0]
        add(name, "incident", str(incident_id), [c["id"] for c in body["components"]], {"incident": body})
    for maintenance_id, events in maintenances.items():
        name = maintenance_event(events)
        maintenance = session.get(Maintenance, maintenance_id)
        if name is None or maintenance is None:
            continue
        body = builder.maintenances_json([maintenance])[0]
        add(name, "maintenance", str(maintenance_id), [c["id"] for c in body["components"]], {"scheduled_maintenance": body})
    for change in changes:
        component = session.get(Component, change.component_id)
        if component is None:
            continue
        add(
            COMPONENT_UPDATED,
            "component",
            component.id,
            [component.id],
            {
                "component_update": {
                    "created_at": builder.time(change.at),
                    "new_status": change.new_status,
                    "old_status": change.old_status,
                    "id": f"{component.id}-{change.id}",
                    "component_id": component.id,
                },
                "component": {
                    "created_at": builder.time(component.created_at),
                    "id": component.id,
                    "name": component.name,
                    "status": component.status,
                },
            },
        )
