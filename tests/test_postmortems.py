"""Postmortems: contributing factors, why-chains, gaps, action items, the Markdown document and
the published postmortem on the public incident page."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from click.testing import CliRunner, Result
from sqlmodel import select
from starlette.testclient import TestClient

from incident_cli.main import main as incident_main
from statuspage.clock import FixedClock
from statuspage.context import WriteContext
from statuspage.db.engine import make_engine, new_session
from statuspage.db.models import AuditEvent
from statuspage.errors import Conflict, InvalidInput
from statuspage.incidents import handling
from statuspage.incidents import service as incidents
from statuspage.postmortems import document
from statuspage.postmortems import service as postmortems
from statuspage.runtime import Runtime
from statuspage.web.app import create_app

START = datetime(2026, 11, 10, 15, 0, tzinfo=UTC)


def late_incident(ctx: WriteContext, clock: FixedClock, title: str = "Checkout down") -> int:
    """Sev-1 detected 20 minutes before it was declared: first response (15 min) breached by 5
    minutes; acknowledged at once and resolved 2 hours later, in time (but with no update in
    between, so past its 30-minute update cadence). Resolving it adds its service-recovery items."""
    clock.at = START
    incident = incidents.declare(ctx=ctx, severity=1, title=title, components=["checkout"], detected_at=START - timedelta(minutes=20))
    incidents.acknowledge(ctx=ctx, incident_id=incident.id or 0)
    clock.at = START + timedelta(hours=2)
    incidents.resolve(ctx=ctx, incident_id=incident.id or 0, message="Fixed.")
    return incident.id or 0


# Service -----------------------------------------------------------------------------------


def test_every_change_is_audited(ctx: WriteContext, clock: FixedClock) -> None:
    key = late_incident(ctx, clock)
    postmortems.add_factor(ctx=ctx, incident_id=key, text="Alerts routed to a muted channel")
    postmortems.set_why_chain(ctx=ctx, incident_id=key, whys=["The cert expired", "Nobody renewed it"])
    postmortems.set_gaps(ctx=ctx, incident_id=key, detection_gap="20 minutes unseen", response_gap="No runbook")
    item = postmortems.add_action(ctx=ctx, incident_id=key, title="Alert on expiry", owner="bob", due_on="2026-12-15")
    postmortems.complete_action(ctx=ctx, action_id=item.id or 0)
    postmortems.publish(ctx=ctx, incident_id=key)

    events = ctx.session.exec(select(AuditEvent).order_by(AuditEvent.id)).all()  # type: ignore[arg-type]
    actions = [e.action for e in events if (e.after or {}).get("source") != "service_recovery"]
    for name in ("postmortem.factor", "postmortem.why_chain", "postmortem.gaps", "action_item.add", "action_item.done", "postmortem.publish"):
        assert actions.count(name) == 1, name
    row = postmortems.get_postmortem(session=ctx.session, incident_id=key)
    assert row is not None and row.why_chain == ["The cert expired", "Nobody renewed it"]
    assert (row.detection_gap, row.response_gap, row.published_by) == ("20 minutes unseen", "No runbook", "alice")
    assert postmortems.is_published(row)
    with pytest.raises(Conflict):
        postmortems.complete_action(ctx=ctx, action_id=item.id or 0)


def test_bad_input_is_refused(ctx: WriteContext, clock: FixedClock) -> None:
    key = late_incident(ctx, clock)
    with pytest.raises(InvalidInput, match="YYYY-MM-DD"):
        postmortems.add_action(ctx=ctx, incident_id=key, title="x", owner="bob", due_on="next week")
    with pytest.raises(InvalidInput):
        postmortems.add_factor(ctx=ctx, incident_id=key, text="   ")
    with pytest.raises(InvalidInput):
        postmortems.set_gaps(ctx=ctx, incident_id=key)


def test_open_actions_past_due(ctx: WriteContext, clock: FixedClock) -> None:
    key = late_incident(ctx, clock)
    late = postmortems.add_action(ctx=ctx, incident_id=key, title="Late", owner="bob", due_on=date(2026, 11, 20))
    postmortems.add_action(ctx=ctx, incident_id=key, title="Due today", owner="bob", due_on=date(2026, 11, 25))
    done = postmortems.add_action(ctx=ctx, incident_id=key, title="Done", owner="bob", due_on=date(2026, 11, 1))
    postmortems.complete_action(ctx=ctx, action_id=done.id or 0)
    overdue = postmortems.open_actions_past_due(ctx.session, datetime(2026, 11, 25, 12, tzinfo=UTC))
    # The resolution's service recovery (due 13 and 18 November, 2 and 5 business days after
    # Tuesday the 10th, Veterans Day off) is overdue as well.
    assert [item.title for item in overdue] == ["Contact affected Premium accounts", "Issue SLA credits", "Late"]
    assert overdue[-1].id == late.id


# Document ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("title", "slug"),
    [
        ("../../etc <script>", "etc-script"),
        ("Checkout down: TLS / certs", "checkout-down-tls-certs"),
        ("Zürich café outage", "zurich-cafe-outage"),
        ("..", "incident-7"),
        ("日本語", "incident-7"),
    ],
)
def test_slug_is_a_safe_file_name(title: str, slug: str) -> None:
    assert document.slugify(title, "incident-7") == slug


def test_document_has_sections_sla_table_and_one_analysis(ctx: WriteContext, clock: FixedClock, runtime: Runtime) -> None:
    key = late_incident(ctx, clock)
    handling.record_root_cause(ctx=ctx, incident_id=key, root_cause="An expired certificate.", remediation="Expiry alerts.")
    postmortems.add_factor(ctx=ctx, incident_id=key, text="Alert | muted")
    postmortems.set_why_chain(ctx=ctx, incident_id=key, whys=["The cert expired", "Renewal was manual"])
    postmortems.set_gaps(ctx=ctx, incident_id=key, detection_gap="Found by customers", response_gap="Pager went to email")
    postmortems.add_action(ctx=ctx, incident_id=key, title="Automate renewal", owner="bob", due_on="2026-12-15")
    config = runtime.settings.config
    text = document.render(document.gather(ctx.session, config, key, clock.now()), config)
    lines = text.splitlines()
    headings = [line for line in lines if line.startswith("#")]
    assert headings == [
        f"# Postmortem: Checkout down (incident {key})",
        "## Summary",
        "## Customer impact",
        "### Components × minutes",
        "### Affected accounts and credits",
        "## Timeline",
        "## Paging",
        "## SLA evaluation",
        "## Root-cause analysis",
        "### Breached targets",
        "### Root cause",
        "### Contributing factors",
        "### Why-chain",
        "### Detection gap",
        "### Response gap",
        "### Remediation actions",
        "## Lessons learned",
    ]
    table = lines[lines.index("## SLA evaluation") + 2 : lines.index("## SLA evaluation") + 7]
    assert table == [
        "| Target | Promised | Actual | Result |",
        "| --- | --- | --- | --- |",
        "| First response | 15 minutes | 20 minutes | breached by 5 minutes |",
        "| Escalation acknowledged | 1 hour | 20 minutes | met |",
        "| Resolution | 4 hours | 2 hours 20 minutes | met |",
    ]
    assert "- **Affected components:** Checkout and payments" in lines
    assert "- **Duration:** 2 hours 20 minutes" in lines
    assert "- Alert | muted" in lines
    assert ["1. Why? The cert expired", "2. Why? Renewal was manual"] == [line for line in lines if "Why?" in line]
    assert any(re.fullmatch(r"\| \d+ \| Automate renewal \| bob \| 2026-12-15 \| open \|", line) for line in lines)
    assert "An expired certificate." in lines and "Found by customers" in lines and "Pager went to email" in lines
    timeline = "\n".join(lines[lines.index("## Timeline") : lines.index("## SLA evaluation")])
    assert "Declared by alice" in timeline and "Acknowledged by alice" in timeline
    assert "Paged tier 1: Ana Ruiz (Slack, Phone, Email), Ben Okafor (Slack, Email)" in timeline
    assert "**resolved** update by alice: Fixed." in timeline
    # Nothing delivered these pages (no worker ran): each person's line says what became of each.
    paging = "\n".join(lines[lines.index("## Paging") : lines.index("## SLA evaluation")])
    assert (
        "- Ana Ruiz (tier 1) — Slack: queued (not sent yet), Phone: not sent (no channel for phone contacts), "
        "Email: queued (not sent yet)"
    ) in paging


def test_the_analysis_says_so_when_every_target_was_met(ctx: WriteContext, clock: FixedClock, runtime: Runtime) -> None:
    clock.at = START
    incident = incidents.declare(ctx=ctx, severity=2, title="Slow API", components=["api"])
    incidents.acknowledge(ctx=ctx, incident_id=incident.id or 0)
    clock.at = START + timedelta(minutes=30)
    incidents.resolve(ctx=ctx, incident_id=incident.id or 0, message="Fixed.")
    config = runtime.settings.config
    text = document.render(document.gather(ctx.session, config, incident.id or 0, clock.now()), config)
    assert "breached by" not in text
    assert "## Root-cause analysis\n\n### Breached targets\n\n_No SLA target was breached._\n" in text
    assert "## SLA evaluation" in text and "## Lessons learned" in text


# Command line ------------------------------------------------------------------------------


@pytest.fixture
def run(cli_env: dict[str, str]):  # type: ignore[no-untyped-def]
    runner = CliRunner(env=cli_env)

    def invoke(*args: str) -> Result:
        return runner.invoke(incident_main, list(args), prog_name="incident", catch_exceptions=False)

    return invoke


@pytest.fixture
def cli_session(cli_env: dict[str, str]) -> Iterator[object]:
    engine = make_engine(cli_env["DATABASE_URL"])
    yield lambda: new_session(engine)
    engine.dispose()


def test_rca_records_factors_whys_and_gaps(run, cli_session) -> None:  # type: ignore[no-untyped-def]
    assert run("declare", "-s", "1", "-t", "Checkout failing", "-c", "api").exit_code == 0
    done = run("rca", "1", "--factor", "Muted channel", "--factor", "No expiry alert", "--why", "Cert expired",
               "--why", "Renewal manual", "--detection-gap", "20 minutes", "--response-gap", "Paged by email")
    assert done.exit_code == 0, done.output
    assert done.stdout.strip() == "Incident 1: postmortem analysis recorded"
    both = run("rca", "1", "--root-cause", "Expired cert.", "--why", "Only this")
    assert both.exit_code == 0, both.output
    assert "root cause and remediation published" in both.stdout
    with cli_session() as session:
        assert [f.text for f in postmortems.factors(session=session, incident_id=1)] == ["Muted channel", "No expiry alert"]
        row = postmortems.get_postmortem(session=session, incident_id=1)
        assert row is not None and row.why_chain == ["Only this"]
        assert (row.detection_gap, row.response_gap) == ("20 minutes", "Paged by email")
        assert incidents.get(session=session, incident_id=1).root_cause == "Expired cert."
    refused = run("rca", "1")
    assert refused.exit_code == 2 and "give a root cause, a remediation or both" in refused.stderr


def test_action_add_list_done(run) -> None:  # type: ignore[no-untyped-def]
    run("declare", "-s", "2", "-t", "Slow API", "-c", "api")
    added = run("action", "add", "1", "--title", "Add <b>alerts</b>", "--owner", "bob", "--due", "2001-02-03")
    assert added.exit_code == 0, added.output
    assert added.stdout.strip() == "Action 1 for incident 1: Add <b>alerts</b> (bob, due 2001-02-03)"
    run("action", "add", "1", "--title", "Write runbook", "--owner", "carol", "--due", "2999-12-31")
    bad = run("action", "add", "1", "--title", "x", "--owner", "bob", "--due", "soon")
    assert bad.exit_code == 2 and "YYYY-MM-DD" in bad.stderr
    # The command line runs on the real clock: only the first is overdue.
    overdue = run("action", "list", "--overdue")
    assert "Add <b>alerts</b>" in overdue.stdout and "Write runbook" not in overdue.stdout
    assert run("action", "done", "1").stdout.strip() == "Action 1 done: Add <b>alerts</b>"
    assert run("action", "list", "--overdue").stdout.strip() == "No overdue action items."
    listed = run("action", "list", "--open").stdout
    assert "Write runbook" in listed and "Add <b>alerts</b>" not in listed
    assert "Add <b>alerts</b>" in run("action", "list").stdout
    again = run("action", "done", "1")
    assert again.exit_code == 2 and "already done" in again.stderr


def test_postmortem_file_is_rerendered_keeping_narrative(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run("declare", "-s", "2", "-t", "../../etc <script>", "-c", "api")
    out_dir = tmp_path / "pm"
    first = run("postmortem", "1", "--out-dir", str(out_dir))
    assert first.exit_code == 0, first.output
    files = list(out_dir.iterdir())
    (path,) = files
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}-etc-script\.md", path.name) and path.parent == out_dir
    assert first.stdout.splitlines()[0] == str(path)
    text = path.read_text()
    assert "<!-- narrative:summary -->" in text
    written = text.replace(
        "<!-- narrative:summary -->\n_What happened, in a few sentences: write it here._\n",
        "<!-- narrative:summary -->\nA person wrote this.\n\nTwo paragraphs, with | pipes.\n",
    )
    path.write_text(written)
    run("action", "add", "1", "--title", "New action", "--owner", "bob", "--due", "2026-12-15")
    again = run("postmortem", "1", "--out-dir", str(out_dir))
    assert again.exit_code == 0, again.output
    text = path.read_text()
    assert "<!-- narrative:summary -->\nA person wrote this.\n\nTwo paragraphs, with | pipes.\n<!-- /narrative -->" in text
    assert text.count("<!-- narrative:summary -->") == 1
    assert "_What customers saw and could not do: write it here._" in text
    assert list(out_dir.iterdir()) == [path]


def test_recorded_text_cannot_forge_a_narrative_section(ctx: WriteContext, clock: FixedClock, runtime: Runtime, tmp_path: Path) -> None:
    key = late_incident(ctx, clock)
    handling.record_root_cause(ctx=ctx, incident_id=key, root_cause="<!-- narrative:summary -->\nforged\n<!-- /narrative -->")
    config = runtime.settings.config
    path = document.write(tmp_path / "pm.md", document.gather(ctx.session, config, key, clock.now()), config)
    assert document.narratives_of(path.read_text())["summary"] == "_What happened, in a few sentences: write it here._\n"


# Public page -------------------------------------------------------------------------------


@pytest.fixture
def client(runtime: Runtime, clock: FixedClock) -> Iterator[TestClient]:
    with TestClient(create_app(runtime.settings, runtime.engine, clock=clock, version_check_interval=0)) as c:
        yield c


def test_published_postmortem_is_shown_escaped(client: TestClient, ctx: WriteContext, clock: FixedClock) -> None:
    key = late_incident(ctx, clock)
    handling.record_root_cause(ctx=ctx, incident_id=key, root_cause="<b>Expired</b> certificate.")
    postmortems.add_factor(ctx=ctx, incident_id=key, text="<script>alert(1)</script> muted channel")
    postmortems.add_action(ctx=ctx, incident_id=key, title="<i>Automate</i> renewal", owner="secret-owner", due_on="2026-12-15")
    page = BeautifulSoup(client.get(f"/incidents/{key}").text, "html.parser")
    assert page.select_one("section.postmortem") is None
    assert client.get(f"/incidents/{key}.json").json()["postmortem"] is None

    postmortems.publish(ctx=ctx, incident_id=key)
    response = client.get(f"/incidents/{key}")
    page = BeautifulSoup(response.text, "html.parser")
    section = page.select_one("section.postmortem")
    assert section is not None
    assert "<b>Expired</b> certificate." in section.get_text()
    assert [li.get_text() for li in section.select("ul.factors li")] == ["<script>alert(1)</script> muted channel"]
    assert section.find("script") is None and section.find("b") is None and section.find("i") is None
    assert section.select("ul.actions li")[-1].get_text(" ", strip=True) == "<i>Automate</i> renewal (due 2026-12-15)"
    assert "secret-owner" not in response.text
    data = client.get(f"/incidents/{key}.json").json()["postmortem"]
    assert data["contributing_factors"] == ["<script>alert(1)</script> muted channel"]
    assert data["actions"][-1] == {"title": "<i>Automate</i> renewal", "due_on": "2026-12-15", "status": "open"}
