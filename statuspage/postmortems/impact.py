"""Customer impact for the postmortem: how long each affected component spent at each
non-operational status while the incident lasted, the customer accounts it affected by support
tier, and the credits owed to them (worked out with the month's other incidents by the monthly
report's credits, and handed in by whoever renders the document).

Minutes come from the component history (what the status page showed), from the incident's
start (its detection, or its declaration if that came first) to its resolution, or now while it
is open. Time under maintenance is not the incident's and is left out. An internal incident
holds nothing on the status page, so its components count at the status the incident recorded
for them, from when they were added.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlmodel import Session, col, select

from statuspage.db.account_models import Account
from statuspage.db.models import Component, ComponentStatusChange, Incident, IncidentComponent
from statuspage.domain.credits import AccountCredit
from statuspage.domain.enums import ComponentStatus
from statuspage.incidents import service as incidents
from statuspage.settings import Config

# The statuses counted, worst first: the columns of the table.
IMPACT_STATUSES = (ComponentStatus.MAJOR_OUTAGE, ComponentStatus.PARTIAL_OUTAGE, ComponentStatus.DEGRADED_PERFORMANCE)


@dataclass(frozen=True)
class ComponentImpact:
    name: str
    minutes: dict[ComponentStatus, int]
    # True: counted from the incident's own record, the status page never showed it (internal).
    recorded_only: bool = False

    @property
    def total(self) -> int:
        return sum(self.minutes.values())


def window(incident: Incident, now: datetime) -> tuple[datetime, datetime]:
    start = min(incident.detected_at, incident.declared_at)
    return start, max(incident.resolved_at or now, start)


def minutes_by_status(
    initial: ComponentStatus, changes: Sequence[tuple[datetime, ComponentStatus]], start: datetime, end: datetime
) -> dict[ComponentStatus, int]:
    """Whole minutes (rounded to the nearest) spent at each of :data:`IMPACT_STATUSES` within
    ``[start, end)``, given the status at ``start`` and the changes after it, oldest first."""
    seconds = dict.fromkeys(IMPACT_STATUSES, 0.0)
    status, since = initial, start
    for at, new in [*changes, (end, initial)]:
        at = min(max(at, start), end)
        if status in seconds:
            seconds[status] += (at - since).total_seconds()
        status, since = new, at
    return {key: int((value + 30) // 60) for key, value in seconds.items()}


def component_impact(session: Session, incident: Incident, now: datetime) -> list[ComponentImpact]:
    """Each component the incident affects, in the page's order, with its minutes per status."""
    start, end = window(incident, now)
    found = []
    for link, component in incidents.affected_components(session=session, incident_id=incident.id or 0):
        if incident.internal:
            held = ComponentStatus(link.status)
            minutes = minutes_by_status(ComponentStatus.OPERATIONAL, [(max(link.added_at, start), held)], start, end)
            found.append(ComponentImpact(component.name, minutes, recorded_only=True))
            continue
        found.append(ComponentImpact(component.name, _shown_minutes(session, component, start, end)))
    return found


def _shown_minutes(session: Session, component: Component, start: datetime, end: datetime) -> dict[ComponentStatus, int]:
    before = session.exec(
        select(ComponentStatusChange)
        .where(ComponentStatusChange.component_id == component.id, col(ComponentStatusChange.at) <= start)
        .order_by(col(ComponentStatusChange.at).desc(), col(ComponentStatusChange.id).desc())
        .limit(1)
    ).first()
    during = session.exec(
        select(ComponentStatusChange)
        .where(
            ComponentStatusChange.component_id == component.id,
            col(ComponentStatusChange.at) > start,
            col(ComponentStatusChange.at) < end,
        )
        .order_by(col(ComponentStatusChange.at), col(ComponentStatusChange.id))
    ).all()
    if before is not None:
        initial = ComponentStatus(before.new_status)
    elif during:
        initial = ComponentStatus(during[0].old_status)
    else:
        initial = ComponentStatus(component.status)
    return minutes_by_status(initial, [(row.at, ComponentStatus(row.new_status)) for row in during], start, end)


# Accounts and credits ------------------------------------------------------------------------


@dataclass(frozen=True)
class IncidentCredits:
    """What the incident's missed tier commitments cost each account, as the month's credits
    work them out (the monthly report's credits, ``by_incident``), and how money is written."""

    accounts: tuple[AccountCredit, ...]
    money: Callable[[Decimal], str]


@dataclass(frozen=True)
class TierLine:
    id: str
    name: str
    affected: int
    owed: int
    credit: Decimal


@dataclass(frozen=True)
class AccountsImpact:
    """The accounts following a component the incident affected, by support tier (configuration
    order, then tiers no longer configured), and the credits owed (None: not worked out)."""

    tiers: tuple[TierLine, ...]
    owed: tuple[AccountCredit, ...]
    money: Callable[[Decimal], str] | None

    @property
    def affected(self) -> int:
        return sum(tier.affected for tier in self.tiers)

    @property
    def total(self) -> Decimal:
        return sum((tier.credit for tier in self.tiers), Decimal(0))


def accounts_impact(session: Session, config: Config, incident: Incident, credits: IncidentCredits | None) -> AccountsImpact | None:
    """None when no customer account is recorded. An account is affected when it follows every
    component (no list) or one the incident affected; an incident naming no component affects
    only the accounts that follow everything."""
    accounts = session.exec(select(Account).order_by(col(Account.name))).all()
    if not accounts:
        return None
    held = set(session.exec(select(IncidentComponent.component_id).where(IncidentComponent.incident_id == incident.id)).all())
    names = {tier.id: tier.name for tier in config.support_tiers}
    order = {key: n for n, key in enumerate(names)}
    owed = credits.accounts if credits is not None else ()
    affected: dict[str, int] = {}
    for account in accounts:
        if not account.components or held & set(account.components):
            affected[account.tier] = affected.get(account.tier, 0) + 1
    for credit in owed:
        affected.setdefault(credit.tier, 0)
    tiers = tuple(
        TierLine(
            id=key,
            name=names.get(key, key),
            affected=count,
            owed=sum(1 for c in owed if c.tier == key),
            credit=sum((c.credit for c in owed if c.tier == key), Decimal(0)),
        )
        for key, count in sorted(affected.items(), key=lambda item: (order.get(item[0], len(order)), item[0]))
    )
    return AccountsImpact(tiers, tuple(owed), credits.money if credits is not None else None)


def impact_table(rows: Sequence[ComponentImpact], escape: Callable[[str], str]) -> list[str]:
    """The components × minutes table (Markdown); ``escape`` makes a name safe in a table cell."""
    if not rows:
        return ["_No components recorded._"]
    out = [
        "| Component | Major outage | Partial outage | Degraded performance | Total |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        name = escape(row.name) + (" (internal: not shown on the page)" if row.recorded_only else "")
        cells = [_minutes(row.minutes[status]) for status in IMPACT_STATUSES]
        out.append(f"| {name} | {' | '.join(cells)} | {_minutes(row.total)} |")
    if len(rows) > 1:
        totals = [_minutes(sum(row.minutes[status] for row in rows)) for status in IMPACT_STATUSES]
        out.append(f"| **All components** | {' | '.join(totals)} | {_minutes(sum(row.total for row in rows))} |")
    return out


def _minutes(amount: int) -> str:
    return f"{amount} min" if amount else "—"
