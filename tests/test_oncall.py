"""On call through the service layer: a Sev-1 pages, escalates, stops on acknowledgement, reminds,
and stops for good on resolution; severity changes, manual escalation, frozen playbooks, and an
acknowledgement racing its deadline.

Time is frozen twice over: the runtime's FixedClock (what the services read) and freezegun (so
that anything reading the system clock by mistake reads the same instant). ``Time.advance`` moves
both. The worker's part is played by :func:`statuspage.oncall.timers.fire_due`, the function
``incident watch`` calls on every pass; tests/test_watch.py runs the real process.
"""

from __future__ import annotations

import dataclasses
import shutil
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from freezegun import freeze_time
from sqlalchemy import func
from sqlmodel import Session, col, select

from statuspage import worker
from statuspage.clock import FixedClock
from statuspage.context import WriteContext
from statuspage.db.models import AuditEvent, EscalationRun, Incident, IncidentUpdate, PageSent, Timer
from statuspage.errors import Conflict, InvalidInput
from statuspage.incidents import service as incidents
from statuspage.oncall import engine, timers
from statuspage.runtime import Runtime
from statuspage.settings import resource_dir

SHIPPED_PLAYBOOKS = resource_dir("playbooks")


class Time:
    """The FixedClock and freezegun, moved together."""

    def __init__(self, clock: FixedClock, frozen: Any) -> None:
        self.clock = clock
        self.frozen = frozen
        self.start = clock.now()

    def advance(self, **delta: float) -> None:
        self.clock.advance(**delta)
        self.frozen.move_to(self.clock.now())

    def at(self, **offset: float) -> None:
        """Move to ``offset`` after the start of the test."""
        self.clock.at = self.start + timedelta(**offset)
        self.frozen.move_to(self.clock.now())


@pytest.fixture
def time(clock: FixedClock) -> Iterator[Time]:
    with freeze_time(clock.now()) as frozen:
        yield Time(clock, frozen)


@pytest.fixture
def playbooks(tmp_path: Path, runtime: Runtime, ctx: WriteContext) -> Path:
    """A copy of the shipped playbooks the test may edit, used for this test's configuration."""
    directory = tmp_path / "playbooks"
    shutil.copytree(SHIPPED_PLAYBOOKS, directory)
    # The test's context, and those made from the runtime from now on, choose from this copy.
    runtime.wiring = ctx.wiring = dataclasses.replace(runtime.wiring, playbooks_dir=directory)
    return directory


# Helpers -------------------------------------------------------------------------------------


def declare(ctx: WriteContext, severity: int = 1, **overrides: Any) -> int:
    values: dict[str, Any] = {"severity": severity, "title": "Checkout failing", "components": ["checkout"]}
    values.update(overrides)
    incident = incidents.declare(ctx=ctx, **values)
    assert incident.id is not None
    return incident.id


def fire(runtime: Runtime) -> list[str]:
    """One worker pass over the due timers; the console lines it would print."""
    lines: list[str] = []

    def collect(result: timers.Fired) -> None:
        lines.extend(line for event in result.events if (line := worker.describe(event)))

    timers.fire_due(runtime, on_fired=collect)
    return lines


def fresh(session: Session) -> Session:
    """End the session's read transaction, so that it sees what other sessions committed since, and
    forget what it loaded (a rollback outside a transaction would not)."""
    session.rollback()
    session.expire_all()
    return session


def pages(session: Session, incident_id: int) -> list[PageSent]:
    fresh(session)
    return list(session.exec(select(PageSent).where(PageSent.incident_id == incident_id).order_by(col(PageSent.id))).all())


def paged(session: Session, incident_id: int) -> list[tuple[int | None, str]]:
    """(tier, owner) for every person paged, once per person per step, in order."""
    seen: list[tuple[int | None, str]] = []
    for page in pages(session, incident_id):
        key = (page.tier, page.owner)
        if not seen or seen[-1] != key:
            seen.append(key)
    return seen


def events(session: Session, incident_id: int, action: str | None = None) -> list[AuditEvent]:
    fresh(session)
    statement = select(AuditEvent).where(AuditEvent.subject_type == "incident", AuditEvent.subject_id == str(incident_id))
    if action is not None:
        statement = statement.where(AuditEvent.action == action)
    return list(session.exec(statement.order_by(col(AuditEvent.id))).all())


def pending(session: Session, incident_id: int) -> dict[str, datetime]:
    """Pending timer key -> when it is due."""
    return {t.key: t.due_at for t in timers.pending(fresh(session), incident_id=incident_id)}


TIER_1 = [(1, "Ana Ruiz"), (1, "Ben Okafor")]
TIER_2 = [(2, "Chen Wei"), (2, "Dana Kowalski")]
TIER_3 = [(3, "Elena Petrova")]


# The Sev-1 walk ------------------------------------------------------------------------------


def test_sev1_pages_tier1_escalates_after_5m_and_stops_on_ack(runtime: Runtime, ctx: WriteContext, time: Time) -> None:
    incident_id = declare(ctx)
    session = ctx.session

    # Declared: the sev1 playbook is attached, tier 1 paged on every contact, #oncall told.
    (run,) = session.exec(select(EscalationRun)).all()
    assert (run.playbook_name, run.severity) == ("sev1", 1)
    assert paged(session, incident_id) == TIER_1
    ana = [(p.contact_kind, p.contact) for p in pages(session, incident_id) if p.owner == "Ana Ruiz"]
    assert ana == [("slack_user", "U01ANARUIZ"), ("phone", "+1 555 0101"), ("email", "ana.ruiz@sendero.example")]
    assert [e.after for e in events(session, incident_id, "incident.playbook")] == [{"playbook": "sev1", "severity": 1}]
    first_page = events(session, incident_id, "incident.page")[0].after
    assert first_page == {
        "step": 0, "loop": 0, "tier": 1, "owner": "Ana Ruiz", "contact_kind": "slack_user", "contact": "U01ANARUIZ"
    }
    assert [e.after for e in events(session, incident_id, "incident.notify_channel")] == [
        {"step": 0, "tier": 1, "channel": "#oncall"}
    ]
    assert pending(session, incident_id) == {
        "ack:1:0": time.start + timedelta(minutes=5),
        "remind:1": time.start + timedelta(minutes=30),
    }

    # Not a second early.
    time.at(minutes=4, seconds=59)
    assert fire(runtime) == []
    # Five minutes without an acknowledgement: the worker escalates to tier 2.
    time.at(minutes=5)
    lines = fire(runtime)
    assert lines[0] == "incident 1: escalate tier 1 → tier 2: no acknowledgement within 5m"
    assert "incident 1: page tier 2: Chen Wei (slack_user U01CHENWEI)" in lines
    assert paged(session, incident_id) == TIER_1 + TIER_2
    assert [e.after for e in events(session, incident_id, "incident.escalate")] == [
        {"from_tier": 1, "to_tier": 2, "reason": "no acknowledgement within 5m"}
    ]
    assert pending(session, incident_id)["ack:3:0"] == time.start + timedelta(minutes=20)

    # Chen takes it at +7m: every outstanding page is acknowledged, the deadline cancelled.
    time.at(minutes=7)
    with_ack, first = incidents.acknowledge(ctx=ctx, incident_id=incident_id, by="Chen Wei")
    assert first and with_ack.acknowledged_by == "Chen Wei"
    assert {(p.acknowledged_at, p.acknowledged_by) for p in pages(session, incident_id)} == {
        (time.start + timedelta(minutes=7), "Chen Wei")
    }
    assert list(pending(session, incident_id)) == ["remind:1"]

    # Nothing more is paged, however long it stays open; the commander is reminded every 30m.
    for minutes in (20, 30, 60, 90, 60 * 73):
        time.at(minutes=minutes)
        fire(runtime)
    assert paged(session, incident_id) == TIER_1 + TIER_2
    assert len(events(session, incident_id, "incident.escalate")) == 1
    reminders = events(session, incident_id, "incident.remind")
    assert [e.at - time.start for e in reminders] == [timedelta(minutes=m) for m in (30, 60, 90)] + [
        timedelta(minutes=60 * 73)
    ]
    assert reminders[0].after == {"commander": "alice", "update_every": "30m"}

    # Resolution: every timer cancelled, on_resolve said once, then nothing ever again.
    time.advance(minutes=1)
    incidents.resolve(ctx=ctx, incident_id=incident_id)
    assert pending(session, incident_id) == {}
    (said,) = events(session, incident_id, "incident.slack")
    assert said.after is not None and said.after["channel"] is None and said.after["text"].startswith("Resolved:")
    assert events(session, incident_id)[-1].action == "incident.resolve"  # webhooks see "resolved"
    time.advance(hours=5)
    assert fire(runtime) == []
    assert len(events(session, incident_id, "incident.remind")) == 4


def test_unacknowledged_sev1_walks_every_tier_then_says_it_is_exhausted(
    runtime: Runtime, ctx: WriteContext, time: Time
) -> None:
    incident_id = declare(ctx)
    time.at(minutes=5)
    fire(runtime)
    time.at(minutes=20)
    lines = fire(runtime)
    assert "incident 1: escalate tier 2 → tier 3: no acknowledgement within 15m" in lines
    assert any(line.startswith("incident 1: slack (incidents channel): Sev-1") for line in lines)
    assert paged(ctx.session, incident_id) == TIER_1 + TIER_2 + TIER_3
    # Still nobody: every tier is paged again, from the front line, each round of 30 minutes.
    time.at(minutes=30)
    fire(runtime)
    assert paged(ctx.session, incident_id) == TIER_1 + TIER_2 + TIER_3 + TIER_1
    for minute in range(35, 331, 5):
        time.at(minutes=minute)
        lines = fire(runtime)
    assert "incident 1: nobody acknowledged; every step of the playbook has run (tiers paged: 1, 2, 3)" in lines
    assert paged(ctx.session, incident_id) == (TIER_1 + TIER_2 + TIER_3) * 11
    assert [e.after for e in events(ctx.session, incident_id, "incident.escalation_exhausted")] == [
        {"paged_tiers": [1, 2, 3]}
    ]


def test_resolving_cancels_pending_deadlines_and_reminders(runtime: Runtime, ctx: WriteContext, time: Time) -> None:
    incident_id = declare(ctx)
    time.at(minutes=1)
    incidents.resolve(ctx=ctx, incident_id=incident_id)
    fresh(ctx.session)
    states = dict(ctx.session.exec(select(Timer.key, Timer.state).where(Timer.incident_id == incident_id)).all())
    assert states == {"ack:1:0": "cancelled", "remind:1": "cancelled"}
    time.at(hours=2)
    assert fire(runtime) == []
    assert paged(ctx.session, incident_id) == TIER_1


def test_reopening_starts_the_playbook_again(runtime: Runtime, ctx: WriteContext, time: Time) -> None:
    acked = declare(ctx)
    silent = declare(ctx, title="Nobody answered")
    incidents.acknowledge(ctx=ctx, incident_id=acked, by="Ana Ruiz")
    time.at(minutes=2)
    for incident_id in (acked, silent):
        incidents.resolve(ctx=ctx, incident_id=incident_id)
    time.at(minutes=10)
    for incident_id in (acked, silent):
        incidents.reopen(ctx=ctx, incident_id=incident_id)
    assert list(pending(ctx.session, acked)) == ["remind:2"]  # acknowledged: reminders only
    assert paged(ctx.session, silent) == TIER_1 + TIER_1  # never acknowledged: paging again
    time.at(minutes=15)
    fire(runtime)
    assert paged(ctx.session, silent) == TIER_1 + TIER_1 + TIER_2
    # The program starts over, so escalating by hand starts from the front line too.
    assert incidents.escalate(ctx=ctx, incident_id=acked) == 1


def test_an_explicit_resolution_time_dates_the_on_resolve_steps(ctx: WriteContext, time: Time) -> None:
    incident_id = declare(ctx)
    time.at(minutes=10)
    incidents.resolve(ctx=ctx, incident_id=incident_id, at=time.start + timedelta(minutes=3))
    (said,) = events(ctx.session, incident_id, "incident.slack")
    assert said.at == time.start + timedelta(minutes=3)
    resolved = ctx.session.get(Incident, incident_id)
    assert resolved is not None and resolved.resolved_at == time.start + timedelta(minutes=3)


def test_a_sev3_has_no_playbook_and_pages_nobody(ctx: WriteContext, time: Time) -> None:
    incident_id = declare(ctx, severity=3)
    assert ctx.session.exec(select(EscalationRun)).all() == []
    assert pages(ctx.session, incident_id) == []
    assert pending(ctx.session, incident_id) == {}
    with pytest.raises(Conflict, match="no playbook running"):
        incidents.escalate(ctx=ctx, incident_id=incident_id)


# Severity ------------------------------------------------------------------------------------


def test_raising_to_sev1_attaches_the_sev1_playbook_from_that_moment(runtime: Runtime, ctx: WriteContext, time: Time) -> None:
    incident_id = declare(ctx, severity=2)
    assert pending(ctx.session, incident_id) == {
        "ack:1:0": time.start + timedelta(minutes=15),  # tier 1's sev2 time
        "remind:1": time.start + timedelta(hours=1),
    }
    time.at(minutes=2)
    raised = incidents.change_severity(ctx=ctx, incident_id=incident_id, severity="sev1")
    assert (raised.severity, raised.impact) == (1, "critical")
    change = events(ctx.session, incident_id, "incident.severity")
    assert [e.after for e in change] == [{"from": 2, "to": 1, "playbook": "sev1"}]
    assert [e.after for e in events(ctx.session, incident_id, "incident.playbook")] == [
        {"playbook": "sev2", "severity": 2},
        {"playbook": "sev1", "severity": 1},
    ]
    # The sev2 program's timers are gone; the sev1 program pages tier 1 afresh with sev1's 5m.
    assert pending(ctx.session, incident_id) == {
        "ack:1:1": time.start + timedelta(minutes=7),
        "remind:2": time.start + timedelta(minutes=32),
    }
    assert paged(ctx.session, incident_id) == TIER_1 + TIER_1
    run = ctx.session.get(EscalationRun, incident_id)
    assert run is not None and (run.playbook_name, run.severity) == ("sev1", 1)
    time.at(minutes=7)
    fire(runtime)
    assert paged(ctx.session, incident_id) == TIER_1 + TIER_1 + TIER_2
    # The old sev2 deadline (+15m) was cancelled, so nothing repeats tier 1 at +15m.
    time.at(minutes=15)
    fire(runtime)
    assert paged(ctx.session, incident_id) == TIER_1 + TIER_1 + TIER_2


def test_lowering_the_severity_leaves_the_running_escalation_alone(runtime: Runtime, ctx: WriteContext, time: Time) -> None:
    incident_id = declare(ctx, severity=1)
    time.at(minutes=1)
    lowered = incidents.change_severity(ctx=ctx, incident_id=incident_id, severity=2)
    assert (lowered.severity, lowered.impact) == (2, "major")
    assert [e.after for e in events(ctx.session, incident_id, "incident.severity")] == [
        {"from": 1, "to": 2, "playbook": None}
    ]
    time.at(minutes=5)
    fire(runtime)
    assert paged(ctx.session, incident_id) == TIER_1 + TIER_2
    with pytest.raises(Conflict, match="already sev2"):
        incidents.change_severity(ctx=ctx, incident_id=incident_id, severity=2)
    with pytest.raises(InvalidInput):
        incidents.change_severity(ctx=ctx, incident_id=incident_id, severity=7)


def test_a_raise_after_the_acknowledgement_reminds_but_does_not_page(ctx: WriteContext, time: Time) -> None:
    incident_id = declare(ctx, severity=3)
    incidents.acknowledge(ctx=ctx, incident_id=incident_id, by="Ana Ruiz")
    time.at(minutes=1)
    incidents.change_severity(ctx=ctx, incident_id=incident_id, severity=1)
    assert pages(ctx.session, incident_id) == []
    assert list(pending(ctx.session, incident_id)) == ["remind:1"]


# Playbooks: chosen, named, frozen, missing ---------------------------------------------------


def test_editing_a_playbook_after_declaring_changes_nothing_for_that_incident(
    runtime: Runtime, ctx: WriteContext, time: Time, playbooks: Path
) -> None:
    first = declare(ctx)
    (playbooks / "sev1.yaml").write_text(
        "name: sev1\nseverities: [1]\nsteps:\n"
        "  - notify: {tier: 1}\n  - wait_for_ack: {timeout: 1m}\n  - notify: {tier: 3}\n  - wait_for_ack: {}\n"
    )
    second = declare(ctx, title="Second")

    time.at(minutes=1)
    fire(runtime)
    assert paged(ctx.session, second) == TIER_1 + TIER_3  # the new file, for the new incident
    assert paged(ctx.session, first) == TIER_1
    time.at(minutes=5)
    fire(runtime)
    assert paged(ctx.session, first) == TIER_1 + TIER_2  # the file as it was when declared


def test_declare_with_a_named_playbook(ctx: WriteContext, time: Time) -> None:
    incident_id = declare(ctx, severity=1, playbook="sev2")
    run = ctx.session.get(EscalationRun, incident_id)
    assert run is not None and run.playbook_name == "sev2"
    assert pending(ctx.session, incident_id)["ack:1:0"] == time.start + timedelta(minutes=5)  # at sev1's pace
    with pytest.raises(InvalidInput, match="no playbook 'sev9'"):
        declare(ctx, playbook="sev9", title="Not declared")
    assert ctx.session.exec(select(func.count()).select_from(Incident)).one() == 1


def test_a_sev1_without_a_playbook_still_pages_every_tier(
    runtime: Runtime, ctx: WriteContext, time: Time, playbooks: Path
) -> None:
    (playbooks / "sev1.yaml").unlink()
    (playbooks / "sev2.yaml").write_text("name: sev2\nseverities: [2]\nsteps: [{notify: {tier: 7}}]\n")  # broken
    incident_id = declare(ctx)
    run = ctx.session.get(EscalationRun, incident_id)
    assert run is not None and run.playbook_name == engine.BUILTIN_NAME
    time.at(minutes=5)
    fire(runtime)
    time.at(minutes=20)
    fire(runtime)
    assert paged(ctx.session, incident_id) == TIER_1 + TIER_2 + TIER_3
    assert declare(ctx, severity=2, title="No playbook loads for it") and ctx.session.get(EscalationRun, 2) is None


def test_playbook_post_update_and_set_component_steps_go_through_the_incident_service(
    runtime: Runtime, ctx: WriteContext, time: Time, playbooks: Path
) -> None:
    (playbooks / "sev2.yaml").write_text(
        "name: sev2\nseverities: [2]\nsteps:\n"
        "  - post_update: {template: 'Engineers are looking at {{ incident.title }}.'}\n"
        "  - notify: {tier: 1}\n"
        "  - wait_for_ack: {timeout: 10m}\n"
        "  - set_component: {component: api, status: major_outage}\n"
    )
    incident_id = declare(ctx, severity=2)
    time.at(minutes=10)
    fire(runtime)
    fresh(ctx.session)
    updates = ctx.session.exec(
        select(IncidentUpdate).where(IncidentUpdate.incident_id == incident_id).order_by(col(IncidentUpdate.id))
    ).all()
    assert [u.body for u in updates][1] == "Engineers are looking at Checkout failing."
    assert updates[-1].affected_components == [
        {"code": "api", "name": "API", "old_status": "operational", "new_status": "major_outage"}
    ]
    assert updates[-1].author == timers.WORKER_ACTOR.name


# Acknowledgement and manual escalation -------------------------------------------------------


def test_escalate_now_pages_the_next_tier_and_the_playbook_carries_on_from_there(
    runtime: Runtime, ctx: WriteContext, time: Time
) -> None:
    incident_id = declare(ctx)
    time.at(minutes=2)
    assert incidents.escalate(ctx=ctx, incident_id=incident_id) == 2
    assert paged(ctx.session, incident_id) == TIER_1 + TIER_2
    assert [e.after for e in events(ctx.session, incident_id, "incident.escalate")] == [
        {"from_tier": 1, "to_tier": 2, "reason": "manual"}
    ]
    # The 5m deadline was replaced by tier 2's 15m, counted from now.
    assert min(pending(ctx.session, incident_id).values()) == time.start + timedelta(minutes=17)
    time.at(minutes=5)
    fire(runtime)
    assert paged(ctx.session, incident_id) == TIER_1 + TIER_2
    incidents.escalate(ctx=ctx, incident_id=incident_id)
    with pytest.raises(Conflict, match="highest tier"):
        incidents.escalate(ctx=ctx, incident_id=incident_id)
    with pytest.raises(InvalidInput, match="no escalation tier 9"):
        incidents.escalate(ctx=ctx, incident_id=incident_id, to_tier=9)


def test_a_tier_paged_by_hand_after_the_ack_is_acknowledged_by_the_next_ack(ctx: WriteContext, time: Time) -> None:
    incident_id = declare(ctx)
    time.at(minutes=1)
    incidents.acknowledge(ctx=ctx, incident_id=incident_id, by="Ana Ruiz")
    time.at(minutes=3)
    incidents.escalate(ctx=ctx, incident_id=incident_id, to_tier=3)
    late = [p for p in pages(ctx.session, incident_id) if p.tier == 3]
    assert late and all(p.step == -1 and p.acknowledged_at is None for p in late)
    time.at(minutes=4)
    _, first = incidents.acknowledge(ctx=ctx, incident_id=incident_id, by="Elena Petrova")
    assert not first
    assert {(p.tier, p.acknowledged_by) for p in pages(ctx.session, incident_id)} == {
        (1, "Ana Ruiz"),
        (3, "Elena Petrova"),
    }


def race(*calls: Callable[[], object]) -> None:
    """Run ``calls`` in threads released at the same instant; re-raise what any of them raised."""
    barrier = threading.Barrier(len(calls))
    errors: list[BaseException] = []

    def run(call: Callable[[], object]) -> None:
        try:
            barrier.wait()
            call()
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors


def test_an_ack_racing_its_deadline_has_exactly_one_outcome(
    runtime: Runtime, make_ctx: Callable[..., WriteContext], clock: FixedClock, db_url: str
) -> None:
    """The acknowledgement and the timer run at once in two sessions, again and again. Either the
    timer fired first (tier 2 paged, then acknowledged) or the acknowledgement did (the timer is
    cancelled and pages nobody): never both, never neither, never tier 2 paged twice."""
    rounds = 12 if db_url.startswith("postgresql") else 4
    outcomes: dict[str, int] = {"escalated": 0, "acknowledged first": 0}
    for _ in range(rounds):
        start = clock.now()
        incident_id = declare(make_ctx("declarer"))
        clock.at = start + timedelta(minutes=5)
        with runtime.session() as session:
            (claim,) = timers.claim_due(session, now=clock.now(), kinds=["ack_timeout"])
        race(
            partial(incidents.acknowledge, ctx=make_ctx("Ana Ruiz"), incident_id=incident_id),
            partial(timers.fire, ctx=make_ctx("worker"), claim=claim, handler=runtime.timer_handlers["ack_timeout"]),
        )
        with runtime.session() as session:
            timer_state = session.exec(
                select(Timer.state).where(Timer.incident_id == incident_id, Timer.key == "ack:1:0")
            ).one()
            tiers = paged(session, incident_id)
            escalations = events(session, incident_id, "incident.escalate")
            unacked = [p for p in pages(session, incident_id) if p.acknowledged_at is None]
            still_waiting = [t.key for t in timers.pending(session, incident_id=incident_id) if t.kind == "ack_timeout"]
        assert unacked == [] and still_waiting == []
        if timer_state == timers.FIRED:
            assert tiers == TIER_1 + TIER_2 and len(escalations) == 1
            outcomes["escalated"] += 1
        else:
            assert timer_state == timers.CANCELLED
            assert tiers == TIER_1 and escalations == []
            outcomes["acknowledged first"] += 1
        clock.at = start + timedelta(hours=1)
    assert sum(outcomes.values()) == rounds


# The command line ----------------------------------------------------------------------------


def test_cli_declare_ack_escalate_severity_and_watch(run: Callable[..., Result], runtime: Runtime) -> None:
    declared = run("declare", "-s", "2", "-t", "Slow dashboards", "-c", "web", "--playbook", "sev2")
    assert declared.exit_code == 0, declared.output
    assert declared.stdout.splitlines()[0] == "Declared incident 1 (sev2, impact major): Slow dashboards"
    assert "Paged tier 1: Ana Ruiz, Ben Okafor" in declared.stderr
    assert "incident ack 1" in declared.stderr

    raised = run("severity", "1", "1")
    assert raised.exit_code == 0, raised.output
    assert raised.stdout.splitlines()[:2] == [
        "Incident 1 is now sev1 (was sev2, impact critical); playbook sev1 runs from now",
        "Paged tier 1: Ana Ruiz, Ben Okafor",
    ]

    escalated = run("escalate", "1")
    assert escalated.exit_code == 0, escalated.output
    assert escalated.stdout.splitlines()[:2] == ["Incident 1 escalated to tier 2", "Paged tier 2: Chen Wei, Dana Kowalski"]
    too_far = run("escalate", "1", "--to-tier", "7")
    assert too_far.exit_code == 2 and too_far.stderr.strip() == "incident: no escalation tier 7 (known: 1, 2, 3)"

    acked = run("ack", "1", "--as", "Chen Wei")
    assert acked.exit_code == 0 and acked.stdout.startswith("Incident 1 acknowledged by Chen Wei at ")
    with runtime.session() as session:
        assert {p.acknowledged_by for p in session.exec(select(PageSent)).all()} == {"Chen Wei"}

    unknown = run("declare", "-s", "1", "-t", "X", "-c", "api", "--playbook", "nope")
    assert unknown.exit_code == 2 and "no playbook 'nope' (known: sev1, sev2)" in unknown.stderr

    watched = run("watch", "--once")
    assert watched.exit_code == 0, watched.output
    lines = watched.stdout.strip().splitlines()
    # No Slack token: the Slack messages of all the above go to the console, each once.
    assert "[slack #incidents] Sev-2 declared: Checkout slow — paging Ana Ruiz, Ben Okafor" in lines or any(
        line.startswith("[slack #incidents]") for line in lines
    )
    assert lines[-1].startswith("0 timers fired; outbox: ") and lines[-1].endswith(" delivered, 0 to retry, 0 dead")
    again = run("watch", "--once")
    assert again.stdout.strip().splitlines()[-1] == "0 timers fired; outbox: 0 delivered, 0 to retry, 0 dead"


def test_cli_watch_refuses_to_start_with_a_broken_playbook(
    run: Callable[..., Result], config_file: Path, playbooks: Path
) -> None:
    beside = config_file.parent / "playbooks"  # the CLI reads the playbooks beside the configuration
    if beside != playbooks:
        shutil.copytree(playbooks, beside, dirs_exist_ok=True)
    (beside / "sev1.yaml").write_text("name: sev1\nseverities: [1]\nsteps: [{notify: {tier: 7}}]\n")
    result = run("watch", "--once")
    assert result.exit_code == 2
    assert "sev1.yaml:3:" in result.stderr and "no escalation tier 7" in result.stderr


def test_demo_history_pages_nobody_and_announces_nothing(runtime: Runtime) -> None:
    from statuspage import demo
    from statuspage.context import Actor
    from statuspage.db.models import OutboxMessage
    from statuspage.domain.enums import Source

    with runtime.session() as session:
        demo.seed(session=session, runtime=runtime, actor=Actor("demo", Source.SYSTEM))
    with runtime.session() as session:
        assert session.exec(select(func.count()).select_from(Incident)).one() == 7
        for table in (PageSent, Timer, EscalationRun, OutboxMessage):
            assert session.exec(select(func.count()).select_from(table)).one() == 0, table.__name__
