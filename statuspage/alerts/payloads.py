"""What each sender posts, validated, and normalised to :class:`IncomingAlert`.

- **Alertmanager** (``webhook_config``): version ``"4"``; one request per alert group, with
  ``groupKey`` and every alert's ``status``, ``labels``, ``annotations``, ``startsAt``,
  ``endsAt``, ``generatorURL`` and ``fingerprint``.
- **Grafana** unified alerting (webhook contact point): version ``"1"``; Alertmanager's fields,
  plus ``orgId``, ``title``, ``state``, ``message`` and per alert ``silenceURL``,
  ``dashboardURL``, ``panelURL``, ``values`` and ``valueString``.
- **Generic**: one alert per request, our own small format (:class:`GenericAlert`).

Fields the senders add in later versions are ignored for Alertmanager and Grafana (a receiver
that refused them would drop alerts after an upgrade); the generic format refuses unknown
fields, since a typo there is ours to report. A refusal is pydantic's
:class:`~pydantic.ValidationError`, which names each field (``alerts[3].status``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from statuspage.domain.alerts import AlertStatus, IncomingAlert, group_key, labels_fingerprint, one_line

SOURCES = ("alertmanager", "grafana", "generic")
MAX_ALERTS = 10_000
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _no_control(value: str) -> str:
    # What names an alert is stored in text columns, which PostgreSQL refuses a NUL in.
    if _CONTROL.search(value):
        raise PydanticCustomError("control", "must not contain control characters")
    return value


Text = Annotated[str, Field(max_length=10_000)]
Labels = dict[Annotated[str, Field(min_length=1, max_length=200)], Text]
# One line of printable text, at most n characters: what identifies an alert or where it links to.
Key = Annotated[str, Field(max_length=200), AfterValidator(_no_control)]
GroupKey = Annotated[str, Field(max_length=10_000), AfterValidator(_no_control)]
Url = Annotated[str, Field(max_length=2000), AfterValidator(_no_control)]


@dataclass(frozen=True)
class Batch:
    """One request's alerts. ``truncated``: how many the sender left out (Alertmanager's
    ``max_alerts``)."""

    source: str
    alerts: list[IncomingAlert]
    truncated: int = 0


def _moment(value: datetime | None) -> datetime | None:
    """A time worth keeping: naive ones are read as UTC; Go's zero time (``0001-01-01``, what
    Alertmanager and Grafana send as a firing alert's end) and the far future are no time."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value if 1970 <= value.astimezone(UTC).year < 9000 else None


class _Sender(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class SenderAlert(_Sender):
    status: AlertStatus
    labels: Labels
    annotations: Labels = {}
    startsAt: datetime | None = None
    endsAt: datetime | None = None
    generatorURL: Url | None = None
    fingerprint: Key | None = None

    def normalised(self, group: str | None) -> IncomingAlert:
        return IncomingAlert(
            fingerprint=self.fingerprint or labels_fingerprint(self.labels),
            status=self.status,
            labels=dict(self.labels),
            annotations=dict(self.annotations),
            group_key=group,
            starts_at=_moment(self.startsAt),
            ends_at=_moment(self.endsAt) if self.status == "resolved" else None,
            generator_url=self.generatorURL or None,
        )


class AlertmanagerPayload(_Sender):
    version: Literal["4"]
    groupKey: GroupKey = ""
    truncatedAlerts: int = Field(default=0, ge=0)
    status: AlertStatus
    receiver: str = ""
    groupLabels: Labels = {}
    commonLabels: Labels = {}
    commonAnnotations: Labels = {}
    externalURL: str = ""
    alerts: list[SenderAlert] = Field(max_length=MAX_ALERTS)

    def batch(self, source: str = "alertmanager") -> Batch:
        group = group_key(self.groupKey)
        return Batch(source, [alert.normalised(group) for alert in self.alerts], self.truncatedAlerts)


class GrafanaAlert(SenderAlert):
    silenceURL: str | None = None
    dashboardURL: str | None = None
    panelURL: str | None = None
    values: dict[str, float | None] | None = None
    valueString: str | None = None


class GrafanaPayload(AlertmanagerPayload):
    version: Literal["1"]  # type: ignore[assignment]
    orgId: int | None = None
    title: str = ""
    state: str = ""
    message: str = ""
    alerts: list[GrafanaAlert] = Field(max_length=MAX_ALERTS)  # type: ignore[assignment]


class GenericAlert(BaseModel):
    """``{"status": "firing", "key": "db-primary-down", "title": "Primary database unreachable",
    "labels": {"severity": "critical"}, "component": "api"}``: ``key`` names the alert (the
    same key resolves it); ``component`` becomes the ``component`` label; ``title`` and
    ``description`` the ``summary`` and ``description`` annotations; ``group`` groups alerts
    like Alertmanager's group key; ``starts_at`` tells a new firing from a retry of the last."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    status: AlertStatus
    key: Annotated[Key, Field(min_length=1)]
    title: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    description: Text | None = None
    labels: Labels = {}
    component: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    group: Annotated[GroupKey, Field(min_length=1, max_length=500)] | None = None
    starts_at: datetime | None = None
    url: Url | None = None

    @field_validator("title")
    @classmethod
    def _one_line(cls, value: str | None) -> str | None:
        return None if value is None else one_line(value, limit=200)

    def batch(self, source: str = "generic") -> Batch:
        labels = dict(self.labels)
        if self.component is not None:
            labels["component"] = self.component
        annotations = {"summary": self.title, "description": self.description}
        alert = IncomingAlert(
            fingerprint=self.key,
            status=self.status,
            labels=labels,
            annotations={name: text for name, text in annotations.items() if text},
            group_key=group_key(self.group),
            starts_at=_moment(self.starts_at),
            generator_url=self.url,
        )
        return Batch(source, [alert])


PARSERS: dict[str, Callable[[Any], Batch]] = {
    "alertmanager": lambda data: AlertmanagerPayload.model_validate(data).batch("alertmanager"),
    "grafana": lambda data: GrafanaPayload.model_validate(data).batch("grafana"),
    "generic": lambda data: GenericAlert.model_validate(data).batch("generic"),
}


def parse(source: str, data: Any) -> Batch:
    """The alerts of one request from ``source``; a :class:`~pydantic.ValidationError` naming
    each field that is wrong."""
    return PARSERS[source](data)
