"""Ages for retention, in calendar units: ``30d``, ``6w``, ``18mo``, ``7y``, ``1y6mo``.

Months are ``mo``: a bare ``m`` means minutes in the configuration's other durations, so
``18m`` is refused as ambiguous rather than guessed. Years and months are calendar ones
(2026-02-28 minus 1y is 2025-02-28; 2026-03-31 minus 1mo is 2026-02-28).
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

_PART = re.compile(r"(\d+)(y|mo|w|d)")
_WHOLE = re.compile(r"^(?:\d+(?:y|mo|w|d))+$")
MAX_YEARS = 1000
EXAMPLE = "30d, 6w, 18mo or 7y"


class AgeError(ValueError):
    """``problem`` says what is wrong, quoting the value."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem


@dataclass(frozen=True, slots=True)
class Age:
    """How long ago: whole years, months and days, subtracted from a moment on the calendar."""

    years: int = 0
    months: int = 0
    days: int = 0
    text: str = ""

    @classmethod
    def parse(cls, value: object) -> Age:
        if isinstance(value, Age):
            return value
        if not isinstance(value, str):
            raise AgeError(f"{value!r} is not an age like {EXAMPLE}")
        text = value.strip().lower().replace(" ", "")
        if not _WHOLE.match(text):
            if re.fullmatch(r"(?:\d+(?:y|mo|m|w|d))+", text):
                minutes = re.search(r"(\d+)m(?!o)", text)
                shown = minutes.group(1) if minutes else "N"
                raise AgeError(f"{value!r} is ambiguous: write months as {shown}mo (m is minutes elsewhere)")
            raise AgeError(f"{value!r} is not an age like {EXAMPLE} (days, weeks, months, years)")
        years = months = days = 0
        for amount_text, unit in _PART.findall(text):
            amount = int(amount_text)
            if unit == "y":
                years += amount
            elif unit == "mo":
                months += amount
            elif unit == "w":
                days += 7 * amount
            else:
                days += amount
        years, months = years + months // 12, months % 12
        if years + days / 365 > MAX_YEARS:
            raise AgeError(f"{value!r} is longer than {MAX_YEARS} years")
        if years == months == days == 0:
            raise AgeError(f"{value!r} is no age at all: give more than 0")
        return cls(years=years, months=months, days=days, text=text)

    def before(self, now: datetime) -> datetime:
        """The moment this long before ``now``: the cutoff."""
        index = now.year * 12 + (now.month - 1) - (self.years * 12 + self.months)
        year, month0 = divmod(index, 12)
        if year < 1:
            raise AgeError(f"{self.text!r} reaches back before the calendar begins")
        day = min(now.day, calendar.monthrange(year, month0 + 1)[1])
        return now.replace(year=year, month=month0 + 1, day=day) - timedelta(days=self.days)

    def __str__(self) -> str:
        if self.text:
            return self.text
        parts = [f"{n}{unit}" for n, unit in ((self.years, "y"), (self.months, "mo"), (self.days, "d")) if n]
        return "".join(parts) or "0d"
