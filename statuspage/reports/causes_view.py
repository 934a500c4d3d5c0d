"""Root causes by category for an SLA report: the incidents declared in the period and in the 12
calendar months that end with it, each counted once under the category of its root-cause analysis
(:func:`statuspage.domain.causes.top_causes`), with its minutes of impact (detection to
resolution, or to the report's moment while open) and the SLA credits in money it earned.

Credits are worked out month by month, since the tiers cap them per month: each month's missed
first responses per tier (by the month their deadline passed in) go through
:func:`statuspage.domain.credits.compute_credits` with the accounts imported now, and every
incident is credited its share."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Protocol

from sqlmodel import Session

from statuspage.db.models import Incident
from statuspage.domain.businesstime import BusinessCalendar
from statuspage.domain.causes import top_causes
from statuspage.domain.credits import AccountCredit, AccountTerms, TierBreach, compute_credits
from statuspage.domain.months import month_label, shift_month
from statuspage.domain.periods import Period, month_period
from statuspage.domain.report import SupportTierTerms, period_breaches, shortest_wait, tier_evaluations
from statuspage.incidents.sla import times_of
from statuspage.reports.credits import credit_rules, incident_components
from statuspage.reports.load import MonthRows, YearIncident, load_incidents
from statuspage.reports.model import CauseTables
from statuspage.settings import Config

YEAR_MONTHS = 12


def year_months(period: Period, zone: str) -> list[Period]:
    """The 12 calendar months that end with the month of the period's last day, oldest first."""
    last = period.last_day
    return [month_period(*shift_month(last.year, last.month, -back), zone) for back in range(YEAR_MONTHS - 1, -1, -1)]


class Impacted(Protocol):
    @property
    def detected_at(self) -> datetime: ...
    @property
    def declared_at(self) -> datetime: ...
    @property
    def resolved_at(self) -> datetime | None: ...


def impact_minutes(incident: Impacted, at: datetime) -> int:
    """Detection to resolution (to ``at`` while open, or resolved after it), in whole minutes."""
    end = min(incident.resolved_at or at, at)
    start = min(incident.detected_at, incident.declared_at)
    return max(0, (end - start) // timedelta(minutes=1))


def credit_by_incident(by_incident: Mapping[int, Sequence[AccountCredit]]) -> dict[int, Decimal]:
    return {key: sum((c.credit for c in found), Decimal("0.00")) for key, found in by_incident.items()}


def year_credits(
    session: Session,
    rows: MonthRows,
    year: Sequence[YearIncident],
    config: Config,
    calendar: BusinessCalendar,
    now: datetime,
    months: Sequence[Period],
    end: datetime,
    accounts: Sequence[AccountTerms],
) -> dict[int, Decimal]:
    """Per incident of ``year``, the credits its missed first responses earned over ``months``
    (cut at ``end``), each month capped on its own. Only the incidents that may have missed a
    tier's promise (answered later than it on the wall clock, or not answered) are measured, and
    those not loaded whole with ``rows`` are loaded now."""
    rules = credit_rules(config)
    if not accounts or not rules:
        return {}
    tiers = [t for t in config.support_tiers if t.id in {r.tier for r in rules}]
    candidates = [i.id for i in year if any(_may_miss(i, tier, calendar) for tier in tiers)]
    loaded = {i.id: i for i in rows.incidents if i.id is not None}
    chosen = [loaded[key] for key in candidates if key in loaded]
    chosen += load_incidents(session, [key for key in candidates if key not in loaded])
    components = dict(rows.components)
    components.update(incident_components(session, [key for key in candidates if key not in components]))
    times = {i.id: times_of(i) for i in chosen if i.id is not None}
    evaluations = {tier.id: tier_evaluations(tier, chosen, times, calendar, now, breaches_only=True) for tier in tiers}
    total: dict[int, Decimal] = {}
    for month in months:
        start, stop = month.start, min(month.end, end)
        if start >= stop:
            continue
        found = []
        for tier in tiers:
            for key, target in period_breaches(evaluations[tier.id], start, stop):
                found.append((target.deadline, key, tier.id))
        found.sort()
        breaches = [TierBreach(key, tier, components.get(key, frozenset())) for _, key, tier in found]
        if not breaches:
            continue
        shares = credit_by_incident(compute_credits(accounts, rules, breaches).by_incident)
        for key, amount in shares.items():
            total[key] = total.get(key, Decimal("0.00")) + amount
    return total


def _may_miss(incident: YearIncident, tier: SupportTierTerms, calendar: BusinessCalendar) -> bool:
    promised = tier.response_targets.get(f"sev{incident.severity}")
    if promised is None:
        return False
    if incident.answered_at is None:
        return True
    started = min(incident.detected_at, incident.declared_at)
    return incident.answered_at - started > shortest_wait(promised, calendar, tier.coverage)


def cause_tables(
    *,
    config: Config,
    in_period: Iterable[Incident],
    period_credits: Mapping[int, Decimal],
    year_from: Period,
    year: Sequence[YearIncident],
    year_credit: Mapping[int, Decimal],
    at: datetime,
    currency: str,
) -> CauseTables:
    labels = config.causes.labels
    zero = Decimal("0.00")
    return CauseTables(
        period=top_causes(
            ((i.root_cause_category, impact_minutes(i, at), period_credits.get(i.id or 0, zero)) for i in in_period), labels
        ),
        year=top_causes(((i.category, impact_minutes(i, at), year_credit.get(i.id, zero)) for i in year), labels),
        year_from=month_label(year_from.first_day.year, year_from.first_day.month),
        currency=currency,
    )
