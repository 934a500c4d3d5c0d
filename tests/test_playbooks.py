"""Playbooks as an operator writes them: the shipped ones, the one-line errors
``file:line:col: field.path: message`` for every way of getting one wrong, the sandboxed
templates, and the frozen JSON copies the engine stores."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from jinja2.exceptions import SecurityError, UndefinedError

from incident_cli.playbook_cmds import playbook as playbook_group
from statuspage.domain.durations import Duration
from statuspage.domain.escalation import IncidentView
from statuspage.domain.matrix import Matrix, matrix_json
from statuspage.domain.playbook import Playbook
from statuspage.playbooks.load import PlaybookError, load_playbook_file, load_playbooks, parse_playbook, playbook_for
from statuspage.playbooks.render import render_template
from statuspage.settings import Config, load_settings

ROOT = Path(__file__).resolve().parent.parent
SHIPPED_CONFIG = ROOT / "statuspage.yaml"
SHIPPED_PLAYBOOKS = ROOT / "playbooks"
CONFIG: Config = load_settings(SHIPPED_CONFIG, env={}).config
NAME = "playbooks/x.yaml"

GOOD = """\
name: x
description: A test playbook.
severities: [3]
steps:
  - notify: {tier: 1}
  - wait_for_ack: {}
  - notify: {owner: Chen Wei}
  - wait_for_ack: {timeout: 10m}
  - repeat: {times: 2, from_step: 0}
  - post_update: {status: identified, template: "We found it: {{ incident.title }}."}
  - set_component: {component: api, status: major_outage}
  - slack: {channel: "#exec", template: "Sev-{{ incident.severity }} {{ incident.title }} still open"}
remind_every: 20m
on_resolve:
  - slack: {template: "Resolved."}
"""


def locate(text: str, marker: str) -> tuple[int, int]:
    """1-based line and column where ``marker`` starts; it must occur exactly once."""
    assert text.count(marker) == 1, f"{marker!r} occurs {text.count(marker)} times"
    index = text.index(marker)
    return text.count("\n", 0, index) + 1, index - (text.rfind("\n", 0, index) + 1) + 1


def edit(old: str, new: str, text: str = GOOD) -> str:
    assert text.count(old) == 1, f"{old!r} is not exactly once in the playbook"
    return text.replace(old, new)


def errors_for(text: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Write ``playbooks/x.yaml`` under ``tmp_path`` and load it by its relative name."""
    (tmp_path / "playbooks").mkdir(exist_ok=True)
    (tmp_path / NAME).write_text(text, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(PlaybookError) as caught:
        load_playbook_file(Path(NAME), CONFIG)
    return caught.value.lines


def at(text: str, marker: str, message: str) -> str:
    line, column = locate(text, marker)
    return f"{NAME}:{line}:{column}: {message}"


# --- the shipped playbooks -----------------------------------------------------------------


def test_shipped_playbooks_validate_against_the_shipped_config() -> None:
    playbooks = load_playbooks(SHIPPED_PLAYBOOKS, CONFIG)
    assert sorted(playbooks) == ["sev1", "sev2"]
    assert playbook_for(1, playbooks) is playbooks["sev1"]
    assert playbook_for(2, playbooks) is playbooks["sev2"]
    assert playbook_for(3, playbooks) is None
    sev1 = playbooks["sev1"]
    assert [step.kind for step in sev1.steps] == [
        "notify", "wait_for_ack", "notify", "wait_for_ack", "notify", "slack", "wait_for_ack", "repeat",
    ]
    # The waits after a tier is paged take the matrix's times; only the pause before the next round is written.
    waits = [step.body.timeout for step in sev1.steps if step.kind == "wait_for_ack"]  # type: ignore[union-attr]
    assert waits == [None, None, Duration.parse("10m")]
    assert sev1.remind_every_for(1) == Duration.parse("30m")
    assert playbooks["sev2"].remind_every_for(2) == Duration.parse("1h")


def test_shipped_playbooks_are_commented_for_a_reader() -> None:
    for path in sorted(SHIPPED_PLAYBOOKS.glob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        comments = [line for line in text.splitlines() if line.lstrip().startswith("#")]
        assert len(comments) >= 10, path


def test_validate_command_accepts_the_shipped_playbooks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    result = CliRunner().invoke(
        playbook_group, ["validate", "playbooks/sev1.yaml", "playbooks/sev2.yaml"], env={"STATUSPAGE_CONFIG": str(SHIPPED_CONFIG)}
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "playbooks/sev1.yaml: ok (sev1: severities 1, 8 steps, 1 on resolve)",
        "playbooks/sev2.yaml: ok (sev2: severities 2, 7 steps, 1 on resolve)",
    ]
    assert result.stderr == ""


def test_a_good_playbook_loads_with_every_kind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "playbooks").mkdir()
    (tmp_path / NAME).write_text(GOOD, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    loaded = load_playbook_file(Path(NAME), CONFIG)
    assert loaded.name == "x"
    assert loaded.severities == (3,)
    assert [s.kind for s in loaded.steps] == [
        "notify", "wait_for_ack", "notify", "wait_for_ack", "repeat", "post_update", "set_component", "slack",
    ]
    assert loaded.steps[3].to_json() == {"wait_for_ack": {"timeout": "10m"}}
    assert loaded.steps[4].to_json() == {"repeat": {"times": 2, "from_step": 0}}
    assert loaded.remind_every_for(3) == Duration.parse("20m")


# --- one-line errors -----------------------------------------------------------------------

CASES = [
    (
        "bad duration",
        edit("{timeout: 10m}", "{timeout: 15 minutes}"),
        "timeout: 15 minutes",
        'steps[3].wait_for_ack.timeout: "15 minutes" is not a duration like 4h',
    ),
    (
        "business duration",
        edit("{timeout: 10m}", "{timeout: 2bd}"),
        "timeout: 2bd",
        'steps[3].wait_for_ack.timeout: "2bd" counts business time; playbook waits are wall-clock, write it like 4h',
    ),
    ("unknown top-level key", edit("remind_every: 20m", "remind_every: 20m\ncolour: red"), "colour", "colour: is not a known field"),
    (
        "unknown step kind",
        edit("  - set_component:", "  - frobnicate: {}\n  - set_component:"),
        "frobnicate",
        "steps[6].frobnicate: is not a step kind (known: post_update, notify, wait_for_ack, repeat, set_component, slack)",
    ),
    ("unknown key in a step", edit("{times: 2, from_step: 0}", "{times: 2, from_step: 0, forever: true}"), "forever", "steps[4].repeat.forever: is not a known field"),
    (
        "unknown tier",
        edit("  - notify: {tier: 1}", "  - notify: {tier: 4}"),
        "tier: 4",
        "steps[0].notify.tier: no escalation tier 4 (known: 1, 2, 3)",
    ),
    (
        "unknown owner",
        edit("{owner: Chen Wei}", "{owner: Chen Way}"),
        "owner: Chen Way",
        'steps[2].notify.owner: no owner "Chen Way" in the escalation matrix (known: Ana Ruiz, Ben Okafor, Chen Wei, '
        "Dana Kowalski, Elena Petrova)",
    ),
    (
        "tier and owner",
        edit("{owner: Chen Wei}", "{owner: Chen Wei, tier: 2}"),
        "notify: {owner",
        "steps[2].notify: name either a tier (tier: 1) or an owner (owner: Chen Wei), not both",
    ),
    (
        "unknown component",
        edit("{component: api,", "{component: apis,"),
        "component: apis",
        'steps[6].set_component.component: no component "apis" (known: api, web, checkout, auth, notifications, '
        "phone-support, chat-support, email-support, help-center)",
    ),
    (
        "bad component status",
        edit("status: major_outage}", "status: broken}"),
        "status: broken",
        "steps[6].set_component.status: \"broken\" is not one of: 'operational', 'under_maintenance', "
        "'degraded_performance', 'partial_outage' or 'major_outage'",
    ),
    (
        "unknown severity",
        edit("severities: [3]", "severities: [3, 7]"),
        "7]",
        "severities[1]: no severity sev7 is defined (known: 1, 2, 3, 4)",
    ),
    (
        "repeat forward",
        edit("from_step: 0}", "from_step: 6}"),
        "from_step",
        "steps[4].repeat.from_step: 6 is not an earlier step (steps are counted from 0; earlier: 0 to 3)",
    ),
    (
        "repeat without a wait",
        edit("from_step: 0}", "from_step: 2}", edit("  - wait_for_ack: {timeout: 10m}\n", "  - slack: {template: hi}\n")),
        "from_step",
        "steps[4].repeat.from_step: steps[2] to steps[3] have no wait_for_ack; the repeat would page again at once",
    ),
    (
        "repeat too often",
        edit("times: 2", "times: 11"),
        "times: 11",
        "steps[4].repeat.times: 11 is more than the maximum, 10",
    ),
    (
        "default wait with nobody paged",
        edit("steps:\n  - notify: {tier: 1}\n  - wait_for_ack: {}\n", "steps:\n  - wait_for_ack: {}\n  - notify: {tier: 1}\n"),
        "wait_for_ack: {}",
        "steps[0].wait_for_ack: has no timeout and nobody was paged before it; give a timeout like 15m or notify a "
        "tier first",
    ),
    (
        "bad Slack channel",
        edit('channel: "#exec"', "channel: exec"),
        "channel: exec",
        'steps[7].slack.channel: "exec" is not a Slack channel like #exec (or an id like C0123ABCD)',
    ),
    (
        "status resolved in a step",
        edit("status: identified", "status: resolved"),
        "status: resolved",
        "steps[5].post_update.status: \"resolved\" is not one of: 'investigating', 'identified' or 'monitoring'",
    ),
    (
        "paging on resolve",
        edit('  - slack: {template: "Resolved."}', "  - notify: {tier: 1}", GOOD),
        "notify: {tier: 1}\n",
        "on_resolve[0].notify: on_resolve runs once the incident is resolved; only post_update, set_component and "
        "slack fit here",
    ),
    (
        "template syntax",
        edit("We found it: {{ incident.title }}.", "We found it: {% if %}"),
        'template: "We found it',
        "steps[5].post_update.template: template syntax error on its line 1: Expected an expression, got 'end of "
        "statement block'",
    ),
    (
        "template unknown name",
        edit("We found it: {{ incident.title }}.", "{{ secrets }}"),
        'template: "{{ secrets',
        "steps[5].post_update.template: the template uses secrets; templates can use only: incident, playbook",
    ),
    (
        "template unknown field",
        edit("We found it: {{ incident.title }}.", "{{ incident.titel }}"),
        'template: "{{ incident.titel',
        "steps[5].post_update.template: the template cannot be rendered: incident has no field 'titel' (known: "
        "incident.id, incident.title, incident.severity, incident.status, incident.commander, incident.url)",
    ),
    (
        "step without a body",
        edit("  - set_component:", "  - notify\n  - set_component:"),
        "notify\n",
        "steps[6]: notify needs its fields, like `notify: {...}`",
    ),
    ("no steps", edit("name: x", "name: x\nsteps: []", GOOD.split("steps:")[0]), "steps", "steps: needs at least one entry"),
    ("bad name", edit("name: x", "name: Sev One"), "Sev One", "name: \"Sev One\" is not an id: use lower-case letters, digits, '-' and '_'"),
]


@pytest.mark.parametrize(("text", "marker", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_every_error_is_one_line_with_position_and_path(
    text: str, marker: str, message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = errors_for(text, tmp_path, monkeypatch)
    if marker == "notify: {tier: 1}\n":  # the one in on_resolve, the last in the file
        index = text.rindex("notify: {tier: 1}")
        line, column = text.count("\n", 0, index) + 1, index - (text.rfind("\n", 0, index) + 1) + 1
        assert lines == [f"{NAME}:{line}:{column}: {message}"]
        return
    if marker == "notify\n":
        line, column = locate(text, "  - notify\n")
        assert lines == [f"{NAME}:{line}:{column + 4}: {message}"]
        return
    if marker == "steps":
        assert lines == [at(text, "steps: []", message)]
        return
    if marker == "Sev One":
        assert lines == [f"{NAME}:1:1: {message}"]  # a top-level scalar is placed at its key
        return
    assert lines == [at(text, marker, message)]


def test_the_spec_example_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = edit("  - wait_for_ack: {timeout: 10m}", "  - wait_for_ack:\n      timeout: 15 minutes")
    assert errors_for(text, tmp_path, monkeypatch) == [
        f'{NAME}:9:7: steps[3].wait_for_ack.timeout: "15 minutes" is not a duration like 4h'
    ]


def test_every_problem_in_a_file_is_reported_at_once_in_file_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = edit("{timeout: 10m}", "{timeout: soon}", edit("remind_every: 20m", "remind_every: often\nextra: 1"))
    lines = errors_for(text, tmp_path, monkeypatch)
    assert lines == [
        at(text, "timeout: soon", 'steps[3].wait_for_ack.timeout: "soon" is not a duration like 4h'),
        at(text, "remind_every", 'remind_every: "often" is not a duration like 4h'),
        at(text, "extra", "extra: is not a known field"),
    ]


def test_validate_exits_2_with_one_line_per_problem(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "playbooks").mkdir()
    bad = edit("  - notify: {tier: 1}", "  - notify: {tier: 4}", edit("{component: api,", "{component: apis,"))
    (tmp_path / NAME).write_text(bad, encoding="utf-8")
    (tmp_path / "playbooks" / "y.yaml").write_text(GOOD.replace("name: x", "name: y"), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(
        playbook_group, ["validate", NAME, "playbooks/y.yaml"], env={"STATUSPAGE_CONFIG": str(SHIPPED_CONFIG)}
    )
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        at(bad, "tier: 4", "steps[0].notify.tier: no escalation tier 4 (known: 1, 2, 3)"),
        at(bad, "component: apis", 'steps[6].set_component.component: no component "apis" (known: api, web, checkout, auth, '
           "notifications, phone-support, chat-support, email-support, help-center)"),
    ]


def test_one_run_reports_schema_and_reference_problems_together(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A wrong type in one step, an unknown tier in another, a template naming a field incidents lack:
    # all in one run, in file order, so that fixing the file does not take three rounds.
    bad = edit("  - notify: {tier: 1}", "  - notify: {tier: 4}", edit("{timeout: 10m}", "{timeout: soon}"))
    bad = edit("{component: api,", "{component: apis,", bad)
    bad = bad.replace("{{ incident.title }}", "{{ incident.owner }}", 1)
    lines = errors_for(bad, tmp_path, monkeypatch)
    assert lines[:2] == [
        at(bad, "tier: 4", "steps[0].notify.tier: no escalation tier 4 (known: 1, 2, 3)"),
        at(bad, "timeout: soon", 'steps[3].wait_for_ack.timeout: "soon" is not a duration like 4h'),
    ]
    assert any("steps[6].set_component.component: no component \"apis\"" in line for line in lines)
    assert any(
        "template: the template cannot be rendered: incident has no field 'owner' (known: incident.id, incident.title"
        in line
        for line in lines
    )
    assert all("object" not in line and "IncidentView" not in line for line in lines)


def test_validate_reports_a_missing_file_and_a_bad_config_in_one_line(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(playbook_group, ["validate", str(tmp_path / "nope.yaml")], env={"STATUSPAGE_CONFIG": str(SHIPPED_CONFIG)})
    assert result.exit_code == 2
    assert result.stderr == f"{tmp_path / 'nope.yaml'}: no such file\n"
    result = runner.invoke(playbook_group, ["validate"], env={"STATUSPAGE_CONFIG": str(tmp_path / "missing.yaml")})
    assert result.exit_code == 2
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith(f"{tmp_path / 'missing.yaml'}: no such file")


def test_validate_without_files_checks_the_playbooks_directory() -> None:
    result = CliRunner().invoke(playbook_group, ["validate"], env={"STATUSPAGE_CONFIG": str(SHIPPED_CONFIG)})
    assert result.exit_code == 0, result.output
    assert [line.split(": ", 1)[1] for line in result.stdout.splitlines()] == [
        "sev1 ok (severities 1, 8 steps, 1 on resolve)",
        "sev2 ok (severities 2, 7 steps, 1 on resolve)",
    ]


# --- playbooks as a set --------------------------------------------------------------------


def test_a_sev1_must_have_a_playbook(tmp_path: Path) -> None:
    (tmp_path / "x.yaml").write_text(GOOD, encoding="utf-8")
    with pytest.raises(PlaybookError) as caught:
        load_playbooks(tmp_path, CONFIG)
    assert caught.value.lines == [f"{tmp_path}: no playbook is chosen for severity 1: add 1 to one playbook's severities"]


def test_names_and_severities_are_claimed_once(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(GOOD.replace("severities: [3]", "severities: [1, 3]"), encoding="utf-8")
    (tmp_path / "b.yml").write_text(GOOD, encoding="utf-8")
    with pytest.raises(PlaybookError) as caught:
        load_playbooks(tmp_path, CONFIG)
    assert caught.value.lines == [
        f'{tmp_path / "b.yml"}:1:1: name: "x" is also the name of {tmp_path / "a.yaml"}',
        f"{tmp_path / 'b.yml'}:3:14: severities[0]: severity 3 is already chosen by playbook x",
    ]


def test_load_playbooks_reports_every_file_and_a_missing_directory(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("name: a\nsteps: [{notify: {tier: 5}}]\n", encoding="utf-8")
    (tmp_path / "b.yaml").write_text("- just a list\n", encoding="utf-8")
    (tmp_path / "notes.txt").write_text("not a playbook", encoding="utf-8")
    with pytest.raises(PlaybookError) as caught:
        load_playbooks(tmp_path, CONFIG)
    assert caught.value.lines == [
        f"{tmp_path / 'a.yaml'}:2:19: steps[0].notify.tier: no escalation tier 5 (known: 1, 2, 3)",
        f"{tmp_path / 'b.yaml'}:1:1: a playbook is a mapping with name, severities and steps",
        f"{tmp_path}: no playbook is chosen for severity 1: add 1 to one playbook's severities",
    ]
    with pytest.raises(PlaybookError) as caught:
        load_playbooks(tmp_path / "none", CONFIG)
    assert caught.value.lines == [f"{tmp_path / 'none'}: no such directory of playbooks"]


# --- templates -----------------------------------------------------------------------------

INCIDENT = IncidentView(id=42, title="API down", severity=1, status="investigating", commander=None, url="http://x/incidents/42")


def test_templates_render_plain_text() -> None:
    text = render_template(
        "Sev-{{ incident.severity }} {{ incident.title }} <b>&</b> [{{ incident.commander }}] {{ playbook }}",
        incident=INCIDENT,
        playbook="sev1",
    )
    assert text == "Sev-1 API down <b>&</b> [] sev1"  # no escaping: that is the sender's job; None prints nothing


@pytest.mark.parametrize(
    "template",
    [
        "{{ ''.__class__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ incident.__class__ }}",
        "{{ incident.__init__.__globals__ }}",
        "{{ 'x' * 1000000 }}",
        "{{ 10 ** 100000 }}",
    ],
)
def test_templates_are_sandboxed(template: str) -> None:
    with pytest.raises(SecurityError):
        render_template(template, incident=INCIDENT, playbook="sev1")


def test_undefined_fields_are_refused_not_printed_empty() -> None:
    with pytest.raises(UndefinedError):
        render_template("{{ incident.titel }}", incident=INCIDENT, playbook="sev1")


def test_unsafe_templates_are_refused_at_validation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = edit('"Sev-{{ incident.severity }} {{ incident.title }} still open"', "\"{{ ''.__class__ }}\"")
    assert errors_for(text, tmp_path, monkeypatch) == [
        at(text, "template: \"{{ ''", "steps[7].slack.template: the template cannot be rendered: access to attribute '__class__' "
           "of 'str' object is unsafe.")
    ]


# --- frozen copies -------------------------------------------------------------------------


def test_playbook_json_round_trip() -> None:
    loaded = parse_playbook(GOOD, CONFIG)
    frozen = loaded.to_json()
    assert json.loads(json.dumps(frozen)) == frozen
    assert frozen["steps"][0] == {"notify": {"tier": 1}}
    assert frozen["steps"][2] == {"notify": {"owner": "Chen Wei"}}
    assert frozen["reminders"] == {"1": "20m", "2": "20m", "3": "20m", "4": "20m"}
    assert Playbook.from_json(json.loads(json.dumps(frozen))) == loaded


def test_reminder_cadence_defaults_to_the_severity_update_every() -> None:
    default = parse_playbook(GOOD.replace("remind_every: 20m\n", ""), CONFIG)
    assert default.reminders == {1: Duration.parse("30m"), 2: Duration.parse("1h"), 3: None, 4: None}
    off = parse_playbook(GOOD.replace("remind_every: 20m", "remind_every: null"), CONFIG)
    assert off.reminders == {1: None, 2: None, 3: None, 4: None}
    assert Playbook.from_json(off.to_json()).remind_every_for(1) is None
    assert Playbook.from_json(default.to_json()).remind_every_for(2) == Duration.parse("1h")


def test_matrix_json_freezes_the_escalation_matrix() -> None:
    frozen = matrix_json(CONFIG.escalation)
    assert json.loads(json.dumps(frozen)) == frozen
    tier1 = frozen["tiers"][0]
    assert tier1["acknowledge_within"] == {"default": "4h", "sev1": "5m", "sev2": "15m"}
    assert tier1["owners"][0] == {
        "name": "Ana Ruiz",
        "role": "On-call engineer",
        "contacts": [{"slack_user": "U01ANARUIZ"}, {"phone": "+1 555 0101"}, {"email": "ana.ruiz@sendero.example"}],
    }
    assert tier1["notify"] == [{"slack_channel": "#oncall"}]
    matrix = Matrix.from_json(frozen)
    assert matrix == Matrix.from_escalation(CONFIG.escalation)
    assert [matrix.ack_within(level, 1) for level in (1, 2, 3)] == [Duration.parse(d) for d in ("5m", "15m", "72h")]
    assert [matrix.ack_within(level, 2) for level in (1, 2, 3)] == [Duration.parse(d) for d in ("15m", "1h", "72h")]
    assert matrix.ack_within(1, 3) == Duration.parse("4h")
    found = matrix.owner("Dana Kowalski")
    assert found is not None and found[0].level == 2
    assert Duration.parse("72h").timedelta == timedelta(hours=72)


ONE_LINE = re.compile(r"^playbooks/x\.yaml:\d+:\d+: [a-z_\[\]0-9.]+: \S")


@pytest.mark.parametrize(("text", "marker", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_error_lines_have_the_shape_editors_read(
    text: str, marker: str, message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for line in errors_for(text, tmp_path, monkeypatch):
        assert ONE_LINE.match(line), line
        assert "\n" not in line


def test_a_default_wait_in_business_time_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config_text = SHIPPED_CONFIG.read_text(encoding="utf-8").replace("acknowledge_within: 72h", "acknowledge_within: 3bd")
    (tmp_path / "statuspage.yaml").write_text(config_text, encoding="utf-8")
    config = load_settings(tmp_path / "statuspage.yaml", env={}).config
    text = "name: x\nseverities: [1]\nsteps:\n  - notify: {tier: 3}\n  - wait_for_ack: {}\n"
    with pytest.raises(PlaybookError) as caught:
        parse_playbook(text, config, Path(NAME))
    assert caught.value.lines == [
        f"{NAME}:5:5: steps[1].wait_for_ack: defaults to tier 3's acknowledge_within for sev1, 3bd, which counts "
        "business time; give a wall-clock timeout like 4h"
    ]
    # With a timeout written in wall-clock time it is fine.
    assert parse_playbook(text.replace("{}", "{timeout: 72h}"), config).steps[1].to_json() == {
        "wait_for_ack": {"timeout": "3d"}
    }
