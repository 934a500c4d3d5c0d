"""Whether an incident met its targets, and what missed targets cost.

One incident is measured against its targets (``first_response``, ``acknowledgement``,
``resolution``, ``resolution_plan``), each a :class:`Duration` that runs from ``detected_at``,
and against its update cadence (``update_cadence``, see :func:`evaluate_cadence`): the longest
the public may wait for the next update while the incident is open.
Every figure of one evaluation is in the same unit, the seconds of the clock the target runs on:
working seconds for the ``business_hours`` clock (and for ``bd``/``bh`` durations under any
clock), wall seconds for ``24x7``.

A target is *met* when the elapsed clock time up to the event is at most the target, *breached*
when it is more (also while the event has not happened yet but the clock already ran past the
target), and *pending* otherwise. Comparing clock time rather than instants matters only under
business clocks, where time outside business hours does not move the clock: an answer on
Saturday to a question due by Friday 18:00 took no more business time than allowed, so it is
met, and an open one stays pending with 0 seconds left until business resumes.

A :class:`Pause` (waiting on the customer) stops every clock that is still running: time inside
a pause does not count, and each deadline moves on by the clock time the pause took. While a
pause is open the remaining time stands still and the deadline shown is the one that would hold
if the clock started again at ``now``. A target already breached when the pause began stays
breached, and one whose event came before the pause is not touched by it.

Credits follow the ``sla_credits`` rule of a support tier: ``per_breach_percent`` of the monthly
fee for every missed commitment (each breached target counts once), capped at
``monthly_cap_percent`` for the month. A cap of 0 means no credit at all.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from decimal import Decimal
from enum import StrEnum
from typing import Protocol
from zoneinfo import ZoneInfo

from statuspage.domain.businesstime import BusinessCalendar, ClockKind, effective_clock
from statuspage.domain.durations import Duration

TARGET_EVENTS: Mapping[str, str] = {
    "first_response": "first_response_at",
    "acknowledgement": "acknowledged_at",
    "resolution": "resolved_at",
    "resolution_plan": "resolution_plan_at",
}
"""Each target name and the :class:`IncidentTimes` field whose time stops its clock."""

# How each commitment is named to people (pages, reports, the command line).
TARGET_LABELS = {
    "first_response": "First response",
    "acknowledgement": "Escalation acknowledged",
    "resolution": "Resolution",
    "resolution_plan": "Resolution plan",
    "update_cadence": "Update cadence",
}

UPDATE_CADENCE = "update_cadence"
"""The target measured between public updates rather than from ``detected_at``."""


class Outcome(StrEnum):
    MET = "met"
    BREACHED = "breached"
    PENDING = "pending"


@dataclass(frozen=True, slots=True)
class Pause:
    """A span in which the SLA clocks stood still; ``end`` is ``None`` while it lasts."""

    start: datetime
    end: datetime | None = None


@dataclass(frozen=True, slots=True)
class PublicUpdate:
    """A moment the public was told something; ``resolved`` when it closed the incident, after
    which no update is owed until the next one (a reopening)."""

    at: datetime
    resolved: bool = False


@dataclass(frozen=True, slots=True)
class IncidentTimes:
    """The moments that matter for an incident's targets.

    ``detected_at`` starts every clock (use the declaration time when detection is not known).
    The others stop one target each and are ``None`` until they happen. ``pauses`` are the spans
    in which no clock ran, in any order; overlapping spans count once. ``public_updates`` are
    the moments the public was told something, in any order: the first starts the update
    cadence; ``None`` when the incident is not public, and then no cadence is measured.
    """

    detected_at: datetime
    first_response_at: datetime | None = None
    acknowledged_at: datetime | None = None
    resolved_at: datetime | None = None
    resolution_plan_at: datetime | None = None
    reference: str | int | None = None
    pauses: tuple[Pause, ...] = ()
    public_updates: tuple[PublicUpdate, ...] | None = None

    def paused_at(self, now: datetime) -> bool:
        """Whether a pause holds the clocks at ``now``."""
        return any(p.start <= now and (p.end is None or now < p.end) for p in self.pauses)

    def event_at(self, target: str) -> datetime | None:
        try:
            field = TARGET_EVENTS[target]
        except KeyError:
            raise ValueError(f"{target!r} is not a target; use one of {', '.join(TARGET_EVENTS)}") from None
        value: datetime | None = getattr(self, field)
        return value


@dataclass(frozen=True, slots=True)
class TargetEvaluation:
    """One target of one incident, as of ``now``.

    ``elapsed_seconds`` runs to the event, or to ``now`` while the event has not happened.
    ``breached_by_seconds`` is 0 unless breached; ``remaining_seconds`` is set only while pending.
    ``paused`` says that a pause holds the (pending) clock at ``now``, so ``remaining_seconds``
    is not going down. ``paused_seconds`` is the clock time spent in pauses before the event
    (or ``now``): what was taken off ``elapsed_seconds``.
    """

    target: str
    clock: ClockKind
    target_seconds: int
    deadline: datetime
    event_at: datetime | None
    elapsed_seconds: int
    outcome: Outcome
    breached_by_seconds: int = 0
    remaining_seconds: int | None = None
    paused: bool = False
    paused_seconds: int = 0
    # The calendar's nominal business day, so business seconds can be shown as business days;
    # how to show the figures, not one of them, so not compared.
    working_day_seconds: int = field(default=0, compare=False)

    @property
    def is_final(self) -> bool:
        """Whether the outcome can no longer change; an open breach is final, its size is not."""
        return self.outcome is not Outcome.PENDING


@dataclass(frozen=True, slots=True)
class IncidentEvaluation:
    incident: IncidentTimes
    evaluated_at: datetime
    targets: tuple[TargetEvaluation, ...]

    def get(self, target: str) -> TargetEvaluation | None:
        return next((t for t in self.targets if t.target == target), None)

    @property
    def breaches(self) -> tuple[TargetEvaluation, ...]:
        return tuple(t for t in self.targets if t.outcome is Outcome.BREACHED)


def evaluate_target(
    target: str,
    duration: Duration,
    incident: IncidentTimes,
    clock: ClockKind,
    calendar: BusinessCalendar,
    now: datetime,
) -> TargetEvaluation:
    """Measure one target; elapsed time before ``detected_at`` (bad data) counts as zero."""
    event = incident.event_at(target)
    kind = effective_clock(duration, clock)
    start = incident.detected_at
    end = now if event is None else event
    limit_time = calendar.working_time(duration) if kind == "business_hours" else duration.timedelta
    limit = limit_time // _ONE_SECOND
    day = calendar.working_day // _ONE_SECOND
    pauses = _merged(incident.pauses, start, end)
    if not pauses:
        due = calendar.deadline(start, duration, clock)
        elapsed = max(0, calendar.seconds_between(start, end, kind))
        paused_seconds = 0
    else:
        due = _deadline_with_pauses(calendar, kind, start, limit_time, pauses)
        paused_time = sum((_clock_time(calendar, kind, a, b) for a, b in pauses), timedelta())
        elapsed = max(0, (_clock_time(calendar, kind, start, end) - paused_time) // _ONE_SECOND)
        paused_seconds = paused_time // _ONE_SECOND
    if elapsed > limit:
        return TargetEvaluation(
            target, kind, limit, due, event, elapsed, Outcome.BREACHED, elapsed - limit,
            paused_seconds=paused_seconds, working_day_seconds=day,
        )
    if event is not None:
        return TargetEvaluation(
            target, kind, limit, due, event, elapsed, Outcome.MET, paused_seconds=paused_seconds, working_day_seconds=day
        )
    return TargetEvaluation(
        target, kind, limit, due, None, elapsed, Outcome.PENDING, 0, limit - elapsed,
        paused=incident.paused_at(now), paused_seconds=paused_seconds, working_day_seconds=day,
    )


_ONE_SECOND = timedelta(seconds=1)


def _clock_time(calendar: BusinessCalendar, kind: ClockKind, start: datetime, end: datetime) -> timedelta:
    if kind == "business_hours":
        return calendar.business_time_between(start, end)
    return end - start


def _merged(pauses: Iterable[Pause], start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """The pauses clipped to ``[start, end)``, an open one running to ``end``, sorted, with
    overlapping or touching spans joined."""
    spans = sorted((max(p.start, start), min(p.end or end, end)) for p in pauses)
    merged: list[tuple[datetime, datetime]] = []
    for a, b in spans:
        if a >= b:
            continue
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


def _deadline_with_pauses(
    calendar: BusinessCalendar,
    kind: ClockKind,
    start: datetime,
    limit: timedelta,
    pauses: list[tuple[datetime, datetime]],
) -> datetime:
    """When ``limit`` of clock time has run outside ``pauses`` (sorted, disjoint, clipped to
    ``[start, now]``); the clock runs on from the end of the last one."""
    cursor, remaining = start, limit
    for a, b in pauses:
        running = _clock_time(calendar, kind, cursor, a)
        if running >= remaining:
            break
        remaining -= running
        cursor = b
    if kind == "business_hours":
        return calendar.add_working_time(cursor, remaining)
    return cursor + remaining


def evaluate_cadence(
    duration: Duration,
    incident: IncidentTimes,
    clock: ClockKind,
    calendar: BusinessCalendar,
    now: datetime,
) -> TargetEvaluation | None:
    """The update cadence: while the incident is open, every wait for the next public update is
    at most ``duration``. ``None`` when the incident is not public (``public_updates`` is
    ``None`` or empty): nobody outside was waiting.

    A wait runs from one public update to the next, or to ``now`` while the incident is open; a
    wait after an update that resolved the incident is not one (nothing is owed while it is
    closed). Pauses take their clock time off the waits they fall in, as for every target.

    Breached as soon as one wait ran over: ``deadline`` is when the first late update was due,
    ``breached_by_seconds`` the longest overrun and ``elapsed_seconds`` that longest wait,
    ``event_at`` the update that ended it (``None`` while it is still going on). Met once the
    incident is resolved and every wait fit (``elapsed_seconds``: the longest wait). Pending
    otherwise: ``deadline`` is when the next update is due and ``remaining_seconds`` how long
    is left until then.
    """
    if not incident.public_updates:
        return None
    kind = effective_clock(duration, clock)
    limit_time = calendar.working_time(duration) if kind == "business_hours" else duration.timedelta
    limit = limit_time // _ONE_SECOND
    updates = sorted(incident.public_updates, key=lambda u: u.at)
    waits: list[tuple[datetime, datetime | None]] = [
        (update.at, following.at) for update, following in zip(updates, updates[1:], strict=False) if not update.resolved
    ]
    last = updates[-1]
    if not last.resolved:
        resolved = incident.resolved_at
        waits.append((last.at, resolved if resolved is not None and resolved >= last.at else None))
    measured = [_wait(calendar, kind, start, end, limit_time, incident.pauses, now) for start, end in waits]
    late = [m for m in measured if m[2] > limit]
    paused_seconds = sum(m[3] for m in measured)
    day = calendar.working_day // _ONE_SECOND
    if late:
        worst = max(late, key=lambda m: m[2])
        return TargetEvaluation(
            UPDATE_CADENCE, kind, limit, late[0][0], worst[1], worst[2], Outcome.BREACHED, worst[2] - limit,
            paused_seconds=paused_seconds, working_day_seconds=day,
        )
    longest = max((m[2] for m in measured), default=0)
    if not waits or waits[-1][1] is not None:
        due = max(measured, key=lambda m: m[2])[0] if measured else calendar.deadline(updates[0].at, duration, clock)
        end = waits[-1][1] if waits else last.at
        return TargetEvaluation(
            UPDATE_CADENCE, kind, limit, due, end, longest, Outcome.MET, paused_seconds=paused_seconds, working_day_seconds=day
        )
    due, _, elapsed, _ = measured[-1]
    return TargetEvaluation(
        UPDATE_CADENCE, kind, limit, due, None, elapsed, Outcome.PENDING, 0, limit - elapsed,
        paused=incident.paused_at(now), paused_seconds=paused_seconds, working_day_seconds=day,
    )


def _wait(
    calendar: BusinessCalendar,
    kind: ClockKind,
    start: datetime,
    end: datetime | None,
    limit: timedelta,
    pauses: Iterable[Pause],
    now: datetime,
) -> tuple[datetime, datetime | None, int, int]:
    """One wait for the next update: when that update was due, the update that ended the wait
    (``None`` while it lasts), and the clock seconds waited and spent in pauses."""
    stop = now if end is None else end
    merged = _merged(pauses, start, stop)
    paused = sum((_clock_time(calendar, kind, a, b) for a, b in merged), timedelta())
    elapsed = max(0, (_clock_time(calendar, kind, start, stop) - paused) // _ONE_SECOND)
    return _deadline_with_pauses(calendar, kind, start, limit, merged), end, elapsed, paused // _ONE_SECOND


def evaluate_incident(
    incident: IncidentTimes,
    targets: Mapping[str, Duration | None],
    clock: ClockKind,
    calendar: BusinessCalendar,
    now: datetime,
) -> IncidentEvaluation:
    """Every target of one incident, in the order ``targets`` gives them; ``None`` targets
    (a severity without, say, an acknowledgement target) are left out, and so is the update
    cadence of an incident that is not public (see :func:`evaluate_cadence`)."""
    evaluated: list[TargetEvaluation] = []
    for name, duration in targets.items():
        if duration is None:
            continue
        if name == UPDATE_CADENCE:
            cadence = evaluate_cadence(duration, incident, clock, calendar, now)
            if cadence is not None:
                evaluated.append(cadence)
        else:
            evaluated.append(evaluate_target(name, duration, incident, clock, calendar, now))
    return IncidentEvaluation(incident=incident, evaluated_at=now, targets=tuple(evaluated))


class SeverityTargets(Protocol):
    """What :func:`severity_targets` reads: the shape of ``settings.Severity``."""

    @property
    def first_response(self) -> Duration: ...
    @property
    def acknowledgement(self) -> Duration | None: ...
    @property
    def resolution(self) -> Duration | None: ...
    @property
    def resolution_plan(self) -> Duration | None: ...
    @property
    def update_every(self) -> Duration | None: ...


def severity_targets(severity: SeverityTargets) -> dict[str, Duration]:
    """The targets a severity sets, ready for :func:`evaluate_incident` (its clock is ``severity.clock``);
    its ``update_every`` is the ``update_cadence`` target."""
    found = {name: getattr(severity, name) for name in TARGET_EVENTS}
    found[UPDATE_CADENCE] = severity.update_every
    return {name: duration for name, duration in found.items() if duration is not None}


@dataclass(frozen=True, slots=True)
class Attainment:
    """How often one target was met. Pending targets are counted but left out of the percentage,
    since they have not yet met or missed anything."""

    target: str
    met: int = 0
    breached: int = 0
    pending: int = 0

    @property
    def decided(self) -> int:
        return self.met + self.breached

    @property
    def percent(self) -> float | None:
        """Met as a percentage of met + breached; ``None`` when nothing is decided yet."""
        return 100 * self.met / self.decided if self.decided else None


def attainment(evaluations: Iterable[IncidentEvaluation]) -> dict[str, Attainment]:
    """Per target name, in first-seen order, over a set of incidents."""
    counts: dict[str, dict[Outcome, int]] = {}
    for evaluation in evaluations:
        for target in evaluation.targets:
            tally = counts.setdefault(target.target, dict.fromkeys(Outcome, 0))
            tally[target.outcome] += 1
    return {
        name: Attainment(name, tally[Outcome.MET], tally[Outcome.BREACHED], tally[Outcome.PENDING])
        for name, tally in counts.items()
    }


def breaches_in_month(
    evaluations: Iterable[IncidentEvaluation], year: int, month: int, time_zone: str | tzinfo
) -> list[TargetEvaluation]:
    """Breached targets whose deadline fell in that local calendar month.

    A breach belongs to the month in which the deadline passed, not the month the incident
    was resolved, so a report for a closed month does not change afterwards.
    """
    zone = ZoneInfo(time_zone) if isinstance(time_zone, str) else time_zone
    first = datetime.combine(date(year, month, 1), time(0), tzinfo=zone).astimezone(UTC)
    after = datetime.combine(date(year + month // 12, month % 12 + 1, 1), time(0), tzinfo=zone).astimezone(UTC)
    return [
        target
        for evaluation in evaluations
        for target in evaluation.breaches
        if first <= target.deadline < after
    ]


class CreditRule(Protocol):
    """The shape of ``settings.SlaCredits``."""

    @property
    def per_breach_percent(self) -> Decimal: ...
    @property
    def monthly_cap_percent(self) -> Decimal: ...


def credit_percent(rule: CreditRule, breaches: Iterable[TargetEvaluation]) -> Decimal:
    """The credit owed for one month, as a percentage of that month's fee.

    Only breached targets count, so a month's whole list of evaluated targets can be passed;
    filter it to the month first (:func:`breaches_in_month`).
    """
    count = sum(1 for target in breaches if target.outcome is Outcome.BREACHED)
    return min(Decimal(rule.per_breach_percent) * count, Decimal(rule.monthly_cap_percent))
