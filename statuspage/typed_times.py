"""Times typed on a command line: ``15m ago``, ``-15m``, or ISO 8601 in the page's time zone."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from statuspage.domain.durations import Duration, DurationError
from statuspage.domain.localtime import LocalTimeError, local_instant
from statuspage.errors import InvalidInput


def parse_when(text: str, *, now: datetime, zone: str, field: str) -> datetime:
    """A time given on the command line: ``15m ago``, ``-15m``, or ISO 8601 (local time when no
    offset is given, in the page's time zone)."""
    value = text.strip()
    relative = value.removesuffix("ago").strip().removeprefix("-").strip()
    if value.endswith("ago") or value.startswith("-"):
        try:
            duration = Duration.parse(relative)
            return now - duration.timedelta
        except OverflowError:
            raise InvalidInput(f"{text!r} is further back than a calendar goes", field=field) from None
        except DurationError:
            raise InvalidInput(f"{text!r} is not a time like '15m ago' or 2026-11-25T03:10", field=field) from None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{text!r} is not a time like '15m ago' or 2026-11-25T03:10", field=field) from None
    if moment.tzinfo is None:
        try:
            moment = local_instant(moment, ZoneInfo(zone))
        except LocalTimeError as exc:
            raise InvalidInput(f"--{field} {value} {exc}", field=field) from None
    return moment
