"""The uptime bars as the front page shows them: per component and day, the worst status, the
uptime and the incidents, with a link to that day's incidents; the percentage over each window a
screen shows (90 days wide, the last 30 on a phone); the colour legend and the counting rule."""

from __future__ import annotations

import calendar
from datetime import date
from decimal import Decimal
from typing import Any

from statuspage.components.uptime import DayIncident, uptime_for
from statuspage.config_sections import DowntimePercent
from statuspage.domain.enums import ComponentStatus
from statuspage.domain.uptime import DayUptime
from statuspage.read.v2 import V2Builder

PHONE_DAYS = 30
"""The days a narrow screen shows: the bar's last 30, with their own percentage."""

LEGEND = [
    {"status": ComponentStatus.OPERATIONAL.value, "label": ComponentStatus.OPERATIONAL.label},
    {"status": ComponentStatus.DEGRADED_PERFORMANCE.value, "label": ComponentStatus.DEGRADED_PERFORMANCE.label},
    {"status": ComponentStatus.PARTIAL_OUTAGE.value, "label": ComponentStatus.PARTIAL_OUTAGE.label},
    {"status": ComponentStatus.MAJOR_OUTAGE.value, "label": ComponentStatus.MAJOR_OUTAGE.label},
    {"status": ComponentStatus.UNDER_MAINTENANCE.value, "label": ComponentStatus.UNDER_MAINTENANCE.label},
    {"status": None, "label": "No data"},
]


def day_label(day: date) -> str:
    return f"{calendar.month_abbr[day.month]} {day.day}, {day.year}"


def describe_day(day: DayUptime, day_incidents: list[DayIncident]) -> str:
    label = day_label(day.date)
    if day.worst_status is None:
        return f"{label}: no data"
    parts = [f"{label}: {day.worst_status.label}"]
    if day.uptime_pct is not None and day.uptime_pct < 100:
        parts.append(f"{day.uptime_pct:.2f} % uptime")
    if day_incidents:
        parts.append("; ".join(i.name for i in day_incidents))
    return " · ".join(parts)


def day_url(component_id: str, day: date) -> str:
    """Where a day of a bar leads: that day's incidents of that component."""
    return f"/history?day={day.isoformat()}&component={component_id}"


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def uptime_json(builder: V2Builder) -> dict[str, Any]:
    """Per component, 90 days: the worst status of each day, its uptime, its incidents and the
    link to them; the uptime over the 90 days (``percent``) and over the last 30 (``percent_30d``)."""
    weights = builder.config.uptime.downtime_percent.weights()
    computed = uptime_for(builder.session, builder.components(), now=builder.now, zone=builder.zone, weights=weights)
    result: dict[str, Any] = {}
    for component_id, uptime in computed.items():
        days = []
        for day in uptime.days:
            day_incidents = uptime.incidents.get(day.date, [])
            days.append(
                {
                    "text": describe_day(day, day_incidents),
                    "date": day.date.isoformat(),
                    "url": day_url(component_id, day.date),
                    "status": day.worst_status.value if day.worst_status else None,
                    "uptime": _round(day.uptime_pct),
                    "down_minutes": round(day.down_seconds / 60),
                    "incidents": [{"id": str(i.id), "name": i.name, "impact": i.impact} for i in day_incidents],
                }
            )
        result[component_id] = {
            "days": days,
            "percent": _round(uptime.percent),
            "percent_30d": _round(uptime.percent_over(PHONE_DAYS)),
        }
    return result


def _share(percent: Decimal) -> str:
    if percent == 100:
        return "in full"
    if percent == 0:
        return "not at all"
    return f"at {percent.normalize():f} %"


def counting_rule(downtime: DowntimePercent) -> str:
    """The configured rule in words, for the page: what counts as down time, and how much."""
    return (
        f"Uptime counts a major outage {_share(downtime.major_outage)} as down time, "
        f"a partial outage {_share(downtime.partial_outage)} "
        f"and degraded performance {_share(downtime.degraded_performance)}; "
        "time under maintenance is left out."
    )
