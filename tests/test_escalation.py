"""The escalation state machine, event by event, with exact actions and due times, and the
``incident playbook simulate`` timeline built on it.

The demo matrix (statuspage.yaml): Sev-1 tier 1 acknowledges within 5m, tier 2 within 15m,
tier 3 within 72h (its default); Sev-2 tier 1 15m, tier 2 1h. Sev-1 updates every 30m.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from incident_cli.playbook_cmds import playbook as playbook_group
from statuspage.domain.escalation import (
    Acknowledged,
    Action,
    CancelTimer,
    Escalated,
    EscalateRequested,
    EscalationState,
    Event,
    Exhausted,
    IncidentView,
    NotifyChannel,
    Page,
    PostUpdate,
    RemindCommander,
    Resolved,
    ScheduleTimer,
    SetComponent,
    SlackPost,
    Started,
    TimerFired,
)
from statuspage.domain.matrix import Matrix, matrix_json
from statuspage.domain.playbook import Playbook
from statuspage.playbooks.load import load_playbooks, parse_playbook
from statuspage.playbooks.run import advance, simulate
from statuspage.settings import Config, load_settings

ROOT = Path(__file__).resolve().parent.parent
SHIPPED_CONFIG = ROOT / "statuspage.yaml"
CONFIG: Config = load_settings(SHIPPED_CONFIG, env={}).config
PLAYBOOKS = load_playbooks(ROOT / "playbooks", CONFIG)
SEV1, SEV2 = PLAYBOOKS["sev1"], PLAYBOOKS["sev2"]
MATRIX = Matrix.from_escalation(CONFIG.escalation)
T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
INCIDENT = IncidentView(id=7, title="API down", severity=1, status="investigating", commander="Ana Ruiz", url="http://x/7")


def minutes(n: float) -> datetime:
    return T0 + timedelta(minutes=n)


TIER1 = [
    Page(0, 0, 1, "Ana Ruiz", "slack_user", "U01ANARUIZ"),
    Page(0, 0, 1, "Ana Ruiz", "phone", "+1 555 0101"),
    Page(0, 0, 1, "Ana Ruiz", "email", "ana.ruiz@sendero.example"),
    Page(0, 0, 1, "Ben Okafor", "slack_user", "U01BENOKAF"),
    Page(0, 0, 1, "Ben Okafor", "email", "ben.okafor@sendero.example"),
    NotifyChannel(0, "#oncall", 1),
]
TIER2 = [
    Page(2, 0, 2, "Chen Wei", "slack_user", "U01CHENWEI"),
    Page(2, 0, 2, "Chen Wei", "phone", "+1 555 0102"),
    Page(2, 0, 2, "Dana Kowalski", "slack_user", "U01DANAKOW"),
    Page(2, 0, 2, "Dana Kowalski", "email", "dana.kowalski@sendero.example"),
]
# Elena Petrova has notification rules: Slack at once, email after 2m, the phone after 5m. Tier 3
# is paged at +20m in the Sev-1 walk.
TIER3 = [
    Page(4, 0, 3, "Elena Petrova", "slack_user", "U01ELENAPE"),
    ScheduleTimer("rule:1:4:0:3:email:Elena Petrova", minutes(22), "contact_rule"),
    ScheduleTimer("rule:2:4:0:3:phone:Elena Petrova", minutes(25), "contact_rule"),
]
SEV1_TIER3_SLACK = SlackPost(
    None,
    'Sev-1 "API down" is still unacknowledged after a round of every tier; the executive on-call has been paged. '
    "Acknowledge with `incident ack 7`.",
)


class Machine:
    """Feeds events one at a time, the way the engine does: state in, state and actions out,
    with the state stored as JSON in between (as in EscalationRun.state)."""

    def __init__(self, playbook: Playbook, severity: int = 1, incident: IncidentView = INCIDENT) -> None:
        self.playbook = playbook
        self.severity = severity
        self.incident = incident
        self.state = EscalationState()

    def __call__(self, event: Event) -> list[Action]:
        stored = json.loads(json.dumps(self.state.to_json()))
        state, actions = advance(
            self.playbook, MATRIX, self.severity, EscalationState.from_json(stored), event, incident=self.incident
        )
        self.state = state
        return actions


def play(text: str) -> Playbook:
    return parse_playbook(text, CONFIG)


# --- the Sev-1 walk ------------------------------------------------------------------------


def test_sev1_without_ack_escalates_through_every_tier_on_the_matrix_times() -> None:
    machine = Machine(SEV1)
    assert machine(Started(T0)) == TIER1 + [
        ScheduleTimer("ack:1:0", minutes(5), "ack_timeout"),
        ScheduleTimer("remind:1", minutes(30), "reminder"),
    ]
    assert machine.state.waiting_key == "ack:1:0"
    assert machine.state.paged_tiers == (1,)
    assert machine.state.last_tier == 1

    assert machine(TimerFired("ack:1:0", minutes(5))) == [
        Escalated(1, 2, "no acknowledgement within 5m"),
        *TIER2,
        ScheduleTimer("ack:3:0", minutes(20), "ack_timeout"),
    ]
    assert machine(TimerFired("ack:3:0", minutes(20))) == [
        Escalated(2, 3, "no acknowledgement within 15m"),
        *TIER3,
        SEV1_TIER3_SLACK,
        ScheduleTimer("ack:6:0", minutes(30), "ack_timeout"),
    ]
    assert machine.state.paged_tiers == (1, 2, 3)
    assert not machine.state.finished

    # Nobody yet: the round starts again from the front line, every 30 minutes, ten more times.
    again = machine(TimerFired("ack:6:0", minutes(30)))
    assert [(a.owner, a.tier, a.loop) for a in again if isinstance(a, Page)] == [
        (p.owner, p.tier, 1) for p in TIER1 if isinstance(p, Page)
    ]
    assert again[-1] == ScheduleTimer("ack:1:1", minutes(35), "ack_timeout")
    for loop in range(1, 11):
        start = minutes(30 * loop)
        machine(TimerFired(f"ack:1:{loop}", start + timedelta(minutes=5)))
        machine(TimerFired(f"ack:3:{loop}", start + timedelta(minutes=20)))
        last = machine(TimerFired(f"ack:6:{loop}", start + timedelta(minutes=30)))
    assert last == [Exhausted((1, 2, 3))]
    assert machine.state.finished
    assert machine.state.waiting_key is None
    assert machine.state.reminder_key == "remind:1"  # reminders go on until resolution


def test_a_late_timer_counts_the_next_wait_from_when_it_fired() -> None:
    machine = Machine(SEV1)
    machine(Started(T0))
    actions = machine(TimerFired("ack:1:0", minutes(7)))
    assert actions[-1] == ScheduleTimer("ack:3:0", minutes(22), "ack_timeout")


def test_sev2_uses_the_sev2_times() -> None:
    machine = Machine(SEV2, severity=2)
    actions = machine(Started(T0))
    assert actions[-2:] == [
        ScheduleTimer("ack:1:0", minutes(15), "ack_timeout"),
        ScheduleTimer("remind:1", minutes(60), "reminder"),
    ]


# --- acknowledgement -----------------------------------------------------------------------


def test_ack_stops_paging_for_good() -> None:
    machine = Machine(SEV1)
    machine(Started(T0))
    machine(TimerFired("ack:1:0", minutes(5)))
    assert machine(Acknowledged("Chen Wei", minutes(12))) == [CancelTimer("ack:3:0")]
    assert machine.state.acknowledged
    assert machine.state.acknowledged_by == "Chen Wei"
    assert machine.state.waiting_key is None
    # The cancelled timer firing anyway (it was already claimed) does nothing.
    before = machine.state
    assert machine(TimerFired("ack:3:0", minutes(20))) == []
    assert machine.state == before
    # A second acknowledgement changes nothing: idempotent.
    assert machine(Acknowledged("Dana Kowalski", minutes(13))) == []
    assert machine.state.acknowledged_by == "Chen Wei"
    # Reminders carry on after the acknowledgement.
    assert machine(TimerFired("remind:1", minutes(30))) == [
        RemindCommander(minutes(30), "30m"),
        ScheduleTimer("remind:2", minutes(60), "reminder"),
    ]


def test_ack_before_the_first_timeout_pages_nobody_else() -> None:
    machine = Machine(SEV1)
    machine(Started(T0))
    assert machine(Acknowledged("Ana Ruiz", minutes(2))) == [CancelTimer("ack:1:0")]
    assert machine(TimerFired("ack:1:0", minutes(5))) == []
    assert machine.state.paged_tiers == (1,)


@pytest.mark.parametrize("key", ["ack:0:0", "ack:1:1", "ack:3:0", "ack:99:0", "remind:2", "remind:0", "digest:x", ""])
def test_stale_timer_keys_do_nothing(key: str) -> None:
    machine = Machine(SEV1)
    machine(Started(T0))
    before = machine.state
    assert machine(TimerFired(key, minutes(5))) == []
    assert machine.state == before


def test_a_timer_delivered_twice_fires_once() -> None:
    machine = Machine(SEV1)
    machine(Started(T0))
    first = machine(TimerFired("ack:1:0", minutes(5)))
    assert [a for a in first if isinstance(a, Page)] == TIER2
    assert machine(TimerFired("ack:1:0", minutes(5))) == []
    machine(TimerFired("remind:1", minutes(30)))
    assert machine(TimerFired("remind:1", minutes(30))) == []


# --- repeats -------------------------------------------------------------------------------

REPEATING = """\
name: loop
severities: [3]
steps:
  - notify: {tier: 1}
  - wait_for_ack: {timeout: 10m}
  - repeat: {times: 2, from_step: 0}
  - slack: {template: "gave up on {{ incident.title }}"}
remind_every: null
"""


def test_a_repeat_loops_at_most_times_more_then_carries_on() -> None:
    machine = Machine(play(REPEATING), severity=3)
    pages = machine(Started(T0))
    assert pages[-1] == ScheduleTimer("ack:1:0", minutes(10), "ack_timeout")
    assert machine(TimerFired("ack:1:0", minutes(10)))[-1] == ScheduleTimer("ack:1:1", minutes(20), "ack_timeout")
    second = machine(TimerFired("ack:1:1", minutes(20)))
    assert [a for a in second if isinstance(a, Page)][0] == Page(0, 2, 1, "Ana Ruiz", "slack_user", "U01ANARUIZ")
    assert second[-1] == ScheduleTimer("ack:1:2", minutes(30), "ack_timeout")
    assert machine.state.loops == {2: 2}
    assert machine(TimerFired("ack:1:2", minutes(30))) == [SlackPost(None, "gave up on API down"), Exhausted((1,))]
    assert machine.state.finished


def test_no_escalation_is_reported_when_the_loop_goes_back_to_the_same_tier() -> None:
    machine = Machine(SEV2, severity=2)
    machine(Started(T0))
    again = machine(TimerFired("ack:1:0", minutes(15)))
    assert not [a for a in again if isinstance(a, Escalated)]
    assert len([a for a in again if isinstance(a, Page)]) == 5
    assert again[-1] == ScheduleTimer("ack:1:1", minutes(30), "ack_timeout")
    tier2 = machine(TimerFired("ack:1:1", minutes(30)))
    assert tier2[0] == Escalated(1, 2, "no acknowledgement within 15m")
    assert tier2[-1] == ScheduleTimer("ack:4:1", minutes(90), "ack_timeout")


def test_nested_repeats_are_bounded_and_keys_never_repeat() -> None:
    nested = play(
        """\
name: nested
severities: [3]
steps:
  - notify: {tier: 1}
  - wait_for_ack: {timeout: 5m}
  - repeat: {times: 1, from_step: 0}
  - notify: {tier: 2}
  - wait_for_ack: {timeout: 5m}
  - repeat: {times: 2, from_step: 0}
remind_every: null
"""
    )
    log = simulate(nested, MATRIX, 3, incident=INCIDENT, start=T0)
    batches = [
        (e.at - T0, a.tier) for e in log for a in e.actions if isinstance(a, Page) and a.owner in ("Ana Ruiz", "Chen Wei")
        and a.contact_kind == "slack_user"
    ]
    # Each outer pass pages tier 1 twice (the inner repeat starts afresh), then tier 2: three passes.
    assert [tier for _, tier in batches] == [1, 1, 2] * 3
    assert batches[-1][0] == timedelta(minutes=40)
    keys = [a.key for e in log for a in e.actions if isinstance(a, ScheduleTimer)]
    assert len(keys) == len(set(keys)) == 9
    assert log[-1].actions == (Exhausted((1, 2)),)
    assert log[-1].at == T0 + timedelta(minutes=45)


# --- resolution ----------------------------------------------------------------------------


def test_resolve_cancels_everything_and_runs_on_resolve_once() -> None:
    machine = Machine(SEV1)
    machine(Started(T0))
    machine(TimerFired("ack:1:0", minutes(5)))
    assert machine(Resolved(minutes(9))) == [
        CancelTimer("ack:3:0"),
        CancelTimer("remind:1"),
        SlackPost(
            None,
            'Resolved: "API down". A Sev-1 needs a postmortem within 5 business days: publish the root cause and '
            "remediation with `incident rca 7`. http://x/7",
        ),
    ]
    assert machine.state.resolved
    resolved = machine.state
    for event in (
        Resolved(minutes(10)),
        TimerFired("ack:3:0", minutes(20)),
        TimerFired("remind:1", minutes(30)),
        Acknowledged("Chen Wei", minutes(11)),
        Started(minutes(12)),
        EscalateRequested(minutes(13), "alice", 3),
    ):
        assert machine(event) == []
        assert machine.state == resolved


def test_on_resolve_can_post_and_set_components() -> None:
    text = (
        REPEATING
        + "on_resolve:\n  - post_update: {template: \"Fixed {{ incident.title }}.\"}\n"
        + "  - set_component: {component: api, status: operational}\n"
    )
    machine = Machine(play(text), severity=3)
    machine(Started(T0))
    assert machine(Resolved(minutes(1))) == [
        CancelTimer("ack:1:0"),
        PostUpdate(None, "Fixed API down."),
        SetComponent("api", "operational"),
    ]


# --- reminders -----------------------------------------------------------------------------


def test_reminders_every_update_every_until_resolved() -> None:
    machine = Machine(SEV1)
    machine(Started(T0))
    due = minutes(30)
    for n in range(1, 5):
        assert machine(TimerFired(f"remind:{n}", due)) == [
            RemindCommander(due, "30m"),
            ScheduleTimer(f"remind:{n + 1}", due + timedelta(minutes=30), "reminder"),
        ]
        due += timedelta(minutes=30)
    assert machine.state.reminder_key == "remind:5"
    assert machine(Resolved(due))[:2] == [CancelTimer("ack:1:0"), CancelTimer("remind:5")]
    assert machine(TimerFired("remind:5", due)) == []


def test_reminder_cadence_from_the_playbook_or_none() -> None:
    quick = Machine(play(REPEATING.replace("remind_every: null", "remind_every: 15m")), severity=3)
    assert quick(Started(T0))[-1] == ScheduleTimer("remind:1", minutes(15), "reminder")
    silent = Machine(play(REPEATING), severity=3)
    assert not [a for a in silent(Started(T0)) if isinstance(a, ScheduleTimer) and a.kind == "reminder"]
    assert silent.state.reminder_key is None
    # Sev-3 has no update_every in the demo configuration: no reminders by default.
    default = Machine(play(REPEATING.replace("remind_every: null\n", "")), severity=3)
    assert default(Started(T0))[-1] == ScheduleTimer("ack:1:0", minutes(10), "ack_timeout")


# --- re-attachment and manual escalation ---------------------------------------------------


def test_started_again_restarts_with_fresh_keys_and_cancels_the_old_timers() -> None:
    machine = Machine(SEV2, severity=2)
    machine(Started(T0))
    machine.playbook, machine.severity = SEV1, 1
    actions = machine(Started(minutes(3)))
    assert actions[:2] == [CancelTimer("ack:1:0"), CancelTimer("remind:1")]
    assert actions[2] == Page(0, 1, 1, "Ana Ruiz", "slack_user", "U01ANARUIZ")
    assert actions[-2:] == [
        ScheduleTimer("ack:1:1", minutes(8), "ack_timeout"),
        ScheduleTimer("remind:2", minutes(33), "reminder"),
    ]
    assert machine(TimerFired("ack:1:0", minutes(15))) == []  # the old program's timer


def test_started_again_after_ack_pages_nobody() -> None:
    machine = Machine(SEV2, severity=2)
    machine(Started(T0))
    machine(Acknowledged("Ana Ruiz", minutes(1)))
    machine.playbook, machine.severity = SEV1, 1
    assert machine(Started(minutes(3))) == [CancelTimer("remind:1"), ScheduleTimer("remind:2", minutes(33), "reminder")]


def test_manual_escalation_jumps_the_program_to_the_next_tier() -> None:
    machine = Machine(SEV1)
    machine(Started(T0))
    assert machine(EscalateRequested(minutes(2), "alice")) == [
        Escalated(1, 2, "manual"),
        CancelTimer("ack:1:0"),
        *TIER2,
        ScheduleTimer("ack:3:0", minutes(17), "ack_timeout"),
    ]
    assert machine(TimerFired("ack:1:0", minutes(5))) == []


def test_manual_escalation_after_ack_pages_the_tier_once() -> None:
    machine = Machine(SEV1)
    machine(Started(T0))
    machine(Acknowledged("Ana Ruiz", minutes(1)))
    assert machine(EscalateRequested(minutes(2), "alice", to_tier=3)) == [
        Escalated(1, 3, "manual"),
        # Acknowledged already: Elena's notification rules send only what is due at once.
        Page(-1, 0, 3, "Elena Petrova", "slack_user", "U01ELENAPE"),
    ]
    assert machine.state.paged_tiers == (1, 3)
    assert machine(EscalateRequested(minutes(3), "alice")) == []  # nobody above tier 3


# --- templates, owners, determinism --------------------------------------------------------


def test_steps_render_templates_and_page_named_owners() -> None:
    text = """\
name: mixed
severities: [3]
steps:
  - post_update: {status: identified, template: "{{ incident.title }} is {{ incident.status }}; lead {{ incident.commander }}"}
  - set_component: {component: api, status: major_outage}
  - notify: {owner: Dana Kowalski}
  - wait_for_ack: {}
  - slack: {channel: "#exec", template: "{{ playbook }}: {{ incident.url }}"}
remind_every: null
"""
    machine = Machine(play(text), severity=3)
    assert machine(Started(T0)) == [
        PostUpdate("identified", "API down is investigating; lead Ana Ruiz"),
        SetComponent("api", "major_outage"),
        Page(2, 0, None, "Dana Kowalski", "slack_user", "U01DANAKOW"),
        Page(2, 0, None, "Dana Kowalski", "email", "dana.kowalski@sendero.example"),
        # Dana is in tier 2, whose Sev-3 time is its default, 24h.
        ScheduleTimer("ack:3:0", T0 + timedelta(hours=24), "ack_timeout"),
    ]
    assert machine(TimerFired("ack:3:0", T0 + timedelta(hours=24))) == [
        SlackPost("#exec", "mixed: http://x/7"),
        Exhausted(()),
    ]


def test_a_template_that_fails_at_run_time_is_not_posted() -> None:
    frozen = play(REPEATING).to_json()
    frozen["steps"].insert(0, {"post_update": {"template": "{{ ''.__class__ }}"}})
    frozen["steps"][3]["repeat"]["from_step"] = 1
    machine = Machine(Playbook.from_json(frozen), severity=3)
    actions = machine(Started(T0))
    assert actions[0] == SlackPost(
        None,
        "Playbook loop: steps[0] could not render its template (access to attribute '__class__' of 'str' object is "
        "unsafe.); skipped.",
    )
    assert not [a for a in actions if isinstance(a, PostUpdate)]


def test_the_machine_is_deterministic_and_takes_frozen_json() -> None:
    events: list[Event] = [
        Started(T0),
        TimerFired("ack:1:0", minutes(5)),
        TimerFired("remind:1", minutes(30)),
        TimerFired("ack:3:0", minutes(20)),
        Acknowledged("Elena Petrova", minutes(40)),
        Resolved(minutes(90)),
    ]

    def run(playbook: Playbook | dict[str, object], matrix: Matrix | dict[str, object]) -> list[object]:
        state, out = EscalationState(), []
        for event in events:
            state, actions = advance(playbook, matrix, 1, state, event, incident=INCIDENT)  # type: ignore[arg-type]
            out.append((state.to_json(), actions))
        return out

    first = run(SEV1, MATRIX)
    assert run(SEV1, MATRIX) == first
    assert run(json.loads(json.dumps(SEV1.to_json())), json.loads(json.dumps(matrix_json(CONFIG.escalation)))) == first
    state = EscalationState.from_json(first[-1][0])
    assert state == replace(state)
    assert state.resolved and state.acknowledged_by == "Elena Petrova"
    assert EscalationState.from_json(None) == EscalationState()
    assert EscalationState.from_json(state.to_json()) == state


# --- simulation ----------------------------------------------------------------------------

SIMULATE_SEV1_ACK_20M = """\
Playbook sev1 for a severity 1 incident, simulated: nothing is sent.
+00:00 page tier 1: Ana Ruiz (slack_user U01ANARUIZ)
+00:00 page tier 1: Ana Ruiz (phone +1 555 0101)
+00:00 page tier 1: Ana Ruiz (email ana.ruiz@sendero.example)
+00:00 page tier 1: Ben Okafor (slack_user U01BENOKAF)
+00:00 page tier 1: Ben Okafor (email ben.okafor@sendero.example)
+00:00 notify #oncall (tier 1)
+00:00 wait for an acknowledgement until +00:05
+00:05 no ack: escalate to tier 2
+00:05 page tier 2: Chen Wei (slack_user U01CHENWEI)
+00:05 page tier 2: Chen Wei (phone +1 555 0102)
+00:05 page tier 2: Dana Kowalski (slack_user U01DANAKOW)
+00:05 page tier 2: Dana Kowalski (email dana.kowalski@sendero.example)
+00:05 wait for an acknowledgement until +00:20
+00:20 acknowledged by Chen Wei: paging stops
+00:30 remind the commander to post a public update (every 30m)
       ... 6 more reminders every 30m, the last at +03:30
+04:00 resolved: every timer is cancelled
+04:00 slack to the incidents channel: Resolved: "Checkout failing". A Sev-1 needs a postmortem within 5 business \
days: publish the root cause and remediation with `incident rca 1`. http://127.0.0.1:8000/incidents/1
"""


def invoke(*args: str) -> Result:
    return CliRunner().invoke(playbook_group, list(args), env={"STATUSPAGE_CONFIG": str(SHIPPED_CONFIG)})


def test_simulate_sev1_acknowledged_after_20_minutes() -> None:
    result = invoke("simulate", "sev1", "--ack-after", "20m")
    assert result.exit_code == 0, result.output
    assert result.stdout == SIMULATE_SEV1_ACK_20M


def test_simulate_without_ack_runs_to_exhaustion_and_summarises_reminders() -> None:
    result = invoke("simulate", "sev1", "--title", "API down")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[14:20] == [
        "+00:20 no ack: escalate to tier 3",
        "+00:20 page tier 3: Elena Petrova (slack_user U01ELENAPE)",
        '+00:20 slack to the incidents channel: Sev-1 "API down" is still unacknowledged after a round of every '
        "tier; the executive on-call has been paged. Acknowledge with `incident ack 1`.",
        "+00:20 wait for an acknowledgement until +00:30",
        "+00:22 page tier 3: Elena Petrova (email elena.petrova@sendero.example) by their notification rule (after 2m)",
        "+00:25 page tier 3: Elena Petrova (phone +1 555 0103) by their notification rule (after 5m)",
    ]
    # Every tier is paged again each round, from the front line, until the eleventh round ends.
    assert [line for line in lines if line.endswith("page tier 1: Ana Ruiz (phone +1 555 0101)")] == [
        f"+{30 * n // 60:02d}:{30 * n % 60:02d} page tier 1: Ana Ruiz (phone +1 555 0101)" for n in range(11)
    ]
    assert lines[-2:] == [
        "+05:30 no ack within 10m",
        "+05:30 escalation exhausted: nobody acknowledged (tiers paged: 1, 2, 3)",
    ]


def test_simulate_runs_past_the_acknowledgement_to_the_resolution_target() -> None:
    result = invoke("simulate", "sev1", "--ack-after", "20m")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert "+00:20 acknowledged by Chen Wei: paging stops" in lines
    # Sev-1's resolution target is 4h: the reminders go on until then, and on_resolve runs.
    assert lines[-2] == "+04:00 resolved: every timer is cancelled"
    assert lines[-1].startswith('+04:00 slack to the incidents channel: Resolved: "Checkout failing".')


@pytest.mark.parametrize("name", ["1", "sev1", "SEV1", "P1", "p1"])
def test_simulate_takes_a_severity_as_declare_does(name: str) -> None:
    result = invoke("simulate", name, "--ack-after", "5m")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == "Playbook sev1 for a severity 1 incident, simulated: nothing is sent."
    assert invoke("simulate", "sev2", "-s", name).stdout.splitlines()[0].endswith("for a severity 1 incident, simulated: nothing is sent.")


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("simulate", "3"), "no playbook is chosen for severity 3: a sev3 incident pages nobody"),
        (("simulate", "sev9"), "no playbook or severity 'sev9'"),
        (("simulate", "sev1", "-s", "7"), "'7' is not a severity; use one of 1, 2, 3, 4"),
    ],
)
def test_simulate_refuses_what_declare_refuses(args: tuple[str, ...], words: str) -> None:
    result = invoke(*args)
    assert result.exit_code == 2
    assert len(result.stderr.splitlines()) == 1 and words in result.stderr


def test_simulate_sev2_with_resolution() -> None:
    result = invoke("simulate", "sev2", "--ack-after", "40m", "--resolve-after", "2h", "--ack-by", "Dana Kowalski")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[8] == "+00:15 no ack within 15m"
    assert lines[-4:] == [
        "+00:40 acknowledged by Dana Kowalski: paging stops",
        "+01:00 remind the commander to post a public update (every 1h)",
        # The reminder due at +02:00 too is cancelled: a resolution goes before a timer due at the same instant.
        "+02:00 resolved: every timer is cancelled",
        '+02:00 slack to the incidents channel: Resolved: "Checkout failing". Record the root cause with '
        "`incident rca 1`.",
    ]


def test_simulate_an_unknown_playbook_is_one_line_and_exit_2() -> None:
    result = invoke("simulate", "sev9", "--ack-after", "20m")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == (
        f"playbook simulate: no playbook or severity 'sev9' in {ROOT / 'playbooks'} (playbooks: sev1, sev2; "
        "severities: 1, 2, 3, 4)\n"
    )


def test_simulate_refuses_a_bad_duration_in_one_line() -> None:
    result = invoke("simulate", "sev1", "--ack-after", "soon")
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "playbook simulate: Invalid value for --ack-after: 'soon' is not a duration like 20m or 4h (see --help)"
    ]


def test_escalating_back_to_a_tier_already_paged_starts_a_new_pass_with_timers_of_its_own() -> None:
    machine = Machine(SEV1)
    machine(Started(T0))
    # Tier 1 again, while its own wait is pending: the wait is replaced, under a new key.
    again = machine(EscalateRequested(minutes(2), "Ana Ruiz", 1))
    assert CancelTimer("ack:1:0") in again
    assert ScheduleTimer("ack:1:1", minutes(7), "ack_timeout") in again
    assert [(a.tier, a.loop) for a in again if isinstance(a, Page)] == [(1, 1)] * len([p for p in TIER1 if isinstance(p, Page)])
    # Up to tier 2, then back to 1: every wait has a key never used before.
    machine(EscalateRequested(minutes(3), "Ana Ruiz", 2))
    back = machine(EscalateRequested(minutes(4), "Ana Ruiz", 1))
    keys = [a.key for a in back if isinstance(a, ScheduleTimer)]
    assert keys == ["ack:1:2"]
