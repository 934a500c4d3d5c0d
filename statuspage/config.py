"""The configuration's schema: the pydantic models ``statuspage.yaml`` is validated against, each
field with its own rule. Reading the file and checking it as a whole is :mod:`statuspage.settings`."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import date, time
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from statuspage.alert_config import AlertsConfig
from statuspage.billing_config import BillingConfig
from statuspage.cause_config import Causes, PostmortemsConfig
from statuspage.config_sections import (
    DatabaseConfig,
    EmailConfig,
    RetentionConfig,
    SlackConfig,
    TimeOfDay,
    UptimeConfig,
)
from statuspage.domain.durations import Duration, DurationError
from statuspage.domain.enums import ComponentStatus, Impact
from statuspage.domain.matrix import parse_delay
from statuspage.pricing_config import Price, SlaCredits
from statuspage.subscription_config import SubscriptionsConfig
from statuspage.yamlsource import SourceError

SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
SEVERITY_KEY = re.compile(r"^sev[1-9]$")


class ConfigError(SourceError):
    """The configuration cannot be used; each line names file, line, column and field."""


def _duration(value: Any) -> Duration:
    if isinstance(value, Duration):
        return value
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise PydanticCustomError("duration", "expected a duration like 15m, 4h or 2bd")
    if isinstance(value, int):
        raise PydanticCustomError("duration", "{value} has no unit; write it like 15m, 4h or 2bd", {"value": value})
    try:
        return Duration.parse(value)
    except DurationError as exc:
        if exc.problem.startswith("is not a duration"):
            message = "{value} is not a duration like 4h"
        elif exc.problem.startswith("mixes"):
            message = "{value} mixes business and calendar units; write it in one kind, like 2bd or 16bh or 48h"
        else:
            message = "{value} " + exc.problem
        raise PydanticCustomError("duration", message, {"value": json.dumps(value)}) from None


DurationField = Annotated[Duration, BeforeValidator(_duration), PlainSerializer(str, return_type=str)]


def _slug(value: Any) -> str:
    if not isinstance(value, str) or not SLUG.match(value):
        raise PydanticCustomError(
            "slug",
            "{value} is not an id: use lower-case letters, digits, '-' and '_'",
            {"value": json.dumps(value, default=str)},
        )
    return value


Slug = Annotated[str, BeforeValidator(_slug)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class PageConfig(Strict):
    id: Slug = "status"
    name: str = Field(min_length=1, max_length=200)
    url: str = "http://127.0.0.1:8000"
    time_zone: str = "UTC"
    description: str = ""
    support_url: str | None = None

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not re.match(r"^https?://[^\s/]+", value):
            raise PydanticCustomError("url", "{value} is not an http(s) URL", {"value": json.dumps(value)})
        return value.rstrip("/")

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return _time_zone(value)


def _time_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise PydanticCustomError(
            "time_zone", "{value} is not an IANA time zone like Europe/Madrid", {"value": json.dumps(value)}
        ) from None
    return value


Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class HolidayCalendar(Strict):
    country: str | None = None
    subdivision: str | None = None
    extra: tuple[date, ...] = ()

    @field_validator("country")
    @classmethod
    def _country(cls, value: str | None) -> str | None:
        if value is None:
            return value
        import holidays

        # One country's module, not every country's (list_supported_countries loads them all).
        try:
            holidays.country_holidays(value.upper(), years=[])
        except (NotImplementedError, KeyError, AttributeError):
            raise PydanticCustomError(
                "country", "{value} is not a country code the holidays package knows", {"value": json.dumps(value)}
            ) from None
        return value.upper()

    @model_validator(mode="after")
    def _subdivision(self) -> HolidayCalendar:
        return _check_subdivision(self)


def _check_subdivision(calendar: HolidayCalendar) -> HolidayCalendar:
    if calendar.subdivision is None:
        return calendar
    if calendar.country is None:
        raise PydanticCustomError("subdivision", "a subdivision needs a country, e.g. country: US, subdivision: NY")
    import holidays

    known = getattr(holidays.country_holidays(calendar.country, years=[]), "subdivisions", ())
    if calendar.subdivision.upper() not in {s.upper() for s in known}:
        raise PydanticCustomError(
            "subdivision",
            "{value} is not a subdivision of {country} the holidays package knows",
            {"value": json.dumps(calendar.subdivision), "country": calendar.country},
        )
    return calendar


class BusinessHours(Strict):
    time_zone: str | None = None
    days: tuple[Weekday, ...] = Field(default=("mon", "tue", "wed", "thu", "fri"), min_length=1)
    start: TimeOfDay = time(8, 0)  # 10:30 quoted or not (see config_sections.TimeOfDay)
    end: TimeOfDay = time(18, 0)
    holidays: HolidayCalendar = HolidayCalendar()

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        return value if value is None else _time_zone(value)

    @model_validator(mode="after")
    def _order(self) -> BusinessHours:
        if self.end <= self.start:
            raise PydanticCustomError("hours", "business hours end before they start")
        return self


Clock = Literal["24x7", "business_hours"]


ONE_LINE = r"^[^\x00-\x1f\x7f]+$"


class RecoveryAction(Strict):
    """A service-recovery step, made an action item when an incident of the severity is resolved:
    ``owner`` names a person, or a role of the escalation matrix (then its first owner with that
    role owns it); ``due`` runs from the resolution (``2bd``: two business days)."""

    title: str = Field(min_length=1, max_length=200, pattern=ONE_LINE)
    owner: str = Field(min_length=1, max_length=200, pattern=ONE_LINE)
    due: DurationField


class Severity(Strict):
    name: str
    description: str = ""
    impact: Impact
    component_status: ComponentStatus = ComponentStatus.MAJOR_OUTAGE
    first_response: DurationField
    acknowledgement: DurationField | None = None
    resolution: DurationField | None = None
    resolution_plan: DurationField | None = None
    clock: Clock = "24x7"
    update_every: DurationField | None = None
    service_recovery: tuple[RecoveryAction, ...] = ()

    @property
    def update_cadence(self) -> Duration | None:
        """``update_every``, by the name of the SLA target it sets."""
        return self.update_every

    @field_validator("impact")
    @classmethod
    def _impact(cls, value: Impact) -> Impact:
        if value is Impact.MAINTENANCE:
            raise PydanticCustomError("impact", "maintenance is for scheduled maintenance, not a severity")
        return value


class ChannelTarget(Strict):
    name: str
    first_response: DurationField
    resolution: DurationField | None = None
    clock: Clock = "24x7"
    note: str = ""


class ComponentGroup(Strict):
    id: Slug
    name: str = Field(min_length=1, max_length=200)
    description: str | None = None


class Component(Strict):
    id: Slug
    name: str = Field(min_length=1, max_length=200)
    group: Slug | None = None
    description: str | None = None
    only_show_if_degraded: bool = False
    showcase: bool = True


Channel = Literal["email", "chat", "phone", "social", "ticket", "complaint"]


class SupportTier(Strict):
    id: Slug
    name: str
    price: Price
    channels: tuple[Channel, ...] = Field(min_length=1)
    coverage: Clock = "business_hours"
    response_targets: dict[str, DurationField] = {}
    sla_credits: SlaCredits = SlaCredits()
    extras: tuple[str, ...] = ()


CONTACT_METHODS = ("slack_user", "slack_channel", "phone", "email", "apprise", "webhook")


class Contact(Strict):
    slack_user: str | None = None
    slack_channel: str | None = None
    phone: str | None = None
    email: str | None = None
    # An Apprise URL (ntfy://…, tgram://…, twilio://… for SMS), or an http(s) URL for a signed POST.
    apprise: str | None = None
    webhook: str | None = None

    @field_validator("apprise", "webhook")
    @classmethod
    def _url(cls, value: str | None, info: ValidationInfo) -> str | None:
        from statuspage.contact_urls import url_problem

        if value is not None and (problem := url_problem(str(info.field_name), value)):
            raise PydanticCustomError("url", "{problem}", {"problem": problem})
        return value

    @model_validator(mode="after")
    def _one(self) -> Contact:
        given = [k for k in CONTACT_METHODS if getattr(self, k)]
        if len(given) != 1:
            raise PydanticCustomError(
                "contact", "a contact names exactly one of slack_user, slack_channel, phone, email, apprise, webhook"
            )
        return self

    @property
    def method(self) -> str:
        return next(k for k in CONTACT_METHODS if getattr(self, k))

    @property
    def address(self) -> str:
        return str(getattr(self, self.method))


def _rule_delay(value: Any) -> Duration:
    if isinstance(value, Duration):
        return value
    if isinstance(value, int) and not isinstance(value, bool) and value == 0:
        return Duration()
    if not isinstance(value, str):
        raise PydanticCustomError("duration", "expected a delay like 0m, 2m or 5m")
    try:
        delay = parse_delay(value)
    except DurationError:
        raise PydanticCustomError("duration", "{value} is not a delay like 0m, 2m or 5m", {"value": json.dumps(value)}) from None
    if delay.is_business:
        raise PydanticCustomError(
            "duration", "{value} counts business time; a notification rule waits wall-clock time, like 5m", {"value": json.dumps(value)}
        )
    return delay


class NotifyRule(Strict):
    """A personal notification rule: page the owner's ``contact`` (a kind, e.g. email) ``after``
    the person was paged, unless someone acknowledged first (see statuspage.domain.notification_rules)."""

    contact: str
    after: Annotated[Duration, BeforeValidator(_rule_delay), PlainSerializer(str, return_type=str)]

    @field_validator("contact")
    @classmethod
    def _kind(cls, value: str) -> str:
        if value not in CONTACT_METHODS:
            raise PydanticCustomError(
                "contact", "{value} is not a contact kind (known: {known})", {"value": json.dumps(value), "known": ", ".join(CONTACT_METHODS)}
            )
        return value


class Owner(Strict):
    name: str = Field(min_length=1)
    role: str = ""
    contacts: tuple[Contact, ...] = Field(min_length=1)
    # Personal notification rules, in order; without them every contact is paged at once.
    notify: tuple[NotifyRule, ...] | None = Field(default=None, min_length=1)


class AckWithin(Strict):
    default: DurationField
    by_severity: dict[str, DurationField] = {}

    def for_severity(self, severity: str) -> Duration:
        return self.by_severity.get(severity, self.default)


def _ack_within(value: Any) -> Any:
    # Either a single duration, or {default: 4h, sev1: 5m, ...}.
    if isinstance(value, Mapping):
        rest = {k: v for k, v in value.items() if k != "default"}
        return {"default": value.get("default"), "by_severity": rest}
    return {"default": value}


class EscalationTier(Strict):
    level: int = Field(ge=1, le=9)
    name: str
    description: str = ""
    acknowledge_within: Annotated[AckWithin, BeforeValidator(_ack_within)]
    owners: tuple[Owner, ...] = Field(min_length=1)
    notify: tuple[Contact, ...] = ()


class Escalation(Strict):
    tiers: tuple[EscalationTier, ...] = Field(min_length=1)
    # Signs the POSTs to webhook contacts (STATUSPAGE_PAGE_WEBHOOK_SECRET overrides it).
    webhook_secret: str | None = Field(default=None, min_length=16, repr=False)

    def tier(self, level: int) -> EscalationTier | None:
        return next((t for t in self.tiers if t.level == level), None)


class Config(Strict):
    page: PageConfig
    business_hours: BusinessHours = BusinessHours()
    severities: dict[str, Severity]
    channels: dict[Channel, ChannelTarget] = {}
    component_groups: tuple[ComponentGroup, ...] = ()
    components: tuple[Component, ...] = Field(min_length=1)
    support_tiers: tuple[SupportTier, ...] = ()
    escalation: Escalation
    slack: SlackConfig = SlackConfig()
    email: EmailConfig = EmailConfig()
    database: DatabaseConfig = DatabaseConfig()
    retention: RetentionConfig = RetentionConfig()
    subscriptions: SubscriptionsConfig = SubscriptionsConfig()
    alerts: AlertsConfig = AlertsConfig()  # alerts from monitoring: rules, storm cap (alert_config)
    uptime: UptimeConfig = UptimeConfig()  # what the uptime bars count as down time
    billing: BillingConfig = BillingConfig()  # the currency SLA credits are owed in (billing_config)
    causes: Causes = Causes()  # root-cause categories, id: label (cause_config)
    postmortems: PostmortemsConfig = PostmortemsConfig()  # when a postmortem is due (cause_config)
    # Where the playbooks are: relative to the configuration file, else the shipped ones.
    playbooks: str = "playbooks"

    def severity(self, level: int) -> Severity | None:
        return self.severities.get(f"sev{level}")

    def incident_url(self, incident_id: int | str) -> str:
        """The incident's public permalink."""
        return f"{self.page.url}/incidents/{incident_id}"

    @property
    def severity_levels(self) -> list[int]:
        return sorted(int(k[3:]) for k in self.severities)

    @property
    def business_time_zone(self) -> str:
        return self.business_hours.time_zone or self.page.time_zone
