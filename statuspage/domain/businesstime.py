"""Business time: which instants count towards a target that only runs during business hours.

An instant is *business time* when the local wall clock (in the calendar's zone) shows a working
weekday that is not a holiday and a time of day in ``[start, end)``. Everything here follows from
that one definition, evaluated on real instants, so it stays exact across DST switches: on the
day the clocks spring forward a 00:00-23:00 working day lasts 22 real hours, a start time that
falls inside the skipped hour opens business at the switch itself, and when the clocks fall back a
repeated hour inside business hours counts twice, because it really is lived twice.

Business *days* are a length, not a date: ``N bd`` is ``N`` times the nominal working day
(``end - start``) of working time. With 08:00-18:00, 2bd from Friday 17:00 is 20 working hours and
lands on Tuesday 17:00. Counting lengths rather than "same time N days later" keeps
``add_business`` and ``business_seconds_between`` exact inverses.

Nothing here reads the clock or does I/O, apart from the ``holidays`` package computing a year's
public holidays the first time that year is asked about. Results are timezone-aware UTC.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Literal, Protocol
from zoneinfo import ZoneInfo

from statuspage.domain.durations import Duration

ClockKind = Literal["24x7", "business_hours"]
CLOCKS: tuple[ClockKind, ...] = ("24x7", "business_hours")
WEEKDAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DEFAULT_START = time(8, 0)
DEFAULT_END = time(18, 0)

_ONE_SECOND = timedelta(seconds=1)
_ONE_DAY = timedelta(days=1)
_TINY = timedelta(microseconds=1)
# Every UTC offset in tzdata lies within -12h..+14h; 15h either side is a safe margin for
# finding all instants whose local reading is a given day.
_OFFSET_MARGIN = timedelta(hours=15)
# add_business gives up after this many days in a row without any working time, instead of
# looping for ever on a calendar where every day is a holiday.
_MAX_IDLE_DAYS = 3 * 366

Interval = tuple[datetime, datetime]


class HolidaySource(Protocol):
    """Which public holidays to skip: a country's (and a subdivision's), plus extra dates."""

    @property
    def country(self) -> str | None: ...

    @property
    def subdivision(self) -> str | None: ...

    @property
    def extra(self) -> Iterable[date]: ...


class BusinessHoursSource(Protocol):
    """Business hours as the configuration describes them (``business_hours`` in ``statuspage.yaml``)."""

    @property
    def time_zone(self) -> str | None: ...

    @property
    def days(self) -> Iterable[int | str]: ...

    @property
    def start(self) -> time: ...

    @property
    def end(self) -> time: ...

    @property
    def holidays(self) -> HolidaySource: ...


class BusinessCalendar:
    """Working weekdays and hours in one time zone, minus holidays.

    Holidays are the fixed ``holidays`` dates plus, when ``holidays_for_year`` is given, whatever
    it returns for each year; it is asked once per year and only when a date in that year is
    looked at, so the calendar works for any year without listing them up front.
    """

    def __init__(
        self,
        time_zone: str | tzinfo = "UTC",
        days: Iterable[int | str] = WEEKDAY_NAMES[:5],
        start: time = DEFAULT_START,
        end: time = DEFAULT_END,
        holidays: Iterable[date] = (),
        holidays_for_year: Callable[[int], Iterable[date]] | None = None,
    ) -> None:
        if start.tzinfo is not None or end.tzinfo is not None:
            raise ValueError("business hours are local wall-clock times; give them without a time zone")
        if end <= start:
            raise ValueError("business hours end before they start")
        self.zone: tzinfo = ZoneInfo(time_zone) if isinstance(time_zone, str) else time_zone
        self.weekdays: frozenset[int] = frozenset(_weekday(day) for day in days)
        self.start = start
        self.end = end
        self.fixed_holidays: frozenset[date] = frozenset(holidays)
        self._holidays_for_year = holidays_for_year
        self._years: dict[int, frozenset[date]] = {}
        self._intervals_cache: dict[date, tuple[Interval, ...]] = {}

    @classmethod
    def from_config(cls, business_hours: BusinessHoursSource, default_zone: str) -> BusinessCalendar:
        """The calendar ``statuspage.yaml`` describes; ``default_zone`` is the page's zone.

        Raises ``ValueError`` for a subdivision the ``holidays`` package does not know, or one
        given without a country, so a wrong holiday setting fails at start-up rather than
        silently counting public holidays as working days.
        """
        calendar = business_hours.holidays
        source = None
        if calendar.country:
            source = national_holidays(calendar.country, calendar.subdivision)
        elif calendar.subdivision:
            raise ValueError(f"holiday subdivision {calendar.subdivision!r} needs a country")
        return cls(
            time_zone=business_hours.time_zone or default_zone,
            days=business_hours.days,
            start=business_hours.start,
            end=business_hours.end,
            holidays=calendar.extra,
            holidays_for_year=source,
        )

    def __repr__(self) -> str:
        days = ",".join(WEEKDAY_NAMES[d] for d in sorted(self.weekdays))
        return f"BusinessCalendar({self.zone}, {days}, {self.start:%H:%M}-{self.end:%H:%M})"

    @property
    def working_day(self) -> timedelta:
        """The nominal length of one business day, the unit of ``bd``."""
        return datetime.combine(date.min, self.end) - datetime.combine(date.min, self.start)

    def holidays_in(self, year: int) -> frozenset[date]:
        found = self._years.get(year)
        if found is None:
            computed = set(self._holidays_for_year(year)) if self._holidays_for_year else set()
            found = frozenset(d for d in computed | self.fixed_holidays if d.year == year)
            self._years[year] = found
        return found

    def is_holiday(self, day: date) -> bool:
        return day in self.holidays_in(day.year)

    def is_working_day(self, day: date) -> bool:
        return day.weekday() in self.weekdays and not self.is_holiday(day)

    def working_time(self, duration: Duration) -> timedelta:
        """How much business time ``duration`` stands for: ``bd`` and ``bh`` by the calendar,
        calendar units (under a business-hours clock) as that much working time."""
        if duration.is_business:
            return duration.business_days * self.working_day + timedelta(hours=duration.business_hours)
        return timedelta(seconds=duration.seconds)

    def working_seconds(self, duration: Duration) -> int:
        return self.working_time(duration) // _ONE_SECOND

    def business_time_between(self, start: datetime, end: datetime) -> timedelta:
        """Business time in ``[start, end)``; negative when ``end`` is before ``start``."""
        lo, hi = _utc(start, "start"), _utc(end, "end")
        if hi < lo:
            return -self.business_time_between(hi, lo)
        total = timedelta()
        for day in _dates(lo.date() - _ONE_DAY, hi.date() + _ONE_DAY):
            for opens, closes in self.intervals(day):
                a, b = max(opens, lo), min(closes, hi)
                if a < b:
                    total += b - a
        return total

    def business_seconds_between(self, start: datetime, end: datetime) -> int:
        """Whole seconds of business time between two aware datetimes, in any zones.

        Partial seconds are dropped (towards zero), so the result never overstates the time.
        """
        elapsed = self.business_time_between(start, end)
        whole = abs(elapsed) // _ONE_SECOND
        return whole if elapsed >= timedelta() else -whole

    def add_working_time(self, start: datetime, amount: timedelta) -> datetime:
        """The earliest instant by which ``amount`` of business time has passed since ``start``.

        When ``amount`` is exactly used up at closing time the result is the closing time, not
        the next opening, so a deadline reads "Friday 18:00" rather than "Monday 08:00".
        """
        lo = _utc(start, "start")
        if amount < timedelta():
            raise ValueError("cannot add a negative amount of working time")
        if not amount:
            return lo
        if not self.weekdays:
            raise ValueError("the calendar has no working days, so working time never passes")
        day, idle = lo.date() - _ONE_DAY, 0
        while True:
            intervals = self.intervals(day)
            idle = 0 if intervals else idle + 1
            if idle > _MAX_IDLE_DAYS:
                raise ValueError(f"no working time in {_MAX_IDLE_DAYS} days in a row from {day - idle * _ONE_DAY}")
            for opens, closes in intervals:
                a = max(opens, lo)
                if a < closes:
                    if amount <= closes - a:
                        return a + amount
                    amount -= closes - a
            day += _ONE_DAY

    def add_business(self, start: datetime, duration: Duration) -> datetime:
        """``start`` plus ``duration`` of business time (see :meth:`working_time`)."""
        return self.add_working_time(start, self.working_time(duration))

    def deadline(self, start: datetime, duration: Duration, clock: ClockKind) -> datetime:
        """When a target of ``duration`` that starts at ``start`` falls due.

        Under the ``24x7`` clock a calendar duration is plain elapsed time. Under the
        ``business_hours`` clock it is that much working time (4h means four business hours).
        Business durations (``bd``, ``bh``) count business time under either clock: "1 business
        day" names working time whatever the tier's coverage is.
        """
        if effective_clock(duration, clock) == "business_hours":
            return self.add_business(start, duration)
        return _utc(start, "start") + duration.timedelta

    def seconds_between(self, start: datetime, end: datetime, clock: ClockKind) -> int:
        """Elapsed whole seconds as ``clock`` counts them: business seconds, or wall seconds."""
        if _clock(clock) == "business_hours":
            return self.business_seconds_between(start, end)
        elapsed = _utc(end, "end") - _utc(start, "start")
        whole = abs(elapsed) // _ONE_SECOND
        return whole if elapsed >= timedelta() else -whole

    def intervals(self, day: date) -> tuple[Interval, ...]:
        """The UTC stretches during which the local clock shows ``day`` within business hours.

        Usually one; two when the clocks fall back inside business hours (the repeated hour is
        its own stretch), none on a weekend or holiday.
        """
        cached = self._intervals_cache.get(day)
        if cached is None:
            cached = self._compute_intervals(day) if self.is_working_day(day) else ()
            self._intervals_cache[day] = cached
        return cached

    def _compute_intervals(self, day: date) -> tuple[Interval, ...]:
        opens = datetime.combine(day, self.start)
        closes = datetime.combine(day, self.end)
        found: list[Interval] = []
        for piece_start, piece_end, offset in self._constant_offset_pieces(
            opens.replace(tzinfo=UTC) - _OFFSET_MARGIN, closes.replace(tzinfo=UTC) + _OFFSET_MARGIN
        ):
            reading_start = max(piece_start.replace(tzinfo=None) + offset, opens)
            reading_end = min(piece_end.replace(tzinfo=None) + offset, closes)
            if reading_start < reading_end:
                interval = ((reading_start - offset).replace(tzinfo=UTC), (reading_end - offset).replace(tzinfo=UTC))
                if found and found[-1][1] == interval[0]:
                    interval = (found.pop()[0], interval[1])
                found.append(interval)
        return tuple(found)

    def _constant_offset_pieces(self, lo: datetime, hi: datetime) -> Iterator[tuple[datetime, datetime, timedelta]]:
        """Split ``[lo, hi)`` into stretches with one UTC offset each, so that on every stretch
        the local reading is just the UTC instant plus that offset."""
        while lo < hi:
            first = self._offset(lo)
            if self._offset(hi - _TINY) == first:
                yield lo, hi, first
                return
            same, changed = lo, hi - _TINY
            while changed - same > _TINY:
                middle = same + (changed - same) // 2
                if self._offset(middle) == first:
                    same = middle
                else:
                    changed = middle
            yield lo, changed, first
            lo = changed

    def _offset(self, instant: datetime) -> timedelta:
        offset = instant.astimezone(self.zone).utcoffset()
        assert offset is not None
        return offset


def national_holidays(country: str, subdivision: str | None = None) -> Callable[[int], frozenset[date]]:
    """A per-year source of public holidays from the ``holidays`` package.

    Each year is computed together with its neighbours and then filtered, so an observed
    holiday that moves across New Year (1 January on a Saturday, observed 31 December) is still
    found in the year it is observed in.
    """
    # Imported here: the package is large, and most processes never build a calendar.
    import holidays as holidays_package

    try:
        holidays_package.country_holidays(country, subdiv=subdivision)
    except NotImplementedError as exc:
        raise ValueError(str(exc)) from None

    def for_year(year: int) -> frozenset[date]:
        found = holidays_package.country_holidays(country, subdiv=subdivision, years=range(year - 1, year + 2))
        return frozenset(day for day in found if day.year == year)

    return for_year


def effective_clock(duration: Duration, clock: ClockKind) -> ClockKind:
    """The clock a target really runs on: business durations always run on business time."""
    return "business_hours" if duration.is_business else _clock(clock)


def _clock(clock: str) -> ClockKind:
    for known in CLOCKS:
        if clock == known:
            return known
    raise ValueError(f"{clock!r} is not a clock; use one of {', '.join(CLOCKS)}")


def _weekday(day: int | str) -> int:
    if isinstance(day, str) and day.lower() in WEEKDAY_NAMES:
        return WEEKDAY_NAMES.index(day.lower())
    if isinstance(day, int) and not isinstance(day, bool) and 0 <= day <= 6:
        return day
    raise ValueError(f"{day!r} is not a weekday (0-6 from Monday, or mon..sun)")


def _utc(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got {value.isoformat()}")
    return value.astimezone(UTC)


def _dates(first: date, last: date) -> Iterator[date]:
    day = first
    while day <= last:
        yield day
        day += _ONE_DAY
