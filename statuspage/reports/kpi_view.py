"""The service-quality section of a monthly report: each imported KPI over the last three months
(from :func:`statuspage.reports.kpis.kpi_trend`) against its target, with the owner named for it
when it misses."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from statuspage.domain.months import month_label, shift_month
from statuspage.reports.kpis import TARGETS, TREND_MONTHS, KpiMonth, KpiResult, evaluate
from statuspage.reports.model import KpiSection, KpiTrendRow

EMPTY = KpiMonth("", {})


def kpi_section(
    stored: Sequence[KpiMonth], year: int, month: int, given: Mapping[str, float] | None = None
) -> tuple[list[KpiResult] | None, KpiSection | None]:
    """The month's results (``None``: none imported) and the three-month trend (``None`` when
    none of the months has figures). ``given``: the month's figures handed in by the caller, in
    place of the stored ones."""
    labels = [month_label(*shift_month(year, month, -back)) for back in range(TREND_MONTHS - 1, -1, -1)]
    by_month = {m.month: m for m in stored}
    current_label = labels[-1]
    if given is not None:
        owners = by_month[current_label].owners if current_label in by_month else {}
        by_month[current_label] = KpiMonth(current_label, dict(given), owners)
    if not any(label in by_month for label in labels):
        return None, None
    current = by_month.get(current_label)
    results = evaluate(current.values, current.owners) if current is not None else None
    rows = []
    for target in TARGETS:
        values: list[float | None] = []
        texts: list[str | None] = []
        met: list[bool | None] = []
        for label in labels:
            found = by_month.get(label)
            value = None if found is None else found.values.get(target.key)
            values.append(None if value is None else float(value))
            texts.append(None if value is None else target.show(float(value)))
            met.append(None if value is None else target.met(float(value)))
        if all(v is None for v in values):
            continue
        result = next((r for r in results or [] if r.key == target.key), None)
        owner = next(
            (by_month[label].owners[target.key] for label in reversed(labels) if target.key in by_month.get(label, EMPTY).owners),
            None,
        )
        rows.append(
            KpiTrendRow(
                key=target.key,
                label=target.label,
                target_text=target.target_text,
                values=values,
                texts=texts,
                met=met,
                current=result,
                owner=owner,
            )
        )
    return results, KpiSection(months=labels, rows=rows)
