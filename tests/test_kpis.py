"""Service-quality KPIs: ``incident report import-kpis``, the report's "Service quality" section
with its playbook triggers, and ``incident report monthly --post`` queueing a Slack summary."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from click.testing import CliRunner
from sqlmodel import col, select

from incident_cli.main import main as incident_main
from statuspage import outbox
from statuspage.clock import FixedClock
from statuspage.context import WriteContext
from statuspage.db.models import AuditEvent, OutboxMessage
from statuspage.incidents import handling
from statuspage.reports import kpis
from statuspage.reports.slack import SLACK_SUMMARY_EVENT
from statuspage.runtime import Runtime
from statuspage.slack.messages import console_line, render
from statuspage.slack.sender import SlackSender
from tests.test_reports import _incident, utc

HEADER = "month,fcr_percent,csat,nps,abandonment_percent,backlog_per_agent"
# Columns in another order; October fires both playbook triggers, September none.
GOOD = (
    "nps,month,csat,fcr_percent,abandonment_percent,backlog_per_agent\n"
    "42,2026-10,4.6,72.5,6.5,18\n"
    "35,2026-09,4.7,85,3,30\n"
)


def _stored(runtime: Runtime) -> dict[str, dict[str, float]]:
    with runtime.session() as session:
        return {month: dict(found.values) for month in kpis.stored_months(session) if (found := kpis.month_kpis(session, month))}


def _invoke(cli_env: dict[str, str], *args: str) -> object:
    return CliRunner(env=cli_env).invoke(incident_main, list(args), prog_name="incident")


def test_import_report_section_and_triggers(cli_env: dict[str, str], runtime: Runtime, config_file: Path, tmp_path: Path) -> None:
    source = tmp_path / "kpis.csv"
    source.write_text(GOOD)
    result = CliRunner(env=cli_env).invoke(incident_main, ["report", "import-kpis", str(source)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "Imported KPIs for 2 months (2026-09, 2026-10) into the database" in result.stdout
    assert _stored(runtime)["2026-10"] == {
        "nps": 42, "csat": 4.6, "fcr_percent": 72.5, "abandonment_percent": 6.5, "backlog_per_agent": 18
    }
    assert not (config_file.parent / "var" / "kpis.json").exists()

    # A later import of one month replaces that month and keeps the others.
    again = tmp_path / "again.csv"
    again.write_text(f"{HEADER}\n2026-09,90,4.8,50,2,10\n")
    assert CliRunner(env=cli_env).invoke(incident_main, ["report", "import-kpis", str(again)]).exit_code == 0
    months = _stored(runtime)
    assert months["2026-09"]["fcr_percent"] == 90 and months["2026-10"]["fcr_percent"] == 72.5

    runner = CliRunner(env=cli_env)
    data = json.loads(runner.invoke(incident_main, ["report", "monthly", "--month", "2026-10", "--format", "json"], catch_exceptions=False).stdout)
    quality = {k["kpi"]: k for k in data["service_quality"]}
    assert list(quality) == ["fcr_percent", "csat", "nps", "abandonment_percent", "backlog_per_agent"]
    assert quality["fcr_percent"] == {
        "kpi": "fcr_percent", "label": "First contact resolution", "value": 72.5, "target": "above 80%",
        "met": False, "playbook_trigger": True, "trigger": "First contact resolution below 75%", "owner": None,
    }
    assert quality["abandonment_percent"]["playbook_trigger"] is True
    assert (quality["csat"]["met"], quality["csat"]["playbook_trigger"]) == (True, False)
    assert (quality["backlog_per_agent"]["met"], quality["nps"]["met"]) == (True, True)

    markdown = runner.invoke(incident_main, ["report", "monthly", "--month", "2026-10"], catch_exceptions=False).stdout
    assert "## Service quality" in markdown
    # The last three months, September's figures from the later import.
    assert "| KPI | 2026-08 | 2026-09 | 2026-10 | Target | Owner of a miss |" in markdown
    assert ("| First contact resolution | — | 90% | 72.5% (missed) | above 80% | nobody named; **playbook trigger** "
            "(First contact resolution below 75%) |") in markdown
    assert "| Abandonment | — | 2% | 6.5% (missed) | below 5% | nobody named; **playbook trigger** (Abandonment above 6%) |" in markdown
    assert "| CSAT | — | 4.8 / 5 | 4.6 / 5 | above 4.5 / 5 | — |" in markdown

    html = runner.invoke(incident_main, ["report", "monthly", "--month", "2026-10", "--format", "html"], catch_exceptions=False).stdout
    table = BeautifulSoup(html, "html.parser").find("table", class_="service-quality")
    assert table is not None
    assert len(table.find_all("strong", class_="trigger")) == 2

    # A month without KPIs has no figures of its own; without any in its last three months, no section.
    november = runner.invoke(incident_main, ["report", "monthly", "--month", "2026-11", "--format", "json"], catch_exceptions=False)
    assert "service_quality" not in json.loads(november.stdout)
    assert "Service quality" not in runner.invoke(incident_main, ["report", "monthly", "--month", "2027-01"]).stdout


def test_september_meets_or_misses_without_triggers() -> None:
    results = {r.key: r for r in kpis.evaluate(kpis.parse_csv(GOOD, "x.csv")["2026-09"].values)}
    assert not any(r.playbook_trigger for r in results.values())
    assert results["fcr_percent"].met and not results["nps"].met and not results["backlog_per_agent"].met


@pytest.mark.parametrize(
    ("content", "line"),
    [
        (f"{HEADER}\n2026-09,80,4.6,40,3,10\n2026-10,80,4.6,40,3,10\n2026-11,80,abc,40,3,10\n",
         'kpis.csv:4:csat: "abc" is not a number'),
        ("month,fcr_percent,csat,abandonment_percent,backlog_per_agent\n2026-10,80,4.6,3,10\n",
         f"kpis.csv:1:nps: missing column; the header must name {HEADER} (in any order)"),
        (f"{HEADER}\n2026-10,100.5,4.6,40,3,10\n",
         "kpis.csv:2:fcr_percent: 100.5 is out of range: First contact resolution is between 0% and 100%"),
        (f"{HEADER}\n2026-13,80,4.6,40,3,10\n",
         'kpis.csv:2:month: "2026-13" is not a month; write it as YYYY-MM, e.g. 2026-10'),
        ("", f"kpis.csv:1:month: the file is empty; its first line must be the header {HEADER}"),
        (f"{HEADER}\n2026-10,80,4.6,,3,10\n", "kpis.csv:2:nps: missing value"),
        (f"{HEADER}\n2026-10,80,4.6,40,3,10\n2026-10,80,4.6,40,3,10\n", "kpis.csv:3:month: 2026-10 is already on line 2"),
        (f"{HEADER}\n2026-10,nan,4.6,40,3,10\n", 'kpis.csv:2:fcr_percent: "nan" is not a number'),
        (f"{HEADER},extra\n", f'kpis.csv:1:extra: unknown column "extra"; the columns are {HEADER}, optionally '
         "aht_minutes,reopen_percent, and an owner column per KPI such as csat_owner"),
        (f"{HEADER},aht_minutes_owner\n2026-10,80,4.6,40,3,10,Ben\n",
         "kpis.csv:1:aht_minutes_owner: names the owner of aht_minutes, but the header has no aht_minutes column"),
        (f"{HEADER},csat_owner\n2026-10,80,4.6,40,3,10,Ben\x07Okafor\n",
         "kpis.csv:2:csat_owner: must be one line without control characters (it has U+0007)"),
        (f"{HEADER},aht_minutes\n2026-10,80,4.6,40,3,10,-1\n",
         "kpis.csv:2:aht_minutes: -1 is out of range: Average handle time is 0 min or more"),
        (f"{HEADER}\n", "kpis.csv:2:month: no months after the header"),
    ],
    ids=["bad-number", "missing-column", "percent-over-100", "bad-month", "empty-file", "empty-cell", "month-twice",
         "nan", "unknown-column", "owner-without-kpi", "control-character-owner", "negative-aht", "header-only"],
)
def test_malformed_csv_is_one_line_exit_2_and_nothing_stored(
    cli_env: dict[str, str], runtime: Runtime, make_ctx: Callable[..., WriteContext], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, content: str, line: str
) -> None:
    kpis.import_months(ctx=make_ctx(), months={"2026-08": kpis.KpiMonth("2026-08", {"fcr_percent": 81.0})}, source="x")
    monkeypatch.chdir(tmp_path)
    Path("kpis.csv").write_text(content)
    result = _invoke(cli_env, "report", "import-kpis", "kpis.csv")
    assert result.exit_code == 2  # type: ignore[attr-defined]
    assert result.stdout == ""  # type: ignore[attr-defined]
    assert result.stderr == line + "\n"  # type: ignore[attr-defined]
    assert _stored(runtime) == {"2026-08": {"fcr_percent": 81.0}}


def test_missing_file_is_one_line_exit_2(cli_env: dict[str, str], runtime: Runtime, tmp_path: Path) -> None:
    result = _invoke(cli_env, "report", "import-kpis", str(tmp_path / "nope.csv"))
    assert result.exit_code == 2  # type: ignore[attr-defined]
    assert result.stderr.startswith(f"incident: cannot read {tmp_path / 'nope.csv'}: ")  # type: ignore[attr-defined]
    assert len(result.stderr.strip().splitlines()) == 1  # type: ignore[attr-defined]
    assert _stored(runtime) == {}


def test_spreadsheet_bom_and_crlf_are_accepted(tmp_path: Path) -> None:
    source = tmp_path / "excel.csv"
    source.write_bytes(("\ufeff" + GOOD.replace("\n", "\r\n")).encode("utf-8"))
    assert sorted(kpis.read_csv(source)) == ["2026-09", "2026-10"]


def _declare_breaches(make_ctx: Callable[..., WriteContext], clock: FixedClock) -> None:
    ctx = make_ctx("alice")
    first = _incident(
        ctx, clock, severity=1, title="Checkout <down> & out",
        detected=utc(2026, 10, 5, 14), declared=utc(2026, 10, 5, 14, 10),
        acknowledged=utc(2026, 10, 5, 14, 40), resolved=utc(2026, 10, 5, 20),
    )
    _incident(
        ctx, clock, severity=1, title="Sign-in failing",
        detected=utc(2026, 10, 12, 10), declared=utc(2026, 10, 12, 10, 30),
        acknowledged=utc(2026, 10, 12, 11, 30), resolved=utc(2026, 10, 12, 12),
    )
    clock.at = utc(2026, 10, 22, 9)
    handling.record_root_cause(ctx=ctx, incident_id=first, root_cause="Bad <deploy>", remediation="Canary deploys")
    clock.at = utc(2026, 11, 25, 12)


def test_post_queues_one_slack_summary(
    cli_env: dict[str, str],
    runtime: Runtime,
    make_ctx: Callable[..., WriteContext],
    clock: FixedClock,
    config_file: Path,
    tmp_path: Path,
) -> None:
    _declare_breaches(make_ctx, clock)
    source = tmp_path / "kpis.csv"
    source.write_text(GOOD)
    assert _invoke(cli_env, "report", "import-kpis", str(source)).exit_code == 0  # type: ignore[attr-defined]
    with runtime.session() as session:
        before = len(session.exec(select(OutboxMessage).where(col(OutboxMessage.channel) == "slack")).all())

    result = CliRunner(env=cli_env).invoke(
        incident_main, ["report", "monthly", "--month", "2026-10", "--format", "json", "--post"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["month"] == "2026-10"
    assert result.stderr.startswith("Queued for Slack: 2026-10: ")

    with runtime.session() as session:
        slack = session.exec(select(OutboxMessage).where(col(OutboxMessage.channel) == "slack").order_by(col(OutboxMessage.id))).all()
        assert len(slack) == before + 1
        message = slack[-1]
        assert (message.event, message.target, message.state) == ("slack.report_summary", "#incidents", outbox.PENDING)
        assert message.payload["kind"] == "post" and message.payload["template"] == "report_summary"
        data = message.payload["data"]
        assert data["missed"] >= 2
        assert data["causes"] == [{"cause": "Bad <deploy>", "incidents": 1}]
        assert data["unexplained"] == 1
        assert data["kpi_triggers"] == ["First contact resolution below 75%", "Abandonment above 6%"]
        assert "http" not in json.dumps(data)
        audit = session.exec(select(AuditEvent).where(col(AuditEvent.action) == "report.post")).all()
        assert [(a.subject_type, a.subject_id) for a in audit] == [("report", "2026-10")]

    # Without a Slack token the worker prints it on the console.
    clock.at = max(clock.at, message.created_at)  # the command line ran on the real clock
    out = io.StringIO()
    sender = SlackSender(env={}, out=out)
    while (delivered := outbox.deliver_due(runtime, senders={"slack": sender})).claimed:
        assert delivered.dead == 0
    lines = [line for line in out.getvalue().splitlines() if "SLA report for 2026-10" in line]
    assert len(lines) == 1
    assert lines[0].startswith(f"[slack #incidents] Sendero SLA report for 2026-10: {data['missed']} missed commitments; credits owed: ")


def test_summary_template_escapes_and_has_no_links(runtime: Runtime) -> None:
    data = {
        "month": "2026-10", "incidents": 3, "attainment_percent": 50.0, "missed": 1,
        "credits": [{"tier": "Premium <b>", "percent": "15"}],
        "causes": [{"cause": "A <@U123> & <https://x|y>", "incidents": 2}],
        "unexplained": 0, "kpi_triggers": ["Abandonment above 6%"],
    }
    content = render("report_summary", runtime.settings.config, incident=None, data=data)
    blocks = json.dumps(content["blocks"])
    assert "<@U123>" not in blocks and "<https" not in blocks and "&lt;@U123&gt; &amp;" in blocks
    assert "1 missed commitment;" in content["text"] and "Premium &lt;b&gt; 15%" in content["text"]
    assert "Playbook trigger" in blocks
    assert console_line(content, runtime.settings.config).startswith("Sendero SLA report for 2026-10")


def test_post_refused_when_slack_is_off(cli_env: dict[str, str], runtime: Runtime, config_file: Path) -> None:
    text = config_file.read_text()
    config_file.write_text(text.replace("slack:\n  enabled: true", "slack:\n  enabled: false"))
    result = _invoke(cli_env, "report", "monthly", "--month", "2026-10", "--post")
    assert result.exit_code == 2  # type: ignore[attr-defined]
    assert "slack.enabled is false" in result.stderr  # type: ignore[attr-defined]
    with runtime.session() as session:
        assert session.exec(select(OutboxMessage).where(col(OutboxMessage.event) == SLACK_SUMMARY_EVENT)).all() == []
