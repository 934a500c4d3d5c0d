"""The ``incident`` command line's local mode: the database named by the configuration, through
the service layer, one session per call. Rows become the records of :mod:`incident_cli.backend`
before they leave the session.

Imported only when a command first needs the backend (see :attr:`incident_cli.state.State.backend`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from datetime import datetime

from sqlmodel import col, select

from incident_cli.backend import (
    JSON,
    AffectedComponent,
    AuditRecord,
    Backend,
    ComponentChange,
    ComponentRecord,
    IncidentDetail,
    IncidentSummary,
    MaintenanceRecord,
    MaintenanceStatus,
    SlaPause,
    UpdateRecord,
)
from statuspage.components import service as components_service
from statuspage.context import Actor
from statuspage.db.models import AuditEvent, Component, Incident, IncidentComponent, IncidentUpdate
from statuspage.incidents import handling
from statuspage.incidents import service as incidents
from statuspage.incidents import sla as incident_sla
from statuspage.maintenance import service as maintenance_service
from statuspage.read.v2 import V2Builder
from statuspage.runtime import Runtime


class LocalBackend(Backend):
    """``runtime`` opens the database the first time it is called (and gives the same one after);
    whoever passes it disposes of it."""

    def __init__(self, runtime: Callable[[], Runtime], actor: Actor) -> None:
        self._runtime = runtime
        self.actor = actor

    @property
    def runtime(self) -> Runtime:
        return self._runtime()

    @property
    def time_zone(self) -> str:
        return self.runtime.settings.config.page.time_zone

    def now(self) -> datetime:
        return self.runtime.clock.now()

    def incident_url(self, incident_id: int) -> str:
        return self.runtime.settings.incident_url(incident_id)

    def declare(
        self,
        *,
        severity: str,
        title: str,
        components: dict[str, str | None],
        message: str | None,
        commander: str | None,
        detected_at: datetime | None,
        impact: str | None,
        playbook: str | None = None,
    ) -> IncidentSummary:
        with self.runtime.session() as session:
            return summary(
                incidents.declare(
                    ctx=self.runtime.context(session, self.actor),
                    severity=severity,
                    title=title,
                    components=components,
                    message=message,
                    commander=commander,
                    detected_at=detected_at,
                    impact=impact,
                    playbook=playbook,
                )
            )

    def post_update(
        self,
        *,
        incident_id: str,
        message: str | None,
        status: str | None,
        components: dict[str, str | None],
        at: datetime | None,
    ) -> UpdateRecord:
        with self.runtime.session() as session:
            return update_record(
                incidents.post_update(
                    ctx=self.runtime.context(session, self.actor),
                    incident_id=incident_id,
                    message=message,
                    status=status,
                    components=components,
                    at=at,
                )
            )

    def resolve(self, *, incident_id: str, message: str | None, at: datetime | None) -> UpdateRecord:
        with self.runtime.session() as session:
            ctx = self.runtime.context(session, self.actor)
            return update_record(incidents.resolve(ctx=ctx, incident_id=incident_id, message=message, at=at))

    def reopen(self, *, incident_id: str, message: str | None, status: str) -> UpdateRecord:
        with self.runtime.session() as session:
            ctx = self.runtime.context(session, self.actor)
            return update_record(incidents.reopen(ctx=ctx, incident_id=incident_id, message=message, status=status))

    def acknowledge(self, *, incident_id: str, by: str) -> tuple[IncidentSummary, bool]:
        with self.runtime.session() as session:
            incident, changed = incidents.acknowledge(ctx=self.runtime.context(session, self.actor), incident_id=incident_id, by=by)
            return summary(incident), changed

    def hand_over(self, *, incident_id: str, to: str) -> IncidentSummary:
        with self.runtime.session() as session:
            return summary(handling.hand_over(ctx=self.runtime.context(session, self.actor), incident_id=incident_id, to=to))

    def pause_sla(self, *, incident_id: str, reason: str) -> IncidentSummary:
        with self.runtime.session() as session:
            ctx = self.runtime.context(session, self.actor)
            return summary(handling.pause_sla(ctx=ctx, incident_id=incident_id, reason=reason))

    def resume_sla(self, *, incident_id: str) -> IncidentSummary:
        with self.runtime.session() as session:
            return summary(handling.resume_sla(ctx=self.runtime.context(session, self.actor), incident_id=incident_id))

    def record_root_cause(self, *, incident_id: str, root_cause: str | None, remediation: str | None) -> IncidentSummary:
        with self.runtime.session() as session:
            ctx = self.runtime.context(session, self.actor)
            return summary(handling.record_root_cause(ctx=ctx, incident_id=incident_id, root_cause=root_cause, remediation=remediation))

    def list_incidents(self, *, open_only: bool, limit: int) -> Sequence[IncidentSummary]:
        with self.runtime.session() as session:
            return [summary(row) for row in incidents.list_incidents(session=session, open_only=open_only, limit=limit)]

    def incidents_json(self, *, open_only: bool, limit: int) -> list[JSON]:
        with self.runtime.session() as session:
            rows = incidents.list_incidents(session=session, open_only=open_only, limit=limit)
            return V2Builder(session, self.runtime.settings.config, now=self.runtime.clock.now()).incidents_json(rows)

    def incident_json(self, incident_id: str | int) -> JSON:
        with self.runtime.session() as session:
            incident = incidents.get(session=session, incident_id=incident_id)
            (data,) = V2Builder(session, self.runtime.settings.config, now=self.runtime.clock.now()).incidents_json(
                [incident]
            )
            return data

    def incident_detail(self, incident_id: str) -> IncidentDetail:
        with self.runtime.session() as session:
            incident = incidents.get(session=session, incident_id=incident_id)
            key = incident.id or 0
            events = session.exec(
                select(AuditEvent)
                .where(AuditEvent.subject_type == "incident", AuditEvent.subject_id == str(key))
                .order_by(col(AuditEvent.at), col(AuditEvent.id))
            ).all()
            updates = incidents.timeline(session=session, incident_id=key)
            affected = incidents.affected_components(session=session, incident_id=key)
            detail = IncidentDetail(
                incident=summary(incident),
                updates=tuple(update_record(row) for row in updates),
                components=tuple(affected_component(link, row) for link, row in affected),
                events=tuple(audit_record(row) for row in events),
                sla_targets=(),
            )
        config = self.runtime.settings.config
        evaluation = incident_sla.measure(incident, config, incident_sla.calendar_for(config), self.now())
        return detail if evaluation is None else dataclasses.replace(detail, sla_targets=evaluation.targets)

    def list_components(self) -> Sequence[ComponentRecord]:
        with self.runtime.session() as session:
            return [ComponentRecord(id=row.id, name=row.name, status=row.status) for row in components_service.list_components(session=session)]

    def set_component_status(self, *, component_id: str, status: str) -> Sequence[ComponentChange]:
        with self.runtime.session() as session:
            ctx = self.runtime.context(session, self.actor)
            return ComponentChange.all_from_json(components_service.set_status(ctx=ctx, component_id=component_id, status=status))

    def schedule_maintenance(
        self,
        *,
        title: str,
        components: list[str],
        scheduled_for: datetime,
        scheduled_until: datetime,
        message: str | None,
    ) -> MaintenanceRecord:
        with self.runtime.session() as session:
            row = maintenance_service.schedule(
                ctx=self.runtime.context(session, self.actor),
                title=title,
                components=components,
                scheduled_for=scheduled_for,
                scheduled_until=scheduled_until,
                message=message,
            )
            return MaintenanceRecord(id=_key(row.id), scheduled_for=row.scheduled_for, scheduled_until=row.scheduled_until)

    def set_maintenance_status(self, *, maintenance_id: str, status: str, message: str | None) -> MaintenanceStatus:
        with self.runtime.session() as session:
            ctx = self.runtime.context(session, self.actor)
            row = maintenance_service.set_status(ctx=ctx, maintenance_id=maintenance_id, status=status, message=message)
            return MaintenanceStatus(maintenance_id=row.maintenance_id, status=row.status)

    def close(self) -> None:
        """Nothing of its own to close: the runtime is disposed of by whoever opened it."""


# From rows to records --------------------------------------------------------------------------


def summary(row: Incident) -> IncidentSummary:
    return IncidentSummary(
        id=_key(row.id),
        title=row.title,
        severity=row.severity,
        impact=row.impact,
        status=row.status,
        commander=row.commander,
        declared_by=row.declared_by,
        detected_at=row.detected_at,
        declared_at=row.declared_at,
        acknowledged_at=row.acknowledged_at,
        acknowledged_by=row.acknowledged_by,
        first_response_at=row.first_response_at,
        mitigated_at=row.mitigated_at,
        resolved_at=row.resolved_at,
        sla_pauses=tuple(SlaPause.from_json(pause) for pause in row.sla_pauses or ()),
    )


def update_record(row: IncidentUpdate) -> UpdateRecord:
    return UpdateRecord(
        incident_id=row.incident_id,
        status=row.status,
        body=row.body,
        author=row.author,
        created_at=row.created_at,
        affected_components=ComponentChange.all_from_json(row.affected_components),
    )


def affected_component(link: IncidentComponent, component: Component) -> AffectedComponent:
    return AffectedComponent(name=component.name, held_at=link.status, status=component.status)


def audit_record(row: AuditEvent) -> AuditRecord:
    return AuditRecord(at=row.at, actor=row.actor, action=row.action, before=row.before, after=row.after)


def _key(value: int | None) -> int:
    """The id of a row the database has stored: never ``None`` any more."""
    assert value is not None
    return value
