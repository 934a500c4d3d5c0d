"""``incident show`` on an open incident: who holds command, who is being paged now through which
contact and whether the page reached them, and when the next escalation and public update fall due."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner, Result

from incident_cli.main import main as incident_main


@pytest.fixture
def run(cli_env: dict[str, str]):  # type: ignore[no-untyped-def]
    runner = CliRunner(env=cli_env)

    def invoke(*args: str) -> Result:
        return runner.invoke(incident_main, list(args), prog_name="incident", catch_exceptions=False)

    return invoke


def paging_lines(shown: str) -> list[str]:
    keys = ("Command", "Paging now", "Next escalation", "Next public update")
    return [line for line in shown.splitlines() if line.startswith(keys)]


def test_show_tells_who_is_paged_how_and_what_is_due(run) -> None:  # type: ignore[no-untyped-def]
    declared = run("--as", "Dana Kowalski", "declare", "-s", "1", "-t", "Checkout down", "-c", "api", "--yes")
    assert declared.exit_code == 0, declared.output
    lines = paging_lines(run("show", "1").stdout)
    # Tier 1 of the demo matrix, on every contact it has; nobody's worker has sent anything yet.
    assert [line for line in lines if line.startswith("Paging now")] == [
        "Paging now          Ana Ruiz (tier 1, slack_user U01ANARUIZ): queued",
        "Paging now          Ana Ruiz (tier 1, phone +1 555 0101): not sent: no channel for phone contacts",
        "Paging now          Ana Ruiz (tier 1, email ana.ruiz@sendero.example): queued",
        "Paging now          Ben Okafor (tier 1, slack_user U01BENOKAF): queued",
        "Paging now          Ben Okafor (tier 1, email ben.okafor@sendero.example): queued",
    ]
    escalation = next(line for line in lines if line.startswith("Next escalation"))
    assert re.fullmatch(r"Next escalation +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \w+ \(in [45] minutes?( \d+ seconds?)?\)", escalation)
    update = next(line for line in lines if line.startswith("Next public update"))
    assert re.search(r"\(in (29|30) minutes", update), update


def test_after_someone_else_acknowledges_show_says_who_holds_command(run) -> None:  # type: ignore[no-untyped-def]
    assert run("--as", "Dana Kowalski", "declare", "-s", "1", "-t", "Checkout down", "-c", "api", "--yes").exit_code == 0
    assert run("--as", "Ben Okafor", "ack", "1").exit_code == 0
    lines = paging_lines(run("show", "1").stdout)
    assert lines[0] == (
        "Command             acknowledged by Ben Okafor; Dana Kowalski is the commander "
        "(hand over with: incident handover 1 --to 'Ben Okafor')"
    )
    # Acknowledged: nobody is paged and no escalation waits; the public update is still due.
    assert not any(line.startswith(("Paging now", "Next escalation")) for line in lines)
    assert lines[-1].startswith("Next public update")
    assert run("handover", "1", "--to", "Ben Okafor").exit_code == 0
    assert paging_lines(run("show", "1").stdout)[0] == "Command             acknowledged by Ben Okafor"


def test_a_resolved_incident_shows_no_paging(run) -> None:  # type: ignore[no-untyped-def]
    assert run("declare", "-s", "1", "-t", "Checkout down", "-c", "api", "--yes").exit_code == 0
    assert run("resolve", "1").exit_code == 0
    assert paging_lines(run("show", "1").stdout) == []


def test_list_and_show_mark_an_incident_kept_off_the_status_page(run) -> None:  # type: ignore[no-untyped-def]
    assert run("declare", "-s", "2", "-t", "Wrong alarm", "-c", "api").exit_code == 0
    assert run("retract", "1", "--reason", "declared by mistake").exit_code == 0
    listed = run("list").stdout.splitlines()
    assert listed[1].split()[:4] == ["1", "sev2", "investigating", "(internal)"]
    assert "Visibility      internal: not on the status page (show it with: incident publish 1)" in run("show", "1").stdout
    assert run("publish", "1").exit_code == 0
    assert "(internal)" not in run("list").stdout
    assert "Visibility" not in run("show", "1").stdout
