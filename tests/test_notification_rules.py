"""Personal notification rules: the pure machine (who is paged through which contact, when), the
configuration's checks, ``incident playbook simulate``, and the engine with durable timers on
every backend (paged once, cancelled by an acknowledgement, surviving a worker restart).

The demo matrix gives rules to Elena Petrova (tier 3): Slack at once, email after 2m, the phone
after 5m. The Sev-1 playbook pages tier 3 at +20m when nobody acknowledges.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from freezegun import freeze_time
from sqlmodel import col, select

from incident_cli.playbook_cmds import playbook as playbook_group
from statuspage.clock import FixedClock
from statuspage.context import Actor
from statuspage.db.engine import make_engine, new_session
from statuspage.db.models import AuditEvent, PageSent
from statuspage.domain.enums import Source
from statuspage.domain.escalation import (
    Acknowledged,
    CancelTimer,
    EscalationState,
    IncidentView,
    Page,
    Resolved,
    ScheduleTimer,
    Started,
    TimerFired,
)
from statuspage.domain.matrix import Matrix, MatrixContact, MatrixOwner, MatrixRule, MatrixTier, parse_delay
from statuspage.domain.notification_rules import RuleTimer, parse_rule_key, rule_key
from statuspage.incidents import service as incidents
from statuspage.oncall import timers
from statuspage.playbooks.load import parse_playbook
from statuspage.playbooks.run import advance
from statuspage.runtime import Runtime
from statuspage.settings import Config, ConfigError, Settings, load_settings

ROOT = Path(__file__).resolve().parent.parent
SHIPPED_CONFIG = ROOT / "statuspage.yaml"
CONFIG: Config = load_settings(SHIPPED_CONFIG, env={}).config
T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
INCIDENT = IncidentView(id=7, title="API down", severity=1, status="investigating", commander="Ana Ruiz")

ANA = MatrixOwner(
    "Ana Ruiz",
    "On-call engineer",
    (MatrixContact("slack_user", "U01ANA"), MatrixContact("email", "ana@example.com"), MatrixContact("apprise", "tgram://t/c")),
    (
        MatrixRule("slack_user", parse_delay("0m")),
        MatrixRule("email", parse_delay("2m")),
        MatrixRule("apprise", parse_delay("5m")),
    ),
)
BEN = MatrixOwner("Ben Okafor", "", (MatrixContact("slack_user", "U01BEN"), MatrixContact("email", "ben@example.com")))
MATRIX = Matrix(
    (
        MatrixTier(1, "Front line", {"default": parse_delay("10m")}, (ANA, BEN)),
        MatrixTier(2, "Specialists", {"default": parse_delay("10m")}, (MatrixOwner("Chen Wei", "", (MatrixContact("slack_user", "U01CHEN"),)),)),
    )
)
PLAYBOOK = parse_playbook(
    """\
name: rules
severities: [3]
steps:
  - notify: {tier: 1}
  - wait_for_ack: {timeout: 10m}
  - notify: {tier: 2}
  - wait_for_ack: {timeout: 10m}
  - repeat: {times: 1, from_step: 0}
""",
    CONFIG,
)
EMAIL_KEY = "rule:1:0:0:1:email:Ana Ruiz"
APPRISE_KEY = "rule:2:0:0:1:apprise:Ana Ruiz"


def minutes(n: float) -> datetime:
    return T0 + timedelta(minutes=n)


class Machine:
    """Events one at a time, the state stored as JSON in between, as the engine does."""

    def __init__(self, matrix: Matrix = MATRIX) -> None:
        self.matrix = matrix
        self.state = EscalationState()

    def __call__(self, event: object) -> list[object]:
        stored = json.loads(json.dumps(self.state.to_json()))
        self.state, actions = advance(
            PLAYBOOK, self.matrix.to_json(), 3, EscalationState.from_json(stored), event, incident=INCIDENT  # type: ignore[arg-type]
        )
        return list(actions)


# --- the machine ---------------------------------------------------------------------------


def test_a_page_sends_the_first_rule_at_once_and_schedules_the_later_ones() -> None:
    machine = Machine()
    actions = machine(Started(T0))
    assert actions[:5] == [
        Page(0, 0, 1, "Ana Ruiz", "slack_user", "U01ANA"),
        ScheduleTimer(EMAIL_KEY, minutes(2), "contact_rule"),
        ScheduleTimer(APPRISE_KEY, minutes(5), "contact_rule"),
        # Without rules: every contact at once, as before.
        Page(0, 0, 1, "Ben Okafor", "slack_user", "U01BEN"),
        Page(0, 0, 1, "Ben Okafor", "email", "ben@example.com"),
    ]
    assert machine.state.rule_keys == (EMAIL_KEY, APPRISE_KEY)

    assert machine(TimerFired(EMAIL_KEY, minutes(2))) == [
        Page(0, 0, 1, "Ana Ruiz", "email", "ana@example.com", by_rule="2m")
    ]
    assert machine(TimerFired(EMAIL_KEY, minutes(2))) == []  # a duplicate delivery does nothing
    assert machine(TimerFired(APPRISE_KEY, minutes(5))) == [
        Page(0, 0, 1, "Ana Ruiz", "apprise", "tgram://t/c", by_rule="5m")
    ]
    assert machine.state.rule_keys == ()


def test_an_acknowledgement_by_anyone_cancels_the_remaining_rules() -> None:
    machine = Machine()
    machine(Started(T0))
    machine(TimerFired(EMAIL_KEY, minutes(2)))
    actions = machine(Acknowledged("Ben Okafor", minutes(3)))
    assert CancelTimer(APPRISE_KEY) in actions and CancelTimer(EMAIL_KEY) not in actions
    assert machine.state.rule_keys == ()
    assert machine(TimerFired(APPRISE_KEY, minutes(5))) == []  # cancelled: a late firing pages nobody


def test_resolving_cancels_the_remaining_rules() -> None:
    machine = Machine()
    machine(Started(T0))
    actions = machine(Resolved(minutes(1)))
    assert CancelTimer(EMAIL_KEY) in actions and CancelTimer(APPRISE_KEY) in actions
    assert machine(TimerFired(EMAIL_KEY, minutes(2))) == []


def test_paging_the_person_again_replaces_their_pending_rules_with_new_keys() -> None:
    machine = Machine()
    machine(Started(T0))
    machine(TimerFired("ack:1:0", minutes(10)))  # tier 2
    machine(TimerFired(EMAIL_KEY, minutes(2)))  # late, but still pending: sent
    again = machine(TimerFired("ack:3:0", minutes(20)))  # the repeat pages tier 1 again, loop 1
    assert CancelTimer(APPRISE_KEY) in again
    assert ScheduleTimer("rule:3:0:1:1:email:Ana Ruiz", minutes(22), "contact_rule") in again
    assert ScheduleTimer("rule:4:0:1:1:apprise:Ana Ruiz", minutes(25), "contact_rule") in again
    assert machine.state.rule_keys == ("rule:3:0:1:1:email:Ana Ruiz", "rule:4:0:1:1:apprise:Ana Ruiz")


def test_rule_keys_name_step_loop_tier_contact_and_owner() -> None:
    timer = RuleTimer(3, 4, 1, None, "email", "Ana: the on-call")
    assert rule_key(timer) == "rule:3:4:1:-:email:Ana: the on-call"
    assert parse_rule_key(rule_key(timer)) == timer
    assert parse_rule_key("ack:1:0") is None and parse_rule_key("rule:x") is None


def test_rules_are_frozen_with_the_matrix() -> None:
    assert Matrix.from_json(json.loads(json.dumps(MATRIX.to_json()))) == MATRIX
    demo = Matrix.from_escalation(CONFIG.escalation)
    found = demo.owner("Elena Petrova")
    assert found is not None
    assert [(r.contact, str(r.after)) for r in found[1].rules] == [("slack_user", "0s"), ("email", "2m"), ("phone", "5m")]
    assert Matrix.from_json(demo.to_json()) == demo


# --- simulate ------------------------------------------------------------------------------


def test_simulate_shows_the_pages_rules_send_and_stops_them_at_the_acknowledgement() -> None:
    result = CliRunner().invoke(
        playbook_group, ["simulate", "sev1", "--ack-after", "23m"], env={"STATUSPAGE_CONFIG": str(SHIPPED_CONFIG)}
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[14:21] == [
        "+00:20 no ack: escalate to tier 3",
        "+00:20 page tier 3: Elena Petrova (slack_user U01ELENAPE)",
        lines[16],  # the playbook's Slack post
        "+00:20 wait for an acknowledgement until +00:30",
        "+00:22 page tier 3: Elena Petrova (email elena.petrova@sendero.example) by their notification rule (after 2m)",
        "+00:23 acknowledged by Elena Petrova: paging stops",
        "+00:30 remind the commander to post a public update (every 30m)",
    ]
    assert not any("phone +1 555 0103" in line for line in lines)


# --- configuration -------------------------------------------------------------------------

RULES = """\
            - {contact: slack_user, after: 0m}
            - {contact: email, after: 2m}
            - {contact: phone, after: 5m}
"""


@pytest.mark.parametrize(
    ("rules", "bad_line", "path", "message"),
    [
        (
            RULES.replace("contact: email", "contact: sms"),
            1,
            "notify[1].contact",
            '"sms" is not a contact kind (known: slack_user, slack_channel, phone, email',
        ),
        (
            RULES.replace("contact: phone", "contact: slack_channel"),
            2,
            "notify[2].contact",
            "Elena Petrova has no slack_channel contact (has: slack_user, phone, email)",
        ),
        (
            RULES.replace("after: 5m", "after: 2m"),
            2,
            "notify[2].after",
            "2m does not come after the rule before it (2m); delays must increase",
        ),
        (RULES.replace("after: 2m", "after: soon"), 1, "notify[1].after", '"soon" is not a delay like 0m, 2m or 5m'),
        (
            RULES.replace("after: 2m", "after: 2bh"),
            1,
            "notify[1].after",
            '"2bh" counts business time; a notification rule waits wall-clock time, like 5m',
        ),
        (
            RULES.replace("contact: phone", "contact: email"),
            2,
            "notify[2].contact",
            "email already has a rule (notify[1])",
        ),
    ],
    ids=["unknown-kind", "contact-the-owner-lacks", "delays-not-increasing", "not-a-duration", "business-time", "twice"],
)
def test_a_broken_rule_is_one_line_naming_file_line_and_field(
    tmp_path: Path, rules: str, bad_line: int, path: str, message: str
) -> None:
    text = SHIPPED_CONFIG.read_text(encoding="utf-8")
    assert RULES in text
    target = tmp_path / "statuspage.yaml"
    target.write_text(text.replace(RULES, rules), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(target, env={})
    (line,) = caught.value.lines
    first = text[: text.index(RULES)].count("\n") + 1
    prefix = f"{target}:{first + bad_line}:"
    assert line.startswith(prefix), line
    assert f": escalation.tiers[2].owners[0].{path}: {message}" in line


def test_an_empty_list_of_rules_is_refused(tmp_path: Path) -> None:
    text = SHIPPED_CONFIG.read_text(encoding="utf-8")
    target = tmp_path / "statuspage.yaml"
    target.write_text(text.replace("notify:\n" + RULES, "notify: []\n"), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(target, env={})
    assert len(caught.value.lines) == 1 and "escalation.tiers[2].owners[0].notify" in caught.value.lines[0]


# --- the engine, with durable timers, on every backend ------------------------------------


@pytest.fixture
def start_runtime(settings: Settings) -> Iterator[object]:
    """``start_runtime(clock)``: a new runtime (a worker process) on the test database."""
    made: list[Runtime] = []

    def factory(clock: FixedClock) -> Runtime:
        runtime = Runtime(settings=settings, engine=make_engine(settings.database_url), clock=clock)
        made.append(runtime)
        return runtime

    yield factory
    for runtime in made:
        runtime.engine.dispose()


def _elena(runtime: Runtime, incident_id: int) -> list[tuple[str, datetime]]:
    with new_session(runtime.engine) as session:
        rows = session.exec(
            select(PageSent).where(PageSent.incident_id == incident_id, PageSent.owner == "Elena Petrova").order_by(col(PageSent.id))
        ).all()
        return [(row.contact_kind, row.paged_at) for row in rows]


def _fire(runtime: Runtime, clock: FixedClock, frozen: object, at: datetime) -> None:
    clock.at = at
    frozen.move_to(at)  # type: ignore[attr-defined]
    timers.fire_due(runtime)


def test_engine_pages_rules_once_survives_a_worker_restart_and_stops_at_the_ack(
    runtime: Runtime, start_runtime: object, clock: FixedClock
) -> None:
    with freeze_time(T0) as frozen, new_session(runtime.engine) as session:
        ctx = runtime.context(session, Actor("alice", Source.CLI))
        incident = incidents.declare(ctx=ctx, severity=1, title="Checkout failing", components=["checkout"])
        assert incident.id is not None
        incident_id = incident.id

        _fire(runtime, clock, frozen, T0 + timedelta(minutes=5))  # tier 2
        _fire(runtime, clock, frozen, T0 + timedelta(minutes=20))  # tier 3: Elena, by her rules
        assert _elena(runtime, incident_id) == [("slack_user", T0 + timedelta(minutes=20))]
        with new_session(runtime.engine) as check:
            rule_timers = {t.key: (t.kind, t.due_at) for t in timers.pending(check, incident_id=incident_id) if t.kind == "contact_rule"}
        assert rule_timers == {
            "rule:1:4:0:3:email:Elena Petrova": ("contact_rule", T0 + timedelta(minutes=22)),
            "rule:2:4:0:3:phone:Elena Petrova": ("contact_rule", T0 + timedelta(minutes=25)),
        }

        # The worker is killed; a new one (a new process: its own runtime and connections) starts
        # and sends the email when it falls due, exactly once however often it passes.
        runtime.engine.dispose()
        restarted_clock = FixedClock(T0)
        worker = start_runtime(restarted_clock)  # type: ignore[operator]
        for at in (22, 22, 23):
            _fire(worker, restarted_clock, frozen, T0 + timedelta(minutes=at))
        assert _elena(worker, incident_id) == [
            ("slack_user", T0 + timedelta(minutes=20)),
            ("email", T0 + timedelta(minutes=22)),
        ]

        # Ben acknowledges at +24m: Elena's phone rule is cancelled and never sent.
        restarted_clock.at = T0 + timedelta(minutes=24)
        frozen.move_to(restarted_clock.at)
        with new_session(worker.engine) as ack_session:
            incidents.acknowledge(ctx=worker.context(ack_session, Actor("Ben Okafor", Source.CLI)), incident_id=incident_id, by="Ben Okafor")
        for at in (25, 40):
            _fire(worker, restarted_clock, frozen, T0 + timedelta(minutes=at))
        assert [kind for kind, _ in _elena(worker, incident_id)] == ["slack_user", "email"]
        with new_session(worker.engine) as check:
            assert [t.key for t in timers.pending(check, incident_id=incident_id) if t.kind == "contact_rule"] == []
            said = check.exec(
                select(AuditEvent).where(AuditEvent.action == "incident.page", AuditEvent.subject_id == str(incident_id))
            ).all()
        by_rule = [e.after for e in said if e.after and e.after.get("by_rule")]
        assert by_rule == [
            {
                "step": 4,
                "loop": 0,
                "tier": 3,
                "owner": "Elena Petrova",
                "contact_kind": "email",
                "contact": "elena.petrova@sendero.example",
                "by_rule": "2m",
            }
        ]


def test_engine_resolving_cancels_rule_timers(runtime: Runtime, clock: FixedClock) -> None:
    with freeze_time(T0) as frozen, new_session(runtime.engine) as session:
        ctx = runtime.context(session, Actor("alice", Source.CLI))
        incident = incidents.declare(ctx=ctx, severity=1, title="Checkout failing", components=["checkout"])
        assert incident.id is not None
        _fire(runtime, clock, frozen, T0 + timedelta(minutes=5))
        _fire(runtime, clock, frozen, T0 + timedelta(minutes=20))
        clock.at = T0 + timedelta(minutes=21)
        frozen.move_to(clock.at)
        with new_session(runtime.engine) as resolving:
            incidents.resolve(ctx=runtime.context(resolving, Actor("alice", Source.CLI)), incident_id=incident.id)
        _fire(runtime, clock, frozen, T0 + timedelta(minutes=30))
        assert [kind for kind, _ in _elena(runtime, incident.id)] == ["slack_user"]
