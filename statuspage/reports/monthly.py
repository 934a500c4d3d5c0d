"""The monthly SLA report: breaches, attainment, response times, credits and the trend.

Rows are read once by :func:`load_rows` (one query for incidents, one for pages); everything
else is arithmetic over them with the functions of :mod:`statuspage.domain.sla`, so the same
rows and ``now`` always give the same report.

Which month a figure belongs to, in the page's time zone:

- a *breach* belongs to the month its deadline passed in (:func:`breaches_in_month`), so a closed
  month's breach list and credits do not change later;
- incident counts, MTTA, MTTR and *attainment* are over the incidents *declared* in the month,
  as on the public SLA page;
- escalation MTTA is over the pages sent in the month.

MTTA runs from declaration to acknowledgement, MTTR from detection to resolution; both are
wall-clock means in whole seconds over the incidents that got that far. Support tiers promise a
first response per severity under their own coverage clock; a tier's credit is
:func:`credit_percent` of the tier's missed first responses, with its ``sla_credits`` rule.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from sqlmodel import Session, col, select

from statuspage import outbox
from statuspage.context import WriteContext, write
from statuspage.db.models import Incident, OutboxMessage, Page
from statuspage.domain.businesstime import BusinessCalendar
from statuspage.domain.durations import describe_seconds
from statuspage.domain.sla import (
    Attainment,
    IncidentEvaluation,
    TargetEvaluation,
    attainment,
    breaches_in_month,
    credit_percent,
    evaluate_incident,
)
from statuspage.errors import InvalidInput
from statuspage.incidents.sla import PUBLIC_TARGETS, TARGET_LABELS, measure, times_of
from statuspage.reports.kpis import KpiResult
from statuspage.reports.kpis import evaluate as evaluate_kpis
from statuspage.settings import Config, resource_dir

MONTH = re.compile(r"^(\d{4})-(\d{2})$")
HISTORY_MONTHS = 5
# How far before a month's first day an incident can have been declared and still fall due in
# it: longer than any sensible target (10 business days over the year-end holidays is ~3 weeks).
LOOKBACK = timedelta(days=62)
# A declaration can name a detection time up to 7 days earlier, so an incident declared early
# next month can have fallen due this month.
LOOKAHEAD = timedelta(days=7)
FORMATS = ("md", "html", "csv", "json")


def parse_month(text: str) -> tuple[int, int]:
    """``2026-10`` as ``(2026, 10)``; anything else is refused."""
    match = MONTH.match(text.strip())
    if not match or not 1 <= int(match.group(2)) <= 12 or int(match.group(1)) < 1970:
        raise InvalidInput(f"{text!r} is not a month; write it as YYYY-MM, e.g. 2026-10", field="month")
    return int(match.group(1)), int(match.group(2))


def shift_month(year: int, month: int, delta: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + delta
    return index // 12, index % 12 + 1


def month_bounds(year: int, month: int, zone: str | tzinfo) -> tuple[datetime, datetime]:
    """The month's first instant and the next month's, in UTC, for a local calendar month."""
    tz = ZoneInfo(zone) if isinstance(zone, str) else zone
    after = shift_month(year, month, 1)
    first = datetime.combine(date(year, month, 1), time(0), tzinfo=tz).astimezone(UTC)
    last = datetime.combine(date(after[0], after[1], 1), time(0), tzinfo=tz).astimezone(UTC)
    return first, last


def month_label(year: int, month: int) -> str:
    return f"{year:04d}-{month:02d}"


# Loading -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MonthRows:
    """What a report reads: the incidents that can matter to the month or its trend, and the pages
    sent in the month."""

    incidents: Sequence[Incident]
    pages: Sequence[Page]


def load_rows(session: Session, config: Config, year: int, month: int, *, history: int = HISTORY_MONTHS) -> MonthRows:
    zone = config.page.time_zone
    start, _ = month_bounds(*shift_month(year, month, -history), zone)
    month_start, month_end = month_bounds(year, month, zone)
    incidents = session.exec(
        select(Incident)
        .where(col(Incident.declared_at) >= start - LOOKBACK, col(Incident.declared_at) < month_end + LOOKAHEAD)
        .order_by(col(Incident.declared_at), col(Incident.id))
    ).all()
    pages = session.exec(
        select(Page)
        .where(col(Page.paged_at) >= month_start, col(Page.paged_at) < month_end)
        .order_by(col(Page.paged_at), col(Page.id))
    ).all()
    for row in (*incidents, *pages):
        session.expunge(row)
    return MonthRows(incidents=list(incidents), pages=list(pages))


# The report ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Breach:
    incident_id: int
    title: str
    url: str
    severity: int
    target: str
    clock: str
    promised: str  # the target as configured, e.g. 15m or 1bd
    target_seconds: int
    deadline: datetime
    event_at: datetime | None  # None while the incident is still open
    actual_seconds: int  # elapsed on the target's clock, to the event or to the report's now
    breached_by_seconds: int
    root_cause: str | None
    remediation: str | None

    @property
    def label(self) -> str:
        return TARGET_LABELS.get(self.target, self.target)


@dataclass(frozen=True)
class SeverityStats:
    severity: int
    name: str
    incidents: int
    acknowledged: int
    mtta_seconds: int | None
    resolved: int
    mttr_seconds: int | None
    breaches: int
    attainment: dict[str, Attainment]


@dataclass(frozen=True)
class TierSeverity:
    severity: int
    promised: str
    attainment: Attainment


@dataclass(frozen=True)
class TierStats:
    id: str
    name: str
    coverage: str
    severities: list[TierSeverity]
    breaches: int
    per_breach_percent: Decimal
    monthly_cap_percent: Decimal
    credit_percent: Decimal


@dataclass(frozen=True)
class EscalationStats:
    tier: int | None
    name: str
    pages: int
    acknowledged: int
    mtta_seconds: int | None


@dataclass(frozen=True)
class TrendPoint:
    month: str
    incidents: int
    attainment_percent: float | None
    breaches: int


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


def _mean(values: Iterable[float]) -> int | None:
    found = list(values)
    return round(sum(found) / len(found)) if found else None


def _overall_percent(evaluations: Iterable[IncidentEvaluation]) -> float | None:
    met = decided = 0
    for tally in attainment(evaluations).values():
        met += tally.met
        decided += tally.decided
    return 100 * met / decided if decided else None


def _declared_in(incident: Incident, start: datetime, end: datetime) -> bool:
    return start <= incident.declared_at < end


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
    by_id = {incident.id: incident for incident in rows.incidents}
    evaluations: dict[int, IncidentEvaluation] = {}
    for incident in rows.incidents:
        evaluation = measure(incident, config, calendar, now)
        if evaluation is not None and incident.id is not None:
            evaluations[incident.id] = evaluation
    in_month = [i for i in rows.incidents if _declared_in(i, start, end) and i.id in evaluations]

    breaches = [
        _breach(target, by_id[key], config)
        for key, evaluation in evaluations.items()
        if evaluation.breaches  # most incidents breach nothing: no month to work out
        for target in breaches_in_month([evaluation], year, month, zone)
    ]
    breaches.sort(key=lambda b: (b.deadline, b.incident_id, PUBLIC_TARGETS.index(b.target)))

    severities = []
    for level in config.severity_levels:
        chosen = [i for i in in_month if i.severity == level]
        severity = config.severities[f"sev{level}"]
        tallies = attainment(evaluations[i.id] for i in chosen if i.id is not None)
        order = [t for t in PUBLIC_TARGETS if getattr(severity, t) is not None]
        severities.append(
            SeverityStats(
                severity=level,
                name=severity.name,
                incidents=len(chosen),
                acknowledged=sum(1 for i in chosen if i.acknowledged_at is not None),
                mtta_seconds=_mean(
                    (i.acknowledged_at - i.declared_at).total_seconds() for i in chosen if i.acknowledged_at
                ),
                resolved=sum(1 for i in chosen if i.resolved_at is not None),
                mttr_seconds=_mean((i.resolved_at - i.detected_at).total_seconds() for i in chosen if i.resolved_at),
                breaches=sum(1 for b in breaches if b.severity == level),
                attainment={t: tallies.get(t, Attainment(t)) for t in order},
            )
        )

    # A tier's figures are over the incidents declared in the month and the first responses that
    # fell due in it. Only the window load_rows reads for a report without history can fall due in
    # the month (the older rows are there for the trend), and of those declared before the month,
    # one answered before the month began cannot have missed a deadline inside it.
    times = {
        i.id: times_of(i)
        for i in rows.incidents
        if i.id is not None and start - LOOKBACK <= i.declared_at < end + LOOKAHEAD
    }
    relevant = [
        i
        for i in rows.incidents
        if i.id in times and (_declared_in(i, start, end) or not _answered_before(times[i.id], start))
    ]
    tiers = [_tier_stats(tier, relevant, in_month, calendar, year, month, zone, now, times) for tier in config.support_tiers]

    trend = []
    measured = [(i.declared_at, evaluations[i.id]) for i in rows.incidents if i.id in evaluations]
    for back in range(history, -1, -1):
        y, m = shift_month(year, month, -back)
        first, after = month_bounds(y, m, zone)
        declared = [evaluation for at, evaluation in measured if first <= at < after]
        trend.append(
            TrendPoint(
                month=month_label(y, m),
                incidents=len(declared),
                attainment_percent=_overall_percent(declared),
                breaches=len(breaches_in_month(evaluations.values(), y, m, zone)),
            )
        )

    return MonthlyReport(
        month=month_label(year, month),
        page_name=config.page.name,
        time_zone=zone,
        start=start,
        end=end,
        generated_at=now,
        incidents=len(in_month),
        attainment_percent=_overall_percent(evaluations[i.id] for i in in_month if i.id is not None),
        breaches=breaches,
        severities=severities,
        tiers=tiers,
        escalation=_escalation_stats(rows.pages, config),
        trend=trend,
        overdue_actions=overdue_actions,
        service_quality=evaluate_kpis(kpis) if kpis else None,
    )


def _answered_before(times: Any, moment: datetime) -> bool:
    event = times.event_at("first_response")
    return event is not None and event < moment


def _breach(target: TargetEvaluation, incident: Incident, config: Config) -> Breach:
    reference = incident.id or 0
    severity = config.severities[f"sev{incident.severity}"]
    return Breach(
        incident_id=reference,
        title=incident.title,
        url=config.incident_url(reference),
        severity=incident.severity,
        target=target.target,
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


def _tier_stats(
    tier: Any,
    incidents: Sequence[Incident],
    in_month: Sequence[Incident],
    calendar: BusinessCalendar,
    year: int,
    month: int,
    zone: str,
    now: datetime,
    times: Mapping[int, Any] | None = None,
) -> TierStats:
    """Every incident measured against the first response the tier promises for its severity.
    ``times``: :func:`times_of` of the incidents by id, when the caller has them already."""
    evaluations: dict[int, IncidentEvaluation] = {}
    for incident in incidents:
        promised = tier.response_targets.get(f"sev{incident.severity}")
        if promised is not None and incident.id is not None:
            known = times.get(incident.id) if times is not None else None
            evaluations[incident.id] = evaluate_incident(
                known or times_of(incident), {"first_response": promised}, tier.coverage, calendar, now
            )
    severities = []
    for key, promised in sorted(tier.response_targets.items()):
        level = int(key.removeprefix("sev"))
        chosen = [evaluations[i.id] for i in in_month if i.severity == level and i.id in evaluations]
        tally = attainment(chosen).get("first_response", Attainment("first_response"))
        severities.append(TierSeverity(severity=level, promised=str(promised), attainment=tally))
    missed = breaches_in_month(evaluations.values(), year, month, zone)
    rule = tier.sla_credits
    return TierStats(
        id=tier.id,
        name=tier.name,
        coverage=tier.coverage,
        severities=severities,
        breaches=len(missed),
        per_breach_percent=Decimal(rule.per_breach_percent),
        monthly_cap_percent=Decimal(rule.monthly_cap_percent),
        credit_percent=credit_percent(rule, missed),
    )


def _escalation_stats(pages: Sequence[Page], config: Config) -> list[EscalationStats]:
    groups: dict[int | None, list[Page]] = {}
    for page in pages:
        groups.setdefault(page.tier, []).append(page)
    result = []
    for level in sorted(groups, key=lambda t: (t is None, t or 0)):
        chosen = groups[level]
        tier = config.escalation.tier(level) if level is not None else None
        name = tier.name if tier else ("Paged by name" if level is None else f"Tier {level}")
        acked = [p for p in chosen if p.acknowledged_at is not None]
        result.append(
            EscalationStats(
                tier=level,
                name=name,
                pages=len(chosen),
                acknowledged=len(acked),
                mtta_seconds=_mean((p.acknowledged_at - p.paged_at).total_seconds() for p in acked if p.acknowledged_at),
            )
        )
    return result


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
    from statuspage.incidents.sla import calendar_for

    rows = load_rows(session, config, year, month)
    overdue = _overdue_actions(session, now.astimezone(ZoneInfo(config.page.time_zone)))
    return build_report(
        rows, config, calendar or calendar_for(config), year, month, now, overdue_actions=overdue, kpis=kpis
    )


def _overdue_actions(session: Session, now: datetime) -> list[dict[str, Any]] | None:
    """Open postmortem action items past due, if :mod:`statuspage.postmortems` offers them;
    ``None`` (and no section in the report) when it does not. ``now`` is in the page's zone."""
    try:
        import statuspage.postmortems as package
    except ImportError:
        return None
    finder = getattr(package, "open_actions_past_due", None)
    if finder is None:
        try:
            from statuspage.postmortems import service
        except ImportError:
            return None
        finder = getattr(service, "open_actions_past_due", None)
    if finder is None:
        return None
    return [_plain(item) for item in finder(session, now)]


ACTION_FIELDS = ("incident_id", "title", "owner", "due_on")


def _plain(item: Any) -> dict[str, Any]:
    found = dict(item) if isinstance(item, dict) else {k: getattr(item, k) for k in ACTION_FIELDS if hasattr(item, k)}
    return {k: found[k] for k in ACTION_FIELDS if k in found} or found


# Output --------------------------------------------------------------------------------------


def duration_text(seconds: int | None, clock: str = "24x7") -> str:
    if seconds is None:
        return "—"
    words = describe_seconds(int(seconds))
    return f"{words} (business)" if clock == "business_hours" else words


def percent_text(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}%"


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def to_json(report: MonthlyReport) -> dict[str, Any]:
    def tally(a: Attainment) -> dict[str, Any]:
        return {"met": a.met, "breached": a.breached, "pending": a.pending, "percent": a.percent}

    return {
        "month": report.month,
        "page": report.page_name,
        "time_zone": report.time_zone,
        "period": {"start": _iso(report.start), "end": _iso(report.end)},
        "generated_at": _iso(report.generated_at),
        "incidents": report.incidents,
        "attainment_percent": report.attainment_percent,
        "breaches": [
            {
                "incident_id": b.incident_id,
                "title": b.title,
                "url": b.url,
                "severity": f"sev{b.severity}",
                "target": b.target,
                "clock": b.clock,
                "promised": b.promised,
                "target_seconds": b.target_seconds,
                "deadline": _iso(b.deadline),
                "event_at": _iso(b.event_at),
                "actual_seconds": b.actual_seconds,
                "breached_by_seconds": b.breached_by_seconds,
                "root_cause": b.root_cause,
                "remediation": b.remediation,
            }
            for b in report.breaches
        ],
        "severities": [
            {
                "severity": f"sev{s.severity}",
                "name": s.name,
                "incidents": s.incidents,
                "acknowledged": s.acknowledged,
                "mtta_seconds": s.mtta_seconds,
                "resolved": s.resolved,
                "mttr_seconds": s.mttr_seconds,
                "breaches": s.breaches,
                "attainment": {name: tally(a) for name, a in s.attainment.items()},
            }
            for s in report.severities
        ],
        "support_tiers": [
            {
                "id": t.id,
                "name": t.name,
                "coverage": t.coverage,
                "first_response": {
                    f"sev{ts.severity}": {"promised": ts.promised, **tally(ts.attainment)} for ts in t.severities
                },
                "breaches": t.breaches,
                "per_breach_percent": str(t.per_breach_percent),
                "monthly_cap_percent": str(t.monthly_cap_percent),
                "credit_percent": str(t.credit_percent),
            }
            for t in report.tiers
        ],
        "escalation": [
            {"tier": e.tier, "name": e.name, "pages": e.pages, "acknowledged": e.acknowledged, "mtta_seconds": e.mtta_seconds}
            for e in report.escalation
        ],
        "trend": [
            {"month": p.month, "incidents": p.incidents, "attainment_percent": p.attainment_percent, "breaches": p.breaches}
            for p in report.trend
        ],
        **({"overdue_actions": report.overdue_actions} if report.overdue_actions is not None else {}),
        **(
            {"service_quality": [_kpi_json(k) for k in report.service_quality]}
            if report.service_quality is not None
            else {}
        ),
    }


def _kpi_json(result: KpiResult) -> dict[str, Any]:
    return {
        "kpi": result.key,
        "label": result.label,
        "value": result.value,
        "target": result.target_text,
        "met": result.met,
        "playbook_trigger": result.playbook_trigger,
        "trigger": result.trigger_text,
    }


def render_json(report: MonthlyReport) -> str:
    return json.dumps(to_json(report), indent=2, ensure_ascii=False, default=str) + "\n"


CSV_COLUMNS = (
    "incident_id",
    "title",
    "severity",
    "target",
    "clock",
    "promised",
    "deadline",
    "event_at",
    "actual_seconds",
    "breached_by_seconds",
    "breached_by",
    "root_cause",
    "remediation",
    "url",
)


def _cell(value: str | None) -> str:
    """Free text for a spreadsheet: a leading = + - @ would be read as a formula, so it is quoted."""
    text = value or ""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def render_csv(report: MonthlyReport) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for b in report.breaches:
        writer.writerow(
            [
                b.incident_id,
                _cell(b.title),
                f"sev{b.severity}",
                b.target,
                b.clock,
                b.promised,
                _iso(b.deadline),
                _iso(b.event_at) or "",
                b.actual_seconds,
                b.breached_by_seconds,
                duration_text(b.breached_by_seconds, b.clock),
                _cell(b.root_cause),
                _cell(b.remediation),
                b.url,
            ]
        )
    return out.getvalue()


@dataclass(frozen=True)
class ChartBar:
    x: float
    y: float
    width: float
    height: float
    label: str
    value: int


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    top: int
    bottom: int
    bars: list[ChartBar]
    points: list[tuple[float, float, str]]  # attainment line: x, y, label
    labels: list[tuple[float, str]]
    max_breaches: int

    @property
    def polyline(self) -> str:
        return " ".join(f"{x:.1f},{y:.1f}" for x, y, _ in self.points)


def trend_chart(trend: Sequence[TrendPoint], width: int = 640, height: int = 240) -> Chart:
    """Bars for breaches (left scale), a line for attainment % (0-100, right scale)."""
    top, bottom, left, right = 20, height - 40, 50, width - 50
    slot = (right - left) / max(1, len(trend))
    most = max([p.breaches for p in trend] + [1])
    span = bottom - top
    bars, points, labels = [], [], []
    for index, point in enumerate(trend):
        middle = left + slot * (index + 0.5)
        bar_height = span * point.breaches / most
        bars.append(ChartBar(middle - slot * 0.3, bottom - bar_height, slot * 0.6, bar_height, point.month, point.breaches))
        if point.attainment_percent is not None:
            points.append((middle, bottom - span * point.attainment_percent / 100, percent_text(point.attainment_percent)))
        labels.append((middle, point.month))
    return Chart(width, height, top, bottom, bars, points, labels, most)


def _template_context(report: MonthlyReport) -> dict[str, Any]:
    zone = ZoneInfo(report.time_zone)
    return {
        "report": report,
        "glance": slack_summary(report),
        "labels": TARGET_LABELS,
        "chart": trend_chart(report.trend),
        "local": lambda value: "—" if value is None else f"{value.astimezone(zone):%Y-%m-%d %H:%M %Z}",
        "duration": duration_text,
        "percent": percent_text,
    }


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]<>|~])")


class Raw(str):
    """A trusted value the Markdown template prints as it is (a URL from the configuration)."""

    __slots__ = ()


def markdown_escape(value: Any) -> Any:
    """Every value printed by the Markdown template: on one line, with Markdown punctuation and
    HTML escaped, so an incident title can neither break the table nor inject markup."""
    if value is None:
        return ""
    if isinstance(value, Raw) or not isinstance(value, str):
        return value
    return _MARKDOWN_SPECIAL.sub(r"\\\1", " ".join(value.split()))


@functools.lru_cache(maxsize=8)  # one per kind and directory: templates are compiled once per process
def _environment(markdown: bool, templates_dir: Path | None) -> Environment:
    loader = FileSystemLoader(str(templates_dir or resource_dir("templates")))
    if markdown:
        env = Environment(
            loader=loader, autoescape=False, undefined=StrictUndefined, finalize=markdown_escape, trim_blocks=True, lstrip_blocks=True
        )
        env.filters["raw"] = Raw
        return env
    return Environment(loader=loader, autoescape=True, undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def render_markdown(report: MonthlyReport, templates_dir: Path | None = None) -> str:
    return _environment(True, templates_dir).get_template("reports/monthly.md").render(**_template_context(report))


def render_html(report: MonthlyReport, templates_dir: Path | None = None) -> str:
    return _environment(False, templates_dir).get_template("reports/monthly.html").render(**_template_context(report))


# Slack ---------------------------------------------------------------------------------------

SLACK_CHANNEL = "slack"  # the outbox channel of statuspage.slack
SLACK_SUMMARY_EVENT = "slack.report_summary"
TOP_CAUSES = 3


def slack_summary(report: MonthlyReport) -> dict[str, Any]:
    """What the Slack summary of a report says, without links: the missed commitments, the
    credits owed, the most frequent root causes (per incident) and any KPI playbook trigger."""
    causes: dict[str, tuple[str, set[int]]] = {}
    unexplained: set[int] = set()
    for breach in report.breaches:
        cause = " ".join((breach.root_cause or "").split())
        if not cause:
            unexplained.add(breach.incident_id)
            continue
        shown, incidents = causes.setdefault(cause.casefold(), (cause, set()))
        incidents.add(breach.incident_id)
    ranked = sorted(causes.values(), key=lambda item: (-len(item[1]), item[0].casefold()))
    return {
        "month": report.month,
        "incidents": report.incidents,
        "attainment_percent": None if report.attainment_percent is None else round(report.attainment_percent, 1),
        "missed": len(report.breaches),
        "credits": [
            {"tier": t.name, "percent": str(t.credit_percent)} for t in report.tiers if t.credit_percent > 0
        ],
        "causes": [{"cause": cause, "incidents": len(ids)} for cause, ids in ranked[:TOP_CAUSES]],
        "unexplained": len(unexplained),
        "kpi_triggers": [k.trigger_text for k in report.service_quality or [] if k.playbook_trigger],
    }


def slack_summary_line(data: dict[str, Any]) -> str:
    """The summary as one plain line, for the command's confirmation."""
    credits = ", ".join(f"{c['tier']} {c['percent']}%" for c in data["credits"]) or "none"
    return f"{data['month']}: {data['missed']} missed commitments; credits owed: {credits}"


@write
def queue_slack_summary(*, ctx: WriteContext, report: MonthlyReport) -> OutboxMessage:
    """Queue the report's summary for the Slack incidents channel, in the transaction of an audit
    event (``report.post``): committed, it is delivered by the worker even if this process stops."""
    channel = ctx.config.slack.incidents_channel
    data = slack_summary(report)
    now = ctx.now()
    ctx.audit(
        action="report.post",
        subject_type="report",
        subject_id=report.month,
        at=now,
        after={"channel": channel, "missed": data["missed"]},
    )
    return outbox.enqueue(
        ctx.session,
        channel=SLACK_CHANNEL,
        target=channel,
        ordering_key=f"{SLACK_CHANNEL}:{channel}:report",
        event=SLACK_SUMMARY_EVENT,
        payload={"kind": "post", "template": "report_summary", "data": data},
        now=now,
    )


RENDERERS: dict[str, Callable[[MonthlyReport], str]] = {
    "md": render_markdown,
    "html": render_html,
    "csv": render_csv,
    "json": render_json,
}
