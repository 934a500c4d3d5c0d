"""The postmortem document as leadership reads it: one analysis with the breaches under it, the
timeline from detection, who was paged and whether it reached them, customer impact as
components × minutes with the accounts and credits, the due date, and the overdue list."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from click.testing import CliRunner
from sqlmodel import select

from incident_cli.main import main as incident_main
from statuspage.clock import FixedClock
from statuspage.context import WriteContext
from statuspage.db.account_models import Account
from statuspage.db.models import PageSent
from statuspage.domain.credits import AccountCredit
from statuspage.incidents import handling
from statuspage.incidents import service as incidents
from statuspage.oncall import delivery
from statuspage.postmortems import document
from statuspage.postmortems import service as postmortems
from statuspage.postmortems.due import OverduePostmortem, overdue_postmortems
from statuspage.postmortems.impact import IncidentCredits
from statuspage.reports.credits import format_money
from statuspage.runtime import Runtime

# Tuesday 10 November 2026, 10:00 in New York (the page's zone, EST).
START = datetime(2026, 11, 10, 15, 0, tzinfo=UTC)
# Resolved Tuesday 14:00 EST; five business days of 10 hours (08:00-18:00), Veterans Day
# (Thursday 12 November) excluded: Tue 4h, Wed 10h, Fri 10h, Mon 10h, Tue 10h, Wed 6h.
DUE = date(2026, 11, 18)


def sev1(ctx: WriteContext, clock: FixedClock, title: str = "Checkout down") -> int:
    """Detected 09:40 EST, declared 10:00 (checkout down, the API partly), the API degraded only
    from 11:00, acknowledged by Ana Ruiz at 10:04, resolved 14:00: first response (15 min) and
    resolution (4 h) breached by 5 and 20 minutes."""
    clock.at = START
    incident = incidents.declare(
        ctx=ctx, severity=1, title=title, components={"checkout": None, "api": "partial_outage"},
        commander="Chen Wei", detected_at=START - timedelta(minutes=20),
    )
    key = incident.id or 0
    clock.at = START + timedelta(minutes=4)
    incidents.acknowledge(ctx=ctx, incident_id=key, by="Ana Ruiz")
    clock.at = START + timedelta(hours=1)
    incidents.post_update(ctx=ctx, incident_id=key, message="Partly back.", components={"api": "degraded_performance"})
    clock.at = START + timedelta(hours=4)
    incidents.resolve(ctx=ctx, incident_id=key, message="Fixed.")
    return key


def render(ctx: WriteContext, runtime: Runtime, key: int, now: datetime, credits: IncidentCredits | None = None) -> list[str]:
    config = runtime.settings.config
    return document.render(document.gather(ctx.session, config, key, now, credits), config).splitlines()


def section(lines: list[str], heading: str) -> list[str]:
    start = lines.index(heading) + 1
    end = next((n for n in range(start, len(lines)) if lines[n].startswith("## ")), len(lines))
    return [line for line in lines[start:end] if line]


def test_one_analysis_with_the_breaches_under_it(ctx: WriteContext, clock: FixedClock, runtime: Runtime) -> None:
    key = sev1(ctx, clock)
    handling.record_root_cause(ctx=ctx, incident_id=key, root_cause="An expired certificate.", category="process")
    lines = render(ctx, runtime, key, clock.now())
    assert [line for line in lines if line.startswith("## Root-cause")] == ["## Root-cause analysis"]
    analysis = section(lines, "## Root-cause analysis")
    assert analysis[0] == "### Breached targets"
    breaches = analysis[1 : analysis.index("### Root cause")]
    assert "- **First response:** promised 15 minutes, took 20 minutes: breached by 5 minutes." in breaches
    assert "- **Resolution:** promised 4 hours, took 4 hours 20 minutes: breached by 20 minutes." in breaches
    assert all(line.startswith("- **") and "breached by" in line for line in breaches)
    assert analysis[analysis.index("### Root cause") + 1] == "**Category:** Process"
    assert lines.count("An expired certificate.") == 1
    assert "- **Cause category:** Process" in lines


def test_the_timeline_starts_at_detection(ctx: WriteContext, clock: FixedClock, runtime: Runtime) -> None:
    key = sev1(ctx, clock)
    timeline = section(render(ctx, runtime, key, clock.now()), "## Timeline")
    assert timeline[:5] == [
        "| Time (America/New_York) | Event |",
        "| --- | --- |",
        "| 2026-11-10 09:40 EST | Detected (20 minutes before it was declared) |",
        "| 2026-11-10 10:00 EST | **investigating** update by alice: We are investigating reports of problems with "
        "Checkout and payments, API. |",
        "| 2026-11-10 10:00 EST | Declared by alice |",
    ]
    assert "| 2026-11-10 10:00 EST | Paged tier 1: Ana Ruiz (Slack, Phone, Email), Ben Okafor (Slack, Email) |" in timeline
    assert not any("slack_user" in line for line in timeline)


def test_who_was_paged_is_one_line_per_person_with_each_delivery(ctx: WriteContext, clock: FixedClock, runtime: Runtime) -> None:
    key = sev1(ctx, clock)
    pages = {(p.owner, p.contact_kind): p.id or 0 for p in ctx.session.exec(select(PageSent).where(PageSent.incident_id == key)).all()}
    clock.at = START + timedelta(minutes=2)
    delivery.record_delivery(ctx=ctx, page_id=pages[("Ana Ruiz", "slack_user")], state=delivery.SENT, ref="1712.5")
    clock.at = START + timedelta(minutes=3)
    delivery.record_delivery(ctx=ctx, page_id=pages[("Ana Ruiz", "email")], state=delivery.FAILED, error="550 mailbox unknown")
    paging = section(render(ctx, runtime, key, clock.now()), "## Paging")
    assert paging == [
        "- Ana Ruiz (tier 1) — Slack: delivered 10:02, Phone: not sent (no channel for phone contacts), "
        "Email: failed (550 mailbox unknown); acknowledged 10:04",
        "- Ben Okafor (tier 1) — Slack: queued (not sent yet), Email: queued (not sent yet)",
    ]


def test_customer_impact_is_components_times_minutes_with_accounts_and_credits(
    ctx: WriteContext, clock: FixedClock, runtime: Runtime
) -> None:
    key = sev1(ctx, clock)
    impact = section(render(ctx, runtime, key, clock.now()), "## Customer impact")
    # Checkout at major outage 10:00-14:00; the API partly out 10:00-11:00, degraded 11:00-14:00.
    # The 20 minutes before the declaration the page showed both operational.
    table = impact[impact.index("### Components × minutes") + 1 : impact.index("### Affected accounts and credits")]
    assert table == [
        "| Component | Major outage | Partial outage | Degraded performance | Total |",
        "| --- | ---: | ---: | ---: | ---: |",
        "| API | — | 60 min | 180 min | 240 min |",
        "| Checkout and payments | 240 min | — | — | 240 min |",
        "| **All components** | 240 min | 60 min | 180 min | 480 min |",
    ]
    assert "_No customer accounts are recorded (`incident report import-accounts`)._" in impact

    for name, tier, components in (("Acme", "premium", []), ("Globex", "standard", ["checkout"]), ("Initech", "premium", ["web"])):
        ctx.session.add(Account(name=name, tier=tier, seats=10, monthly_fee=Decimal("999.00"), components=components, imported_at=START))
    ctx.session.commit()
    owed = IncidentCredits((AccountCredit("Acme", "premium", 1, Decimal("99.90")),), lambda amount: format_money(amount, "USD"))
    impact = section(render(ctx, runtime, key, clock.now(), owed), "## Customer impact")
    accounts = impact[impact.index("### Affected accounts and credits") + 1 :]
    assert accounts[:8] == [
        "| Tier | Accounts affected | Owed a credit | Credits owed |",
        "| --- | ---: | ---: | ---: |",
        "| Standard | 1 | 0 | $0.00 |",
        "| Premium | 1 | 1 | $99.90 |",
        "| **All tiers** | 2 | 1 | $99.90 |",
        "| Account | Tier | Breaches | Credit |",
        "| --- | --- | ---: | ---: |",
        "| Acme | Premium | 1 | $99.90 |",
    ]
    # Without the month's credits the accounts are counted and no money is shown.
    unpriced = section(render(ctx, runtime, key, clock.now()), "## Customer impact")
    assert "| **All tiers** | 2 | — | — |" in unpriced and "$" not in "\n".join(unpriced)


def test_the_due_date_is_five_business_days_after_resolution(ctx: WriteContext, clock: FixedClock, runtime: Runtime) -> None:
    key = sev1(ctx, clock)
    on_time = render(ctx, runtime, key, datetime(2026, 11, 18, 22, 0, tzinfo=UTC))  # 17:00 EST on the due date
    assert f"- **Postmortem due:** {DUE.isoformat()} (5 business days after resolution)" in on_time
    late = render(ctx, runtime, key, datetime(2026, 11, 20, 15, 0, tzinfo=UTC))
    assert f"- **Postmortem due:** {DUE.isoformat()} (5 business days after resolution), 2 days late" in late


def test_overdue_postmortems_are_the_unpublished_ones_that_need_one(ctx: WriteContext, clock: FixedClock, runtime: Runtime) -> None:
    config = runtime.settings.config
    late = sev1(ctx, clock, "Checkout down")
    published = sev1(ctx, clock, "Search down")
    postmortems.publish(ctx=ctx, incident_id=published)  # on 10 November: before its due date
    # A Sev-3 answered within its business day and one detected three business days before it
    # was declared (its first response breached): only the second needs a postmortem.
    for title, detected in (("Minor glitch", START), ("Old glitch", START - timedelta(days=6))):
        clock.at = START
        minor = incidents.declare(ctx=ctx, severity=3, title=title, components=["web"], commander="Ben Okafor", detected_at=detected)
        clock.at = START + timedelta(hours=4)
        incidents.resolve(ctx=ctx, incident_id=minor.id or 0, message="Fixed.")
        breached = minor.id or 0
    clock.at = datetime(2026, 11, 19, 15, 0, tzinfo=UTC)
    recent = incidents.declare(ctx=ctx, severity=2, title="Slow API", components=["api"], commander="Dana Kowalski")
    incidents.resolve(ctx=ctx, incident_id=recent.id or 0, message="Fixed.")

    as_of = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
    assert overdue_postmortems(ctx.session, config, as_of) == [
        OverduePostmortem(late, "Checkout down", "Chen Wei", DUE, 2),
        OverduePostmortem(breached, "Old glitch", "Ben Okafor", DUE, 2),
    ]
    # Due today is not late yet; publishing takes one off the list.
    assert overdue_postmortems(ctx.session, config, datetime(2026, 11, 18, 22, 0, tzinfo=UTC)) == []
    clock.at = as_of
    postmortems.publish(ctx=ctx, incident_id=late)
    assert [row.incident_id for row in overdue_postmortems(ctx.session, config, as_of + timedelta(hours=1))] == [breached]
    # As the list stood before it was published.
    assert [row.incident_id for row in overdue_postmortems(ctx.session, config, as_of - timedelta(hours=1))] == [late, breached]


def test_incident_postmortem_prices_the_credits_with_the_month_s_report(
    ctx: WriteContext, clock: FixedClock, runtime: Runtime, cli_env: dict[str, str], tmp_path: Path
) -> None:
    """Premium promises a 15-minute first response (10 % of the fee per miss): this incident
    answered 20 minutes after detection. Standard's business day was met."""
    key = sev1(ctx, clock)
    ctx.session.commit()
    accounts = tmp_path / "accounts.csv"
    accounts.write_text("name,tier,seats,monthly_fee,components\nAcme,premium,10,1000.00,\nGlobex,standard,5,500.00,checkout\n")
    run = CliRunner(env=cli_env)
    imported = run.invoke(incident_main, ["report", "import-accounts", str(accounts)], prog_name="incident")
    assert imported.exit_code == 0, imported.output
    written = run.invoke(incident_main, ["postmortem", str(key), "--out-dir", str(tmp_path / "pm")], prog_name="incident")
    assert written.exit_code == 0, written.output
    lines = Path(written.stdout.strip()).read_text(encoding="utf-8").splitlines()
    accounts_part = section(lines, "## Customer impact")
    start = accounts_part.index("### Affected accounts and credits") + 1
    assert accounts_part[start : start + 8] == [
        "| Tier | Accounts affected | Owed a credit | Credits owed |",
        "| --- | ---: | ---: | ---: |",
        "| Standard | 1 | 0 | $0.00 |",
        "| Premium | 1 | 1 | $100.00 |",
        "| **All tiers** | 2 | 1 | $100.00 |",
        "| Account | Tier | Breaches | Credit |",
        "| --- | --- | ---: | ---: |",
        "| Acme | Premium | 1 | $100.00 |",
    ]
