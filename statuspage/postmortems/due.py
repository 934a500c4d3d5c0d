"""When an incident's postmortem is due, and which ones are late.

A resolved incident needs a postmortem when its severity is one of ``postmortems.severities``
(by default Sev-1 and Sev-2) or it breached an SLA target. It is due ``postmortems.due_within``
after the incident was resolved (``5bd``: five business days of the configured business hours;
calendar units count wall-clock time), and it is done once published. The due *date* is the
date of that moment in the page's time zone; a postmortem due today is not late yet.
Internal incidents (never shown on the status page) have nothing to publish and are left out.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import NamedTuple
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from statuspage.db.models import Incident, Postmortem
from statuspage.incidents.sla import calendar_for, measure
from statuspage.settings import Config


class OverduePostmortem(NamedTuple):
    incident_id: int
    title: str
    owner: str | None  # the incident's commander
    due: date
    days_late: int


def due_at(incident: Incident, config: Config) -> datetime | None:
    """The moment the postmortem falls due; None while the incident is open."""
    if incident.resolved_at is None:
        return None
    return calendar_for(config).deadline(incident.resolved_at, config.postmortems.due_within, "24x7")


def due_date(incident: Incident, config: Config) -> date | None:
    moment = due_at(incident, config)
    return None if moment is None else moment.astimezone(ZoneInfo(config.page.time_zone)).date()


def needs_postmortem(incident: Incident, config: Config) -> bool:
    """Whether the incident calls for a postmortem: its severity, or a breached SLA target."""
    if incident.severity in config.postmortems.severities:
        return True
    if incident.resolved_at is None:
        return False
    evaluation = measure(incident, config, calendar_for(config), incident.resolved_at)
    return evaluation is not None and bool(evaluation.breaches)


def overdue_postmortems(session: Session, config: Config, as_of: datetime) -> list[OverduePostmortem]:
    """Resolved incidents that need a postmortem and had none published by ``as_of``, their due
    date before ``as_of``'s date (in the page's time zone): the most days late first, then by
    incident id. ``owner`` is the incident's commander."""
    zone = ZoneInfo(config.page.time_zone)
    today = as_of.astimezone(zone).date()
    rows = session.exec(
        select(Incident, Postmortem)
        .join(Postmortem, col(Postmortem.incident_id) == col(Incident.id), isouter=True)
        .where(col(Incident.resolved_at).is_not(None), col(Incident.resolved_at) <= as_of, col(Incident.internal).is_(False))
        .order_by(col(Incident.id))
    ).all()
    late: list[OverduePostmortem] = []
    for incident, postmortem in rows:
        if postmortem is not None and postmortem.published_at is not None and postmortem.published_at <= as_of:
            continue
        due = due_date(incident, config)
        if due is None or due >= today or not needs_postmortem(incident, config):
            continue
        late.append(OverduePostmortem(incident.id or 0, incident.title, incident.commander, due, (today - due).days))
    late.sort(key=lambda row: (-row.days_late, row.incident_id))
    return late
