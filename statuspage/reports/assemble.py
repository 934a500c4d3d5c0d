"""An SLA report of one period (a calendar month or an ISO week), put together: the rows are read
once (:mod:`statuspage.reports.load`), measured once (:mod:`statuspage.reports.build`), and the
period, the one before it (for the change on every headline card) and the trend take their
figures from the same measurements. Credits in money, causes by category, overdue items, uptime
and KPIs come from their own tables; the summary is written from the figures last.

Everything that depends on "today" is taken as of the period's end once the period is over
(:func:`statuspage.domain.periods.as_of`): which action items and postmortems are overdue and by
how many days, the age of a missing root-cause analysis, the uptime, the minutes of impact. So a
closed period's report reads the same whenever it is printed (the SLA figures themselves follow
what was recorded, so a late answer or resolution recorded afterwards still counts).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal

from sqlmodel import Session

from statuspage.domain.businesstime import BusinessCalendar
from statuspage.domain.periods import Period, as_of, as_of_day, history, previous
from statuspage.domain.report import HISTORY_MONTHS, trend
from statuspage.domain.report_cards import Card, missing_rcas, overdue_actions
from statuspage.incidents.sla import calendar_for
from statuspage.postmortems.due import overdue_postmortems
from statuspage.reports import summary
from statuspage.reports.build import Figures, figures, measure_rows, paging_figures, tier_breaches
from statuspage.reports.causes_view import cause_tables, credit_by_incident, year_credits, year_months
from statuspage.reports.credits import CreditSummary, load_accounts, month_credits
from statuspage.reports.kpi_view import kpi_section
from statuspage.reports.kpis import kpi_trend
from statuspage.reports.load import load_open_actions, load_rows, load_uptime, load_year
from statuspage.reports.model import MonthlyReport, OverduePostmortemRow
from statuspage.reports.words import compared_with
from statuspage.settings import Config


def build(
    session: Session,
    config: Config,
    period: Period,
    now: datetime,
    *,
    calendar: BusinessCalendar | None = None,
    kpis: Mapping[str, float] | None = None,
) -> MonthlyReport:
    """The report of ``period``; ``kpis``: the month's service-quality figures, in place of the
    ones imported (a weekly report has none)."""
    zone = config.page.time_zone
    calendar = calendar or calendar_for(config)
    before = previous(period, zone)
    points = history(period, zone, HISTORY_MONTHS)
    year = year_months(period, zone)
    moment = as_of(period, now)
    rows = load_rows(session, config, period, since=min(points[0].start, before.start))
    measured = measure_rows(rows, config, calendar, now, (before.start, period.end), since=points[0].start)
    current, prior = figures(measured, config, period), figures(measured, config, before)

    accounts = load_accounts(session)
    credits = month_credits(session, config, tier_breaches(current, measured), accounts)
    prior_credits = month_credits(session, config, tier_breaches(prior, measured), accounts)
    in_year = load_year(session, year[0].start, period.end)
    causes = cause_tables(
        config=config,
        in_period=current.in_period,
        period_credits=credit_by_incident(credits.by_incident),
        year_from=year[0],
        year=in_year,
        year_credit=year_credits(session, rows, in_year, config, calendar, now, year, period.end, accounts),
        at=moment,
        currency=credits.currency,
    )
    measured_at = [(i.declared_at, measured.evaluations[i.id]) for i in rows.incidents if i.id in measured.evaluations]
    day = as_of_day(period, now, zone)
    late_actions = overdue_actions(load_open_actions(session, moment, day), day)
    late_postmortems = [
        OverduePostmortemRow(
            incident_id=row.incident_id,
            title=row.title,
            url=config.incident_url(row.incident_id),
            owner=row.owner,
            due=row.due.isoformat(),
            days_late=row.days_late,
        )
        for row in overdue_postmortems(session, config, moment, since=year[0].start, evaluations=measured.evaluations)
    ]
    missing = missing_rcas(current.breaches, measured.by_id, moment)
    service_quality, kpi_trend_section = (None, None)
    if period.kind == "month":
        stored = kpi_trend(session, period.label)
        service_quality, kpi_trend_section = kpi_section(stored, period.first_day.year, period.first_day.month, kpis)
    paging = paging_figures(rows.pages, current.in_period, config)
    cards = headline_cards(current, prior, credits, prior_credits)
    compared = compared_with(period, before)
    categories = {i.id: i.root_cause_category for i in measured.by_id.values() if i.id is not None}
    sentences = [
        summary.attainment_sentence(period.name, current.incidents, current.attainment_percent, cards, compared),
        summary.breach_sentence(
            current.breaches, summary.biggest_cause(current.breaches, categories, config.causes.labels), cards, compared
        ),
        summary.credit_sentence(
            credits, [(t.name, t.credit_percent) for t in current.tiers], accounts_known=bool(accounts)
        ),
    ]
    overdue = summary.overdue_sentence(len(late_actions), len(late_postmortems), len(missing))
    if overdue is not None:
        sentences.append(overdue)
    return MonthlyReport(
        month=period.label,
        period=period,
        previous=before,
        page_name=config.page.name,
        time_zone=zone,
        start=period.start,
        end=period.end,
        as_of=moment,
        incidents=current.incidents,
        attainment_percent=current.attainment_percent,
        breaches=current.breaches,
        severities=current.severities,
        tiers=current.tiers,
        escalation=paging.tiers,
        trend=trend(measured_at, [(p.label, p.start, p.end) for p in points]),
        response=current.response,
        paging=paging,
        cards=cards,
        summary=sentences,
        missing_rcas=missing,
        overdue_actions=late_actions,
        overdue_postmortems=late_postmortems,
        credits=credits,
        previous_credits=prior_credits,
        accounts=len(accounts),
        previous_tier_credits=[(t.name, t.credit_percent) for t in prior.tiers],
        causes=causes,
        uptime=load_uptime(session, config, period, before, now),
        service_quality=service_quality,
        kpi_trend=kpi_trend_section,
        working_day_seconds=int(calendar.working_day.total_seconds()),
    )


def headline_cards(current: Figures, prior: Figures, credits: CreditSummary, prior_credits: CreditSummary) -> list[Card]:
    """The figures a reader looks at first, each beside the period before's."""
    now_times, then_times = current.response, prior.response
    return [
        Card("incidents", "Incidents declared", "count", "down", current.incidents, prior.incidents),
        Card("attainment", "SLA targets met", "percent", "up", current.attainment_percent, prior.attainment_percent),
        Card("missed", "Missed commitments", "count", "down", len(current.breaches), len(prior.breaches)),
        Card("credits", "SLA credits owed", "money", "down", _money(credits), _money(prior_credits)),
        Card("mttd", "Time to detect (MTTD)", "seconds", "down", now_times.mttd_seconds, then_times.mttd_seconds),
        Card(
            "mtta", "Time to acknowledge (MTTA, from detection)", "seconds", "down",
            now_times.mtta_seconds, then_times.mtta_seconds,
        ),
        Card(
            "mttr", "Time to resolve (MTTR, from detection)", "seconds", "down",
            now_times.mttr_seconds, then_times.mttr_seconds,
        ),
    ]  # fmt: skip


def _money(credits: CreditSummary) -> Decimal:
    return Decimal(credits.total)
