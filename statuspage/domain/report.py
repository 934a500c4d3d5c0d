"""The figures of the monthly SLA report: breaches, attainment, response times, credits and the trend,
worked out from incidents already measured with :mod:`statuspage.domain.sla`, so the same
incidents and ``now`` always give the same figures.

Which month a figure belongs to, in the page's time zone:

- a *breach* belongs to the month its deadline passed in (:func:`month_breaches`), so a closed
  month's breach list and credits do not change later;
- incident counts, MTTD, MTTA, MTTR and *attainment* are over the incidents *declared* in the
  month, as on the public SLA page;
- escalation MTTA is over the pages sent for those same incidents, so the paging figures and the
  incidents' MTTA speak of one set of incidents.

MTTD runs from detection to declaration. MTTA and MTTR are given both from detection (what the
customer lived through) and from declaration (what the responders controlled); all are wall-clock
means in whole seconds over the incidents that got that far. The figures work on any period
``[start, end)`` (a calendar month or an ISO week): the ``month_*`` helpers are the month's case. Support tiers promise a
first response per severity under their own coverage clock; a tier's credit is
:func:`~statuspage.domain.sla.credit_percent` of the tier's missed first responses, with its
``sla_credits`` rule.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from decimal import Decimal
from typing import Protocol, TypeVar

from statuspage.domain.businesstime import BusinessCalendar, ClockKind, effective_clock
from statuspage.domain.durations import Duration
from statuspage.domain.months import month_bounds, month_label, shift_month
from statuspage.domain.sla import (
    Attainment,
    CreditRule,
    IncidentEvaluation,
    IncidentTimes,
    TargetEvaluation,
    attainment,
    credit_percent,
    evaluate_incident,
)

HISTORY_MONTHS = 5
# How far before a month's first day an incident can have been declared and still fall due in
# it: longer than any sensible target (10 business days over the year-end holidays is ~3 weeks).
LOOKBACK = timedelta(days=62)
# A declaration can name a detection time up to 7 days earlier, so an incident declared early
# next month can have fallen due this month.
LOOKAHEAD = timedelta(days=7)


class ReportIncident(Protocol):
    """What the figures read of an incident: the shape of the incident table's rows."""

    @property
    def id(self) -> int | None: ...
    @property
    def severity(self) -> int: ...
    @property
    def detected_at(self) -> datetime: ...
    @property
    def declared_at(self) -> datetime: ...
    @property
    def acknowledged_at(self) -> datetime | None: ...
    @property
    def resolved_at(self) -> datetime | None: ...


class ReportPage(Protocol):
    """What the escalation figures read of a page sent to an owner."""

    @property
    def tier(self) -> int | None: ...
    @property
    def paged_at(self) -> datetime: ...
    @property
    def acknowledged_at(self) -> datetime | None: ...


class SupportTierTerms(Protocol):
    """The shape of ``settings.SupportTier``: the first response it promises per severity."""

    @property
    def id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def coverage(self) -> ClockKind: ...
    @property
    def response_targets(self) -> Mapping[str, Duration]: ...
    @property
    def sla_credits(self) -> CreditRule: ...


class NamedTier(Protocol):
    """The shape of ``settings.EscalationTier``, as far as the report names it."""

    @property
    def name(self) -> str: ...


Row = TypeVar("Row", bound=ReportIncident)


@dataclass(frozen=True)
class Breach:
    incident_id: int
    title: str
    url: str
    severity: int
    target: str
    label: str  # the target as the report names it, e.g. First response
    clock: str
    promised: str  # the target as configured, e.g. 15m or 1bd
    target_seconds: int
    deadline: datetime
    event_at: datetime | None  # None while the incident is still open
    actual_seconds: int  # elapsed on the target's clock, to the event or to the report's now
    breached_by_seconds: int
    root_cause: str | None
    remediation: str | None
    detected_at: datetime | None = None  # when the incident's clocks started


@dataclass(frozen=True)
class SeverityStats:
    severity: int
    name: str
    incidents: int
    acknowledged: int
    mtta_seconds: int | None  # from declaration
    resolved: int
    mttr_seconds: int | None  # from detection
    breaches: int
    attainment: dict[str, Attainment]
    mttd_seconds: int | None = None  # detection to declaration
    mtta_from_detection_seconds: int | None = None
    mttr_from_declaration_seconds: int | None = None


@dataclass(frozen=True)
class TierSeverity:
    severity: int
    promised: str
    attainment: Attainment


@dataclass(frozen=True)
class TierStats:
    id: str
    name: str
    coverage: str
    severities: list[TierSeverity]
    breaches: int
    per_breach_percent: Decimal
    monthly_cap_percent: Decimal
    credit_percent: Decimal
    # The incidents whose first response missed the tier's promise in the period, once per miss.
    breached_incidents: tuple[int, ...] = ()


@dataclass(frozen=True)
class EscalationStats:
    tier: int | None
    name: str
    pages: int
    acknowledged: int
    mtta_seconds: int | None


@dataclass(frozen=True)
class TrendPoint:
    month: str
    incidents: int
    attainment_percent: float | None
    breaches: int


@dataclass(frozen=True)
class Causes:
    """The root causes given for a month's breaches, the most frequent first, with the number of
    incidents each; ``unexplained``: the incidents with a breach and no root cause yet."""

    ranked: list[tuple[str, int]]
    unexplained: int


def mean_seconds(values: Iterable[float]) -> int | None:
    found = list(values)
    return round(sum(found) / len(found)) if found else None


def overall_percent(evaluations: Iterable[IncidentEvaluation]) -> float | None:
    """Targets met as a percentage of the targets decided, over every target of the incidents."""
    met = decided = 0
    for tally in attainment(evaluations).values():
        met += tally.met
        decided += tally.decided
    return 100 * met / decided if decided else None


def declared_in(incident: ReportIncident, start: datetime, end: datetime) -> bool:
    return start <= incident.declared_at < end


def detected(incident: ReportIncident) -> datetime:
    """When the clocks started: detection, or the declaration when detection is given later."""
    return min(incident.detected_at, incident.declared_at)


def breaches_between(evaluations: Iterable[IncidentEvaluation], start: datetime, end: datetime) -> list[TargetEvaluation]:
    """Breached targets whose deadline passed in ``[start, end)``."""
    return [target for evaluation in evaluations for target in evaluation.breaches if start <= target.deadline < end]


def period_breaches(
    evaluations: Mapping[int, IncidentEvaluation], start: datetime, end: datetime
) -> Iterator[tuple[int, TargetEvaluation]]:
    """The breached targets whose deadline passed in ``[start, end)``, each with its incident's id."""
    for key, evaluation in evaluations.items():
        for target in evaluation.breaches:
            if start <= target.deadline < end:
                yield key, target


def month_breaches(
    evaluations: Mapping[int, IncidentEvaluation], year: int, month: int, zone: str | tzinfo
) -> Iterator[tuple[int, TargetEvaluation]]:
    """The breached targets whose deadline passed in the month, each with its incident's id."""
    return period_breaches(evaluations, *month_bounds(year, month, zone))


def sorted_breaches(breaches: Iterable[Breach], targets: Sequence[str]) -> list[Breach]:
    """By deadline, then incident, then the target's place in ``targets`` (others after them)."""

    def place(target: str) -> int:
        return targets.index(target) if target in targets else len(targets)

    return sorted(breaches, key=lambda b: (b.deadline, b.incident_id, place(b.target), b.target))


def severity_stats(
    level: int,
    name: str,
    *,
    targets: Sequence[str],
    in_month: Sequence[ReportIncident],
    evaluations: Mapping[int, IncidentEvaluation],
    breaches: Sequence[Breach],
) -> SeverityStats:
    """One severity's line: ``in_month`` are the month's measured incidents (of every severity),
    ``targets`` the ones the severity sets, in the order the report shows them."""
    chosen = [i for i in in_month if i.severity == level]
    tallies = attainment(evaluations[i.id] for i in chosen if i.id is not None)
    times = response_times(chosen)
    return SeverityStats(
        severity=level,
        name=name,
        incidents=len(chosen),
        acknowledged=sum(1 for i in chosen if i.acknowledged_at is not None),
        mtta_seconds=times.mtta_from_declaration_seconds,
        resolved=sum(1 for i in chosen if i.resolved_at is not None),
        mttr_seconds=times.mttr_seconds,
        breaches=sum(1 for b in breaches if b.severity == level),
        attainment={t: tallies.get(t, Attainment(t)) for t in targets},
        mttd_seconds=times.mttd_seconds,
        mtta_from_detection_seconds=times.mtta_seconds,
        mttr_from_declaration_seconds=times.mttr_from_declaration_seconds,
    )


@dataclass(frozen=True)
class ResponseTimes:
    """Mean times over a set of incidents, in whole seconds (``None``: none got that far).

    ``mttd``: detection to declaration; ``mtta``/``mttr``: detection to acknowledgement and to
    resolution; the ``_from_declaration`` pair measures the same from the declaration."""

    incidents: int
    mttd_seconds: int | None
    mtta_seconds: int | None
    mttr_seconds: int | None
    mtta_from_declaration_seconds: int | None
    mttr_from_declaration_seconds: int | None


def response_times(incidents: Sequence[ReportIncident]) -> ResponseTimes:
    def mean(pairs: Iterable[tuple[datetime, datetime | None]]) -> int | None:
        return mean_seconds(max(0.0, (b - a).total_seconds()) for a, b in pairs if b is not None)

    return ResponseTimes(
        incidents=len(incidents),
        mttd_seconds=mean((detected(i), i.declared_at) for i in incidents),
        mtta_seconds=mean((detected(i), i.acknowledged_at) for i in incidents),
        mttr_seconds=mean((detected(i), i.resolved_at) for i in incidents),
        mtta_from_declaration_seconds=mean((i.declared_at, i.acknowledged_at) for i in incidents),
        mttr_from_declaration_seconds=mean((i.declared_at, i.resolved_at) for i in incidents),
    )


def in_tier_window(declared_at: datetime, start: datetime, end: datetime) -> bool:
    """Whether an incident declared then can have a first response fall due in ``[start, end)``."""
    return start - LOOKBACK <= declared_at < end + LOOKAHEAD


def tier_incidents(
    incidents: Iterable[Row], times: Mapping[int, IncidentTimes], start: datetime, end: datetime
) -> list[Row]:
    """The incidents the support tiers measure for the month ``[start, end)``; ``times`` holds
    those of :func:`in_tier_window`.

    A tier's figures are over the incidents declared in the month and the first responses that
    fell due in it. Only the window can fall due in the month (older incidents are loaded for the
    trend), and of those declared before the month, one answered before the month began cannot
    have missed a deadline inside it.
    """
    return [
        i
        for i in incidents
        if i.id is not None
        and i.id in times
        and (declared_in(i, start, end) or not _answered_before(times[i.id], start))
    ]


def _answered_before(times: IncidentTimes, moment: datetime) -> bool:
    event = times.event_at("first_response")
    return event is not None and event < moment


def tier_evaluations(
    tier: SupportTierTerms,
    incidents: Iterable[ReportIncident],
    times: Mapping[int, IncidentTimes],
    calendar: BusinessCalendar,
    now: datetime,
    *,
    breaches_only: bool = False,
) -> dict[int, IncidentEvaluation]:
    """Each incident of ``incidents`` (see :func:`tier_incidents`) against the first response the
    tier promises for its severity, by id; ``times`` by incident id.

    ``breaches_only``: leave out the incidents answered within the promise on the wall clock (a
    coverage clock never runs faster than the wall's, and pauses only stop it), which cannot be
    breached: for when only the breaches are wanted, over many incidents."""
    evaluations: dict[int, IncidentEvaluation] = {}
    for incident in incidents:
        promised = tier.response_targets.get(f"sev{incident.severity}")
        if promised is None or incident.id is None:
            continue
        measured = times[incident.id]
        if breaches_only:
            answered = measured.event_at("first_response")
            if answered is not None and answered - measured.detected_at <= shortest_wait(promised, calendar, tier.coverage):
                continue
        evaluations[incident.id] = evaluate_incident(measured, {"first_response": promised}, tier.coverage, calendar, now)
    return evaluations


def shortest_wait(promised: Duration, calendar: BusinessCalendar, coverage: ClockKind) -> timedelta:
    """The wall-clock time within which an answer surely meets ``promised``."""
    if effective_clock(promised, coverage) == "business_hours":
        return calendar.working_time(promised)
    return promised.timedelta


def tier_stats(
    tier: SupportTierTerms,
    *,
    evaluations: Mapping[int, IncidentEvaluation],
    in_month: Sequence[ReportIncident],
    start: datetime,
    end: datetime,
) -> TierStats:
    """The tier's figures for the period ``[start, end)`` from :func:`tier_evaluations`;
    ``in_month``: the incidents declared in the period."""
    severities = []
    for key, promised in sorted(tier.response_targets.items()):
        level = int(key.removeprefix("sev"))
        chosen = [evaluations[i.id] for i in in_month if i.severity == level and i.id is not None and i.id in evaluations]
        tally = attainment(chosen).get("first_response", Attainment("first_response"))
        severities.append(TierSeverity(severity=level, promised=str(promised), attainment=tally))
    missed = list(period_breaches(evaluations, start, end))
    rule = tier.sla_credits
    return TierStats(
        id=tier.id,
        name=tier.name,
        coverage=tier.coverage,
        severities=severities,
        breaches=len(missed),
        per_breach_percent=Decimal(rule.per_breach_percent),
        monthly_cap_percent=Decimal(rule.monthly_cap_percent),
        credit_percent=credit_percent(rule, (target for _, target in missed)),
        breached_incidents=tuple(key for key, _ in missed),
    )


def escalation_stats(pages: Sequence[ReportPage], tier_of: Callable[[int], NamedTier | None]) -> list[EscalationStats]:
    """Per escalation tier (pages sent by name last), from the configured tier of a level."""
    groups: dict[int | None, list[ReportPage]] = {}
    for page in pages:
        groups.setdefault(page.tier, []).append(page)
    result = []
    for level in sorted(groups, key=lambda t: (t is None, t or 0)):
        chosen = groups[level]
        tier = tier_of(level) if level is not None else None
        name = tier.name if tier else ("Paged by name" if level is None else f"Tier {level}")
        acked = [p for p in chosen if p.acknowledged_at is not None]
        result.append(
            EscalationStats(
                tier=level,
                name=name,
                pages=len(chosen),
                acknowledged=len(acked),
                mtta_seconds=mean_seconds(
                    (p.acknowledged_at - p.paged_at).total_seconds() for p in acked if p.acknowledged_at
                ),
            )
        )
    return result


def month_periods(year: int, month: int, zone: str | tzinfo, history: int = HISTORY_MONTHS) -> list[tuple[str, datetime, datetime]]:
    """The month and the ``history`` months before it, oldest first, as ``(label, start, end)``."""
    periods = []
    for back in range(history, -1, -1):
        y, m = shift_month(year, month, -back)
        periods.append((month_label(y, m), *month_bounds(y, m, zone)))
    return periods


def trend(
    measured: Sequence[tuple[datetime, IncidentEvaluation]], periods: Sequence[tuple[str, datetime, datetime]]
) -> list[TrendPoint]:
    """One point per period ``(label, start, end)``, in the order given, from every measured
    incident with its declaration time."""
    everything = [evaluation for _, evaluation in measured]
    points = []
    for label, first, after in periods:
        declared = [evaluation for at, evaluation in measured if first <= at < after]
        points.append(
            TrendPoint(
                month=label,
                incidents=len(declared),
                attainment_percent=overall_percent(declared),
                breaches=len(breaches_between(everything, first, after)),
            )
        )
    return points


def breach_causes(breaches: Iterable[Breach]) -> Causes:
    """Each cause counted once per incident, in the words it was first given; causes that differ
    only in case or spacing are one. Ties go by the cause's name."""
    causes: dict[str, tuple[str, set[int]]] = {}
    unexplained: set[int] = set()
    for breach in breaches:
        cause = " ".join((breach.root_cause or "").split())
        if not cause:
            unexplained.add(breach.incident_id)
            continue
        _, incidents = causes.setdefault(cause.casefold(), (cause, set()))
        incidents.add(breach.incident_id)
    ranked = sorted(causes.values(), key=lambda item: (-len(item[1]), item[0].casefold()))
    return Causes(ranked=[(cause, len(ids)) for cause, ids in ranked], unexplained=len(unexplained))
