"""The weekly SLA report: the monthly report's figures over an ISO week (Monday to Sunday in the
page's time zone), compared with the week before, with a trend over six weeks. Service-quality
KPIs are imported per month, so a week has none; SLA credits are those the week's misses earn
(the tiers' monthly cap applied to the week alone).

``incident report weekly`` prints it (by default the last complete week) and ``--post`` queues
its summary for Slack; :mod:`statuspage.reports.schedule` posts it every week on its own.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from statuspage.domain.businesstime import BusinessCalendar
from statuspage.domain.periods import last_complete_week, read_week, week_period
from statuspage.errors import InvalidInput
from statuspage.reports.assemble import build
from statuspage.reports.model import MonthlyReport
from statuspage.settings import Config


def parse_week(text: str) -> tuple[int, int]:
    """``2026-W48`` as ``(2026, 48)``; anything else is refused."""
    found = read_week(text)
    if found is None:
        raise InvalidInput(
            f"{text!r} is not an ISO week; write it as YYYY-Www, e.g. 2026-W48 (weeks 01 to 52, or 53 in long years)",
            field="week",
        )
    return found


def week_of(text: str | None, config: Config, now: datetime) -> tuple[int, int]:
    """The week named, or the last complete week in the page's time zone."""
    return parse_week(text) if text else last_complete_week(now, config.page.time_zone)


def weekly_report(
    session: Session,
    config: Config,
    year: int,
    week: int,
    now: datetime,
    *,
    calendar: BusinessCalendar | None = None,
) -> MonthlyReport:
    return build(session, config, week_period(year, week, config.page.time_zone), now, calendar=calendar)
