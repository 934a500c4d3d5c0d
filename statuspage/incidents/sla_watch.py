"""SLA breaches recorded the moment the worker notices them.

Each ``incident watch`` pass (:func:`record_breaches`) measures every open incident, and every
incident resolved in the last day (a late answer or resolution still breached its target), against
its severity's public targets (:func:`statuspage.incidents.sla.measure`), the update cadence
among them: a late public update is recorded as a breach once it is overdue, whether or not it
was posted since (the public updates of every incident scanned are read in one go, not one
incident at a time). Every breached target not recorded yet is recorded by :func:`record_breach`, in a write transaction of its own: an audit
event ``incident.sla_breach`` (which Slack turns into a thread reply and ``incident show`` into a
timeline row) and, as the idempotency record, a :class:`~statuspage.db.models.Timer` row of kind
``sla_breach`` and key ``sla:<target>``, written already fired. Since no handler is registered
for that kind, no worker ever claims the row; it only exists so that the unique
``(incident_id, key)`` index makes a second record of the same breach impossible.

Exactly once, even with several workers: the write transaction takes the write lock first (it
bumps the data version), so two workers recording the same breach queue; the second finds the
first's row when it looks inside its own transaction and does nothing. Should the look ever miss
it, the second insert fails on the unique index, the second transaction rolls back whole, and the
breach counts as already recorded. A target is measured again inside the transaction, so an
answer that committed after the scan but before the deadline is never reported as a breach.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, or_
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from statuspage.audit.actions import AuditAction
from statuspage.context import Actor, Process, WriteContext, write
from statuspage.db.models import AuditEvent, Incident, Timer
from statuspage.domain.businesstime import BusinessCalendar
from statuspage.domain.sla import Outcome, PublicUpdate, TargetEvaluation
from statuspage.incidents.sla import PUBLIC_TARGETS, calendar_for, measure, public_updates
from statuspage.oncall import timers
from statuspage.settings import Config

log = logging.getLogger(__name__)

ACTION = AuditAction.INCIDENT_SLA_BREACH
KIND = "sla_breach"
KEY_PREFIX = "sla:"
# Incidents resolved longer ago than this are no longer looked at: their breaches, if any, were
# recorded by a pass while they were open or just resolved.
RECENT = timedelta(days=1)


def breach_key(target: str) -> str:
    return f"{KEY_PREFIX}{target}"


@dataclass(frozen=True)
class Breach:
    """A breached target found by a scan, not recorded yet."""

    incident_id: int
    target: str
    deadline: datetime


@dataclass
class BreachReport:
    recorded: int = 0
    skipped: int = 0  # recorded by another worker first, or no longer breached
    failed: int = 0
    events: list[AuditEvent] = field(default_factory=list)


def _shortest_targets(config: Config, calendar: BusinessCalendar) -> dict[int, timedelta]:
    """Per severity level, the shortest of its public targets as wall time at the least."""
    shortest = {}
    for key, severity in config.severities.items():
        durations = [d for d in (getattr(severity, name) for name in PUBLIC_TARGETS) if d is not None]
        if durations and key[3:].isdigit():
            shortest[int(key[3:])] = min(calendar.working_time(d) for d in durations)
    return shortest


def _breached(
    incident: Incident, config: Config, now: datetime, updates: Sequence[PublicUpdate] | None = None
) -> list[TargetEvaluation]:
    evaluation = measure(incident, config, calendar_for(config), now, updates=updates)
    return [] if evaluation is None else list(evaluation.breaches)


def find_breaches(session: Session, config: Config, now: datetime) -> list[Breach]:
    """The breached targets of open and recently resolved incidents that have no record yet.

    Only incidents old enough to have missed their severity's shortest target are read and
    measured: no clock runs faster than the wall clock (business time and pauses only slow it),
    so a younger incident cannot be in breach. A worker with thousands of fresh incidents open
    (a mass alert) thus keeps its passes short and its deadlines on time.
    """
    calendar = calendar_for(config)
    old_enough = [
        and_(
            col(Incident.severity) == level,
            or_(col(Incident.detected_at) < now - age, col(Incident.declared_at) < now - age),
        )
        for level, age in _shortest_targets(config, calendar).items()
    ]
    if not old_enough:
        return []
    incidents = session.exec(
        select(Incident)
        .where(or_(col(Incident.resolved_at).is_(None), col(Incident.resolved_at) >= now - RECENT), or_(*old_enough))
        .order_by(col(Incident.id))
    ).all()
    if not incidents:
        return []
    ids = [incident.id for incident in incidents]
    recorded = set(
        session.exec(
            select(Timer.incident_id, Timer.key).where(
                col(Timer.incident_id).in_(ids), col(Timer.key).startswith(KEY_PREFIX)
            )
        ).all()
    )
    updates = public_updates(session, incidents)
    found = []
    for incident in incidents:
        assert incident.id is not None
        for target in _breached(incident, config, now, updates.get(incident.id, ())):
            if (incident.id, breach_key(target.target)) not in recorded:
                found.append(Breach(incident.id, target.target, target.deadline))
    return found


@write
def record_breach(*, ctx: WriteContext, incident_id: int, target: str) -> AuditEvent | None:
    """Record that ``target`` of the incident was breached; ``None`` (and nothing written) when it
    is already recorded or, measured now, not breached."""
    session = ctx.session
    key = breach_key(target)
    now = ctx.now()
    if session.exec(select(Timer.id).where(Timer.incident_id == incident_id, Timer.key == key)).first() is not None:
        return None
    incident = session.get(Incident, incident_id, populate_existing=True)
    if incident is None:
        return None
    evaluation = next((t for t in _breached(incident, ctx.config, now) if t.target == target), None)
    severity = ctx.config.severity(incident.severity)
    if evaluation is None or evaluation.outcome is not Outcome.BREACHED or severity is None:
        return None
    promised = str(getattr(severity, target))
    session.add(
        Timer(
            incident_id=incident_id,
            kind=KIND,
            key=key,
            due_at=evaluation.deadline,
            state=timers.FIRED,
            fired_at=now,
            created_at=now,
            payload={"target": target, "promised": promised},
        )
    )
    session.flush()  # the unique (incident_id, key) index speaks here, before anything else is written
    return ctx.audit(
        action=ACTION,
        subject_type="incident",
        subject_id=incident_id,
        at=now,
        after={"target": target, "deadline": evaluation.deadline, "promised": promised, "breached_at": evaluation.deadline},
    )


def record_breaches(runtime: Process, *, actor: Actor = timers.WORKER_ACTOR) -> BreachReport:
    """One pass: find the unrecorded breaches and record each in a transaction of its own.

    A breach another worker recorded first counts as ``skipped``; one that fails otherwise is
    logged and tried again on the next pass.
    """
    report = BreachReport()
    config = runtime.settings.config
    with runtime.session() as session:
        breaches = find_breaches(session, config, runtime.clock.now())
    for breach in breaches:
        with runtime.session() as session:
            try:
                event = record_breach(
                    ctx=runtime.context(session, actor), incident_id=breach.incident_id, target=breach.target
                )
            except IntegrityError:
                report.skipped += 1
                continue
            except Exception:  # noqa: BLE001 - one broken record must not hold up the others
                log.exception("recording the %s breach of incident %s failed", breach.target, breach.incident_id)
                report.failed += 1
                continue
        if event is None:
            report.skipped += 1
        else:
            report.recorded += 1
            report.events.append(event)
    return report
