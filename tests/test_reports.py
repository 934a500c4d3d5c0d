"""The monthly SLA report: breaches by deadline month, MTTA/MTTR, attainment, tier credits, trend,
and its four output formats, from incidents recorded through the service layer on a fixed clock."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from click.testing import CliRunner

from incident_cli.main import main as incident_main
from statuspage.clock import FixedClock
from statuspage.context import WriteContext
from statuspage.domain.report import Breach
from statuspage.incidents import handling
from statuspage.incidents import service as incidents
from statuspage.incidents.sla import calendar_for
from statuspage.reports import monthly, render
from statuspage.runtime import Runtime

XSS = "<script>alert(1)</script> Checkout | down"
REPORT_NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


@pytest.fixture
def config_file(config_file: Path) -> Path:
    """The demo configuration with Premium's credit cap lowered to 15 %, so two misses hit it."""
    text = config_file.read_text()
    capped = text.replace("per_breach_percent: 10, monthly_cap_percent: 50", "per_breach_percent: 10, monthly_cap_percent: 15")
    assert capped != text
    config_file.write_text(capped)
    return config_file


def _incident(
    ctx: WriteContext,
    clock: FixedClock,
    *,
    severity: int,
    title: str,
    detected: datetime,
    declared: datetime,
    acknowledged: datetime,
    resolved: datetime,
    escalate_at: datetime | None = None,
) -> int:
    clock.at = declared
    incident = incidents.declare(ctx=ctx, severity=severity, title=title, components=["api"], detected_at=detected)
    assert incident.id is not None
    if escalate_at is not None:
        clock.at = escalate_at
        incidents.escalate(ctx=ctx, incident_id=incident.id, to_tier=2)
    clock.at = acknowledged
    incidents.acknowledge(ctx=ctx, incident_id=incident.id, by="ana")
    clock.at = resolved
    incidents.resolve(ctx=ctx, incident_id=incident.id)
    return incident.id


@pytest.fixture
def history(runtime: Runtime, make_ctx: Callable[..., WriteContext], clock: FixedClock) -> dict[str, int]:
    """Four incidents (times in UTC; the page's zone is America/New_York):

    D sev2, Sep 29: answered 2 h after detection (first response missed, due Sep 29), resolved
      after 72 h (resolution missed by 24 h, due Oct 1: an October breach of a September incident).
    A sev1, Oct 5: answered in 10 min, acknowledged 30 min after declaring, resolved after 6 h
      (resolution missed by 2 h). Its title tries to inject markup.
    B sev1, Oct 12: answered after 30 min (missed by 15 min), escalated to tier 2, acknowledged
      90 min after detection (missed by 30 min), resolved after 2 h.
    C sev2, Oct 20: answered after 90 min (missed by 30 min), acknowledged and resolved in time.
    """
    ctx = make_ctx("alice")
    ids = {
        "D": _incident(
            ctx, clock, severity=2, title="Slow exports",
            detected=utc(2026, 9, 29, 12), declared=utc(2026, 9, 29, 14),
            acknowledged=utc(2026, 9, 29, 14, 30), resolved=utc(2026, 10, 2, 12),
        ),
        "A": _incident(
            ctx, clock, severity=1, title=XSS,
            detected=utc(2026, 10, 5, 14), declared=utc(2026, 10, 5, 14, 10),
            acknowledged=utc(2026, 10, 5, 14, 40), resolved=utc(2026, 10, 5, 20),
        ),
        "B": _incident(
            ctx, clock, severity=1, title="Sign-in failing",
            detected=utc(2026, 10, 12, 10), declared=utc(2026, 10, 12, 10, 30), escalate_at=utc(2026, 10, 12, 10, 40),
            acknowledged=utc(2026, 10, 12, 11, 30), resolved=utc(2026, 10, 12, 12),
        ),
        "C": _incident(
            ctx, clock, severity=2, title="Webhooks delayed",
            detected=utc(2026, 10, 20, 13), declared=utc(2026, 10, 20, 14, 30),
            acknowledged=utc(2026, 10, 20, 15), resolved=utc(2026, 10, 21, 13),
        ),
    }
    clock.at = utc(2026, 10, 22, 9)
    handling.record_root_cause(
        ctx=ctx, incident_id=ids["A"], root_cause="A <b>bad</b> deploy", remediation="=HYPERLINK(\"x\") canary deploys"
    )
    clock.at = REPORT_NOW
    return ids


def _report(runtime: Runtime, month: str = "2026-10") -> monthly.MonthlyReport:
    config = runtime.settings.config
    year, number = monthly.parse_month(month)
    with runtime.session() as session:
        return monthly.monthly_report(session, config, year, number, REPORT_NOW, calendar=calendar_for(config))


def _timed(breaches: list[Breach]) -> list[Breach]:
    """The breaches of the targets timed from detection (the update cadence is timed between
    public updates; its own tests are in test_commitments)."""
    return [b for b in breaches if b.target != "update_cadence"]


def test_breaches_fall_in_the_month_of_their_deadline(runtime: Runtime, history: dict[str, int]) -> None:
    report = _report(runtime)
    got = [(b.incident_id, b.target, b.promised, b.deadline, b.actual_seconds, b.breached_by_seconds) for b in _timed(report.breaches)]
    assert got == [
        (history["D"], "resolution", "2d", utc(2026, 10, 1, 12), 72 * 3600, 24 * 3600),
        (history["A"], "resolution", "4h", utc(2026, 10, 5, 18), 6 * 3600, 2 * 3600),
        (history["B"], "first_response", "15m", utc(2026, 10, 12, 10, 15), 1800, 900),
        (history["B"], "acknowledgement", "1h", utc(2026, 10, 12, 11), 5400, 1800),
        (history["C"], "first_response", "1h", utc(2026, 10, 20, 14), 5400, 1800),
    ]
    a = _timed(report.breaches)[1]
    assert (a.title, a.root_cause, a.url) == (XSS, "A <b>bad</b> deploy", f"http://127.0.0.1:8000/incidents/{history['A']}")
    assert [(b.incident_id, b.target) for b in _timed(_report(runtime, "2026-09").breaches)] == [(history["D"], "first_response")]
    # Every target is named by its label, the update cadence too.
    assert {b.target: b.label for b in report.breaches} == {
        "resolution": "Resolution", "first_response": "First response", "acknowledgement": "Escalation acknowledged",
        "update_cadence": "Update cadence",
    }
    assert f"| [#{history['B']}](http://127.0.0.1:8000/incidents/{history['B']}) Sign-in failing | sev1 | Update cadence |" in (
        render.render_markdown(report)
    )


def test_severity_figures(runtime: Runtime, history: dict[str, int]) -> None:
    report = _report(runtime)
    sev1, sev2, sev3, sev4 = report.severities
    timed = ("first_response", "acknowledgement", "resolution")
    assert (sev1.incidents, sev1.mtta_seconds, sev1.mttr_seconds, len([b for b in _timed(report.breaches) if b.severity == 1])) == (2, 45 * 60, 4 * 3600, 3)
    assert sev1.breaches == len([b for b in report.breaches if b.severity == 1])
    assert {t: (a.met, a.breached, a.percent) for t, a in sev1.attainment.items() if t in timed} == {
        "first_response": (1, 1, 50.0),
        "acknowledgement": (1, 1, 50.0),
        "resolution": (1, 1, 50.0),
    }
    # D was declared in September: it counts in September's figures, only its breach is October's.
    assert (sev2.incidents, sev2.mtta_seconds, sev2.mttr_seconds, len([b for b in _timed(report.breaches) if b.severity == 2])) == (1, 30 * 60, 24 * 3600, 2)
    assert {t: a.percent for t, a in sev2.attainment.items() if t in timed} == {"first_response": 0.0, "acknowledgement": 100.0, "resolution": 100.0}
    assert (sev3.incidents, sev3.mtta_seconds, sev3.mttr_seconds, [t for t in sev3.attainment if t in timed]) == (0, None, None, ["first_response", "resolution"])
    assert sev4.attainment["first_response"].percent is None
    assert report.incidents == 3
    # Over every target measured: the met ones of the decided ones, all severities together.
    met = sum(a.met for s in report.severities for a in s.attainment.values())
    decided = sum(a.decided for s in report.severities for a in s.attainment.values())
    assert report.attainment_percent == pytest.approx(100 * met / decided)


def test_support_tiers_and_credits(runtime: Runtime, history: dict[str, int]) -> None:
    tiers = {t.id: t for t in _report(runtime).tiers}
    premium = tiers["premium"]
    assert [(s.severity, s.promised, s.attainment.met, s.attainment.breached) for s in premium.severities] == [
        (1, "15m", 1, 1),
        (2, "1h", 0, 1),
        (3, "4h", 0, 0),
        (4, "1bd", 0, 0),
    ]
    # Two missed first responses at 10 % each, capped at 15 %.
    assert (premium.breaches, premium.credit_percent) == (2, Decimal(15))
    # Standard answers Sev-1 and Sev-2 within 1 business day, which every incident met; Basic has no credits.
    assert (tiers["standard"].breaches, tiers["standard"].credit_percent) == (0, Decimal(0))
    assert tiers["standard"].coverage == "business_hours"
    assert [s.attainment.percent for s in tiers["standard"].severities[:2]] == [100.0, 100.0]
    assert tiers["basic"].credit_percent == Decimal(0)
    # September: D's first response missed Premium's 1 h too.
    september = {t.id: t for t in _report(runtime, "2026-09").tiers}
    assert (september["premium"].breaches, september["premium"].credit_percent) == (1, Decimal(10))


def test_escalation_mtta_per_tier_comes_from_the_pages(runtime: Runtime, history: dict[str, int]) -> None:
    escalation = {e.tier: e for e in _report(runtime).escalation}
    tier1, tier2 = escalation[1], escalation[2]
    assert tier1.name == "Front line" and tier2.name == "Specialists"
    assert tier1.pages == tier1.acknowledged > 0
    # Every page of B's tier 2 went out at 10:40 and was acknowledged at 11:30.
    assert tier2.pages == tier2.acknowledged > 0
    assert tier2.mtta_seconds == 50 * 60


def test_trend_covers_six_months(runtime: Runtime, history: dict[str, int]) -> None:
    report, september = _report(runtime), _report(runtime, "2026-09")
    trend = report.trend
    assert [(p.month, p.incidents, p.breaches) for p in trend] == [
        ("2026-05", 0, 0),
        ("2026-06", 0, 0),
        ("2026-07", 0, 0),
        ("2026-08", 0, 0),
        ("2026-09", 1, len(september.breaches)),
        ("2026-10", 3, len(report.breaches)),
    ]
    assert [p.attainment_percent for p in trend[:4]] == [None] * 4
    assert trend[4].attainment_percent == september.attainment_percent
    assert trend[5].attainment_percent == report.attainment_percent


def test_csv_has_one_row_per_breach(runtime: Runtime, history: dict[str, int]) -> None:
    rows = [r for r in csv.DictReader(io.StringIO(render.render_csv(_report(runtime)))) if r["target"] != "update_cadence"]
    assert [(int(r["incident_id"]), r["target"], r["breached_by_seconds"]) for r in rows] == [
        (history["D"], "resolution", "86400"),
        (history["A"], "resolution", "7200"),
        (history["B"], "first_response", "900"),
        (history["B"], "acknowledgement", "1800"),
        (history["C"], "first_response", "1800"),
    ]
    assert tuple(rows[0]) == render.CSV_COLUMNS
    assert rows[1]["title"] == XSS
    assert rows[1]["deadline"] == "2026-10-05T18:00:00Z"
    assert rows[1]["breached_by"] == "2 hours"
    # A remediation starting with "=" is not left for a spreadsheet to run as a formula.
    assert rows[1]["remediation"] == "'=HYPERLINK(\"x\") canary deploys"


def test_json_keys(runtime: Runtime, history: dict[str, int]) -> None:
    data = json.loads(render.render_json(_report(runtime)))
    # service_quality and kpi_trend are there only when KPIs were imported.
    assert set(data) == {
        "month", "period", "page", "time_zone", "as_of", "summary", "cards", "incidents", "attainment_percent",
        "response_times", "breaches", "missing_root_causes", "severities", "support_tiers", "credits", "causes",
        "paging", "escalation", "overdue_actions", "overdue_postmortems", "uptime", "trend",
    }
    assert data["period"] == {
        "kind": "month", "label": "2026-10", "name": "October 2026", "start": "2026-10-01T04:00:00Z",
        "end": "2026-11-01T04:00:00Z", "previous": "2026-09",
    }
    assert data["as_of"] == "2026-11-01T04:00:00Z"
    assert set(data["breaches"][0]) == {
        "incident_id", "title", "url", "severity", "target", "label", "clock", "promised", "detected_at", "target_seconds",
        "deadline", "event_at", "actual_seconds", "breached_by_seconds", "root_cause", "remediation",
    }
    premium = next(t for t in data["support_tiers"] if t["id"] == "premium")
    assert premium["credit_percent"] == "15"
    assert premium["first_response"]["sev1"] == {"promised": "15m", "met": 1, "breached": 1, "pending": 0, "percent": 50.0}
    assert data["severities"][0]["attainment"]["resolution"]["percent"] == 50.0
    assert {card["key"]: set(card) for card in data["cards"]}["incidents"] == {
        "key", "label", "unit", "value", "previous", "change", "direction", "verdict", "text",
    }


def test_html_is_self_contained_escaped_and_has_the_chart(runtime: Runtime, history: dict[str, int]) -> None:
    html = render.render_html(_report(runtime))
    soup = BeautifulSoup(html, "html.parser")
    assert soup.find("script") is None and soup.find("b") is None
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert XSS in soup.get_text()
    svg = soup.find("svg")
    assert svg is not None
    assert len(svg.find_all("rect")) == 6
    assert svg.find("polyline") is not None
    texts = [t.get_text() for t in svg.find_all("text")]
    assert texts[-7:] == ["2026-05", "2026-06", "2026-07", "2026-08", "2026-09", "2026-10", "Month"]
    # Axis titles, a legend, and a title and description for screen readers.
    assert {"Breaches", "Targets met"} <= set(texts)
    title, desc = svg.find("title"), svg.find("desc")
    assert title is not None and title.get_text().startswith("Breaches (bars, left axis) and SLA targets met (line, right axis)")
    assert desc is not None and "2026-10: " in desc.get_text()
    assert [li.get_text() for li in soup.select("figure .legend li")] == [
        "Breaches (left axis)", "SLA targets met (right axis, 0–100%)",
    ]
    assert soup.select_one("main h1") is not None
    rows = soup.select("table.breaches tbody tr")
    assert len(rows) == len(_report(runtime).breaches)
    resolution = [r for r in rows if f"#{history['A']}" in r.get_text() and "Resolution" in r.get_text()]
    assert len(resolution) == 1 and "2 hours" in resolution[0].get_text()
    # No network: no external stylesheets, scripts, images or fonts.
    assert not soup.find_all(["link", "script", "img", "iframe"])
    assert "http" not in "".join(str(s) for s in soup.find_all("style"))


def test_markdown_has_the_breach_table(runtime: Runtime, history: dict[str, int]) -> None:
    text = render.render_markdown(_report(runtime))
    assert "## Breaches" in text
    # Detection first on the breach timeline.
    assert "| Incident | Severity | Target | Promised | Detected | Deadline | Actual | Breached by |" in text
    lines = [line for line in text.splitlines() if line.startswith(f"| [#{history['A']}]") and "| Resolution |" in line]
    assert len(lines) == 1
    line = lines[0]
    # The title can neither open a tag nor add a column.
    assert "<script>" not in line and "&lt;script&gt;alert(1)&lt;/script&gt;" in line
    assert line.count(" | ") == 7
    # The root cause and remediation once per incident, under the table, escaped there too.
    causes = [line for line in text.splitlines() if line.startswith(f"- **[#{history['A']}]")]
    assert len(causes) == 1 and "Root cause: A &lt;b&gt;bad&lt;/b&gt; deploy" in causes[0]
    assert f"(http://127.0.0.1:8000/incidents/{history['A']})" in line
    assert "| sev1 | Resolution | 4h | 2026-10-05 10:00 EDT | 2026-10-05 14:00 EDT | 6 hours | 2 hours |" in line


def test_month_is_checked() -> None:
    for bad in ("2026-13", "2026-1", "october", "2026-00"):
        with pytest.raises(monthly.InvalidInput):
            monthly.parse_month(bad)
    assert monthly.parse_month("2026-10") == (2026, 10)


def test_cli_report(cli_env: dict[str, str], runtime: Runtime, history: dict[str, int], tmp_path: Path) -> None:
    runner = CliRunner(env=cli_env)
    result = runner.invoke(incident_main, ["report", "monthly", "--month", "2026-10", "--format", "csv"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert len(result.stdout.strip().splitlines()) == 1 + len(_report(runtime).breaches)
    target = tmp_path / "october.html"
    written = runner.invoke(
        incident_main, ["report", "monthly", "--month", "2026-10", "--format", "html", "--out", str(target)], catch_exceptions=False
    )
    assert written.exit_code == 0, written.output
    assert written.stdout == ""
    assert BeautifulSoup(target.read_text(), "html.parser").find("svg") is not None
    default = runner.invoke(incident_main, ["report", "monthly", "--month", "2026-10"], catch_exceptions=False)
    assert default.stdout.startswith("# Sendero: SLA report for October 2026\n\nPeriod: 2026-10-01 to 2026-10-31")


def test_cli_bad_month_is_one_line_exit_2(cli_env: dict[str, str]) -> None:
    result = CliRunner(env=cli_env).invoke(incident_main, ["report", "monthly", "--month", "2026-13"], prog_name="incident")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1
    assert "is not a month" in result.stderr


def test_show_prints_each_target(cli_env: dict[str, str], runtime: Runtime, history: dict[str, int]) -> None:
    result = CliRunner(env=cli_env).invoke(incident_main, ["show", str(history["B"])], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    lines = {line.strip().split("  ")[0]: " ".join(line.split()) for line in result.stdout.splitlines() if line.strip()}
    assert "SLA targets" in result.stdout
    assert lines["First response"].endswith("15 minutes 2026-10-12 06:15:00 EDT breached by 15 minutes")
    assert lines["Escalation acknowledged"].endswith("1 hour 2026-10-12 07:00:00 EDT breached by 30 minutes")
    assert lines["Resolution"].endswith("4 hours 2026-10-12 10:00:00 EDT met")


def test_show_open_incident_gives_the_time_left(cli_env: dict[str, str], runtime: Runtime, make_ctx: Callable[..., WriteContext]) -> None:
    runner = CliRunner(env=cli_env)
    declared = runner.invoke(incident_main, ["declare", "-s", "2", "-t", "Slow", "-c", "api", "--detected-at", "10m ago"], catch_exceptions=False)
    assert declared.exit_code == 0, declared.output
    shown = runner.invoke(incident_main, ["show", "1"], catch_exceptions=False).stdout
    assert "First response" in shown and " met" in shown
    acknowledgement = next(line for line in shown.splitlines() if line.strip().startswith("Escalation acknowledged"))
    assert acknowledgement.rstrip().endswith("left")
    assert "3 hours 49 minutes left" in acknowledgement or "3 hours 50 minutes left" in acknowledgement
