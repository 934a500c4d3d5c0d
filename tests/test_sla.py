"""Incident targets: met, breached or pending, on wall-clock and business clocks; attainment and credits."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from statuspage.domain.businesstime import BusinessCalendar, ClockKind
from statuspage.domain.durations import Duration
from statuspage.domain.sla import (
    Attainment,
    IncidentEvaluation,
    IncidentTimes,
    Outcome,
    TargetEvaluation,
    attainment,
    breaches_in_month,
    credit_percent,
    evaluate_incident,
    evaluate_target,
    severity_targets,
)
from statuspage.settings import Severity, SlaCredits

NY = ZoneInfo("America/New_York")
SEV1 = {
    "first_response": Duration.parse("15m"),
    "acknowledgement": Duration.parse("1h"),
    "resolution": Duration.parse("4h"),
}
SEV3 = {"first_response": Duration.parse("1bd"), "resolution": Duration.parse("10bd")}


def ny(*args: int) -> datetime:
    return datetime(*args, tzinfo=NY)  # type: ignore[misc]


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


@pytest.fixture(scope="module")
def calendar() -> BusinessCalendar:
    return BusinessCalendar("America/New_York", holidays=[date(2026, 11, 26)])


def first_response(
    incident: IncidentTimes,
    calendar: BusinessCalendar,
    now: datetime,
    target: str = "15m",
    clock: ClockKind = "24x7",
) -> TargetEvaluation:
    return evaluate_target("first_response", Duration.parse(target), incident, clock, calendar, now)


def test_sev1_met_breached_and_pending(calendar: BusinessCalendar) -> None:
    incident = IncidentTimes(
        detected_at=utc(2026, 11, 25, 10),
        first_response_at=utc(2026, 11, 25, 10, 10),
        acknowledged_at=utc(2026, 11, 25, 11, 30),
    )
    result = evaluate_incident(incident, SEV1, "24x7", calendar, now=utc(2026, 11, 25, 13))
    assert result.targets == (
        TargetEvaluation(
            target="first_response",
            clock="24x7",
            target_seconds=900,
            deadline=utc(2026, 11, 25, 10, 15),
            event_at=utc(2026, 11, 25, 10, 10),
            elapsed_seconds=600,
            outcome=Outcome.MET,
        ),
        TargetEvaluation(
            target="acknowledgement",
            clock="24x7",
            target_seconds=3600,
            deadline=utc(2026, 11, 25, 11),
            event_at=utc(2026, 11, 25, 11, 30),
            elapsed_seconds=5400,
            outcome=Outcome.BREACHED,
            breached_by_seconds=1800,
        ),
        TargetEvaluation(
            target="resolution",
            clock="24x7",
            target_seconds=14400,
            deadline=utc(2026, 11, 25, 14),
            event_at=None,
            elapsed_seconds=10800,
            outcome=Outcome.PENDING,
            remaining_seconds=3600,
        ),
    )
    assert result.evaluated_at == utc(2026, 11, 25, 13)
    assert [t.target for t in result.breaches] == ["acknowledgement"]
    assert result.get("resolution") is result.targets[2]
    assert result.get("resolution_plan") is None


def test_open_target_past_its_deadline_is_breached_and_keeps_growing(calendar: BusinessCalendar) -> None:
    incident = IncidentTimes(detected_at=utc(2026, 11, 25, 10))
    early = evaluate_target("resolution", SEV1["resolution"], incident, "24x7", calendar, utc(2026, 11, 25, 15))
    later = evaluate_target("resolution", SEV1["resolution"], incident, "24x7", calendar, utc(2026, 11, 25, 16))
    assert (early.outcome, early.breached_by_seconds, early.remaining_seconds) == (Outcome.BREACHED, 3600, None)
    assert (later.outcome, later.breached_by_seconds) == (Outcome.BREACHED, 7200)
    assert early.is_final


def test_exactly_at_the_deadline_is_met(calendar: BusinessCalendar) -> None:
    incident = IncidentTimes(detected_at=utc(2026, 11, 25, 10), first_response_at=utc(2026, 11, 25, 10, 15))
    result = first_response(incident, calendar, utc(2026, 11, 26))
    assert (result.outcome, result.elapsed_seconds, result.breached_by_seconds) == (Outcome.MET, 900, 0)
    one_second_late = IncidentTimes(
        detected_at=utc(2026, 11, 25, 10), first_response_at=utc(2026, 11, 25, 10, 15, 1)
    )
    late = first_response(one_second_late, calendar, utc(2026, 11, 26))
    assert (late.outcome, late.breached_by_seconds) == (Outcome.BREACHED, 1)


def test_pending_target_has_remaining_time(calendar: BusinessCalendar) -> None:
    incident = IncidentTimes(detected_at=utc(2026, 11, 25, 10))
    result = first_response(incident, calendar, utc(2026, 11, 25, 10, 5))
    assert (result.outcome, result.elapsed_seconds, result.remaining_seconds) == (Outcome.PENDING, 300, 600)
    assert not result.is_final


def test_business_clock_counts_working_seconds(calendar: BusinessCalendar) -> None:
    # Detected Friday 16:00; 1bd = 10 working hours: 2h Friday, 8h Monday -> due Monday 16:00.
    incident = IncidentTimes(detected_at=ny(2026, 11, 20, 16), first_response_at=ny(2026, 11, 24, 9))
    result = evaluate_incident(incident, SEV3, "business_hours", calendar, now=ny(2026, 11, 24, 12))
    first, resolution = result.targets
    assert first.deadline == ny(2026, 11, 23, 16)
    assert (first.clock, first.target_seconds) == ("business_hours", 36000)
    # 2h Friday + 10h Monday + 1h Tuesday.
    assert (first.outcome, first.elapsed_seconds, first.breached_by_seconds) == (Outcome.BREACHED, 46800, 10800)
    # 10bd = 100h: 2h on Friday, then 10h a working day with Thanksgiving off: Monday 7 December 16:00.
    assert resolution.deadline == ny(2026, 12, 7, 16)
    assert (resolution.outcome, resolution.elapsed_seconds, resolution.remaining_seconds) == (
        Outcome.PENDING,
        2 * 3600 + 10 * 3600 + 4 * 3600,
        100 * 3600 - 16 * 3600,
    )


def test_answer_over_the_weekend_after_a_friday_deadline_is_met(calendar: BusinessCalendar) -> None:
    incident = IncidentTimes(detected_at=ny(2026, 11, 20, 16), first_response_at=ny(2026, 11, 21, 10))
    result = first_response(incident, calendar, ny(2026, 11, 22), "2bh", "business_hours")
    assert result.deadline == ny(2026, 11, 20, 18)
    assert (result.outcome, result.elapsed_seconds, result.breached_by_seconds) == (Outcome.MET, 7200, 0)


def test_open_over_the_weekend_stays_pending_with_nothing_left(calendar: BusinessCalendar) -> None:
    incident = IncidentTimes(detected_at=ny(2026, 11, 20, 16))
    saturday = first_response(incident, calendar, ny(2026, 11, 21, 10), "2bh", "business_hours")
    assert (saturday.outcome, saturday.remaining_seconds) == (Outcome.PENDING, 0)
    monday = first_response(incident, calendar, ny(2026, 11, 23, 8, 30), "2bh", "business_hours")
    assert (monday.outcome, monday.breached_by_seconds) == (Outcome.BREACHED, 1800)


def test_calendar_duration_under_business_clock(calendar: BusinessCalendar) -> None:
    # The Basic tier: 48h, counted in business hours. From Monday 08:00 that is Friday 16:00.
    incident = IncidentTimes(detected_at=ny(2026, 11, 2, 8), first_response_at=ny(2026, 11, 6, 17))
    result = first_response(incident, calendar, ny(2026, 11, 9), "48h", "business_hours")
    assert result.deadline == ny(2026, 11, 6, 16)
    assert (result.clock, result.target_seconds, result.breached_by_seconds) == ("business_hours", 172800, 3600)


def test_business_duration_under_24x7_clock_runs_on_business_time(calendar: BusinessCalendar) -> None:
    # The Premium tier's sev4 target, 1bd, although its coverage is 24x7.
    incident = IncidentTimes(detected_at=ny(2026, 11, 20, 17), first_response_at=ny(2026, 11, 23, 16))
    result = first_response(incident, calendar, ny(2026, 11, 24), "1bd", "24x7")
    assert result.deadline == ny(2026, 11, 23, 17)
    assert (result.clock, result.target_seconds, result.elapsed_seconds, result.outcome) == (
        "business_hours",
        36000,
        32400,
        Outcome.MET,
    )


def test_event_before_detection_counts_as_zero(calendar: BusinessCalendar) -> None:
    incident = IncidentTimes(detected_at=utc(2026, 11, 25, 10), first_response_at=utc(2026, 11, 25, 9))
    result = first_response(incident, calendar, utc(2026, 11, 25, 12))
    assert (result.outcome, result.elapsed_seconds) == (Outcome.MET, 0)


def test_missing_targets_are_skipped_and_unknown_ones_refused(calendar: BusinessCalendar) -> None:
    incident = IncidentTimes(detected_at=utc(2026, 11, 25, 10))
    targets = {"first_response": SEV1["first_response"], "acknowledgement": None}
    result = evaluate_incident(incident, targets, "24x7", calendar, utc(2026, 11, 25))
    assert [t.target for t in result.targets] == ["first_response"]
    with pytest.raises(ValueError, match="'closure' is not a target"):
        evaluate_incident(incident, {"closure": Duration.parse("1h")}, "24x7", calendar, utc(2026, 11, 25))


def test_resolution_plan_target(calendar: BusinessCalendar) -> None:
    incident = IncidentTimes(detected_at=utc(2026, 11, 25, 10), resolution_plan_at=utc(2026, 11, 26, 11))
    result = evaluate_target("resolution_plan", Duration.parse("24h"), incident, "24x7", calendar, utc(2026, 11, 27))
    assert (result.outcome, result.breached_by_seconds) == (Outcome.BREACHED, 3600)


def test_severity_targets_reads_a_configured_severity() -> None:
    severity = Severity.model_validate(
        {
            "name": "Critical",
            "impact": "critical",
            "first_response": "15m",
            "resolution": "4h",
            "resolution_plan": "24h",
        }
    )
    assert severity_targets(severity) == {
        "first_response": Duration(seconds=900),
        "resolution": Duration(seconds=14400),
        "resolution_plan": Duration(seconds=86400),
    }


# --- attainment, breaches per month, credits ----------------------------------------------------


NOVEMBER_10 = utc(2026, 11, 10)


def _evaluation(outcomes: dict[str, Outcome], deadline: datetime = NOVEMBER_10) -> IncidentEvaluation:
    targets = tuple(
        TargetEvaluation(
            target=name,
            clock="24x7",
            target_seconds=60,
            deadline=deadline,
            event_at=None,
            elapsed_seconds=0,
            outcome=outcome,
            breached_by_seconds=1 if outcome is Outcome.BREACHED else 0,
        )
        for name, outcome in outcomes.items()
    )
    return IncidentEvaluation(IncidentTimes(detected_at=deadline - timedelta(minutes=1)), deadline, targets)


MET, BREACHED, PENDING = Outcome.MET, Outcome.BREACHED, Outcome.PENDING


def test_attainment_ignores_pending_targets() -> None:
    evaluations = [
        _evaluation({"first_response": MET, "resolution": MET}),
        _evaluation({"first_response": MET, "resolution": BREACHED}),
        _evaluation({"first_response": BREACHED, "resolution": PENDING}),
        _evaluation({"first_response": MET}),
        _evaluation({"first_response": PENDING, "acknowledgement": PENDING}),
    ]
    result = attainment(evaluations)
    assert list(result) == ["first_response", "resolution", "acknowledgement"]
    assert result["first_response"] == Attainment("first_response", met=3, breached=1, pending=1)
    assert result["first_response"].percent == 75.0
    assert result["resolution"].percent == 50.0
    assert result["acknowledgement"].percent is None
    assert attainment([]) == {}


def test_attainment_from_real_evaluations(calendar: BusinessCalendar) -> None:
    now = utc(2026, 11, 30)
    evaluations = [
        evaluate_incident(
            IncidentTimes(detected_at=utc(2026, 11, 25, 10), first_response_at=utc(2026, 11, 25, 10, minutes)),
            {"first_response": SEV1["first_response"]},
            "24x7",
            calendar,
            now,
        )
        for minutes in (1, 14, 15, 16, 40)
    ]
    assert attainment(evaluations)["first_response"].percent == 60.0


def test_breaches_belong_to_the_local_month_of_their_deadline() -> None:
    november_evening = utc(2026, 12, 1, 3)  # 30 November 22:00 in New York
    evaluations = [
        _evaluation({"first_response": BREACHED, "resolution": MET}, utc(2026, 11, 1, 4)),  # 1 Nov 00:00 EDT
        _evaluation({"first_response": BREACHED, "resolution": BREACHED}, november_evening),
        _evaluation({"first_response": BREACHED}, utc(2026, 12, 1, 5)),  # 1 Dec 00:00 EST
        _evaluation({"first_response": BREACHED}, utc(2026, 11, 1, 3, 59)),  # still October in New York
    ]
    november = breaches_in_month(evaluations, 2026, 11, "America/New_York")
    assert [(b.target, b.deadline) for b in november] == [
        ("first_response", utc(2026, 11, 1, 4)),
        ("first_response", november_evening),
        ("resolution", november_evening),
    ]
    assert len(breaches_in_month(evaluations, 2026, 12, NY)) == 1
    assert len(breaches_in_month(evaluations, 2026, 12, "UTC")) == 3


STANDARD = SlaCredits(per_breach_percent=Decimal(5), monthly_cap_percent=Decimal(20))


@pytest.mark.parametrize(
    ("breaches", "expected"),
    [(0, Decimal(0)), (1, Decimal(5)), (3, Decimal(15)), (4, Decimal(20)), (7, Decimal(20))],
)
def test_credit_is_per_breach_and_capped(breaches: int, expected: Decimal) -> None:
    items = _evaluation({f"target{n}": BREACHED for n in range(breaches)}).targets
    assert credit_percent(STANDARD, items) == expected


def test_credit_counts_only_breaches() -> None:
    items = _evaluation({"a": MET, "b": BREACHED, "c": PENDING, "d": BREACHED}).targets
    assert credit_percent(STANDARD, items) == Decimal(10)


def test_credit_with_fractional_percentages_and_no_rule() -> None:
    rule = SlaCredits(per_breach_percent=Decimal("2.5"), monthly_cap_percent=Decimal("50"))
    items = _evaluation({"a": BREACHED, "b": BREACHED, "c": BREACHED}).targets
    assert credit_percent(rule, items) == Decimal("7.5")
    assert credit_percent(SlaCredits(), items) == Decimal(0)
