"""Components: kept in step with the configuration, and their shown status."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from statuspage.audit.actions import AuditAction
from statuspage.context import WriteContext, write
from statuspage.db.models import (
    Component,
    ComponentGroup,
    ComponentStatusChange,
    Incident,
    IncidentComponent,
    Maintenance,
    MaintenanceComponent,
    SiteState,
)
from statuspage.domain.enums import OPEN_INCIDENT_STATUSES, ComponentStatus, MaintenanceStatus
from statuspage.domain.status import effective_component_status
from statuspage.errors import InvalidInput, NotFound
from statuspage.settings import Config

ACTIVE_MAINTENANCE = tuple(s.value for s in MaintenanceStatus if s.is_active)


def config_fingerprint(config: Config) -> str:
    payload = {
        "groups": [g.model_dump(mode="json") for g in config.component_groups],
        "components": [c.model_dump(mode="json") for c in config.components],
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def needs_sync(*, session: Session, config: Config) -> bool:
    state = session.get(SiteState, 1)
    return state is None or state.config_hash != config_fingerprint(config)


@write
def sync_from_config(*, ctx: WriteContext) -> list[str]:
    """Create, update and archive components and groups so the database matches the config.

    Archived rows stay for history (uptime, past incidents) but are no longer shown.
    Returns a line per change, for the operator.
    """
    session, config, at = ctx.session, ctx.config, ctx.now()
    changes: list[str] = []
    groups = {g.id: g for g in session.exec(select(ComponentGroup)).all()}
    for position, wanted in enumerate(config.component_groups):
        row = groups.pop(wanted.id, None)
        values: dict[str, Any] = {"name": wanted.name, "description": wanted.description, "position": position, "archived": False}
        if row is None:
            session.add(ComponentGroup(id=wanted.id, created_at=at, updated_at=at, **values))
            ctx.audit(action=AuditAction.COMPONENT_GROUP_CREATE, subject_type="component_group", subject_id=wanted.id, at=at, after=values)
            changes.append(f"added group {wanted.id}")
        elif _differs(row, values):
            before = {k: getattr(row, k) for k in values}
            for key, value in values.items():
                setattr(row, key, value)
            row.updated_at = at
            ctx.audit(action=AuditAction.COMPONENT_GROUP_UPDATE, subject_type="component_group", subject_id=row.id, at=at, before=before, after=values)
            changes.append(f"updated group {row.id}")
    for row in groups.values():
        if not row.archived:
            row.archived = True
            row.updated_at = at
            ctx.audit(action=AuditAction.COMPONENT_GROUP_ARCHIVE, subject_type="component_group", subject_id=row.id, at=at)
            changes.append(f"archived group {row.id}")
    session.flush()

    components = {c.id: c for c in session.exec(select(Component)).all()}
    for position, wanted_component in enumerate(config.components):
        existing = components.pop(wanted_component.id, None)
        values = {
            "name": wanted_component.name,
            "description": wanted_component.description,
            "group_id": wanted_component.group,
            "position": position,
            "showcase": wanted_component.showcase,
            "only_show_if_degraded": wanted_component.only_show_if_degraded,
            "archived": False,
        }
        if existing is None:
            session.add(Component(id=wanted_component.id, created_at=at, updated_at=at, **values))
            ctx.audit(action=AuditAction.COMPONENT_CREATE, subject_type="component", subject_id=wanted_component.id, at=at, after=values)
            changes.append(f"added component {wanted_component.id}")
        elif _differs(existing, values):
            before = {k: getattr(existing, k) for k in values}
            for key, value in values.items():
                setattr(existing, key, value)
            existing.updated_at = at
            ctx.audit(action=AuditAction.COMPONENT_UPDATE, subject_type="component", subject_id=existing.id, at=at, before=before, after=values)
            changes.append(f"updated component {existing.id}")
    for existing in components.values():
        if not existing.archived:
            existing.archived = True
            existing.updated_at = at
            ctx.audit(action=AuditAction.COMPONENT_ARCHIVE, subject_type="component", subject_id=existing.id, at=at)
            changes.append(f"archived component {existing.id}")
    state = session.get(SiteState, 1)
    if state is not None:
        state.config_hash = config_fingerprint(config)
    return changes


def _differs(row: object, values: Mapping[str, object]) -> bool:
    return any(getattr(row, key) != value for key, value in values.items())


def get_components(*, session: Session, ids: Iterable[str]) -> list[Component]:
    """The named, shown components, or a :class:`NotFound` naming the first unknown one."""
    wanted = list(dict.fromkeys(ids))
    rows = {c.id: c for c in session.exec(select(Component).where(col(Component.id).in_(wanted))).all()}
    for component_id in wanted:
        row = rows.get(component_id)
        if row is None or row.archived:
            known = ", ".join(c.id for c in session.exec(select(Component).where(Component.archived == False).order_by(col(Component.position))).all())  # noqa: E712
            raise NotFound(f"unknown component {component_id!r} (known: {known})", field="components")
    return [rows[i] for i in wanted]


def parse_status(value: str, *, field: str = "status") -> ComponentStatus:
    try:
        return ComponentStatus(value)
    except ValueError:
        allowed = ", ".join(s.value for s in ComponentStatus)
        raise InvalidInput(f"{value!r} is not a component status ({allowed})", field=field) from None


def refresh_statuses(
    *,
    session: Session,
    component_ids: Iterable[str],
    at: datetime,
    incident_id: int | None = None,
    maintenance_id: int | None = None,
) -> list[dict[str, str]]:
    """Recompute the shown status of these components; record and return every change."""
    session.flush()
    changes: list[dict[str, str]] = []
    for component_id in sorted(set(component_ids)):
        component = session.get(Component, component_id)
        if component is None:
            continue
        held = session.exec(
            select(IncidentComponent.status)
            .join(Incident, Incident.id == IncidentComponent.incident_id)  # type: ignore[arg-type]
            .where(IncidentComponent.component_id == component_id)
            .where(Incident.status.in_([s.value for s in OPEN_INCIDENT_STATUSES]))  # type: ignore[attr-defined]
            .where(col(Incident.internal).is_(False))  # an internal incident holds nothing in public
        ).all()
        in_maintenance = (
            session.exec(
                select(MaintenanceComponent.maintenance_id)
                .join(Maintenance, Maintenance.id == MaintenanceComponent.maintenance_id)  # type: ignore[arg-type]
                .where(MaintenanceComponent.component_id == component_id)
                .where(Maintenance.status.in_(ACTIVE_MAINTENANCE))  # type: ignore[attr-defined]
            ).first()
            is not None
        )
        new = effective_component_status(
            base=ComponentStatus(component.base_status),
            held_by_incidents=[ComponentStatus(s) for s in held],
            in_maintenance=in_maintenance,
        )
        if new.value != component.status:
            change = {"code": component.id, "name": component.name, "old_status": component.status, "new_status": new.value}
            row = ComponentStatusChange(
                component_id=component.id,
                old_status=component.status,
                new_status=new.value,
                at=at,
                incident_id=incident_id,
                maintenance_id=maintenance_id,
            )
            session.add(row)
            writing = session.info.get("in_write")
            if writing is not None:
                writing.component_changes.append(row)
            component.status = new.value
            component.updated_at = at
            changes.append(change)
    return changes


@write
def set_status(*, ctx: WriteContext, component_id: str, status: str) -> list[dict[str, str]]:
    """Set a component's own status, outside any incident. Open incidents still hold theirs."""
    (component,) = get_components(session=ctx.session, ids=[component_id])
    new = parse_status(status)
    at = ctx.now()
    before = component.base_status
    component.base_status = new.value
    changes = refresh_statuses(session=ctx.session, component_ids=[component.id], at=at)
    ctx.audit(
        action=AuditAction.COMPONENT_SET_STATUS,
        subject_type="component",
        subject_id=component.id,
        at=at,
        before={"base_status": before},
        after={"base_status": new.value, "status": component.status},
    )
    return changes


def list_components(*, session: Session) -> Sequence[Component]:
    return session.exec(select(Component).where(Component.archived == False).order_by(col(Component.position))).all()  # noqa: E712
