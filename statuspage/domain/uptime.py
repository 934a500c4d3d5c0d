"""Daily uptime of one component, counted the way Atlassian Statuspage counts it.

The rule:

* Time under maintenance (inside a maintenance window for the component, or while its status is
  ``under_maintenance``) is left out of the day altogether: it is neither up nor down, and it is
  not in the denominator, whatever the status was meanwhile.
* Of the remaining time, each status counts as down at its weight (``weights``, from the
  configuration's ``uptime.downtime_percent``). By default, Statuspage's weighting:
  ``major_outage`` counts fully as down, ``partial_outage`` at 30 % (a partial outage hurts, but
  not as much as a full one), and ``degraded_performance`` not at all; degraded time is reported
  separately so the page can show it.
* ``uptime % = 100 * (counted - sum(weight * time in status)) / counted``, with
  ``counted = observed - maintenance``. When nothing is counted (a day entirely in maintenance)
  the percentage is ``None``.
* A day only covers the time that can be known: not after ``now``, not before ``since`` (the
  component's creation). Days with none of that are *no data*: no worst status, no percentage.
  Today and the day of creation cover part of the day.

Days are local calendar days in the given zone, so a DST day is 23 or 25 hours long (all
arithmetic is done in UTC: Python compares and subtracts two datetimes of the same zone by
their wall-clock readings, which would lose or invent the hour). The worst status of a day is
taken over all observed time, maintenance included (an outage during maintenance shows as the
outage); a maintenance window on an otherwise operational day shows as ``under_maintenance``. The range figure weighs each day by its counted time, rather than
averaging daily percentages, so a half-observed day weighs half.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from zoneinfo import ZoneInfo

from statuspage.domain.enums import ComponentStatus

DOWN_WEIGHT: Mapping[ComponentStatus, Fraction] = {
    ComponentStatus.MAJOR_OUTAGE: Fraction(1),
    ComponentStatus.PARTIAL_OUTAGE: Fraction(3, 10),
    ComponentStatus.DEGRADED_PERFORMANCE: Fraction(0),
}
"""Statuspage's rule, the default: how much of a second in each status counts as down time.
Statuses not named count as up; maintenance is never counted at all."""

NON_OPERATIONAL: tuple[ComponentStatus, ...] = (
    ComponentStatus.UNDER_MAINTENANCE,
    ComponentStatus.DEGRADED_PERFORMANCE,
    ComponentStatus.PARTIAL_OUTAGE,
    ComponentStatus.MAJOR_OUTAGE,
)

_MICROSECONDS = dt.timedelta(microseconds=1)
_ZERO = dt.timedelta()


@dataclass(frozen=True)
class DayUptime:
    """One local day of one component. Seconds are exact to the microsecond.

    ``seconds_by_status`` splits the observed time outside maintenance by status (operational
    left out), and puts all maintenance time under ``under_maintenance``; ``down_seconds`` is the
    weighted down time that enters the percentage (by default major + 0.3 * partial).
    """

    date: dt.date
    worst_status: ComponentStatus | None
    uptime_pct: float | None
    observed_seconds: float = 0.0
    down_seconds: float = 0.0
    degraded_seconds: float = 0.0
    maintenance_seconds: float = 0.0
    seconds_by_status: Mapping[ComponentStatus, float] = field(
        default_factory=lambda: dict.fromkeys(NON_OPERATIONAL, 0.0), hash=False
    )

    @property
    def has_data(self) -> bool:
        return self.worst_status is not None

    @property
    def counted_seconds(self) -> float:
        """The denominator: observed time outside maintenance."""
        return self.observed_seconds - self.maintenance_seconds


def daily_uptime(
    days: Iterable[dt.date],
    *,
    time_zone: str | dt.tzinfo,
    initial_status: ComponentStatus,
    changes: Iterable[tuple[dt.datetime, ComponentStatus]] = (),
    maintenance: Iterable[tuple[dt.datetime, dt.datetime]] = (),
    now: dt.datetime,
    since: dt.datetime | None = None,
    weights: Mapping[ComponentStatus, Fraction] = DOWN_WEIGHT,
) -> list[DayUptime]:
    """One :class:`DayUptime` per day, in the order given.

    ``initial_status`` is the status before the first change, i.e. at the start of the window
    when every change falls inside it. ``changes`` are ``(at, new_status)``; ``maintenance``
    windows are ``(start, end)`` and may overlap. All datetimes must be timezone-aware.
    ``weights`` says how much of each status's time is down (0 to 1); maintenance never is.
    """
    zone = ZoneInfo(time_zone) if isinstance(time_zone, str) else time_zone
    now = _aware(now, "now")
    if since is not None:
        since = _aware(since, "since")
    timeline = _timeline(initial_status, changes)
    windows = _merge(maintenance)
    down_weights = _weights(weights)
    return [_day(day, zone, timeline, windows, now, since, down_weights) for day in days]


def overall_uptime(days: Iterable[DayUptime]) -> float | None:
    """Uptime % over a range of days, weighted by counted time; ``None`` when nothing counted."""
    counted = down = 0.0
    for day in days:
        if day.has_data:
            counted += day.counted_seconds
            down += day.down_seconds
    return 100 * (counted - down) / counted if counted > 0 else None


Segment = tuple[dt.datetime | None, dt.datetime | None, ComponentStatus]


def _weights(weights: Mapping[ComponentStatus, Fraction]) -> dict[ComponentStatus, Fraction]:
    checked: dict[ComponentStatus, Fraction] = {}
    for given, weight in weights.items():
        status = ComponentStatus(given)
        if status in (ComponentStatus.OPERATIONAL, ComponentStatus.UNDER_MAINTENANCE):
            raise ValueError(f"{status.value} time is never down time; it takes no weight")
        if not 0 <= weight <= 1:
            raise ValueError(f"the down-time weight of {status.value} must be between 0 and 1, got {weight}")
        checked[status] = Fraction(weight)
    return checked


def _timeline(initial: ComponentStatus, changes: Iterable[tuple[dt.datetime, ComponentStatus]]) -> list[Segment]:
    """Consecutive ``(start, end, status)`` stretches; ``None`` stands for the open past and future."""
    ordered = sorted(
        ((_aware(at, "change time"), ComponentStatus(status)) for at, status in changes), key=lambda change: change[0]
    )
    segments: list[Segment] = []
    start: dt.datetime | None = None
    status = initial
    for at, new_status in ordered:
        segments.append((start, at, status))
        start, status = at, new_status
    segments.append((start, None, status))
    return segments


def _merge(windows: Iterable[tuple[dt.datetime, dt.datetime]]) -> list[tuple[dt.datetime, dt.datetime]]:
    merged: list[tuple[dt.datetime, dt.datetime]] = []
    for start, end in sorted((_aware(s, "maintenance start"), _aware(e, "maintenance end")) for s, e in windows):
        if end <= start:
            continue
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _day(
    day: dt.date,
    zone: dt.tzinfo,
    timeline: Sequence[Segment],
    windows: Sequence[tuple[dt.datetime, dt.datetime]],
    now: dt.datetime,
    since: dt.datetime | None,
    weights: Mapping[ComponentStatus, Fraction],
) -> DayUptime:
    day_start = dt.datetime.combine(day, dt.time(0), tzinfo=zone).astimezone(dt.UTC)
    day_end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tzinfo=zone).astimezone(dt.UTC)
    lo = day_start if since is None else max(day_start, since)
    hi = min(day_end, now)
    if hi <= lo:
        return DayUptime(date=day, worst_status=None, uptime_pct=None)

    by_status = dict.fromkeys(ComponentStatus, _ZERO)
    maintenance = _ZERO
    worst: ComponentStatus | None = None
    for seg_start, seg_end, status in timeline:
        a = lo if seg_start is None else max(lo, seg_start)
        b = hi if seg_end is None else min(hi, seg_end)
        if a >= b:
            continue
        if worst is None or status.rank > worst.rank:
            worst = status
        in_maintenance = b - a if status is ComponentStatus.UNDER_MAINTENANCE else _overlap(a, b, windows)
        maintenance += in_maintenance
        by_status[status] += b - a - in_maintenance
    assert worst is not None
    if maintenance > _ZERO and worst.rank < ComponentStatus.UNDER_MAINTENANCE.rank:
        worst = ComponentStatus.UNDER_MAINTENANCE

    observed = hi - lo
    counted = observed - maintenance
    down = sum((weight * _micro(by_status[status]) for status, weight in weights.items()), Fraction(0))
    pct = float(100 * (_micro(counted) - down) / _micro(counted)) if counted > _ZERO else None
    seconds_by_status = {status: by_status[status].total_seconds() for status in NON_OPERATIONAL}
    seconds_by_status[ComponentStatus.UNDER_MAINTENANCE] = maintenance.total_seconds()
    return DayUptime(
        date=day,
        worst_status=worst,
        uptime_pct=pct,
        observed_seconds=observed.total_seconds(),
        down_seconds=float(down / 1_000_000),
        degraded_seconds=by_status[ComponentStatus.DEGRADED_PERFORMANCE].total_seconds(),
        maintenance_seconds=maintenance.total_seconds(),
        seconds_by_status=seconds_by_status,
    )


def _overlap(a: dt.datetime, b: dt.datetime, windows: Sequence[tuple[dt.datetime, dt.datetime]]) -> dt.timedelta:
    total = _ZERO
    for start, end in windows:
        x, y = max(a, start), min(b, end)
        if x < y:
            total += y - x
    return total


def _micro(value: dt.timedelta) -> int:
    return value // _MICROSECONDS


def _aware(value: dt.datetime, name: str) -> dt.datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got {value.isoformat()}")
    return value.astimezone(dt.UTC)
