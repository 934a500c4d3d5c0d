"""What an SLA report puts in front of a reader: headline cards compared with the period before,
the breached incidents still without a root cause, the overdue action items, and the paging
figures told apart from acknowledgements that needed no page.

Everything is "as of" one moment, given by the caller (the period's end once it is over), so a
report of a closed period reads the same whenever it is printed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Protocol

from statuspage.domain.report import Breach, EscalationStats, mean_seconds

Number = int | float | Decimal


@dataclass(frozen=True)
class Card:
    """One headline figure and the same figure for the period before.

    ``unit``: ``count``, ``percent``, ``seconds`` or ``money``; ``better``: ``up`` or ``down``, the
    direction that is good news. ``change`` is ``value - previous`` (``None`` when either is
    missing)."""

    key: str
    label: str
    unit: str
    better: str
    value: Number | None
    previous: Number | None

    @property
    def change(self) -> Number | None:
        if self.value is None or self.previous is None:
            return None
        if isinstance(self.value, Decimal) or isinstance(self.previous, Decimal):
            return Decimal(self.value) - Decimal(self.previous)
        return self.value - self.previous

    @property
    def direction(self) -> str | None:
        """``up``, ``down`` or ``same``; ``None`` without a figure for both periods."""
        change = self.change
        if change is None:
            return None
        if self.unit == "percent":
            change = round(float(change), 1)
        return "up" if change > 0 else "down" if change < 0 else "same"

    @property
    def verdict(self) -> str | None:
        """``better``, ``worse`` or ``same``."""
        direction = self.direction
        if direction is None or direction == "same":
            return direction
        return "better" if direction == self.better else "worse"


class RcaIncident(Protocol):
    @property
    def id(self) -> int | None: ...
    @property
    def title(self) -> str: ...
    @property
    def commander(self) -> str | None: ...
    @property
    def declared_at(self) -> datetime: ...
    @property
    def root_cause(self) -> str | None: ...


@dataclass(frozen=True)
class MissingRca:
    """A breached incident without a root cause, its owner (the commander) and its age in whole
    days from declaration to the report's moment."""

    incident_id: int
    title: str
    url: str
    severity: int
    owner: str | None
    declared_at: datetime
    age_days: int
    targets: tuple[str, ...]  # the labels of the targets it missed in the period


def missing_rcas(breaches: Sequence[Breach], incidents: Mapping[int, RcaIncident], at: datetime) -> list[MissingRca]:
    """The incidents of ``breaches`` with no root cause, oldest first."""
    found: dict[int, MissingRca] = {}
    for breach in breaches:
        incident = incidents.get(breach.incident_id)
        if incident is None or (incident.root_cause or "").strip():
            continue
        before = found.get(breach.incident_id)
        if before is not None:
            if breach.label not in before.targets:
                found[breach.incident_id] = _with_target(before, breach.label)
            continue
        found[breach.incident_id] = MissingRca(
            incident_id=breach.incident_id,
            title=breach.title,
            url=breach.url,
            severity=breach.severity,
            owner=incident.commander,
            declared_at=incident.declared_at,
            age_days=max(0, (at - incident.declared_at) // timedelta(days=1)),
            targets=(breach.label,),
        )
    return sorted(found.values(), key=lambda m: (m.declared_at, m.incident_id))


def _with_target(item: MissingRca, label: str) -> MissingRca:
    return MissingRca(
        item.incident_id, item.title, item.url, item.severity, item.owner, item.declared_at, item.age_days,
        (*item.targets, label),
    )  # fmt: skip


@dataclass(frozen=True)
class OverdueAction:
    action_id: int
    incident_id: int
    incident_title: str
    title: str
    owner: str
    due_on: date
    days_late: int


def overdue_actions(
    items: Iterable[tuple[int, int, str, str, str, date]], day: date
) -> list[OverdueAction]:
    """``items``: ``(action id, incident id, incident title, action, owner, due on)`` of the
    actions still open at the report's moment; those due before ``day``, earliest due first,
    with the days from their due date to ``day``."""
    late = [
        OverdueAction(action_id, incident_id, incident_title, title, owner, due_on, (day - due_on).days)
        for action_id, incident_id, incident_title, title, owner, due_on in items
        if due_on < day
    ]
    return sorted(late, key=lambda a: (a.due_on, a.action_id))


class PagedIncident(Protocol):
    @property
    def id(self) -> int | None: ...
    @property
    def declared_at(self) -> datetime: ...
    @property
    def acknowledged_at(self) -> datetime | None: ...


@dataclass(frozen=True)
class Paging:
    """Who was paged for the period's incidents, beside how they were acknowledged.

    ``tiers``: the pages per escalation tier; ``paged``: incidents with at least one page;
    ``acknowledged``: incidents acknowledged; ``unpaged_acknowledged``: acknowledged without
    any page (the responder was already on it, or the incident was recorded after the fact),
    with their mean time from declaration to acknowledgement."""

    tiers: list[EscalationStats]
    incidents: int
    paged: int
    acknowledged: int
    unpaged_acknowledged: int
    unpaged_mtta_seconds: int | None

    @property
    def pages(self) -> int:
        return sum(t.pages for t in self.tiers)


def paging(
    tiers: list[EscalationStats], incidents: Sequence[PagedIncident], paged_ids: Iterable[int]
) -> Paging:
    paged = set(paged_ids)
    unpaged = [i for i in incidents if i.acknowledged_at is not None and i.id not in paged]
    return Paging(
        tiers=tiers,
        incidents=len(incidents),
        paged=sum(1 for i in incidents if i.id in paged),
        acknowledged=sum(1 for i in incidents if i.acknowledged_at is not None),
        unpaged_acknowledged=len(unpaged),
        unpaged_mtta_seconds=mean_seconds(
            max(0.0, (i.acknowledged_at - i.declared_at).total_seconds()) for i in unpaged if i.acknowledged_at
        ),
    )
