"""How an SLA report words its figures and the configuration behind them, the same in every
format: clocks ("business hours", "around the clock"), credit rules ("5 % of the monthly fee per
missed commitment, at most 20 % a month"), durations, percentages, money, and the change of a
headline card since the period before ("▲ 3 vs September", "no change vs September")."""

from __future__ import annotations

from decimal import Decimal

from statuspage.domain.durations import describe_clock_seconds
from statuspage.domain.periods import Period
from statuspage.domain.report_cards import Card, Number
from statuspage.reports.credits import format_money

CLOCK_WORDS = {"business_hours": "business hours", "24x7": "around the clock"}
UP, DOWN = "▲", "▼"


def clock_words(clock: str) -> str:
    return CLOCK_WORDS.get(clock, clock.replace("_", " "))


def number_text(value: Decimal | float | int) -> str:
    """``5``, ``7.5``: no trailing zeros, no exponent."""
    if isinstance(value, Decimal):
        text = format(value.normalize(), "f")
        return text
    if isinstance(value, float) and not value.is_integer():
        return f"{value:g}"
    return str(int(value))


def credit_rule_words(per_breach_percent: Decimal, monthly_cap_percent: Decimal) -> str:
    """A support tier's ``sla_credits`` as a sentence's words; ``no credits`` when it gives none."""
    if per_breach_percent <= 0 or monthly_cap_percent <= 0:
        return "no credits"
    words = f"{number_text(per_breach_percent)} % of the monthly fee per missed commitment"
    if monthly_cap_percent < 100:
        words += f", at most {number_text(monthly_cap_percent)} % a month"
    return words


def credit_owed_words(percent: Decimal) -> str:
    """A tier's credit for the period: ``15 % of the monthly fee``, or ``no credits``."""
    return "no credits" if percent <= 0 else f"{number_text(percent)} % of the monthly fee"


def duration_text(seconds: int | float | None, clock: str = "24x7", working_day_seconds: int = 0) -> str:
    if seconds is None:
        return "—"
    return describe_clock_seconds(int(seconds), clock, working_day_seconds)


def percent_text(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}%"


def money_text(amount: Decimal | None, currency: str) -> str:
    return "—" if amount is None else format_money(amount, currency)


def plural(count: int, noun: str, many: str | None = None) -> str:
    return f"{count} {noun if count == 1 else (many or noun + 's')}"


def compared_with(period: Period, before: Period) -> str:
    """How a comparison names the period before: ``September``, ``December 2025``, ``week 47``."""
    if before.kind == "month" and before.first_day.year != period.first_day.year:
        return before.name
    return before.short


def value_text(card: Card, currency: str = "USD") -> str:
    return _amount(card.value, card.unit, currency)


def _amount(value: Number | None, unit: str, currency: str, *, change: bool = False) -> str:
    if value is None:
        return "—"
    if unit == "percent":
        return f"{float(value):.1f} points" if change else f"{float(value):.1f}%"
    if unit == "seconds":
        return duration_text(abs(int(value)))
    if unit == "money":
        return format_money(Decimal(value), currency)
    return number_text(value)


def change_text(card: Card, before: str, currency: str = "USD") -> str:
    """``▲ 3 vs September``, ``▼ 4 minutes vs September``, ``no change vs September``, or
    ``no figure for September`` when one of the two periods has none."""
    direction = card.direction
    if direction is None:
        return f"no figure for {before}" if card.previous is None else f"no figure this time ({before}: {_amount(card.previous, card.unit, currency)})"
    if direction == "same":
        return f"no change vs {before}"
    change = card.change
    assert change is not None
    size = abs(Decimal(change)) if isinstance(change, Decimal) else abs(change)
    arrow = UP if direction == "up" else DOWN
    return f"{arrow} {_amount(size, card.unit, currency, change=True)} vs {before}"
