"""Jinja2 environment for the HTML pages: autoescaped, templates only format."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from statuspage.domain.enums import ComponentStatus, IncidentStatus, MaintenanceStatus

STATUS_LABELS = {s.value: s.label for s in ComponentStatus} | {
    s.value: s.label for s in IncidentStatus
} | {s.value: s.label for s in MaintenanceStatus}


IMPACT_LABELS = {"none": "No impact", "minor": "Minor impact", "major": "Major impact", "critical": "Critical impact", "maintenance": "Maintenance"}


def parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def human_time(value: str | None, zone: ZoneInfo) -> str:
    """``Nov 25, 2026 03:10 EST`` in the page's time zone."""
    moment = parse_time(value)
    if moment is None:
        return ""
    local = moment.astimezone(zone)
    return f"{local:%b} {local.day}, {local:%Y %H:%M} {local.tzname()}"


def utc_iso(value: str | None) -> str:
    """The machine-readable UTC value for ``<time datetime=...>``."""
    moment = parse_time(value)
    if moment is None:
        return ""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def duration_between(start: str | None, end: str | None) -> str:
    first, last = parse_time(start), parse_time(end)
    if first is None or last is None:
        return ""
    minutes = max(0, int((last - first).total_seconds() // 60))
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    parts = [f"{days} d" if days else "", f"{hours} h" if hours else "", f"{minutes} min" if minutes or not (days or hours) else ""]
    return " ".join(p for p in parts if p)


def make_environment(templates_dir: Path, time_zone: str) -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(templates_dir)),
        autoescape=select_autoescape(["html", "xml", "atom", "rss", "svg"], default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    zone = ZoneInfo(time_zone)
    env.filters["human_time"] = lambda value: human_time(value, zone)
    env.filters["status_label"] = lambda value: STATUS_LABELS.get(value, str(value).replace("_", " ").capitalize())
    env.filters["utc"] = utc_iso
    env.filters["impact_label"] = lambda value: IMPACT_LABELS.get(value, str(value).capitalize())
    env.globals["duration_between"] = duration_between
    return env
