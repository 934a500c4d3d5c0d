"""An SLA report printed: Markdown and self-contained HTML from the templates in
``templates/reports/`` (laid out from :func:`statuspage.reports.view.view`), CSV with one row per
breach, and JSON (:mod:`statuspage.reports.render_json`). Nothing printed depends on the time it
is printed at."""

from __future__ import annotations

import csv
import functools
import io
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from statuspage.reports.chart import Chart, ChartBar, trend_chart
from statuspage.reports.model import MonthlyReport
from statuspage.reports.render_json import iso, render_json, to_json
from statuspage.reports.view import view
from statuspage.reports.words import duration_text, percent_text
from statuspage.settings import resource_dir

__all__ = [
    "CSV_COLUMNS",
    "FORMATS",
    "RENDERERS",
    "Chart",
    "ChartBar",
    "duration_text",
    "markdown_escape",
    "percent_text",
    "render_csv",
    "render_html",
    "render_json",
    "render_markdown",
    "to_json",
    "trend_chart",
]

FORMATS = ("md", "html", "csv", "json")

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
                iso(b.deadline),
                iso(b.event_at) or "",
                b.actual_seconds,
                b.breached_by_seconds,
                duration_text(b.breached_by_seconds, b.clock, report.working_day_seconds),
                _cell(b.root_cause),
                _cell(b.remediation),
                b.url,
            ]
        )
    return out.getvalue()


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]|~])")
# Angle brackets and ampersands as HTML entities: shown as themselves, never read as a tag.
_ENTITIES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})


class Raw(str):
    """A trusted value the Markdown template prints as it is (a URL from the configuration)."""

    __slots__ = ()


def markdown_escape(value: Any) -> Any:
    """Every value printed by the Markdown template: on one line, with Markdown punctuation
    backslash-escaped and ``& < >`` as entities, so an incident title can neither break the table
    nor inject markup."""
    if value is None:
        return ""
    if isinstance(value, Raw) or not isinstance(value, str):
        return value
    return _MARKDOWN_SPECIAL.sub(r"\\\1", " ".join(value.split()).translate(_ENTITIES))


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
    return _environment(True, templates_dir).get_template("reports/monthly.md").render(**view(report))


def render_html(report: MonthlyReport, templates_dir: Path | None = None) -> str:
    context = view(report)
    context["chart"] = trend_chart(report.trend)
    return _environment(False, templates_dir).get_template("reports/monthly.html").render(**context)


RENDERERS: dict[str, Callable[[MonthlyReport], str]] = {
    "md": render_markdown,
    "html": render_html,
    "csv": render_csv,
    "json": render_json,
}
