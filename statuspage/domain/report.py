"""The figures of the monthly SLA report: breaches, attainment, response times, credits and the trend,
worked out from incidents already measured with :mod:`statuspage.domain.sla`, so the same
incidents and ``now`` always give the same figures.

Which month a figure belongs to, in the page's time zone:

- a *breach* belongs to the month its deadline passed in (:func:`month_breaches`), so a closed
  month's breach list and credits do not change later;
- incident counts, MTTA, MTTR and *attainment* are over the incidents *declared* in the month,
  as on the public SLA page;
- escalation MTTA is over the pages sent in the month.

MTTA runs from declaration to acknowledgement, MTTR from detection to resolution; both are
wall-clock means in whole seconds over the incidents that got that far. Support tiers promise a
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

from statuspage.domain.businesstime import BusinessCalendar, ClockKind
from statuspage.domain.durations import Duration
from statuspage.domain.months import month_bounds, month_label, shift_month
from statuspage.domain.sla import (
    Attainment,
    CreditRule,
    IncidentEvaluation,
    IncidentTimes,
    TargetEvaluation,
    attainment,
    breaches_in_month,
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


@dataclass(frozen=True)
class SeverityStats:
    severity: int
    name: str
    incidents: int
    acknowledged: int
    mtta_seconds: int | None
    resolved: int
    mttr_seconds: int | None
    breaches: int
    attainment: dict[str, Attainment]


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


def month_breaches(
    evaluations: Mapping[int, IncidentEvaluation], year: int, month: int, zone: str | tzinfo
) -> Iterator[tuple[int, TargetEvaluation]]:
    """The breached targets whose deadline passed in the month, each with its incident's id."""
    for key, evaluation in evaluations.items():
        if evaluation.breaches:  # most incidents breach nothing: no month to work out
            for target in breaches_in_month([evaluation], year, month, zone):
                yield key, target


def sorted_breaches(breaches: Iterable[Breach], targets: Sequence[str]) -> list[Breach]:
    """By deadline, then incident, then the target's place in ``targets``."""
    return sorted(breaches, key=lambda b: (b.deadline, b.incident_id, targets.index(b.target)))


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
    return SeverityStats(
        severity=level,
        name=name,
        incidents=len(chosen),
        acknowledged=sum(1 for i in chosen if i.acknowledged_at is not None),
        mtta_seconds=mean_seconds(
            (i.acknowledged_at - i.declared_at).total_seconds() for i in chosen if i.acknowledged_at
        ),
        resolved=sum(1 for i in chosen if i.resolved_at is not None),
        mttr_seconds=mean_seconds((i.resolved_at - i.detected_at).total_seconds() for i in chosen if i.resolved_at),
        breaches=sum(1 for b in breaches if b.severity == level),
        attainment={t: tallies.get(t, Attainment(t)) for t in targets},
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


def tier_stats(
    tier: SupportTierTerms,
    *,
    incidents: Sequence[ReportIncident],
    in_month: Sequence[ReportIncident],
    times: Mapping[int, IncidentTimes],
    calendar: BusinessCalendar,
    year: int,
    month: int,
    zone: str | tzinfo,
    now: datetime,
) -> TierStats:
    """Every incident of ``incidents`` (see :func:`tier_incidents`) measured against the first
    response the tier promises for its severity; ``times`` by incident id."""
    evaluations: dict[int, IncidentEvaluation] = {}
    for incident in incidents:
        promised = tier.response_targets.get(f"sev{incident.severity}")
        if promised is not None and incident.id is not None:
            evaluations[incident.id] = evaluate_incident(
                times[incident.id], {"first_response": promised}, tier.coverage, calendar, now
            )
    severities = []
    for key, promised in sorted(tier.response_targets.items()):
        level = int(key.removeprefix("sev"))
        chosen = [evaluations[i.id] for i in in_month if i.severity == level and i.id in evaluations]
        tally = attainment(chosen).get("first_response", Attainment("first_response"))
        severities.append(TierSeverity(severity=level, promised=str(promised), attainment=tally))
    missed = breaches_in_month(evaluations.values(), year, month, zone)
    rule = tier.sla_credits
    return TierStats(
        id=tier.id,
        name=tier.name,
        coverage=tier.coverage,
        severities=severities,
        breaches=len(missed),
        per_breach_percent=Decimal(rule.per_breach_percent),
        monthly_cap_percent=Decimal(rule.monthly_cap_percent),
        credit_percent=credit_percent(rule, missed),
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


def trend(
    measured: Sequence[tuple[datetime, IncidentEvaluation]],
    *,
    year: int,
    month: int,
    zone: str | tzinfo,
    history: int = HISTORY_MONTHS,
) -> list[TrendPoint]:
    """The month and the ``history`` months before it, oldest first, from every measured incident
    with its declaration time."""
    everything = [evaluation for _, evaluation in measured]
    points = []
    for back in range(history, -1, -1):
        y, m = shift_month(year, month, -back)
        first, after = month_bounds(y, m, zone)
        declared = [evaluation for at, evaluation in measured if first <= at < after]
        points.append(
            TrendPoint(
                month=month_label(y, m),
                incidents=len(declared),
                attainment_percent=overall_percent(declared),
                breaches=len(breaches_in_month(everything, y, m, zone)),
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
