"""Every table, in one metadata, so that Alembic sees the whole schema.

Times are timezone-aware UTC (see :class:`UTCDateTime`). Enumerated values are stored as their
string values, checked by the service layer, so adding a value needs no type migration.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index
from sqlmodel import Field, SQLModel

from statuspage.db.types import UTCDateTime


def _time(*, nullable: bool = False, index: bool = False) -> Any:
    return Field(default=None, sa_type=UTCDateTime, nullable=nullable, index=index)


class SiteState(SQLModel, table=True):
    """One row. ``data_version`` goes up in every write transaction; page caches key on it."""

    __tablename__ = "site_state"

    id: int = Field(default=1, primary_key=True)
    data_version: int = Field(default=0)
    config_hash: str = Field(default="", max_length=64)
    updated_at: datetime | None = _time(nullable=True)


class ComponentGroup(SQLModel, table=True):
    __tablename__ = "component_group"

    id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=200)
    description: str | None = Field(default=None)
    position: int = Field(default=0)
    archived: bool = Field(default=False)
    created_at: datetime = _time()
    updated_at: datetime = _time()


class Component(SQLModel, table=True):
    __tablename__ = "component"

    id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=200)
    description: str | None = Field(default=None)
    group_id: str | None = Field(default=None, foreign_key="component_group.id", max_length=64)
    position: int = Field(default=0)
    # What is shown: the worst of base_status, the open incidents holding it and maintenance.
    status: str = Field(default="operational", max_length=32)
    # What an operator set by hand, outside any incident.
    base_status: str = Field(default="operational", max_length=32)
    showcase: bool = Field(default=True)
    only_show_if_degraded: bool = Field(default=False)
    archived: bool = Field(default=False)
    created_at: datetime = _time()
    updated_at: datetime = _time()


class ComponentStatusChange(SQLModel, table=True):
    """Every change of a component's shown status: the source for uptime."""

    __tablename__ = "component_status_change"
    __table_args__ = (Index("ix_component_status_change_component_at", "component_id", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    component_id: str = Field(foreign_key="component.id", max_length=64)
    old_status: str = Field(max_length=32)
    new_status: str = Field(max_length=32)
    at: datetime = _time()
    incident_id: int | None = Field(default=None, foreign_key="incident.id")
    maintenance_id: int | None = Field(default=None, foreign_key="maintenance.id")


class Incident(SQLModel, table=True):
    __tablename__ = "incident"

    id: int | None = Field(default=None, primary_key=True)
    title: str = Field(max_length=200)
    severity: int = Field(index=True)
    impact: str = Field(max_length=16)
    status: str = Field(max_length=16, index=True)
    commander: str | None = Field(default=None, max_length=200)
    declared_by: str = Field(max_length=200)
    detected_at: datetime = _time()
    declared_at: datetime = _time(index=True)
    acknowledged_at: datetime | None = _time(nullable=True)
    acknowledged_by: str | None = Field(default=None, max_length=200)
    first_response_at: datetime | None = _time(nullable=True)
    mitigated_at: datetime | None = _time(nullable=True)
    resolved_at: datetime | None = _time(nullable=True, index=True)
    updated_at: datetime = _time()
    # The public root-cause summary and remediation, published with any SLA breach.
    root_cause: str | None = Field(default=None)
    remediation: str | None = Field(default=None)


class IncidentUpdate(SQLModel, table=True):
    """One entry of the public timeline."""

    __tablename__ = "incident_update"
    __table_args__ = (Index("ix_incident_update_incident_at", "incident_id", "created_at"),)

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incident.id")
    status: str = Field(max_length=16)
    body: str
    author: str = Field(max_length=200)
    created_at: datetime = _time()
    affected_components: list[dict[str, str]] | None = Field(default=None, sa_type=JSON)


class IncidentComponent(SQLModel, table=True):
    """A component an incident affects, and the status the incident holds it at while open."""

    __tablename__ = "incident_component"

    incident_id: int = Field(foreign_key="incident.id", primary_key=True)
    component_id: str = Field(foreign_key="component.id", primary_key=True, max_length=64)
    status: str = Field(max_length=32)
    added_at: datetime = _time()


class Maintenance(SQLModel, table=True):
    __tablename__ = "maintenance"

    id: int | None = Field(default=None, primary_key=True)
    title: str = Field(max_length=200)
    status: str = Field(max_length=16, index=True)
    scheduled_for: datetime = _time(index=True)
    scheduled_until: datetime = _time()
    created_by: str = Field(max_length=200)
    created_at: datetime = _time()
    updated_at: datetime = _time()
    started_at: datetime | None = _time(nullable=True)
    completed_at: datetime | None = _time(nullable=True)


class MaintenanceUpdate(SQLModel, table=True):
    __tablename__ = "maintenance_update"

    id: int | None = Field(default=None, primary_key=True)
    maintenance_id: int = Field(foreign_key="maintenance.id", index=True)
    status: str = Field(max_length=16)
    body: str
    author: str = Field(max_length=200)
    created_at: datetime = _time()


class MaintenanceComponent(SQLModel, table=True):
    __tablename__ = "maintenance_component"

    maintenance_id: int = Field(foreign_key="maintenance.id", primary_key=True)
    component_id: str = Field(foreign_key="component.id", primary_key=True, max_length=64)


class AuditEvent(SQLModel, table=True):
    """Who changed what, from where, when; written in the same transaction as the change."""

    __tablename__ = "audit_event"
    __table_args__ = (Index("ix_audit_event_subject", "subject_type", "subject_id"),)

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = _time(index=True)
    actor: str = Field(max_length=200)
    source: str = Field(max_length=16)
    action: str = Field(max_length=64)
    subject_type: str = Field(max_length=32)
    subject_id: str = Field(max_length=64)
    before: dict[str, Any] | None = Field(default=None, sa_type=JSON)
    after: dict[str, Any] | None = Field(default=None, sa_type=JSON)


class ApiToken(SQLModel, table=True):
    """A bearer token for the admin API. Only the SHA-256 of the secret is kept."""

    __tablename__ = "api_token"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, unique=True)
    scope: str = Field(max_length=16)  # "read" or "write"
    token_hash: str = Field(max_length=64, unique=True)
    prefix: str = Field(max_length=16)  # the first characters, shown in listings to tell tokens apart
    created_by: str = Field(max_length=200)
    created_at: datetime = _time()
    last_used_at: datetime | None = _time(nullable=True)
    revoked_at: datetime | None = _time(nullable=True)


class WebhookSubscriber(SQLModel, table=True):
    """Someone who wants every incident and maintenance change POSTed to a URL."""

    __tablename__ = "webhook_subscriber"

    id: int | None = Field(default=None, primary_key=True)
    url: str = Field(max_length=2000)
    secret: str = Field(max_length=200)
    description: str = Field(default="", max_length=200)
    created_by: str = Field(max_length=200)
    created_at: datetime = _time()
    disabled_at: datetime | None = _time(nullable=True)


class OutboxMessage(SQLModel, table=True):
    """A message to deliver outside (a webhook POST, a Slack call), written in the same transaction
    as the change that causes it and delivered afterwards by a worker.

    ``ordering_key`` groups messages that must arrive in order (one incident to one receiver): a
    message is not attempted while an older one with the same key is still undelivered.
    """

    __tablename__ = "outbox_message"
    __table_args__ = (
        Index("ix_outbox_message_due", "state", "next_attempt_at"),
        Index("ix_outbox_message_ordering", "ordering_key", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    delivery_id: str = Field(max_length=64, unique=True)
    channel: str = Field(max_length=16)  # "webhook", "slack"
    target: str = Field(max_length=200)  # subscriber id, Slack channel ...
    ordering_key: str = Field(max_length=200)
    event: str = Field(max_length=64)
    payload: dict[str, Any] = Field(sa_type=JSON)
    state: str = Field(default="pending", max_length=16)  # pending, delivered, dead
    attempts: int = Field(default=0)
    created_at: datetime = _time()
    next_attempt_at: datetime = _time()
    claimed_until: datetime | None = _time(nullable=True)
    delivered_at: datetime | None = _time(nullable=True)
    last_error: str | None = Field(default=None, max_length=2000)
    result: dict[str, Any] | None = Field(default=None, sa_type=JSON)


__all__ = [
    "ApiToken",
    "OutboxMessage",
    "WebhookSubscriber",
    "AuditEvent",
    "Component",
    "ComponentGroup",
    "ComponentStatusChange",
    "Incident",
    "IncidentComponent",
    "IncidentUpdate",
    "Maintenance",
    "MaintenanceComponent",
    "MaintenanceUpdate",
    "SiteState",
]
