"""What goes into the escalation state machine and what comes out of it: the events it is fed,
and the actions it returns for the engine to perform, in order (see
:mod:`statuspage.domain.escalation`). Plain frozen values, compared by value in tests and
simulations.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

__all__ = [
    "Acknowledged",
    "Action",
    "CancelTimer",
    "EscalateRequested",
    "Escalated",
    "Event",
    "Exhausted",
    "NotifyChannel",
    "Page",
    "PageSkipped",
    "PostUpdate",
    "RemindCommander",
    "Resolved",
    "ScheduleTimer",
    "SetComponent",
    "SlackPost",
    "Started",
    "TimerFired",
]


# --- events --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Started:
    """The playbook was attached: on declare, or again when the severity was raised.
    ``not_paging``: a person the program is never to page (the one who declared the incident);
    ``None`` keeps whoever the state already names."""

    at: datetime
    not_paging: str | None = None


@dataclass(frozen=True, slots=True)
class TimerFired:
    key: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Acknowledged:
    by: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Resolved:
    at: datetime


@dataclass(frozen=True, slots=True)
class EscalateRequested:
    """A person asked to escalate now (``incident escalate ID [--to-tier N]``). Addition to the
    contract: without ``to_tier``, the next tier above the last one paged."""

    at: datetime
    by: str = ""
    to_tier: int | None = None


Event = Started | TimerFired | Acknowledged | Resolved | EscalateRequested


# --- actions -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Page:
    """Page one owner through one contact. ``tier`` is None when the step named the owner;
    ``step`` is -1 for a manual escalation outside the playbook's steps. ``by_rule`` is the delay
    (``"2m"``) of the owner's notification rule that sent it later than the step; None when the
    page went out with the step."""

    step: int
    loop: int
    tier: int | None
    owner: str
    contact_kind: str
    contact: str
    by_rule: str | None = None


@dataclass(frozen=True, slots=True)
class PageSkipped:
    """A page not sent: ``owner`` is the person the incident is not to page (who declared it)."""

    step: int
    loop: int
    tier: int | None
    owner: str


@dataclass(frozen=True, slots=True)
class NotifyChannel:
    """Tell a tier's notify channel (``#oncall``) that the tier is being paged."""

    step: int
    channel: str
    tier: int
    contact_kind: str = "slack_channel"


@dataclass(frozen=True, slots=True)
class ScheduleTimer:
    key: str
    due_at: datetime
    kind: str  # "ack_timeout" | "reminder" | "contact_rule"


@dataclass(frozen=True, slots=True)
class CancelTimer:
    key: str


@dataclass(frozen=True, slots=True)
class Escalated:
    from_tier: int | None
    to_tier: int
    reason: str  # "no acknowledgement within 5m" | "manual"


@dataclass(frozen=True, slots=True)
class PostUpdate:
    status: str | None
    body: str


@dataclass(frozen=True, slots=True)
class SetComponent:
    component: str
    status: str


@dataclass(frozen=True, slots=True)
class SlackPost:
    channel: str | None  # None: the configured incidents channel
    text: str


@dataclass(frozen=True, slots=True)
class RemindCommander:
    """Remind the incident commander to post a public update (due now)."""

    due_at: datetime
    update_every: str = ""


@dataclass(frozen=True, slots=True)
class Exhausted:
    """The playbook ran out of steps and nobody has acknowledged."""

    paged_tiers: tuple[int, ...] = ()


Action = (
    Page
    | PageSkipped
    | NotifyChannel
    | ScheduleTimer
    | CancelTimer
    | Escalated
    | PostUpdate
    | SetComponent
    | SlackPost
    | RemindCommander
    | Exhausted
)
