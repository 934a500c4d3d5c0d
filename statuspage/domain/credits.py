"""SLA credits in money: what each customer account is owed for a month's missed commitments.

A *tier breach* is an incident whose first response missed the target a support tier promises
for its severity (see :func:`statuspage.domain.report.tier_stats`); it is given here as the
incident's id, the tier's id and the ids of the components the incident affected.

A breach affects an account when the account is on the breach's tier and either follows every
component (an empty component list) or follows at least one of the incident's components. An
incident that names no component affects only the accounts that follow everything.

An account's credit for the month is ``min(per_breach_percent × breaches, monthly_cap_percent)``
of its monthly fee, rounded half up to the cent. Per incident, each breach earns the account its
``per_breach_percent`` in the order the breaches are given, until the cap is reached; the shares
are rounded so that an account's incident shares add up to its credit to the cent.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
HUNDRED = Decimal(100)


def round_cents(amount: Decimal) -> Decimal:
    """``amount`` to the cent, halves away from zero (``2.345`` is ``2.35``)."""
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class AccountTerms:
    """A customer account as the credits see it; ``components`` empty: it follows everything."""

    name: str
    tier: str
    monthly_fee: Decimal
    components: frozenset[str] = frozenset()


@dataclass(frozen=True)
class CreditTerms:
    """A support tier's credit rule, in percent of the monthly fee."""

    tier: str
    name: str
    per_breach_percent: Decimal
    monthly_cap_percent: Decimal


@dataclass(frozen=True)
class TierBreach:
    incident_id: int
    tier: str
    components: frozenset[str]


@dataclass(frozen=True)
class AccountCredit:
    name: str
    tier: str
    breaches: int
    credit: Decimal


@dataclass(frozen=True)
class TierCredit:
    tier: str
    name: str
    accounts: int  # accounts owed something
    credit: Decimal


@dataclass(frozen=True)
class Credits:
    accounts: tuple[AccountCredit, ...]  # owed something, largest first
    tiers: tuple[TierCredit, ...]  # every tier of the rules, in their order
    total: Decimal
    customers_owed: int
    by_incident: Mapping[int, tuple[AccountCredit, ...]]  # every breached incident, largest first


def affects(account: AccountTerms, breach: TierBreach) -> bool:
    """Whether the breach counts against the account (see the module's description)."""
    if account.tier != breach.tier:
        return False
    return not account.components or bool(account.components & breach.components)


def credit_percent(rule: CreditTerms, breaches: int) -> Decimal:
    """The share of the monthly fee owed for ``breaches`` in one month, in percent."""
    return min(Decimal(rule.per_breach_percent) * breaches, Decimal(rule.monthly_cap_percent))


def account_credit(account: AccountTerms, rule: CreditTerms, breaches: int) -> Decimal:
    """The account's credit for the month, to the cent."""
    return round_cents(credit_percent(rule, breaches) * Decimal(account.monthly_fee) / HUNDRED)


def _largest_first(credits: Iterable[AccountCredit]) -> tuple[AccountCredit, ...]:
    return tuple(sorted(credits, key=lambda c: (-c.credit, -c.breaches, c.name.casefold(), c.name)))


def compute_credits(
    accounts: Iterable[AccountTerms], rules: Sequence[CreditTerms], breaches: Sequence[TierBreach]
) -> Credits:
    """The month's credits: per account owed something, per tier of ``rules`` and in all; and
    per breached incident, the accounts it affected with the share of their credit it earned.

    An account on a tier without a rule is owed nothing; so is one whose fee is zero.
    """
    by_tier = {rule.tier: rule for rule in rules}
    owed: list[AccountCredit] = []
    shares: dict[int, list[AccountCredit]] = {breach.incident_id: [] for breach in breaches}
    for account in accounts:
        rule = by_tier.get(account.tier)
        if rule is None:
            continue
        hits = [breach for breach in breaches if affects(account, breach)]
        if not hits:
            continue
        credit = account_credit(account, rule, len(hits))
        if credit > 0:
            owed.append(AccountCredit(account.name, account.tier, len(hits), credit))
        earned = Decimal(0)
        for count, breach in enumerate(hits, start=1):
            so_far = account_credit(account, rule, count)
            shares[breach.incident_id].append(AccountCredit(account.name, account.tier, 1, so_far - earned))
            earned = so_far
    tiers = tuple(
        TierCredit(
            tier=rule.tier,
            name=rule.name,
            accounts=sum(1 for c in owed if c.tier == rule.tier),
            credit=sum((c.credit for c in owed if c.tier == rule.tier), Decimal("0.00")),
        )
        for rule in rules
    )
    return Credits(
        accounts=_largest_first(owed),
        tiers=tiers,
        total=sum((c.credit for c in owed), Decimal("0.00")),
        customers_owed=len(owed),
        by_incident={key: _merged(found) for key, found in shares.items()},
    )


def _merged(found: list[AccountCredit]) -> tuple[AccountCredit, ...]:
    """One line per account: an incident given twice for the same tier counts twice."""
    merged: dict[tuple[str, str], AccountCredit] = {}
    for share in found:
        before = merged.get((share.name, share.tier))
        if before is not None:
            share = AccountCredit(share.name, share.tier, before.breaches + 1, before.credit + share.credit)
        merged[(share.name, share.tier)] = share
    return _largest_first(merged.values())
