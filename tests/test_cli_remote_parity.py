"""Every ``incident`` command prints the same in remote mode as in local mode.

Two databases start alike: the command line works on one directly (local mode) and on the other
through the admin API of a real uvicorn server (remote mode). Both modes, and the server, read one
frozen clock, so the same commands, run in the same order, must print the same bytes on stdout
and stderr: confirmations, the paging lines, tables, JSON, reports, and refusals in the same
words with the same exit status. What names the actor (``alice`` here, ``alice via token:ci``
there) differs by design, so ``show`` and the postmortem document are compared on one database,
read in both modes after the changes.

Only ``watch`` (the worker), ``token`` (tokens are made where the data is), ``report
import-kpis`` and ``report import-accounts`` (imports into the database directly), ``playbook``
(files only), ``alerts`` and ``report weekly`` (which work on the database directly) are left to local mode; the end of :func:`test_every_change_prints_the_same_in_both_modes`
holds the list to that.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result
from sqlalchemy import text
from sqlalchemy.engine import make_url

from incident_cli.main import main as incident_main
from incident_cli.postmortem_cmds import keep_narratives
from incident_cli.remote import RemoteBackend
from statuspage.clock import FixedClock
from statuspage.context import WriteContext
from statuspage.db.engine import normalise_url
from statuspage.incidents import service as incidents
from statuspage.postmortems import document
from statuspage.runtime import Runtime
from statuspage.settings import Settings
from tests.test_cli_remote import one_line_error, serving

Run = Callable[..., Result]
LOCAL_ONLY = {"watch", "token", "playbook", "report import-kpis", "report import-accounts", "report weekly", "alerts"}
KPIS = (
    "month,fcr_percent,csat,nps,abandonment_percent,backlog_per_agent\n"
    "2026-10,72.5,4.6,42,6.5,18\n"
    "2026-11,85,4.7,35,3,30\n"
)


@pytest.fixture
def frozen(clock: FixedClock, monkeypatch: pytest.MonkeyPatch) -> FixedClock:
    """One clock for the command line in both modes and for the server."""
    monkeypatch.setattr("statuspage.runtime.SystemClock", lambda: clock)
    monkeypatch.setattr(RemoteBackend, "now", lambda self: clock.now())
    return clock


@pytest.fixture
def twin_url(request: pytest.FixtureRequest, db_url: str, tmp_path: Path) -> Iterator[str]:
    """A second freshly migrated database on the same backend as ``db_url``."""
    if db_url.startswith("sqlite"):
        target = tmp_path / "twin" / "statuspage.db"
        target.parent.mkdir()
        shutil.copy(request.getfixturevalue("_sqlite_template"), target)
        yield f"sqlite:///{target}"
        return
    admin, template = request.getfixturevalue("_pg_admin")
    name = f"sp_twin_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    yield make_url(normalise_url(db_url)).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _runner(env: dict[str, str]) -> Run:
    runner = CliRunner(env=env)

    def invoke(*args: str) -> Result:
        return runner.invoke(incident_main, list(args), prog_name="incident", catch_exceptions=False)

    return invoke


@pytest.fixture
def server(settings: Settings, frozen: FixedClock) -> Iterator[str]:
    with serving(settings, frozen) as url:
        yield url


@pytest.fixture
def on_server_db(cli_env: dict[str, str], frozen: FixedClock) -> Run:
    """Local mode on the database the server runs on: for reading what remote mode changed."""
    return _runner(cli_env)


@pytest.fixture
def here(cli_env: dict[str, str], twin_url: str, frozen: FixedClock) -> Run:
    """Local mode on a database of its own, the twin of the server's."""
    run = _runner({**cli_env, "DATABASE_URL": twin_url})
    assert run("component", "list").exit_code == 0  # components synced at the same moment as the server's
    return run


@pytest.fixture
def there(on_server_db: Run, server: str, cli_env: dict[str, str], tmp_path: Path) -> Run:
    made = on_server_db("token", "create", "--name", "ci", "--scope", "write")
    assert made.exit_code == 0, made.output
    return _runner(
        {
            **cli_env,
            # Nothing local to open: whatever the command prints came from the server.
            "STATUSPAGE_CONFIG": str(tmp_path / "absent.yaml"),
            "DATABASE_URL": f"sqlite:///{tmp_path / 'absent' / 'none.db'}",
            "STATUSPAGE_URL": server,
            "STATUSPAGE_TOKEN": made.stdout.strip(),
        }
    )


class Both:
    """Runs each command in both modes and holds them to the same output; remembers what ran."""

    def __init__(self, here: Run, there: Run, clock: FixedClock) -> None:
        self.here, self.there, self.clock = here, there, clock
        self.ran: set[str] = set()

    def __call__(self, *args: str, code: int = 0) -> Result:
        local, remote = self.here(*args), self.there(*args)
        assert local.exit_code == code, (args, local.output)
        assert (remote.exit_code, remote.stdout, remote.stderr) == (local.exit_code, local.stdout, local.stderr), args
        self.ran.add(command_path(args))
        self.clock.advance(seconds=61)
        return remote


def command_path(args: tuple[str, ...]) -> str:
    """``action add`` of ``("action", "add", "2", ...)``: the command, without its arguments."""
    group: Any = incident_main
    words = []
    for word in args:
        command = group.commands.get(word) if isinstance(group, click.Group) else None
        if command is None:
            break
        words.append(word)
        group = command
    return " ".join(words)


def leaf_commands(group: click.Group, prefix: str = "") -> set[str]:
    found: set[str] = set()
    ctx = click.Context(group)
    # Every command, the lazily imported ones included (``commands`` holds only those loaded).
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None, name
        path = f"{prefix}{name}"
        if isinstance(command, click.Group):
            found |= leaf_commands(command, path + " ")
        else:
            found.add(path)
    return found


@pytest.fixture
def both(here: Run, there: Run, frozen: FixedClock) -> Both:
    return Both(here, there, frozen)


def test_every_change_prints_the_same_in_both_modes(both: Both, on_server_db: Run, tmp_path: Path) -> None:
    # Declaring pages through the playbook, chosen or named; the paging lines are on stderr.
    declared = both("declare", "-s", "2", "-t", "Slow dashboards", "-c", "web", "--playbook", "sev2")
    assert "Paged tier 1: Ana Ruiz, Ben Okafor" in declared.stderr and "incident ack 1" in declared.stderr
    both("declare", "-s", "1", "-t", "Checkout <failing> [b]now[/b]", "-c", "api", "-c", "checkout=partial_outage",
         "-m", "Payments fail.", "--detected-at", "5m ago")
    both("declare", "-s", "3", "-t", "Typo on the pricing page", "-c", "web", "--json")
    both("declare", "-s", "4", "-t", "Minor", "-c", "web", "--playbook", "builtin", "--impact", "minor")
    both("declare", "-s", "1", "-t", "x", "-c", "api", "--playbook", "nope", code=2)
    both("declare", "-s", "1", "-t", "x", "-c", "nope", code=2)
    # The person declaring is not paged for it, unless they ask.
    mine = both("--as", " ana ruiz", "declare", "-s", "1", "-t", "Mine", "-c", "web")
    assert "not paging you (Ana Ruiz): you declared it; --page-me to be paged" in mine.stderr
    assert "Paged tier 1: Ben Okafor\n" in mine.stderr
    paged = both("--as", "Ana Ruiz", "declare", "-s", "1", "-t", "Mine too", "-c", "web", "--page-me")
    assert "Paged tier 1: Ana Ruiz, Ben Okafor" in paged.stderr and "not paging" not in paged.stderr

    # Severity and escalation say whom they paged, on stdout.
    raised = both("severity", "1", "sev1")
    assert raised.stdout.splitlines()[:2] == [
        "Incident 1 is now sev1 (was sev2, impact critical); playbook sev1 runs from now",
        "Paged tier 1: Ana Ruiz, Ben Okafor",
    ]
    both("severity", "1", "1", code=2)  # already sev1
    both("severity", "1", "9", code=2)  # not a severity
    both("severity", "3", "P2")  # raised: sev2's playbook runs
    both("severity", "2", "3")  # lowered: the escalation running stays
    escalated = both("escalate", "1")
    assert escalated.stdout.splitlines()[:2] == ["Incident 1 escalated to tier 2", "Paged tier 2: Chen Wei, Dana Kowalski"]
    both("escalate", "1", "--to-tier", "3")
    both("escalate", "1", "--to-tier", "7", code=2)
    both("escalate", "3")
    both("ack", "1", "--as", "Chen Wei")
    both("ack", "1")

    # Corrections: the title, an update's text, withdrawing from the public and back.
    both("edit", "2", "--title", "Checkout failing for <some> cards")
    both("edit", "2", "--update", "1", "-m", "Payments fail for some cards.")
    both("edit", "2", "--update", "9", "-m", "x", code=2)
    both("edit", "2", "--title", "x", "--update", "1", code=2)
    both("edit", "2", code=2)
    retracted = both("retract", "3", "--reason", "Declared on the wrong page.")
    assert retracted.stdout.startswith("Incident 3 is retracted, off the status page now: Typo on the pricing page\n")
    both("retract", "3", "--reason", "again", code=2)
    both("publish", "3")
    both("publish", "3", code=2)

    # The incident's public life, and how it is handled.
    both("update", "2", "--status", "identified", "-m", "Bad deploy.", "-c", "web=degraded_performance")
    both("update", "2", "-m", "Rolling back.", "--at", "1m ago")
    both("handover", "2", "--to", "Ana Ruiz")
    both("pause", "2", "--reason", "customer to send <logs>")
    both("pause", "2", "--reason", "again", code=2)
    both.clock.advance(minutes=10)
    both("resume", "2")
    both("plan", "2", "-m", "Roll back the <deploy>, then renew the cert by 12:00.")
    both("plan", "2", "-m", "Renew the cert first.")
    both("rca", "2", "--root-cause", "Expired cert.", "--remediation", "Automate renewal.")
    both("rca", "2", "--factor", "Muted channel", "--factor", "No expiry alert", "--why", "Cert expired", "--why", "Renewal manual",
         "--detection-gap", "20 minutes", "--response-gap", "Paged by email")
    both("rca", "2", "--factor", "Nobody owned it", "--root-cause", "Expired cert, again.")
    both("rca", "2", "--factor", "   ", code=2)
    both("rca", "2", code=2)

    # Action items.
    both("action", "add", "2", "-t", "Alert on <expiry>", "--owner", "bob", "--due", "2026-11-01")
    both("action", "add", "2", "-t", "Write runbook", "--owner", "Zoë", "--due", "2026-12-15")
    both("action", "add", "2", "-t", "x", "--owner", "bob", "--due", "soon", code=2)
    for args in (("list",), ("list", "--open"), ("list", "--overdue")):
        both("action", *args)
    both("action", "done", "1")
    both("action", "done", "1", code=2)
    both("action", "list", "--overdue")

    both("resolve", "2", "-m", "Fixed.")
    both("escalate", "2", code=2)
    both("severity", "2", "1", code=2)
    both("update", "2", "-m", "more", code=2)
    both("reopen", "2", "-m", "Back again.")
    both("resolve", "2")
    both("resolve", "2", code=2)

    both("component", "set", "web", "degraded_performance")
    both("component", "set", "web", "operational")
    both("component", "list")
    both("maintenance", "schedule", "-t", "DB upgrade", "-c", "api", "--start", "2026-12-01T06:00", "--end", "2026-12-01T08:00")
    both("maintenance", "status", "1", "in_progress")
    both("maintenance", "status", "1", "completed", "-m", "Done.")
    for args in (("list",), ("list", "--open"), ("list", "--limit", "2"), ("list", "--json")):
        both(*args)
    published = both("postmortem", "2", "--publish", "--out-dir", str(tmp_path / "pm"))
    assert published.stdout.splitlines()[1] == "Postmortem published on http://127.0.0.1:8000/incidents/2"

    # The monthly report, in every format, written and posted, with the same KPIs imported into
    # both databases.
    source = tmp_path / "kpis.csv"
    source.write_text(KPIS)
    assert both.here("report", "import-kpis", str(source)).exit_code == 0
    assert on_server_db("report", "import-kpis", str(source)).exit_code == 0
    for fmt in ("md", "html", "csv", "json"):
        both("report", "monthly", "--month", "2026-11", "--format", fmt)
    out = tmp_path / "report.html"
    both("report", "monthly", "--month", "2026-11", "--format", "html", "--out", str(out))
    assert out.read_text().startswith("<!")
    posted = both("report", "monthly", "--month", "2026-11", "--post")
    assert posted.stderr.startswith("Queued for Slack: 2026-11: ")
    both("report", "monthly", "--month", "2026-13", code=2)

    # Every command of `incident --help` that touches incident data ran in both modes above, but
    # `show`, compared on one database below; a new command must be added here (or to LOCAL_ONLY).
    expected = {path for path in leaf_commands(incident_main) if path not in LOCAL_ONLY and path.split()[0] not in LOCAL_ONLY}
    assert expected - both.ran == {"show"}


def test_unknown_ids_are_refused_alike(both: Both, tmp_path: Path) -> None:
    """Every command that names something refuses an unknown one in one line, exit 2, in both modes."""
    refusals = [
        ("declare", "-s", "1", "-t", "x", "-c", "api", "--playbook", "nope"),
        ("update", "42", "-m", "x"),
        ("resolve", "42"),
        ("reopen", "42"),
        ("show", "42"),
        ("show", "42", "--json"),
        ("ack", "42"),
        ("handover", "42", "--to", "bob"),
        ("pause", "42", "--reason", "x"),
        ("resume", "42"),
        ("plan", "42", "-m", "x"),
        ("escalate", "42"),
        ("escalate", "abc"),
        ("severity", "42", "1"),
        ("rca", "42", "--root-cause", "x"),
        ("rca", "42", "--factor", "x"),
        ("action", "add", "42", "-t", "x", "--owner", "bob", "--due", "2026-12-15"),
        ("action", "done", "42"),
        ("action", "done", "x"),
        ("postmortem", "42", "--out-dir", str(tmp_path / "pm")),
        ("postmortem", "42", "--publish", "--out-dir", str(tmp_path / "pm")),
        ("component", "set", "nope", "operational"),
        ("maintenance", "status", "42", "completed"),
        ("edit", "42", "--title", "x"),
        ("edit", "42", "--update", "1", "-m", "x"),
        ("retract", "42", "--reason", "x"),
        ("publish", "42"),
    ]
    for args in refusals:
        result = both(*args, code=2)
        line = one_line_error(result, "", 2)
        assert "Traceback" not in line
    assert not (tmp_path / "pm").exists()


def test_reading_what_remote_mode_changed(both: Both, on_server_db: Run, tmp_path: Path) -> None:
    """Read commands print the same in both modes on one database: the timeline, the audit log
    with who did what, the SLA table and the postmortem document."""
    there = both.there
    for args in (
        ("declare", "-s", "1", "-t", "Checkout failing", "-c", "api", "--detected-at", "5h ago"),  # a breach to analyse
        ("declare", "-s", "2", "-t", "Slow <search>", "-c", "web"),
        ("severity", "2", "1"),
        ("escalate", "1"),
        ("ack", "1", "--as", "Chen Wei"),
        ("pause", "2", "--reason", "customer logs"),
        ("rca", "1", "--root-cause", "Expired cert.", "--factor", "Muted channel", "--why", "Cert expired"),
        ("action", "add", "1", "-t", "Alert on expiry", "--owner", "bob", "--due", "2026-11-01"),
        ("resolve", "1", "-m", "Fixed."),
    ):
        assert there(*args).exit_code == 0, args
        both.clock.advance(minutes=3)
    for args in (("show", "1"), ("show", "2"), ("show", "2", "--json"), ("list",), ("list", "--json"), ("component", "list"),
                 ("action", "list", "--overdue"), ("report", "monthly", "--month", "2026-11", "--format", "json")):
        mine, theirs = on_server_db(*args), there(*args)
        assert theirs.exit_code == mine.exit_code == 0, (args, theirs.output)
        assert theirs.stdout == mine.stdout, args
    shown = there("show", "1").stdout
    assert "alice via token:ci" in shown and "Chen Wei" in shown and "escalated" in shown

    # The postmortem: rendered by the server, the narrative a person wrote here kept.
    out_dir = tmp_path / "pm"
    first = there("postmortem", "1", "--out-dir", str(out_dir))
    (path,) = out_dir.iterdir()
    assert first.stdout == f"{path}\n"
    written = path.read_text().replace("_What happened, in a few sentences: write it here._", "A person wrote this.\n\nTwo | paragraphs.")
    path.write_text(written)
    assert there("postmortem", "1", "--out-dir", str(out_dir)).exit_code == 0
    remote_text = path.read_text()
    assert "<!-- narrative:summary -->\nA person wrote this.\n\nTwo | paragraphs.\n<!-- /narrative -->" in remote_text
    assert on_server_db("postmortem", "1", "--out-dir", str(out_dir)).stdout == first.stdout
    assert path.read_text() == remote_text
    assert "Declared by alice via token:ci" in remote_text and "- **Resolution:** promised 4 hours" in remote_text
    assert "- Muted channel" in remote_text and "1. Why? Cert expired" in remote_text and "| Alert on expiry | bob |" in remote_text

    published = there("postmortem", "1", "--publish", "--out-dir", str(out_dir))
    assert published.stdout.splitlines() == [str(path), "Postmortem published on http://127.0.0.1:8000/incidents/1"]
    remote_text = path.read_text()
    assert "- **Postmortem:** published 2026-11-25 " in remote_text and "A person wrote this." in remote_text
    assert on_server_db("postmortem", "1", "--out-dir", str(out_dir)).exit_code == 0
    assert path.read_text() == remote_text


def test_a_document_rendered_elsewhere_keeps_the_narrative_as_render_does(ctx: WriteContext, runtime: Runtime) -> None:
    incident = incidents.declare(ctx=ctx, severity=2, title="Slow", components=["web"])
    config = runtime.settings.config
    facts = document.gather(ctx.session, config, incident.id or 0, runtime.clock.now())
    fresh = document.render(facts, config)
    for kept in (
        {},
        {"summary": "One line.\n"},
        {"summary": "Trailing lines.\n\n\n", "lessons": ""},
        {"impact": "No newline", "unknown": "ignored\n"},
        {"summary": "<!-- narrative:impact -->\nnested\n", "impact": "x\n"},
    ):
        assert keep_narratives(fresh, kept) == document.render(facts, config, kept), kept
