"""Pure domain rules: durations as written in the configuration, and how the page sums itself up."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from statuspage.domain.durations import Duration, DurationError
from statuspage.domain.enums import ComponentStatus, Impact
from statuspage.domain.status import PageStatus, effective_component_status, page_status

OPERATIONAL = ComponentStatus.OPERATIONAL
MAINTENANCE = ComponentStatus.UNDER_MAINTENANCE
DEGRADED = ComponentStatus.DEGRADED_PERFORMANCE
PARTIAL = ComponentStatus.PARTIAL_OUTAGE
MAJOR = ComponentStatus.MAJOR_OUTAGE

# --- durations -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("15m", 900),
        ("4h", 4 * 3600),
        ("1h30m", 5400),
        ("90s", 90),
        ("2d", 2 * 86400),
        ("1w", 7 * 86400),
        ("1h 30m", 5400),
        ("  4h  ", 4 * 3600),
        ("30m1h", 5400),
    ],
)
def test_parse_calendar_duration(text: str, seconds: int) -> None:
    assert Duration.parse(text) == Duration(seconds=seconds)


@pytest.mark.parametrize(
    ("text", "days", "hours"),
    [("2bd", 2, 0), ("8bh", 0, 8), ("1bd4bh", 1, 4), ("4bh1bd", 1, 4)],
)
def test_parse_business_duration(text: str, days: int, hours: int) -> None:
    assert Duration.parse(text) == Duration(business_days=days, business_hours=hours)


@pytest.mark.parametrize(("text", "business"), [("15m", False), ("3d", False), ("2bd", True), ("8bh", True)])
def test_is_business(text: str, business: bool) -> None:
    assert Duration.parse(text).is_business is business


def test_eight_business_hours_is_not_one_business_day() -> None:
    assert Duration.parse("8bh") != Duration.parse("1bd")


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("15m", "15m"),
        ("90m", "1h30m"),
        ("60s", "1m"),
        ("24h", "1d"),
        ("1w", "7d"),
        ("1d1s", "1d1s"),
        ("2bd", "2bd"),
        ("4bh1bd", "1bd4bh"),
    ],
)
def test_str_is_compact_and_normalised(text: str, shown: str) -> None:
    assert str(Duration.parse(text)) == shown


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("1m", "1 minute"),
        ("15m", "15 minutes"),
        ("1h", "1 hour"),
        ("4h", "4 hours"),
        ("1h30m", "1 hour 30 minutes"),
        ("1d1h1m", "1 day 1 hour"),
        ("1bd", "1 business day"),
        ("2bd", "2 business days"),
        ("8bh", "8 business hours"),
        ("1bd1bh", "1 business day 1 business hour"),
    ],
)
def test_describe_in_words(text: str, words: str) -> None:
    assert Duration.parse(text).describe() == words


@pytest.mark.parametrize("text", ["", "  ", "4", "h", "4 hours", "4x", "4H", "1.5h", "-1h", "1h-30m", "4h!", "PT4H"])
def test_parse_refuses_with_the_text_quoted(text: str) -> None:
    with pytest.raises(DurationError) as caught:
        Duration.parse(text)
    assert str(caught.value) == f"{text!r} is not a duration like 15m, 4h or 2bd"


@pytest.mark.parametrize("value", [15, None, 1.5])
def test_parse_refuses_non_text_as_a_duration_error(value: object) -> None:
    with pytest.raises(DurationError, match="is not a duration"):
        Duration.parse(value)  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["1h2bd", "2bd1h", "30m1bh", "1bd 1s", "0bd1h"])
def test_parse_refuses_mixed_business_and_calendar_units(text: str) -> None:
    with pytest.raises(DurationError) as caught:
        Duration.parse(text)
    assert str(caught.value) == f"{text!r} mixes business and calendar units"


@pytest.mark.parametrize("text", ["0m", "0s0h", "0bd"])
def test_parse_refuses_zero(text: str) -> None:
    with pytest.raises(DurationError) as caught:
        Duration.parse(text)
    assert str(caught.value) == f"{text!r} is zero; a target must be longer than that"


def test_duration_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        Duration.parse("soon")


@pytest.mark.parametrize(
    ("text", "length"),
    [("15m", timedelta(minutes=15)), ("1h30m", timedelta(hours=1, minutes=30)), ("1w", timedelta(days=7))],
)
def test_calendar_duration_has_a_timedelta(text: str, length: timedelta) -> None:
    assert Duration.parse(text).timedelta == length


@pytest.mark.parametrize("text", ["2bd", "8bh", "1bd4bh"])
def test_business_duration_refuses_timedelta(text: str) -> None:
    with pytest.raises(DurationError) as caught:
        Duration.parse(text).timedelta  # noqa: B018 - the property access is what raises
    assert str(caught.value) == f"{text} counts business time and has no fixed length"


@hypothesis_settings(database=None)
@given(st.integers(min_value=1, max_value=10**9))
def test_calendar_duration_round_trips_through_str(seconds: int) -> None:
    duration = Duration(seconds=seconds)
    assert Duration.parse(str(duration)) == duration


@hypothesis_settings(database=None)
@given(
    st.tuples(st.integers(min_value=0, max_value=10**6), st.integers(min_value=0, max_value=10**6)).filter(
        lambda pair: pair != (0, 0)
    )
)
def test_business_duration_round_trips_through_str(pair: tuple[int, int]) -> None:
    days, hours = pair
    duration = Duration(business_days=days, business_hours=hours)
    assert Duration.parse(str(duration)) == duration


# --- page_status ---------------------------------------------------------------------------


def summary(components=(), incidents=(), maintenance=False) -> PageStatus:  # type: ignore[no-untyped-def]
    return page_status(
        component_statuses=components, open_incident_impacts=incidents, maintenance_in_progress=maintenance
    )


@pytest.mark.parametrize(
    ("status", "indicator", "description"),
    [
        (OPERATIONAL, "none", "All Systems Operational"),
        (MAINTENANCE, "maintenance", "Service Under Maintenance"),
        (DEGRADED, "minor", "Minor Service Outage"),
        (PARTIAL, "major", "Partial System Outage"),
        (MAJOR, "critical", "Major System Outage"),
    ],
)
def test_page_status_for_one_component(status: ComponentStatus, indicator: str, description: str) -> None:
    assert summary([OPERATIONAL, status, OPERATIONAL]) == PageStatus(indicator, description)


def test_page_status_with_no_components_is_operational() -> None:
    assert summary() == PageStatus("none", "All Systems Operational")


@pytest.mark.parametrize(
    ("components", "indicator"),
    [([DEGRADED, PARTIAL], "major"), ([MAJOR, DEGRADED], "critical"), ([MAINTENANCE, DEGRADED], "minor")],
)
def test_page_status_worst_component_wins(components: list[ComponentStatus], indicator: str) -> None:
    assert summary(components).indicator == indicator


@pytest.mark.parametrize(
    ("impact", "indicator", "description"),
    [
        (Impact.MINOR, "minor", "Minor Service Outage"),
        (Impact.MAJOR, "major", "Partial System Outage"),
        (Impact.CRITICAL, "critical", "Major System Outage"),
    ],
)
def test_open_incident_raises_indicator_while_components_are_operational(
    impact: Impact, indicator: str, description: str
) -> None:
    assert summary([OPERATIONAL, OPERATIONAL], [impact]) == PageStatus(indicator, description)


def test_open_incident_with_no_impact_leaves_page_operational() -> None:
    assert summary([OPERATIONAL], [Impact.NONE]).indicator == "none"


@pytest.mark.parametrize(
    ("components", "incidents", "indicator"),
    [
        ([DEGRADED], [Impact.CRITICAL], "critical"),
        ([MAJOR], [Impact.MINOR], "critical"),
        ([PARTIAL], [Impact.MINOR, Impact.NONE], "major"),
    ],
)
def test_page_status_is_worst_of_components_and_incidents(
    components: list[ComponentStatus], incidents: list[Impact], indicator: str
) -> None:
    assert summary(components, incidents).indicator == indicator


def test_maintenance_in_progress_with_everything_operational() -> None:
    assert summary([OPERATIONAL, OPERATIONAL], maintenance=True) == PageStatus(
        "maintenance", "Service Under Maintenance"
    )


@pytest.mark.parametrize(
    ("components", "incidents", "indicator"),
    [([PARTIAL], [], "major"), ([OPERATIONAL], [Impact.MINOR], "minor"), ([MAINTENANCE, MAJOR], [], "critical")],
)
def test_outage_during_maintenance_shows_the_outage(
    components: list[ComponentStatus], incidents: list[Impact], indicator: str
) -> None:
    assert summary(components, incidents, maintenance=True).indicator == indicator


def test_page_status_accepts_generators() -> None:
    status = summary((s for s in [OPERATIONAL, PARTIAL]), (i for i in [Impact.MINOR]))
    assert status.indicator == "major"


# --- effective_component_status ------------------------------------------------------------


@pytest.mark.parametrize("base", list(ComponentStatus))
def test_component_without_incidents_or_maintenance_shows_its_base(base: ComponentStatus) -> None:
    assert effective_component_status(base=base, held_by_incidents=[], in_maintenance=False) is base


@pytest.mark.parametrize(
    ("base", "held", "shown"),
    [
        (OPERATIONAL, [DEGRADED], DEGRADED),
        (OPERATIONAL, [DEGRADED, MAJOR, PARTIAL], MAJOR),
        (PARTIAL, [DEGRADED], PARTIAL),
        (DEGRADED, [PARTIAL, DEGRADED], PARTIAL),
    ],
)
def test_worst_holding_wins(base: ComponentStatus, held: list[ComponentStatus], shown: ComponentStatus) -> None:
    assert effective_component_status(base=base, held_by_incidents=held, in_maintenance=False) is shown


def test_maintenance_shows_on_an_operational_component() -> None:
    assert effective_component_status(base=OPERATIONAL, held_by_incidents=[], in_maintenance=True) is MAINTENANCE


@pytest.mark.parametrize("outage", [DEGRADED, PARTIAL, MAJOR])
def test_outage_ranks_above_maintenance(outage: ComponentStatus) -> None:
    held = effective_component_status(base=OPERATIONAL, held_by_incidents=[outage], in_maintenance=True)
    own = effective_component_status(base=outage, held_by_incidents=[], in_maintenance=True)
    assert (held, own) == (outage, outage)


@pytest.mark.parametrize(
    ("holding", "after_resolving_first", "after_resolving_all"),
    [
        ([MAJOR, DEGRADED], DEGRADED, OPERATIONAL),
        ([PARTIAL, PARTIAL], PARTIAL, OPERATIONAL),
        ([DEGRADED, MAJOR], MAJOR, OPERATIONAL),
    ],
)
def test_resolving_an_incident_restores_the_component_unless_another_holds_it(
    holding: list[ComponentStatus], after_resolving_first: ComponentStatus, after_resolving_all: ComponentStatus
) -> None:
    def shown(held: list[ComponentStatus]) -> ComponentStatus:
        return effective_component_status(base=OPERATIONAL, held_by_incidents=held, in_maintenance=False)

    assert shown(holding[1:]) is after_resolving_first
    assert shown([]) is after_resolving_all


def test_resolving_restores_a_degraded_base_not_operational() -> None:
    assert effective_component_status(base=DEGRADED, held_by_incidents=[], in_maintenance=False) is DEGRADED
    assert effective_component_status(base=DEGRADED, held_by_incidents=[MAJOR], in_maintenance=False) is MAJOR
