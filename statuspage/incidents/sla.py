"""Incidents measured against their severity's targets: the read side of the SLA arithmetic in
:mod:`statuspage.domain.sla`, shared by the public SLA page and the reports."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from sqlmodel import Session, col, select

from statuspage.db.models import Incident
from statuspage.domain.businesstime import BusinessCalendar
from statuspage.domain.sla import IncidentEvaluation, IncidentTimes, Pause, evaluate_incident
from statuspage.settings import BusinessHours, Config

# The commitments published per incident. The resolution plan is an internal step: an incident
# resolved in time never needs one, so it is not measured publicly.
PUBLIC_TARGETS = ("first_response", "acknowledgement", "resolution")


@dataclass(frozen=True)
class Measured:
    incident: Incident
    evaluation: IncidentEvaluation


def calendar_for(config: Config) -> BusinessCalendar:
    """The configuration's business calendar, built once per (hours, zone): building it reads the
    holiday tables, and the worker measures every open incident on every pass."""
    return _calendar(config.business_hours, config.page.time_zone)


@lru_cache(maxsize=8)
def _calendar(hours: BusinessHours, zone: str) -> BusinessCalendar:
    return BusinessCalendar.from_config(hours, zone)


def times_of(incident: Incident) -> IncidentTimes:
    """An incident resolved without an explicit acknowledgement or response was answered, at the
    latest, when it was resolved; its clocks stop there rather than run on forever."""
    return IncidentTimes(
        detected_at=min(incident.detected_at, incident.declared_at),
        first_response_at=incident.first_response_at or incident.resolved_at,
        acknowledged_at=incident.acknowledged_at or incident.resolved_at,
        resolved_at=incident.resolved_at,
        reference=incident.id,
        pauses=pauses_of(incident),
    )


def open_pause(incident: Incident) -> dict[str, str | None] | None:
    """The recorded pause holding the incident's SLA clocks now, if any (only the last may be open)."""
    pauses = incident.sla_pauses or []
    return pauses[-1] if pauses and pauses[-1].get("end") is None else None


def pauses_of(incident: Incident) -> tuple[Pause, ...]:
    """The spans recorded by pausing the SLA clocks (see ``incidents.handling.pause_sla``)."""
    return tuple(
        Pause(datetime.fromisoformat(str(p["start"])), datetime.fromisoformat(str(p["end"])) if p.get("end") else None)
        for p in incident.sla_pauses or []
    )


def measure(
    incident: Incident, config: Config, calendar: BusinessCalendar, now: datetime, targets: Sequence[str] = PUBLIC_TARGETS
) -> IncidentEvaluation | None:
    """The incident against its severity's targets; ``None`` for a severity no longer configured."""
    severity = config.severity(incident.severity)
    if severity is None:
        return None
    durations = {name: getattr(severity, name) for name in targets}
    return evaluate_incident(times_of(incident), durations, severity.clock, calendar, now)


def measure_declared_between(
    session: Session, config: Config, calendar: BusinessCalendar, *, start: datetime, end: datetime, now: datetime
) -> list[Measured]:
    """The public incidents declared in [start, end), measured: what /sla publishes. Internal
    incidents (opened from alerts, not published) are measured by the SLA watch, never shown here."""
    incidents = session.exec(
        select(Incident)
        .where(col(Incident.declared_at) >= start, col(Incident.declared_at) < end, col(Incident.internal).is_(False))
        .order_by(col(Incident.declared_at), col(Incident.id))
    ).all()
    measured = []
    for incident in incidents:
        evaluation = measure(incident, config, calendar, now)
        if evaluation is not None:
            measured.append(Measured(incident, evaluation))
    return measured


def close_pause(incident: Incident, when: datetime) -> datetime:
    """End the open pause at ``when``; returns when it began."""
    pauses = [dict(p) for p in incident.sla_pauses or []]
    start = datetime.fromisoformat(str(pauses[-1]["start"]))
    pauses[-1]["end"] = max(when, start).isoformat()
    incident.sla_pauses = pauses
    return start
