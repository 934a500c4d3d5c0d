"""``statuspage db prune``: the retention policy, its minimums, and what is never pruned."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import func
from sqlmodel import Session, SQLModel, select

from statuspage.cli import main as statuspage_main
from statuspage.clock import FixedClock
from statuspage.context import Actor
from statuspage.db.engine import new_session
from statuspage.db.models import (
    Alert,
    AlertRequest,
    AuditEvent,
    EscalationRun,
    Incident,
    IncidentUpdate,
    OutboxMessage,
    PageSent,
    Postmortem,
    SiteState,
    Timer,
)
from statuspage.domain.age import Age, AgeError
from statuspage.domain.enums import Source
from statuspage.retention import ACCESS_ACTION, PRUNED_ACTION, REFUSED_ACTION
from statuspage.retention.prune import KINDS, RetentionTooShort, prune
from statuspage.runtime import Runtime
from statuspage.settings import ConfigError, load_settings

SECOND = timedelta(seconds=1)


# Ages ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "now", "cutoff"),
    [
        ("7y", datetime(2026, 11, 25, 8, tzinfo=UTC), datetime(2019, 11, 25, 8, tzinfo=UTC)),
        ("1y", datetime(2028, 2, 29, tzinfo=UTC), datetime(2027, 2, 28, tzinfo=UTC)),
        ("1mo", datetime(2026, 3, 31, tzinfo=UTC), datetime(2026, 2, 28, tzinfo=UTC)),
        ("18mo", datetime(2026, 11, 25, tzinfo=UTC), datetime(2025, 5, 25, tzinfo=UTC)),
        ("1y6mo", datetime(2026, 11, 25, tzinfo=UTC), datetime(2025, 5, 25, tzinfo=UTC)),
        ("2w", datetime(2026, 11, 25, tzinfo=UTC), datetime(2026, 11, 11, tzinfo=UTC)),
        ("30d", datetime(2026, 11, 25, tzinfo=UTC), datetime(2026, 10, 26, tzinfo=UTC)),
    ],
)
def test_ages_are_calendar_ones(text: str, now: datetime, cutoff: datetime) -> None:
    assert Age.parse(text).before(now) == cutoff


@pytest.mark.parametrize(
    ("text", "words"),
    [("18m", "write months as 18mo"), ("7", "not an age"), ("1h", "not an age"), ("0d", "more than 0"), ("-1y", "not an age"), ("5000y", "longer than")],
)
def test_bad_ages_are_refused(text: str, words: str) -> None:
    with pytest.raises(AgeError, match=words):
        Age.parse(text)


def test_the_configuration_sets_the_minimums(config_file: Path) -> None:
    text = config_file.read_text()
    assert "retention:" in text  # the shipped file documents the policy
    config_file.write_text(text.replace("  audit: 7y", "  audit: 10y"))
    assert str(load_settings(config_file, env={}).config.retention.audit) == "10y"
    config_file.write_text(text.replace("  audit: 7y", "  audit: 18m"))
    with pytest.raises(ConfigError) as error:
        load_settings(config_file, env={})
    assert "retention.audit" in str(error.value) and "18mo" in str(error.value)


# The policy ----------------------------------------------------------------------------------


def _incident(session: Session, *, resolved_at: datetime | None, status: str = "resolved") -> int:
    at = (resolved_at or datetime(2010, 1, 1, tzinfo=UTC)) - timedelta(hours=2)
    incident = Incident(
        title="Old outage",
        severity=1,
        impact="critical",
        status=status,
        declared_by="alice",
        detected_at=at,
        declared_at=at,
        resolved_at=resolved_at,
        updated_at=resolved_at or at,
    )
    session.add(incident)
    session.flush()
    assert incident.id is not None
    session.add(IncidentUpdate(incident_id=incident.id, status=status, body="Fixed.", author="alice", created_at=at))
    session.add(Postmortem(incident_id=incident.id, why_chain=["why"], created_at=at, updated_at=at))
    session.add(PageSent(incident_id=incident.id, step=0, owner="Ana", contact_kind="phone", contact="1", paged_at=at))
    session.add(
        EscalationRun(
            incident_id=incident.id, playbook_name="sev1", severity=1, playbook={}, matrix={}, state={}, started_at=at, updated_at=at
        )
    )
    for state in ("fired", "cancelled"):
        session.add(
            Timer(incident_id=incident.id, kind="ack_timeout", key=f"k-{state}", due_at=at, state=state, created_at=at, fired_at=at)
        )
    return incident.id


def _outbox(session: Session, state: str, at: datetime, n: int) -> None:
    session.add(
        OutboxMessage(
            delivery_id=f"d-{state}-{n}",
            channel="webhook",
            target="1",
            ordering_key="k",
            event="incident.updated",
            payload={},
            state=state,
            created_at=at,
            next_attempt_at=at,
            delivered_at=at if state == "delivered" else None,
        )
    )


def _audit(session: Session, action: str, at: datetime) -> None:
    session.add(AuditEvent(at=at, actor="alice", source="cli", action=action, subject_type="x", subject_id="1"))


def _counts(runtime: Runtime) -> dict[str, int]:
    with new_session(runtime.engine) as session:
        return {
            table.name: int(session.exec(select(func.count()).select_from(table)).one())  # type: ignore[call-overload]
            for table in SQLModel.metadata.sorted_tables
        }


@pytest.fixture
def history(runtime: Runtime, clock: FixedClock) -> dict[str, int]:
    """Rows a second older and a second younger than a 7-year cutoff, of every kind."""
    cutoff = Age.parse("7y").before(clock.now())
    old, young = cutoff - SECOND, cutoff + SECOND
    with new_session(runtime.engine) as session:
        ids = {
            "old": _incident(session, resolved_at=old),
            "young": _incident(session, resolved_at=young),
            # Resolved long ago, then reopened: still open, so its on-call record stays.
            "reopened": _incident(session, resolved_at=old, status="identified"),
        }
        for n, at in enumerate((old, young)):
            for state in ("delivered", "dead", "pending"):
                _outbox(session, state, at, n)
            _audit(session, ACCESS_ACTION, at)
            _audit(session, "incident.declare", at)
            _audit(session, PRUNED_ACTION, at)
            session.add(Timer(incident_id=None, kind="digest", key=f"digest:{n}", due_at=at, state="fired", created_at=at, fired_at=at))
            original = AlertRequest(source="generic", received_at=at, dedupe_key=f"k{n}", body={"n": n})
            session.add(original)
            session.flush()
            # A retry a second later (the old one's lands after the cutoff) names the request it repeats.
            session.add(AlertRequest(source="generic", received_at=at + 2 * SECOND, dedupe_key=f"k{n}", body={"n": n}, duplicate_of=original.id))
            for status in ("resolved", "firing"):
                session.add(Alert(source="generic", fingerprint=f"{status}{n}", status=status, title="Disk full", labels={},
                                  annotations={}, first_received_at=at, last_received_at=at))
        session.commit()
    return ids


def test_prune_deletes_just_what_is_older_than_the_cutoff(runtime: Runtime, clock: FixedClock, history: dict[str, int]) -> None:
    before = _counts(runtime)
    version = _data_version(runtime)
    report = prune(
        engine=runtime.engine, wiring=runtime.wiring, clock=clock, config=runtime.settings.config, actor=Actor("alice", Source.CLI), older_than=Age.parse("7y")
    )
    assert report.counts == {
        "outbox": {"outbox messages": 2, "subscriber notices": 0},  # the old delivered and dead ones; never the pending
        "oncall": {"timers": 3, "pages": 1, "escalation runs": 1},  # the old incident's, and the old digest
        # The old request and its retry (younger than the cutoff, gone with it); the old resolved alert.
        "alerts": {"alert request retries": 1, "alert requests": 1, "alerts": 1},
        "access": {"access records": 1},
        "audit": {"audit events": 1},  # not the record of an earlier prune
    }
    after = _counts(runtime)
    assert before["outbox_message"] - after["outbox_message"] == 2
    for table in ("incident", "incident_update", "postmortem", "component", "component_status_change", "api_token"):
        assert after[table] == before[table], table
    with new_session(runtime.engine) as session:
        assert session.get(EscalationRun, history["old"]) is None
        assert session.get(EscalationRun, history["young"]) is not None
        assert session.get(EscalationRun, history["reopened"]) is not None
        assert len(session.exec(select(PageSent).where(PageSent.incident_id == history["old"])).all()) == 0
        assert len(session.exec(select(Timer).where(Timer.incident_id == history["reopened"])).all()) == 2
        assert sorted((a.status, a.fingerprint) for a in session.exec(select(Alert)).all()) == [
            ("firing", "firing0"), ("firing", "firing1"), ("resolved", "resolved1")
        ]
        assert [r.dedupe_key for r in session.exec(select(AlertRequest).order_by(AlertRequest.id)).all()] == ["k1", "k1"]
        states = sorted(m.state for m in session.exec(select(OutboxMessage)).all())
        assert states == ["dead", "delivered", "pending", "pending"]
        recorded = session.exec(select(AuditEvent).where(AuditEvent.action == PRUNED_ACTION).order_by(AuditEvent.id)).all()
    # The run is on record: who, when, the cutoff and the counts.
    (event,) = [e for e in recorded if e.at == clock.now()]
    assert event.id == report.audit_event_id and (event.actor, event.source) == ("alice", "cli")
    assert event.after is not None
    assert event.after["kinds"] == {"outbox": 2, "oncall": 5, "alerts": 3, "access": 1, "audit": 1}
    assert event.after["older_than"] == "7y" and event.after["cutoff"].startswith("2019-11-25T08:00:00")
    # Only that event is a change to the site; the deletions themselves invalidate no page.
    assert _data_version(runtime) == version + 1
    # Nothing more to do: a second run deletes nothing and keeps the first run's record.
    again = prune(
        engine=runtime.engine, wiring=runtime.wiring, clock=clock, config=runtime.settings.config, actor=Actor("alice", Source.CLI), older_than=Age.parse("7y")
    )
    assert all(again.total(kind) == 0 for kind in KINDS)


def _data_version(runtime: Runtime) -> int:
    with new_session(runtime.engine) as session:
        state = session.get(SiteState, 1)
        assert state is not None
        return state.data_version


def test_a_dry_run_or_a_refused_age_changes_nothing(runtime: Runtime, clock: FixedClock, history: dict[str, int]) -> None:
    before = _counts(runtime)
    report = prune(
        engine=runtime.engine, wiring=runtime.wiring,
        clock=clock,
        config=runtime.settings.config,
        actor=Actor("alice", Source.CLI),
        older_than=Age.parse("7y"),
        kinds=("outbox", "audit"),
        dry_run=True,
    )
    assert report.counts == {"outbox": {"outbox messages": 2, "subscriber notices": 0}, "audit": {"audit events": 1}}
    assert report.audit_event_id is None
    assert _counts(runtime) == before
    # An age below one kind's minimum is refused before anything is deleted.
    with pytest.raises(RetentionTooShort, match=r"shorter than the 7y that audit"):
        prune(engine=runtime.engine, wiring=runtime.wiring, clock=clock, config=runtime.settings.config, actor=Actor("a", Source.CLI), older_than=Age.parse("6y11mo"))
    assert _counts(runtime) == before
    # The kinds whose minimum it meets may go at that age.
    report = prune(
        engine=runtime.engine, wiring=runtime.wiring,
        clock=clock,
        config=runtime.settings.config,
        actor=Actor("a", Source.CLI),
        older_than=Age.parse("30d"),
        kinds=("outbox",),
    )
    assert report.counts == {"outbox": {"outbox messages": 4, "subscriber notices": 0}}


# The command ---------------------------------------------------------------------------------


def test_prune_command(cli_env: dict[str, str], runtime: Runtime) -> None:
    now = datetime.now(UTC)
    with new_session(runtime.engine) as session:
        _audit(session, ACCESS_ACTION, now - timedelta(days=400))
        _audit(session, ACCESS_ACTION, now - timedelta(days=300))
        _audit(session, "incident.declare", now - timedelta(days=400))
        session.commit()
    runner = CliRunner(env=cli_env)
    dry = runner.invoke(statuspage_main, ["db", "prune", "--older-than", "1y", "--kind", "access", "--dry-run"], prog_name="statuspage")
    assert dry.exit_code == 0, dry.output
    assert dry.stdout.splitlines()[0].startswith("Would delete what is older than 1y")
    assert "access         1  admin API access records" in dry.stdout
    done = runner.invoke(statuspage_main, ["db", "prune", "--older-than", "1y", "--kind", "access"], prog_name="statuspage")
    assert done.exit_code == 0, done.output
    assert "access         1" in done.stdout and "Never pruned: incidents" in done.stdout
    assert "audit" not in done.stdout.split("Never pruned")[0]
    with new_session(runtime.engine) as session:
        left = session.exec(select(AuditEvent.action)).all()
        (event,) = session.exec(select(AuditEvent).where(AuditEvent.action == PRUNED_ACTION)).all()
    assert left.count(ACCESS_ACTION) == 1 and "incident.declare" in left
    assert event.actor == "alice" and event.after and event.after["kinds"] == {"access": 1}
    listed = runner.invoke(statuspage_main, ["audit", "--action", PRUNED_ACTION])
    assert "older than 1y" in listed.stdout and "access 1" in listed.stdout


def _one_line_error(result: Result, words: str) -> None:
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("statuspage db prune: ") and words in lines[0], result.stderr


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--older-than", "18m"], "'--older-than': '18m' is ambiguous: write months as 18mo"),
        (["--older-than", "soon"], "'--older-than': 'soon' is not an age"),
        (["--older-than", "0y"], "'--older-than'"),
        ([], "Missing option '--older-than'"),
        (["--older-than", "7y", "--kind", "incidents"], "'--kind'"),
    ],
)
def test_bad_prune_arguments_are_one_line_and_exit_2(config_file: Path, tmp_path: Path, args: list[str], words: str) -> None:
    # Refused before the database is opened: this one does not even exist.
    env = {"STATUSPAGE_CONFIG": str(config_file), "DATABASE_URL": f"sqlite:///{tmp_path / 'none.db'}"}
    _one_line_error(CliRunner(env=env).invoke(statuspage_main, ["db", "prune", *args], prog_name="statuspage"), words)
    assert not (tmp_path / "none.db").exists()


def test_an_age_below_the_policy_is_one_line_and_exit_2(cli_env: dict[str, str], runtime: Runtime) -> None:
    before = _counts(runtime)
    runner = CliRunner(env=cli_env)
    for args, words in [
        (["--older-than", "90d"], "--older-than 90d is shorter than the 1y that oncall"),
        (["--older-than", "6y", "--kind", "audit", "--dry-run"], "shorter than the 7y that audit"),
    ]:
        _one_line_error(runner.invoke(statuspage_main, ["db", "prune", *args], prog_name="statuspage"), words)
    assert _counts(runtime) == before


def test_counted_refusals_are_access_records(runtime: Runtime, clock: FixedClock) -> None:
    """The admin API's counts of anonymous refusals go with the access records (1y), not with the
    audit events of changes (7y)."""
    cutoff = Age.parse("7y").before(clock.now())
    with new_session(runtime.engine) as session:
        _audit(session, REFUSED_ACTION, cutoff - SECOND)
        _audit(session, REFUSED_ACTION, cutoff + SECOND)
        session.commit()
    actor = Actor("alice", Source.CLI)
    config = runtime.settings.config
    kept = prune(engine=runtime.engine, wiring=runtime.wiring, clock=clock, config=config, actor=actor, older_than=Age.parse("7y"), kinds=("audit",))
    assert kept.counts == {"audit": {"audit events": 0}}
    report = prune(engine=runtime.engine, wiring=runtime.wiring, clock=clock, config=config, actor=actor, older_than=Age.parse("7y"), kinds=("access",))
    assert report.counts == {"access": {"access records": 1}}
    with new_session(runtime.engine) as session:
        assert len(session.exec(select(AuditEvent).where(AuditEvent.action == REFUSED_ACTION)).all()) == 1
