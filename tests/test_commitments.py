"""Commitments that cannot contradict each other, figures whose origin is marked, time printed
right: the order of the severities' deadlines, times of day written without quotes, and business
time printed in business days and hours."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from freezegun import freeze_time
from starlette.testclient import TestClient

from incident_cli.main import main as incident_main
from statuspage.cli import main as statuspage_main
from statuspage.clock import FixedClock
from statuspage.context import WriteContext
from statuspage.domain.businesstime import BusinessCalendar, ClockKind
from statuspage.domain.commitments import Commitment, inversions
from statuspage.domain.durations import Duration, describe_business_seconds, describe_clock_seconds
from statuspage.incidents import service as incidents
from statuspage.runtime import Runtime
from statuspage.settings import ConfigError, commitment_problems, load_settings
from statuspage.slack.digest import due_day
from statuspage.web.app import create_app

SHIPPED = Path(__file__).resolve().parent.parent / "statuspage.yaml"
SHIPPED_TEXT = SHIPPED.read_text(encoding="utf-8")
NEW_YORK = "America/New_York"
WEEKDAYS = BusinessCalendar(NEW_YORK)  # Monday-Friday 08:00-18:00, no holidays


def edited(old: str, new: str) -> str:
    assert SHIPPED_TEXT.count(old) == 1, f"{old!r} is not exactly once in the shipped statuspage.yaml"
    return SHIPPED_TEXT.replace(old, new)


def position(text: str, marker: str) -> tuple[int, int]:
    assert text.count(marker) == 1, marker
    index = text.index(marker)
    return text.count("\n", 0, index) + 1, index - (text.rfind("\n", 0, index) + 1) + 1


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "statuspage.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def check(path: Path) -> Result:
    runner = CliRunner(env={"STATUSPAGE_CONFIG": None, "DATABASE_URL": None})
    return runner.invoke(statuspage_main, ["--config", str(path), "config", "check"], prog_name="statuspage")


def target(level: int, text: str, clock: ClockKind = "24x7") -> Commitment:
    return Commitment(level, f"sev{level}", Duration.parse(text), clock, text)


# --- the order of deadlines ------------------------------------------------------------------


def test_a_wall_clock_critical_target_longer_than_a_business_minor_one_is_due_later() -> None:
    # Standard's old targets: 24h and 2bd, both counted in business hours (coverage business_hours).
    # From Monday 08:00: 24 working hours end Wednesday 12:00, 20 (2bd) end Tuesday 18:00.
    (found,) = inversions([target(1, "24h", "business_hours"), target(3, "2bd", "business_hours")], WEEKDAYS)
    assert found.describe(WEEKDAYS) == "sev1 (24h) is due after sev3 (2bd) for a start on Mon 08:00 (Wed 12:00 > Tue 18:00)"


def test_targets_in_severity_order_pass_on_every_clock() -> None:
    shipped_premium = [target(1, "15m"), target(2, "1h"), target(3, "4h"), target(4, "1bd")]
    assert inversions(shipped_premium, WEEKDAYS) == []
    # 24 wall-clock hours can never be due after 3 business days: business time is never faster.
    assert inversions([target(1, "24h"), target(2, "3bd")], WEEKDAYS) == []
    assert inversions([target(1, "1bd", "business_hours"), target(2, "1bd", "business_hours")], WEEKDAYS) == []


def test_a_business_critical_target_falls_behind_a_wall_clock_one_over_the_weekend() -> None:
    # 1bd against 24h holds on weekdays; from Friday 08:30 the business day ends Monday 08:30,
    # the 24 hours Saturday 08:30. The first start that shows it is the reported example.
    (found,) = inversions([target(1, "1bd", "business_hours"), target(2, "24h")], WEEKDAYS)
    assert found.describe(WEEKDAYS) == "sev1 (1bd) is due after sev2 (24h) for a start on Fri 08:30 (Mon 08:30 > Sat 08:30)"


def test_a_holiday_shows_a_contradiction_no_ordinary_week_does() -> None:
    every_day = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    pair = [target(1, "1bd", "business_hours"), target(2, "24h")]
    # Open every day, a business day never outlasts 24 hours...
    assert inversions(pair, BusinessCalendar(NEW_YORK, days=every_day)) == []
    # ...until a holiday: from Wednesday 23 December 08:30, 9.5 working hours that day, none on
    # Thursday 24, the last half hour on Friday 25 (no national holidays in this calendar).
    calendar = BusinessCalendar(NEW_YORK, days=every_day, holidays=[date(2026, 12, 24)])
    (found,) = inversions(pair, calendar)
    assert found.describe(calendar) == (
        "sev1 (1bd) is due after sev2 (24h) for a start on Wed 2026-12-23 08:30 "
        "(Fri 2026-12-25 08:30 > Thu 2026-12-24 08:30)"
    )


def test_every_contradicting_pair_is_reported() -> None:
    found = inversions([target(1, "3bd", "business_hours"), target(2, "2bd", "business_hours"), target(3, "1bd", "business_hours")], WEEKDAYS)
    assert [(f.severe.key, f.lesser.key) for f in found] == [("sev1", "sev2"), ("sev1", "sev3"), ("sev2", "sev3")]


# --- the configuration -----------------------------------------------------------------------


def test_the_shipped_configuration_keeps_every_order() -> None:
    config = load_settings(SHIPPED, env={}).config
    assert commitment_problems(config) == []
    result = check(SHIPPED)
    assert result.exit_code == 0, result.output


def test_config_check_refuses_a_critical_ticket_due_after_a_minor_one(tmp_path: Path) -> None:
    text = edited("{sev1: 1bd, sev2: 1bd, sev3: 2bd, sev4: 3bd}", "{sev1: 24h, sev2: 1bd, sev3: 2bd, sev4: 3bd}")
    path = write(tmp_path, text)
    result = check(path)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    line, column = position(text, "sev1: 24h")
    # From Monday 08:00 (New York): 24 working hours end Wednesday 12:00, 1bd Monday 18:00, 2bd
    # Tuesday 18:00; 3bd ends Wednesday 18:00, after the 24 hours, so sev4 is fine.
    field = f"{path}:{line}:{column}: support_tiers[standard].response_targets"
    assert result.stderr.splitlines() == [
        f"{field}: sev1 (24h) is due after sev2 (1bd) for a start on Mon 08:00 (Wed 12:00 > Mon 18:00)",
        f"{field}: sev1 (24h) is due after sev3 (2bd) for a start on Mon 08:00 (Wed 12:00 > Tue 18:00)",
    ]


def test_a_severity_resolving_later_than_the_next_one_is_refused(tmp_path: Path) -> None:
    text = edited("    resolution: 4h           # full resolution; guide", "    resolution: 72h")
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, text), env={})
    line, column = position(text, "resolution: 72h")
    # Sev-2 resolves within 48 hours, both on the wall clock: wrong for every start.
    assert caught.value.lines == [
        f"{tmp_path / 'statuspage.yaml'}:{line}:{column}: severities.sev1.resolution: "
        "sev1 (72h) is due after sev2 (48h) for a start on Mon 08:00 (Thu 08:00 > Wed 08:00)"
    ]


def test_every_service_figure_says_where_it_comes_from() -> None:
    """In the sections of targets, each line with a duration, a percentage or a price carries a
    comment naming its origin: guide or default."""
    section = None
    unmarked = []
    figure = re.compile(r":\s*(\{[^#]*\b\d+(bd|bh|s|m|h|d|w)?\b|\d+(bd|bh|s|m|h|d|w)\b|\"\d\d:\d\d\")")
    for number, line in enumerate(SHIPPED_TEXT.splitlines(), start=1):
        if re.match(r"^[a-z_]+:", line):
            section = line.split(":")[0]
        body, _, comment = line.partition("#")
        if section in {"severities", "channels", "support_tiers", "business_hours"} or "acknowledge_within" in body:
            if figure.search(body) and not re.search(r"\b(guide|default)\b", comment):
                unmarked.append((number, line))
    assert unmarked == []
    assert "80 %" not in SHIPPED_TEXT  # the phone line has one figure, not two from different guides


# --- times of day ----------------------------------------------------------------------------


def test_an_unquoted_digest_time_is_read_as_that_time(tmp_path: Path) -> None:
    text = edited('  incidents_channel: "#incidents"\n', '  incidents_channel: "#incidents"\n  digest_channel: "#digest"\n  digest_at: 10:30\n')
    path = write(tmp_path, text)
    assert check(path).exit_code == 0
    config = load_settings(path, env={}).config
    assert config.slack.digest_at == time(10, 30)
    # 10:30 in New York on 25 November (EST, UTC-5) is 15:30 UTC.
    assert due_day(config, datetime(2026, 11, 25, 15, 29, 59, tzinfo=UTC)) is None
    assert due_day(config, datetime(2026, 11, 25, 15, 30, tzinfo=UTC)) == date(2026, 11, 25)


def test_unquoted_business_hours_are_read_as_those_times(tmp_path: Path) -> None:
    text = edited('  start: "08:00"', "  start: 9:30").replace('  end: "18:00"', "  end: 17:45")
    hours = load_settings(write(tmp_path, text), env={}).config.business_hours
    assert (hours.start, hours.end) == (time(9, 30), time(17, 45))


@pytest.mark.parametrize(
    ("written", "shown"),
    [("25:00", "25:00"), ("10:30:00", "10:30:00"), ('"24:00"', '"24:00"'), ("9", "9"), ("half past ten", '"half past ten"')],
)
def test_a_digest_time_that_is_no_time_of_day_is_refused_with_its_line(tmp_path: Path, written: str, shown: str) -> None:
    text = edited('  incidents_channel: "#incidents"\n', f'  incidents_channel: "#incidents"\n  digest_at: {written}\n')
    path = write(tmp_path, text)
    result = check(path)
    assert result.exit_code == 2
    line, column = position(text, f"digest_at: {written}")
    assert result.stderr.splitlines() == [
        f"{path}:{line}:{column}: slack.digest_at: {shown} is not a time of day like 10:30 "
        "(00:00 to 23:59; quote a time with seconds)"
    ]


# --- business time in words ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "day", "words"),
    [
        (10 * 36000, 36000, "10 business days"),
        (12 * 3600, 36000, "1 business day 2 business hours"),
        (36000, 36000, "1 business day"),
        (2 * 3600 + 15 * 60, 36000, "2 business hours 15 business minutes"),
        (12 * 3600, 0, "12 business hours"),  # the day's length unknown
        (0, 36000, "0 business hours"),
    ],
)
def test_business_seconds_in_words(seconds: int, day: int, words: str) -> None:
    assert describe_business_seconds(seconds, day) == words


def test_wall_clock_seconds_stay_in_calendar_days() -> None:
    assert describe_clock_seconds(100 * 3600, "24x7", 36000) == "4 days 4 hours"
    assert describe_clock_seconds(100 * 3600, "business_hours", 36000) == "10 business days"


def test_incident_show_prints_business_targets_in_business_days(cli_env: dict[str, str]) -> None:
    runner = CliRunner(env=cli_env)
    # Wednesday 25 November 2026, 10:00 in New York; Thursday 26 is Thanksgiving.
    with freeze_time("2026-11-25T15:00:00Z"):
        declared = runner.invoke(incident_main, ["declare", "-s", "3", "-t", "Export slow", "-c", "api"], catch_exceptions=False)
        assert declared.exit_code == 0, declared.output
        shown = runner.invoke(incident_main, ["show", "1"], catch_exceptions=False).stdout
    table = shown[shown.index("SLA targets") : shown.index("Affected components")]
    rows = [" ".join(line.split()) for line in table.splitlines()[2:] if line.strip()]
    # 1bd: 8 working hours on Wednesday, none on Thanksgiving, the last 2 on Friday; 10bd (100
    # hours) runs to Thursday 10 December. Declaring posted the first update, so the first
    # response is met; the resolution has all its time left.
    assert rows == [
        "First response 1 business day 2026-11-27 10:00:00 EST met",
        "Resolution 10 business days 2026-12-10 10:00:00 EST 10 business days left",
    ]
    assert "business time" not in shown


@pytest.fixture
def client(runtime: Runtime, clock: FixedClock) -> Iterator[TestClient]:
    with TestClient(create_app(runtime.settings, runtime.engine, clock=clock, version_check_interval=0)) as c:
        yield c


def test_sla_page_prints_a_missed_business_target_in_business_days(client: TestClient, ctx: WriteContext, clock: FixedClock) -> None:
    # Detected Monday 16 November 09:00 in New York, first answered (declared) Wednesday 18 at
    # 11:00: 9 working hours on Monday, 10 on Tuesday, 3 on Wednesday, 22 against 1bd (10 hours).
    detected = datetime(2026, 11, 16, 14, 0, tzinfo=UTC)
    clock.at = datetime(2026, 11, 18, 16, 0, tzinfo=UTC)
    incidents.declare(ctx=ctx, severity=3, title="Export slow", components=["api"], detected_at=detected)
    (breach,) = client.get("/sla.json").json()["breaches"]
    assert (breach["target"], breach["promised"], breach["actual"], breach["breached_by"]) == (
        "first_response", "1 business day", "2 business days 2 business hours", "1 business day 2 business hours"
    )
    assert clock.at - detected == timedelta(days=2, hours=2)  # on the wall clock: "2 days 2 hours"
