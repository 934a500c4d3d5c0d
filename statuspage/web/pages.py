"""Page contexts. Each HTML page is its JSON twin plus layout; templates only format."""

from __future__ import annotations

import calendar
from datetime import datetime
from decimal import Decimal
from typing import Any

from starlette.requests import Request

from statuspage.components.uptime import DayIncident, uptime_for
from statuspage.domain.durations import Duration, describe_seconds
from statuspage.domain.sla import TARGET_LABELS, Attainment, attainment
from statuspage.domain.uptime import DayUptime
from statuspage.errors import InvalidInput, NotFound
from statuspage.incidents import service as incidents
from statuspage.incidents.sla import PUBLIC_TARGETS, calendar_for, measure_declared_between
from statuspage.postmortems import service as postmortems
from statuspage.read.v2 import JSON, V2Builder
from statuspage.settings import WEEKDAYS, BusinessHours, Price, SlaCredits


def layout(components: list[JSON]) -> list[JSON]:
    """Components arranged for display: groups with their members, then loose components."""
    by_id = {c["id"]: c for c in components}
    sections: list[JSON] = []
    for item in components:
        if item["group"]:
            sections.append({"group": item, "components": [by_id[i] for i in item["components"]]})
        elif item["group_id"] is None:
            sections.append({"group": None, "components": [item]})
    return sections


def index_context(builder: V2Builder, request: Request | None = None) -> dict[str, Any]:
    summary = builder.summary()
    uptime = uptime_json(builder)
    return {
        "summary": summary,
        "sections": layout(summary["components"]),
        "uptime": uptime,
        "json": {**summary, "uptime": uptime},
    }


def describe_day(day: DayUptime, day_incidents: list[DayIncident]) -> str:
    label = f"{calendar.month_abbr[day.date.month]} {day.date.day}, {day.date.year}"
    if day.worst_status is None:
        return f"{label}: no data"
    parts = [f"{label}: {day.worst_status.label}"]
    if day.uptime_pct is not None and day.uptime_pct < 100:
        parts.append(f"{day.uptime_pct:.2f} % uptime")
    if day_incidents:
        parts.append("; ".join(i.name for i in day_incidents))
    return " · ".join(parts)


def uptime_json(builder: V2Builder) -> dict[str, Any]:
    """Per component, 90 days: the worst status of each day, its uptime and its incidents."""
    computed = uptime_for(builder.session, builder.components(), now=builder.now, zone=builder.zone)
    result: dict[str, Any] = {}
    for component_id, uptime in computed.items():
        days = []
        for day in uptime.days:
            day_incidents = uptime.incidents.get(day.date, [])
            days.append(
                {
                    "text": describe_day(day, day_incidents),
                    "date": day.date.isoformat(),
                    "status": day.worst_status.value if day.worst_status else None,
                    "uptime": None if day.uptime_pct is None else round(day.uptime_pct, 3),
                    "down_minutes": round(day.down_seconds / 60),
                    "incidents": [{"id": str(i.id), "name": i.name, "impact": i.impact} for i in day_incidents],
                }
            )
        result[component_id] = {
            "days": days,
            "percent": None if uptime.percent is None else round(uptime.percent, 3),
        }
    return result


def incident_context(builder: V2Builder, request: Request) -> dict[str, Any]:
    incident = incidents.get(session=builder.session, incident_id=request.path_params["incident_id"])
    if incident.internal:
        # Answered as an id that names no incident would be: an internal one is not said to exist.
        raise NotFound(f"no incident {incident.id}", field="id")
    (data,) = builder.incidents_json([incident])
    page = builder.page_json()
    severity = builder.config.severity(incident.severity)
    extra = {
        "severity_name": severity.name if severity else None,
        "root_cause": incident.root_cause,
        "remediation": incident.remediation,
        "postmortem": _published_postmortem(builder, incident.id or 0),
    }
    return {"summary": {"page": page}, "incident": data, **extra, "json": {"page": page, "incident": data, **extra}}


def _published_postmortem(builder: V2Builder, incident_id: int) -> dict[str, Any] | None:
    """What a published postmortem shows the public: contributing factors and remediation actions
    (their titles, due dates and status; owners are internal and left out). ``None`` until published."""
    session = builder.session
    row = postmortems.get_postmortem(session=session, incident_id=incident_id)
    if row is None or row.published_at is None:
        return None
    return {
        "published_at": builder.time(row.published_at),
        "contributing_factors": [factor.text for factor in postmortems.factors(session=session, incident_id=incident_id)],
        "actions": [
            {"title": item.title, "due_on": item.due_on.isoformat(), "status": item.status}
            for item in postmortems.action_items(session=session, incident_id=incident_id)
        ],
    }


MONTHS_PER_PAGE = 3


def history_context(builder: V2Builder, request: Request) -> dict[str, Any]:
    """Past incidents by month, newest first, three months a page, optionally for one component."""
    component = request.query_params.get("component") or None
    page_number = _page_number(request.query_params.get("page"))
    zone = builder.zone
    today = builder.now.astimezone(zone).date()
    newest = (today.year, today.month)
    months = [_shift_month(newest, -(MONTHS_PER_PAGE * (page_number - 1) + i)) for i in range(MONTHS_PER_PAGE)]
    start = datetime(*months[-1], 1, tzinfo=zone)
    end = datetime(*_shift_month(months[0], 1), 1, tzinfo=zone)
    component_json = None
    if component is not None:
        found = builder.live_component(component)
        component_json = {"id": found.id, "name": found.name}
    listed = builder.incidents_json(builder.incidents_between(start, end, component=component))
    by_month: dict[tuple[int, int], list[JSON]] = {m: [] for m in months}
    for incident in listed:
        declared = datetime.fromisoformat(incident["created_at"]).astimezone(zone)
        by_month.setdefault((declared.year, declared.month), []).append(incident)
    oldest = builder.oldest_incident_start(component=component)
    has_older = oldest is not None and oldest < start
    query = f"&component={component}" if component else ""
    pagination = {
        "page": page_number,
        "newer": (f"/history?page={page_number - 1}{query}" if page_number > 1 else None),
        "older": (f"/history?page={page_number + 1}{query}" if has_older else None),
    }
    month_list = [
        {"month": f"{y:04d}-{m:02d}", "label": f"{calendar.month_name[m]} {y}", "incidents": by_month[(y, m)]}
        for y, m in months
    ]
    page = builder.page_json()
    components = [{"id": c["id"], "name": c["name"]} for c in builder.components_json() if not c["group"]]
    data = {"component": component_json, "months": month_list, "pagination": pagination}
    return {"summary": {"page": page}, **data, "components": components, "json": {"page": page, **data}}


def _page_number(raw: str | None) -> int:
    if raw is None or raw == "":
        return 1
    # ASCII only: str.isdigit() also takes '²' (which int() then refuses) and other scripts' digits.
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 4 or not 1 <= int(raw) <= 1000:
        raise InvalidInput(f"page {raw!r} is not a page number (1, 2, 3 ...)", field="page")
    return int(raw)


def _shift_month(month: tuple[int, int], delta: int) -> tuple[int, int]:
    index = month[0] * 12 + (month[1] - 1) + delta
    return index // 12, index % 12 + 1


CHANNEL_NAMES = {
    "email": "Email",
    "chat": "Chat",
    "phone": "Phone",
    "social": "Social media",
    "ticket": "Tickets",
    "complaint": "Formal complaints",
}


def pricing_context(builder: V2Builder, request: Request) -> dict[str, Any]:
    """The support tiers as a buyer compares them: price, channels, hours, targets, credits."""
    config = builder.config
    hours = describe_business_hours(config.business_hours, config.page.time_zone)
    severities = [
        {"id": key, "level": int(key.removeprefix("sev")), "name": severity.name, "description": severity.description}
        for key, severity in sorted(config.severities.items())
    ]
    tiers = []
    for tier in config.support_tiers:
        tiers.append(
            {
                "id": tier.id,
                "name": tier.name,
                "price": {
                    "included": tier.price.included,
                    "currency": tier.price.currency,
                    "min": _number(tier.price.min),
                    "max": _number(tier.price.max),
                    "per": tier.price.per,
                    "text": describe_price(tier.price),
                },
                "channels": [{"id": c, "name": CHANNEL_NAMES.get(c, c)} for c in tier.channels],
                "coverage": tier.coverage,
                "coverage_text": "24/7, every day of the year" if tier.coverage == "24x7" else hours,
                "response_targets": {
                    s["id"]: (
                        {"target": str(tier.response_targets[s["id"]]), "text": tier.response_targets[s["id"]].describe()}
                        if s["id"] in tier.response_targets
                        else None
                    )
                    for s in severities
                },
                "sla_credits": {
                    "per_breach_percent": _number(tier.sla_credits.per_breach_percent),
                    "monthly_cap_percent": _number(tier.sla_credits.monthly_cap_percent),
                    "text": describe_credits(tier.sla_credits),
                },
                "extras": list(tier.extras),
            }
        )
    page = builder.page_json()
    data = {"business_hours": hours, "severities": severities, "support_tiers": tiers}
    return {"summary": {"page": page}, **data, "json": {"page": page, **data}}


def describe_price(price: Price) -> str:
    if price.included:
        return "Included"
    symbol = "$" if price.currency == "USD" else f"{price.currency} "
    low = f"{symbol}{_number(price.min)}"
    if price.max is not None and price.max != price.min:
        return f"{low}–{_number(price.max)} per {price.per}"
    return f"{low} per {price.per}"


def describe_credits(credits: SlaCredits) -> str:
    if not credits.per_breach_percent:
        return credits.note or "No service credits"
    text = f"{_number(credits.per_breach_percent)} % of the monthly fee per missed target"
    if credits.monthly_cap_percent:
        text += f", up to {_number(credits.monthly_cap_percent)} % a month"
    return text + (f". {credits.note}" if credits.note else "")


def describe_business_hours(hours: BusinessHours, default_zone: str) -> str:
    days = hours.days
    if days == WEEKDAYS[: len(days)] and len(days) > 1:
        day_text = f"{days[0].capitalize()}–{days[-1].capitalize()}"
    else:
        day_text = ", ".join(d.capitalize() for d in days)
    text = f"{day_text} {hours.start:%H:%M}–{hours.end:%H:%M} {hours.time_zone or default_zone}"
    if hours.holidays.country or hours.holidays.extra:
        text += ", public holidays excluded"
    return text


def _number(value: Decimal | None) -> int | float | None:
    if value is None:
        return None
    return int(value) if value == value.to_integral_value() else float(value)


SLA_MONTHS = 3


def _target_json(duration: Duration | None) -> dict[str, str] | None:
    return None if duration is None else {"target": str(duration), "text": duration.describe()}


def _clock_text(clock: str, hours: str) -> str:
    return "around the clock" if clock == "24x7" else f"business hours ({hours})"


def _spent(seconds: int, clock: str) -> str:
    text = describe_seconds(seconds)
    return f"{text} of business time" if clock == "business_hours" else text


def sla_context(builder: V2Builder, request: Request) -> dict[str, Any]:
    """What was promised, how often it was kept in each of the last three months, and every
    promise broken, with its root cause and what is being done about it."""
    config = builder.config
    zone = builder.zone
    hours = describe_business_hours(config.business_hours, config.page.time_zone)
    commitments = [
        {
            "severity": key,
            "level": int(key.removeprefix("sev")),
            "name": severity.name,
            "description": severity.description,
            "clock": severity.clock,
            "clock_text": _clock_text(severity.clock, hours),
            "targets": {name: _target_json(getattr(severity, name)) for name in (*PUBLIC_TARGETS, "resolution_plan")},
            "update_every": _target_json(severity.update_every),
        }
        for key, severity in sorted(config.severities.items())
    ]
    channels = [
        {
            "id": key,
            "name": channel.name,
            "first_response": _target_json(channel.first_response),
            "resolution": _target_json(channel.resolution),
            "clock": channel.clock,
            "clock_text": _clock_text(channel.clock, hours),
            "note": channel.note,
        }
        for key, channel in config.channels.items()
    ]
    business_calendar = calendar_for(config)
    today = builder.now.astimezone(zone).date()
    current = (today.year, today.month)
    months = []
    breaches = []
    for offset in range(SLA_MONTHS):
        year, month = _shift_month(current, -offset)
        start = datetime(year, month, 1, tzinfo=zone)
        end = datetime(*_shift_month((year, month), 1), 1, tzinfo=zone)
        measured = measure_declared_between(builder.session, config, business_calendar, start=start, end=end, now=builder.now)
        tallies = attainment(m.evaluation for m in measured)
        months.append(
            {
                "month": f"{year:04d}-{month:02d}",
                "label": f"{calendar.month_name[month]} {year}",
                "to_date": offset == 0,
                "incidents": len(measured),
                "targets": {
                    name: {
                        "met": tally.met,
                        "breached": tally.breached,
                        "pending": tally.pending,
                        "percent": None if tally.percent is None else round(tally.percent, 1),
                    }
                    for name in PUBLIC_TARGETS
                    for tally in [tallies.get(name, Attainment(name))]
                },
            }
        )
        for item in measured:
            for target in item.evaluation.breaches:
                incident = item.incident
                breaches.append(
                    {
                        "month": f"{year:04d}-{month:02d}",
                        "incident": {
                            "id": str(incident.id),
                            "name": incident.title,
                            "severity": f"sev{incident.severity}",
                            "url": builder.config.incident_url(str(incident.id)),
                            "started_at": builder.time(incident.detected_at),
                        },
                        "target": target.target,
                        "target_label": TARGET_LABELS[target.target],
                        "promised": _spent(target.target_seconds, target.clock),
                        "actual": _spent(target.elapsed_seconds, target.clock)
                        + ("" if target.event_at else " so far"),
                        "breached_by": _spent(target.breached_by_seconds, target.clock),
                        "root_cause": incident.root_cause,
                        "remediation": incident.remediation,
                    }
                )
    page = builder.page_json()
    data = {
        "business_hours": hours,
        "commitments": commitments,
        "channels": channels,
        "months": months,
        "breaches": breaches,
        "target_labels": {name: TARGET_LABELS[name] for name in PUBLIC_TARGETS},
    }
    return {"summary": {"page": page}, **data, "json": {"page": page, **data}}
