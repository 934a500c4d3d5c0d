"""Reading incidents: one by id, lists, the public timeline, what an incident affects."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func
from sqlmodel import Session, col, select

from statuspage.db.models import AuditEvent, Component, Incident, IncidentComponent, IncidentUpdate
from statuspage.domain.enums import OPEN_INCIDENT_STATUSES
from statuspage.errors import NotFound, UserError
from statuspage.ids import parse_id


def get(*, session: Session, incident_id: int | str, for_update: bool = False) -> Incident:
    try:
        key = parse_id(str(incident_id))
    except UserError as exc:
        raise NotFound(exc.message, field="id") from None
    statement = select(Incident).where(Incident.id == key)
    if for_update:
        statement = statement.with_for_update()
    incident = session.exec(statement).first()
    if incident is None:
        raise NotFound(f"no incident {key}", field="id")
    return incident


def component_names(session: Session, incident_id: int) -> list[str]:
    return list(
        session.exec(
            select(Component.name)
            .join(IncidentComponent, col(IncidentComponent.component_id) == col(Component.id))
            .where(col(IncidentComponent.incident_id) == incident_id)
            .order_by(col(Component.position))
        ).all()
    )


def list_incidents(*, session: Session, open_only: bool = False, limit: int = 50) -> Sequence[Incident]:
    statement = select(Incident).order_by(col(Incident.declared_at).desc(), col(Incident.id).desc()).limit(limit)
    if open_only:
        statement = statement.where(col(Incident.status).in_([s.value for s in OPEN_INCIDENT_STATUSES]))
    return session.exec(statement).all()


def timeline(*, session: Session, incident_id: int) -> Sequence[IncidentUpdate]:
    return session.exec(
        select(IncidentUpdate)
        .where(IncidentUpdate.incident_id == incident_id)
        .order_by(col(IncidentUpdate.created_at), col(IncidentUpdate.id))
    ).all()


def affected_components(*, session: Session, incident_id: int) -> Sequence[tuple[IncidentComponent, Component]]:
    return session.exec(
        select(IncidentComponent, Component)
        .join(Component, Component.id == IncidentComponent.component_id)  # type: ignore[arg-type]
        .where(IncidentComponent.incident_id == incident_id)
        .order_by(col(Component.position))
    ).all()


def count_open(*, session: Session) -> int:
    return session.exec(
        select(func.count()).select_from(Incident).where(col(Incident.status).in_([s.value for s in OPEN_INCIDENT_STATUSES]))
    ).one()


def audit_trail(*, session: Session, incident_id: int) -> Sequence[AuditEvent]:
    """Everything recorded about the incident, oldest first: its changes and what on-call did."""
    return session.exec(
        select(AuditEvent)
        .where(AuditEvent.subject_type == "incident", AuditEvent.subject_id == str(incident_id))
        .order_by(col(AuditEvent.at), col(AuditEvent.id))
    ).all()


def declaration_message(*, session: Session, incident_id: int) -> str | None:
    """What the incident was declared with: its first public update (the declaration's message,
    or the standard text when none was given)."""
    return session.exec(
        select(IncidentUpdate.body)
        .where(IncidentUpdate.incident_id == incident_id)
        .order_by(col(IncidentUpdate.id))
        .limit(1)
    ).first()
