"""What the SLA report tells leadership first: response times from detection, the change of every
headline card since the month before, the written summary, the breached incidents still without a
root cause (with their owner and age), overdue action items as of the month's end (the same bytes
whenever the month is printed again), paging that agrees with MTTA, the configuration in words,
credits in money and causes by category. On the history of :mod:`tests.test_reports` (times in
UTC; the page's zone is America/New_York)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from click.testing import CliRunner

from incident_cli.main import main as incident_main
from statuspage.clock import FixedClock
from statuspage.context import WriteContext
from statuspage.domain.report_cards import Card
from statuspage.incidents import handling
from statuspage.incidents import service as incidents
from statuspage.incidents.sla import calendar_for
from statuspage.postmortems import service as postmortems
from statuspage.reports import monthly, render, summary
from statuspage.reports.credits import CreditSummary
from statuspage.reports.words import change_text, clock_words, credit_rule_words
from statuspage.runtime import Runtime
from tests.test_reports import REPORT_NOW, _report, config_file, history, utc  # noqa: F401 - the fixtures are used by name


def _at(runtime: Runtime, now: datetime, month: str = "2026-10") -> monthly.MonthlyReport:
    config = runtime.settings.config
    with runtime.session() as session:
        return monthly.monthly_report(session, config, *monthly.parse_month(month), now, calendar=calendar_for(config))


def test_response_times_run_from_detection(runtime: Runtime, history: dict[str, int]) -> None:
    """October: A detected 14:00, declared 14:10, acknowledged 14:40, resolved 20:00; B 10:00,
    10:30, 11:30, 12:00; C 13:00, 14:30, 15:00, next day 13:00."""
    report = _report(runtime)
    times = report.response
    # MTTD (10 + 30 + 90) / 3 min; MTTA from detection (40 + 90 + 120) / 3 min; MTTR (6 + 2 + 24) / 3 h.
    assert (times.mttd_seconds, times.mtta_seconds, times.mttr_seconds) == (2600, 5000, 38400)
    # From the declaration: MTTA (30 + 60 + 30) / 3 min; MTTR (350 + 90 + 1350) / 3 min.
    assert (times.mtta_from_declaration_seconds, times.mttr_from_declaration_seconds) == (2400, 35800)
    sev1 = report.severities[0]
    assert (sev1.mttd_seconds, sev1.mtta_from_detection_seconds, sev1.mttr_seconds) == (1200, 3900, 14400)
    assert (sev1.mtta_seconds, sev1.mttr_from_declaration_seconds) == (2700, 13200)
    text = render.render_markdown(report)
    assert "| All | 3 | 43 minutes 20 seconds | 1 hour 23 minutes | 10 hours 40 minutes | 40 minutes | 9 hours 56 minutes |" in text
    assert "| sev1 Critical | 2 | 20 minutes | 1 hour 5 minutes | 4 hours | 45 minutes | 3 hours 40 minutes |" in text
    data = render.to_json(report)
    assert data["response_times"] == {
        "incidents": 3, "mttd_seconds": 2600, "mtta_from_detection_seconds": 5000, "mttr_from_detection_seconds": 38400,
        "mtta_from_declaration_seconds": 2400, "mttr_from_declaration_seconds": 35800,
    }


def test_every_card_is_compared_with_the_month_before(runtime: Runtime, history: dict[str, int]) -> None:
    """September has D alone: detected 12:00, declared 14:00, acknowledged 14:30, resolved 3 days later."""
    report = _report(runtime)
    september = _report(runtime, "2026-09")
    cards = {c.key: c for c in report.cards}
    assert [(c.key, c.value, c.previous) for c in report.cards if c.unit in ("count", "seconds")] == [
        ("incidents", 3, 1),
        ("missed", len(report.breaches), len(september.breaches)),
        ("mttd", 2600, 7200),
        ("mtta", 5000, 9000),
        ("mttr", 38400, 72 * 3600),
    ]
    assert (cards["attainment"].value, cards["attainment"].previous) == (report.attainment_percent, september.attainment_percent)
    data = {c["key"]: c for c in render.to_json(report)["cards"]}
    assert (data["incidents"]["previous"], data["incidents"]["change"], data["incidents"]["text"]) == (1, 2, "▲ 2 vs September")
    assert (data["incidents"]["direction"], data["incidents"]["verdict"]) == ("up", "worse")
    assert data["mttd"]["text"] == "▼ 1 hour 16 minutes vs September"  # 4,600 s shorter
    assert (data["mtta"]["change"], data["mtta"]["verdict"]) == (-4000, "better")
    assert data["mttr"]["text"] == "▼ 2 days 13 hours vs September"  # 220,800 s shorter
    text = render.render_markdown(report)
    assert "| Incidents declared | 3 | ▲ 2 vs September |" in text
    assert "| Time to acknowledge (MTTA, from detection) | 1 hour 23 minutes (from declaration: 40 minutes) | ▼ 1 hour 6 minutes vs September |" in text


def test_change_words() -> None:
    def card(unit: str, value: object, previous: object, better: str = "down") -> Card:
        return Card("x", "X", unit, better, value, previous)  # type: ignore[arg-type]

    assert change_text(card("count", 4, 4), "September") == "no change vs September"
    assert change_text(card("percent", 55.56, 33.33, "up"), "September") == "▲ 22.2 points vs September"
    assert change_text(card("percent", 50.04, 50.0, "up"), "September") == "no change vs September"  # to the tenth shown
    assert change_text(card("money", Decimal("150.00"), Decimal("100.00")), "September") == "▲ $50.00 vs September"
    assert change_text(card("seconds", 600, None), "September") == "no figure for September"
    assert card("count", 2, 5).verdict == "better" and card("percent", 40.0, 50.0, "up").verdict == "worse"


def test_the_summary_is_written_from_the_figures(runtime: Runtime, history: dict[str, int]) -> None:
    cards = [Card("attainment", "", "percent", "up", 55.56, 33.33), Card("missed", "", "count", "down", 5, 1)]
    assert summary.attainment_sentence("October 2026", 3, 55.56, cards, "September") == (
        "In October 2026, 3 incidents were declared and 55.6% of their SLA targets were met (▲ 22.2 points vs September)."
    )
    assert summary.attainment_sentence("week 42 of 2026", 0, None, [], "week 41") == "In week 42 of 2026, no incident was declared."
    assert summary.overdue_sentence(2, 1, 3) == (
        "2 postmortem actions are overdue, 1 postmortem is overdue and 3 breached incidents have no root cause yet."
    )
    assert summary.overdue_sentence(0, 0, 1) == "1 breached incident has no root cause yet."
    assert summary.overdue_sentence(0, 0, 0) is None
    owed = CreditSummary("USD", (), (), Decimal("1234.50"), 3, {})
    assert summary.credit_sentence(owed, [], accounts_known=True) == "3 customers are owed $1,234.50 in SLA credits."
    none = CreditSummary("USD", (), (), Decimal("0.00"), 0, {})
    assert summary.credit_sentence(none, [("Premium", Decimal(15))], accounts_known=True) == "No SLA credits are owed."
    assert summary.credit_sentence(none, [("Premium", Decimal(15))], accounts_known=False) == (
        "SLA credits owed (no customer accounts imported): Premium customers 15 % of the monthly fee."
    )

    report = _report(runtime)
    assert 2 <= len(report.summary) <= 4
    first, missed, cost, overdue = report.summary
    assert first.startswith("In October 2026, 3 incidents were declared and ") and first.endswith(" vs September).")
    breached = len({b.incident_id for b in report.breaches})
    # A's root cause is the only one given, so it is the biggest known one.
    assert missed == (
        f"{len(report.breaches)} commitments were missed in {breached} incidents "
        f"(▲ {len(report.breaches) - len(_report(runtime, '2026-09').breaches)} vs September); "
        "the biggest known cause was A <b>bad</b> deploy (1 incident)."
    )
    # Premium: B's and C's first responses missed, 10 % each, capped at 15 %.
    assert cost == "SLA credits owed (no customer accounts imported): Premium customers 15 % of the monthly fee."
    assert overdue.endswith("and 3 breached incidents have no root cause yet.")
    text = render.render_markdown(report)
    assert text.index("## Summary") < text.index("## Breaches")
    assert first in text


def test_missing_root_causes_are_named_with_owner_and_age(runtime: Runtime, history: dict[str, int]) -> None:
    """Ages are whole days from the declaration to the month's end (1 November 04:00 UTC)."""
    report = _report(runtime)
    assert [(m.incident_id, m.owner, m.age_days) for m in report.missing_rcas] == [
        (history["D"], "alice", 32),  # declared 29 September 14:00
        (history["B"], "alice", 19),  # 12 October 10:30
        (history["C"], "alice", 11),  # 20 October 14:30
    ]
    assert report.missing_rcas[1].targets[:2] == ("First response", "Escalation acknowledged")
    text = render.render_markdown(report)
    assert f"| [#{history['C']}](http://127.0.0.1:8000/incidents/{history['C']}) Webhooks delayed | sev2 | alice | 11 days | First response" in text


def test_overdue_actions_are_counted_to_the_months_end_and_rerender_the_same(
    runtime: Runtime, history: dict[str, int], make_ctx: Callable[..., WriteContext], clock: FixedClock
) -> None:
    ctx = make_ctx("alice")
    c = history["C"]
    clock.at = utc(2026, 10, 21, 15)
    late = postmortems.add_action(ctx=ctx, incident_id=c, title="Alert on webhook lag", owner="Dana", due_on="2026-10-25")
    postmortems.add_action(ctx=ctx, incident_id=c, title="Load-test the queue", owner="Eli", due_on="2026-11-05")
    done_in_time = postmortems.add_action(ctx=ctx, incident_id=c, title="Page the queue owner", owner="Eli", due_on="2026-10-10")
    clock.at = utc(2026, 10, 22, 12)
    postmortems.complete_action(ctx=ctx, action_id=done_in_time.id or 0)
    clock.at = utc(2026, 11, 3, 12)  # done, but after October ended: still overdue in October's report
    postmortems.complete_action(ctx=ctx, action_id=late.id or 0)

    october = _at(runtime, REPORT_NOW)
    rows = [(a.title, a.owner, a.due_on, a.days_late) for a in october.overdue_actions if a.incident_id == c]
    assert rows == [("Alert on webhook lag", "Dana", date(2026, 10, 25), 7)]  # 25 October to 1 November
    assert [a.days_late for a in october.overdue_actions] == sorted((a.days_late for a in october.overdue_actions), reverse=True)
    text = render.render_markdown(october)
    assert f"| #{c} Webhooks delayed | Alert on webhook lag | Dana | 2026-10-25 | 7 |" in text
    assert "Load-test the queue" not in text and "Page the queue owner" not in text
    # Postmortems are due 5 business days after resolution: C's, resolved on 21 October, on the 28th.
    assert (c, "alice", "2026-10-28", 4) in [(p.incident_id, p.owner, p.due, p.days_late) for p in october.overdue_postmortems]
    assert "Webhooks delayed | alice | 2026-10-28 | 4 |" in text

    # The same month printed a year later reads the same, byte for byte, in every format.
    later = _at(runtime, REPORT_NOW + timedelta(days=365))
    for fmt, renderer in render.RENDERERS.items():
        assert renderer(later) == renderer(october), fmt
    # November, not over on 25 November: counted to that day; the November action is late then too.
    november = _at(runtime, utc(2026, 11, 25, 12), "2026-11")
    assert ("Load-test the queue", 20) in [(a.title, a.days_late) for a in november.overdue_actions]
    assert "Alert on webhook lag" not in [a.title for a in november.overdue_actions]  # done on 3 November


def test_paging_agrees_with_mtta(runtime: Runtime, make_ctx: Callable[..., WriteContext], clock: FixedClock) -> None:
    """An incident recorded after the fact (nobody paged, as the demo's history) is acknowledged
    4 minutes after its declaration: the report says so instead of "nobody was paged"."""
    ctx = dataclasses.replace(make_ctx("alice"), announce=False)
    clock.at = utc(2026, 10, 7, 9)
    incident = incidents.declare(ctx=ctx, severity=2, title="Slow search", components=["api"], detected_at=utc(2026, 10, 7, 8, 41))
    clock.at = utc(2026, 10, 7, 9, 4)
    incidents.acknowledge(ctx=ctx, incident_id=incident.id or 0, by="ana")
    clock.at = utc(2026, 10, 7, 10)
    incidents.resolve(ctx=ctx, incident_id=incident.id or 0)

    report = _at(runtime, REPORT_NOW)
    assert report.severities[1].mtta_seconds == 240
    assert (report.paging.pages, report.paging.unpaged_acknowledged, report.paging.unpaged_mtta_seconds) == (0, 1, 240)
    text = render.render_markdown(report)
    assert "Nobody was paged" not in text
    assert (
        "No page went out for the 1 incident; 1 incident was acknowledged without a page (the responder was already "
        "on it), in 4 minutes on average from declaration." in text
    )
    assert render.to_json(report)["paging"] == {
        "incidents": 1, "paged": 0, "acknowledged": 1, "acknowledged_without_page": 1,
        "acknowledged_without_page_mtta_seconds": 240,
    }


def test_paged_incidents_are_counted_with_their_pages(runtime: Runtime, history: dict[str, int]) -> None:
    report = _report(runtime)
    assert (report.paging.incidents, report.paging.paged, report.paging.unpaged_acknowledged) == (3, 3, 0)
    assert render.render_markdown(report).count(f"{report.paging.pages} pages went out for 3 incidents of 3.") == 1


def test_configuration_is_told_in_words(runtime: Runtime, history: dict[str, int]) -> None:
    assert (clock_words("business_hours"), clock_words("24x7")) == ("business hours", "around the clock")
    assert credit_rule_words(Decimal(5), Decimal(20)) == "5 % of the monthly fee per missed commitment, at most 20 % a month"
    assert credit_rule_words(Decimal("7.5"), Decimal(100)) == "7.5 % of the monthly fee per missed commitment"
    assert credit_rule_words(Decimal(0), Decimal(100)) == "no credits"
    text = render.render_markdown(_report(runtime))
    assert "| Premium | around the clock | sev1 within 15m: 50.0%; sev2 within 1h: 0.0%" in text
    assert "| 2 | 10 % of the monthly fee per missed commitment, at most 15 % a month | 15 % of the monthly fee |" in text
    assert "| Standard | business hours |" in text and "| Basic | business hours |" in text
    assert "| 0 | no credits | no credits |" in text  # Basic gives none
    for raw in ("24x7", "business_hours", "(per miss", "cap 100%"):
        assert raw not in text


def test_credits_in_money_and_causes_by_category(
    cli_env: dict[str, str], runtime: Runtime, history: dict[str, int], make_ctx: Callable[..., WriteContext],
    clock: FixedClock, tmp_path: Path,
) -> None:
    """Premium (10 % a miss, at most 15 %) missed B's and C's first responses in October and D's in
    September, all on the API, which Acme follows (every component) and Beta does not."""
    accounts = tmp_path / "accounts.csv"
    accounts.write_text("name,tier,seats,monthly_fee,components\nAcme,premium,5,1000.00,\nBeta,premium,5,2000.00,web\nGamma,standard,5,500,\n")
    imported = CliRunner(env=cli_env).invoke(incident_main, ["report", "import-accounts", str(accounts)])
    assert imported.exit_code == 0, imported.output
    ctx = make_ctx("alice")
    clock.at = utc(2026, 10, 23, 9)
    handling.record_root_cause(ctx=ctx, incident_id=history["B"], category="change")
    handling.record_root_cause(ctx=ctx, incident_id=history["C"], category="change")
    handling.record_root_cause(ctx=ctx, incident_id=history["A"], category="capacity")

    report = _at(runtime, REPORT_NOW)
    assert report.credits is not None and report.previous_credits is not None
    assert (report.credits.total, report.credits.customers_owed) == (Decimal("150.00"), 1)
    assert report.previous_credits.total == Decimal("100.00")
    card = next(c for c in report.cards if c.key == "credits")
    text = render.render_markdown(report)
    assert change_text(card, "September") == "▲ $50.00 vs September"
    assert "| SLA credits owed | $150.00 (1 customer owed) | ▲ $50.00 vs September |" in text
    assert "1 customer is owed $150.00 in SLA credits." in report.summary
    assert "| Premium | around the clock |" in text and "| 15 % of the monthly fee | 1 | $150.00 |" in text
    assert "the biggest known cause was Change or deploy (2 incidents)" in report.summary[1]
    assert report.causes is not None
    # October: B (2 h from detection to resolution) and C (24 h); B earned 10 % of Acme's fee, C the 5 % left under the cap.
    assert [(r.label, r.incidents, r.impact_minutes, r.credit) for r in report.causes.period] == [
        ("Change or deploy", 2, 1560, Decimal("150.00")),
        ("Capacity", 1, 360, Decimal("0.00")),
    ]
    # The 12 months to October also hold D (September, 72 h, no category) and its $100.
    assert [(r.label, r.incidents, r.impact_minutes, r.credit) for r in report.causes.year] == [
        ("Change or deploy", 2, 1560, Decimal("150.00")),
        ("Capacity", 1, 360, Decimal("0.00")),
        ("Not categorised", 1, 4320, Decimal("100.00")),
    ]
    assert "| Change or deploy | 2 | 1 day 2 hours | $150.00 |" in text
    assert "| Not categorised | 1 | 3 days | $100.00 |" in text



def test_kpis_over_three_months_with_the_owner_of_each_miss(cli_env: dict[str, str], runtime: Runtime, tmp_path: Path) -> None:
    source = tmp_path / "kpis.csv"
    source.write_text(
        "month,fcr_percent,csat,nps,abandonment_percent,backlog_per_agent,fcr_percent_owner\n"
        "2026-08,82,4.6,42,4.1,18,\n"
        "2026-10,72.5,4.6,42,6.5,18,Ben Okafor\n"
    )
    runner = CliRunner(env=cli_env)
    assert runner.invoke(incident_main, ["report", "import-kpis", str(source)]).exit_code == 0
    text = runner.invoke(incident_main, ["report", "monthly", "--month", "2026-10"], catch_exceptions=False).stdout
    assert "| KPI | 2026-08 | 2026-09 | 2026-10 | Target | Owner of a miss |" in text
    assert (
        "| First contact resolution | 82% | — | 72.5% (missed) | above 80% | Ben Okafor; **playbook trigger** "
        "(First contact resolution below 75%) |" in text
    )
    assert "| Abandonment | 4.1% | — | 6.5% (missed) | below 5% | nobody named; **playbook trigger** (Abandonment above 6%) |" in text
    assert "| CSAT | 4.6 / 5 | — | 4.6 / 5 | above 4.5 / 5 | — |" in text
    data = json.loads(runner.invoke(incident_main, ["report", "monthly", "--month", "2026-10", "--format", "json"]).stdout)
    fcr = data["kpi_trend"]["kpis"][0]
    assert (fcr["values"], fcr["met"], fcr["owner"]) == ([82, None, 72.5], [True, None, False], "Ben Okafor")
