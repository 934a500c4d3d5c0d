"""What an SLA report holds, for a calendar month or an ISO week: the figures of
:mod:`statuspage.reports.build`, what :mod:`statuspage.reports.assemble` adds from other tables
(credits in money, causes, overdue items, uptime, KPIs), and the written summary. The renderers
of :mod:`statuspage.reports.render` print it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from statuspage.domain.causes import CauseRow
from statuspage.domain.periods import Period
from statuspage.domain.report import Breach, EscalationStats, ResponseTimes, SeverityStats, TierStats, TrendPoint
from statuspage.domain.report_cards import Card, MissingRca, OverdueAction, Paging
from statuspage.reports.credits import CreditSummary
from statuspage.reports.kpis import KpiResult
from statuspage.reports.load import ComponentUptimeRow


@dataclass(frozen=True)
class KpiTrendRow:
    """One KPI over the last months (oldest first; ``None``: not imported that month) and this
    month's result, with the owner named for it."""

    key: str
    label: str
    target_text: str
    values: list[float | None]
    texts: list[str | None]  # the values as printed, e.g. 78.5%
    met: list[bool | None]
    current: KpiResult | None
    owner: str | None


@dataclass(frozen=True)
class KpiSection:
    months: list[str]
    rows: list[KpiTrendRow]


@dataclass(frozen=True)
class OverduePostmortemRow:
    incident_id: int
    title: str
    url: str
    owner: str | None
    due: str  # YYYY-MM-DD
    days_late: int


@dataclass(frozen=True)
class CauseTables:
    """Root causes by category over the period and over the 12 months that end with it."""

    period: list[CauseRow]
    year: list[CauseRow]
    year_from: str  # the first month of the 12, YYYY-MM
    currency: str


@dataclass(frozen=True)
class MonthlyReport:
    """An SLA report of one period (the name is the monthly report's; a weekly report is the same
    figures over an ISO week). ``month``: the period's label, ``2026-10`` or ``2026-W48``."""

    month: str
    period: Period
    previous: Period
    page_name: str
    time_zone: str
    start: datetime
    end: datetime
    as_of: datetime  # the moment the report speaks for: the period's end once it is over
    incidents: int
    attainment_percent: float | None
    breaches: list[Breach]
    severities: list[SeverityStats]
    tiers: list[TierStats]
    escalation: list[EscalationStats]
    trend: list[TrendPoint]
    response: ResponseTimes
    paging: Paging
    cards: list[Card] = field(default_factory=list)
    summary: list[str] = field(default_factory=list)
    missing_rcas: list[MissingRca] = field(default_factory=list)
    overdue_actions: list[OverdueAction] = field(default_factory=list)
    overdue_postmortems: list[OverduePostmortemRow] = field(default_factory=list)
    credits: CreditSummary | None = None
    previous_credits: CreditSummary | None = None
    # How many customer accounts are known: without any, credits are told as shares of the fee.
    accounts: int = 0
    # The period before's credit per tier, as a share of the monthly fee (tier name, percent).
    previous_tier_credits: list[tuple[str, Decimal]] = field(default_factory=list)
    causes: CauseTables | None = None
    uptime: list[ComponentUptimeRow] = field(default_factory=list)
    # The month's imported service-quality KPIs against their targets (None: none imported).
    service_quality: list[KpiResult] | None = None
    kpi_trend: KpiSection | None = None
    # The calendar's nominal business day: business-time figures are printed in business days.
    working_day_seconds: int = 0
