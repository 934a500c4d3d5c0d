"""Every published promise is measured: the update cadence (a breach recorded by the worker as it
happens, listed by the monthly report), the resolution plan (``incident plan``, measured against
its 24 hours), and the service recovery every resolved Sev-1 starts (action items with owners and
business-day due dates, made once)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from click.testing import Result
from freezegun import freeze_time
from sqlmodel import col, select
from starlette.testclient import TestClient

from incident_cli.render import AUDIT_WORDS, audit_detail
from statuspage import demo
from statuspage.audit.actions import AuditAction
from statuspage.clock import FixedClock
from statuspage.context import Actor, WriteContext
from statuspage.db.models import AuditEvent, Incident
from statuspage.domain.businesstime import BusinessCalendar
from statuspage.domain.durations import Duration
from statuspage.domain.enums import Source
from statuspage.domain.sla import IncidentTimes, Outcome, PublicUpdate, evaluate_incident
from statuspage.incidents import plan as plans
from statuspage.incidents import service as incidents
from statuspage.incidents import sla_watch
from statuspage.runtime import Runtime
from statuspage.slack import hook
from statuspage.slack.messages import render
from statuspage.web.app import create_app

NY = ZoneInfo("America/New_York")
CALENDAR = BusinessCalendar("America/New_York")
HALF_HOUR = {"update_cadence": Duration.parse("30m")}


def utc(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, 24, hour, minute, tzinfo=UTC)


# --- the update cadence, worked out by hand ---------------------------------------------------


def test_cadence_breach_is_the_first_late_update_and_the_longest_overrun() -> None:
    # Updates at 10:00, 10:25, 11:10 (45 min: due 10:55, 15 min late), 11:30, 12:35 (65 min: due
    # 12:00, 35 min late), resolved 12:50.
    updates = (
        PublicUpdate(utc(10)), PublicUpdate(utc(10, 25)), PublicUpdate(utc(11, 10)), PublicUpdate(utc(11, 30)),
        PublicUpdate(utc(12, 35)), PublicUpdate(utc(12, 50), resolved=True),
    )
    times = IncidentTimes(detected_at=utc(9, 50), resolved_at=utc(12, 50), public_updates=updates)
    (cadence,) = evaluate_incident(times, HALF_HOUR, "24x7", CALENDAR, utc(18)).targets
    assert (cadence.target, cadence.outcome) == ("update_cadence", Outcome.BREACHED)
    assert cadence.deadline == utc(10, 55)  # the first late update was due then
    assert (cadence.elapsed_seconds, cadence.breached_by_seconds, cadence.target_seconds) == (65 * 60, 35 * 60, 30 * 60)
    assert cadence.event_at == utc(12, 35)


def test_cadence_met_pending_and_not_owed_while_resolved() -> None:
    every_half_hour = tuple(PublicUpdate(utc(10) + timedelta(minutes=30 * n)) for n in range(4))
    resolved = (*every_half_hour, PublicUpdate(utc(11, 50), resolved=True))
    times = IncidentTimes(detected_at=utc(10), resolved_at=utc(11, 50), public_updates=resolved)
    (met,) = evaluate_incident(times, HALF_HOUR, "24x7", CALENDAR, utc(18)).targets
    assert (met.outcome, met.elapsed_seconds, met.event_at) == (Outcome.MET, 30 * 60, utc(11, 50))

    # Still open, the last update 20 minutes ago: 10 minutes left, due 30 minutes after it.
    open_times = IncidentTimes(detected_at=utc(10), public_updates=every_half_hour)
    (pending,) = evaluate_incident(open_times, HALF_HOUR, "24x7", CALENDAR, utc(11, 50)).targets
    assert (pending.outcome, pending.remaining_seconds, pending.deadline) == (Outcome.PENDING, 600, utc(12))

    # Resolved at 11:00, reopened at 15:00: the four hours closed owe no update.
    reopened = (PublicUpdate(utc(10, 40)), PublicUpdate(utc(11), resolved=True), PublicUpdate(utc(15)), PublicUpdate(utc(15, 20), True))
    times = IncidentTimes(detected_at=utc(10, 40), resolved_at=utc(15, 20), public_updates=reopened)
    (again,) = evaluate_incident(times, HALF_HOUR, "24x7", CALENDAR, utc(18)).targets
    assert (again.outcome, again.elapsed_seconds) == (Outcome.MET, 20 * 60)

    # Not public (internal): nobody outside was waiting, so no cadence at all.
    assert evaluate_incident(IncidentTimes(detected_at=utc(10)), HALF_HOUR, "24x7", CALENDAR, utc(18)).targets == ()


def cadence_events(runtime: Runtime) -> list[AuditEvent]:
    with runtime.session() as session:
        rows = session.exec(select(AuditEvent).where(AuditEvent.action == sla_watch.ACTION).order_by(col(AuditEvent.id))).all()
        return [row for row in rows if (row.after or {}).get("target") == "update_cadence"]


def test_the_worker_records_a_late_update_once(runtime: Runtime, ctx: WriteContext, clock: FixedClock, run: Callable[..., Result]) -> None:
    start = clock.now()
    incident = incidents.declare(ctx=ctx, severity=1, title="Checkout failing", components=["checkout"])
    key = incident.id or 0
    incidents.acknowledge(ctx=ctx, incident_id=key)  # only the cadence is at stake here
    clock.at = start + timedelta(minutes=30)  # the next update is due now: not late yet
    assert sla_watch.record_breaches(runtime).recorded == 0
    clock.at = start + timedelta(minutes=30, seconds=1)
    assert sla_watch.record_breaches(runtime).recorded == 1
    assert sla_watch.record_breaches(runtime).recorded == 0
    clock.at = start + timedelta(minutes=40)
    incidents.post_update(ctx=ctx, incident_id=key, message="Rolling back.")
    clock.at = start + timedelta(minutes=75)  # late again (35 min): the cadence is already on record
    assert sla_watch.record_breaches(runtime).recorded == 0

    (event,) = cadence_events(runtime)
    due = (start + timedelta(minutes=30)).isoformat()
    assert event.after == {"target": "update_cadence", "deadline": due, "promised": "30m", "breached_at": due}
    assert audit_detail(event.action, event.before, event.after) == "update cadence target 30m missed"
    with runtime.session() as session:
        row = session.get(Incident, key)
        assert row is not None
        (reply,) = hook.plan(row, [event], runtime.settings.config)
    message = render("sla_breach", runtime.settings.config, incident=reply.payload["incident"], data=reply.payload["data"])
    assert message["text"] == f":rotating_light: #{key}: SLA breached: update cadence target 30m missed"

    with freeze_time(start + timedelta(minutes=75)):
        shown = run("show", str(key)).stdout
    cadence = next(line for line in shown.splitlines() if line.strip().startswith("Update cadence"))
    # The longest wait: 40 minutes to the first update, and 35 so far since it.
    assert "30 minutes" in cadence and "breached by 10 minutes" in cadence


def test_an_incident_kept_to_its_cadence_records_nothing(runtime: Runtime, ctx: WriteContext, clock: FixedClock) -> None:
    start = clock.now()
    incident = incidents.declare(ctx=ctx, severity=1, title="Checkout failing", components=["checkout"])
    incidents.acknowledge(ctx=ctx, incident_id=incident.id or 0)
    for minutes in (30, 60, 90):
        clock.at = start + timedelta(minutes=minutes)
        incidents.post_update(ctx=ctx, incident_id=incident.id or 0, message=f"Still working on it ({minutes}).")
        assert sla_watch.record_breaches(runtime).recorded == 0
    clock.at = start + timedelta(minutes=110)
    incidents.resolve(ctx=ctx, incident_id=incident.id or 0)
    clock.at = start + timedelta(hours=6)
    assert sla_watch.record_breaches(runtime).recorded == 0
    assert cadence_events(runtime) == []


# --- the resolution plan ----------------------------------------------------------------------


def test_plan_is_recorded_shown_and_measured(run: Callable[..., Result], runtime: Runtime) -> None:
    with freeze_time("2026-11-24 14:00:00") as frozen:
        assert run("declare", "-s", "1", "-t", "Checkout failing", "-c", "api").exit_code == 0
        assert run("declare", "-s", "1", "-t", "Search down", "-c", "web").exit_code == 0
        frozen.move_to("2026-11-24 15:30:00")
        first = run("plan", "1", "-m", "Fail over to the standby, then rebuild the <primary>.")
        assert (first.exit_code, first.stdout) == (0, "Incident 1: resolution plan recorded (first plan at 2026-11-24 10:30:00 EST)\n")
        frozen.move_to("2026-11-24 16:00:00")
        revised = run("plan", "1", "-m", "Rebuild the primary in place.")
        assert revised.stdout == "Incident 1: resolution plan recorded (first plan at 2026-11-24 10:30:00 EST)\n"
        shown = run("show", "1").stdout
        assert "Resolution plan  Rebuild the primary in place. (recorded 2026-11-24 10:30:00 EST)" in shown
        assert "recorded the resolution plan" in shown and "Fail over to the standby, then rebuild the <primary>." in shown
        row = next(line for line in shown.splitlines() if line.strip().startswith("Resolution plan") and "1 day" in line)
        assert row.endswith("met")

        frozen.move_to("2026-11-25 15:00:00")  # 25 hours after the second was declared, no plan
        late = next(line for line in run("show", "2").stdout.splitlines() if line.strip().startswith("Resolution plan"))
        assert late.endswith("breached by 1 hour (still open)")

        assert run("resolve", "1").exit_code == 0
        refused = run("plan", "1", "-m", "Too late.")
        assert refused.exit_code == 2
        assert refused.stderr.strip().endswith("incident 1 is resolved; a resolution plan is for an open incident")
        assert run("plan", "1", "-m", "  ").exit_code == 2

    with runtime.session() as session:
        events = session.exec(select(AuditEvent).where(AuditEvent.action == AuditAction.INCIDENT_RESOLUTION_PLAN)).all()
        assert [e.after["resolution_plan"] for e in events if e.after] == [
            "Fail over to the standby, then rebuild the <primary>.", "Rebuild the primary in place."
        ]
        assert AUDIT_WORDS[AuditAction.INCIDENT_RESOLUTION_PLAN] == "recorded the resolution plan"
        incident = session.get(Incident, 1)
        assert incident is not None
        (reply,) = hook.plan(incident, [events[0]], runtime.settings.config)
    message = render("resolution_plan", runtime.settings.config, incident=reply.payload["incident"], data=reply.payload["data"])
    assert message["text"] == ":memo: #1: resolution plan: Fail over to the standby, then rebuild the &lt;primary&gt;."


# --- service recovery -------------------------------------------------------------------------


def test_resolving_a_sev1_starts_service_recovery_once(ctx: WriteContext, clock: FixedClock, run: Callable[..., Result]) -> None:
    clock.at = datetime(2026, 11, 20, 16, 0, tzinfo=NY)  # Friday 16:00
    incident = incidents.declare(ctx=ctx, severity=1, title="Checkout failing", components=["checkout"])
    minor = incidents.declare(ctx=ctx, severity=2, title="Slow search", components=["web"])
    clock.at = datetime(2026, 11, 20, 17, 0, tzinfo=NY)
    incidents.resolve(ctx=ctx, incident_id=incident.id or 0)
    incidents.resolve(ctx=ctx, incident_id=minor.id or 0)  # Sev-2 calls for no service recovery
    clock.at = datetime(2026, 11, 20, 17, 10, tzinfo=NY)
    incidents.reopen(ctx=ctx, incident_id=incident.id or 0)
    clock.at = datetime(2026, 11, 20, 17, 20, tzinfo=NY)
    incidents.resolve(ctx=ctx, incident_id=incident.id or 0)

    listed = run("action", "list").stdout.splitlines()
    # 2 business days from Friday 17:00: 1 h Friday, 10 h Monday, 9 h Tuesday: Tuesday 24th.
    # 5 business days: Wednesday, then Thanksgiving (Thursday 26th) is skipped: Monday 30th.
    assert [line.split() for line in listed[1:]] == [
        ["1", "1", "2026-11-24", "open", "Ben", "Okafor", "Contact", "affected", "Premium", "accounts"],
        ["2", "1", "2026-11-30", "open", "Finance", "Issue", "SLA", "credits"],
    ]
    added = ctx.session.exec(select(AuditEvent).where(AuditEvent.action == AuditAction.ACTION_ITEM_ADD)).all()
    assert [(e.after or {}).get("source") for e in added] == ["service_recovery", "service_recovery"]
    assert {e.at for e in added} == {datetime(2026, 11, 20, 17, 0, tzinfo=NY)}


# --- /sla shows only what is measured ---------------------------------------------------------


@pytest.fixture
def client(runtime: Runtime, clock: FixedClock) -> Iterator[TestClient]:
    with TestClient(create_app(runtime.settings, runtime.engine, clock=clock, version_check_interval=0)) as c:
        yield c


def test_sla_page_promises_only_what_is_measured(client: TestClient, ctx: WriteContext, clock: FixedClock) -> None:
    start = datetime(2026, 11, 10, 15, 0, tzinfo=UTC)
    clock.at = start
    quiet = incidents.declare(ctx=ctx, severity=1, title="Checkout <down>", components=["checkout"])
    incidents.acknowledge(ctx=ctx, incident_id=quiet.id or 0)
    clock.at = start + timedelta(minutes=50)
    plans.record_plan(ctx=ctx, incident_id=quiet.id or 0, plan="Roll back.")
    clock.at = start + timedelta(hours=2)  # one update at the declaration, none for two hours
    incidents.resolve(ctx=ctx, incident_id=quiet.id or 0)
    clock.at = datetime(2026, 11, 25, 17, 0, tzinfo=UTC)

    data = client.get("/sla.json").json()
    assert "channels" not in data  # first responses by channel are not measured by the product
    sev1 = next(c for c in data["commitments"] if c["severity"] == "sev1")
    promised = {name for name, target in sev1["targets"].items() if target}
    assert promised == {"first_response", "acknowledgement", "resolution", "resolution_plan", "update_cadence"}
    november = data["months"][0]
    assert promised <= set(november["targets"])  # every promise has its attainment
    assert november["targets"]["update_cadence"] == {"met": 0, "breached": 1, "pending": 0, "percent": 0.0}
    assert november["targets"]["resolution_plan"] == {"met": 1, "breached": 0, "pending": 0, "percent": 100.0}
    (breach,) = data["breaches"]
    assert (breach["target"], breach["promised"], breach["actual"], breach["breached_by"]) == (
        "update_cadence", "30 minutes", "2 hours", "1 hour 30 minutes"
    )
    assert sev1["service_recovery"][0] == {"title": "Contact affected Premium accounts", "due": {"target": "2bd", "text": "2 business days"}}

    page = client.get("/sla").text
    assert "First response, by channel" not in page and "Status updates" not in page
    assert '<td data-label="Update cadence">every 30 minutes</td>' in page
    assert '<td data-label="Resolution plan">within 1 day</td>' in page
    assert "After every Sev-1 is resolved: Contact affected Premium accounts, within 2 business days" in page
    assert "Update cadence missed by 1 hour 30 minutes" in page
    assert "Checkout &lt;down&gt;" in page


# --- the demo ---------------------------------------------------------------------------------


def test_the_monthly_report_lists_the_demo_cadence_breach(runtime: Runtime, clock: FixedClock, run: Callable[..., Result]) -> None:
    clock.at = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
    with runtime.session() as session:
        demo.seed(session=session, runtime=runtime, actor=Actor("demo", Source.SYSTEM))
    with runtime.session() as session:
        signin = session.exec(select(Incident).where(Incident.title == "Sign-in unavailable")).one()
        assert signin.resolution_plan is not None and signin.resolution_plan_at is not None
    with freeze_time(clock.now()):
        report = run("report", "monthly", "--month", "2026-11")
    assert report.exit_code == 0, report.output
    rows = [line for line in report.stdout.splitlines() if "Sign-in unavailable" in line and "Update cadence" in line]
    # Declared, then silent for 1 h 40 and 2 h 40: 2 h 10 over the 30 minutes at the worst.
    assert len(rows) == 1 and "2 hours 10 minutes" in rows[0], report.stdout
