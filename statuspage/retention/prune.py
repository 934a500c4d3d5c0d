"""The retention policy and ``statuspage db prune``: what may be deleted, from what age, and what never.

Kinds that may be pruned, each older than ``--older-than`` and never younger than its minimum
(``retention:`` in the configuration; the defaults are below):

``outbox`` (30d)
    Delivered and dead outgoing messages (webhooks, Slack, email), by when they were delivered
    (dead ones: created), and the notices subscribers were sent, by when the last was queued.
    Pending messages are never touched: delivery is at least once.
``oncall`` (1y)
    Of incidents resolved before the cutoff (and not reopened since): their fired and cancelled
    timers, their pages and their escalation run; plus fired and cancelled timers of no incident
    (the daily digest) due before the cutoff. They go together, so that an incident keeps either
    its whole on-call record or none of it. Monthly reports of those months lose their
    time-to-acknowledge figures.
``alerts`` (90d)
    What monitoring sent: each request as received (its retries first), and alerts resolved
    before the cutoff. Firing alerts are never touched: they hold a component's status.
``access`` (1y)
    The audit log's record of each admin API request (action ``api.request``) and the counts of
    anonymous refused ones (``api.refused``).
``audit`` (7y)
    Audit events of changes: the legal retention. ``incident show`` loses "who did what" for
    incidents older than that; their public timeline stays.

Never pruned, whatever the age: incidents, their public updates and affected components,
maintenance and its updates, postmortems (contributing factors, action items), components and
their status history (uptime and SLA reports), tokens (a name stays one token for ever), webhook
subscribers and customers' subscriptions (``statuspage subscribers remove`` erases one), and the ``retention.pruned`` audit events, which say what each prune deleted.

Each kind is deleted in transactions of at most :data:`BATCH` rows per table, so a large backlog
holds no lock for long and a prune that is interrupted can simply be run again. Deleting is not a
change to the status page: it does not bump the data version. The run ends with one audit event,
``retention.pruned``, carrying the counts, the cutoff and the actor; a dry run only counts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, func, or_
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from statuspage.clock import Clock
from statuspage.context import Actor, Wiring, WriteContext, write
from statuspage.db.engine import new_session
from statuspage.db.models import (
    Alert,
    AlertRequest,
    AuditEvent,
    EscalationRun,
    Incident,
    OutboxMessage,
    PageSent,
    SubscriberNotice,
    Timer,
)
from statuspage.domain.age import Age
from statuspage.domain.enums import OPEN_INCIDENT_STATUSES, IncidentStatus
from statuspage.retention import ACCESS_ACTIONS, KINDS, PRUNED_ACTION
from statuspage.settings import Config

BATCH = 5000
DESCRIPTIONS = {
    "outbox": "delivered and dead outgoing messages",
    "oncall": "timers, pages and escalation runs of resolved incidents",
    "alerts": "requests from monitoring and resolved alerts",
    "access": "admin API access records",
    "audit": "audit events of changes",
}
NEVER_PRUNED = (
    "incidents and their public updates, maintenance, postmortems, components and their status history, "
    "tokens, webhook subscribers, and the record of each prune"
)
CLOSED_STATUSES = tuple(s.value for s in IncidentStatus if s not in OPEN_INCIDENT_STATUSES)


class RetentionTooShort(ValueError):
    def __init__(self, kind: str, older_than: Age, minimum: Age) -> None:
        super().__init__(
            f"--older-than {older_than} is shorter than the {minimum} that {kind} ({DESCRIPTIONS[kind]}) must be kept "
            f"(retention.{kind} in the configuration); give --older-than {minimum} or more, or leave it out with --kind"
        )
        self.kind = kind


@dataclass(frozen=True)
class Target:
    """One table of a kind: its primary key and which of its rows are old enough."""

    label: str
    key: Any
    where: Callable[[datetime], ColumnElement[bool]]


def _requests_before(cutoff: datetime) -> Any:
    return select(AlertRequest.id).where(col(AlertRequest.received_at) < cutoff)


def _resolved_before(cutoff: datetime) -> Any:
    return select(Incident.id).where(
        col(Incident.status).in_(CLOSED_STATUSES),
        col(Incident.resolved_at).is_not(None),
        col(Incident.resolved_at) < cutoff,
    )


TARGETS: dict[str, tuple[Target, ...]] = {
    "outbox": (
        Target(
            "outbox messages",
            OutboxMessage.id,
            lambda cutoff: or_(
                and_(col(OutboxMessage.state) == "delivered", col(OutboxMessage.delivered_at) < cutoff),
                and_(col(OutboxMessage.state) == "dead", col(OutboxMessage.created_at) < cutoff),
            ),
        ),
        # What subscribers were told, once every subscriber's message was queued; a message still
        # pending after that long is skipped when its notice is gone.
        Target(
            "subscriber notices",
            SubscriberNotice.id,
            lambda cutoff: and_(col(SubscriberNotice.done_at).is_not(None), col(SubscriberNotice.done_at) < cutoff),
        ),
    ),
    "oncall": (
        Target(
            "timers",
            Timer.id,
            lambda cutoff: and_(
                col(Timer.state).in_(("fired", "cancelled")),
                or_(
                    col(Timer.incident_id).in_(_resolved_before(cutoff)),
                    and_(col(Timer.incident_id).is_(None), col(Timer.due_at) < cutoff),
                ),
            ),
        ),
        Target("pages", PageSent.id, lambda cutoff: col(PageSent.incident_id).in_(_resolved_before(cutoff))),
        Target(
            "escalation runs",
            EscalationRun.incident_id,
            lambda cutoff: col(EscalationRun.incident_id).in_(_resolved_before(cutoff)),
        ),
    ),
    "alerts": (
        # A retry names the request it repeats: retries go first, so no batch leaves one pointing
        # at a deleted request.
        Target(
            "alert request retries",
            AlertRequest.id,
            lambda cutoff: and_(
                col(AlertRequest.duplicate_of).is_not(None),
                or_(col(AlertRequest.received_at) < cutoff, col(AlertRequest.duplicate_of).in_(_requests_before(cutoff))),
            ),
        ),
        Target("alert requests", AlertRequest.id, lambda cutoff: col(AlertRequest.received_at) < cutoff),
        Target(
            "alerts",
            Alert.id,
            lambda cutoff: and_(col(Alert.status) == "resolved", col(Alert.last_received_at) < cutoff),
        ),
    ),
    "access": (
        Target(
            "access records",
            AuditEvent.id,
            lambda cutoff: and_(col(AuditEvent.action).in_(ACCESS_ACTIONS), col(AuditEvent.at) < cutoff),
        ),
    ),
    "audit": (
        Target(
            "audit events",
            AuditEvent.id,
            lambda cutoff: and_(
                col(AuditEvent.action).not_in((*ACCESS_ACTIONS, PRUNED_ACTION)), col(AuditEvent.at) < cutoff
            ),
        ),
    ),
}


def minimums(config: Config) -> dict[str, Age]:
    retention = config.retention
    return {kind: getattr(retention, kind) for kind in KINDS}


def check(config: Config, older_than: Age, kinds: Sequence[str], now: datetime) -> None:
    """Refuse an age shorter than the minimum of any kind asked for."""
    cutoff = older_than.before(now)
    for kind, minimum in minimums(config).items():
        if kind in kinds and cutoff > minimum.before(now):
            raise RetentionTooShort(kind, older_than, minimum)


@dataclass
class PruneReport:
    older_than: Age
    cutoff: datetime
    dry_run: bool
    # kind -> table label -> rows (deleted, or that would be)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    audit_event_id: int | None = None

    def total(self, kind: str) -> int:
        return sum(self.counts.get(kind, {}).values())

    def as_json(self) -> dict[str, Any]:
        return {
            "older_than": str(self.older_than),
            "cutoff": self.cutoff.isoformat(),
            "kinds": {kind: self.total(kind) for kind in self.counts},
            "rows": self.counts,
        }


def _count(session: Session, target: Target, cutoff: datetime) -> int:
    return int(session.exec(select(func.count()).select_from(target.key.class_).where(target.where(cutoff))).one())


def _delete_batch(session: Session, target: Target, cutoff: datetime) -> int:
    keys = list(session.exec(select(target.key).where(target.where(cutoff)).limit(BATCH)).all())
    if not keys:
        return 0
    session.execute(delete(target.key.class_).where(target.key.in_(keys)))
    return len(keys)


def prune(
    *,
    engine: Engine,
    clock: Clock,
    config: Config,
    wiring: Wiring,
    actor: Actor,
    older_than: Age,
    kinds: Sequence[str] = KINDS,
    dry_run: bool = False,
) -> PruneReport:
    """Delete (or with ``dry_run`` count) what is older than ``older_than`` of each kind, then
    record ``retention.pruned``. Raises :class:`RetentionTooShort` before touching anything."""
    now = clock.now()
    check(config, older_than, kinds, now)
    cutoff = older_than.before(now)
    report = PruneReport(older_than=older_than, cutoff=cutoff, dry_run=dry_run)
    chosen = [kind for kind in KINDS if kind in kinds]
    try:
        with new_session(engine) as session:
            for kind in chosen:
                counts = report.counts.setdefault(kind, {t.label: 0 for t in TARGETS[kind]})
                if dry_run:
                    for target in TARGETS[kind]:
                        counts[target.label] = _count(session, target, cutoff)
                    session.rollback()
                    continue
                # One transaction per batch: every table of the kind, at most BATCH rows each.
                while True:
                    deleted = {t.label: _delete_batch(session, t, cutoff) for t in TARGETS[kind]}
                    session.commit()
                    for label, n in deleted.items():
                        counts[label] += n
                    if not any(deleted.values()):
                        break
    finally:
        # Whatever was deleted is on record, even when a later kind failed.
        if not dry_run and report.counts:
            with new_session(engine) as session:
                ctx = WriteContext(session=session, clock=clock, actor=actor, config=config, wiring=wiring)
                event = record_pruned(ctx=ctx, report=report)
                report.audit_event_id = event.id
    return report


@write
def record_pruned(*, ctx: WriteContext, report: PruneReport) -> AuditEvent:
    event = ctx.audit(
        action=PRUNED_ACTION,
        subject_type="retention",
        subject_id=report.cutoff.date().isoformat(),
        at=ctx.now(),
        after=report.as_json(),
    )
    ctx.session.flush()
    return event
