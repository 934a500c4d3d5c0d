"""Pausing the SLA clock while waiting on the customer: worked examples on both clocks and a
minute-by-minute brute force."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from click.testing import Result
from freezegun import freeze_time
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlmodel import select

from statuspage.clock import FixedClock
from statuspage.context import WriteContext
from statuspage.db.models import AuditEvent, OutboxMessage
from statuspage.domain.businesstime import BusinessCalendar
from statuspage.domain.durations import Duration
from statuspage.domain.sla import IncidentTimes, Outcome, Pause, evaluate_target
from statuspage.errors import Conflict, InvalidInput
from statuspage.incidents import handling, sla_watch
from statuspage.incidents import service as incidents
from statuspage.incidents.sla import calendar_for, measure
from statuspage.runtime import Runtime
from statuspage.settings import BusinessHours, HolidayCalendar

NY = ZoneInfo("America/New_York")


def ny(*args: int) -> datetime:
    return datetime(*args, tzinfo=NY)  # type: ignore[misc]


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


@pytest.fixture(scope="module")
def calendar() -> BusinessCalendar:
    hours = BusinessHours(holidays=HolidayCalendar(country="US", extra=(date(2026, 12, 24),)))
    return BusinessCalendar.from_config(hours, "America/New_York")


FOUR_HOURS = Duration(seconds=4 * 3600)
START = utc(2026, 11, 2, 9)


def test_a_closed_pause_moves_the_deadline_and_is_not_counted(calendar: BusinessCalendar) -> None:
    times = IncidentTimes(START, resolved_at=START + timedelta(hours=5), pauses=(Pause(START + timedelta(hours=1), START + timedelta(hours=2)),))
    result = evaluate_target("resolution", FOUR_HOURS, times, "24x7", calendar, START + timedelta(hours=6))
    assert result.outcome is Outcome.MET
    assert result.elapsed_seconds == 4 * 3600
    assert result.paused_seconds == 3600
    assert result.deadline == START + timedelta(hours=5)


def test_without_the_pause_the_same_incident_is_breached(calendar: BusinessCalendar) -> None:
    times = IncidentTimes(START, resolved_at=START + timedelta(hours=5))
    result = evaluate_target("resolution", FOUR_HOURS, times, "24x7", calendar, START + timedelta(hours=6))
    assert result.outcome is Outcome.BREACHED
    assert result.breached_by_seconds == 3600


def test_an_open_pause_freezes_the_remaining_time(calendar: BusinessCalendar) -> None:
    times = IncidentTimes(START, pauses=(Pause(START + timedelta(hours=1)),))
    early = evaluate_target("resolution", FOUR_HOURS, times, "24x7", calendar, START + timedelta(hours=2))
    late = evaluate_target("resolution", FOUR_HOURS, times, "24x7", calendar, START + timedelta(hours=30))
    for result in (early, late):
        assert result.outcome is Outcome.PENDING
        assert result.paused
        assert result.remaining_seconds == 3 * 3600
    # The deadline shown is the one that holds if the clock starts again now.
    assert late.deadline == START + timedelta(hours=33)


def test_after_resuming_the_clock_runs_again(calendar: BusinessCalendar) -> None:
    times = IncidentTimes(START, pauses=(Pause(START + timedelta(hours=1), START + timedelta(hours=3)),))
    result = evaluate_target("resolution", FOUR_HOURS, times, "24x7", calendar, START + timedelta(hours=4))
    assert not result.paused
    assert result.remaining_seconds == 2 * 3600
    assert result.deadline == START + timedelta(hours=6)
    breached = evaluate_target("resolution", FOUR_HOURS, times, "24x7", calendar, START + timedelta(hours=7))
    assert breached.outcome is Outcome.BREACHED and breached.breached_by_seconds == 3600


def test_a_pause_after_the_breach_does_not_undo_it(calendar: BusinessCalendar) -> None:
    times = IncidentTimes(START, pauses=(Pause(START + timedelta(hours=5)),))
    result = evaluate_target("resolution", FOUR_HOURS, times, "24x7", calendar, START + timedelta(hours=9))
    assert result.outcome is Outcome.BREACHED
    assert result.breached_by_seconds == 3600
    assert result.deadline == START + timedelta(hours=4)


def test_a_pause_after_the_event_changes_nothing(calendar: BusinessCalendar) -> None:
    times = IncidentTimes(START, first_response_at=START + timedelta(minutes=10), pauses=(Pause(START + timedelta(hours=1)),))
    result = evaluate_target("first_response", Duration(seconds=900), times, "24x7", calendar, START + timedelta(hours=2))
    assert result.outcome is Outcome.MET
    assert result.elapsed_seconds == 600
    assert result.paused_seconds == 0


def test_business_clock_pause_over_a_weekend_counts_only_working_time(calendar: BusinessCalendar) -> None:
    # Detected Friday 20 Nov 2026 16:00 New York, target 4 business hours. Paused Friday 17:00
    # to Monday 10:00: one business hour of Friday and two of Monday are taken off.
    detected = ny(2026, 11, 20, 16)
    times = IncidentTimes(detected, pauses=(Pause(ny(2026, 11, 20, 17), ny(2026, 11, 23, 10)),))
    result = evaluate_target("resolution", Duration(business_hours=4), times, "24x7", calendar, ny(2026, 11, 23, 11))
    assert result.clock == "business_hours"
    assert result.paused_seconds == 3 * 3600
    assert result.elapsed_seconds == 2 * 3600  # Friday 16-17 and Monday 10-11
    assert result.remaining_seconds == 2 * 3600
    assert result.deadline == ny(2026, 11, 23, 13)


def test_overlapping_pauses_count_once(calendar: BusinessCalendar) -> None:
    pauses = (Pause(START + timedelta(hours=1), START + timedelta(hours=3)), Pause(START + timedelta(hours=2), START + timedelta(hours=4)))
    times = IncidentTimes(START, pauses=pauses)
    result = evaluate_target("resolution", FOUR_HOURS, times, "24x7", calendar, START + timedelta(hours=5))
    assert result.paused_seconds == 3 * 3600
    assert result.elapsed_seconds == 2 * 3600


# --- brute force ---------------------------------------------------------------------------

BASE = datetime(2026, 10, 30, 0, 0, tzinfo=UTC)  # a Friday, two days before the US DST switch


def _working_minutes(calendar: BusinessCalendar, start: datetime, end: datetime, pauses: list[tuple[int, int]]) -> int:
    """Minute by minute: a minute counts when it is a business minute and in no pause."""
    count = 0
    minute = start
    while minute < end:
        offset = int((minute - BASE).total_seconds() // 60)
        paused = any(a <= offset < b for a, b in pauses)
        if not paused and calendar.business_seconds_between(minute, minute + timedelta(minutes=1)) == 60:
            count += 1
        minute += timedelta(minutes=1)
    return count


@hypothesis_settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    start=st.integers(0, 3 * 24 * 60),
    length=st.integers(1, 3 * 24 * 60),
    raw_pauses=st.lists(st.tuples(st.integers(0, 6 * 24 * 60), st.integers(1, 24 * 60)), max_size=3),
    target_hours=st.integers(1, 12),
)
def test_business_elapsed_and_deadline_match_a_brute_force_count(
    calendar: BusinessCalendar, start: int, length: int, raw_pauses: list[tuple[int, int]], target_hours: int
) -> None:
    detected = BASE + timedelta(minutes=start)
    now = detected + timedelta(minutes=length)
    pauses = [(a, a + n) for a, n in raw_pauses]
    times = IncidentTimes(
        detected, pauses=tuple(Pause(BASE + timedelta(minutes=a), BASE + timedelta(minutes=b)) for a, b in pauses)
    )
    result = evaluate_target("resolution", Duration(business_hours=target_hours), times, "24x7", calendar, now)
    assert result.elapsed_seconds == 60 * _working_minutes(calendar, detected, now, pauses)
    # At the deadline exactly the whole target has run. Measured from a later "now", so that the
    # deadline knows every pause before it.
    later = evaluate_target("resolution", Duration(business_hours=target_hours), times, "24x7", calendar, BASE + timedelta(days=40))
    at_deadline = evaluate_target("resolution", Duration(business_hours=target_hours), times, "24x7", calendar, later.deadline)
    assert at_deadline.elapsed_seconds == target_hours * 3600
    assert at_deadline.outcome is Outcome.PENDING and at_deadline.remaining_seconds == 0


# --- pausing an incident -----------------------------------------------------------------------



def _resolution(runtime: Runtime, incident_id: int, now: datetime):  # type: ignore[no-untyped-def]
    config = runtime.settings.config
    with runtime.session() as session:
        incident = incidents.get(session=session, incident_id=incident_id)
        evaluation = measure(incident, config, calendar_for(config), now)
    assert evaluation is not None
    result = evaluation.get("resolution")
    assert result is not None
    return result


def test_a_paused_sev1_does_not_breach_while_waiting_on_the_customer(runtime: Runtime, ctx: WriteContext, clock: FixedClock) -> None:
    start = clock.now()
    # Internal (opened from an alert): no public update is owed, only the resolution is at stake.
    incident = incidents.declare(ctx=ctx, severity=1, title="Checkout failing", components=["checkout"], internal=True)
    assert incident.id is not None
    incidents.acknowledge(ctx=ctx, incident_id=incident.id, by="Ana Ruiz")
    clock.at = start + timedelta(hours=1)
    handling.pause_sla(ctx=ctx, incident_id=incident.id, reason="waiting for the customer's HAR file")

    clock.at = start + timedelta(hours=10)  # 4 h target, but 9 of these hours were paused
    assert sla_watch.record_breaches(runtime).recorded == 0
    paused = _resolution(runtime, incident.id, clock.now())
    assert paused.paused and paused.remaining_seconds == 3 * 3600

    handling.resume_sla(ctx=ctx, incident_id=incident.id)
    clock.at = start + timedelta(hours=12, seconds=30)  # 1 h before the pause + 2.5 h after: still in time
    assert sla_watch.record_breaches(runtime).recorded == 0
    running = _resolution(runtime, incident.id, clock.now())
    assert not running.paused
    assert running.deadline == start + timedelta(hours=13)
    clock.at = start + timedelta(hours=13, seconds=1)
    assert sla_watch.record_breaches(runtime).recorded == 1

    with runtime.session() as session:
        actions = [e.action for e in session.exec(select(AuditEvent).where(AuditEvent.subject_id == str(incident.id))).all()]
        webhook_or_slack = session.exec(select(OutboxMessage)).all()
    assert actions.count("incident.sla_pause") == 1 and actions.count("incident.sla_resume") == 1
    # Both are posted to the incident's Slack thread.
    events = [m.event for m in webhook_or_slack if m.channel == "slack"]
    assert events.count("slack.reply") >= 2


def test_pause_rules(runtime: Runtime, ctx: WriteContext, clock: FixedClock) -> None:
    incident = incidents.declare(ctx=ctx, severity=2, title="Slow search", components=["web"])
    assert incident.id is not None
    with pytest.raises(Conflict, match="not paused"):
        handling.resume_sla(ctx=ctx, incident_id=incident.id)
    with pytest.raises(InvalidInput, match="reason"):
        handling.pause_sla(ctx=ctx, incident_id=incident.id, reason="  ")
    handling.pause_sla(ctx=ctx, incident_id=incident.id, reason="customer to confirm the fix")
    with pytest.raises(Conflict, match="already paused"):
        handling.pause_sla(ctx=ctx, incident_id=incident.id, reason="again")
    # Resolving ends the pause at the resolution time.
    clock.at = clock.now() + timedelta(minutes=30)
    incidents.resolve(ctx=ctx, incident_id=incident.id)
    with runtime.session() as session:
        row = incidents.get(session=session, incident_id=incident.id)
        assert row.sla_pauses is not None
        assert [p["end"] for p in row.sla_pauses] == [clock.now().isoformat()]
    with pytest.raises(Conflict, match="resolved"):
        handling.pause_sla(ctx=ctx, incident_id=incident.id, reason="too late")


def test_pausing_sends_no_webhook(runtime: Runtime, ctx: WriteContext) -> None:
    from statuspage.webhooks import service as webhooks

    webhooks.subscribe(ctx=ctx, url="https://hooks.example.com/status")
    incident = incidents.declare(ctx=ctx, severity=2, title="Slow search", components=["web"])
    assert incident.id is not None
    with runtime.session() as session:
        before = len([m for m in session.exec(select(OutboxMessage)).all() if m.channel == "webhook"])
    handling.pause_sla(ctx=ctx, incident_id=incident.id, reason="waiting on customer")
    handling.resume_sla(ctx=ctx, incident_id=incident.id)
    with runtime.session() as session:
        after = len([m for m in session.exec(select(OutboxMessage)).all() if m.channel == "webhook"])
    assert after == before


def test_pause_and_resume_from_the_command_line(run: Callable[..., Result]) -> None:
    with freeze_time("2026-11-24 14:00:00") as frozen:
        assert run("declare", "-s", "1", "-t", "Checkout failing", "-c", "api").exit_code == 0
        assert run("ack", "1").exit_code == 0
        frozen.tick(timedelta(minutes=30))
        paused = run("pause", "1", "--reason", "customer to send logs")
        assert paused.exit_code == 0, paused.output
        assert paused.stdout.strip() == "Incident 1: SLA clocks paused (customer to send logs); resume with: incident resume 1"
        frozen.tick(timedelta(hours=6))
        shown = run("show", "1")
        assert "paused since" in shown.stdout and "customer to send logs" in shown.stdout
        assert "3 hours 30 minutes left (paused)" in shown.stdout
        again = run("pause", "1", "--reason", "x")
        assert again.exit_code == 2 and "already paused" in again.stderr
        resumed = run("resume", "1")
        assert resumed.exit_code == 0
        assert resumed.stdout.strip() == "Incident 1: SLA clocks running again after 6 hours"
        shown = run("show", "1")
        assert "paused SLA clocks" in shown.stdout and "resumed SLA clocks" in shown.stdout
        assert "(paused)" not in shown.stdout


def test_slack_thread_replies_escape_the_reason(runtime: Runtime, ctx: WriteContext, clock: FixedClock) -> None:
    from statuspage.db.models import Incident
    from statuspage.slack import hook
    from statuspage.slack.messages import render

    incident = incidents.declare(ctx=ctx, severity=2, title="Slow search", components=["web"])
    assert incident.id is not None
    handling.pause_sla(ctx=ctx, incident_id=incident.id, reason="<!channel> waiting on <http://evil|logs> & more")
    clock.at = clock.now() + timedelta(minutes=90)
    handling.resume_sla(ctx=ctx, incident_id=incident.id)
    with runtime.session() as session:
        row = session.get(Incident, incident.id)
        assert row is not None
        events = session.exec(
            select(AuditEvent).where(AuditEvent.action.in_(["incident.sla_pause", "incident.sla_resume"]))  # type: ignore[attr-defined]
        ).all()
        replies = [p for e in events for p in hook.plan(row, [e], runtime.settings.config) if p.event == hook.REPLY]
    texts = [render(p.payload["template"], runtime.settings.config, incident=p.payload["incident"], data=p.payload["data"]) for p in replies]
    paused, resumed = (t["text"] for t in texts)
    assert paused == f":double_vertical_bar: #{incident.id}: SLA clocks paused: &lt;!channel&gt; waiting on &lt;http://evil|logs&gt; &amp; more"
    assert resumed == f":arrow_forward: #{incident.id}: SLA clocks running again"
    assert "By alice; paused for 1h 30m" in str(texts[1]["blocks"])


def test_the_postmortem_shows_paused_time(runtime: Runtime, ctx: WriteContext, clock: FixedClock) -> None:
    from statuspage.postmortems import document

    start = clock.now()
    incident = incidents.declare(ctx=ctx, severity=1, title="Checkout failing", components=["checkout"])
    assert incident.id is not None
    incidents.acknowledge(ctx=ctx, incident_id=incident.id, by="Ana Ruiz")
    clock.at = start + timedelta(hours=1)
    handling.pause_sla(ctx=ctx, incident_id=incident.id, reason="customer to roll back their proxy")
    clock.at = start + timedelta(hours=3)
    handling.resume_sla(ctx=ctx, incident_id=incident.id)
    clock.at = start + timedelta(hours=5)
    incidents.resolve(ctx=ctx, incident_id=incident.id)
    config = runtime.settings.config
    text = document.render(document.gather(ctx.session, config, incident.id, clock.now()), config)
    assert "| Resolution | 4 hours | 3 hours (clock paused 2 hours) | met |" in text
    assert "SLA clocks paused by alice: customer to roll back their proxy" in text
