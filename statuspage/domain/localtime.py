"""Wall-clock readings without an offset, as people type them, turned into instants.

A reading names exactly one instant in a time zone except around a DST switch:

- when the clocks go forward, the skipped readings (02:30 on the spring day in New York) name no
  instant at all. Python would silently take the offset from before the switch, and 02:30 to
  03:30 would become a window of zero length; they are refused, saying when the clocks jump;
- when the clocks go back, the repeated readings (01:30 on the autumn day) name two instants an
  hour apart. Picking one would put a maintenance window or a detection time an hour off half
  of the time without anyone noticing; they are refused too, naming both offsets so that the
  person can type the one they mean (2026-11-01T01:30-04:00).

A reading with an offset is one instant whatever the zone, which is why the admin API, which
takes only times with offsets, never meets either case: the command lines, local or remote, are
where this rule applies, and they read every time through :func:`local_instant`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo


class LocalTimeError(ValueError):
    """A reading that names no instant, or two; the message says why, without the field."""


def local_instant(reading: datetime, zone: tzinfo) -> datetime:
    """The one instant ``reading`` (naive) names on the wall clocks of ``zone``."""
    if reading.tzinfo is not None:
        raise ValueError("local_instant takes a reading without an offset")
    earlier = reading.replace(tzinfo=zone, fold=0)
    later = reading.replace(tzinfo=zone, fold=1)
    before, after = earlier.utcoffset(), later.utcoffset()
    if before is None or after is None or before == after:
        return earlier
    switch = _switch(reading, zone, before, after)
    jump_from = (switch + before).replace(tzinfo=None)
    jump_to = (switch + after).replace(tzinfo=None)
    moments = f"from {jump_from:%H:%M} to {jump_to:%H:%M}"
    name = getattr(zone, "key", None) or str(zone)
    if after > before:
        raise LocalTimeError(f"does not exist in {name} (clocks go forward {moments})")
    first, second = (f"{reading.isoformat(timespec='minutes')}{_offset(o)}" for o in (before, after))
    raise LocalTimeError(
        f"is ambiguous in {name} (clocks go back {moments}, so it happens twice); give the offset: {first} or {second}"
    )


def _switch(reading: datetime, zone: tzinfo, before: timedelta, after: timedelta) -> datetime:
    """The instant (UTC) the zone's offset changes from ``before`` to ``after`` near ``reading``:
    it lies between the two instants the reading would be at either offset."""
    low = (reading - max(before, after)).replace(tzinfo=UTC)
    high = (reading - min(before, after)).replace(tzinfo=UTC)
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        if middle.astimezone(zone).utcoffset() == before:
            low = middle
        else:
            high = middle
    return high.replace(microsecond=0)


def _offset(value: timedelta) -> str:
    minutes = int(value.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
