"""The ``incident`` command line as an on-call engineer uses it: output, exit codes, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from freezegun import freeze_time

from incident_cli.main import main as incident_main
from statuspage.cli import main as statuspage_main


@pytest.fixture
def run(cli_env: dict[str, str]):  # type: ignore[no-untyped-def]
    runner = CliRunner(env=cli_env)

    def invoke(*args: str) -> Result:
        return runner.invoke(incident_main, list(args), prog_name="incident", catch_exceptions=False)

    return invoke


def assert_one_line_error(result: Result, words: str, code: int = 2) -> None:
    assert result.exit_code == code, result.output
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("incident")
    assert words in lines[0]
    assert "Traceback" not in result.output


def test_declare_prints_id_and_public_url(run) -> None:  # type: ignore[no-untyped-def]
    result = run("declare", "--severity", "1", "--title", "Checkout failing", "--component", "api")
    assert result.exit_code == 0, result.output
    first, url = result.stdout.strip().splitlines()
    assert first == "Declared incident 1 (sev1, impact critical): Checkout failing"
    assert url == "http://127.0.0.1:8000/incidents/1"


def test_declared_incident_is_listed_and_shown(run) -> None:  # type: ignore[no-untyped-def]
    run("declare", "-s", "2", "-t", "Slow dashboards", "-c", "web", "-m", "Dashboards load slowly.")
    listing = run("list", "--open")
    assert listing.exit_code == 0
    assert "Slow dashboards" in listing.stdout
    assert "investigating" in listing.stdout
    shown = run("show", "1")
    assert shown.exit_code == 0
    assert "Incident 1: Slow dashboards" in shown.stdout
    assert "Dashboards load slowly." in shown.stdout
    assert "partial outage" in shown.stdout
    # Detection comes first on the timeline, before the declaration.
    timeline = shown.stdout[shown.stdout.index("Timeline") :].splitlines()
    assert [line.split("  ")[1].strip() for line in timeline[2:4]] == ["detected", "declared the incident"]


def test_update_and_resolve_show_in_timeline(run) -> None:  # type: ignore[no-untyped-def]
    run("declare", "-s", "1", "-t", "API down", "-c", "api")
    updated = run("update", "1", "--status", "identified", "--message", "Bad deploy found.")
    assert updated.exit_code == 0
    assert "Incident 1 is identified." in updated.stdout
    resolved = run("resolve", "1", "--message", "Rolled back.")
    assert resolved.exit_code == 0
    assert "API: major_outage → operational" in resolved.stdout
    shown = run("show", "1", "--json")
    data = json.loads(shown.stdout)
    assert data["status"] == "resolved"
    assert [u["body"] for u in data["incident_updates"]] == ["Rolled back.", "Bad deploy found.", "We are investigating reports of problems with API."]
    assert run("list", "--open").stdout.strip() == "No open incidents."


def test_component_statuses_can_be_given(run) -> None:  # type: ignore[no-untyped-def]
    run("declare", "-s", "1", "-t", "Partial", "-c", "api=degraded_performance,web")
    shown = json.loads(run("show", "1", "--json").stdout)
    assert {c["id"]: c["status"] for c in shown["components"]} == {"api": "degraded_performance", "web": "major_outage"}


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("declare", "-s", "1", "-t", "x", "-c", "nope"), "unknown component 'nope'"),
        (("declare", "-s", "7", "-t", "x", "-c", "api"), "'7' is not a severity"),
        (("declare", "-s", "1", "-c", "api"), "Missing option '--title'"),
        (("declare", "-s", "1", "-t", "x", "-c", "api", "--detected-at", "yesterday-ish"), "not a time like"),
        (("update", "42", "-m", "hello"), "no incident 42"),
        (("resolve", "42"), "no incident 42"),
        (("show", "abc"), "incident ids are numbers"),
        (("update", "1", "--status", "fixed", "-m", "x"), "'fixed' is not one of"),
        (("frobnicate",), "No such command 'frobnicate'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(run, args: tuple[str, ...], words: str) -> None:  # type: ignore[no-untyped-def]
    assert_one_line_error(run(*args), words)


def test_failed_declaration_writes_nothing(run) -> None:  # type: ignore[no-untyped-def]
    run("declare", "-s", "1", "-t", "x", "-c", "api", "-c", "nope")
    assert run("list").stdout.strip() == "No incidents."
    assert "operational" in run("component", "list").stdout.splitlines()[0]


def test_update_on_resolved_incident_says_reopen(run) -> None:  # type: ignore[no-untyped-def]
    run("declare", "-s", "1", "-t", "x", "-c", "api")
    run("resolve", "1")
    assert_one_line_error(run("update", "1", "-m", "more"), "reopen it before posting")
    assert run("reopen", "1", "-m", "Back again").exit_code == 0
    assert run("update", "1", "-m", "more").exit_code == 0


def test_untrusted_title_is_printed_literally(run) -> None:  # type: ignore[no-untyped-def]
    title = "[bold red]pwn[/bold red] <script>"
    run("declare", "-s", "3", "-t", title, "-c", "api")
    assert title in run("list").stdout
    assert title in run("show", "1").stdout


def test_times_are_shown_in_page_time_zone(run) -> None:  # type: ignore[no-untyped-def]
    with freeze_time("2026-11-25T08:10:00Z"):
        run("declare", "-s", "1", "-t", "x", "-c", "api", "--detected-at", "12m ago")
        shown = run("show", "1").stdout
    assert "2026-11-25 03:10:00 EST" in shown  # declared
    assert "2026-11-25 02:58:00 EST" in shown  # detected 12 minutes earlier


def test_ack_and_handover(run) -> None:  # type: ignore[no-untyped-def]
    run("declare", "-s", "1", "-t", "x", "-c", "api")
    first = run("--as", "bob", "ack", "1")
    assert first.exit_code == 0 and "acknowledged by bob" in first.stdout
    again = run("--as", "carol", "ack", "1")
    assert "already acknowledged by bob" in again.stdout
    handed = run("handover", "1", "--to", "Chen Wei")
    assert handed.stdout.strip() == "Incident 1 is now commanded by Chen Wei"
    assert "alice → Chen Wei" in run("show", "1").stdout


def test_unmigrated_database_is_reported(tmp_path: Path, cli_env: dict[str, str]) -> None:
    (tmp_path / "empty.db").touch()  # there, but never migrated (a missing one: test_bad_arguments.py)
    env = {**cli_env, "DATABASE_URL": f"sqlite:///{tmp_path / 'empty.db'}"}
    result = CliRunner(env=env).invoke(incident_main, ["list"], prog_name="incident")
    assert result.exit_code == 1
    assert "run: statuspage db upgrade" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_db_upgrade_then_seed_demo_is_idempotent(tmp_path: Path, cli_env: dict[str, str]) -> None:
    env = {**cli_env, "DATABASE_URL": f"sqlite:///{tmp_path / 'fresh.db'}"}
    runner = CliRunner(env=env)
    upgraded = runner.invoke(statuspage_main, ["db", "upgrade"], prog_name="statuspage")
    assert upgraded.exit_code == 0, upgraded.output
    assert "migrated from empty to" in upgraded.stdout
    seeded = runner.invoke(statuspage_main, ["db", "seed-demo"], prog_name="statuspage")
    assert "7 past incidents" in seeded.stdout
    again = runner.invoke(statuspage_main, ["db", "seed-demo"], prog_name="statuspage")
    assert again.exit_code == 0 and "nothing added" in again.stdout
    listing = CliRunner(env=env).invoke(incident_main, ["list", "--json"], prog_name="incident")
    assert len(json.loads(listing.stdout)["incidents"]) == 7


def test_rca_publishes_root_cause_on_the_incident(run, cli_env: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    run("declare", "-s", "1", "-t", "Checkout failing", "-c", "api")
    done = run("rca", "1", "--root-cause", "An expired certificate.", "--remediation", "Expiry alerts.")
    assert done.exit_code == 0, done.output
    assert done.stdout.strip() == "Incident 1: root cause and remediation published on http://127.0.0.1:8000/incidents/1"
    shown = run("show", "1", "--json")
    assert shown.exit_code == 0
    assert_one_line_error(run("rca", "1"), "give a root cause, a remediation or both")
    from statuspage.db.engine import make_engine, new_session
    from statuspage.incidents import service as incidents

    engine = make_engine(cli_env["DATABASE_URL"])
    try:
        with new_session(engine) as session:
            incident = incidents.get(session=session, incident_id=1)
            assert (incident.root_cause, incident.remediation) == ("An expired certificate.", "Expiry alerts.")
    finally:
        engine.dispose()


def test_list_piped_prints_one_line_per_incident(run) -> None:  # type: ignore[no-untyped-def]
    long_title = "Checkout failing for customers in several regions at once " * 3
    assert run("declare", "-s", "2", "-t", long_title.strip(), "-c", "api").exit_code == 0
    assert run("declare", "-s", "3", "-t", "Short", "-c", "web").exit_code == 0
    listed = run("list")
    assert listed.exit_code == 0
    lines = listed.stdout.splitlines()
    # Not a terminal: a header and one line per incident, however long, with nothing folded or padded.
    assert len(lines) == 3
    assert lines[2].startswith("1 ") and lines[2].endswith(long_title.strip())
    assert lines[1].split()[:3] == ["2", "sev3", "investigating"] and lines[1].endswith("Short")
    assert all(line == line.rstrip() for line in lines)


def test_help_lists_every_command_as_its_own_help_says_without_importing_it() -> None:
    import importlib

    import click

    from incident_cli.main import COMMANDS
    from incident_cli.main import main as group

    for name, (module, attribute, line) in COMMANDS.items():
        command = getattr(importlib.import_module(module), attribute)
        assert command.name == name
        assert line == command.get_short_help_str(10_000), name
    # The group's --help, laid out from the stored lines, is what click would print from the commands.
    eager = click.Group("incident", commands=[getattr(importlib.import_module(m), a) for m, a, _ in COMMANDS.values()])
    width = 80
    lazy_help = click.Context(group, terminal_width=width).get_help().split("Commands:")[1]
    eager_help = click.Context(eager, terminal_width=width).get_help().split("Commands:")[1]
    assert lazy_help == eager_help


def test_help_starts_without_the_database_layer() -> None:
    import subprocess
    import sys

    code = (
        "import sys\nfrom incident_cli.main import main\ntry:\n    main(['--help'], prog_name='incident')\n"
        "except SystemExit:\n    pass\n"
        "print([m for m in ('sqlalchemy', 'sqlmodel', 'httpx', 'statuspage.runtime') if m in sys.modules])"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=60)
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stdout + done.stderr
