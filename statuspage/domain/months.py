"""Calendar months in a time zone: their ``YYYY-MM`` labels, stepping from one to another, and the
instants they begin and end at."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, tzinfo
from zoneinfo import ZoneInfo

MONTH = re.compile(r"^(\d{4})-(\d{2})$")
FIRST_YEAR = 1970  # nothing older can be in the incident history


def read_month(text: str) -> tuple[int, int] | None:
    """``2026-10`` as ``(2026, 10)``; ``None`` for anything else."""
    match = MONTH.match(text.strip())
    if not match or not 1 <= int(match.group(2)) <= 12 or int(match.group(1)) < FIRST_YEAR:
        return None
    return int(match.group(1)), int(match.group(2))


def shift_month(year: int, month: int, delta: int) -> tuple[int, int]:
    """The month ``delta`` months after (before, when negative) the given one."""
    index = year * 12 + (month - 1) + delta
    return index // 12, index % 12 + 1


def month_bounds(year: int, month: int, zone: str | tzinfo) -> tuple[datetime, datetime]:
    """The month's first instant and the next month's, in UTC, for a local calendar month."""
    tz = ZoneInfo(zone) if isinstance(zone, str) else zone
    after = shift_month(year, month, 1)
    first = datetime.combine(date(year, month, 1), time(0), tzinfo=tz).astimezone(UTC)
    last = datetime.combine(date(after[0], after[1], 1), time(0), tzinfo=tz).astimezone(UTC)
    return first, last


def month_label(year: int, month: int) -> str:
    return f"{year:04d}-{month:02d}"
