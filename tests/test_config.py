"""The configuration file as an operator sees it: the shipped example, and the one-line errors
``file:line:column: field.path: message`` for every way of getting it wrong."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import time, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from statuspage.cli import main as statuspage_main
from statuspage.domain.durations import Duration
from statuspage.settings import Config, ConfigError, load_settings

SHIPPED = Path(__file__).resolve().parent.parent / "statuspage.yaml"
SHIPPED_TEXT = SHIPPED.read_text(encoding="utf-8")
NAME = "statuspage.yaml"
ONE_LINE_ERROR = re.compile(r"^statuspage\.yaml:\d+:\d+: \S")


def locate(text: str, marker: str) -> tuple[int, int]:
    """1-based line and column where ``marker`` starts; it must occur exactly once."""
    assert text.count(marker) == 1, f"{marker!r} occurs {text.count(marker)} times in the edited file"
    index = text.index(marker)
    line = text.count("\n", 0, index) + 1
    column = index - (text.rfind("\n", 0, index) + 1) + 1
    return line, column


def edit(old: str, new: str) -> str:
    assert SHIPPED_TEXT.count(old) == 1, f"{old!r} is not exactly once in the shipped statuspage.yaml"
    return SHIPPED_TEXT.replace(old, new)


def errors_for(text: str | bytes, directory: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Write ``statuspage.yaml`` into ``directory`` and load it by its relative name."""
    target = directory / NAME
    if isinstance(text, bytes):
        target.write_bytes(text)
    else:
        target.write_text(text, encoding="utf-8")
    monkeypatch.chdir(directory)
    with pytest.raises(ConfigError) as caught:
        load_settings(NAME, env={})
    return caught.value.lines


@pytest.fixture(scope="module")
def shipped() -> Config:
    return load_settings(SHIPPED, env={}).config


# --- the shipped example -------------------------------------------------------------------


def test_shipped_config_loads(shipped: Config) -> None:
    assert shipped.page.id == "sendero"
    assert shipped.page.name == "Sendero"
    assert shipped.page.time_zone == "America/New_York"


def test_shipped_config_defines_sev1_to_sev4(shipped: Config) -> None:
    assert shipped.severity_levels == [1, 2, 3, 4]


@pytest.mark.parametrize(
    ("target", "text", "length"),
    [
        ("first_response", "15m", timedelta(minutes=15)),
        ("acknowledgement", "1h", timedelta(hours=1)),
        ("resolution", "4h", timedelta(hours=4)),
    ],
)
def test_shipped_sev1_targets(shipped: Config, target: str, text: str, length: timedelta) -> None:
    duration = getattr(shipped.severities["sev1"], target)
    assert duration == Duration.parse(text)
    assert duration.timedelta == length


@pytest.mark.parametrize(("target", "text"), [("first_response", "1bd"), ("resolution", "10bd")])
def test_shipped_sev3_runs_on_business_days(shipped: Config, target: str, text: str) -> None:
    sev3 = shipped.severities["sev3"]
    assert sev3.clock == "business_hours"
    assert getattr(sev3, target) == Duration(business_days=int(text.removesuffix("bd")))


def test_shipped_escalation_has_three_tiers_in_order(shipped: Config) -> None:
    assert [(t.level, t.name) for t in shipped.escalation.tiers] == [
        (1, "Front line"),
        (2, "Specialists"),
        (3, "Executive"),
    ]


@pytest.mark.parametrize(
    ("level", "severity", "wait"),
    [(1, "sev1", "5m"), (1, "sev2", "15m"), (1, "sev3", "4h"), (2, "sev1", "15m"), (3, "sev1", "72h")],
)
def test_shipped_escalation_acknowledge_within(shipped: Config, level: int, severity: str, wait: str) -> None:
    tier = shipped.escalation.tier(level)
    assert tier is not None
    assert tier.acknowledge_within.for_severity(severity) == Duration.parse(wait)


def test_shipped_support_tiers_are_basic_standard_premium(shipped: Config) -> None:
    assert [t.name for t in shipped.support_tiers] == ["Basic", "Standard", "Premium"]


@pytest.mark.parametrize(
    ("tier_id", "included", "low", "high"),
    [
        ("basic", True, None, None),
        ("standard", False, Decimal(49), Decimal(99)),
        ("premium", False, Decimal(199), Decimal(499)),
    ],
)
def test_shipped_support_tier_prices(
    shipped: Config, tier_id: str, included: bool, low: Decimal | None, high: Decimal | None
) -> None:
    tier = next(t for t in shipped.support_tiers if t.id == tier_id)
    assert (tier.price.included, tier.price.min, tier.price.max) == (included, low, high)
    assert tier.price.currency == "USD"


@pytest.mark.parametrize(("tier_id", "sev1_response"), [("basic", "2bd"), ("standard", "1bd"), ("premium", "15m")])
def test_shipped_support_tier_sev1_response(shipped: Config, tier_id: str, sev1_response: str) -> None:
    tier = next(t for t in shipped.support_tiers if t.id == tier_id)
    assert tier.response_targets["sev1"] == Duration.parse(sev1_response)


def test_shipped_business_hours_are_weekdays_eight_to_six(shipped: Config) -> None:
    hours = shipped.business_hours
    assert hours.days == ("mon", "tue", "wed", "thu", "fri")
    assert (hours.start, hours.end) == (time(8, 0), time(18, 0))


def test_shipped_business_hours_use_the_page_time_zone(shipped: Config) -> None:
    assert shipped.business_time_zone == "America/New_York"


def test_shipped_components_belong_to_known_groups(shipped: Config) -> None:
    groups = {g.id for g in shipped.component_groups}
    assert groups == {"platform", "support"}
    assert {c.group for c in shipped.components} <= groups | {None}


# --- broken variants of the shipped file ---------------------------------------------------


@dataclass(frozen=True)
class Broken:
    id: str
    old: str
    new: str
    marker: str  # where the error must point: the text starting at the reported column
    path: str  # field path in the message; "" for YAML-level errors that have none
    message: str
    whole: bool = True  # the message is everything after the path, not just a part of it

    @property
    def text(self) -> str:
        return edit(self.old, self.new)


BROKEN = [
    Broken(
        "duration-in-words",
        "    resolution: 4h           # full resolution; guide",
        '    resolution: "4 hours"',
        'resolution: "4 hours"',
        "severities.sev1.resolution",
        '"4 hours" is not a duration like 4h',
    ),
    Broken(
        "duration-without-unit",
        "    first_response: 15m",
        "    first_response: 15",
        "first_response: 15",
        "severities.sev1.first_response",
        "15 has no unit; write it like 15m, 4h or 2bd",
    ),
    Broken(
        "mixed-units",
        "    resolution_plan: 24h",
        "    resolution_plan: 1h2bd",
        "resolution_plan: 1h2bd",
        "severities.sev1.resolution_plan",
        '"1h2bd"',
        whole=False,
    ),
    Broken(
        "typo-in-field-name",
        "    update_every: 30m        # communication",
        "    update_evry: 30m        # communication",
        "update_evry: 30m",
        "severities.sev1.update_evry",
        "is not a known field",
    ),
    Broken(
        "unknown-component-group",
        "    group: support\n  - id: chat-support",
        "    group: suport\n  - id: chat-support",
        "group: suport",
        "components[5].group",
        'no component group "suport" (known: platform, support)',
    ),
    Broken(
        "duplicate-key",
        "    resolution_plan: 24h",
        "    resolution_plan: 24h\n    resolution: 5h",
        "resolution: 5h",
        "severities.sev1.resolution",
        "duplicate key 'resolution'",
    ),
    Broken(
        "tab-indent",
        "    name: Critical",
        "\tname: Critical",
        "\tname: Critical",
        "",
        "a tab character; indent YAML with spaces",
    ),
    Broken(
        "list-where-mapping-expected",
        "  holidays:\n    country: US\n    extra: [2026-12-24, 2026-12-31]",
        "  holidays: [US]",
        "holidays: [US]",
        "business_hours.holidays",
        "should be a mapping of fields, not a list",
    ),
    Broken(
        "unknown-impact",
        "    impact: critical",
        "    impact: severe",
        "impact: severe",
        "severities.sev1.impact",
        '"severe" is not one of: ',
        whole=False,
    ),
    Broken(
        "maintenance-impact-on-a-severity",
        "    impact: none",
        "    impact: maintenance",
        "impact: maintenance",
        "severities.sev4.impact",
        "maintenance is for scheduled maintenance, not a severity",
    ),
    Broken(
        "bad-time-zone",
        "  time_zone: America/New_York",
        "  time_zone: America/Gotham",
        "time_zone: America/Gotham",
        "page.time_zone",
        '"America/Gotham" is not an IANA time zone like Europe/Madrid',
    ),
    Broken(
        "contact-with-two-methods",
        "[{slack_user: U01ANARUIZ}, {phone",
        "[{slack_user: U01ANARUIZ, email: ana@sendero.example}, {phone",
        "{slack_user: U01ANARUIZ, email",
        "escalation.tiers[0].owners[0].contacts[0]",
        "a contact names exactly one of slack_user, slack_channel, phone, email, apprise, webhook",
    ),
    Broken(
        "upper-case-id",
        "  - id: web\n",
        "  - id: Web\n",
        "id: Web",
        "components[1].id",
        "\"Web\" is not an id: use lower-case letters, digits, '-' and '_'",
    ),
    Broken(
        "response-target-for-undefined-severity",
        "{sev1: 15m, sev2: 1h, sev3: 4h, sev4: 1bd}",
        "{sev1: 15m, sev2: 1h, sev3: 4h, sev4: 1bd, sev5: 2bd}",
        "sev5: 2bd",
        "support_tiers[2].response_targets.sev5",
        'no severity "sev5" is defined',
    ),
    Broken(
        "escalation-wait-for-undefined-severity",
        "{default: 4h, sev1: 5m, sev2: 15m}",
        "{default: 4h, sev1: 5m, sev9: 15m}",
        "sev9: 15m",
        "escalation.tiers[0].acknowledge_within.sev9",
        'no severity "sev9" is defined',
    ),
    Broken(
        "duplicate-component-id",
        "  - id: web\n",
        "  - id: api\n",
        "id: api\n    name: Web app",
        "components[1].id",
        '"api" is used twice',
    ),
    Broken(
        "duplicate-escalation-level",
        "    - level: 3",
        "    - level: 2",
        "level: 2\n      name: Executive",
        "escalation.tiers[2].level",
        "level 2 is used twice",
    ),
    Broken(
        "business-hours-end-before-start",
        '  end: "18:00"',
        '  end: "07:00"',
        "business_hours:",
        "business_hours",
        "business hours end before they start",
    ),
    Broken(
        "unknown-weekday",
        "  days: [mon, tue, wed, thu, fri]",
        "  days: [mon, tue, wed, thu, fry]",
        "fry]",
        "business_hours.days[4]",
        '"fry" is not one of: ',
        whole=False,
    ),
    Broken(
        "unknown-support-channel",
        "    channels: [email, chat]\n",
        "    channels: [email, fax]\n",
        "fax]",
        "support_tiers[1].channels[1]",
        '"fax" is not one of: ',
        whole=False,
    ),
    Broken(
        "price-range-upside-down",
        "{currency: USD, min: 49, max: 99, per: seat per month}",
        "{currency: USD, min: 99, max: 49, per: seat per month}",
        "price: {currency: USD, min: 99",
        "support_tiers[1].price",
        "max is lower than min",
    ),
    Broken(
        "page-url-not-http",
        "  url: http://127.0.0.1:8000",
        "  url: ftp://status.example",
        "url: ftp://status.example",
        "page.url",
        '"ftp://status.example" is not an http(s) URL',
    ),
    Broken(
        "missing-required-field",
        "  id: sendero\n  name: Sendero\n",
        "  id: sendero\n",
        "page:",
        "page.name",
        "is required",
    ),
    Broken(
        "unknown-holiday-country",
        "    country: US",
        "    country: XX",
        "country: XX",
        "business_hours.holidays.country",
        '"XX" is not a country code the holidays package knows',
    ),
]


def expected_start(case: Broken) -> str:
    line, column = locate(case.text, case.marker)
    return f"{NAME}:{line}:{column}: " + (f"{case.path}: " if case.path else "")


@pytest.mark.parametrize("case", BROKEN, ids=[c.id for c in BROKEN])
def test_broken_config_names_line_column_field_and_problem(
    case: Broken, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = errors_for(case.text, tmp_path, monkeypatch)
    start = expected_start(case)
    assert len(lines) == 1, lines
    if case.whole:
        assert lines[0] == start + case.message
    else:
        assert lines[0].startswith(start), lines
        assert case.message in lines[0].removeprefix(start)


@pytest.mark.parametrize("case", BROKEN, ids=[c.id for c in BROKEN])
def test_broken_config_errors_are_single_lines_with_position(
    case: Broken, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = errors_for(case.text, tmp_path, monkeypatch)
    assert lines
    for line in lines:
        assert "\n" not in line and "\r" not in line
        assert ONE_LINE_ERROR.match(line), line


def test_renaming_a_severity_reports_every_reference_to_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lines = errors_for(edit("  sev4:\n", "  low:\n"), tmp_path, monkeypatch)
    assert lines[0].endswith('severities.low: "low" is not a severity name like sev1')
    assert [line.split(": ", 1)[1] for line in lines[1:]] == [
        f'support_tiers[{i}].response_targets.sev4: no severity "sev4" is defined' for i in range(3)
    ]


def test_tab_inside_a_line_points_at_the_tab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = edit("    name: Critical", "    name:\tCritical")
    line, column = locate(text, "\tCritical")
    assert errors_for(text, tmp_path, monkeypatch) == [
        f"{NAME}:{line}:{column}: a tab character; indent YAML with spaces"
    ]


def test_non_utf8_byte_is_reported_with_its_line_and_column(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    raw = SHIPPED_TEXT.encode("utf-8").replace(b"  name: Sendero\n", b"  name: Send\xffero\n", 1)
    index = raw.index(b"\xff")
    line = raw.count(b"\n", 0, index) + 1
    column = index - (raw.rfind(b"\n", 0, index) + 1) + 1
    assert line == 6  # guards the arithmetic above against a shipped file that moved page.name
    assert errors_for(raw, tmp_path, monkeypatch) == [f"{NAME}:{line}:{column}: not valid UTF-8 (byte 0xff)"]


@pytest.mark.parametrize("content", ["", "\n\n", "# only a comment\n"], ids=["empty", "blank-lines", "comment"])
def test_empty_file_is_one_error(content: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert errors_for(content, tmp_path, monkeypatch) == [f"{NAME}:1:1: the file is empty"]


@pytest.mark.parametrize("content", ["just words\n", "- page\n- severities\n"], ids=["scalar", "list"])
def test_file_that_is_not_a_mapping(content: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert errors_for(content, tmp_path, monkeypatch) == [
        f"{NAME}:1:1: the file must hold a mapping of sections (page, severities, ...)"
    ]


def test_second_yaml_document_is_refused_at_its_separator(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = SHIPPED_TEXT + "---\nextra: 1\n"
    line, column = locate(text, "---\n")
    (error,) = errors_for(text, tmp_path, monkeypatch)
    assert error.startswith(f"{NAME}:{line}:{column}: ")
    assert "single document" in error


def test_missing_file_names_it_and_how_to_choose_another(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as caught:
        load_settings("missing.yaml", env={})
    assert caught.value.lines == ["missing.yaml: no such file (give --config FILE or set STATUSPAGE_CONFIG)"]


def test_oversized_file_is_refused_before_parsing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    size = 2 * 1024 * 1024 + 1
    (error,) = errors_for("#" * size, tmp_path, monkeypatch)
    assert error == f"{NAME}: {size} bytes is larger than the {size - 1} bytes allowed"


def test_errors_name_the_file_as_given(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "site.yaml"
    target.parent.mkdir()
    target.write_text(edit("    impact: critical", "    impact: severe"), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(str(target), env={})
    assert caught.value.lines[0].startswith(f"{target}:26:5: severities.sev1.impact: ")


def test_statuspage_config_env_chooses_the_file(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.yaml"
    target.write_text(SHIPPED_TEXT, encoding="utf-8")
    settings = load_settings(None, env={"STATUSPAGE_CONFIG": str(target)})
    assert settings.config_path == target


def test_recursive_alias_is_a_config_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = edit("slack:\n  enabled: true", "slack: &s\n  enabled: true\n  base_url: *s")
    (error,) = errors_for(text, tmp_path, monkeypatch)
    assert ONE_LINE_ERROR.match(error)


def test_mixed_units_error_says_they_cannot_be_mixed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (error,) = errors_for(edit("    resolution_plan: 24h", "    resolution_plan: 1h2bd"), tmp_path, monkeypatch)
    assert "mixes business and calendar units" in error


def test_alias_bomb_is_refused_with_a_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(7)
    )
    (error,) = errors_for(SHIPPED_TEXT + "\nbomb:\n" + "".join("  " + line + "\n" for line in bomb.splitlines()), tmp_path, monkeypatch)
    assert ONE_LINE_ERROR.match(error)
    assert "too many aliases" in error


# --- the database URL ----------------------------------------------------------------------


@pytest.fixture
def config_copy(tmp_path: Path) -> Path:
    target = tmp_path / NAME
    target.write_text(SHIPPED_TEXT, encoding="utf-8")
    return target


def test_default_database_is_sqlite_under_var_next_to_config(config_copy: Path) -> None:
    settings = load_settings(config_copy, env={})
    assert settings.database_url == f"sqlite:///{config_copy.parent / 'var' / 'statuspage.db'}"


def test_default_database_path_is_absolute_for_a_relative_config(
    config_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(config_copy.parent)
    settings = load_settings(NAME, env={})
    assert settings.database_url == f"sqlite:///{Path.cwd() / 'var' / 'statuspage.db'}"


def test_database_url_env_overrides_the_default(config_copy: Path) -> None:
    settings = load_settings(config_copy, env={"DATABASE_URL": "postgresql://db.example/status"})
    assert settings.database_url == "postgresql://db.example/status"


def test_empty_database_url_env_falls_back_to_the_default(config_copy: Path) -> None:
    settings = load_settings(config_copy, env={"DATABASE_URL": ""})
    assert settings.database_url.startswith("sqlite:///")


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "sqlite:////srv/from-config.db"),
        ({"DATABASE_URL": "sqlite:////srv/from-env.db"}, "sqlite:////srv/from-env.db"),
    ],
    ids=["config-beats-default", "env-beats-config"],
)
def test_database_url_precedence(config_copy: Path, env: dict[str, str], expected: str) -> None:
    config_copy.write_text(SHIPPED_TEXT + "\ndatabase:\n  url: sqlite:////srv/from-config.db\n", encoding="utf-8")
    assert load_settings(config_copy, env=env).database_url == expected


def test_loading_settings_creates_no_files(config_copy: Path) -> None:
    load_settings(config_copy, env={})
    assert sorted(p.name for p in config_copy.parent.iterdir()) == [NAME]


# --- statuspage config check ---------------------------------------------------------------


def check(path: Path) -> Result:
    runner = CliRunner(env={"STATUSPAGE_CONFIG": None, "DATABASE_URL": None})
    return runner.invoke(statuspage_main, ["--config", str(path), "config", "check"], prog_name="statuspage")


def test_config_check_prints_one_ok_line(config_copy: Path) -> None:
    result = check(config_copy)
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    assert result.stdout.splitlines() == [
        f"{config_copy}: ok — Sendero, 4 severities, 9 components in 2 groups, 3 support tiers, 3 escalation tiers"
    ]


def test_config_check_finds_the_file_through_statuspage_config(config_copy: Path) -> None:
    runner = CliRunner(env={"STATUSPAGE_CONFIG": str(config_copy), "DATABASE_URL": None})
    result = runner.invoke(statuspage_main, ["config", "check"], prog_name="statuspage")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"{config_copy}: ok")


@pytest.mark.parametrize("case", BROKEN, ids=[c.id for c in BROKEN])
def test_config_check_broken_exits_2_with_errors_on_stderr_only(case: Broken, config_copy: Path) -> None:
    config_copy.write_text(case.text, encoding="utf-8")
    result = check(config_copy)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert "Traceback" not in result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"{config_copy}:")
    assert case.message in lines[0]


def test_config_check_missing_file_exits_2(tmp_path: Path) -> None:
    result = check(tmp_path / "nope.yaml")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"{tmp_path / 'nope.yaml'}: no such file (give --config FILE or set STATUSPAGE_CONFIG)"
    ]


@pytest.mark.parametrize("broken", [False, True], ids=["valid", "broken"])
def test_config_check_writes_nothing(config_copy: Path, broken: bool) -> None:
    if broken:
        config_copy.write_text(BROKEN[0].text, encoding="utf-8")
    result = check(config_copy)
    assert result.exit_code == (2 if broken else 0)
    assert not (config_copy.parent / "var").exists()
    assert sorted(p.name for p in config_copy.parent.iterdir()) == [NAME]
