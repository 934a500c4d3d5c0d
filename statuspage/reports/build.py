"""The SLA figures of one period from the rows a report read: each incident is measured once
against its severity's targets and once per support tier, and every period (the report's, the
one before, the trend's) takes its figures from those measurements with
:mod:`statuspage.domain.report`, so the same rows and ``now`` always give the same figures."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from statuspage.db.models import Incident, PageSent
from statuspage.domain.businesstime import BusinessCalendar
from statuspage.domain.credits import TierBreach
from statuspage.domain.periods import Period
from statuspage.domain.report import (
    LOOKBACK,
    Breach,
    ResponseTimes,
    SeverityStats,
    TierStats,
    declared_in,
    detected,
    escalation_stats,
    in_tier_window,
    overall_percent,
    period_breaches,
    response_times,
    severity_stats,
    sorted_breaches,
    tier_evaluations,
    tier_incidents,
    tier_stats,
)
from statuspage.domain.report_cards import Paging, paging
from statuspage.domain.sla import TARGET_LABELS, IncidentEvaluation, TargetEvaluation
from statuspage.incidents.sla import PUBLIC_TARGETS, measure, times_of
from statuspage.reports.load import MonthRows
from statuspage.settings import Config


@dataclass(frozen=True)
class Measured:
    """Every loaded incident measured once: against its severity's public targets (by id; an
    incident of a severity no longer configured is left out) and, per support tier id, against
    the tier's first-response promise (the incidents of ``window`` only)."""

    rows: MonthRows
    evaluations: dict[int, IncidentEvaluation]
    tiers: dict[str, dict[int, IncidentEvaluation]]
    by_id: dict[int, Incident]


def measure_rows(
    rows: MonthRows,
    config: Config,
    calendar: BusinessCalendar,
    now: datetime,
    window: tuple[datetime, datetime],
    *,
    since: datetime,
) -> Measured:
    """``window``: the span whose tier figures are wanted (the period and the one before it);
    ``since``: the first period of the trend starts then, and older incidents (loaded for the
    causes of the year) are not measured against the public targets."""
    evaluations: dict[int, IncidentEvaluation] = {}
    for incident in rows.incidents:
        if incident.declared_at < since - LOOKBACK:
            continue
        evaluation = measure(incident, config, calendar, now, updates=rows.updates.get(incident.id or 0))
        if evaluation is not None and incident.id is not None:
            evaluations[incident.id] = evaluation
    start, end = window
    times = {
        i.id: times_of(i) for i in rows.incidents if i.id is not None and in_tier_window(i.declared_at, start, end)
    }
    relevant = tier_incidents(rows.incidents, times, start, end)
    tiers = {tier.id: tier_evaluations(tier, relevant, times, calendar, now) for tier in config.support_tiers}
    return Measured(rows, evaluations, tiers, {i.id: i for i in rows.incidents if i.id is not None})


@dataclass(frozen=True)
class Figures:
    period: Period
    in_period: list[Incident]
    breaches: list[Breach]
    severities: list[SeverityStats]
    tiers: list[TierStats]
    attainment_percent: float | None
    response: ResponseTimes

    @property
    def incidents(self) -> int:
        return len(self.in_period)


def figures(measured: Measured, config: Config, period: Period) -> Figures:
    """The period's breaches (by deadline), per-severity and per-tier figures and response times."""
    start, end = period.start, period.end
    evaluations = measured.evaluations
    in_period = [i for i in measured.rows.incidents if declared_in(i, start, end) and i.id in evaluations]
    breaches = sorted_breaches(
        (_breach(target, measured.by_id[key], config) for key, target in period_breaches(evaluations, start, end)),
        PUBLIC_TARGETS,
    )
    severities = []
    for level in config.severity_levels:
        severity = config.severities[f"sev{level}"]
        shown = [t for t in PUBLIC_TARGETS if getattr(severity, t, None) is not None]
        severities.append(
            severity_stats(
                level, severity.name, targets=shown, in_month=in_period, evaluations=evaluations, breaches=breaches
            )
        )
    tiers = [
        tier_stats(tier, evaluations=measured.tiers.get(tier.id, {}), in_month=in_period, start=start, end=end)
        for tier in config.support_tiers
    ]
    return Figures(
        period=period,
        in_period=in_period,
        breaches=breaches,
        severities=severities,
        tiers=tiers,
        attainment_percent=overall_percent(evaluations[i.id] for i in in_period if i.id is not None),
        response=response_times(in_period),
    )


def _breach(target: TargetEvaluation, incident: Incident, config: Config) -> Breach:
    reference = incident.id or 0
    severity = config.severities[f"sev{incident.severity}"]
    return Breach(
        incident_id=reference,
        title=incident.title,
        url=config.incident_url(reference),
        severity=incident.severity,
        target=target.target,
        label=TARGET_LABELS.get(target.target, target.target.replace("_", " ").capitalize()),
        clock=target.clock,
        promised=str(getattr(severity, target.target, "")),
        target_seconds=target.target_seconds,
        deadline=target.deadline,
        event_at=target.event_at,
        actual_seconds=target.elapsed_seconds,
        breached_by_seconds=target.breached_by_seconds,
        root_cause=incident.root_cause,
        remediation=incident.remediation,
        detected_at=detected(incident),
    )


def tier_breaches(figures: Figures, measured: Measured) -> list[TierBreach]:
    """The period's missed first responses per tier, in the order their deadlines passed, with
    the components each incident affected: what the credits in money are worked out from."""
    found = []
    for tier in figures.tiers:
        evaluations = measured.tiers.get(tier.id, {})
        for key in tier.breached_incidents:
            found.append((_deadline(evaluations.get(key)), key, tier.id))
    found.sort(key=lambda item: (item[0], item[1], item[2]))
    components = measured.rows.components
    return [TierBreach(incident_id=key, tier=tier, components=components.get(key, frozenset())) for _, key, tier in found]


def _deadline(evaluation: IncidentEvaluation | None) -> datetime:
    target = evaluation.get("first_response") if evaluation is not None else None
    assert target is not None
    return target.deadline


def paging_figures(pages: Sequence[PageSent], in_period: Iterable[Incident], config: Config) -> Paging:
    """The pages sent for the period's incidents per escalation tier, and the incidents
    acknowledged without a page, so the paging figures and the incidents' MTTA agree."""
    incidents = list(in_period)
    wanted = {i.id for i in incidents}
    chosen = [p for p in pages if p.incident_id in wanted]
    return paging(escalation_stats(chosen, config.escalation.tier), incidents, (p.incident_id for p in chosen))
