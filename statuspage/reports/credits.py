"""SLA credits in money for the monthly report and the postmortem: the customer accounts imported
into the database (``incident report import-accounts``), the support tiers' credit rules from the
configuration, and the month's tier breaches, worked out by :mod:`statuspage.domain.credits`.

A tier takes part when it gives credits (``sla_credits`` with a per-breach percentage above 0);
an account on another tier, or on a tier no longer configured, is owed nothing. Amounts are in
``billing.currency`` and printed with :func:`format_money`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from sqlmodel import Session, col, select

from statuspage.db.account_models import Account
from statuspage.db.models import IncidentComponent
from statuspage.domain.credits import (
    AccountCredit,
    AccountTerms,
    CreditTerms,
    TierBreach,
    TierCredit,
    compute_credits,
    round_cents,
)
from statuspage.settings import Config

__all__ = [
    "AccountCredit",
    "CreditSummary",
    "TierBreach",
    "TierCredit",
    "credit_rules",
    "format_money",
    "incident_components",
    "load_accounts",
    "month_credits",
]


@dataclass(frozen=True)
class CreditSummary:
    currency: str
    accounts: tuple[AccountCredit, ...]  # owed something, largest first
    tiers: tuple[TierCredit, ...]  # every tier with sla_credits, config order
    total: Decimal
    customers_owed: int
    by_incident: Mapping[int, tuple[AccountCredit, ...]]  # every incident of the breaches, largest first


def credit_rules(config: Config) -> list[CreditTerms]:
    """The credit rule of every tier that gives credits, in the configuration's order."""
    return [
        CreditTerms(
            tier=tier.id,
            name=tier.name,
            per_breach_percent=tier.sla_credits.per_breach_percent,
            monthly_cap_percent=tier.sla_credits.monthly_cap_percent,
        )
        for tier in config.support_tiers
        if tier.sla_credits.per_breach_percent > 0
    ]


def load_accounts(session: Session) -> list[AccountTerms]:
    return [
        AccountTerms(
            name=account.name,
            tier=account.tier,
            monthly_fee=Decimal(account.monthly_fee),
            components=frozenset(account.components or ()),
        )
        for account in session.exec(select(Account).order_by(col(Account.name))).all()
    ]


def month_credits(
    session: Session, config: Config, breaches: Sequence[TierBreach], accounts: Sequence[AccountTerms] | None = None
) -> CreditSummary:
    """What each account is owed for ``breaches`` (one month's tier breaches, in the order they
    happened: an incident's share of a capped credit goes to the earlier breaches). ``accounts``:
    those :func:`load_accounts` gave the caller, when it has them already."""
    found = compute_credits(load_accounts(session) if accounts is None else accounts, credit_rules(config), breaches)
    return CreditSummary(
        currency=config.billing.currency,
        accounts=found.accounts,
        tiers=found.tiers,
        total=found.total,
        customers_owed=found.customers_owed,
        by_incident=found.by_incident,
    )


def incident_components(session: Session, incident_ids: Iterable[int]) -> dict[int, frozenset[str]]:
    """The ids of the components each incident affects (none: an empty set), to build
    :class:`TierBreach` values."""
    wanted = sorted(set(incident_ids))
    found: dict[int, set[str]] = {key: set() for key in wanted}
    if wanted:
        rows = session.exec(
            select(IncidentComponent.incident_id, IncidentComponent.component_id).where(
                col(IncidentComponent.incident_id).in_(wanted)
            )
        ).all()
        for incident_id, component_id in rows:
            found[incident_id].add(component_id)
    return {key: frozenset(value) for key, value in found.items()}


def format_money(amount: Decimal, currency: str) -> str:
    """``$1,234.50`` in US dollars, ``1,234.50 EUR`` in any other currency; to the cent, halves up."""
    rounded = round_cents(Decimal(amount))
    sign = "-" if rounded < 0 else ""
    digits = f"{abs(rounded):,.2f}"
    return f"{sign}${digits}" if currency == "USD" else f"{sign}{digits} {currency}"
