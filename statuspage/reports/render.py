"""The monthly report printed: Markdown and self-contained HTML from the templates in
``templates/reports/``, CSV with one row per breach, and JSON."""

from __future__ import annotations

import csv
import functools
import io
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from statuspage.domain.durations import describe_seconds
from statuspage.domain.report import TrendPoint
from statuspage.domain.sla import TARGET_LABELS, Attainment
from statuspage.reports.kpis import KpiResult
from statuspage.reports.monthly import MonthlyReport
from statuspage.reports.slack import slack_summary
from statuspage.settings import resource_dir

FORMATS = ("md", "html", "csv", "json")


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
        "glance": slack_summary(report),  # the report opens with what the Slack summary says
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


RENDERERS: dict[str, Callable[[MonthlyReport], str]] = {
    "md": render_markdown,
    "html": render_html,
    "csv": render_csv,
    "json": render_json,
}
