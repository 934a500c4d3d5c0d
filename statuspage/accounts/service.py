"""Customer accounts: importing them (the one change there is), and reading them.

An import checks the whole file against the configured support tiers and the page's components
first; any problem refuses it all (:class:`AccountFileError`, one line per problem) and nothing is
written. Otherwise each row adds the account of its name or replaces the one stored under that
name, compared without regard to case (the file's spelling wins); accounts the file does not name
are kept. One audit event records the import: the file, the accounts added, and for those
changed, what they were before.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlmodel import Session, col, select

from statuspage.accounts.csv_import import AccountRow, read_accounts
from statuspage.audit.actions import AuditAction
from statuspage.context import WriteContext, write
from statuspage.db.account_models import Account
from statuspage.db.models import Component
from statuspage.errors import InvalidInput
from statuspage.settings import Config

# An audit event names at most this many accounts per list; the counts are always whole.
AUDIT_NAMES = 200


class AccountFileError(InvalidInput):
    """A refused accounts file: ``problems`` holds one line each, ``FILE:LINE: field: what``."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("\n".join(problems), field="file")
        self.problems = list(problems)


@dataclass
class AccountImport:
    rows: int = 0
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: int = 0


def tier_names(config: Config) -> dict[str, str]:
    """Each way a row may name a tier (its id, its name, in lower case) to the tier's id."""
    found: dict[str, str] = {}
    for tier in config.support_tiers:
        found.setdefault(tier.name.strip().lower(), tier.id)
        found[tier.id] = tier.id
    return found


def known_components(session: Session) -> set[str]:
    return set(session.exec(select(Component.id).where(col(Component.archived).is_(False))).all())


def check_file(session: Session, config: Config, name: str, data: bytes) -> list[AccountRow]:
    """The file's rows, or :class:`AccountFileError` with every problem."""
    rows, problems = read_accounts(name, data, tiers=tier_names(config), components=known_components(session))
    if problems:
        raise AccountFileError(problems)
    return rows


def _terms(account: Account) -> dict[str, Any]:
    return {
        "name": account.name,
        "tier": account.tier,
        "seats": account.seats,
        "monthly_fee": str(Decimal(account.monthly_fee).quantize(Decimal("0.01"))),
        "components": list(account.components or []),
    }


@write
def import_accounts(*, ctx: WriteContext, name: str, data: bytes) -> AccountImport:
    """Check the file ``data`` (called ``name`` in messages and the audit log) and store its
    accounts, all or none."""
    session = ctx.session
    rows = check_file(session, ctx.config, name, data)
    stored = {account.name.casefold(): account for account in session.exec(select(Account)).all()}
    now = ctx.now()
    done = AccountImport(rows=len(rows))
    before: dict[str, dict[str, Any]] = {}
    for row in rows:
        wanted = {
            "name": row.name,
            "tier": row.tier,
            "seats": row.seats,
            "monthly_fee": str(row.monthly_fee),
            "components": list(row.components),
        }
        account = stored.get(row.name.casefold())
        if account is None:
            account = Account(name=row.name, tier=row.tier, seats=row.seats, monthly_fee=row.monthly_fee,
                              components=list(row.components), imported_at=now)
            done.added.append(row.name)
        elif _terms(account) == wanted:
            done.unchanged += 1
            continue
        else:
            before[account.name] = _terms(account)
            account.name, account.tier, account.seats = row.name, row.tier, row.seats
            account.monthly_fee, account.components, account.imported_at = row.monthly_fee, list(row.components), now
            done.updated.append(row.name)
        session.add(account)
    session.flush()
    ctx.audit(
        action=AuditAction.ACCOUNT_IMPORT,
        subject_type="account",
        subject_id="import",
        at=now,
        before=dict(list(before.items())[:AUDIT_NAMES]) or None,
        after={
            "file": name,
            "rows": done.rows,
            "added": done.added[:AUDIT_NAMES],
            "added_count": len(done.added),
            "updated": done.updated[:AUDIT_NAMES],
            "updated_count": len(done.updated),
            "unchanged": done.unchanged,
        },
    )
    return done


def list_accounts(session: Session) -> list[Account]:
    return list(session.exec(select(Account).order_by(col(Account.name))).all())
