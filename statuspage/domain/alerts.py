"""Alerts from monitoring, as the rest of the product sees them whatever sent them, and the routing
rules that turn them into incidents. Pure: no I/O, no clock; times are passed in.

An :class:`IncomingAlert` is one alert of one request (Alertmanager, Grafana or the generic
format), normalised. A :class:`Rule` is one entry of the configuration's ``alerts.rules``; the
first rule whose matchers all hold for an alert's labels routes it (:func:`route`).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from statuspage.domain.enums import ComponentStatus

AlertStatus = Literal["firing", "resolved"]
FIRING: AlertStatus = "firing"
RESOLVED: AlertStatus = "resolved"

MAX_TITLE = 200
# A group key longer than this is kept as its hash: Alertmanager's grow with the route's matchers.
MAX_GROUP_KEY = 500
_SPACE = re.compile(r"\s+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


@dataclass(frozen=True, slots=True)
class IncomingAlert:
    """One alert of a request. ``fingerprint`` names the alert across requests (the sender's, or
    one made from its labels); ``group_key`` the sender's group, when it has one."""

    fingerprint: str
    status: AlertStatus
    labels: Mapping[str, str]
    annotations: Mapping[str, str] = field(default_factory=dict)
    group_key: str | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    generator_url: str | None = None


@dataclass(frozen=True, slots=True)
class Rule:
    """Where alerts whose labels match go: which severity, which component, which playbook, and
    what happens to the component and the incident while they fire and when they resolve."""

    name: str
    severity: int
    match: Mapping[str, str] = field(default_factory=dict)
    match_re: Mapping[str, re.Pattern[str]] = field(default_factory=dict)
    # The component: a fixed one, or the value of a label (the fixed one when the label's value
    # names no component). A rule with only a label matches alerts carrying that label.
    component: str | None = None
    component_label: str | None = None
    playbook: str | None = None
    title: str | None = None
    publish: bool = False
    set_component_status: ComponentStatus | None = None
    resolve_incident: bool = False
    max_new_incidents: int | None = None

    def matches(self, labels: Mapping[str, str]) -> bool:
        if any(labels.get(name) != value for name, value in self.match.items()):
            return False
        if any(pattern.fullmatch(labels.get(name, "")) is None for name, pattern in self.match_re.items()):
            return False
        if self.component is None and self.component_label is not None:
            return bool(labels.get(self.component_label, "").strip())
        return True


@dataclass(frozen=True, slots=True)
class Routed:
    """The rule that matched, and the component it gives; ``component`` is None (with the reason
    in ``problem``) when the alert's label names no component and the rule has no fixed one."""

    rule: Rule
    component: str | None
    problem: str | None = None


def route(labels: Mapping[str, str], rules: Sequence[Rule], components: Collection[str]) -> Routed | None:
    """The first rule matching ``labels``, with its component among ``components``; None when no
    rule matches."""
    for rule in rules:
        if not rule.matches(labels):
            continue
        if rule.component_label is not None:
            value = labels.get(rule.component_label, "").strip()
            if value in components:
                return Routed(rule, value)
            if rule.component is not None:
                return Routed(rule, rule.component)
            shown = json.dumps(value[:64])
            return Routed(rule, None, f"label {rule.component_label}={shown} names no component")
        return Routed(rule, rule.component)
    return None


def one_line(text: str, limit: int = MAX_TITLE) -> str:
    """``text`` as one line of at most ``limit`` characters: control characters and runs of space
    become one space, and a cut is marked with an ellipsis."""
    cleaned = _SPACE.sub(" ", _CONTROL.sub(" ", text)).strip()
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1].rstrip() + "…"


def incident_title(alert: IncomingAlert, rule: Rule | None, source: str) -> str:
    """The title of an incident an alert opens: the rule's, else the alert's summary, else its
    name, else where it came from."""
    for candidate in (
        rule.title if rule else None,
        alert.annotations.get("summary"),
        alert.annotations.get("title"),
        alert.labels.get("alertname"),
    ):
        if candidate and one_line(candidate):
            return one_line(candidate)
    return f"Alert from {source}"


def labels_fingerprint(labels: Mapping[str, str]) -> str:
    """A fingerprint for an alert whose sender gave none: the same labels, the same alert."""
    canonical = json.dumps(sorted(labels.items()), ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


def group_key(raw: str | None) -> str | None:
    """The sender's group key as stored: empty is none; a very long one is kept as its hash."""
    if raw is None or not raw.strip():
        return None
    if len(raw) <= MAX_GROUP_KEY:
        return raw
    return "sha256:" + hashlib.sha256(raw.encode("utf-8")).hexdigest()


def dedupe_key(source: str, body: Any) -> str:
    """What makes two requests the same request: their source and their JSON, key order aside."""
    canonical = json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(f"{source}\n{canonical}".encode()).hexdigest()


def detection_time(starts_at: datetime | None, now: datetime, *, max_lead: timedelta) -> datetime | None:
    """When the problem began, for the incident's SLA clocks: the alert's start, unless it is in
    the future (another host's clock) or further back than a declaration may say."""
    if starts_at is None or starts_at > now or now - starts_at > max_lead:
        return None
    return starts_at
