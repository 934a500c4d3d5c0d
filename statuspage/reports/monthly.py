"""The monthly SLA report: a written summary, headline cards against the month before, breaches
with their root causes, response times from detection, credits in money, causes by category,
overdue items, uptime, service-quality KPIs and the trend.

:func:`monthly_report` is the one entry point; :mod:`statuspage.reports.assemble` puts a report
of any period together (the weekly report is the same over an ISO week),
:mod:`statuspage.reports.render` prints it as Markdown, HTML, CSV or JSON, and
:mod:`statuspage.reports.slack` sums it up for the Slack incidents channel.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlmodel import Session

from statuspage.domain.businesstime import BusinessCalendar
from statuspage.domain.months import read_month
from statuspage.domain.periods import month_period
from statuspage.errors import InvalidInput
from statuspage.reports.assemble import build
from statuspage.reports.model import MonthlyReport
from statuspage.settings import Config

__all__ = ["InvalidInput", "MonthlyReport", "monthly_report", "parse_month"]


def parse_month(text: str) -> tuple[int, int]:
    """``2026-10`` as ``(2026, 10)``; anything else is refused."""
    found = read_month(text)
    if found is None:
        raise InvalidInput(f"{text!r} is not a month; write it as YYYY-MM, e.g. 2026-10", field="month")
    return found


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
    """The report of a calendar month in the page's time zone, as of ``now``; ``kpis``: the
    month's service-quality figures, in place of the ones imported."""
    period = month_period(year, month, config.page.time_zone)
    return build(session, config, period, now, calendar=calendar, kpis=kpis)
