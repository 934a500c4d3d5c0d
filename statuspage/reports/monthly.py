"""The monthly SLA report: breaches, attainment, response times, credits and the trend.

:func:`monthly_report` is the one entry point: the rows are read once
(:mod:`statuspage.reports.load`), each incident is measured against its severity's targets, and
the figures are worked out from those measurements by :mod:`statuspage.domain.report` (which
also says what belongs to which month), so the same rows and ``now`` always give the same report.
:mod:`statuspage.reports.render` prints a report as Markdown, HTML, CSV or JSON, and
:mod:`statuspage.reports.slack` sums it up for the Slack incidents channel.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session

from statuspage.db.models import Incident
from statuspage.domain.businesstime import BusinessCalendar
from statuspage.domain.months import month_bounds, month_label, read_month
from statuspage.domain.report import (
    HISTORY_MONTHS,
    Breach,
    EscalationStats,
    SeverityStats,
    TierStats,
    TrendPoint,
    declared_in,
    escalation_stats,
    in_tier_window,
    month_breaches,
    overall_percent,
    severity_stats,
    sorted_breaches,
    tier_incidents,
    tier_stats,
    trend,
)
from statuspage.domain.sla import TARGET_LABELS, IncidentEvaluation, TargetEvaluation
from statuspage.errors import InvalidInput
from statuspage.incidents.sla import PUBLIC_TARGETS, calendar_for, measure, times_of
from statuspage.reports.kpis import KpiResult
from statuspage.reports.kpis import evaluate as evaluate_kpis
from statuspage.reports.load import MonthRows, load_overdue_actions, load_rows
from statuspage.settings import Config


def parse_month(text: str) -> tuple[int, int]:
    """``2026-10`` as ``(2026, 10)``; anything else is refused."""
    found = read_month(text)
    if found is None:
        raise InvalidInput(f"{text!r} is not a month; write it as YYYY-MM, e.g. 2026-10", field="month")
    return found


@dataclass(frozen=True)
class MonthlyReport:
    month: str
    page_name: str
    time_zone: str
    start: datetime
    end: datetime
    generated_at: datetime
    incidents: int
    attainment_percent: float | None
    breaches: list[Breach]
    severities: list[SeverityStats]
    tiers: list[TierStats]
    escalation: list[EscalationStats]
    trend: list[TrendPoint]
    # Postmortem action items past due, when the postmortems module provides them.
    overdue_actions: list[dict[str, Any]] | None = field(default=None)
    # The month's imported service-quality KPIs against their targets (None: none imported).
    service_quality: list[KpiResult] | None = field(default=None)


def build_report(
    rows: MonthRows,
    config: Config,
    calendar: BusinessCalendar,
    year: int,
    month: int,
    now: datetime,
    *,
    history: int = HISTORY_MONTHS,
    overdue_actions: list[dict[str, Any]] | None = None,
    kpis: Mapping[str, float] | None = None,
) -> MonthlyReport:
    """``kpis``: the month's imported service-quality figures (see :mod:`statuspage.reports.kpis`)."""
    zone = config.page.time_zone
    start, end = month_bounds(year, month, zone)
    evaluations = _measured(rows.incidents, config, calendar, now)
    in_month = [i for i in rows.incidents if declared_in(i, start, end) and i.id in evaluations]
    by_id = {incident.id: incident for incident in rows.incidents}
    breaches = sorted_breaches(
        (_breach(target, by_id[key], config) for key, target in month_breaches(evaluations, year, month, zone)),
        PUBLIC_TARGETS,
    )
    severities = []
    for level in config.severity_levels:
        severity = config.severities[f"sev{level}"]
        shown = [t for t in PUBLIC_TARGETS if getattr(severity, t) is not None]
        severities.append(
            severity_stats(
                level, severity.name, targets=shown, in_month=in_month, evaluations=evaluations, breaches=breaches
            )
        )
    # Times of the incidents whose first response can fall due in the month, computed once here
    # rather than once per support tier.
    times = {
        i.id: times_of(i) for i in rows.incidents if i.id is not None and in_tier_window(i.declared_at, start, end)
    }
    relevant = tier_incidents(rows.incidents, times, start, end)
    tiers = [
        tier_stats(
            tier,
            incidents=relevant,
            in_month=in_month,
            times=times,
            calendar=calendar,
            year=year,
            month=month,
            zone=zone,
            now=now,
        )
        for tier in config.support_tiers
    ]
    measured = [(i.declared_at, evaluations[i.id]) for i in rows.incidents if i.id in evaluations]
    return MonthlyReport(
        month=month_label(year, month),
        page_name=config.page.name,
        time_zone=zone,
        start=start,
        end=end,
        generated_at=now,
        incidents=len(in_month),
        attainment_percent=overall_percent(evaluations[i.id] for i in in_month if i.id is not None),
        breaches=breaches,
        severities=severities,
        tiers=tiers,
        escalation=escalation_stats(rows.pages, config.escalation.tier),
        trend=trend(measured, year=year, month=month, zone=zone, history=history),
        overdue_actions=overdue_actions,
        service_quality=evaluate_kpis(kpis) if kpis else None,
    )


def _measured(
    incidents: Sequence[Incident], config: Config, calendar: BusinessCalendar, now: datetime
) -> dict[int, IncidentEvaluation]:
    """Each incident against its severity's public targets, by id; an incident of a severity no
    longer configured is left out."""
    evaluations: dict[int, IncidentEvaluation] = {}
    for incident in incidents:
        evaluation = measure(incident, config, calendar, now)
        if evaluation is not None and incident.id is not None:
            evaluations[incident.id] = evaluation
    return evaluations


def _breach(target: TargetEvaluation, incident: Incident, config: Config) -> Breach:
    reference = incident.id or 0
    severity = config.severities[f"sev{incident.severity}"]
    return Breach(
        incident_id=reference,
        title=incident.title,
        url=config.incident_url(reference),
        severity=incident.severity,
        target=target.target,
        label=TARGET_LABELS.get(target.target, target.target),
        clock=target.clock,
        promised=str(getattr(severity, target.target)),
        target_seconds=target.target_seconds,
        deadline=target.deadline,
        event_at=target.event_at,
        actual_seconds=target.elapsed_seconds,
        breached_by_seconds=target.breached_by_seconds,
        root_cause=incident.root_cause,
        remediation=incident.remediation,
    )


def monthly_report(
    session: Session,
    config: Config,
    year: int,
    month: int,
    now: datetime,
    *,
    calendar: BusinessCalendar | None = None,
    kpis: Mapping[str, float] | None = None,
) -> MonthlyReport:
    """Load and build in one go; adds overdue postmortem actions when that module offers them."""
    rows = load_rows(session, config, year, month)
    overdue = load_overdue_actions(session, now.astimezone(ZoneInfo(config.page.time_zone)))
    return build_report(
        rows, config, calendar or calendar_for(config), year, month, now, overdue_actions=overdue, kpis=kpis
    )
