"""Root causes by category: which kinds of cause cost the most incidents, minutes and credits.

Each incident counts once, under the category of its root-cause analysis; incidents without one
are gathered in the ``uncategorised`` row, always listed last so that it reads as the gap in the
analysis it is rather than as a cause.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

UNCATEGORISED = "uncategorised"
UNCATEGORISED_LABEL = "Not categorised"


@dataclass(frozen=True)
class CauseRow:
    category: str
    label: str
    incidents: int
    impact_minutes: int
    credit: Decimal


def top_causes(
    items: Iterable[tuple[str | None, int, Decimal]], labels: Mapping[str, str], limit: int = 10
) -> list[CauseRow]:
    """The categories of ``items`` (one ``(category, impact minutes, credit)`` per incident),
    most incidents first, then most minutes, then most credit, then by label.

    At most ``limit`` categories are listed; the ``uncategorised`` row (incidents whose category
    is None) follows them when there is one. A category missing from ``labels`` (no longer
    configured) is labelled with its id.
    """
    counts: dict[str | None, list[int]] = {}
    credits: dict[str | None, Decimal] = {}
    for category, minutes, credit in items:
        key = category or None
        tally = counts.setdefault(key, [0, 0])
        tally[0] += 1
        tally[1] += minutes
        credits[key] = credits.get(key, Decimal(0)) + credit
    rows = [
        CauseRow(category=key, label=labels.get(key, key), incidents=n, impact_minutes=minutes, credit=credits[key])
        for key, (n, minutes) in counts.items()
        if key is not None
    ]
    rows.sort(key=lambda row: (-row.incidents, -row.impact_minutes, -row.credit, row.label, row.category))
    ranked = rows[: max(limit, 0)]
    if None in counts:
        n, minutes = counts[None]
        ranked.append(CauseRow(UNCATEGORISED, UNCATEGORISED_LABEL, n, minutes, credits[None]))
    return ranked
