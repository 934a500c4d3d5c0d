"""The admin API's request bodies and query strings, as pydantic models: unknown fields are
refused, and text fields follow the rules of :mod:`statuspage.validators`, in its words."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from statuspage import validators
from statuspage.domain.enums import INCIDENT_IMPACTS, ComponentStatus
from statuspage.domain.months import read_month
from statuspage.reports.render import FORMATS as REPORT_FORMATS


def _no_control(value: str) -> str:
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise PydanticCustomError("control_characters", "must not contain control characters")
    return value


def _moment(value: datetime) -> datetime:
    """Keep times where every time zone can show them: near the ends of the calendar, converting
    to the page's zone would overflow on every later read."""
    try:
        year = value.astimezone(UTC).year
    except OverflowError:
        year = 0
    if not 1970 <= year < 9000:
        raise PydanticCustomError("time_range", "must be between the years 1970 and 9000")
    return value


def _checked(check: Callable[[str], object]) -> AfterValidator:
    """A rule of :mod:`statuspage.validators`, which the service layer and the command lines apply
    too: the same input is refused with the same words (``field: problem``) through every door.
    The value goes on as sent; the service layer trims it."""

    def run(value: str) -> str:
        try:
            check(value)
        except validators.Refused as exc:
            raise PydanticCustomError("text", "{problem}", {"problem": exc.problem}) from None
        return value

    return AfterValidator(run)


def _one_of(value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise PydanticCustomError("not_one_of", "must be one of {allowed}", {"allowed": ", ".join(allowed)})
    return value


def _max_length(limit: int) -> Any:
    # Documented for clients; enforced by the rule itself, so that its words are the ones used.
    return Field(json_schema_extra={"maxLength": limit})


Moment = Annotated[AwareDatetime, AfterValidator(_moment)]
ComponentId = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_no_control)]
# An id of the configuration's ``causes:``, checked by the service layer; empty clears it.
CauseCategory = Annotated[str, Field(max_length=64), AfterValidator(_no_control)]
Title = Annotated[str, _max_length(validators.MAX_TITLE), _checked(validators.title)]
Message = Annotated[str, _max_length(validators.MAX_TEXT), _checked(lambda v: validators.free_text(v, field="message"))]
Plan = Annotated[
    str,
    _max_length(validators.MAX_TEXT),
    _checked(lambda v: validators.free_text(v, field="plan", required=True)),
]
Reason = Annotated[
    str,
    _max_length(validators.MAX_REASON),
    _checked(lambda v: validators.free_text(v, field="reason", limit=validators.MAX_REASON, required=True)),
]
IncidentImpact = Annotated[
    str,
    WithJsonSchema({"enum": list(INCIDENT_IMPACTS)}),
    AfterValidator(lambda v: _one_of(v, INCIDENT_IMPACTS)),
]
Name = Annotated[str, _max_length(validators.MAX_NAME), _checked(lambda v: validators.person_name(v, field="name"))]
PlaybookName = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_no_control)]
LAST_REPORT_YEAR = 8999


def _month(value: str) -> str:
    """A calendar month, ``YYYY-MM``, that a report can be made of (and its trend shown)."""
    found = read_month(value)
    if found is None:
        raise PydanticCustomError("month", "{value} is not a month; write it as YYYY-MM, e.g. 2026-10", {"value": repr(value)})
    if found[0] > LAST_REPORT_YEAR:
        raise PydanticCustomError("month", "must be between the years 1970 and {last}", {"last": LAST_REPORT_YEAR})
    return value


Month = Annotated[str, Field(max_length=16, json_schema_extra={"pattern": "^[0-9]{4}-[0-9]{2}$"}), AfterValidator(_month)]
ReportFormat = Annotated[
    str, WithJsonSchema({"enum": list(REPORT_FORMATS)}), AfterValidator(lambda v: _one_of(v, REPORT_FORMATS))
]


def _components_mapping(value: Any) -> Any:
    """A list of ids is shorthand for each at the status the severity implies."""
    if isinstance(value, list):
        if not all(isinstance(item, str) for item in value):
            raise PydanticCustomError("components_item", "each component id must be a string")
        return dict.fromkeys(value)
    if not isinstance(value, dict):
        raise PydanticCustomError(
            "components_type", "must be a list of component ids or an object mapping component ids to statuses"
        )
    return value


_COMPONENTS_SCHEMA = {
    "description": "Affected components: a list of ids, or an object mapping each id to the status to hold it at "
    "(null: what the severity implies).",
    "oneOf": [
        {"type": "array", "items": {"type": "string", "minLength": 1, "maxLength": 64}, "minItems": 1},
        {
            "type": "object",
            "minProperties": 1,
            "additionalProperties": {"anyOf": [{"enum": [s.value for s in ComponentStatus]}, {"type": "null"}]},
        },
    ],
}

ComponentChanges = Annotated[
    dict[ComponentId, ComponentStatus | None],
    BeforeValidator(_components_mapping),
    WithJsonSchema(_COMPONENTS_SCHEMA),
]


class Body(BaseModel):
    """A request body: unknown fields are refused, so a typo is an error and not a silent no-op."""

    model_config = ConfigDict(extra="forbid")


class DeclareIncident(Body):
    """Open an incident and post its first public update."""

    severity: int = Field(description="A configured severity level, e.g. 1 for sev1.")
    title: Title = Field(description="What customers see.")
    components: Annotated[ComponentChanges, Field(min_length=1)]
    message: Message | None = Field(default=None, description="The first public update (default: a standard text).")
    commander: Name | None = Field(default=None, description="Default: the X-Incident-User, else the token.")
    detected_at: Moment | None = Field(default=None, description="When the problem began (default: now).")
    impact: IncidentImpact | None = Field(default=None, description="Override the impact the severity implies.")
    playbook: PlaybookName | None = Field(
        default=None, description="Run this playbook instead of the one chosen for the severity ('builtin': the built-in escalation)."
    )
    page_me: bool = Field(
        default=False, description="Page the person declaring (the X-Incident-User) too; by default they are not paged for it."
    )

    @field_validator("severity", mode="before")
    @classmethod
    def _severity(cls, value: Any, info: ValidationInfo) -> Any:
        # The handler always passes the page's levels; without them nothing is a severity.
        levels: list[int] = list((info.context or {}).get("severity_levels") or ())
        if not levels:
            raise PydanticCustomError("severity", "no severity levels are configured")
        if isinstance(value, bool) or not isinstance(value, int) or value not in levels:
            contiguous = levels == list(range(levels[0], levels[-1] + 1))
            allowed = f"{levels[0]}-{levels[-1]}" if contiguous else "one of " + ", ".join(map(str, levels))
            raise PydanticCustomError("severity", "must be {allowed}", {"allowed": allowed})
        return value


class PostUpdate(Body):
    """Add to the public timeline; optionally change the status and component statuses."""

    message: Message | None = Field(default=None, description="Required unless status is given.")
    status: Literal["investigating", "identified", "monitoring", "resolved"] | None = None
    components: ComponentChanges | None = None
    at: Moment | None = Field(default=None, description="When it happened, if not now.")

    @model_validator(mode="after")
    def _something(self) -> PostUpdate:
        if self.message is None and self.status is None and not self.components:
            raise PydanticCustomError("empty_update", "give message, status or components")
        return self


class ResolveIncident(Body):
    message: Message | None = Field(default=None, description="Default: 'This incident has been resolved.'")
    at: Moment | None = None


class ReopenIncident(Body):
    message: Message | None = None
    status: Literal["investigating", "identified", "monitoring"] = "investigating"


class EditTitle(Body):
    title: Title = Field(description="The corrected title.")


class EditUpdate(Body):
    message: Message = Field(description="The corrected text of the update.")


class RetractIncident(Body):
    reason: Reason = Field(description="Why it is withdrawn from the public, e.g. 'declared on the wrong page'.")


class AcknowledgeIncident(Body):
    by: Name | None = Field(default=None, description="Who took the page (default: the X-Incident-User, else the token).")


class HandOverIncident(Body):
    to: Name = Field(description="The new incident commander.")


class PauseSla(Body):
    reason: Reason = Field(description="What the customer is to do, e.g. 'waiting for their load balancer logs'.")


class RecordPlan(Body):
    plan: Plan = Field(description="How and by when the incident will be resolved; recording it again revises the text.")


class RecordRootCause(Body):
    root_cause: Message | None = Field(default=None, description="The public root-cause summary; empty clears it.")
    remediation: Message | None = Field(default=None, description="What is being changed, with owners and dates.")
    category: CauseCategory | None = Field(default=None, description="The cause category: an id of `causes` in the configuration; empty clears it.")


class EscalateIncident(Body):
    to_tier: int | None = Field(default=None, ge=1, le=99, description="Page this tier (default: the one above the last tier paged).")


class ChangeSeverity(Body):
    severity: int | Annotated[str, Field(max_length=16), AfterValidator(_no_control)] = Field(
        description="A configured severity level: 1, or as typed, 'sev1' or 'P1'."
    )
    components: ComponentChanges | None = Field(
        default=None,
        description="Component statuses to set with the change (null: what the new severity implies); without "
        "it, a raise moves the components still at the old severity's status to the new one's.",
    )

    @field_validator("severity", mode="before")
    @classmethod
    def _not_a_flag(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise PydanticCustomError("severity", "must be a severity level, e.g. 1")
        return value


class RecordAnalysis(Body):
    """What a postmortem analysis records, all in one transaction: all of it or nothing."""

    root_cause: Message | None = Field(default=None, description="The public root-cause summary; empty clears it.")
    remediation: Message | None = Field(default=None, description="What is being changed, with owners and dates.")
    factors: list[Message] = Field(default_factory=list, max_length=100, description="Contributing factors, added to those recorded.")
    whys: list[Message] = Field(default_factory=list, description="The why-chain, most immediate cause first; replaces the chain.")
    detection_gap: Message | None = Field(default=None, description="What detection missed; empty clears it.")
    response_gap: Message | None = Field(default=None, description="What the response missed; empty clears it.")
    category: CauseCategory | None = Field(default=None, description="The cause category: an id of `causes` in the configuration; empty clears it.")

    @model_validator(mode="after")
    def _something(self) -> RecordAnalysis:
        given = (self.root_cause, self.remediation, self.detection_gap, self.response_gap, self.category)
        if all(value is None for value in given) and not self.factors and not self.whys:
            raise PydanticCustomError(
                "empty_analysis", "give root_cause, remediation, category, factors, whys, detection_gap or response_gap"
            )
        return self


class AddActionItem(Body):
    title: Title = Field(description="What is to be done.")
    owner: Name = Field(description="Who does it.")
    due: Annotated[str, Field(max_length=32), AfterValidator(_no_control)] = Field(description="By when: YYYY-MM-DD.")


class PostReportSummary(Body):
    month: Month = Field(description="The calendar month, in the page's time zone, e.g. 2026-10.")
    format: ReportFormat = Field(default="md", description="The report answered with: md, html, csv or json.")


class SetComponentStatus(Body):
    status: ComponentStatus = Field(description="The component's own status; open incidents still hold theirs.")


class ScheduleMaintenance(Body):
    title: Title
    components: list[ComponentId] = Field(min_length=1)
    scheduled_for: Moment
    scheduled_until: Moment
    message: Message | None = None


class UpdateMaintenance(Body):
    status: Literal["in_progress", "verifying", "completed"]
    message: Message | None = None


class Query(BaseModel):
    model_config = ConfigDict(extra="forbid")


class IncidentListQuery(Query):
    open: bool = Field(default=False, description="Only incidents not yet resolved.")
    limit: int = Field(default=50, ge=1, le=1000)


class AuditQuery(Query):
    limit: int = Field(default=50, ge=1, le=500)
    subject_type: Annotated[str, Field(max_length=32), AfterValidator(_no_control)] | None = None
    subject_id: Annotated[str, Field(max_length=64), AfterValidator(_no_control)] | None = None
    action: Annotated[str, Field(max_length=64), AfterValidator(_no_control)] | None = None


class ActionItemQuery(Query):
    open: bool = Field(default=False, description="Only those not done.")
    overdue: bool = Field(default=False, description="Only open ones due before today, in the page's time zone.")


class ReportQuery(Query):
    month: Month = Field(description="The calendar month, in the page's time zone, e.g. 2026-10.")
    format: ReportFormat = Field(default="md", description="md, html (self-contained), csv (one row per breach) or json.")
