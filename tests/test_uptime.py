"""Daily uptime: Statuspage's weighting, maintenance outside the denominator, local days, no-data days."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from statuspage.domain.enums import ComponentStatus
from statuspage.domain.uptime import DayUptime, daily_uptime, overall_uptime

NY = ZoneInfo("America/New_York")
OPERATIONAL = ComponentStatus.OPERATIONAL
MAINTENANCE = ComponentStatus.UNDER_MAINTENANCE
DEGRADED = ComponentStatus.DEGRADED_PERFORMANCE
PARTIAL = ComponentStatus.PARTIAL_OUTAGE
MAJOR = ComponentStatus.MAJOR_OUTAGE
DAY = date(2026, 11, 10)
LATER = datetime(2027, 1, 1, tzinfo=UTC)


def ny(*args: int) -> datetime:
    return datetime(*args, tzinfo=NY)  # type: ignore[misc]


def one_day(day: date = DAY, **kwargs: object) -> DayUptime:
    kwargs.setdefault("initial_status", OPERATIONAL)
    kwargs.setdefault("now", LATER)
    (result,) = daily_uptime([day], time_zone="America/New_York", **kwargs)  # type: ignore[arg-type]
    return result


def test_a_quiet_day() -> None:
    result = one_day()
    assert result == DayUptime(date=DAY, worst_status=OPERATIONAL, uptime_pct=100.0, observed_seconds=86400.0)
    assert result.seconds_by_status == {MAINTENANCE: 0.0, DEGRADED: 0.0, PARTIAL: 0.0, MAJOR: 0.0}
    assert result.has_data


def test_major_outage_counts_fully() -> None:
    result = one_day(changes=[(ny(2026, 11, 10, 10), MAJOR), (ny(2026, 11, 10, 11, 12), OPERATIONAL)])
    assert (result.worst_status, result.down_seconds, result.uptime_pct) == (MAJOR, 4320.0, 95.0)
    assert result.seconds_by_status[MAJOR] == 4320.0


def test_partial_outage_counts_at_thirty_percent() -> None:
    result = one_day(changes=[(ny(2026, 11, 10, 10), PARTIAL), (ny(2026, 11, 10, 14), OPERATIONAL)])
    assert (result.worst_status, result.down_seconds, result.uptime_pct) == (PARTIAL, 4320.0, 95.0)
    assert result.seconds_by_status[PARTIAL] == 14400.0


def test_degraded_performance_counts_as_up_but_is_reported() -> None:
    result = one_day(changes=[(ny(2026, 11, 10, 9), DEGRADED), (ny(2026, 11, 10, 14), OPERATIONAL)])
    assert (result.worst_status, result.uptime_pct, result.down_seconds, result.degraded_seconds) == (
        DEGRADED,
        100.0,
        0.0,
        18000.0,
    )


def test_maintenance_is_left_out_of_the_denominator_even_during_an_outage() -> None:
    result = one_day(
        changes=[(ny(2026, 11, 10, 1), MAJOR), (ny(2026, 11, 10, 3, 6), OPERATIONAL)],
        maintenance=[(ny(2026, 11, 10, 0), ny(2026, 11, 10, 2))],
    )
    # One hour of the outage is inside the window; 1h06m outside. (86400-7200-3960)/(86400-7200) = 95 %.
    assert (result.worst_status, result.maintenance_seconds, result.down_seconds) == (MAJOR, 7200.0, 3960.0)
    assert result.counted_seconds == 79200.0
    assert result.uptime_pct == 95.0


def test_maintenance_on_an_operational_day_shows_as_maintenance() -> None:
    windows = [(ny(2026, 11, 10, 2), ny(2026, 11, 10, 3)), (ny(2026, 11, 10, 2, 30), ny(2026, 11, 10, 4))]
    result = one_day(maintenance=windows)
    assert (result.worst_status, result.uptime_pct, result.maintenance_seconds) == (MAINTENANCE, 100.0, 7200.0)
    assert result.seconds_by_status[MAINTENANCE] == 7200.0


def test_under_maintenance_status_counts_as_maintenance() -> None:
    result = one_day(
        changes=[(ny(2026, 11, 10, 6), MAINTENANCE), (ny(2026, 11, 10, 8), MAJOR), (ny(2026, 11, 10, 9), OPERATIONAL)]
    )
    assert (result.maintenance_seconds, result.down_seconds) == (7200.0, 3600.0)
    assert result.uptime_pct == 100 * (79200 - 3600) / 79200


def test_a_day_entirely_in_maintenance_has_no_percentage() -> None:
    result = one_day(initial_status=MAJOR, maintenance=[(ny(2026, 11, 9, 20), ny(2026, 11, 11, 1))])
    assert (result.worst_status, result.uptime_pct, result.has_data) == (MAJOR, None, True)
    assert result.maintenance_seconds == 86400.0


def test_days_are_local_and_dst_days_have_their_real_length() -> None:
    spring = one_day(date(2026, 3, 8), initial_status=MAJOR)
    fall = one_day(date(2026, 11, 1), initial_status=MAJOR)
    assert (spring.observed_seconds, spring.down_seconds, spring.uptime_pct) == (82800.0, 82800.0, 0.0)
    assert (fall.observed_seconds, fall.down_seconds, fall.uptime_pct) == (90000.0, 90000.0, 0.0)


def test_changes_given_in_the_same_zone_across_a_dst_switch() -> None:
    # 01:30 EDT to 01:30 EST is one real hour, though the wall clock shows the same time twice.
    first = datetime(2026, 11, 1, 1, 30, tzinfo=NY)
    second = datetime(2026, 11, 1, 1, 30, fold=1, tzinfo=NY)
    result = one_day(date(2026, 11, 1), changes=[(first, MAJOR), (second, OPERATIONAL)])
    assert result.down_seconds == 3600.0


def test_an_outage_over_midnight_is_split_between_days() -> None:
    days = daily_uptime(
        [DAY, DAY + timedelta(days=1)],
        time_zone=NY,
        initial_status=OPERATIONAL,
        changes=[(ny(2026, 11, 10, 23), MAJOR), (ny(2026, 11, 11, 1), OPERATIONAL)],
        now=LATER,
    )
    assert [(d.date, d.down_seconds) for d in days] == [(DAY, 3600.0), (date(2026, 11, 11), 3600.0)]


def test_the_same_instants_in_another_zone_fall_on_other_days() -> None:
    changes = [(ny(2026, 11, 10, 22), MAJOR), (ny(2026, 11, 10, 23), OPERATIONAL)]  # 03:00-04:00 UTC on the 11th
    (result,) = daily_uptime([DAY], time_zone="UTC", initial_status=OPERATIONAL, changes=changes, now=LATER)
    assert (result.worst_status, result.down_seconds) == (OPERATIONAL, 0.0)


def test_future_days_have_no_data_and_today_is_partial() -> None:
    now = ny(2026, 11, 10, 12)
    days = daily_uptime(
        [DAY, DAY + timedelta(days=1)],
        time_zone=NY,
        initial_status=OPERATIONAL,
        changes=[(ny(2026, 11, 10, 10), MAJOR), (ny(2026, 11, 10, 10, 36), OPERATIONAL)],
        now=now,
    )
    today, tomorrow = days
    assert (today.observed_seconds, today.down_seconds, today.uptime_pct) == (43200.0, 2160.0, 95.0)
    assert tomorrow == DayUptime(date=date(2026, 11, 11), worst_status=None, uptime_pct=None)
    assert not tomorrow.has_data


def test_days_before_the_component_existed_have_no_data() -> None:
    days = daily_uptime(
        [DAY - timedelta(days=1), DAY],
        time_zone=NY,
        initial_status=MAJOR,
        changes=[(ny(2026, 11, 10, 13, 12), OPERATIONAL)],
        now=LATER,
        since=ny(2026, 11, 10, 12),
    )
    before, created = days
    assert (before.worst_status, before.uptime_pct) == (None, None)
    assert (created.observed_seconds, created.down_seconds, created.worst_status) == (43200.0, 4320.0, MAJOR)
    assert created.uptime_pct == 90.0


def test_initial_status_is_the_status_before_the_first_change() -> None:
    result = one_day(initial_status=MAJOR, changes=[(ny(2026, 11, 9, 12), DEGRADED)])
    assert (result.worst_status, result.uptime_pct, result.degraded_seconds) == (DEGRADED, 100.0, 86400.0)


def test_changes_out_of_order_are_sorted() -> None:
    result = one_day(changes=[(ny(2026, 11, 10, 11, 12), OPERATIONAL), (ny(2026, 11, 10, 10), MAJOR)])
    assert (result.down_seconds, result.uptime_pct) == (4320.0, 95.0)


def test_a_status_that_lasted_no_time_is_not_the_worst() -> None:
    instant = ny(2026, 11, 10, 10)
    result = one_day(changes=[(instant, MAJOR), (instant, DEGRADED), (ny(2026, 11, 10, 11), OPERATIONAL)])
    assert (result.worst_status, result.down_seconds, result.degraded_seconds) == (DEGRADED, 0.0, 3600.0)


def test_results_come_in_the_order_asked() -> None:
    days = [date(2026, 11, 12), date(2026, 11, 3), date(2026, 11, 7)]
    result = daily_uptime(days, time_zone=NY, initial_status=OPERATIONAL, now=LATER)
    assert [d.date for d in result] == days


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        daily_uptime([DAY], time_zone=NY, initial_status=OPERATIONAL, now=datetime(2026, 11, 10, 12))
    with pytest.raises(ValueError, match="timezone-aware"):
        daily_uptime(
            [DAY], time_zone=NY, initial_status=OPERATIONAL, changes=[(datetime(2026, 11, 10), MAJOR)], now=LATER
        )


# --- over a range ------------------------------------------------------------------------------


def test_overall_uptime_weighs_days_by_counted_time() -> None:
    days = daily_uptime(
        [DAY, DAY + timedelta(days=1), DAY + timedelta(days=2)],
        time_zone=NY,
        initial_status=OPERATIONAL,
        changes=[(ny(2026, 11, 11, 6), MAJOR), (ny(2026, 11, 11, 7, 12), OPERATIONAL)],
        now=ny(2026, 11, 11, 12),
    )
    assert [d.uptime_pct for d in days] == [100.0, 90.0, None]
    # Not the average of 100 % and 90 %: the second day has only 12 observed hours.
    assert overall_uptime(days) == 100 * (129600.0 - 4320.0) / 129600.0


def test_overall_uptime_of_whole_days() -> None:
    days = daily_uptime(
        [DAY, DAY + timedelta(days=1)],
        time_zone=NY,
        initial_status=OPERATIONAL,
        changes=[(ny(2026, 11, 11, 6), MAJOR), (ny(2026, 11, 11, 8, 24), OPERATIONAL)],
        now=LATER,
    )
    assert overall_uptime(days) == 95.0


def test_overall_uptime_without_data_is_none() -> None:
    days = daily_uptime([DAY], time_zone=NY, initial_status=OPERATIONAL, now=ny(2026, 11, 1))
    assert overall_uptime(days) is None
    assert overall_uptime([]) is None


statuses = st.sampled_from(list(ComponentStatus))
START = ny(2026, 10, 31)  # the day before clocks fall back: days of 24 and 25 hours
MINUTE = timedelta(minutes=1)
# Real minutes after START; the second range crowds examples around the repeated hour (01:00 EDT,
# then 01:00 EST, on 1 November: minutes 1500 to 1620).
minutes = st.one_of(st.integers(-6 * 60, 3 * 24 * 60), st.integers(1440, 1700))


def brute_force_day(
    day: date,
    initial: ComponentStatus,
    changes: list[tuple[datetime, ComponentStatus]],
    windows: list[tuple[datetime, datetime]],
    now: datetime,
) -> tuple[ComponentStatus | None, dict[ComponentStatus, int], int]:
    """Walk the day a minute at a time: worst status, seconds per status outside maintenance,
    maintenance seconds."""
    # Two datetimes in the same zone compare by wall clock, so sort on UTC.
    ordered = sorted(changes, key=lambda change: change[0].astimezone(UTC))
    seconds = dict.fromkeys(ComponentStatus, 0)
    maintenance = 0
    worst: ComponentStatus | None = None
    moment = datetime.combine(day, datetime.min.time(), tzinfo=NY).astimezone(UTC)
    end = min(datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=NY).astimezone(UTC), now)
    while moment < end:
        status = initial
        for at, new_status in ordered:
            if at <= moment:
                status = new_status
        if worst is None or status.rank > worst.rank:
            worst = status
        if status is MAINTENANCE or any(start <= moment < stop for start, stop in windows):
            maintenance += 60
        else:
            seconds[status] += 60
        moment += MINUTE
    if worst is not None and maintenance and worst.rank < MAINTENANCE.rank:
        worst = MAINTENANCE
    return worst, seconds, maintenance


@hypothesis_settings(max_examples=150, deadline=None)
@given(
    initial=statuses,
    change_list=st.lists(st.tuples(minutes, statuses), max_size=10),
    window_list=st.lists(st.tuples(minutes, st.integers(0, 600)), max_size=3),
    now_minute=minutes,
)
def test_matches_a_minute_by_minute_count(
    initial: ComponentStatus,
    change_list: list[tuple[int, ComponentStatus]],
    window_list: list[tuple[int, int]],
    now_minute: int,
) -> None:
    def at(minute: int) -> datetime:
        """Real minutes after the start, written in New York time (so fold=1 in the repeated hour)."""
        return (START.astimezone(UTC) + minute * MINUTE).astimezone(NY)

    changes = [(at(m), status) for m, status in change_list]
    windows = [(at(m), at(m + length)) for m, length in window_list]
    now = at(now_minute)
    days = [date(2026, 10, 31), date(2026, 11, 1)]
    result = daily_uptime(days, time_zone=NY, initial_status=initial, changes=changes, maintenance=windows, now=now)
    for day, got in zip(days, result, strict=True):
        worst, seconds, maintenance = brute_force_day(day, initial, changes, windows, now)
        assert got.worst_status == worst
        if worst is None:
            assert got == DayUptime(date=day, worst_status=None, uptime_pct=None)
            continue
        assert got.maintenance_seconds == maintenance
        assert got.degraded_seconds == seconds[DEGRADED]
        assert got.seconds_by_status == {
            MAINTENANCE: maintenance,
            DEGRADED: seconds[DEGRADED],
            PARTIAL: seconds[PARTIAL],
            MAJOR: seconds[MAJOR],
        }
        counted = sum(seconds.values())
        assert got.observed_seconds == counted + maintenance
        down = Fraction(seconds[MAJOR]) + Fraction(3, 10) * seconds[PARTIAL]
        assert got.down_seconds == float(down)
        assert got.uptime_pct == (float(100 * (counted - down) / counted) if counted else None)
