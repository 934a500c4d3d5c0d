"""The accounts CSV, read and checked as a whole: every problem one line,
``FILE:LINE: field: what is wrong``, so that a file is fixed in one go and imported all or nothing.

The first line names the columns, in any order (upper or lower case)::

    name,tier,seats,monthly_fee,components
    Acme Logistics,premium,12,3588.00,api;web
    Borealis Health,Standard,40,2760,
    "Cobalt Retail",standard,8,592.00,"checkout auth"

- ``name``: the account, one line of at most 200 characters, each account once per file
  (without regard to case);
- ``tier``: a support tier of the configuration, by id or by name (``premium`` or ``Premium``);
- ``seats``: a whole number, 1 or more;
- ``monthly_fee``: the account's total monthly fee in ``billing.currency``: digits with at most
  two decimals after a point (``3588``, ``3588.5``, ``3588.50``), no currency sign and no
  thousands separator;
- ``components`` (optional column): the ids of the components the account uses, separated by
  spaces, semicolons or (in a quoted cell) commas; empty, or no such column, means every
  component.

A cell a spreadsheet would run as a formula may be written with a leading apostrophe
(``'=Acme``), which is taken off. Only the standard library and the shared text rules are used:
the caller says which tiers and components exist.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Set
from dataclasses import dataclass
from decimal import Decimal

from statuspage import validators
from statuspage.csvfile import CsvFileError, rows_of, text_of

REQUIRED = ("name", "tier", "seats", "monthly_fee")
COLUMNS = (*REQUIRED, "components")
HEADER = ",".join(COLUMNS)
MAX_SEATS = 1_000_000
# Numeric(12, 2): ten digits before the point.
MAX_FEE = Decimal("9999999999.99")
FORMULA_STARTS = ("=", "+", "-", "@")
_AMOUNT = re.compile(r"^\d+(\.\d{1,2})?$")
_SEATS = re.compile(r"^\d+$")
_SEPARATORS = re.compile(r"[\s;,]+")

Bad = Callable[[int, str, str], None]  # records one problem: line, field, what is wrong


@dataclass(frozen=True)
class AccountRow:
    line: int
    name: str
    tier: str  # the tier's id
    seats: int
    monthly_fee: Decimal
    components: tuple[str, ...]  # empty: every component


def shown(text: str, limit: int = 60) -> str:
    """A cell as a message quotes it: control characters escaped, long text cut."""
    cut = text if len(text) <= limit else text[: limit - 1] + "…"
    return '"' + "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in cut) + '"'


def _unescaped(text: str) -> str:
    return text[1:] if text.startswith("'") and text[1:].startswith(FORMULA_STARTS) else text


def read_accounts(
    name: str, data: bytes, *, tiers: Mapping[str, str], components: Set[str]
) -> tuple[list[AccountRow], list[str]]:
    """The rows of an accounts file and its problems (``NAME:LINE: field: what``), in file order.

    ``tiers``: the tier id for each way a tier may be written, in lower case (its id and its
    name); ``components``: the component ids a row may name.
    """
    problems: list[str] = []

    def bad(line: int, field: str, what: str) -> None:
        problems.append(f"{name}:{line}: {field}: {what}")

    header: list[str] | None = None
    rows: list[AccountRow] = []
    seen: dict[str, int] = {}
    header_line = 1
    try:
        for line, cells in rows_of(text_of(data)):
            if header is None:
                header, header_line = [cell.strip().lower() for cell in cells], line
                if not _header_ok(header, line, bad):
                    return [], problems
                continue
            row = _read_row(header, cells, line, bad, tiers=tiers, components=components)
            if row is None:
                continue
            key = row.name.casefold()
            if key in seen:
                bad(line, "name", f"{shown(row.name)}: the same account as on line {seen[key]}")
                continue
            seen[key] = line
            rows.append(row)
    except CsvFileError as exc:
        bad(exc.line, "file", exc.message)
        if header is None:
            return [], problems
    if header is None:
        bad(1, "header", f"the file is empty; its first line must be the header {HEADER}")
    elif not rows and not problems:
        bad(header_line + 1, "name", "no accounts after the header")
    return rows, problems


def _header_ok(header: list[str], line: int, bad: Bad) -> bool:
    ok = True
    for column in sorted(set(header), key=header.index):
        if column not in COLUMNS:
            bad(line, "header", f"unknown column {shown(column)}; the columns are {HEADER}")
            ok = False
        elif header.count(column) > 1:
            bad(line, "header", f"the column {column} is named twice")
            ok = False
    for column in REQUIRED:
        if column not in header:
            bad(line, column, f"missing column; the header must name {','.join(REQUIRED)} (in any order; components is optional)")
            ok = False
    return ok


def _read_row(
    header: list[str],
    cells: list[str],
    line: int,
    bad: Bad,
    *,
    tiers: Mapping[str, str],
    components: Set[str],
) -> AccountRow | None:
    if len(cells) > len(header) and any(cell.strip() for cell in cells[len(header) :]):
        bad(line, "row", f"{len(cells)} cells, but the header names {len(header)} columns")
        return None

    def value(column: str) -> str:
        index = header.index(column) if column in header else len(cells)
        return cells[index].strip() if index < len(cells) else ""

    account = _name(_unescaped(value("name")), line, bad)
    tier = _tier(value("tier"), line, bad, tiers)
    seats = _seats(value("seats"), line, bad)
    fee = _fee(value("monthly_fee"), line, bad)
    chosen = _components(value("components"), line, bad, components)
    if account is None or tier is None or seats is None or fee is None or chosen is None:
        return None
    return AccountRow(line, account, tier, seats, fee, chosen)


def _name(text: str, line: int, bad: Bad) -> str | None:
    if not text:
        bad(line, "name", "missing value")
        return None
    try:
        return validators.title(text, field="name")
    except validators.Refused as exc:
        bad(line, "name", exc.problem)
        return None


def _tier(text: str, line: int, bad: Bad, tiers: Mapping[str, str]) -> str | None:
    if not text:
        bad(line, "tier", "missing value")
        return None
    found = tiers.get(text.lower())
    if found is None:
        known = ", ".join(sorted(set(tiers.values())))
        bad(line, "tier", f"{shown(text)} is not a support tier (the tiers are {known or 'not configured'})")
    return found


def _seats(text: str, line: int, bad: Bad) -> int | None:
    if not text:
        bad(line, "seats", "missing value")
        return None
    if not _SEATS.match(text):
        bad(line, "seats", f"{shown(text)} is not a whole number")
        return None
    seats = int(text)
    if not 1 <= seats <= MAX_SEATS:
        bad(line, "seats", f"{seats} is out of range: 1 to {MAX_SEATS:,}")
        return None
    return seats


def _fee(text: str, line: int, bad: Bad) -> Decimal | None:
    if not text:
        bad(line, "monthly_fee", "missing value")
        return None
    if not _AMOUNT.match(text):
        bad(line, "monthly_fee", f"{shown(text)} is not an amount like 1234.50 (digits, at most 2 decimals, "
            "no currency sign or thousands separator)")
        return None
    fee = Decimal(text)
    if fee > MAX_FEE:
        bad(line, "monthly_fee", f"{text} is more than {MAX_FEE:,}")
        return None
    return fee.quantize(Decimal("0.01"))


def _components(text: str, line: int, bad: Bad, components: Set[str]) -> tuple[str, ...] | None:
    chosen = tuple(dict.fromkeys(part for part in _SEPARATORS.split(text) if part))
    unknown = [part for part in chosen if part not in components]
    if unknown:
        names = ", ".join(shown(part, 40) for part in unknown[:3]) + (" …" if len(unknown) > 3 else "")
        bad(line, "components", f"no component {names} on this page (the components are {', '.join(sorted(components))})")
        return None
    return chosen
