"""Durations as written in the configuration: ``15m``, ``4h``, ``1h30m``, ``2bd``, ``8bh``.

Calendar units (s, m, h, d, w) count wall-clock time. Business units (``bh`` business hours,
``bd`` business days) count only time inside business hours; they cannot be mixed with calendar
units in one value, because the sum would have no single meaning.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

_CALENDAR_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_BUSINESS_UNITS = ("bh", "bd")
_PART = re.compile(r"(\d+)\s*(bd|bh|w|d|h|m|s)")
_WHOLE = re.compile(r"^\s*(?:\d+\s*(?:bd|bh|w|d|h|m|s)\s*)+$")


class DurationError(ValueError):
    """``problem`` says what is wrong without repeating the value, for callers that quote it themselves."""

    def __init__(self, text: object, problem: str, *, quote: bool = True) -> None:
        super().__init__(f"{text!r} {problem}" if quote else f"{text} {problem}")
        self.text = text
        self.problem = problem


@dataclass(frozen=True, slots=True)
class Duration:
    """A target length. ``business`` durations are measured in business hours and days."""

    seconds: int = 0
    business_hours: int = 0
    business_days: int = 0

    @property
    def is_business(self) -> bool:
        return bool(self.business_hours or self.business_days)

    @property
    def timedelta(self) -> timedelta:
        if self.is_business:
            raise DurationError(self, "counts business time and has no fixed length", quote=False)
        return timedelta(seconds=self.seconds)

    @classmethod
    def parse(cls, text: str) -> Duration:
        if not isinstance(text, str) or not _WHOLE.match(text):
            raise DurationError(text, "is not a duration like 15m, 4h or 2bd")
        seconds = business_hours = business_days = 0
        units = set()
        for amount_text, unit in _PART.findall(text):
            units.add(unit)
            amount = int(amount_text)
            if unit == "bh":
                business_hours += amount
            elif unit == "bd":
                business_days += amount
            else:
                seconds += amount * _CALENDAR_SECONDS[unit]
        result = cls(seconds=seconds, business_hours=business_hours, business_days=business_days)
        if units & set(_BUSINESS_UNITS) and units - set(_BUSINESS_UNITS):
            raise DurationError(text, "mixes business and calendar units")
        if not (seconds or business_hours or business_days):
            raise DurationError(text, "is zero; a target must be longer than that")
        return result

    def __str__(self) -> str:
        if self.is_business:
            parts = []
            if self.business_days:
                parts.append(f"{self.business_days}bd")
            if self.business_hours:
                parts.append(f"{self.business_hours}bh")
            return "".join(parts)
        return format_seconds(self.seconds)

    def describe(self) -> str:
        """Words for people: ``15 minutes``, ``4 hours``, ``2 business days``."""
        if self.is_business:
            words = []
            if self.business_days:
                words.append(_plural(self.business_days, "business day"))
            if self.business_hours:
                words.append(_plural(self.business_hours, "business hour"))
            return " ".join(words)
        return describe_seconds(self.seconds)


def format_seconds(total: int) -> str:
    """Compact form that :meth:`Duration.parse` reads back: ``1h30m``."""
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        amount, total = divmod(total, size)
        if amount:
            parts.append(f"{amount}{unit}")
    return "".join(parts) or "0s"


def describe_seconds(total: int) -> str:
    words = []
    for name, size in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        amount, total = divmod(total, size)
        if amount:
            words.append(_plural(amount, name))
    return " ".join(words[:2]) or "0 seconds"


def describe_business_seconds(total: int, working_day_seconds: int = 0) -> str:
    """Business time in words, in business days of ``working_day_seconds`` (the calendar's
    nominal working day) and business hours: 10 working days of 10 hours are ``10 business days``,
    12 working hours ``1 business day 2 business hours``. Like :func:`describe_seconds`, the two
    largest units are kept. Without a working day length, whole days are not counted out."""
    units: list[tuple[str, int]] = [("business hour", 3600), ("business minute", 60), ("business second", 1)]
    if working_day_seconds > 0:
        units.insert(0, ("business day", working_day_seconds))
    words = []
    for name, size in units:
        amount, total = divmod(total, size)
        if amount:
            words.append(_plural(amount, name))
    return " ".join(words[:2]) or "0 business hours"


def describe_clock_seconds(total: int, clock: str, working_day_seconds: int = 0) -> str:
    """Seconds as the clock that counted them reads: business time on the ``business_hours``
    clock (see :func:`describe_business_seconds`), wall-clock time otherwise."""
    if clock == "business_hours":
        return describe_business_seconds(total, working_day_seconds)
    return describe_seconds(total)


def _plural(amount: int, noun: str) -> str:
    return f"{amount} {noun}" if amount == 1 else f"{amount} {noun}s"
