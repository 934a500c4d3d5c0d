"""What the ``incident`` commands ask of the status page, and the plain records they get back.

Two backends answer: :class:`incident_cli.local.LocalBackend` (the database, through the service
layer) and :class:`incident_cli.remote.RemoteBackend` (the admin API of a running status page).
Both return the frozen dataclasses below, built from database rows or from the API's JSON, so
that one :class:`~incident_cli.render.Renderer` prints both, and a command reads nothing a
backend did not fill in.

Both backends import this module; the commands and the renderer only name its types, so that
``incident --help`` does not load it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Protocol

from statuspage.errors import UserError

if TYPE_CHECKING:
    from statuspage.domain.sla import TargetEvaluation

JSON = dict[str, Any]


@dataclass(frozen=True)
class SlaPause:
    """A span in which the incident's SLA clocks stood still; ``end`` is ``None`` while it lasts."""

    start: datetime
    end: datetime | None
    reason: str | None

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> SlaPause:
        """One recorded pause, ``{"start": iso, "end": iso | None, "reason": str, ...}``, as the
        database keeps it and the admin API sends it."""
        end = value.get("end")
        return cls(datetime.fromisoformat(str(value["start"])), datetime.fromisoformat(str(end)) if end else None, value.get("reason"))


@dataclass(frozen=True)
class IncidentSummary:
    """An incident's facts: what ``list``, ``show`` and the one-line confirmations print."""

    id: int
    title: str
    severity: int
    impact: str
    status: str
    commander: str | None
    declared_by: str
    detected_at: datetime
    declared_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    first_response_at: datetime | None
    mitigated_at: datetime | None
    resolved_at: datetime | None
    sla_pauses: tuple[SlaPause, ...]
    # Not on the status page: opened from an alert, or retracted (``incident publish`` shows it).
    internal: bool = False
    # The plan to resolve it (``incident plan``), and when a plan was first recorded.
    resolution_plan: str | None = None
    resolution_plan_at: datetime | None = None

    @property
    def open_pause(self) -> SlaPause | None:
        """The pause holding the SLA clocks now, if any (only the last may be open)."""
        last = self.sla_pauses[-1] if self.sla_pauses else None
        return last if last is not None and last.end is None else None


@dataclass(frozen=True)
class ComponentChange:
    """A component's shown status changing: ``code`` is the component's id, ``name`` what people read."""

    code: str
    name: str
    old_status: str
    new_status: str

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> ComponentChange:
        """``{"code", "name", "old_status", "new_status"}``, as the service layer records a change."""
        return cls(str(value["code"]), str(value["name"]), str(value["old_status"]), str(value["new_status"]))

    @classmethod
    def all_from_json(cls, values: Iterable[Mapping[str, Any]] | None) -> tuple[ComponentChange, ...]:
        return tuple(cls.from_json(value) for value in values or ())


@dataclass(frozen=True)
class UpdateRecord:
    """One entry of an incident's public timeline."""

    incident_id: int
    status: str
    body: str
    author: str
    created_at: datetime
    affected_components: tuple[ComponentChange, ...]
    edited_at: datetime | None = None  # when its text was last corrected


@dataclass(frozen=True)
class AffectedComponent:
    """A component an incident affects: the status the incident holds it at, and what it shows now."""

    name: str
    held_at: str
    status: str


@dataclass(frozen=True)
class AuditRecord:
    """Who did what to an incident, when (the audit log)."""

    at: datetime
    actor: str
    action: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


@dataclass(frozen=True)
class PageState:
    """A page nobody has acknowledged yet: to whom, through which contact, and what became of it
    (``delivery``: one line, e.g. "sent (ref 1712.55)", "failed: 550 no such user")."""

    owner: str
    tier: int | None
    contact_kind: str
    contact: str
    paged_at: datetime
    delivery_state: str
    delivery: str

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> PageState:
        """A page as the admin API's ``paging.paging_now`` lists it."""
        return cls(
            owner=str(value["owner"]),
            tier=value.get("tier"),
            contact_kind=str(value["contact_kind"]),
            contact=str(value["contact"]),
            paged_at=datetime.fromisoformat(str(value["paged_at"])),
            delivery_state=str(value["delivery"]["state"]),
            delivery=str(value["delivery"]["summary"]),
        )


@dataclass(frozen=True)
class EscalationState:
    """Where the paging stands: who is being paged now and how each page fared, and when the next
    escalation and the next public update are due (None: nothing is waiting)."""

    paging_now: tuple[PageState, ...] = ()
    next_escalation_at: datetime | None = None
    next_update_due_at: datetime | None = None

    @classmethod
    def from_json(cls, value: Mapping[str, Any] | None) -> EscalationState:
        if not value:
            return cls()

        def at(key: str) -> datetime | None:
            return datetime.fromisoformat(str(value[key])) if value.get(key) else None

        return cls(
            tuple(PageState.from_json(page) for page in value.get("paging_now") or ()),
            at("next_escalation_at"),
            at("next_update_due_at"),
        )


@dataclass(frozen=True)
class IncidentDetail:
    """What ``show`` prints: the incident, its timeline (oldest first), its components, its audit
    events, where it stands against its severity's SLA targets (empty when unknown), and where
    its paging stands."""

    incident: IncidentSummary
    updates: tuple[UpdateRecord, ...]
    components: tuple[AffectedComponent, ...]
    events: tuple[AuditRecord, ...]
    sla_targets: tuple[TargetEvaluation, ...]
    escalation: EscalationState = EscalationState()
    # The label of its root cause's category, when it has one.
    cause_category: str | None = None


@dataclass(frozen=True)
class ComponentRecord:
    id: str
    name: str
    status: str


@dataclass(frozen=True)
class MaintenanceRecord:
    id: int
    scheduled_for: datetime
    scheduled_until: datetime


@dataclass(frozen=True)
class MaintenanceStatus:
    """A maintenance's status after a change."""

    maintenance_id: int
    status: str


@dataclass(frozen=True)
class PageRecord:
    """One person a change paged: through a tier of the escalation matrix, or by name (``tier`` ``None``)."""

    tier: int | None
    owner: str


@dataclass(frozen=True)
class Paging:
    """Who a change paged, and when the next step runs unless someone acknowledges (``None``:
    nothing is waiting on an acknowledgement)."""

    pages: tuple[PageRecord, ...]
    next_step_at: datetime | None
    not_paged: tuple[str, ...] = ()  # not paged because they declared the incident

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> Paging:
        """``{"pages": [{"tier", "owner", ...}], "next_step_at": iso | None, "not_paged": [name]}``, as the admin API sends it."""
        at = value.get("next_step_at")
        pages = tuple(PageRecord(tier=p["tier"], owner=str(p["owner"])) for p in value["pages"])
        not_paged = tuple(str(name) for name in value.get("not_paged") or ())
        return cls(pages, datetime.fromisoformat(str(at)) if at else None, not_paged)


@dataclass(frozen=True)
class Declared:
    """A declared incident, who its playbook paged, and the problems of the playbook files that
    were skipped (the declaration goes ahead regardless)."""

    incident: IncidentSummary
    paging: Paging
    warnings: tuple[str, ...]


@dataclass(frozen=True)
class VisibilityChanged:
    """An incident retracted from the public or published to it, and the components that changed."""

    incident: IncidentSummary
    changes: tuple[ComponentChange, ...]


@dataclass(frozen=True)
class Escalated:
    incident_id: int
    tier: int
    paging: Paging


@dataclass(frozen=True)
class SeverityChanged:
    """The incident at its new severity; ``playbook`` names the one attached by the change, if any."""

    incident: IncidentSummary
    previous: int
    playbook: str | None
    paging: Paging


@dataclass(frozen=True)
class ActionRecord:
    """A remediation action item of a postmortem."""

    id: int
    incident_id: int
    title: str
    owner: str
    due_on: date
    status: str


@dataclass(frozen=True)
class PostmortemDocument:
    """An incident's postmortem as Markdown, its narrative sections as a new file has them (the
    command keeps what a person wrote in the file already there), and the file's name."""

    incident_id: int
    filename: str
    markdown: str


@dataclass(frozen=True)
class SlackSummaryQueued:
    line: str
    target: str


@dataclass(frozen=True)
class ReportText:
    """A monthly report rendered in one format; ``slack`` when its summary was queued for Slack."""

    month: str
    text: str
    slack: SlackSummaryQueued | None


def database_only(command: str) -> UserError:
    """The refusal of something that works on the database directly, asked through --server."""
    return UserError(f"{command} works on the database directly, not through --server; run it without --server or $STATUSPAGE_URL")


class Backend(Protocol):
    """What the commands need from the status page, wherever it runs.

    Times given as text are parsed by the command with :meth:`now` and :attr:`time_zone` (the
    page's), so both backends read '15m ago' and naive ISO times alike. Both implementations
    subclass this protocol, so that mypy holds them to these signatures.
    """

    @property
    def time_zone(self) -> str: ...

    def now(self) -> datetime: ...

    def incident_url(self, incident_id: int) -> str: ...

    def declare(
        self,
        *,
        severity: str,
        title: str,
        components: dict[str, str | None],
        message: str | None,
        commander: str | None,
        detected_at: datetime | None,
        impact: str | None,
        playbook: str | None = None,
        page_me: bool = False,
    ) -> Declared:
        """``page_me``: page the person declaring too (by default they are not paged for it)."""
        ...

    def post_update(
        self,
        *,
        incident_id: str,
        message: str | None,
        status: str | None,
        components: dict[str, str | None],
        at: datetime | None,
    ) -> UpdateRecord: ...

    def resolve(self, *, incident_id: str, message: str | None, at: datetime | None) -> UpdateRecord: ...

    def reopen(self, *, incident_id: str, message: str | None, status: str) -> UpdateRecord: ...

    def edit_title(self, *, incident_id: str, title: str) -> IncidentSummary: ...

    def edit_update(self, *, incident_id: str, number: int, message: str) -> UpdateRecord:
        """Correct the ``number``-th update of the timeline (1 = the first)."""
        ...

    def retract(self, *, incident_id: str, reason: str) -> VisibilityChanged: ...

    def publish(self, *, incident_id: str) -> VisibilityChanged: ...

    def acknowledge(self, *, incident_id: str, by: str) -> tuple[IncidentSummary, bool]:
        """The incident, and whether this call acknowledged it (``False``: somebody already had)."""
        ...

    def hand_over(self, *, incident_id: str, to: str) -> IncidentSummary: ...

    def pause_sla(self, *, incident_id: str, reason: str) -> IncidentSummary: ...

    def resume_sla(self, *, incident_id: str) -> IncidentSummary: ...

    def record_plan(self, *, incident_id: str, plan: str) -> IncidentSummary:
        """Record (or revise) the open incident's resolution plan."""
        ...

    def record_root_cause(
        self, *, incident_id: str, root_cause: str | None, remediation: str | None, category: str | None = None
    ) -> IncidentSummary: ...

    def escalate(self, *, incident_id: str, to_tier: int | None) -> Escalated: ...

    def change_severity(self, *, incident_id: str, severity: str, components: dict[str, str | None] | None = None) -> SeverityChanged:
        """``severity`` as typed (``1``, ``sev1``, ``P1``): the service layer reads it, and refuses it in its words.
        ``components``: statuses to set with the change (``None``: what the new severity implies)."""
        ...

    def record_analysis(
        self,
        *,
        incident_id: str,
        root_cause: str | None,
        remediation: str | None,
        factors: Sequence[str],
        whys: Sequence[str],
        detection_gap: str | None,
        response_gap: str | None,
        category: str | None = None,
    ) -> IncidentSummary:
        """Everything ``rca`` records, in one transaction: all of it or nothing."""
        ...

    def add_action(self, *, incident_id: str, title: str, owner: str, due: str) -> ActionRecord: ...

    def list_actions(self, *, open_only: bool, overdue: bool) -> Sequence[ActionRecord]:
        """Earliest due first; ``overdue``: open ones due before today in the page's time zone."""
        ...

    def complete_action(self, *, action_id: str) -> ActionRecord: ...

    def postmortem(self, *, incident_id: str, publish: bool) -> PostmortemDocument:
        """The postmortem rendered now; ``publish`` first marks it published."""
        ...

    def monthly_report(self, *, month: str, fmt: str, post: bool) -> ReportText:
        """The report of ``month`` (``YYYY-MM``) in ``fmt``; ``post`` also queues its summary for Slack."""
        ...

    def list_incidents(self, *, open_only: bool, limit: int) -> Sequence[IncidentSummary]: ...

    def incidents_json(self, *, open_only: bool, limit: int) -> list[JSON]:
        """The incidents as Statuspage v2 objects, as ``list --json`` prints them."""
        ...

    def incident_json(self, incident_id: str | int) -> JSON: ...

    def incident_detail(self, incident_id: str) -> IncidentDetail: ...

    def list_components(self) -> Sequence[ComponentRecord]: ...

    def set_component_status(self, *, component_id: str, status: str) -> Sequence[ComponentChange]: ...

    def schedule_maintenance(
        self,
        *,
        title: str,
        components: list[str],
        scheduled_for: datetime,
        scheduled_until: datetime,
        message: str | None,
    ) -> MaintenanceRecord: ...

    def set_maintenance_status(self, *, maintenance_id: str, status: str, message: str | None) -> MaintenanceStatus: ...

    def close(self) -> None: ...
