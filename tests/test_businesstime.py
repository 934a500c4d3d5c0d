"""Business time: counting and adding working time, checked against hand-worked dates and a
minute-by-minute brute force."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from statuspage.domain.businesstime import BusinessCalendar, effective_clock, national_holidays
from statuspage.domain.durations import Duration
from statuspage.settings import BusinessHours, HolidayCalendar

NY = ZoneInfo("America/New_York")
TOKYO = ZoneInfo("Asia/Tokyo")


def ny(*args: int) -> datetime:
    return datetime(*args, tzinfo=NY)  # type: ignore[misc]


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


@pytest.fixture(scope="module")
def sendero() -> BusinessCalendar:
    """The shipped configuration's hours: Mon-Fri 08:00-18:00 New York, US holidays plus two extra."""
    hours = BusinessHours(holidays=HolidayCalendar(country="US", extra=(date(2026, 12, 24), date(2026, 12, 31))))
    return BusinessCalendar.from_config(hours, "America/New_York")


def bd(n: int) -> Duration:
    return Duration(business_days=n)


def bh(n: int) -> Duration:
    return Duration(business_hours=n)


# --- adding business time ------------------------------------------------------------------


def test_two_business_days_from_friday_evening_land_on_tuesday(sendero: BusinessCalendar) -> None:
    assert sendero.add_business(ny(2026, 10, 16, 17), bd(2)) == utc(2026, 10, 20, 21)  # Tue 17:00 EDT


def test_start_outside_business_hours_begins_at_next_opening(sendero: BusinessCalendar) -> None:
    assert sendero.add_business(ny(2026, 10, 17, 3), bh(1)) == utc(2026, 10, 19, 13)  # Sat 03:00 -> Mon 09:00 EDT


def test_start_before_opening_on_a_working_day(sendero: BusinessCalendar) -> None:
    assert sendero.add_business(ny(2026, 10, 14, 6), bh(3)) == ny(2026, 10, 14, 11)


def test_using_up_the_day_exactly_ends_at_closing_not_next_opening(sendero: BusinessCalendar) -> None:
    assert sendero.add_business(ny(2026, 10, 16, 8), bd(1)) == ny(2026, 10, 16, 18)


def test_thanksgiving_is_skipped(sendero: BusinessCalendar) -> None:
    # Wed 17:00: 1h on Wednesday, Thursday 26 Nov is a holiday, 10h Friday, 9h Monday.
    assert sendero.add_business(ny(2026, 11, 25, 17), bd(2)) == utc(2026, 11, 30, 22)  # Mon 17:00 EST
    assert sendero.business_seconds_between(ny(2026, 11, 25, 8), ny(2026, 11, 27, 8)) == 10 * 3600


def test_without_a_country_thanksgiving_is_a_working_day() -> None:
    plain = BusinessCalendar("America/New_York")
    assert plain.add_business(ny(2026, 11, 25, 17), bd(2)) == ny(2026, 11, 27, 17)
    assert plain.business_seconds_between(ny(2026, 11, 25, 8), ny(2026, 11, 27, 8)) == 20 * 3600


def test_extra_holidays_from_config_are_skipped(sendero: BusinessCalendar) -> None:
    # 24 Dec (extra), 25 Dec (Christmas): Wednesday 23 Dec 17:00 + 2bh lands on Monday 28 Dec 09:00.
    assert sendero.add_business(ny(2026, 12, 23, 17), bh(2)) == ny(2026, 12, 28, 9)


def test_spring_forward_weekend(sendero: BusinessCalendar) -> None:
    # Clocks spring forward on Sunday 2026-03-08; Monday 09:00 is EDT (13:00 UTC), not 14:00 UTC.
    assert sendero.add_business(ny(2026, 3, 6, 17), bh(2)) == utc(2026, 3, 9, 13)
    assert sendero.business_seconds_between(ny(2026, 3, 6, 12), ny(2026, 3, 9, 12)) == 10 * 3600


def test_fall_back_weekend(sendero: BusinessCalendar) -> None:
    # Clocks fall back on Sunday 2026-11-01; Monday 09:00 is EST (14:00 UTC).
    assert sendero.add_business(ny(2026, 10, 30, 17), bh(2)) == utc(2026, 11, 2, 14)
    assert sendero.business_seconds_between(ny(2026, 10, 30, 12), ny(2026, 11, 2, 12)) == 10 * 3600


def test_dst_days_are_as_long_as_they_really_are() -> None:
    every_day = BusinessCalendar("America/New_York", days=range(7), start=time(0), end=time(23))
    assert every_day.business_seconds_between(ny(2026, 3, 8), ny(2026, 3, 9)) == 22 * 3600
    assert every_day.business_seconds_between(ny(2026, 11, 1), ny(2026, 11, 2)) == 24 * 3600
    assert every_day.business_seconds_between(ny(2026, 3, 9), ny(2026, 3, 10)) == 23 * 3600


def test_business_hours_across_the_switch_itself() -> None:
    night = BusinessCalendar("America/New_York", days=range(7), start=time(1, 30), end=time(3))
    # Spring: 01:30 EST to 02:00 EST, then the clock shows 03:00: half an hour.
    assert night.business_seconds_between(ny(2026, 3, 8), ny(2026, 3, 9)) == 1800
    # Fall: 01:30-02:00 EDT, then 01:30-03:00 EST again: two hours, in two stretches.
    assert night.business_seconds_between(ny(2026, 11, 1), ny(2026, 11, 2)) == 7200
    assert night.intervals(date(2026, 11, 1)) == (
        (utc(2026, 11, 1, 5, 30), utc(2026, 11, 1, 6)),
        (utc(2026, 11, 1, 6, 30), utc(2026, 11, 1, 8)),
    )
    # One hour of work from midnight: the first half hour, then half of the repeated stretch.
    assert night.add_business(ny(2026, 11, 1), Duration(seconds=3600)) == utc(2026, 11, 1, 7)


def test_business_days_count_the_nominal_day_even_on_a_dst_day() -> None:
    every_day = BusinessCalendar("America/New_York", days=range(7), start=time(0), end=time(23))
    # 1bd is 23h of working time; Sunday 8 March only has 22h, so one more hour on Monday.
    assert every_day.add_business(ny(2026, 3, 8), bd(1)) == ny(2026, 3, 9, 1)


def test_month_end(sendero: BusinessCalendar) -> None:
    assert sendero.add_business(ny(2026, 7, 31, 13), bd(1)) == ny(2026, 8, 3, 13)
    assert sendero.add_business(ny(2026, 9, 30, 16), bh(4)) == ny(2026, 10, 1, 10)
    assert sendero.business_seconds_between(ny(2026, 1, 30, 8), ny(2026, 2, 2, 18)) == 20 * 3600


def test_year_end(sendero: BusinessCalendar) -> None:
    # Wed 30 Dec 2026 17:00; 31 Dec is an extra holiday, 1 Jan 2027 New Year's Day, then a weekend.
    assert sendero.add_business(ny(2026, 12, 30, 17), bh(3)) == ny(2027, 1, 4, 10)


def test_inputs_in_other_zones_give_the_same_answer(sendero: BusinessCalendar) -> None:
    start = ny(2026, 10, 16, 17)
    end = ny(2026, 10, 20, 9, 30)
    expected = 3600 + 10 * 3600 + 5400
    assert sendero.business_seconds_between(start, end) == expected
    assert sendero.business_seconds_between(start.astimezone(TOKYO), end.astimezone(UTC)) == expected
    assert sendero.add_business(start.astimezone(TOKYO), bd(2)) == utc(2026, 10, 20, 21)


def test_results_are_utc(sendero: BusinessCalendar) -> None:
    result = sendero.add_business(ny(2026, 10, 16, 17), bh(1))
    assert result.tzinfo is UTC
    assert sendero.deadline(ny(2026, 10, 16, 17), Duration(seconds=60), "24x7").tzinfo is UTC


def test_reversed_range_is_negative(sendero: BusinessCalendar) -> None:
    assert sendero.business_seconds_between(ny(2026, 10, 16, 18), ny(2026, 10, 16, 8)) == -36000


def test_partial_seconds_are_dropped(sendero: BusinessCalendar) -> None:
    start = ny(2026, 10, 16, 9)
    assert sendero.business_seconds_between(start, start + timedelta(seconds=10, microseconds=999_999)) == 10
    assert sendero.business_seconds_between(start + timedelta(seconds=10, microseconds=999_999), start) == -10


def test_naive_datetimes_are_refused(sendero: BusinessCalendar) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        sendero.business_seconds_between(datetime(2026, 10, 16, 9), ny(2026, 10, 16, 10))
    with pytest.raises(ValueError, match="timezone-aware"):
        sendero.add_business(datetime(2026, 10, 16, 9), bh(1))


def test_zero_and_negative_amounts(sendero: BusinessCalendar) -> None:
    saturday = ny(2026, 10, 17, 3)
    assert sendero.add_working_time(saturday, timedelta()) == saturday.astimezone(UTC)
    with pytest.raises(ValueError, match="negative"):
        sendero.add_working_time(saturday, timedelta(seconds=-1))


# --- deadlines -------------------------------------------------------------------------------


def test_deadline_24x7_is_plain_elapsed_time(sendero: BusinessCalendar) -> None:
    assert sendero.deadline(ny(2026, 10, 16, 16), Duration.parse("4h"), "24x7") == ny(2026, 10, 16, 20)
    assert sendero.deadline(ny(2026, 3, 7, 23), Duration.parse("4h"), "24x7") == utc(2026, 3, 8, 8)


def test_deadline_business_clock_counts_calendar_units_as_working_time(sendero: BusinessCalendar) -> None:
    assert sendero.deadline(ny(2026, 10, 16, 16), Duration.parse("4h"), "business_hours") == ny(2026, 10, 19, 10)
    # 48h of business time from Monday 08:00 is Friday 16:00 of the same week.
    assert sendero.deadline(ny(2026, 11, 2, 8), Duration.parse("48h"), "business_hours") == ny(2026, 11, 6, 16)


def test_deadline_business_units_count_business_time_under_any_clock(sendero: BusinessCalendar) -> None:
    assert sendero.deadline(ny(2026, 10, 16, 17), bd(1), "24x7") == ny(2026, 10, 19, 17)
    assert sendero.deadline(ny(2026, 10, 16, 17), bd(1), "business_hours") == ny(2026, 10, 19, 17)
    assert effective_clock(bd(1), "24x7") == "business_hours"
    assert effective_clock(Duration(seconds=60), "24x7") == "24x7"


def test_deadline_refuses_an_unknown_clock(sendero: BusinessCalendar) -> None:
    with pytest.raises(ValueError, match="not a clock"):
        sendero.deadline(ny(2026, 10, 16, 16), Duration.parse("4h"), "9to5")  # type: ignore[arg-type]


def test_working_time_of_durations(sendero: BusinessCalendar) -> None:
    assert sendero.working_seconds(Duration.parse("1bd4bh")) == 14 * 3600
    assert sendero.working_seconds(Duration.parse("90m")) == 5400
    short = BusinessCalendar(start=time(9, 30), end=time(17))
    assert short.working_seconds(bd(2)) == 15 * 3600


# --- holidays and configuration ----------------------------------------------------------------


def test_holidays_are_computed_per_year_on_demand() -> None:
    asked: list[int] = []

    def source(year: int) -> list[date]:
        asked.append(year)
        return [date(year, 6, 1)]

    calendar = BusinessCalendar(holidays=[date(2040, 2, 1)], holidays_for_year=source)
    assert asked == []
    assert calendar.is_holiday(date(2040, 6, 1))
    assert calendar.is_holiday(date(2040, 2, 1))
    assert calendar.is_holiday(date(1999, 6, 1))
    assert not calendar.is_holiday(date(2040, 6, 2))
    assert asked == [2040, 1999]


def test_country_holidays_work_in_any_year(sendero: BusinessCalendar) -> None:
    assert sendero.is_holiday(date(2031, 11, 27))  # Thanksgiving 2031
    assert sendero.is_holiday(date(1995, 7, 4))
    assert sendero.is_holiday(date(2021, 12, 31))  # New Year's Day 2022, observed on the Friday before
    assert sendero.is_holiday(date(2026, 7, 3))  # Independence Day observed
    assert not sendero.is_holiday(date(2025, 12, 24))  # the extra dates are for 2026 only
    assert not sendero.is_working_day(date(2026, 10, 17))  # a Saturday
    assert sendero.is_working_day(date(2026, 10, 16))


def test_subdivision_holidays() -> None:
    california = BusinessCalendar.from_config(
        BusinessHours(holidays=HolidayCalendar(country="US", subdivision="CA")), "America/Los_Angeles"
    )
    assert california.is_holiday(date(2026, 11, 27))  # Day After Thanksgiving, California only
    assert not BusinessCalendar(holidays_for_year=national_holidays("US")).is_holiday(date(2026, 11, 27))


def test_unknown_subdivision_fails_at_build_time() -> None:
    with pytest.raises(ValueError, match="ZZ"):
        BusinessCalendar.from_config(BusinessHours(holidays=HolidayCalendar(country="US", subdivision="ZZ")), "UTC")
    with pytest.raises(ValueError, match="needs a country"):
        BusinessCalendar.from_config(BusinessHours(holidays=HolidayCalendar(subdivision="CA")), "UTC")


def test_from_config_zone_days_and_hours() -> None:
    hours = BusinessHours(time_zone="Europe/Madrid", days=("sun", "mon"), start=time(9), end=time(14))
    calendar = BusinessCalendar.from_config(hours, "America/New_York")
    assert str(calendar.zone) == "Europe/Madrid"
    assert calendar.weekdays == frozenset({6, 0})
    # Friday 20:00 Madrid + 6bh: 5h on Sunday, then Monday 09:00-10:00.
    madrid = ZoneInfo("Europe/Madrid")
    start = datetime(2026, 10, 16, 20, tzinfo=madrid)
    assert calendar.add_business(start, bh(6)) == datetime(2026, 10, 19, 10, tzinfo=madrid)
    assert BusinessCalendar.from_config(BusinessHours(), "Asia/Tokyo").zone == TOKYO


def test_bad_construction() -> None:
    with pytest.raises(ValueError, match="end before"):
        BusinessCalendar(start=time(18), end=time(8))
    with pytest.raises(ValueError, match="not a weekday"):
        BusinessCalendar(days=["monday"])
    with pytest.raises(ValueError, match="not a weekday"):
        BusinessCalendar(days=[7])


def test_a_calendar_without_working_time_cannot_add_it() -> None:
    never = BusinessCalendar(days=())
    assert never.business_seconds_between(utc(2026, 1, 1), utc(2026, 2, 1)) == 0
    with pytest.raises(ValueError, match="no working days"):
        never.add_business(utc(2026, 1, 1), bh(1))
    closed = BusinessCalendar(holidays_for_year=lambda year: [date(year, 1, 1) + timedelta(n) for n in range(366)])
    with pytest.raises(ValueError, match="no working time"):
        closed.add_business(utc(2026, 1, 1), bh(1))


# --- properties ------------------------------------------------------------------------------

ZONES = [
    "UTC",
    "America/New_York",
    "Europe/London",
    "America/Santiago",  # DST switches at local midnight
    "Australia/Lord_Howe",  # a half-hour DST shift
    "Asia/Kathmandu",  # +05:45
]
FIRST = datetime(2026, 1, 1, tzinfo=UTC)
# Transitions that matter for the zones above, so examples often straddle one.
SWITCHES = [
    datetime(2026, 3, 8, 7, tzinfo=UTC),
    datetime(2026, 11, 1, 6, tzinfo=UTC),
    datetime(2026, 3, 29, 1, tzinfo=UTC),
    datetime(2026, 10, 25, 1, tzinfo=UTC),
    datetime(2026, 4, 5, 3, tzinfo=UTC),
    datetime(2026, 9, 6, 4, tzinfo=UTC),
    datetime(2026, 4, 4, 15, tzinfo=UTC),
    datetime(2026, 10, 3, 15, 30, tzinfo=UTC),
]
MINUTE = timedelta(minutes=1)


@st.composite
def calendars(draw: st.DrawFn) -> BusinessCalendar:
    start_minute = draw(st.integers(0, 24 * 60 - 2))
    end_minute = draw(st.integers(start_minute + 1, 24 * 60 - 1))
    holidays = draw(st.sets(st.dates(date(2025, 12, 25), date(2027, 1, 10)), max_size=40))
    return BusinessCalendar(
        time_zone=draw(st.sampled_from(ZONES)),
        days=draw(st.sets(st.integers(0, 6), min_size=1)),
        start=time(*divmod(start_minute, 60)),
        end=time(*divmod(end_minute, 60)),
        holidays=holidays,
    )


instants = st.one_of(
    st.integers(0, 365 * 24 * 60).map(lambda m: FIRST + m * MINUTE),
    st.tuples(st.sampled_from(SWITCHES), st.integers(-3 * 24 * 60, 3 * 24 * 60)).map(lambda p: p[0] + p[1] * MINUTE),
)


def brute_force_seconds(calendar: BusinessCalendar, start: datetime, end: datetime) -> int:
    """Look at the local wall clock at the start of every minute; inputs are minute-aligned."""
    total = 0
    moment = start
    while moment < end:
        local = moment.astimezone(calendar.zone)
        if (
            local.weekday() in calendar.weekdays
            and local.date() not in calendar.fixed_holidays
            and calendar.start <= local.time() < calendar.end
        ):
            total += 60
        moment += MINUTE
    return total


FAST = hypothesis_settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(calendar=calendars(), start=instants, minutes=st.integers(0, 3 * 24 * 60))
def test_business_seconds_match_a_minute_by_minute_count(
    calendar: BusinessCalendar, start: datetime, minutes: int
) -> None:
    end = start + minutes * MINUTE
    expected = brute_force_seconds(calendar, start, end)
    assert calendar.business_seconds_between(start, end) == expected
    assert calendar.business_seconds_between(end, start) == -expected
    local_start, local_end = start.astimezone(calendar.zone), end.astimezone(calendar.zone)
    assert calendar.business_seconds_between(local_start, local_end) == expected


durations = st.one_of(
    st.builds(Duration, business_hours=st.integers(0, 60), business_days=st.integers(0, 12)),
    st.integers(0, 100 * 60).map(lambda m: Duration(seconds=60 * m)),
)


@FAST
@given(calendar=calendars(), start=instants, duration=durations)
def test_add_business_is_the_inverse_of_counting(
    calendar: BusinessCalendar, start: datetime, duration: Duration
) -> None:
    wanted = calendar.working_seconds(duration)
    result = calendar.add_business(start, duration)
    assert result.tzinfo is UTC
    assert calendar.business_seconds_between(start, result) == wanted
    if wanted:
        # The earliest such instant: one second less and the time is not yet used up.
        assert calendar.business_seconds_between(start, result - timedelta(seconds=1)) == wanted - 1


@FAST
@given(calendar=calendars(), a=instants, b=instants, c=instants)
def test_counting_is_additive(calendar: BusinessCalendar, a: datetime, b: datetime, c: datetime) -> None:
    first, second = calendar.business_seconds_between(a, b), calendar.business_seconds_between(b, c)
    assert first + second == calendar.business_seconds_between(a, c)
