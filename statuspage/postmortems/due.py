"""When an incident's postmortem is due, and which ones are late.

A resolved incident needs a postmortem when its severity is one of ``postmortems.severities``
(by default Sev-1 and Sev-2) or it breached an SLA target. It is due ``postmortems.due_within``
after the incident was resolved (``5bd``: five business days of the configured business hours;
calendar units count wall-clock time), and it is done once published. The due *date* is the
date of that moment in the page's time zone; a postmortem due today is not late yet.
Internal incidents (never shown on the status page) have nothing to publish and are left out.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import select as sa_select
from sqlalchemy import true
from sqlmodel import Session, col, select

from statuspage.db.models import Incident, Postmortem, Timer
from statuspage.domain.sla import IncidentEvaluation
from statuspage.incidents.sla import PublicUpdate, calendar_for, measure, public_updates
from statuspage.incidents.sla_watch import KIND as BREACH_KIND
from statuspage.settings import Config


class _Resolved(NamedTuple):
    id: int
    title: str
    commander: str | None
    severity: int
    resolved_at: datetime


class OverduePostmortem(NamedTuple):
    incident_id: int
    title: str
    owner: str | None  # the incident's commander
    due: date
    days_late: int


def due_at(incident: Incident, config: Config) -> datetime | None:
    """The moment the postmortem falls due; None while the incident is open."""
    return _due_at(incident.resolved_at, config)


def _due_at(resolved_at: datetime | None, config: Config) -> datetime | None:
    if resolved_at is None:
        return None
    return calendar_for(config).deadline(resolved_at, config.postmortems.due_within, "24x7")


def due_date(incident: Incident, config: Config) -> date | None:
    return _due_date(incident.resolved_at, config)


def _due_date(resolved_at: datetime | None, config: Config) -> date | None:
    moment = _due_at(resolved_at, config)
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
) -> list[OverduePostmortem]:
    """Resolved incidents that need a postmortem and had none published by ``as_of``, their due
    date before ``as_of``'s date (in the page's time zone): the most days late first, then by
    incident id. ``owner`` is the incident's commander. ``since``: only incidents resolved from
    then on.

    ``evaluations``: the caller's measurements, by incident id (a resolved incident's outcomes no
    longer change). When given, an incident of a lesser severity that is not among them needs a
    postmortem when the worker recorded a breach of it (one query), instead of being measured
    here; the worker records every breach as it happens, so both agree."""
    zone = ZoneInfo(config.page.time_zone)
    today = as_of.astimezone(zone).date()
    published = select(Postmortem.incident_id).where(
        col(Postmortem.published_at).is_not(None), col(Postmortem.published_at) <= as_of
    )
    rows = [_Resolved(*row) for row in session.execute(
        sa_select(col(Incident.id), col(Incident.title), col(Incident.commander), col(Incident.severity), col(Incident.resolved_at))
        .where(col(Incident.resolved_at).is_not(None), col(Incident.resolved_at) <= as_of)
        .where(col(Incident.resolved_at) >= since if since is not None else true())
        .where(col(Incident.internal).is_(False), col(Incident.id).not_in(published))
        .order_by(col(Incident.id))
    ).all()]
    candidates = [(row, due) for row in rows if (due := _due_date(row.resolved_at, config)) is not None and due < today]
    required = config.postmortems.severities
    lesser = [row.id for row, _ in candidates if row.severity not in required and row.id not in (evaluations or {})]
    if evaluations is None:
        # Measured with the public updates of all of them read at once, not a query each.
        incidents = _incidents(session, lesser)
        updates = public_updates(session, incidents) if incidents else {}
        breached = {i.id for i in incidents if needs_postmortem(i, config, updates.get(i.id or 0, ()))}
    else:
        breached = _recorded_breaches(session, lesser)
        breached |= {key for key, evaluation in evaluations.items() if evaluation.breaches}
    late = [
        OverduePostmortem(row.id, row.title, row.commander, due, (today - due).days)
        for row, due in candidates
        if row.severity in required or row.id in breached
    ]
    late.sort(key=lambda row: (-row.days_late, row.incident_id))
    return late


def _incidents(session: Session, incident_ids: list[int]) -> list[Incident]:
    found: list[Incident] = []
    for start in range(0, len(incident_ids), 500):
        found += session.exec(select(Incident).where(col(Incident.id).in_(incident_ids[start : start + 500]))).all()
    return found


def _recorded_breaches(session: Session, incident_ids: list[int]) -> set[int | None]:
    """Those of the incidents the worker recorded a breached SLA target of."""
    found: set[int | None] = set()
    for start in range(0, len(incident_ids), 500):
        chunk = incident_ids[start : start + 500]
        found.update(
            session.exec(select(Timer.incident_id).where(Timer.kind == BREACH_KIND, col(Timer.incident_id).in_(chunk))).all()
        )
    return found
