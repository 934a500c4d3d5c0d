"""Commitments that cannot contradict each other: a more severe level is never due later.

Within one set of targets (a support tier's response targets, or one target, say resolution,
across the severities) a Sev-1 must fall due no later than a Sev-2, a Sev-2 no later than a Sev-3,
and so on, whatever the moment the clock starts. A pair can break that for some start times only
when its two targets run on different clocks: 24 wall-clock hours against one business day holds
on a Monday morning and fails on a Friday evening. So each pair is decided like this:

- both targets on the same clock (both wall-clock, or both business time): the longer one is due
  later for every start, so the pair is wrong exactly when the more severe target is longer;
- a wall-clock target ``W`` for the more severe level against a business-time one ``B``: business
  time never runs faster than the wall clock, so ``W <= B`` is always right;
- otherwise the deadlines are computed for every half hour of a reference week and of the days
  around each holiday of the calendar, and the first start that puts them in the wrong order is
  the example reported.

Pure: no clock is read; the calendar supplies business hours and holidays.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from statuspage.domain.businesstime import BusinessCalendar, ClockKind, effective_clock
from statuspage.domain.durations import Duration

# A week without holidays in most calendars, and without daylight-saving switches, that every
# configuration is checked against (the result must not depend on the day it is checked).
REFERENCE_MONDAY = date(2026, 6, 8)
STEP = timedelta(minutes=30)
# Starts tried around a holiday: from this many days before it to the end of the holiday, so a
# Monday holiday is tried from the Friday before.
DAYS_BEFORE_HOLIDAY = 3


@dataclass(frozen=True, slots=True)
class Commitment:
    """One level's target: ``level`` 1 is the most severe; ``key`` names it (``sev1``)."""

    level: int
    key: str
    duration: Duration
    clock: ClockKind
    written: str = ""  # the duration as the configuration writes it (24h, not 1d); "" for its own form

    def __str__(self) -> str:
        return f"{self.key} ({self.written or self.duration})"


@dataclass(frozen=True, slots=True)
class Inversion:
    """``severe`` falls due after ``lesser`` when the clock starts at ``start``."""

    severe: Commitment
    lesser: Commitment
    start: datetime
    severe_due: datetime
    lesser_due: datetime
    week: date = REFERENCE_MONDAY

    def describe(self, calendar: BusinessCalendar) -> str:
        """``sev1 (24h) is due after sev3 (2bd) for a start on Mon 09:00 (Wed 13:00 > Wed 09:00)``:
        times in the calendar's zone, with their date when the start is not in the reference
        week (a start next to a holiday) or a deadline is six days or more after the start."""
        start = self.start.astimezone(calendar.zone)
        dated = not timedelta() <= start.date() - self.week < timedelta(days=7)

        def shown(moment: datetime) -> str:
            local = moment.astimezone(calendar.zone)
            far = dated or local.date() - start.date() >= timedelta(days=6)
            return f"{local:%a %Y-%m-%d %H:%M}" if far else f"{local:%a %H:%M}"

        return (
            f"{self.severe} is due after {self.lesser} "
            f"for a start on {shown(self.start)} ({shown(self.severe_due)} > {shown(self.lesser_due)})"
        )


def inversions(
    commitments: Iterable[Commitment], calendar: BusinessCalendar, *, week: date = REFERENCE_MONDAY
) -> list[Inversion]:
    """Every pair (more severe, less severe) that falls due in the wrong order for some start,
    most severe first, each with the first start found that shows it."""
    ordered = sorted(commitments, key=lambda c: c.level)
    found: list[Inversion] = []
    for index, severe in enumerate(ordered):
        for lesser in ordered[index + 1 :]:
            if lesser.level == severe.level:
                continue
            inversion = _inverted(severe, lesser, calendar, week)
            if inversion is not None:
                found.append(inversion)
    return found


def _amount(commitment: Commitment, calendar: BusinessCalendar) -> tuple[ClockKind, timedelta]:
    kind = effective_clock(commitment.duration, commitment.clock)
    if kind == "business_hours":
        return kind, calendar.working_time(commitment.duration)
    return kind, commitment.duration.timedelta


def _inverted(severe: Commitment, lesser: Commitment, calendar: BusinessCalendar, week: date) -> Inversion | None:
    severe_kind, severe_amount = _amount(severe, calendar)
    lesser_kind, lesser_amount = _amount(lesser, calendar)
    if severe_kind == lesser_kind:
        if severe_amount <= lesser_amount:
            return None
        starts: Iterable[datetime] = week_starts(calendar, week)  # wrong for every start: show the first
    elif severe_kind == "24x7" and severe_amount <= lesser_amount:
        return None
    else:
        starts = sample_starts(calendar, week)
    for start in starts:
        severe_due = calendar.deadline(start, severe.duration, severe.clock)
        lesser_due = calendar.deadline(start, lesser.duration, lesser.clock)
        if severe_due > lesser_due:
            return Inversion(severe, lesser, start, severe_due, lesser_due, week)
    return None


def week_starts(calendar: BusinessCalendar, week: date = REFERENCE_MONDAY) -> Iterator[datetime]:
    """Every half hour of the seven days from the opening of business on the reference week's
    first day (from its midnight when that day is not a working day)."""
    opening = calendar.start if calendar.is_working_day(week) else time(0)
    yield from _every_step(_instant(week, opening, calendar), timedelta(days=7))


def sample_starts(calendar: BusinessCalendar, week: date = REFERENCE_MONDAY) -> Iterator[datetime]:
    """The reference week's starts, then every half hour of the days around each holiday of the
    calendar that falls on a working weekday, in the years of the week and of the fixed holidays."""
    yield from week_starts(calendar, week)
    years = sorted({week.year} | {day.year for day in calendar.fixed_holidays})
    for year in years:
        for holiday in sorted(calendar.holidays_in(year)):
            if holiday.weekday() not in calendar.weekdays:
                continue
            first = holiday - timedelta(days=DAYS_BEFORE_HOLIDAY)
            yield from _every_step(_instant(first, time(0), calendar), timedelta(days=DAYS_BEFORE_HOLIDAY + 1))


def _instant(day: date, at: time, calendar: BusinessCalendar) -> datetime:
    """A local reading as an instant; around a DST switch, whichever instant Python picks."""
    return datetime.combine(day, at, tzinfo=calendar.zone).astimezone(UTC)


def _every_step(first: datetime, span: timedelta) -> Iterator[datetime]:
    moment, end = first, first + span
    while moment < end:
        yield moment
        moment += STEP


def levels(keys: Sequence[str]) -> dict[str, int]:
    """The level of each ``sevN`` key; other keys are left out."""
    found: dict[str, int] = {}
    for key in keys:
        if len(key) == 4 and key.startswith("sev") and key[3].isdigit() and key[3] != "0":
            found[key] = int(key[3])
    return found
