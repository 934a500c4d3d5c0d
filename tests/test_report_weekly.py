"""The weekly SLA report: the monthly figures over an ISO week (``incident report weekly``), its
summary posted to Slack by ``--post`` and every week by the worker (``slack.weekly_report_at``),
once per week whatever the restarts. On the history of :mod:`tests.test_reports`: in week 42 of
2026 (Monday 12 to Sunday 18 October, New York time) B alone was declared, A the week before."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from sqlmodel import col, select

from incident_cli.main import main as incident_main
from statuspage import outbox
from statuspage.clock import FixedClock
from statuspage.db.models import AuditEvent, OutboxMessage, Timer
from statuspage.domain.periods import WeeklyAt, WeeklyTimeError, last_complete_week, read_weekly_time
from statuspage.incidents.sla import calendar_for
from statuspage.reports import render, weekly
from statuspage.reports.slack import SLACK_SUMMARY_EVENT
from statuspage.runtime import Runtime
from statuspage.settings import ConfigError, load_settings
from statuspage.slack.messages import render as render_slack
from statuspage.slack.sender import SlackSender
from tests.test_reports import REPORT_NOW, history, utc  # noqa: F401 - the fixture is used by name


def _week(runtime: Runtime, label: str = "2026-W42") -> weekly.MonthlyReport:
    config = runtime.settings.config
    with runtime.session() as session:
        return weekly.weekly_report(session, config, *weekly.parse_week(label), REPORT_NOW, calendar=calendar_for(config))


def _summaries(runtime: Runtime) -> list[OutboxMessage]:
    with runtime.session() as session:
        return list(
            session.exec(
                select(OutboxMessage).where(col(OutboxMessage.event) == SLACK_SUMMARY_EVENT).order_by(col(OutboxMessage.id))
            ).all()
        )


def test_weekly_figures(runtime: Runtime, history: dict[str, int]) -> None:
    report = _week(runtime)
    assert (report.month, report.period.name, report.start, report.end) == (
        "2026-W42", "week 42 of 2026", utc(2026, 10, 12, 4), utc(2026, 10, 19, 4),
    )
    assert report.incidents == 1
    assert {b.incident_id for b in report.breaches} == {history["B"]}
    assert [b.target for b in report.breaches if b.target != "update_cadence"] == ["first_response", "acknowledgement"]
    # B: detected 10:00, declared 10:30, acknowledged 11:30, resolved 12:00.
    times = report.response
    assert (times.mttd_seconds, times.mtta_seconds, times.mttr_seconds) == (1800, 5400, 7200)
    assert (times.mtta_from_declaration_seconds, times.mttr_from_declaration_seconds) == (3600, 5400)
    # Week 41 had A: 10 minutes to declare, 40 to acknowledge, 6 hours to resolve.
    data = {c["key"]: c for c in render.to_json(report)["cards"]}
    assert (data["incidents"]["previous"], data["incidents"]["text"]) == (1, "no change vs week 41")
    assert (data["mttd"]["previous"], data["mttd"]["text"]) == (600, "▲ 20 minutes vs week 41")
    assert data["mttr"]["text"] == "▼ 4 hours vs week 41"
    assert [p.month for p in report.trend] == ["2026-W37", "2026-W38", "2026-W39", "2026-W40", "2026-W41", "2026-W42"]
    assert [p.incidents for p in report.trend] == [0, 0, 0, 1, 1, 1]  # D on 29 September, in week 40
    assert report.service_quality is None and report.kpi_trend is None  # KPIs are monthly
    text = render.render_markdown(report)
    assert text.startswith("# Sendero: SLA report for week 42 of 2026\n\nPeriod: 2026-10-12 to 2026-10-18 (America/New\\_York).")
    assert "| Week | Incidents | Targets met | Breaches |" in text
    assert "Service quality" not in text


def test_weekly_command_defaults_to_the_last_complete_week(cli_env: dict[str, str], runtime: Runtime, history: dict[str, int], tmp_path: Path) -> None:
    runner = CliRunner(env=cli_env)
    named = runner.invoke(incident_main, ["report", "weekly", "--week", "2026-W42", "--format", "json"], catch_exceptions=False)
    assert named.exit_code == 0, named.output
    assert (json.loads(named.stdout)["month"], json.loads(named.stdout)["incidents"]) == ("2026-W42", 1)
    default = runner.invoke(incident_main, ["report", "weekly", "--format", "json"], catch_exceptions=False)
    assert default.exit_code == 0, default.output
    year, week = last_complete_week(datetime.now(UTC), ZoneInfo("America/New_York"))  # the command line's clock is real
    assert json.loads(default.stdout)["month"] == f"{year}-W{week:02d}"
    target = tmp_path / "week.html"
    written = runner.invoke(incident_main, ["report", "weekly", "--week", "2026-W42", "--format", "html", "--out", str(target)])
    assert (written.exit_code, written.stdout, written.stderr) == (0, "", f"Wrote the html report for 2026-W42 to {target}\n")
    for bad in ("2026-W54", "2025-W53", "2026-48", "next"):
        refused = runner.invoke(incident_main, ["report", "weekly", "--week", bad], prog_name="incident")
        assert refused.exit_code == 2, bad
        assert refused.stdout == "" and len(refused.stderr.strip().splitlines()) == 1, refused.stderr
        assert "is not an ISO week" in refused.stderr


def test_weekly_post_queues_the_summary(cli_env: dict[str, str], runtime: Runtime, history: dict[str, int], clock: FixedClock) -> None:
    result = CliRunner(env=cli_env).invoke(
        incident_main, ["report", "weekly", "--week", "2026-W42", "--format", "json", "--post"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    missed = len(json.loads(result.stdout)["breaches"])
    assert result.stderr == f"Queued for Slack: 2026-W42: {missed} missed commitments; credits owed: Premium 10% (to #incidents)\n"
    [message] = _summaries(runtime)
    data = message.payload["data"]
    assert (message.target, data["month"], data["period"], data["missed"]) == ("#incidents", "2026-W42", "week 42 of 2026", missed)
    assert data["summary"][0] == json.loads(result.stdout)["summary"][0]
    assert data["summary"][0].startswith("In week 42 of 2026, 1 incident was declared and ")
    with runtime.session() as session:
        audit = session.exec(select(AuditEvent).where(col(AuditEvent.action) == "report.post")).all()
        assert [(a.subject_type, a.subject_id) for a in audit] == [("report", "2026-W42")]

    clock.at = max(clock.at, message.created_at)  # the command line ran on the real clock
    out = io.StringIO()
    while (delivered := outbox.deliver_due(runtime, senders={"slack": SlackSender(env={}, out=out)})).claimed:
        assert delivered.dead == 0
    [line] = [line for line in out.getvalue().splitlines() if "SLA report for 2026-W42" in line]
    assert line.startswith(f"[slack #incidents] Sendero SLA report for 2026-W42: {missed} missed commitments; credits owed: Premium 10%")


@pytest.fixture
def config_file(config_file: Path) -> Path:
    """The demo configuration, posting the weekly report on Mondays at 09:00."""
    text = config_file.read_text()
    scheduled = text.replace("slack:\n  enabled: true\n", "slack:\n  enabled: true\n  weekly_report_at: mon 09:00\n")
    assert scheduled != text
    config_file.write_text(scheduled)
    return config_file


def test_the_worker_posts_last_weeks_report_once_a_week(runtime: Runtime, history: dict[str, int], clock: FixedClock) -> None:
    assert runtime.settings.config.slack.weekly_report_at == WeeklyAt(0, read_weekly_time("mon 09:00").time)
    job = runtime.worker_jobs()[-1]
    clock.at = utc(2026, 10, 19, 12, 59)  # Monday 08:59 in New York
    assert job() is False and _summaries(runtime) == []
    clock.at = utc(2026, 10, 19, 13, 0)
    assert job() is True
    # Again, later that day, the next day, or by a worker started again: nothing more.
    for later in (timedelta(minutes=1), timedelta(hours=5), timedelta(days=1, hours=3)):
        clock.at = utc(2026, 10, 19, 13, 0) + later
        assert runtime.worker_jobs()[-1]() is False
    [message] = _summaries(runtime)
    assert (message.payload["data"]["month"], message.payload["data"]["incidents"]) == ("2026-W42", 1)
    with runtime.session() as session:
        timers = session.exec(select(Timer).where(col(Timer.kind) == "weekly_report")).all()
        assert [(t.key, t.state) for t in timers] == [("weekly-report:2026-W42", "fired")]
        audit = session.exec(select(AuditEvent).where(col(AuditEvent.action) == "report.post")).all()
        assert [(a.actor, a.subject_id) for a in audit] == [("weekly-report", "2026-W42")]
    # The next Monday posts the next week.
    clock.at = utc(2026, 10, 26, 13, 30)
    assert job() is True
    assert [m.payload["data"]["month"] for m in _summaries(runtime)] == ["2026-W42", "2026-W43"]


def test_weekly_time_is_checked(config_file: Path) -> None:
    assert read_weekly_time("Monday 9:30") == WeeklyAt(0, read_weekly_time("mon 09:30").time)
    assert str(read_weekly_time("fri 17:05")) == "fri 17:05"
    for bad in ("9:00", "someday 09:00", "mon 24:00", "mon 9"):
        with pytest.raises(WeeklyTimeError):
            read_weekly_time(bad)
    config_file.write_text(config_file.read_text().replace("weekly_report_at: mon 09:00", "weekly_report_at: mon 25:00"))
    with pytest.raises(ConfigError) as caught:
        load_settings(config_file, env={})
    assert "weekly_report_at" in str(caught.value) and "between 00:00 and 23:59" in str(caught.value)


def test_weekly_refuses_the_server(cli_env: dict[str, str]) -> None:
    env = {**cli_env, "STATUSPAGE_URL": "http://127.0.0.1:9", "STATUSPAGE_TOKEN": "sp_unused"}
    result = CliRunner(env=env).invoke(incident_main, ["report", "weekly"], prog_name="incident")
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr.strip().splitlines() == [
        "incident: incident report weekly works on the database directly, not through --server; "
        "run it without --server or $STATUSPAGE_URL"
    ]


def test_slack_summary_says_money_and_the_written_summary(runtime: Runtime) -> None:
    data = {
        "month": "2026-W42", "incidents": 1, "attainment_percent": 40.0, "missed": 3,
        "credits": [{"tier": "Premium", "percent": "10"}], "causes": [], "unexplained": 1, "kpi_triggers": [],
        "summary": ["In week 42 of 2026, 1 incident was declared.", "A <@U123> cause."],
        "credits_total": "$150.00", "customers_owed": 1,
    }
    content = render_slack("report_summary", runtime.settings.config, incident=None, data=data)
    assert content["text"].endswith("3 missed commitments; credits owed: $150.00 to 1 customer")
    blocks = json.dumps(content["blocks"])
    assert "In week 42 of 2026, 1 incident was declared. A &lt;@U123&gt; cause." in blocks and "<@U123>" not in blocks
