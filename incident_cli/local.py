"""The ``incident`` command line's local mode: the database named by the configuration, through
the service layer, one session per call. Rows become the records of :mod:`incident_cli.backend`
before they leave the session.

Imported only when a command first needs the backend (see :attr:`incident_cli.state.State.backend`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from incident_cli.backend import (
    JSON,
    ActionRecord,
    AffectedComponent,
    AuditRecord,
    Backend,
    ComponentChange,
    ComponentRecord,
    Declared,
    Escalated,
    EscalationState,
    IncidentDetail,
    IncidentSummary,
    MaintenanceRecord,
    MaintenanceStatus,
    PageRecord,
    Paging,
    PostmortemDocument,
    ReportText,
    SeverityChanged,
    SlackSummaryQueued,
    SlaPause,
    UpdateRecord,
    VisibilityChanged,
)
from statuspage.audit.actions import AuditAction
from statuspage.components import service as components_service
from statuspage.context import Actor
from statuspage.db.models import (
    ActionItem,
    AuditEvent,
    Component,
    Incident,
    IncidentComponent,
    IncidentUpdate,
)
from statuspage.domain.months import month_label
from statuspage.incidents import handling
from statuspage.incidents import service as incidents
from statuspage.incidents import sla as incident_sla
from statuspage.maintenance import service as maintenance_service
from statuspage.oncall import engine as oncall
from statuspage.oncall import queries as oncall_queries
from statuspage.postmortems import document
from statuspage.postmortems import service as postmortems
from statuspage.read.v2 import V2Builder
from statuspage.reports import kpis, monthly, render, slack
from statuspage.reports.postmortem_credits import incident_credits
from statuspage.runtime import Runtime

# Also the admin API's words (statuspage.web.admin), so that both modes refuse alike.


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
        page_me: bool = False,
    ) -> Declared:
        runtime = self.runtime
        _loaded, problems = oncall.load_lenient(runtime.settings.config, runtime.wiring.playbooks_dir)
        with runtime.session() as session, oncall_queries.added_rows(session) as added:
            incident = incidents.declare(
                ctx=runtime.context(session, self.actor),
                severity=severity,
                title=title,
                components=components,
                message=message,
                commander=commander,
                detected_at=detected_at,
                impact=impact,
                playbook=playbook,
                page_me=page_me,
            )
            return Declared(summary(incident), paging_of(session, _key(incident.id), added), tuple(problems))

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

    def edit_title(self, *, incident_id: str, title: str) -> IncidentSummary:
        from statuspage.incidents import corrections

        with self.runtime.session() as session:
            ctx = self.runtime.context(session, self.actor)
            return summary(corrections.edit_title(ctx=ctx, incident_id=incident_id, title=title))

    def edit_update(self, *, incident_id: str, number: int, message: str) -> UpdateRecord:
        from statuspage.incidents import corrections

        with self.runtime.session() as session:
            ctx = self.runtime.context(session, self.actor)
            return update_record(corrections.edit_update(ctx=ctx, incident_id=incident_id, number=number, message=message))

    def retract(self, *, incident_id: str, reason: str) -> VisibilityChanged:
        from statuspage.incidents import corrections

        with self.runtime.session() as session:
            ctx = self.runtime.context(session, self.actor)
            incident, changes = corrections.retract(ctx=ctx, incident_id=incident_id, reason=reason)
            return _visibility(incident, changes)

    def publish(self, *, incident_id: str) -> VisibilityChanged:
        from statuspage.incidents import visibility

        with self.runtime.session() as session:
            incident, changes = visibility.publish(ctx=self.runtime.context(session, self.actor), incident_id=incident_id)
            return _visibility(incident, changes)

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

    def record_plan(self, *, incident_id: str, plan: str) -> IncidentSummary:
        from statuspage.incidents import plan as plans

        with self.runtime.session() as session:
            return summary(plans.record_plan(ctx=self.runtime.context(session, self.actor), incident_id=incident_id, plan=plan))

    def record_root_cause(
        self, *, incident_id: str, root_cause: str | None, remediation: str | None, category: str | None = None
    ) -> IncidentSummary:
        with self.runtime.session() as session:
            ctx = self.runtime.context(session, self.actor)
            incident = handling.record_root_cause(
                ctx=ctx, incident_id=incident_id, root_cause=root_cause, remediation=remediation, category=category
            )
            return summary(incident)

    def escalate(self, *, incident_id: str, to_tier: int | None) -> Escalated:
        with self.runtime.session() as session, oncall_queries.added_rows(session) as added:
            ctx = self.runtime.context(session, self.actor)
            tier = incidents.escalate(ctx=ctx, incident_id=incident_id, to_tier=to_tier)
            key = _key(incidents.get(session=session, incident_id=incident_id).id)
            return Escalated(incident_id=key, tier=tier, paging=paging_of(session, key, added))

    def change_severity(self, *, incident_id: str, severity: str, components: dict[str, str | None] | None = None) -> SeverityChanged:
        with self.runtime.session() as session, oncall_queries.added_rows(session) as added:
            ctx = self.runtime.context(session, self.actor)
            incident = incidents.change_severity(ctx=ctx, incident_id=incident_id, severity=severity, components=components or None)
            after = severity_change(added)
            return SeverityChanged(
                incident=summary(incident),
                previous=int(after.get("from", incident.severity)),
                playbook=after.get("playbook"),
                paging=paging_of(session, _key(incident.id), added),
            )

    def record_analysis(
        self,
        *,
        incident_id: str,
        root_cause: str | None,
        remediation: str | None,
        factors: Sequence[str],
        whys: Sequence[str],
        detection_gap: str | None,
        response_gap: str | None,
        category: str | None = None,
    ) -> IncidentSummary:
        with self.runtime.session() as session:
            incident = postmortems.record_analysis(
                ctx=self.runtime.context(session, self.actor),
                incident_id=incident_id,
                root_cause=root_cause,
                remediation=remediation,
                category=category,
                factors=factors,
                whys=whys,
                detection_gap=detection_gap,
                response_gap=response_gap,
            )
            return summary(incident)

    def add_action(self, *, incident_id: str, title: str, owner: str, due: str) -> ActionRecord:
        with self.runtime.session() as session:
            ctx = self.runtime.context(session, self.actor)
            return action_record(postmortems.add_action(ctx=ctx, incident_id=incident_id, title=title, owner=owner, due_on=due))

    def list_actions(self, *, open_only: bool, overdue: bool) -> Sequence[ActionRecord]:
        runtime = self.runtime
        with runtime.session() as session:
            if overdue:
                rows = postmortems.open_actions_past_due(session, runtime.clock.now().astimezone(ZoneInfo(self.time_zone)))
            else:
                rows = postmortems.action_items(session=session, open_only=open_only)
            return [action_record(row) for row in rows]

    def complete_action(self, *, action_id: str) -> ActionRecord:
        with self.runtime.session() as session:
            return action_record(postmortems.complete_action(ctx=self.runtime.context(session, self.actor), action_id=action_id))

    def postmortem(self, *, incident_id: str, publish: bool) -> PostmortemDocument:
        runtime = self.runtime
        config = runtime.settings.config
        with runtime.session() as session:
            if publish:
                postmortems.publish(ctx=runtime.context(session, self.actor), incident_id=incident_id)
            now = runtime.clock.now()
            credits = incident_credits(session, config, incidents.get(session=session, incident_id=incident_id), now)
            facts = document.gather(session, config, incident_id, now, credits)
            return PostmortemDocument(
                incident_id=_key(facts.incident.id),
                filename=document.filename(facts.incident, ZoneInfo(config.page.time_zone)),
                markdown=document.render(facts, config),
            )

    def monthly_report(self, *, month: str, fmt: str, post: bool) -> ReportText:
        year, number = monthly.parse_month(month)
        runtime = self.runtime
        config = runtime.settings.config
        if post:
            slack.require_slack(config)
        with runtime.session() as session:
            measured = kpis.month_values(session, month_label(year, number))
            result = monthly.monthly_report(session, config, year, number, runtime.clock.now(), kpis=measured)
        queued = None
        if post:
            # A session of its own: the report's read transaction is not upgraded to a write.
            with runtime.session() as session:
                message = slack.queue_slack_summary(ctx=runtime.context(session, self.actor), report=result)
                queued = SlackSummaryQueued(slack.slack_summary_line(message.payload["data"]), message.target)
        return ReportText(month=result.month, text=render.RENDERERS[fmt](result), slack=queued)

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
            published = incident_sla.public_updates(session, [incident]).get(key)  # for its update cadence
            detail = IncidentDetail(
                incident=summary(incident),
                updates=tuple(update_record(row) for row in updates),
                components=tuple(affected_component(link, row) for link, row in affected),
                events=tuple(audit_record(row) for row in events),
                sla_targets=(),
                escalation=EscalationState.from_json(oncall_queries.outlook(session, key).to_json()),
            )
        config = self.runtime.settings.config
        if incident.root_cause_category:
            detail = dataclasses.replace(detail, cause_category=config.causes.label(incident.root_cause_category))
        evaluation = incident_sla.measure(incident, config, incident_sla.calendar_for(config), self.now(), updates=published)
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
        internal=row.internal,
        resolution_plan=row.resolution_plan,
        resolution_plan_at=row.resolution_plan_at,
    )


def update_record(row: IncidentUpdate) -> UpdateRecord:
    return UpdateRecord(
        incident_id=row.incident_id,
        status=row.status,
        body=row.body,
        author=row.author,
        created_at=row.created_at,
        affected_components=ComponentChange.all_from_json(row.affected_components),
        edited_at=row.edited_at,
    )


def _visibility(row: Incident, changes: Sequence[Any]) -> VisibilityChanged:
    return VisibilityChanged(summary(row), ComponentChange.all_from_json(changes))


def affected_component(link: IncidentComponent, component: Component) -> AffectedComponent:
    return AffectedComponent(name=component.name, held_at=link.status, status=component.status)


def audit_record(row: AuditEvent) -> AuditRecord:
    return AuditRecord(at=row.at, actor=row.actor, action=row.action, before=row.before, after=row.after)


def action_record(row: ActionItem) -> ActionRecord:
    return ActionRecord(id=_key(row.id), incident_id=row.incident_id, title=row.title, owner=row.owner, due_on=row.due_on, status=row.status)


# What a change did besides its own row ----------------------------------------------------------


def paging_of(session: Session, incident_id: int, added: Sequence[object]) -> Paging:
    """Who the change paged, in order, and the acknowledgement deadline now pending."""
    change = oncall_queries.paging_of_change(session, incident_id, added)
    pages = tuple(PageRecord(tier=row.tier, owner=row.owner) for row in change.pages)
    return Paging(pages=pages, next_step_at=change.next_step_at, not_paged=tuple(change.not_paged))


def severity_change(added: Sequence[object]) -> dict[str, Any]:
    """What the severity change recorded: ``{"from", "to", "playbook"}``."""
    for row in added:
        if isinstance(row, AuditEvent) and row.action == AuditAction.INCIDENT_SEVERITY:
            return dict(row.after or {})
    return {}


def _key(value: int | None) -> int:
    """The id of a row the database has stored: never ``None`` any more."""
    assert value is not None
    return value
