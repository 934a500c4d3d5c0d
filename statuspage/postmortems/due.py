"""When an incident's postmortem is due, and which ones are late.

A resolved incident needs a postmortem when its severity is one of ``postmortems.severities``
(by default Sev-1 and Sev-2) or it breached an SLA target. It is due ``postmortems.due_within``
after the incident was resolved (``5bd``: five business days of the configured business hours;
calendar units count wall-clock time), and it is done once published. The due *date* is the
date of that moment in the page's time zone; a postmortem due today is not late yet.
Internal incidents (never shown on the status page) have nothing to publish and are left out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import true
from sqlmodel import Session, col, select

from statuspage.db.models import Incident, Postmortem
from statuspage.domain.sla import IncidentEvaluation
from statuspage.incidents.sla import PublicUpdate, calendar_for, measure, public_updates
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


def needs_postmortem(incident: Incident, config: Config, updates: tuple[PublicUpdate, ...] | None = None) -> bool:
    """Whether the incident calls for a postmortem: its severity, or a breached SLA target.
    ``updates``: its public updates, when the caller read them in bulk (:func:`public_updates`)."""
    if incident.severity in config.postmortems.severities:
        return True
    if incident.resolved_at is None:
        return False
    evaluation = measure(incident, config, calendar_for(config), incident.resolved_at, updates=updates)
    return evaluation is not None and bool(evaluation.breaches)


def overdue_postmortems(
    session: Session,
    config: Config,
    as_of: datetime,
    *,
    since: datetime | None = None,
    evaluations: Mapping[int, IncidentEvaluation] | None = None,
    incidents: Iterable[Incident] | None = None,
) -> list[OverduePostmortem]:
    """Resolved incidents that need a postmortem and had none published by ``as_of``, their due
    date before ``as_of``'s date (in the page's time zone): the most days late first, then by
    incident id. ``owner`` is the incident's commander.

    ``since``: only incidents resolved from then on. ``evaluations``: incidents the caller has
    already measured (a resolved incident's outcomes no longer change), by id; the others are
    measured here. ``incidents``: the caller's, already loaded, instead of reading them again;
    only those are considered (the monthly report passes those of its trend window)."""
    zone = ZoneInfo(config.page.time_zone)
    today = as_of.astimezone(zone).date()
    published = set(
        session.exec(
            select(Postmortem.incident_id).where(col(Postmortem.published_at).is_not(None), col(Postmortem.published_at) <= as_of)
        ).all()
    )
    if incidents is None:
        incidents = session.exec(
            select(Incident)
            .where(col(Incident.resolved_at).is_not(None), col(Incident.resolved_at) <= as_of)
            .where(col(Incident.resolved_at) >= since if since is not None else true())
        ).all()
    resolved = sorted(
        (
            i
            for i in incidents
            if i.resolved_at is not None and i.resolved_at <= as_of and (since is None or i.resolved_at >= since)
            and not i.internal and i.id not in published
        ),
        key=lambda i: i.id or 0,
    )
    candidates: list[tuple[Incident, date]] = []
    for incident in resolved:
        due = due_date(incident, config)
        if due is not None and due < today:
            candidates.append((incident, due))
    # Whether a lesser severity breached a target is measured with the public updates of all of
    # them read at once (the update cadence), not with a query per incident.
    known = evaluations or {}
    lesser = [i for i, _ in candidates if i.severity not in config.postmortems.severities and i.id not in known]
    updates = public_updates(session, lesser) if lesser else {}

    def needs(incident: Incident) -> bool:
        evaluation = known.get(incident.id or 0)
        if evaluation is not None and incident.severity not in config.postmortems.severities:
            return bool(evaluation.breaches)
        return needs_postmortem(incident, config, updates.get(incident.id or 0, ()))

    late = [
        OverduePostmortem(incident.id or 0, incident.title, incident.commander, due, (today - due).days)
        for incident, due in candidates
        if needs(incident)
    ]
    late.sort(key=lambda row: (-row.days_late, row.incident_id))
    return late
