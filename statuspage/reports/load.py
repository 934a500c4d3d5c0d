"""What an SLA report reads from the database, in a few queries: the incidents that can matter to
the period, the one before it and the trend (with the components each affected), the pages sent
for the period's incidents, the postmortem action items still open at the report's moment, and
the components' status history for their uptime. The rows come back detached from the session,
so building the report cannot issue another query."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select as sa_select
from sqlmodel import Session, col, or_, select

from statuspage.components.uptime import uptime_for
from statuspage.db.models import ActionItem, Component, Incident, IncidentComponent, PageSent
from statuspage.domain.periods import Period
from statuspage.domain.report import LOOKAHEAD, LOOKBACK
from statuspage.domain.sla import PublicUpdate
from statuspage.domain.uptime import overall_uptime
from statuspage.incidents.sla import public_updates
from statuspage.settings import Config


@dataclass(frozen=True)
class MonthRows:
    """What a report reads: the incidents that can matter to the period or its trend, the
    components each affected (by incident id), and the pages sent for the period's incidents."""

    incidents: Sequence[Incident]
    pages: Sequence[PageSent]
    components: Mapping[int, frozenset[str]] = field(default_factory=dict)
    # The public updates of each public incident, for its update cadence.
    updates: Mapping[int, tuple[PublicUpdate, ...]] = field(default_factory=dict)


def load_rows(session: Session, config: Config, period: Period, *, since: datetime) -> MonthRows:
    """The incidents declared from ``since`` (less the look-back of the tiers) to the period's end
    (plus the look-ahead), and the pages of the incidents declared in the period."""
    low, high = since - LOOKBACK, period.end + LOOKAHEAD
    incidents = session.exec(
        select(Incident)
        .where(col(Incident.declared_at) >= low, col(Incident.declared_at) < high)
        .order_by(col(Incident.declared_at), col(Incident.id))
    ).all()
    links = session.exec(
        select(IncidentComponent.incident_id, IncidentComponent.component_id)
        .join(Incident, col(Incident.id) == col(IncidentComponent.incident_id))
        .where(col(Incident.declared_at) >= low, col(Incident.declared_at) < high)
    ).all()
    components: dict[int, set[str]] = defaultdict(set)
    for incident_id, component_id in links:
        components[incident_id].add(component_id)
    pages = session.exec(
        select(PageSent)
        .join(Incident, col(Incident.id) == col(PageSent.incident_id))
        .where(col(Incident.declared_at) >= period.start, col(Incident.declared_at) < period.end)
        .order_by(col(PageSent.paged_at), col(PageSent.id))
    ).all()
    updates = public_updates(session, incidents)
    for row in (*incidents, *pages):
        session.expunge(row)
    return MonthRows(
        incidents=list(incidents),
        pages=list(pages),
        components={key: frozenset(found) for key, found in components.items()},
        updates=updates,
    )


@dataclass(frozen=True)
class YearIncident:
    """What the causes of a year read of an incident, without loading it whole."""

    id: int
    severity: int
    category: str | None
    detected_at: datetime
    declared_at: datetime
    answered_at: datetime | None  # the first response, else the resolution
    resolved_at: datetime | None


def load_year(session: Session, start: datetime, end: datetime) -> list[YearIncident]:
    """The incidents declared in ``[start, end)``, a few columns each."""
    rows = session.execute(
        sa_select(
            col(Incident.id), col(Incident.severity), col(Incident.root_cause_category), col(Incident.detected_at),
            col(Incident.declared_at), col(Incident.first_response_at), col(Incident.resolved_at),
        )
        .where(col(Incident.declared_at) >= start, col(Incident.declared_at) < end)
        .order_by(col(Incident.declared_at), col(Incident.id))
    ).all()
    return [
        YearIncident(key or 0, severity, category, detected, declared, first or resolved, resolved)
        for key, severity, category, detected, declared, first, resolved in rows
    ]


def load_incidents(session: Session, ids: Sequence[int], batch: int = 500) -> list[Incident]:
    """The incidents of ``ids``, whole and detached, a query per ``batch``."""
    found: list[Incident] = []
    wanted = sorted(set(ids))
    for index in range(0, len(wanted), batch):
        chunk = session.exec(select(Incident).where(col(Incident.id).in_(wanted[index : index + batch]))).all()
        for row in chunk:
            session.expunge(row)
        found.extend(chunk)
    return found


def load_open_actions(session: Session, at: datetime, due_before: date) -> list[tuple[int, int, str, str, str, date]]:
    """The postmortem action items open at ``at`` (added before it, not done by then; done later
    counts as open then) and due before ``due_before``, as ``(action id, incident id, incident
    title, action, owner, due on)``."""
    rows = session.exec(
        select(ActionItem, Incident.title)
        .join(Incident, col(Incident.id) == col(ActionItem.incident_id))
        .where(
            col(ActionItem.due_on) < due_before,
            col(ActionItem.created_at) < at,
            or_(col(ActionItem.done_at).is_(None), col(ActionItem.done_at) >= at),
            or_(col(ActionItem.status) == "open", col(ActionItem.done_at).is_not(None)),
        )
        .order_by(col(ActionItem.due_on), col(ActionItem.id))
    ).all()
    return [(item.id or 0, item.incident_id, title, item.title, item.owner, item.due_on) for item, title in rows]


@dataclass(frozen=True)
class ComponentUptimeRow:
    """A component's uptime over the period and the one before (``None``: no time counted)."""

    component_id: str
    name: str
    percent: float | None
    previous: float | None
    down_minutes: int


def load_uptime(session: Session, config: Config, period: Period, before: Period, now: datetime) -> list[ComponentUptimeRow]:
    """Each shown component's uptime, by the rule of the status page's uptime bars (the same
    loader and arithmetic), over the period and the one before it, as of the period's end."""
    components = list(
        session.exec(select(Component).where(col(Component.archived).is_(False)).order_by(col(Component.position))).all()
    )
    if not components or now <= before.start:
        return []
    zone = ZoneInfo(config.page.time_zone)
    moment = min(now, period.end - timedelta(microseconds=1))
    count = (moment.astimezone(zone).date() - before.first_day).days + 1
    computed = uptime_for(
        session, components, now=moment, zone=zone, count=count, weights=config.uptime.downtime_percent.weights()
    )
    rows = []
    for component in components:
        found = computed.get(component.id)
        if found is None:
            continue
        current = [d for d in found.days if d.date >= period.first_day]
        earlier = [d for d in found.days if before.first_day <= d.date <= before.last_day]
        rows.append(
            ComponentUptimeRow(
                component_id=component.id,
                name=component.name,
                percent=overall_uptime(current),
                previous=overall_uptime(earlier),
                down_minutes=round(sum(d.down_seconds for d in current if d.has_data) / 60),
            )
        )
    return rows
