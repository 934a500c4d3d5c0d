"""SLA breaches recorded by the worker: once per incident and target, never for a target met in
time, exactly once with two workers racing; shown by Slack and ``incident show``.

The worker's part is played by :func:`statuspage.incidents.sla_watch.record_breaches`, which every
``incident watch`` pass calls (one test runs :func:`statuspage.worker.run_watch` itself).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, timedelta
from typing import Any

from sqlmodel import col, select

from incident_cli.render import AUDIT_WORDS, audit_detail
from statuspage import worker
from statuspage.clock import FixedClock
from statuspage.context import WriteContext
from statuspage.db.models import AuditEvent, Incident, Timer
from statuspage.incidents import service as incidents
from statuspage.incidents import sla_watch
from statuspage.oncall import timers
from statuspage.runtime import Runtime
from statuspage.slack import hook
from statuspage.slack.messages import render

ACTION = sla_watch.ACTION


def declare_unanswered(ctx: WriteContext, severity: int = 1) -> int:
    """An open incident nobody has responded to (as an alert-opened incident would be: internal,
    so no public update is owed)."""
    incident = incidents.declare(ctx=ctx, severity=severity, title="Checkout failing", components=["checkout"], internal=True)
    assert incident.id is not None
    row = ctx.session.get(Incident, incident.id)
    assert row is not None
    row.first_response_at = None
    ctx.session.add(row)
    ctx.session.commit()
    return incident.id


def breaches(runtime: Runtime, incident_id: int | None = None) -> list[AuditEvent]:
    with runtime.session() as session:
        statement = select(AuditEvent).where(AuditEvent.action == ACTION)
        if incident_id is not None:
            statement = statement.where(AuditEvent.subject_id == str(incident_id))
        return list(session.exec(statement.order_by(col(AuditEvent.id))).all())


def sla_timers(runtime: Runtime) -> list[tuple[int | None, str, str, str]]:
    with runtime.session() as session:
        rows = session.exec(select(Timer).where(Timer.kind == sla_watch.KIND).order_by(col(Timer.id))).all()
        return [(t.incident_id, t.key, t.kind, t.state) for t in rows]


def test_an_unanswered_sev1_breaches_first_response_once(runtime: Runtime, ctx: WriteContext, clock: FixedClock) -> None:
    start = clock.now()
    incident_id = declare_unanswered(ctx)

    clock.at = start + timedelta(minutes=15)  # exactly at the deadline: not late yet
    assert sla_watch.record_breaches(runtime).recorded == 0
    clock.at = start + timedelta(minutes=15, seconds=1)
    report = sla_watch.record_breaches(runtime)
    assert report.recorded == 1
    for minutes in (16, 20, 40, 59):
        clock.at = start + timedelta(minutes=minutes)
        assert sla_watch.record_breaches(runtime).recorded == 0

    (event,) = breaches(runtime, incident_id)
    deadline = (start + timedelta(minutes=15)).isoformat()
    assert event.after == {"target": "first_response", "deadline": deadline, "promised": "15m", "breached_at": deadline}
    assert event.at == start + timedelta(minutes=15, seconds=1)
    assert (event.actor, event.subject_type) == (timers.WORKER_ACTOR.name, "incident")
    assert sla_timers(runtime) == [(incident_id, "sla:first_response", sla_watch.KIND, timers.FIRED)]
    # The bookkeeping row is never claimed by a worker: no handler knows its kind.
    assert sla_watch.KIND not in runtime.timer_handlers
    timers.fire_due(runtime)
    assert sla_timers(runtime) == [(incident_id, "sla:first_response", sla_watch.KIND, timers.FIRED)]

    # Later targets breach in their turn, each once.
    for hours in (1.01, 2, 4.01, 6):
        clock.at = start + timedelta(hours=hours)
        sla_watch.record_breaches(runtime)
    assert [e.after["target"] for e in breaches(runtime, incident_id) if e.after] == [
        "first_response",
        "acknowledgement",
        "resolution",
    ]


def test_targets_met_in_time_record_nothing(runtime: Runtime, ctx: WriteContext, clock: FixedClock) -> None:
    start = clock.now()
    incident = incidents.declare(ctx=ctx, severity=1, title="Checkout failing", components=["checkout"])
    assert incident.id is not None
    clock.at = start + timedelta(minutes=10)
    incidents.acknowledge(ctx=ctx, incident_id=incident.id, by="Ana Ruiz")
    for minutes in (30, 60, 90, 120, 150):  # a public update every 30 minutes, as promised
        clock.at = start + timedelta(minutes=minutes)
        incidents.post_update(ctx=ctx, incident_id=incident.id, message="Still working on it.")
    clock.at = start + timedelta(hours=3)
    incidents.resolve(ctx=ctx, incident_id=incident.id)
    for hours in (0.5, 3.5, 5, 30):
        clock.at = start + timedelta(hours=hours)
        assert sla_watch.record_breaches(runtime).recorded == 0
    assert breaches(runtime) == [] and sla_timers(runtime) == []


def test_a_late_resolution_is_recorded_after_the_fact(runtime: Runtime, ctx: WriteContext, clock: FixedClock) -> None:
    """The worker was down over the deadline: the breach is recorded once it runs again, within a day."""
    start = clock.now()
    incident = incidents.declare(ctx=ctx, severity=1, title="Checkout failing", components=["checkout"], internal=True)
    assert incident.id is not None
    incidents.acknowledge(ctx=ctx, incident_id=incident.id, by="Ana Ruiz")
    clock.at = start + timedelta(hours=5)
    incidents.resolve(ctx=ctx, incident_id=incident.id)
    clock.at = start + timedelta(hours=6)
    assert sla_watch.record_breaches(runtime).recorded == 1
    (event,) = breaches(runtime, incident.id)
    assert event.after is not None and (event.after["target"], event.after["promised"]) == ("resolution", "4h")


def test_two_workers_racing_record_one_event(
    runtime: Runtime, make_ctx: Callable[..., WriteContext], clock: FixedClock, db_url: str
) -> None:
    """Each round, a fresh unanswered Sev-1 passes its deadline and two workers pass at once."""
    rounds = 8 if db_url.startswith("postgresql") else 3
    start = clock.now()
    ids = []
    reports: list[sla_watch.BreachReport] = []
    errors: list[BaseException] = []

    def run(barrier: threading.Barrier) -> None:
        try:
            barrier.wait()
            reports.append(sla_watch.record_breaches(runtime))
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    for n in range(rounds):
        clock.at = start + timedelta(minutes=20 * n)
        ids.append(declare_unanswered(make_ctx("declarer")))
        clock.at = start + timedelta(minutes=20 * n + 16)
        barrier = threading.Barrier(2)
        threads = [threading.Thread(target=run, args=(barrier,)) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert not errors, errors
    assert sum(r.failed for r in reports) == 0, reports
    recorded = [(e.subject_id, e.after["target"]) for e in breaches(runtime) if e.after]
    assert len(recorded) == len(set(recorded)) == sum(r.recorded for r in reports)
    assert {(str(i), "first_response") for i in ids} <= set(recorded)


def test_sla_breach_is_a_known_kind_of_idempotency_record(runtime: Runtime, ctx: WriteContext, clock: FixedClock) -> None:
    """A breach already on record (another worker got there first) is skipped, not recorded again."""
    start = clock.now()
    incident_id = declare_unanswered(ctx)
    clock.at = start + timedelta(minutes=20)
    with runtime.session() as session:
        (found,) = sla_watch.find_breaches(session, runtime.settings.config, clock.now())
    assert (found.incident_id, found.target) == (incident_id, "first_response")
    sla_watch.record_breaches(runtime)
    with runtime.session() as session:
        assert sla_watch.find_breaches(session, runtime.settings.config, clock.now()) == []
        assert sla_watch.record_breach(
            ctx=runtime.context(session, timers.WORKER_ACTOR), incident_id=incident_id, target="first_response"
        ) is None
    assert len(breaches(runtime)) == 1


def test_the_watch_loop_records_and_announces_breaches(runtime: Runtime, ctx: WriteContext, clock: FixedClock) -> None:
    start = clock.now()
    incident_id = declare_unanswered(ctx)
    clock.at = start + timedelta(minutes=16)
    lines: list[str] = []
    totals = worker.run_watch(runtime, stop=threading.Event(), once=True, senders={}, say=lines.append)
    assert totals.sla_breaches == 1
    assert f"incident {incident_id}: SLA breached: first response target 15m missed" in "\n".join(lines)
    worker.run_watch(runtime, stop=threading.Event(), once=True, senders={}, say=lines.append)
    assert len(breaches(runtime, incident_id)) == 1


def test_slack_replies_and_incident_show_words(runtime: Runtime, ctx: WriteContext, clock: FixedClock) -> None:
    start = clock.now()
    incident_id = declare_unanswered(ctx)
    clock.at = start + timedelta(minutes=16)
    sla_watch.record_breaches(runtime)
    (event,) = breaches(runtime, incident_id)
    with runtime.session() as session:
        incident = session.get(Incident, incident_id)
        assert incident is not None
        (reply,) = hook.plan(incident, [event], runtime.settings.config)
    assert reply.event == hook.REPLY and reply.payload["template"] == "sla_breach"
    data: dict[str, Any] = reply.payload["data"]
    message = render("sla_breach", runtime.settings.config, incident=reply.payload["incident"], data=data)
    assert message["text"] == f":rotating_light: #{incident_id}: SLA breached: first response target 15m missed"
    assert AUDIT_WORDS[ACTION] == "SLA breached"
    assert audit_detail(ACTION, event.before, event.after) == "first response target 15m missed"


def test_a_business_hours_target_breaches_when_its_working_time_runs_out(
    runtime: Runtime, ctx: WriteContext, clock: FixedClock
) -> None:
    """Sev-3 promises a first response within 1 business day (10 working hours): declared on a
    Friday afternoon, the breach falls on Monday, not on Saturday."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    ny = ZoneInfo("America/New_York")
    clock.at = datetime(2026, 11, 20, 16, 0, tzinfo=ny)  # Friday 16:00
    incident_id = declare_unanswered(ctx, severity=3)
    for saturday_hour in (10, 23):
        clock.at = datetime(2026, 11, 21, saturday_hour, 0, tzinfo=ny)
        assert sla_watch.record_breaches(runtime).recorded == 0
    clock.at = datetime(2026, 11, 23, 16, 0, 1, tzinfo=ny)  # Monday: 2 h Friday + 8 h Monday = 10 h
    assert sla_watch.record_breaches(runtime).recorded == 1
    (event,) = breaches(runtime, incident_id)
    assert event.after is not None and event.after["target"] == "first_response"
    assert event.after["deadline"] == datetime(2026, 11, 23, 16, 0, tzinfo=ny).astimezone(UTC).isoformat()
