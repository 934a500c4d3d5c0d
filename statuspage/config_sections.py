"""Sections of the configuration that stand on their own: Slack, email, the database, retention
and the uptime bars. :mod:`statuspage.config` assembles them into the whole schema."""

from __future__ import annotations

import json
import re
from datetime import time
from decimal import Decimal
from fractions import Fraction
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, field_validator
from pydantic_core import PydanticCustomError

from statuspage.domain.age import Age, AgeError
from statuspage.domain.enums import ComponentStatus
from statuspage.domain.periods import WeeklyAt, WeeklyTimeError, read_weekly_time

# An address as written in the configuration: one @, nothing that would need quoting in a header.
EMAIL_ADDRESS = re.compile(r"^[^@\s<>()\[\],;:\\\"]+@[^@\s<>()\[\],;:\\\"]+$")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


_CLOCK_TIME = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)(?::([0-5]\d))?$")
MINUTES_A_DAY = 24 * 60


def _time_of_day(value: Any) -> time:
    """A local time of day, ``10:30``, quoted or not: YAML 1.1 reads an unquoted ``10:30`` as the
    base-60 number 630 (``08:00``, with its leading zero, stays text), which is taken back to
    10:30 (such a number is 60, for 1:00, or more). Text may give seconds (``"10:30:15"``);
    anything else (``25:00``, a bare ``9``, a number past 23:59, which is what an unquoted
    ``10:30:00`` becomes) is refused."""
    if isinstance(value, time) and value.tzinfo is None:
        return value
    if isinstance(value, int) and not isinstance(value, bool) and 60 <= value < MINUTES_A_DAY:
        return time(*divmod(value, 60))
    match = _CLOCK_TIME.match(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise PydanticCustomError(
            "time_of_day",
            "{value} is not a time of day like 10:30 (00:00 to 23:59; quote a time with seconds)",
            {"value": _as_written(value)},
        )
    return time(int(match.group(1)), int(match.group(2)), int(match.group(3) or 0))


def _as_written(value: Any) -> str:
    """A refused time as the file had it: a number YAML read in base 60 goes back to its
    ``25:00`` or ``10:30:00`` form."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 60:
        parts: list[int] = []
        while value:
            value, part = divmod(value, 60)
            parts.insert(0, part)
        return str(parts[0]) + "".join(f":{part:02d}" for part in parts[1:])
    return json.dumps(value, default=str)


TimeOfDay = Annotated[time, BeforeValidator(_time_of_day)]


def _weekly_at(value: Any) -> WeeklyAt | None:
    if value is None or isinstance(value, WeeklyAt):
        return value
    if not isinstance(value, str):
        raise PydanticCustomError("weekly_at", "expected a day and time like mon 09:00")
    try:
        return read_weekly_time(value)
    except WeeklyTimeError as exc:
        raise PydanticCustomError("weekly_at", "{problem}", {"problem": str(exc)}) from None


def _weekly_text(value: WeeklyAt | None) -> str | None:
    return None if value is None else str(value)


class SlackConfig(Strict):
    enabled: bool = False
    token_env: str = "SLACK_BOT_TOKEN"
    signing_secret_env: str = "SLACK_SIGNING_SECRET"
    incidents_channel: str = "#incidents"
    base_url: str | None = None
    # A daily digest of open critical incidents, posted at this local time (page time zone).
    digest_channel: str | None = None
    digest_at: TimeOfDay = time(9, 0)
    digest_severities: tuple[int, ...] = (1, 2)
    # The weekly SLA report's summary, posted to incidents_channel at this local moment of the
    # week (e.g. "mon 09:00"); none when not set.
    weekly_report_at: Annotated[WeeklyAt | None, BeforeValidator(_weekly_at), PlainSerializer(_weekly_text)] = None


class EmailConfig(Strict):
    """Email. ``from``: the sender (default: the page's name at ``noreply@`` the page's host);
    ``smtp_url``: the server (``STATUSPAGE_SMTP_URL`` overrides it; without either, mail is written
    to ``var/mail/``). ``enabled: false``: email contacts are not paged (their pages read not sent)."""

    model_config = ConfigDict(populate_by_name=True)

    enabled: bool = True
    from_address: str | None = Field(default=None, alias="from", min_length=3, max_length=300)
    smtp_url: str | None = None

    @field_validator("from_address")
    @classmethod
    def _from(cls, value: str | None) -> str | None:
        if value is None:
            return value
        from email.headerregistry import Address
        from email.utils import parseaddr

        if any(ch in value for ch in "\r\n"):
            raise PydanticCustomError("email", "a From address is one line")
        name, address = parseaddr(value)
        if not EMAIL_ADDRESS.match(address):
            raise PydanticCustomError(
                "email", "{value} is not an address like Status <status@example.com>", {"value": json.dumps(value)}
            )
        return str(Address(display_name=name, addr_spec=address)) if name else address

    @field_validator("smtp_url")
    @classmethod
    def _smtp_url(cls, value: str | None) -> str | None:
        if value is None:
            return value
        from statuspage.smtp_url import SmtpUrlError, parse_smtp_url

        try:
            parse_smtp_url(value)
        except SmtpUrlError as exc:
            raise PydanticCustomError("smtp_url", "{problem}", {"problem": str(exc)}) from None
        return value


class DatabaseConfig(Strict):
    url: str | None = None


def _age(value: Any) -> Age:
    try:
        return Age.parse(value)
    except AgeError as exc:
        raise PydanticCustomError("age", "{problem}", {"problem": exc.problem}) from None


AgeField = Annotated[Age, BeforeValidator(_age), PlainSerializer(str, return_type=str)]


class RetentionConfig(Strict):
    """The youngest age at which ``statuspage db prune`` may delete each kind (see
    :mod:`statuspage.retention.prune`); a shorter ``--older-than`` is refused."""

    outbox: AgeField = Age.parse("30d")
    oncall: AgeField = Age.parse("1y")
    alerts: AgeField = Age.parse("90d")
    access: AgeField = Age.parse("1y")
    audit: AgeField = Age.parse("7y")


class DowntimePercent(Strict):
    """How much of the time in each status counts as down time, in percent. Maintenance never
    counts, nor does ``operational``. The defaults are Atlassian Statuspage's rule."""

    major_outage: Decimal = Field(default=Decimal(100), ge=0, le=100)
    partial_outage: Decimal = Field(default=Decimal(30), ge=0, le=100)
    degraded_performance: Decimal = Field(default=Decimal(0), ge=0, le=100)

    def weights(self) -> dict[ComponentStatus, Fraction]:
        """The share of each status's time that is down, exactly (see statuspage.domain.uptime)."""
        return {ComponentStatus(name): Fraction(getattr(self, name)) / 100 for name in type(self).model_fields}


class UptimeConfig(Strict):
    """The uptime bars of the status page."""

    downtime_percent: DowntimePercent = DowntimePercent()
