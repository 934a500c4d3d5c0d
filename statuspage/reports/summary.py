"""The written summary that opens an SLA report: two to four sentences generated from its figures
(never free text), in this order:

1. attainment: the incidents declared and the share of targets met, against the period before;
2. breaches: how many commitments were missed, against the period before, and their biggest
   cause (the cause category of most breached incidents; else the root cause given most often);
3. cost: the SLA credits owed, in money and customers (or, without customer accounts, the share
   of the monthly fee per tier);
4. what is overdue: postmortem actions, postmortems, and breached incidents without a root cause
   (left out when nothing is).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from statuspage.domain.causes import UNCATEGORISED, top_causes
from statuspage.domain.report import Breach, breach_causes
from statuspage.domain.report_cards import Card
from statuspage.reports.credits import CreditSummary, format_money
from statuspage.reports.words import change_text, credit_owed_words, plural


def _card(cards: Sequence[Card], key: str) -> Card | None:
    return next((c for c in cards if c.key == key), None)


def _trend(card: Card | None, before: str) -> str:
    return "" if card is None else f" ({change_text(card, before)})"


def attainment_sentence(name: str, incidents: int, attainment: float | None, cards: Sequence[Card], before: str) -> str:
    if incidents == 0:
        return f"In {name}, no incident was declared{_trend(_card(cards, 'incidents'), before)}."
    declared = f"{plural(incidents, 'incident')} {'was' if incidents == 1 else 'were'} declared"
    if attainment is None:
        return f"In {name}, {declared}; none of their targets was decided yet."
    return (
        f"In {name}, {declared} and {attainment:.1f}% of their SLA targets were met"
        f"{_trend(_card(cards, 'attainment'), before)}."
    )


def biggest_cause(breaches: Sequence[Breach], categories: dict[int, str | None], labels: dict[str, str]) -> str | None:
    """The cause category of most breached incidents (then the free-text root cause given most
    often), with its number of incidents; ``None`` when no breached incident has either."""
    incidents = sorted({b.incident_id for b in breaches})
    ranked = [
        row
        for row in top_causes(((categories.get(key), 0, Decimal(0)) for key in incidents), labels)
        if row.category != UNCATEGORISED
    ]
    if ranked:
        top = ranked[0]
        return f"{top.label} ({plural(top.incidents, 'incident')})"
    causes = breach_causes(breaches)
    if causes.ranked:
        cause, count = causes.ranked[0]
        return f"{cause} ({plural(count, 'incident')})"
    return None


def breach_sentence(breaches: Sequence[Breach], cause: str | None, cards: Sequence[Card], before: str) -> str:
    if not breaches:
        return f"No commitment was missed{_trend(_card(cards, 'missed'), before)}."
    missed = f"{plural(len(breaches), 'commitment')} {'was' if len(breaches) == 1 else 'were'} missed"
    incidents = len({b.incident_id for b in breaches})
    where = f" in {plural(incidents, 'incident')}"
    if cause is None:
        reason = "; none of them has a root cause yet"
    else:
        reason = f"; the biggest known cause was {cause}"
    return f"{missed}{where}{_trend(_card(cards, 'missed'), before)}{reason}."


def credit_sentence(
    credits: CreditSummary | None, tier_percents: Sequence[tuple[str, Decimal]], *, accounts_known: bool
) -> str:
    """Money when customer accounts are known; else each tier's share of the monthly fee."""
    if credits is not None and credits.total > 0:
        return (
            f"{plural(credits.customers_owed, 'customer')} {'is' if credits.customers_owed == 1 else 'are'} owed "
            f"{format_money(credits.total, credits.currency)} in SLA credits."
        )
    owed = [(name, percent) for name, percent in tier_percents if percent > 0]
    if owed and not accounts_known:
        parts = "; ".join(f"{name} customers {credit_owed_words(percent)}" for name, percent in owed)
        return f"SLA credits owed (no customer accounts imported): {parts}."
    return "No SLA credits are owed."


def overdue_sentence(actions: int, postmortems: int, missing_rcas: int) -> str | None:
    parts = []
    if actions:
        parts.append(f"{plural(actions, 'postmortem action')} {'is' if actions == 1 else 'are'} overdue")
    if postmortems:
        parts.append(f"{plural(postmortems, 'postmortem')} {'is' if postmortems == 1 else 'are'} overdue")
    if missing_rcas:
        verb = "has" if missing_rcas == 1 else "have"
        parts.append(f"{plural(missing_rcas, 'breached incident')} {verb} no root cause yet")
    if not parts:
        return None
    text = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return text[0].upper() + text[1:] + "."
