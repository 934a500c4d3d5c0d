"""Incidents measured against their severity's targets: the read side of the SLA arithmetic in
:mod:`statuspage.domain.sla`, shared by the public SLA page, the reports and the SLA watch.

The update cadence is measured from an incident's public updates, which are rows of their own:
callers measuring many incidents read them with :func:`public_updates` (two queries per
:data:`BATCH` incidents) and pass each incident's to :func:`measure`; measuring one incident
without them reads its own. The cadence is a promise to the public, so it runs only while the
public can see the incident: an internal incident (opened from an alert, not published) has none,
and one published later is measured from its first publication (what it had posted until then
became public at that moment, as one update).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from sqlalchemy.orm import object_session as _object_session
from sqlmodel import Session, col, select

from statuspage.audit.actions import AuditAction
from statuspage.db.models import AuditEvent, Incident, IncidentUpdate
from statuspage.domain.businesstime import BusinessCalendar
from statuspage.domain.enums import IncidentStatus
from statuspage.domain.sla import (
    UPDATE_CADENCE,
    IncidentEvaluation,
    IncidentTimes,
    Pause,
    PublicUpdate,
    evaluate_incident,
)
from statuspage.settings import BusinessHours, Config

# The commitments published per incident, every one of them measured. The resolution plan is met
# by recording one (``incident plan``) or by resolving the incident in time.
PUBLIC_TARGETS = ("first_response", "acknowledgement", "resolution", "resolution_plan", UPDATE_CADENCE)
# Incidents whose updates one query reads: few enough for any database's limit on parameters.
BATCH = 500


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


def times_of(incident: Incident, updates: Sequence[PublicUpdate] | None = None) -> IncidentTimes:
    """An incident resolved without an explicit acknowledgement, response or resolution plan was
    answered, at the latest, when it was resolved; its clocks stop there rather than run on
    forever. ``updates`` (see :func:`public_updates`) are left out for an internal incident, and
    without them its update cadence is not measured."""
    return IncidentTimes(
        detected_at=min(incident.detected_at, incident.declared_at),
        first_response_at=incident.first_response_at or incident.resolved_at,
        acknowledged_at=incident.acknowledged_at or incident.resolved_at,
        resolved_at=incident.resolved_at,
        resolution_plan_at=incident.resolution_plan_at or incident.resolved_at,
        reference=incident.id,
        pauses=pauses_of(incident),
        public_updates=None if updates is None or incident.internal else tuple(updates),
    )


def public_updates(session: Session, incidents: Iterable[Incident]) -> dict[int, tuple[PublicUpdate, ...]]:
    """The moments the public was told something about each of the public ``incidents``, oldest
    first: two queries per :data:`BATCH` incidents, whatever their number. An incident published
    after it was declared (opened from an alert, or retracted and published again) starts at its
    first publication. Internal incidents are left out."""
    public = sorted(i.id for i in incidents if i.id is not None and not i.internal)
    timelines: dict[int, list[PublicUpdate]] = {key: [] for key in public}
    published: dict[int, datetime] = {}
    for chunk in _chunks(public, BATCH):
        rows = session.exec(
            select(IncidentUpdate.incident_id, IncidentUpdate.created_at, IncidentUpdate.status)
            .where(col(IncidentUpdate.incident_id).in_(chunk))
            .order_by(col(IncidentUpdate.created_at), col(IncidentUpdate.id))
        ).all()
        for key, at, status in rows:
            timelines[key].append(PublicUpdate(at, not IncidentStatus(status).is_open))
        events = session.exec(
            select(AuditEvent.subject_id, AuditEvent.at).where(
                AuditEvent.subject_type == "incident",
                AuditEvent.action == AuditAction.INCIDENT_PUBLISH.value,
                col(AuditEvent.subject_id).in_([str(key) for key in chunk]),
            )
        ).all()
        for subject, at in events:
            key = int(subject)
            published[key] = min(at, published.get(key, at))
    return {key: _from_publication(updates, published.get(key)) for key, updates in timelines.items()}


def _from_publication(updates: list[PublicUpdate], published: datetime | None) -> tuple[PublicUpdate, ...]:
    """What the public saw: the updates posted before ``published`` became public then, as one."""
    if published is None:
        return tuple(updates)
    before = [u for u in updates if u.at < published]
    after = [u for u in updates if u.at >= published]
    first = (PublicUpdate(published, before[-1].resolved),) if before else ()
    return (*first, *after)


def _chunks(keys: Sequence[int], size: int) -> Iterator[Sequence[int]]:
    for start in range(0, len(keys), size):
        yield keys[start : start + size]


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
    incident: Incident,
    config: Config,
    calendar: BusinessCalendar,
    now: datetime,
    targets: Sequence[str] = PUBLIC_TARGETS,
    *,
    updates: Sequence[PublicUpdate] | None = None,
) -> IncidentEvaluation | None:
    """The incident against its severity's targets; ``None`` for a severity no longer configured.

    ``updates``: the incident's, from :func:`public_updates`. Without them an incident still in
    a session reads its own (one query more); a detached one is measured without its cadence.
    """
    severity = config.severity(incident.severity)
    if severity is None:
        return None
    durations = {name: getattr(severity, name) for name in targets}
    if updates is None and durations.get(UPDATE_CADENCE) is not None and not incident.internal:
        session = _object_session(incident)
        if isinstance(session, Session) and incident.id is not None:
            updates = public_updates(session, [incident]).get(incident.id)
    return evaluate_incident(times_of(incident, updates), durations, severity.clock, calendar, now)


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
    updates = public_updates(session, incidents)
    measured = []
    for incident in incidents:
        evaluation = measure(incident, config, calendar, now, updates=updates.get(incident.id or 0, ()))
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
