"""Reading the status history for the uptime bars: a few queries for all components at once, then
the pure arithmetic of :mod:`statuspage.domain.uptime`."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from fractions import Fraction
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, func, or_, select

from statuspage.db.models import (
    Component,
    ComponentStatusChange,
    Incident,
    IncidentComponent,
    Maintenance,
    MaintenanceComponent,
)
from statuspage.domain.enums import ComponentStatus
from statuspage.domain.uptime import DOWN_WEIGHT, DayUptime, daily_uptime, overall_uptime

DEFAULT_DAYS = 90


@dataclass(frozen=True)
class DayIncident:
    id: int
    name: str
    impact: str


@dataclass(frozen=True)
class ComponentUptime:
    component_id: str
    days: list[DayUptime]
    incidents: dict[date, list[DayIncident]]
    percent: float | None

    def percent_over(self, count: int) -> float | None:
        """Uptime % over the last ``count`` days of the window (all of it when it is shorter)."""
        return overall_uptime(self.days[-count:]) if count > 0 else None


def window_days(now: datetime, zone: ZoneInfo, count: int = DEFAULT_DAYS) -> list[date]:
    today = now.astimezone(zone).date()
    return [today - timedelta(days=offset) for offset in range(count - 1, -1, -1)]


def uptime_for(
    session: Session,
    components: Sequence[Component],
    *,
    now: datetime,
    zone: ZoneInfo,
    count: int = DEFAULT_DAYS,
    weights: Mapping[ComponentStatus, Fraction] = DOWN_WEIGHT,
) -> dict[str, ComponentUptime]:
    """Each component's last ``count`` days; ``weights`` is how much of each status's time is down."""
    if not components:
        return {}
    days = window_days(now, zone, count)
    start = datetime.combine(days[0], time(), tzinfo=zone)
    end = datetime.combine(days[-1] + timedelta(days=1), time(), tzinfo=zone)
    ids = [c.id for c in components]

    # The status each component had when the window opened: its last change before it.
    last_before = (
        select(ComponentStatusChange.component_id, func.max(ComponentStatusChange.id).label("last_id"))
        .where(col(ComponentStatusChange.component_id).in_(ids), col(ComponentStatusChange.at) < start)
        .group_by(col(ComponentStatusChange.component_id))
        .subquery()
    )
    initial: dict[str, ComponentStatus] = {
        change.component_id: ComponentStatus(change.new_status)
        for change in session.exec(
            select(ComponentStatusChange).join(last_before, col(ComponentStatusChange.id) == last_before.c.last_id)
        ).all()
    }
    changes: dict[str, list[ComponentStatusChange]] = defaultdict(list)
    for change in session.exec(
        select(ComponentStatusChange)
        .where(col(ComponentStatusChange.component_id).in_(ids), col(ComponentStatusChange.at) >= start)
        .order_by(col(ComponentStatusChange.at), col(ComponentStatusChange.id))
    ).all():
        changes[change.component_id].append(change)

    windows: dict[str, list[tuple[datetime, datetime]]] = defaultdict(list)
    for maintenance, maintenance_link in session.exec(
        select(Maintenance, MaintenanceComponent)
        .join(MaintenanceComponent, col(MaintenanceComponent.maintenance_id) == col(Maintenance.id))
        .where(
            col(MaintenanceComponent.component_id).in_(ids),
            col(Maintenance.started_at).is_not(None),
            col(Maintenance.started_at) < end,
            or_(col(Maintenance.completed_at).is_(None), col(Maintenance.completed_at) >= start),
        )
    ).all():
        assert maintenance.started_at is not None
        windows[maintenance_link.component_id].append((maintenance.started_at, maintenance.completed_at or now))

    incidents: dict[str, dict[date, list[DayIncident]]] = defaultdict(lambda: defaultdict(list))
    for incident, incident_link in session.exec(
        select(Incident, IncidentComponent)
        .join(IncidentComponent, col(IncidentComponent.incident_id) == col(Incident.id))
        .where(
            col(IncidentComponent.component_id).in_(ids),
            col(Incident.internal).is_(False),  # the bars are public
            col(Incident.detected_at) < end,
            or_(col(Incident.resolved_at).is_(None), col(Incident.resolved_at) >= start),
        )
        .order_by(col(Incident.detected_at))
    ).all():
        first = max(incident.detected_at.astimezone(zone).date(), days[0])
        last = min((incident.resolved_at or now).astimezone(zone).date(), days[-1])
        entry = DayIncident(id=incident.id or 0, name=incident.title, impact=incident.impact)
        day = first
        while day <= last:
            incidents[incident_link.component_id][day].append(entry)
            day += timedelta(days=1)

    result: dict[str, ComponentUptime] = {}
    for component in components:
        own = changes[component.id]
        if component.id in initial:
            start_status = initial[component.id]
        elif own:
            start_status = ComponentStatus(own[0].old_status)
        else:
            start_status = ComponentStatus(component.status)
        computed = daily_uptime(
            days,
            time_zone=zone,
            initial_status=start_status,
            changes=[(c.at, ComponentStatus(c.new_status)) for c in own],
            maintenance=windows[component.id],
            now=now,
            since=component.created_at,
            weights=weights,
        )
        result[component.id] = ComponentUptime(
            component_id=component.id,
            days=computed,
            incidents=dict(incidents[component.id]),
            percent=overall_uptime(computed),
        )
    return result


def incidents_touching(session: Session, *, start: datetime, end: datetime, component: str | None = None) -> list[Incident]:
    """The public incidents under way at some time in [start, end), newest first: those a day of
    the bars counts (from detection to resolution), optionally of one component."""
    statement = select(Incident).where(
        col(Incident.internal).is_(False),
        col(Incident.detected_at) < end,
        or_(col(Incident.resolved_at).is_(None), col(Incident.resolved_at) >= start),
    )
    if component is not None:
        affected = select(IncidentComponent.incident_id).where(col(IncidentComponent.component_id) == component)
        statement = statement.where(col(Incident.id).in_(affected))
    return list(session.exec(statement.order_by(col(Incident.declared_at).desc(), col(Incident.id).desc())).all())
