"""Every table, in one metadata, so that Alembic sees the whole schema.

Times are timezone-aware UTC (see :class:`UTCDateTime`). Enumerated values are stored as their
string values, checked by the service layer, so adding a value needs no type migration.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Index, false
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
    # The key signing one-click acknowledgement links when STATUSPAGE_SECRET_KEY is not set:
    # generated once, on first need (statuspage.incidents.ack_links).
    secret_key: str | None = Field(default=None, max_length=128)


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
    # The id of its cause category (``causes:`` in statuspage.yaml), recorded with the root cause.
    root_cause_category: str | None = Field(default=None, max_length=64)
    # Spans in which the SLA clocks stood still (waiting on the customer), oldest first:
    # ``{"start": iso, "end": iso | None, "reason": str, "by": str}``; only the last may be open.
    sla_pauses: list[dict[str, str | None]] | None = Field(default=None, sa_type=JSON)
    # Opened from an alert and not yet published: seen by responders (on-call, Slack, the CLI and
    # the admin API), never by the public (pages, feeds, the v2 API, webhooks, component status).
    internal: bool = Field(default=False, sa_column_kwargs={"server_default": false()})
    # The plan to resolve it (``incident plan``), and when a plan was first recorded: the moment
    # that stops the severity's ``resolution_plan`` clock (a revised plan keeps that time).
    resolution_plan: str | None = Field(default=None)
    resolution_plan_at: datetime | None = _time(nullable=True)
    # The escalation matrix (owners, contacts, notification rules, acknowledgement times) as it
    # was when the incident was declared: what a playbook attached later (a raise) runs on.
    escalation_matrix: dict[str, Any] | None = Field(default=None, sa_type=JSON)


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
    # When its text was last corrected (``incident edit --update``); shown as "edited" in public.
    edited_at: datetime | None = _time(nullable=True)


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
    scope: str = Field(max_length=16)  # "read", "write" or "alerts"
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
        # Each lane of the worker claims its own channels, oldest first.
        Index("ix_outbox_message_lane", "channel", "state", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    delivery_id: str = Field(max_length=64, unique=True)
    channel: str = Field(max_length=16)  # "webhook", "slack"
    target: str = Field(max_length=200)  # subscriber id, Slack channel ...
    ordering_key: str = Field(max_length=200)
    event: str = Field(max_length=64)
    payload: dict[str, Any] = Field(sa_type=JSON)
    state: str = Field(default="pending", max_length=16)  # pending, delivered, dead
    # Failed attempts, counted against the retry policy's limit; ``waits`` counts the times the
    # receiver was rate-limiting or unreachable, which never count against it.
    attempts: int = Field(default=0)
    waits: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    created_at: datetime = _time()
    next_attempt_at: datetime = _time()
    claimed_until: datetime | None = _time(nullable=True)
    delivered_at: datetime | None = _time(nullable=True)
    last_error: str | None = Field(default=None, max_length=2000)
    result: dict[str, Any] | None = Field(default=None, sa_type=JSON)


class EscalationRun(SQLModel, table=True):
    """The playbook running for an incident, frozen when it was attached (with the escalation
    matrix in force then), and the state of its escalation. One row per incident; every change
    to it happens under a row lock, so a timer and an acknowledgement cannot both win."""

    __tablename__ = "escalation_run"

    incident_id: int = Field(foreign_key="incident.id", primary_key=True)
    playbook_name: str = Field(max_length=100)
    severity: int
    playbook: dict[str, Any] = Field(sa_type=JSON)
    matrix: dict[str, Any] = Field(sa_type=JSON)
    state: dict[str, Any] = Field(sa_type=JSON)
    version: int = Field(default=0)
    started_at: datetime = _time()
    updated_at: datetime = _time()


class Timer(SQLModel, table=True):
    """A durable timer: an acknowledgement deadline, a reminder, a digest. Fired once by whichever
    worker claims it first; ``key`` names what it is for, so a stale timer is recognised."""

    __tablename__ = "timer"
    __table_args__ = (
        Index("ix_timer_due", "state", "due_at"),
        Index("ix_timer_incident_key", "incident_id", "key", unique=True),
    )

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int | None = Field(default=None, foreign_key="incident.id")
    kind: str = Field(max_length=32)  # ack_timeout, reminder, digest ...
    key: str = Field(max_length=200)
    due_at: datetime = _time()
    state: str = Field(default="pending", max_length=16)  # pending, fired, cancelled
    claimed_until: datetime | None = _time(nullable=True)
    fired_at: datetime | None = _time(nullable=True)
    created_at: datetime = _time()
    payload: dict[str, Any] | None = Field(default=None, sa_type=JSON)


class PageSent(SQLModel, table=True):
    """One person paged for an incident: by which step, through which contact, and when (and
    whether) they acknowledged. The source for time-to-acknowledge per tier."""

    __tablename__ = "page"
    __table_args__ = (Index("ix_page_incident", "incident_id", "paged_at"),)

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incident.id")
    step: int
    loop: int = Field(default=0)
    tier: int | None = Field(default=None)
    owner: str = Field(max_length=200)
    contact_kind: str = Field(max_length=16)  # slack_user, slack_channel, phone, email
    contact: str = Field(max_length=200)
    paged_at: datetime = _time()
    acknowledged_at: datetime | None = _time(nullable=True)
    acknowledged_by: str | None = Field(default=None, max_length=200)
    # Whether the page reached the person: queued until its channel answers, then sent (with the
    # provider's id for it: a Slack ts, an SMTP queue id) or failed (with the provider's answer);
    # not_sent when no channel could carry it (a phone contact, Slack switched off, a page that
    # became moot first; delivery_error says which). Pages recorded before delivery was tracked
    # read "unknown". See statuspage.oncall.delivery.
    delivery_state: str = Field(default="queued", max_length=16)
    delivery_ref: str | None = Field(default=None, max_length=200)
    delivery_error: str | None = Field(default=None)
    delivery_at: datetime | None = _time(nullable=True)
    # When the page's one-click acknowledgement link was used (it works once).
    ack_link_used_at: datetime | None = _time(nullable=True)


class SlackThread(SQLModel, table=True):
    """The headline message of an incident in a Slack channel, once Slack has given it a ts."""

    __tablename__ = "slack_thread"

    incident_id: int = Field(foreign_key="incident.id", primary_key=True)
    channel: str = Field(primary_key=True, max_length=100)
    channel_id: str | None = Field(default=None, max_length=100)
    ts: str = Field(max_length=64)
    created_at: datetime = _time()
    updated_at: datetime = _time()


class SlackChannelState(SQLModel, table=True):
    """A channel Slack has rate-limited is backed off as a whole, by every worker."""

    __tablename__ = "slack_channel_state"

    channel: str = Field(primary_key=True, max_length=100)
    blocked_until: datetime | None = _time(nullable=True)
    updated_at: datetime = _time()


class Postmortem(SQLModel, table=True):
    """The analysis of one incident beyond its public root cause: why it happened (a chain of
    whys, most immediate first), what detection and response missed, and whether it is published."""

    __tablename__ = "postmortem"

    incident_id: int = Field(foreign_key="incident.id", primary_key=True)
    why_chain: list[str] | None = Field(default=None, sa_type=JSON)
    detection_gap: str | None = Field(default=None)
    response_gap: str | None = Field(default=None)
    published_at: datetime | None = _time(nullable=True)
    published_by: str | None = Field(default=None, max_length=200)
    created_at: datetime = _time()
    updated_at: datetime = _time()


class ContributingFactor(SQLModel, table=True):
    """Something that made an incident possible or worse, beside its root cause."""

    __tablename__ = "contributing_factor"

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incident.id", index=True)
    text: str
    created_at: datetime = _time()
    author: str = Field(max_length=200)


class ActionItem(SQLModel, table=True):
    """A remediation task from a postmortem: who does what by when. ``status`` is open or done."""

    __tablename__ = "action_item"
    __table_args__ = (Index("ix_action_item_status_due", "status", "due_on"),)

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incident.id", index=True)
    title: str = Field(max_length=200)
    owner: str = Field(max_length=200)
    due_on: date
    status: str = Field(default="open", max_length=16)
    created_at: datetime = _time()
    done_at: datetime | None = _time(nullable=True)


class AlertRequest(SQLModel, table=True):
    """One request from monitoring, stored before it is answered, so that a retry is recognised
    (the same ``dedupe_key`` within the dedupe window) and answered with the first one's ``result``."""

    __tablename__ = "alert_request"
    __table_args__ = (Index("ix_alert_request_dedupe", "dedupe_key", "received_at"),)

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=16)  # alertmanager, grafana, generic
    received_at: datetime = _time(index=True)
    token_name: str | None = Field(default=None, max_length=100)
    dedupe_key: str = Field(max_length=64)
    body: dict[str, Any] = Field(sa_type=JSON)
    duplicate_of: int | None = Field(default=None, foreign_key="alert_request.id")
    result: dict[str, Any] | None = Field(default=None, sa_type=JSON)


class Alert(SQLModel, table=True):
    """One alert from monitoring, from its first firing to its resolution, and the incident it
    opened or joined. ``held_component``: the component its rule set while it fires, the status
    set (``component_status``) and the one to restore (``component_restore``)."""

    __tablename__ = "alert"
    __table_args__ = (
        Index("ix_alert_source_fingerprint", "source", "fingerprint"),
        Index("ix_alert_source_group", "source", "group_key"),
        Index("ix_alert_rule_opened", "rule", "opened_incident", "first_received_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=16)
    fingerprint: str = Field(max_length=200)
    group_key: str | None = Field(default=None, max_length=600)
    status: str = Field(max_length=16, index=True)  # firing, resolved
    title: str = Field(max_length=200)
    labels: dict[str, str] = Field(sa_type=JSON)
    annotations: dict[str, str] = Field(sa_type=JSON)
    starts_at: datetime | None = _time(nullable=True)
    ends_at: datetime | None = _time(nullable=True)
    generator_url: str | None = Field(default=None, max_length=2000)
    incident_id: int | None = Field(default=None, foreign_key="incident.id", index=True)
    rule: str | None = Field(default=None, max_length=100)
    opened_incident: bool = Field(default=False)
    held_component: str | None = Field(default=None, max_length=64)
    component_status: str | None = Field(default=None, max_length=32)
    component_restore: str | None = Field(default=None, max_length=32)
    first_received_at: datetime = _time()
    last_received_at: datetime = _time()
    resolved_at: datetime | None = _time(nullable=True)


# The subscription, account and KPI tables live beside these, on the same metadata.
from statuspage.db.account_models import Account, KpiValue  # noqa: E402
from statuspage.db.subscriber_models import (  # noqa: E402
    SubscribeAttempt,
    Subscriber,
    SubscriberComponent,
    SubscriberNotice,
)

__all__ = [
    "Account",
    "KpiValue",
    "SubscribeAttempt",
    "Subscriber",
    "SubscriberComponent",
    "SubscriberNotice",
    "Alert",
    "AlertRequest",
    "ActionItem",
    "ContributingFactor",
    "Postmortem",
    "EscalationRun",
    "PageSent",
    "SlackChannelState",
    "SlackThread",
    "Timer",
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
