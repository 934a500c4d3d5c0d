"""Page contexts. Each HTML page is its JSON twin plus layout; templates only format."""

from __future__ import annotations

import calendar
import re
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from starlette.requests import Request

from statuspage.components.uptime import incidents_touching
from statuspage.db.models import Incident
from statuspage.domain.durations import Duration
from statuspage.domain.sla import TARGET_LABELS, Attainment, attainment
from statuspage.errors import InvalidInput, NotFound
from statuspage.incidents import service as incidents
from statuspage.incidents.sla import PUBLIC_TARGETS, calendar_for, measure_declared_between
from statuspage.read.v2 import JSON, V2Builder
from statuspage.settings import WEEKDAYS, BusinessHours, Price, SlaCredits
from statuspage.web.incident_view import (
    breach_json,
    incident_breaches,
    next_update,
    next_updates,
    postmortems_published,
    published_postmortem,
)
from statuspage.web.uptime_view import LEGEND, counting_rule, day_label, uptime_json


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
    rule = counting_rule(builder.config.uptime.downtime_percent)
    updates = next_updates(builder, summary["incidents"])
    return {
        "summary": summary,
        "sections": layout(summary["components"]),
        "uptime": uptime,
        "uptime_legend": LEGEND,
        "uptime_rule": rule,
        "next_updates": updates,
        "json": {**summary, "uptime": uptime, "uptime_rule": rule, "next_updates": updates},
    }


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
        "postmortem": published_postmortem(builder, incident.id or 0),
        "next_update": next_update(builder, data),
        "breaches": incident_breaches(builder, incident),
    }
    return {"summary": {"page": page}, "incident": data, **extra, "json": {"page": page, "incident": data, **extra}}


MONTHS_PER_PAGE = 3
FIRST_DAY = date(1970, 1, 1)


def history_context(builder: V2Builder, request: Request) -> dict[str, Any]:
    """Past incidents by month, newest first, three months a page, optionally for one component;
    or, with ``day``, the incidents under way on that day (where a day of an uptime bar leads)."""
    component = request.query_params.get("component") or None
    page_number = _page_number(request.query_params.get("page"))
    zone = builder.zone
    today = builder.now.astimezone(zone).date()
    day = _day(request.query_params.get("day"), today)
    component_json = None
    if component is not None:
        found = builder.live_component(component)
        component_json = {"id": found.id, "name": found.name}
    page = builder.page_json()
    components = [{"id": c["id"], "name": c["name"]} for c in builder.components_json() if not c["group"]]
    if day is not None:
        on_day = _day_json(builder, day, component)
        data: dict[str, Any] = {"component": component_json, "day": on_day, "months": [], "pagination": None}
        return {"summary": {"page": page}, **data, "components": components, "json": {"page": page, **data}}

    newest = (today.year, today.month)
    months = [_shift_month(newest, -(MONTHS_PER_PAGE * (page_number - 1) + i)) for i in range(MONTHS_PER_PAGE)]
    start = datetime(*months[-1], 1, tzinfo=zone)
    end = datetime(*_shift_month(months[0], 1), 1, tzinfo=zone)
    rows = builder.incidents_between(start, end, component=component)
    listed = _with_postmortems(builder, rows)
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
    data = {"component": component_json, "day": None, "months": month_list, "pagination": pagination}
    return {"summary": {"page": page}, **data, "components": components, "json": {"page": page, **data}}


def _with_postmortems(builder: V2Builder, rows: list[Incident]) -> list[JSON]:
    """The incidents' JSON, each with ``postmortem``: when its postmortem was published, or None."""
    published = postmortems_published(builder, [row.id for row in rows if row.id is not None])
    listed = builder.incidents_json(rows)
    for row, incident in zip(rows, listed, strict=True):
        at = published.get(row.id or 0)
        incident["postmortem"] = (
            None if at is None else {"published_at": builder.time(at), "url": f"/incidents/{row.id}#postmortem"}
        )
    return listed


def _day_json(builder: V2Builder, day: date, component: str | None) -> JSON:
    zone = builder.zone
    start = datetime.combine(day, time(), tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time(), tzinfo=zone)
    rows = incidents_touching(builder.session, start=start, end=end, component=component)
    page_number = _months_back(builder, day) // MONTHS_PER_PAGE + 1
    query = "&".join([f"page={page_number}"] * (page_number > 1) + [f"component={component}"] * (component is not None))
    return {
        "date": day.isoformat(),
        "label": f"{calendar.month_name[day.month]} {day.day}, {day.year}",
        "short_label": day_label(day),
        "month_label": f"{calendar.month_name[day.month]} {day.year}",
        "incidents": _with_postmortems(builder, rows),
        "month_url": "/history" + (f"?{query}" if query else ""),
    }


def _months_back(builder: V2Builder, day: date) -> int:
    today = builder.now.astimezone(builder.zone).date()
    return (today.year * 12 + today.month) - (day.year * 12 + day.month)


DAY_FORMAT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _day(raw: str | None, today: date) -> date | None:
    if raw is None or raw == "":
        return None
    problem = f"day {raw!r} is not a date like {today.isoformat()}"
    if not DAY_FORMAT.fullmatch(raw):
        raise InvalidInput(problem, field="day")
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        raise InvalidInput(problem, field="day") from None
    if not FIRST_DAY <= day <= today:
        raise InvalidInput(f"day {raw!r} is not between {FIRST_DAY.isoformat()} and today", field="day")
    return day


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
    """The support tiers as a buyer compares them: price, channels, hours, targets, credits, and
    how to buy one."""
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
                    "from_text": describe_starting_price(tier.price),
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
                "contact_url": contact_url(config.page.support_url, f"{tier.name} support plan"),
            }
        )
    paid = [t.price for t in config.support_tiers if not t.price.included and t.price.min is not None]
    cheapest = min(paid, key=lambda p: p.min or 0, default=None)
    phone = config.channels.get("phone")
    phone_line = (
        None
        if phone is None
        else {
            "tiers": [t.name for t in config.support_tiers if "phone" in t.channels],
            "first_response": phone.first_response.describe(),
            "clock_text": _clock_text(phone.clock, hours),
            "note": phone.note,
        }
    )
    page = builder.page_json()
    data = {
        "business_hours": hours,
        "severities": severities,
        "support_tiers": tiers,
        "starting_price": None if cheapest is None else describe_starting_price(cheapest),
        "phone_line": phone_line,
        "contact_url": contact_url(config.page.support_url, "Support plans"),
        "incident_response": incident_response(builder),
    }
    return {"summary": {"page": page}, **data, "json": {"page": page, **data}}


def contact_url(support_url: str | None, subject: str) -> str | None:
    """Where a buyer asks about a plan: the page's support address, with a subject when it is email."""
    if support_url is None:
        return None
    if support_url.startswith("mailto:") and "?" not in support_url:
        return f"{support_url}?subject={quote(subject)}"
    return support_url


def incident_response(builder: V2Builder) -> dict[str, Any] | None:
    """The most severe severity's public first response: what the status page promises everyone,
    beside which /pricing puts each plan's response to the customer's own tickets."""
    if not builder.config.severities:
        return None
    key, severity = min(builder.config.severities.items())
    hours = describe_business_hours(builder.config.business_hours, builder.config.page.time_zone)
    # The first plan that promises a response to a ticket of that severity: the contrast to explain.
    tier = next((t for t in builder.config.support_tiers if key in t.response_targets), None)
    return {
        "severity": key,
        "level": int(key.removeprefix("sev")),
        "name": severity.name,
        "first_response": severity.first_response.describe(),
        "clock_text": _clock_text(severity.clock, hours),
        "ticket": None if tier is None else {"tier": tier.name, "text": tier.response_targets[key].describe()},
    }


def _money(price: Price, amount: Decimal | None) -> str:
    symbol = "$" if price.currency == "USD" else f"{price.currency} "
    return f"{symbol}{_number(amount)}"


def describe_price(price: Price) -> str:
    if price.included:
        return "Included"
    low = _money(price, price.min)
    if price.max is not None and price.max != price.min:
        return f"{low}–{_number(price.max)} per {price.per}"
    return f"{low} per {price.per}"


def describe_starting_price(price: Price) -> str:
    """``From $49 per seat per month``: the price a plan starts at, as a sentence."""
    if price.included:
        return "Included with every subscription"
    text = f"{_money(price, price.min)} per {price.per}"
    return f"From {text}" if price.max is not None and price.max != price.min else text


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
            # Every one measured below; the update cadence is the severity's update_every.
            "targets": {name: _target_json(getattr(severity, name)) for name in PUBLIC_TARGETS},
            "service_recovery": [{"title": step.title, "due": _target_json(step.due)} for step in severity.service_recovery],
        }
        for key, severity in sorted(config.severities.items())
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
                breaches.append({"month": f"{year:04d}-{month:02d}", **breach_json(builder, item.incident, target)})
    page = builder.page_json()
    data = {
        "business_hours": hours,
        "commitments": commitments,
        "months": months,
        "breaches": breaches,
        "target_labels": {name: TARGET_LABELS[name] for name in PUBLIC_TARGETS},
    }
    return {"summary": {"page": page}, **data, "json": {"page": page, **data}}
