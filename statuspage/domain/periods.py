"""The periods an SLA report covers: calendar months and ISO weeks in the page's time zone, their
labels (``2026-10``, ``2026-W48``), the one before, and the weekly posting time (``mon 09:00``).

A period is ``[start, end)`` in UTC, from local midnight to local midnight, so a week or month
that crosses a change of daylight saving time is 1 hour shorter or longer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo

from statuspage.domain.months import FIRST_YEAR, month_bounds, month_label, shift_month

WEEK = re.compile(r"^(\d{4})-?W(\d{2})$", re.IGNORECASE)
MONTH_NAMES = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WEEKLY_AT = re.compile(r"^([a-z]{3})[a-z]*\s+(\d{1,2}):(\d{2})$")


@dataclass(frozen=True)
class Period:
    """``kind``: month or week; ``label``: ``2026-10`` or ``2026-W48``; ``name``: how a sentence
    names it (``October 2026``, ``week 48 of 2026``); ``short``: how a comparison names it
    (``October``, ``week 48``)."""

    kind: str
    label: str
    name: str
    short: str
    start: datetime
    end: datetime
    first_day: date
    last_day: date


def _zone(zone: str | tzinfo) -> tzinfo:
    return ZoneInfo(zone) if isinstance(zone, str) else zone


def month_period(year: int, month: int, zone: str | tzinfo) -> Period:
    start, end = month_bounds(year, month, zone)
    after = shift_month(year, month, 1)
    return Period(
        kind="month",
        label=month_label(year, month),
        name=f"{MONTH_NAMES[month - 1]} {year}",
        short=MONTH_NAMES[month - 1],
        start=start,
        end=end,
        first_day=date(year, month, 1),
        last_day=date(after[0], after[1], 1) - timedelta(days=1),
    )


def read_week(text: str) -> tuple[int, int] | None:
    """``2026-W48`` (or ``2026W48``) as ``(2026, 48)``; ``None`` for anything else, including a
    53rd week in a year that has only 52."""
    match = WEEK.match(text.strip())
    if not match:
        return None
    year, week = int(match.group(1)), int(match.group(2))
    if year < FIRST_YEAR or not 1 <= week <= weeks_in(year):
        return None
    return year, week


def weeks_in(year: int) -> int:
    """52 or 53: the ISO week of 28 December is always the year's last."""
    return date(year, 12, 28).isocalendar().week


def week_period(year: int, week: int, zone: str | tzinfo) -> Period:
    tz = _zone(zone)
    monday = date.fromisocalendar(year, week, 1)
    sunday = monday + timedelta(days=6)
    start = datetime.combine(monday, time(0), tzinfo=tz).astimezone(UTC)
    end = datetime.combine(sunday + timedelta(days=1), time(0), tzinfo=tz).astimezone(UTC)
    return Period(
        kind="week",
        label=f"{year:04d}-W{week:02d}",
        name=f"week {week} of {year}",
        short=f"week {week}",
        start=start,
        end=end,
        first_day=monday,
        last_day=sunday,
    )


def shift_week(year: int, week: int, delta: int) -> tuple[int, int]:
    monday = date.fromisocalendar(year, week, 1) + timedelta(weeks=delta)
    found = monday.isocalendar()
    return found.year, found.week


def last_complete_week(now: datetime, zone: str | tzinfo) -> tuple[int, int]:
    """The ISO week before the one ``now`` falls in, in the zone's calendar."""
    today = now.astimezone(_zone(zone)).date()
    found = (today - timedelta(days=7)).isocalendar()
    return found.year, found.week


def previous(period: Period, zone: str | tzinfo) -> Period:
    """The period of the same kind just before ``period``."""
    if period.kind == "week":
        return week_period(*shift_week(*_week_of(period), -1), zone)
    return month_period(*shift_month(period.first_day.year, period.first_day.month, -1), zone)


def history(period: Period, zone: str | tzinfo, count: int) -> list[Period]:
    """``period`` and the ``count`` periods of its kind before it, oldest first."""
    found = [period]
    for _ in range(count):
        found.append(previous(found[-1], zone))
    return found[::-1]


def _week_of(period: Period) -> tuple[int, int]:
    iso = period.first_day.isocalendar()
    return iso.year, iso.week


def as_of(period: Period, now: datetime) -> datetime:
    """The moment a report of ``period`` speaks for: the period's end once it is over, else now."""
    return min(now, period.end)


def as_of_day(period: Period, now: datetime, zone: str | tzinfo) -> date:
    """The local day lateness is counted to: the day after the period once it is over (an item
    due on its last day is late by then), else today."""
    moment = as_of(period, now)
    return moment.astimezone(_zone(zone)).date()


class WeeklyTimeError(ValueError):
    pass


@dataclass(frozen=True)
class WeeklyAt:
    """A moment of the week: ``weekday`` (Monday is 0) at ``time``, local."""

    weekday: int
    time: time

    def __str__(self) -> str:
        return f"{WEEKDAYS[self.weekday]} {self.time:%H:%M}"


def read_weekly_time(text: str) -> WeeklyAt:
    """``mon 09:00`` (or ``Monday 9:00``) as ``WeeklyAt(0, time(9, 0))``."""
    match = _WEEKLY_AT.match(" ".join(text.strip().lower().split()))
    if not match or match.group(1) not in WEEKDAYS:
        raise WeeklyTimeError(f"{text!r} is not a day and time like mon 09:00")
    hour, minute = int(match.group(2)), int(match.group(3))
    if hour > 23 or minute > 59:
        raise WeeklyTimeError(f"{text!r}: the time must be between 00:00 and 23:59")
    return WeeklyAt(WEEKDAYS.index(match.group(1)), time(hour, minute))


def weekly_due(now: datetime, zone: str | tzinfo, weekday: int, at: time) -> tuple[int, int] | None:
    """The ISO week whose report is due at ``now``: the last complete week, once this week's
    posting time (``weekday`` at ``at``, local) has come; ``None`` before it."""
    local = now.astimezone(_zone(zone))
    this_monday = local.date() - timedelta(days=local.weekday())
    due = datetime.combine(this_monday + timedelta(days=weekday), at, tzinfo=local.tzinfo)
    if local < due:
        return None
    return last_complete_week(now, zone)
