"""An SLA report as the Markdown and HTML templates print it: every figure already in words
(durations, percentages, money, the configuration's clocks and credit rules), every headline card
with its change since the period before, and every time in the page's time zone. The templates
only lay the words out, so both formats say the same thing."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from statuspage.domain.causes import CauseRow
from statuspage.domain.report import SeverityStats
from statuspage.domain.sla import TARGET_LABELS
from statuspage.reports.model import MonthlyReport
from statuspage.reports.words import (
    change_text,
    clock_words,
    compared_with,
    credit_owed_words,
    credit_rule_words,
    duration_text,
    money_text,
    percent_text,
    plural,
    value_text,
)


@dataclass(frozen=True)
class CardView:
    key: str
    label: str
    value: str
    change: str
    verdict: str  # better, worse, same or none
    note: str


def targets_shown(severities: Sequence[SeverityStats]) -> list[str]:
    """The targets any severity sets, in the order of :data:`TARGET_LABELS` (others after)."""
    found: list[str] = []
    for severity in severities:
        for target in severity.attainment:
            if target not in found:
                found.append(target)
    order = list(TARGET_LABELS)
    return sorted(found, key=lambda t: (order.index(t) if t in order else len(order), t))


def _cause_rows(rows: Sequence[CauseRow], currency: str) -> list[dict[str, Any]]:
    return [
        {
            "label": row.label,
            "incidents": row.incidents,
            "impact": duration_text(row.impact_minutes * 60) if row.impact_minutes else "—",
            "credit": money_text(row.credit, currency) if row.credit else "none",
        }
        for row in rows
    ]


def view(report: MonthlyReport) -> dict[str, Any]:
    zone = ZoneInfo(report.time_zone)
    period, before = report.period, report.previous
    compared = compared_with(period, before)
    credits = report.credits
    currency = credits.currency if credits is not None else "USD"
    working_day = report.working_day_seconds

    def local(value: datetime | None) -> str:
        return "—" if value is None else f"{value.astimezone(zone):%Y-%m-%d %H:%M %Z}"

    def duration(seconds: int | None, clock: str = "24x7") -> str:
        return duration_text(seconds, clock, working_day)

    cards = []
    for card in report.cards:
        note = ""
        if card.key == "credits" and credits is not None:
            note = f"{plural(credits.customers_owed, 'customer')} owed" if credits.total > 0 else "no customer is owed credits"
        elif card.key == "mtta":
            note = f"from declaration: {duration(report.response.mtta_from_declaration_seconds)}"
        elif card.key == "mttr":
            note = f"from declaration: {duration(report.response.mttr_from_declaration_seconds)}"
        elif card.key == "mttd":
            note = "detection to declaration"
        elif card.key == "missed":
            note = f"in {plural(len({b.incident_id for b in report.breaches}), 'incident')}"
        value, change, verdict = value_text(card, currency), change_text(card, compared, currency), card.verdict or "none"
        if card.key == "credits" and report.accounts == 0:
            # No customer accounts: the credits are known only as shares of each tier's fee.
            value, change, note = _shares([(t.name, t.credit_percent) for t in report.tiers]), "", "no customer accounts imported"
            before_words = _shares(report.previous_tier_credits)
            change = f"no change vs {compared}" if before_words == value else f"{compared}: {before_words}"
            verdict = "none"
        elif card.key == "credits" and card.value is not None and Decimal(card.value) == 0:
            value = "no credits"
        cards.append(CardView(card.key, card.label, value, change, verdict, note))

    tier_money = {t.tier: t for t in credits.tiers} if credits is not None else {}
    tiers = []
    for tier in report.tiers:
        money = tier_money.get(tier.id)
        tiers.append(
            {
                "name": tier.name,
                "coverage": clock_words(tier.coverage),
                "first_response": [
                    f"sev{s.severity} within {s.promised}: {percent_text(s.attainment.percent)}" for s in tier.severities
                ],
                "missed": tier.breaches,
                "rule": credit_rule_words(tier.per_breach_percent, tier.monthly_cap_percent),
                "owed": credit_owed_words(tier.credit_percent),
                "customers": money.accounts if money is not None else 0,
                "money": money_text(money.credit, currency) if money is not None and money.credit > 0 else "none",
            }
        )
    shown = targets_shown(report.severities)
    year_from = report.causes.year_from if report.causes is not None else ""
    return {
        "report": report,
        "title": f"{report.page_name}: SLA report for {period.name}",
        "period_text": f"{period.first_day.isoformat()} to {period.last_day.isoformat()} ({report.time_zone})",
        "as_of_text": _as_of_text(report, local),
        "compared": compared,
        "cards": cards,
        "summary": report.summary,
        "local": local,
        "duration": duration,
        "percent": percent_text,
        "clock": clock_words,
        "targets": shown,
        "labels": {t: TARGET_LABELS.get(t, t.replace("_", " ").capitalize()) for t in shown},
        "tiers": tiers,
        "currency": currency,
        "money": lambda amount: money_text(amount, currency),
        "causes_period": _cause_rows(report.causes.period, currency) if report.causes is not None else [],
        "causes_year": _cause_rows(report.causes.year, currency) if report.causes is not None else [],
        "causes_year_text": f"the 12 months from {year_from}" if year_from else "",
        "paging_text": paging_text(report, duration),
        "uptime": [
            {
                "name": row.name,
                "percent": _uptime(row.percent),
                "previous": _uptime(row.previous),
                "change": _uptime_change(row.percent, row.previous, compared),
                "down": duration(row.down_minutes * 60) if row.down_minutes else "none",
            }
            for row in report.uptime
        ],
    }


def _shares(percents: Sequence[tuple[str, Decimal]]) -> str:
    owed = [f"{name} {credit_owed_words(percent)}" for name, percent in percents if percent > 0]
    return "; ".join(owed) or "no credits"


def _as_of_text(report: MonthlyReport, local: Callable[[datetime | None], str]) -> str:
    if report.as_of >= report.end:
        return f"Overdue items, ages and uptime are as of the end of {report.period.name}."
    return f"{report.period.name.capitalize()} is not over: figures as of {local(report.as_of)}."


def paging_text(report: MonthlyReport, duration: Callable[..., str]) -> str:
    """One sentence that agrees with the incidents' MTTA: who was paged, and what was
    acknowledged without a page."""
    paging = report.paging
    if paging.incidents == 0:
        return "No incident was declared, so nobody was paged."
    parts = []
    if paging.pages:
        parts.append(
            f"{plural(paging.pages, 'page')} went out for {plural(paging.paged, 'incident')} of {paging.incidents}"
        )
    else:
        parts.append(f"No page went out for the {plural(paging.incidents, 'incident')}")
    if paging.unpaged_acknowledged:
        verb = "was" if paging.unpaged_acknowledged == 1 else "were"
        parts.append(
            f"{plural(paging.unpaged_acknowledged, 'incident')} {verb} acknowledged without a page "
            f"(the responder was already on it), in {duration(paging.unpaged_mtta_seconds)} on average from declaration"
        )
    unanswered = paging.incidents - paging.acknowledged
    if unanswered:
        parts.append(f"{plural(unanswered, 'incident')} {'was' if unanswered == 1 else 'were'} never acknowledged")
    return "; ".join(parts) + "."


def _uptime(value: float | None) -> str:
    return "no data" if value is None else f"{value:.2f}%"


def _uptime_change(value: float | None, before: float | None, compared: str) -> str:
    if value is None or before is None:
        return "—"
    change = round(value - before, 2)
    if change == 0:
        return f"no change vs {compared}"
    return f"{'▲' if change > 0 else '▼'} {abs(change):.2f} points vs {compared}"
