"""Bad arguments to the command lines, as a terminal, a script or a mistyped paste hands them over:
ids beyond the database's columns or written in other scripts' digits, bytes that are not UTF-8,
names and titles with line breaks, tabs or no end, wall-clock times that a DST switch skips or
repeats, and a database file that is not where it was looked for.

Each is one line naming the option or field, exit status 2, no traceback, and nothing written:
the database is compared table by table before and after. Names and titles are refused by the
local command line, the remote one (through a real server, without sending a request) and the
admin API in the same words.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from click.testing import CliRunner, Result
from sqlalchemy import func, select
from sqlmodel import SQLModel

from incident_cli.main import main as incident_main
from statuspage.cli import main as statuspage_main
from statuspage.context import WriteContext
from statuspage.db.engine import make_engine
from statuspage.db.models import AuditEvent, SiteState
from statuspage.errors import InvalidInput
from statuspage.incidents import handling
from statuspage.incidents import service as incidents
from statuspage.maintenance import service as maintenance
from statuspage.retention import ACCESS_ACTION
from statuspage.typed_times import parse_when
from statuspage.web.admin.calls import PREFIX
from tests.test_cli_remote import local, remote, remote_env, server, token  # noqa: F401 - the fixtures are used by name

BIN = Path(sys.executable).parent
Run = Callable[..., Result]
TOO_BIG = ["99999999999999999999", "2147483648"]  # past SQLite's 64 bits; past PostgreSQL's integer
NOT_ASCII = "١"  # ARABIC-INDIC DIGIT ONE: int() reads it as 1


def snapshot(url: str) -> dict[str, Any]:
    """Every table's row count, the data version (bumped by every write) and, apart, the admin
    API's access records (a request that reached the server leaves one, even when refused)."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            counts: dict[str, Any] = {
                table.name: conn.execute(select(func.count()).select_from(table)).scalar_one()
                for table in SQLModel.metadata.sorted_tables
            }
            counts["data_version"] = conn.execute(select(SiteState.data_version)).scalars().all()
            counts[ACCESS_ACTION] = conn.execute(
                select(func.count()).select_from(AuditEvent).where(AuditEvent.action == ACCESS_ACTION)
            ).scalar_one()
    finally:
        engine.dispose()
    return counts


def without_access(counts: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in counts.items() if key not in ("audit_event", ACCESS_ACTION)} | {
        "changes": counts["audit_event"] - counts[ACCESS_ACTION]
    }


def one_line(result: Result, prog: str = "incident") -> str:
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"{prog}"), lines[0]
    return lines[0]


@pytest.fixture
def run(cli_env: dict[str, str]) -> Run:
    runner = CliRunner(env=cli_env)

    def invoke(*args: str) -> Result:
        return runner.invoke(incident_main, list(args), prog_name="incident", catch_exceptions=False)

    return invoke


@pytest.fixture
def populated(run: Run, tmp_path: Path) -> None:
    """Incident 1, maintenance 1 and action item 1: what '١' would have reached."""
    assert run("declare", "-s", "3", "-t", "Slow search", "-c", "web").exit_code == 0
    scheduled = run("maintenance", "schedule", "-t", "DB upgrade", "-c", "api", "--start", "2099-01-01T06:00", "--end", "2099-01-01T08:00")
    assert scheduled.exit_code == 0, scheduled.output
    added = run("action", "add", "1", "--title", "Alert on expiry", "--owner", "bob", "--due", "2026-12-15")
    assert added.exit_code == 0, added.output


# --- ids ------------------------------------------------------------------------------------


ID_COMMANDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "show": ("incident", ("show", "{id}")),
    "show --json": ("incident", ("show", "{id}", "--json")),
    "update": ("incident", ("update", "{id}", "-m", "More.")),
    "resolve": ("incident", ("resolve", "{id}")),
    "reopen": ("incident", ("reopen", "{id}")),
    "ack": ("incident", ("ack", "{id}")),
    "escalate": ("incident", ("escalate", "{id}")),
    "severity": ("incident", ("severity", "{id}", "1")),
    "handover": ("incident", ("handover", "{id}", "--to", "Ana")),
    "pause": ("incident", ("pause", "{id}", "--reason", "their logs")),
    "resume": ("incident", ("resume", "{id}")),
    "plan": ("incident", ("plan", "{id}", "-m", "Fail over.")),
    "rca": ("incident", ("rca", "{id}", "--root-cause", "An expired certificate.")),
    "rca --factor": ("incident", ("rca", "{id}", "--factor", "No expiry alert.")),
    "postmortem": ("incident", ("postmortem", "{id}", "--out-dir", "{tmp}")),
    "action add": ("incident", ("action", "add", "{id}", "--title", "x", "--owner", "bob", "--due", "2026-12-15")),
    "action done": ("action item", ("action", "done", "{id}")),
    "maintenance status": ("maintenance", ("maintenance", "status", "{id}", "completed")),
}


@pytest.mark.usefixtures("populated")
@pytest.mark.parametrize("command", list(ID_COMMANDS))
def test_ids_too_big_or_not_ascii_are_one_line_exit_2(run: Run, cli_env: dict[str, str], tmp_path: Path, command: str) -> None:
    what, template = ID_COMMANDS[command]
    before = snapshot(cli_env["DATABASE_URL"])
    for bad in [*TOO_BIG, NOT_ASCII]:
        args = [part.format(id=bad, tmp=tmp_path / "pm") for part in template]
        line = one_line(run(*args))
        if bad == NOT_ASCII:
            assert line == f"incident: no {what} '{NOT_ASCII}': {what} ids are numbers"
        else:
            assert line == f"incident: no {what} {bad}: {what} ids go up to 2147483647"
    assert snapshot(cli_env["DATABASE_URL"]) == before
    assert not (tmp_path / "pm").exists()


def test_a_component_id_in_another_script_is_unknown(run: Run) -> None:
    assert one_line(run("component", "set", NOT_ASCII, "major_outage")).startswith(f"incident: unknown component '{NOT_ASCII}' (known: api,")


def test_a_severity_in_other_digits_is_refused(run: Run) -> None:
    """'²' passes str.isdigit() and then breaks int(); '١' was read as sev1."""
    for bad in ("²", NOT_ASCII, "sev" + NOT_ASCII):
        assert "is not a severity" in one_line(run("declare", "-s", bad, "-t", "x", "-c", "api"))
    assert run("list").stdout.strip() == "No incidents."


# --- bytes that are not UTF-8, through the installed commands ----------------------------------

UNDECODABLE: list[tuple[list[bytes], dict[str, bytes], str]] = [
    # (the program and its arguments, extra environment, how the refusal names the option)
    ([b"incident", b"declare", b"-s", b"3", b"-t", b"bad\xff", b"-c", b"api"], {}, "--title"),
    ([b"incident", b"declare", b"-s", b"3", b"-t", b"x", b"-c", b"api\xff"], {}, "--component"),
    ([b"incident", b"declare", b"-s", b"3", b"-t", b"x", b"-c", b"api", b"--commander", b"\xffx"], {}, "--commander"),
    ([b"incident", b"update", b"1", b"-m", b"Latin-1 caf\xff"], {}, "--message"),
    ([b"incident", b"--as", b"b\xffb", b"ack", b"1"], {}, "--as"),
    ([b"incident", b"ack", b"1"], {"INCIDENT_USER": b"b\xffb"}, "--as ($INCIDENT_USER)"),
    ([b"incident", b"handover", b"1", b"--to", b"Ana\xff"], {}, "--to"),
    ([b"incident", b"show", b"1\xff"], {}, "INCIDENT_ID"),
    ([b"incident", b"maintenance", b"schedule", b"-t", b"x\xff", b"-c", b"api", b"--start", b"2099-01-01T06:00", b"--end", b"2099-01-01T07:00"], {}, "--title"),
    ([b"statuspage", b"webhooks", b"add", b"http://x/\xff"], {}, "URL"),
    ([b"statuspage", b"webhooks", b"add", b"http://example.com/hook", b"-d", b"\xff"], {}, "--description"),
]


@pytest.mark.slow
def test_bytes_that_are_not_utf8_are_refused_naming_the_option(run: Run, cli_env: dict[str, str]) -> None:
    assert run("declare", "-s", "3", "-t", "Slow search", "-c", "web").exit_code == 0
    before = snapshot(cli_env["DATABASE_URL"])
    base: dict[Any, Any] = {**os.environ, **cli_env}
    # The real programs, all at once: starting each takes most of a second.
    started = [
        (
            subprocess.Popen(
                [str(BIN / argv[0].decode()).encode(), *argv[1:]],
                env={**base, **extra},
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            ),
            argv[0].decode(),
            label,
        )
        for argv, extra, label in UNDECODABLE
    ]
    # Every process collected before any assertion: one left running would warn in a later test.
    finished = [(process.communicate(timeout=120), process.returncode, prog, label) for process, prog, label in started]
    for (out, err), returncode, prog, label in finished:
        assert (returncode, out, b"Traceback" in err) == (2, b"", False), err.decode(errors="replace")
        assert err.decode().splitlines() == [f"{prog}: {label}: must be valid UTF-8 text (it has the byte 0xff)"]
    assert snapshot(cli_env["DATABASE_URL"]) == before


@pytest.mark.slow
def test_the_installed_command_refuses_an_id_past_the_column(run: Run, cli_env: dict[str, str]) -> None:
    done = subprocess.run(
        [str(BIN / "incident"), "update", "2147483648", "-m", "x"], env={**os.environ, **cli_env}, capture_output=True, text=True, timeout=60
    )
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.splitlines() == ["incident: no incident 2147483648: incident ids go up to 2147483647"]


def test_an_undecodable_choice_is_still_one_line(run: Run) -> None:
    run("declare", "-s", "3", "-t", "Slow search", "-c", "web")
    line = one_line(run("update", "1", "--status", "fixed\udcff"))
    assert "'--status'" in line and "is not one of" in line


# --- names and titles: local, remote and the API refuse alike ----------------------------------


@dataclass(frozen=True)
class Door:
    """One field as each door takes it: the command line (local and remote alike) and the API."""

    cli: Callable[[str], list[str]]
    label: str  # how the command line names it
    api: Callable[[str], tuple[str, str, dict[str, Any], dict[str, str]]]  # method, path, body, headers
    field: str  # how the API names it
    limit: int
    text: bool = False  # several lines allowed


def _declared(**extra: Any) -> dict[str, Any]:
    return {"severity": 3, "title": "x", "components": ["api"], **extra}


WINDOW = {"components": ["api"], "scheduled_for": "2099-01-01T11:00:00Z", "scheduled_until": "2099-01-01T13:00:00Z"}
DOORS: dict[str, Door] = {
    "declare --title": Door(
        lambda v: ["declare", "-s", "3", "-t", v, "-c", "api"], "--title", lambda v: ("POST", "/incidents", _declared(title=v), {}), "title", 200
    ),
    "declare --commander": Door(
        lambda v: ["declare", "-s", "3", "-t", "x", "-c", "api", "--commander", v],
        "--commander",
        lambda v: ("POST", "/incidents", _declared(commander=v), {}),
        "commander",
        80,
    ),
    "handover --to": Door(lambda v: ["handover", "1", "--to", v], "--to", lambda v: ("POST", "/incidents/1/handover", {"to": v}, {}), "to", 80),
    "ack --as": Door(lambda v: ["ack", "1", "--as", v], "--as", lambda v: ("POST", "/incidents/1/acknowledge", {"by": v}, {}), "by", 80),
    "--as": Door(
        lambda v: ["--as", v, "update", "1", "-m", "More."],
        "--as",
        lambda v: ("PATCH", "/incidents/1", {"message": "More."}, {"x-incident-user": v}),
        "X-Incident-User",
        80,
    ),
    "maintenance --title": Door(
        lambda v: ["maintenance", "schedule", "-t", v, "-c", "api", "--start", "2099-01-01T06:00", "--end", "2099-01-01T08:00"],
        "--title",
        lambda v: ("POST", "/maintenances", {"title": v, **WINDOW}, {}),
        "title",
        200,
    ),
    "update --message": Door(
        lambda v: ["update", "1", "-m", v], "--message", lambda v: ("PATCH", "/incidents/1", {"message": v}, {}), "message", 10_000, text=True
    ),
    "pause --reason": Door(
        lambda v: ["pause", "1", "--reason", v], "--reason", lambda v: ("POST", "/incidents/1/sla-pause", {"reason": v}, {}), "reason", 500, text=True
    ),
}


def refusals(door: Door) -> dict[str, tuple[str, str]]:
    """Each bad value for the door's field, and the words every door refuses it with."""
    if door.text:
        return {
            "escape sequence": ("\x1b[2J cleared", "must not contain control characters other than line breaks and tabs (it has U+001B)"),
            "too long": ("x" * (door.limit + 1), f"must be at most {door.limit} characters"),
        }
    return {
        "newline": ("Chen\nWei", "must be one line without control characters (it has a line break)"),
        "tab": ("Chen\tWei", "must be one line without control characters (it has a tab)"),
        "500 characters": ("x" * 500, f"must be at most {door.limit} characters"),
    }


@pytest.mark.parametrize("name", list(DOORS))
def test_the_same_text_is_refused_alike_by_every_door(
    name: str, local: Run, remote: Run, server: str, remote_env: dict[str, str], cli_env: dict[str, str]
) -> None:
    door = DOORS[name]
    assert local("declare", "-s", "3", "-t", "Slow search", "-c", "web").exit_code == 0
    url = cli_env["DATABASE_URL"]
    auth = {"authorization": f"Bearer {remote_env['STATUSPAGE_TOKEN']}"}
    for value, problem in refusals(door).values():
        before = snapshot(url)
        here, there = one_line(local(*door.cli(value))), one_line(remote(*door.cli(value)))
        assert here == there == f"incident: {door.label}: {problem}"
        # Unchanged access records too: the remote command line refused before sending anything.
        assert snapshot(url) == before
        method, path, body, headers = door.api(value)
        if "\n" in value and headers:
            continue  # no HTTP header can carry a line break
        response = httpx.request(method, f"{server}{PREFIX}{path}", json=body, headers={**auth, **headers}, timeout=30)
        assert response.status_code == 422, response.text
        assert response.json()["detail"] == f"{door.field}: {problem}"
        assert without_access(snapshot(url)) == without_access(before)


def test_free_text_keeps_line_breaks_and_tabs(local: Run, remote: Run) -> None:
    local("declare", "-s", "3", "-t", "Slow search", "-c", "web")
    pasted = "Seen in the logs:\n\tTimeoutError: upstream\n\tretrying"
    assert local("update", "1", "-m", pasted).exit_code == 0
    assert remote("update", "1", "-m", pasted + " again").exit_code == 0
    bodies = [u["body"] for u in json.loads(local("show", "1", "--json").stdout)["incident_updates"]]
    assert bodies[:2] == [pasted + " again", pasted]


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda ctx: incidents.declare(ctx=ctx, severity=3, title="Slow\tsearch", components=["web"]), "title: must be one line"),
        (lambda ctx: incidents.declare(ctx=ctx, severity=3, title="x", components=["web"], commander="  "), "commander: must not be empty"),
        (lambda ctx: handling.hand_over(ctx=ctx, incident_id=1, to="Chen\nWei"), "to: must be one line without control characters (it has a line break)"),
        (lambda ctx: incidents.acknowledge(ctx=ctx, incident_id=1, by="x" * 81), "by: must be at most 80 characters"),
        (lambda ctx: incidents.post_update(ctx=ctx, incident_id=1, message="\x00"), "message: must not contain control characters"),
    ],
)
def test_the_service_layer_refuses_in_the_same_words(
    make_ctx: Callable[..., WriteContext], db_url: str, change: Callable[[WriteContext], object], words: str
) -> None:
    incidents.declare(ctx=make_ctx(), severity=3, title="Slow search", components=["web"])
    before = snapshot(db_url)
    with pytest.raises(InvalidInput, match=re.escape(words)):
        change(make_ctx())
    assert snapshot(db_url) == before


def test_an_action_item_owner_is_a_name(run: Run) -> None:
    run("declare", "-s", "3", "-t", "Slow search", "-c", "web")
    line = one_line(run("action", "add", "1", "--title", "Alert", "--owner", "bob\nalice", "--due", "2026-12-15"))
    assert line == "incident: --owner: must be one line without control characters (it has a line break)"
    assert run("action", "list").stdout.strip() == "No action items."


# --- wall-clock times a DST switch skips or repeats ---------------------------------------------


def test_a_window_in_the_spring_gap_is_refused_alike_and_says_why(
    local: Run, remote: Run, server: str, remote_env: dict[str, str], cli_env: dict[str, str], make_ctx: Callable[..., WriteContext]
) -> None:
    url = cli_env["DATABASE_URL"]
    before = snapshot(url)
    args = ("maintenance", "schedule", "-t", "DB upgrade", "-c", "api", "--start", "2026-03-08T02:30", "--end", "2026-03-08T03:30")
    expected = "incident: --start 2026-03-08T02:30 does not exist in America/New_York (clocks go forward from 02:00 to 03:00)"
    assert one_line(local(*args)) == one_line(remote(*args)) == expected
    # Unchanged but for the remote command line's one read: it asks the server for the page's time zone.
    assert without_access(snapshot(url)) == without_access(before)
    # What the remote command line sent before: the readings at the offsets Python guessed, one instant.
    window = {"title": "DB upgrade", "components": ["api"], "scheduled_for": "2026-03-08T02:30:00-05:00", "scheduled_until": "2026-03-08T03:30:00-04:00"}
    auth = {"authorization": f"Bearer {remote_env['STATUSPAGE_TOKEN']}"}
    response = httpx.post(f"{server}{PREFIX}/maintenances", json=window, headers=auth, timeout=30)
    assert (response.status_code, response.json()["detail"]) == (422, "scheduled_until must be after scheduled_for")
    # And what the local one handed the service: the same readings, in the page's zone, which
    # compare by wall clock (02:30 < 03:30) while naming one instant.
    zone = ZoneInfo("America/New_York")
    with pytest.raises(InvalidInput, match="scheduled_until must be after scheduled_for"):
        maintenance.schedule(
            ctx=make_ctx(), title="DB upgrade", components=["api"],
            scheduled_for=datetime(2026, 3, 8, 2, 30, tzinfo=zone), scheduled_until=datetime(2026, 3, 8, 3, 30, tzinfo=zone),
        )
    assert without_access(snapshot(url)) == without_access(before)


def test_an_ambiguous_time_is_refused_alike_and_an_offset_settles_it(local: Run, remote: Run, cli_env: dict[str, str]) -> None:
    url = cli_env["DATABASE_URL"]
    before = snapshot(url)
    window = ["maintenance", "schedule", "-t", "DB upgrade", "-c", "api"]
    args = [*window, "--start", "2026-11-01T01:30", "--end", "2026-11-01T03:00"]
    expected = (
        "incident: --start 2026-11-01T01:30 is ambiguous in America/New_York (clocks go back from 02:00 to 01:00, "
        "so it happens twice); give the offset: 2026-11-01T01:30-04:00 or 2026-11-01T01:30-05:00"
    )
    assert one_line(local(*args)) == one_line(remote(*args)) == expected
    assert without_access(snapshot(url)) == without_access(before)  # the remote side only read the time zone
    settled = [*window, "--start", "2026-11-01T01:30-05:00", "--end", "2026-11-01T03:00"]
    here, there = local(*settled), remote(*settled)
    assert (here.exit_code, there.exit_code) == (0, 0), here.output + there.output
    assert here.stdout == "Scheduled maintenance 1: 2026-11-01 01:30:00 EST – 2026-11-01 03:00:00 EST\n"
    assert there.stdout == here.stdout.replace("maintenance 1", "maintenance 2")


@pytest.mark.parametrize(
    ("zone", "text", "words"),
    [
        ("America/New_York", "2026-03-08T02:00", "does not exist in America/New_York (clocks go forward from 02:00 to 03:00)"),
        ("America/New_York", "2026-03-08T02:59:59", "does not exist"),
        ("America/New_York", "2026-11-01T01:00", "is ambiguous in America/New_York (clocks go back from 02:00 to 01:00"),
        ("Europe/Madrid", "2026-03-29T02:15", "does not exist in Europe/Madrid (clocks go forward from 02:00 to 03:00)"),
        ("Europe/Madrid", "2026-10-25T02:15", "give the offset: 2026-10-25T02:15+02:00 or 2026-10-25T02:15+01:00"),
        ("Australia/Lord_Howe", "2026-10-04T02:10", "(clocks go forward from 02:00 to 02:30)"),
    ],
)
def test_readings_a_switch_skips_or_repeats_are_refused(zone: str, text: str, words: str) -> None:
    now = datetime(2026, 12, 1, tzinfo=UTC)
    with pytest.raises(InvalidInput, match=f"^--at {re.escape(text)} .*{re.escape(words)}"):
        parse_when(text, now=now, zone=zone, field="at")


@pytest.mark.parametrize(
    ("text", "instant"),
    [
        ("2026-03-08T01:59", "2026-03-08T06:59:00+00:00"),
        ("2026-03-08T03:00", "2026-03-08T07:00:00+00:00"),
        ("2026-11-01T00:59", "2026-11-01T04:59:00+00:00"),
        ("2026-11-01T02:00", "2026-11-01T07:00:00+00:00"),
        ("2026-11-01T01:30-04:00", "2026-11-01T05:30:00+00:00"),
        ("2026-11-01T01:30-05:00", "2026-11-01T06:30:00+00:00"),
    ],
)
def test_readings_around_a_switch_name_one_instant(text: str, instant: str) -> None:
    now = datetime(2026, 12, 1, tzinfo=UTC)
    assert parse_when(text, now=now, zone="America/New_York", field="at").astimezone(UTC).isoformat() == instant


def test_a_detection_time_in_the_gap_is_refused(run: Run) -> None:
    line = one_line(run("declare", "-s", "3", "-t", "x", "-c", "api", "--detected-at", "2026-03-08T02:30"))
    assert line == "incident: --detected-at 2026-03-08T02:30 does not exist in America/New_York (clocks go forward from 02:00 to 03:00)"


# --- a database file that is not there ----------------------------------------------------------


@pytest.mark.slow
def test_a_missing_database_is_named_and_not_created(config_file: Path, tmp_path: Path) -> None:
    """Run from the wrong directory with a relative URL, the command says where it looked."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "STATUSPAGE_CONFIG": str(config_file), "DATABASE_URL": "sqlite:///var/statuspage.db", "INCIDENT_USER": "alice"}
    done = subprocess.run([str(BIN / "incident"), "list"], cwd=elsewhere, env=env, capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout) == (2, ""), done.stderr
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"incident: no database at {elsewhere / 'var' / 'statuspage.db'}: check DATABASE_URL")
    assert line.endswith("create it with: statuspage db upgrade")
    assert list(elsewhere.iterdir()) == []


@pytest.mark.parametrize(
    ("main", "prog", "args"),
    [
        (incident_main, "incident", ["list"]),
        (incident_main, "incident", ["declare", "-s", "1", "-t", "x", "-c", "api"]),
        (incident_main, "incident", ["show", "1"]),
        (incident_main, "incident", ["component", "list"]),
        (incident_main, "incident", ["token", "create", "--name", "ci", "--scope", "read"]),
        (statuspage_main, "statuspage", ["webhooks", "list"]),
        (statuspage_main, "statuspage", ["db", "seed-demo"]),
        (statuspage_main, "statuspage", ["audit"]),
    ],
)
def test_no_command_creates_the_database_but_db_upgrade(config_file: Path, main: Any, prog: str, args: list[str]) -> None:
    """Without DATABASE_URL the database is beside the configuration file, in var/."""
    env = {"STATUSPAGE_CONFIG": str(config_file), "DATABASE_URL": None, "INCIDENT_USER": "alice", "NO_COLOR": "1"}
    runner = CliRunner(env=env)
    where = config_file.parent / "var" / "statuspage.db"
    refused = runner.invoke(main, args, prog_name=prog, catch_exceptions=False)
    assert one_line(refused, prog).startswith(f"{prog}: no database at {where}: ")
    assert not where.parent.exists()
    upgraded = runner.invoke(statuspage_main, ["db", "upgrade"], prog_name="statuspage", catch_exceptions=False)
    assert upgraded.exit_code == 0 and "migrated from empty to" in upgraded.stdout, upgraded.output
    assert where.is_file()
    assert runner.invoke(incident_main, ["list"], prog_name="incident").stdout.strip() == "No incidents."
