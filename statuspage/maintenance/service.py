"""Scheduled maintenance: announced ahead, then in progress, verifying and completed."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from sqlmodel import Session, col, select

from statuspage.audit.actions import AuditAction
from statuspage.components.service import get_components, refresh_statuses
from statuspage.context import WriteContext, write
from statuspage.db.models import Component, Maintenance, MaintenanceComponent, MaintenanceUpdate
from statuspage.domain.enums import MaintenanceStatus
from statuspage.errors import Conflict, InvalidInput, NotFound, UserError
from statuspage.ids import parse_id
from statuspage.incidents.service import MAX_BODY, clean_text
from statuspage.validators import title as one_line_title

MAX_WINDOW = timedelta(days=14)
_NEXT = {
    MaintenanceStatus.SCHEDULED: {MaintenanceStatus.IN_PROGRESS, MaintenanceStatus.COMPLETED},
    MaintenanceStatus.IN_PROGRESS: {MaintenanceStatus.VERIFYING, MaintenanceStatus.COMPLETED},
    MaintenanceStatus.VERIFYING: {MaintenanceStatus.IN_PROGRESS, MaintenanceStatus.COMPLETED},
    MaintenanceStatus.COMPLETED: set(),
}
_DEFAULT_BODY = {
    MaintenanceStatus.SCHEDULED: "This maintenance is scheduled.",
    MaintenanceStatus.IN_PROGRESS: "Scheduled maintenance is currently in progress.",
    MaintenanceStatus.VERIFYING: "Maintenance work is done and we are verifying the results.",
    MaintenanceStatus.COMPLETED: "The scheduled maintenance has been completed.",
}


def get(*, session: Session, maintenance_id: int | str) -> Maintenance:
    try:
        key = parse_id(str(maintenance_id), what="maintenance")
    except UserError as exc:
        raise NotFound(exc.message, field="id") from None
    row = session.get(Maintenance, key)
    if row is None:
        raise NotFound(f"no maintenance {key}", field="id")
    return row


@write
def schedule(
    *,
    ctx: WriteContext,
    title: str,
    components: Sequence[str],
    scheduled_for: datetime,
    scheduled_until: datetime,
    message: str | None = None,
) -> Maintenance:
    clean_title = one_line_title(title)
    body = clean_text(message, field="message", limit=MAX_BODY, required=False)
    for name, value in (("scheduled_for", scheduled_for), ("scheduled_until", scheduled_until)):
        if value.tzinfo is None:
            raise InvalidInput(f"{name} needs a time zone offset", field=name)
    # Measured as instants: Python compares and subtracts two times in the same zone by their wall
    # clocks, so 02:30 to 03:30 across the spring switch would pass while lasting no time at all.
    length = scheduled_until.astimezone(UTC) - scheduled_for.astimezone(UTC)
    if length <= timedelta(0):
        raise InvalidInput("scheduled_until must be after scheduled_for", field="scheduled_until")
    if length > MAX_WINDOW:
        raise InvalidInput("a maintenance window may last 14 days at most", field="scheduled_until")
    if not components:
        raise InvalidInput("name at least one component", field="components")
    rows = get_components(session=ctx.session, ids=components)
    now = ctx.now()
    maintenance = Maintenance(
        title=clean_title,
        status=MaintenanceStatus.SCHEDULED.value,
        scheduled_for=scheduled_for,
        scheduled_until=scheduled_until,
        created_by=ctx.actor.name,
        created_at=now,
        updated_at=now,
    )
    ctx.session.add(maintenance)
    ctx.session.flush()
    assert maintenance.id is not None
    for component in rows:
        ctx.session.add(MaintenanceComponent(maintenance_id=maintenance.id, component_id=component.id))
    ctx.session.add(
        MaintenanceUpdate(
            maintenance_id=maintenance.id,
            status=MaintenanceStatus.SCHEDULED.value,
            body=body or _DEFAULT_BODY[MaintenanceStatus.SCHEDULED],
            author=ctx.actor.name,
            created_at=now,
        )
    )
    ctx.audit(
        action=AuditAction.MAINTENANCE_SCHEDULE,
        subject_type="maintenance",
        subject_id=maintenance.id,
        at=now,
        after={
            "title": maintenance.title,
            "scheduled_for": scheduled_for,
            "scheduled_until": scheduled_until,
            "components": [c.id for c in rows],
        },
    )
    return maintenance


@write
def set_status(
    *, ctx: WriteContext, maintenance_id: int | str, status: str, message: str | None = None
) -> MaintenanceUpdate:
    """Move a maintenance along; in progress and verifying show its components under maintenance."""
    maintenance = get(session=ctx.session, maintenance_id=maintenance_id)
    try:
        new = MaintenanceStatus(status)
    except ValueError:
        allowed = ", ".join(s.value for s in MaintenanceStatus)
        raise InvalidInput(f"{status!r} is not a maintenance status ({allowed})", field="status") from None
    current = MaintenanceStatus(maintenance.status)
    if new not in _NEXT[current]:
        raise Conflict(f"maintenance {maintenance.id} is {current.value}; it cannot move to {new.value}")
    body = clean_text(message, field="message", limit=MAX_BODY, required=False)
    when = max(ctx.now(), maintenance.updated_at)
    maintenance.status = new.value
    maintenance.updated_at = when
    if new is MaintenanceStatus.IN_PROGRESS and maintenance.started_at is None:
        maintenance.started_at = when
    if new is MaintenanceStatus.COMPLETED:
        maintenance.completed_at = when
    component_ids = ctx.session.exec(
        select(MaintenanceComponent.component_id).where(MaintenanceComponent.maintenance_id == maintenance.id)
    ).all()
    refresh_statuses(session=ctx.session, component_ids=component_ids, at=when, maintenance_id=maintenance.id)
    update = MaintenanceUpdate(
        maintenance_id=maintenance.id or 0, status=new.value, body=body or _DEFAULT_BODY[new], author=ctx.actor.name, created_at=when
    )
    ctx.session.add(update)
    ctx.audit(
        action=AuditAction.MAINTENANCE_SET_STATUS,
        subject_type="maintenance",
        subject_id=maintenance.id or 0,
        at=when,
        before={"status": current.value},
        after={"status": new.value, "message": update.body},
    )
    return update


def list_current(*, session: Session) -> Sequence[Maintenance]:
    """Maintenances not yet completed, soonest first."""
    return session.exec(
        select(Maintenance)
        .where(col(Maintenance.status) != MaintenanceStatus.COMPLETED.value)
        .order_by(col(Maintenance.scheduled_for))
    ).all()


def updates(*, session: Session, maintenance_id: int) -> Sequence[MaintenanceUpdate]:
    return session.exec(
        select(MaintenanceUpdate)
        .where(MaintenanceUpdate.maintenance_id == maintenance_id)
        .order_by(col(MaintenanceUpdate.created_at), col(MaintenanceUpdate.id))
    ).all()


def components(*, session: Session, maintenance_id: int) -> Sequence[Component]:
    return session.exec(
        select(Component)
        .join(MaintenanceComponent, MaintenanceComponent.component_id == Component.id)  # type: ignore[arg-type]
        .where(MaintenanceComponent.maintenance_id == maintenance_id)
        .order_by(col(Component.position))
    ).all()
