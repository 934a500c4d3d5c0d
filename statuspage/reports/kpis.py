"""Service-quality KPIs: their targets, the CSV they are imported from, and the table they are kept in.

The figures come from the support desk, not from this toolkit, so they are imported once a month
with ``incident report import-kpis FILE`` into the database (table ``kpi_month``: one row per month
and KPI, with the KPI's owner). The CSV has a header line naming its columns, in any order, and
one line per month::

    month,fcr_percent,csat,nps,abandonment_percent,backlog_per_agent,aht_minutes,reopen_percent,fcr_percent_owner
    2026-10,78.5,4.6,42,4.1,18,7.5,3.2,Ben Okafor

- ``month``: ``YYYY-MM``, each month at most once per file;
- ``fcr_percent``: first contact resolution, 0-100;
- ``csat``: mean customer satisfaction on the 1-5 scale;
- ``nps``: net promoter score, -100 to 100;
- ``abandonment_percent``: calls or chats abandoned, 0-100;
- ``backlog_per_agent``: open tickets per agent, 0 or more;
- ``aht_minutes`` (optional column): average handle time in minutes, 0 or more;
- ``reopen_percent`` (optional column): tickets reopened after being solved, 0-100;
- ``<kpi>_owner`` (optional columns, e.g. ``csat_owner``): who owns the KPI when it misses its
  target, a person's name; an empty cell names nobody.

The first five KPIs are required columns, so files written before the optional ones existed still
import. Every KPI cell of a column the header names is required and is a plain decimal number
(``72``, ``4.55``, ``-10``). An import is all or nothing: the first problem is reported as
``FILE:LINE:COLUMN: message`` and nothing is stored. An imported month replaces what was stored
for that month (its owners too); other months are kept. The JSON file earlier versions kept the
KPIs in (``var/kpis.json``) imports as it is: ``incident report import-kpis var/kpis.json``.

Targets. The customer-service guides give FCR > 70-80 %, CSAT > 4.5 / 5, NPS > 30-40,
abandonment < 5 % and backlog < 25 per agent, and the playbook triggers FCR < 75 % and
abandonment > 6 %. The rest are our defaults, not the guides' figures: where a guide gives a
range, the report holds the figure to the top of the range (FCR 80 %, NPS 40), so a figure that
fires a playbook trigger can never show as "met"; every target is strict, so a figure exactly on
it (FCR 80 %, CSAT 4.5) counts as missed; and the guides set no target for handle time or
reopens: ours are under 8 minutes and under 5 %.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sqlmodel import Session, col, delete, select

from statuspage import validators
from statuspage.audit.actions import AuditAction
from statuspage.context import WriteContext, write
from statuspage.db.account_models import KpiValue
from statuspage.domain.months import month_label, read_month, shift_month
from statuspage.errors import UserError

MONTH_COLUMN = "month"
OWNER_SUFFIX = "_owner"
STORE_NAME = "kpis.json"
TREND_MONTHS = 3
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")


@dataclass(frozen=True)
class KpiTarget:
    key: str
    label: str
    unit: str  # printed after a value: "%", " / 5", ""
    better: str  # "above" or "below": the direction the target wants
    target: float
    low: float  # the values a cell may hold
    high: float | None
    trigger: tuple[str, float] | None = None  # ("above" | "below", threshold) that fires a playbook

    def show(self, value: float) -> str:
        return f"{value:g}{self.unit}"

    @property
    def target_text(self) -> str:
        return f"{self.better} {self.show(self.target)}"

    @property
    def trigger_text(self) -> str | None:
        if self.trigger is None:
            return None
        side, threshold = self.trigger
        return f"{self.label} {side} {self.show(threshold)}"

    def met(self, value: float) -> bool:
        return value > self.target if self.better == "above" else value < self.target

    def triggered(self, value: float) -> bool:
        if self.trigger is None:
            return False
        side, threshold = self.trigger
        return value > threshold if side == "above" else value < threshold


# The guides' figures, except FCR 80 and NPS 40 (the top of the guides' ranges), the strict
# comparison in KpiTarget.met, and the handle-time and reopen targets: those are our defaults.
TARGETS: tuple[KpiTarget, ...] = (
    KpiTarget("fcr_percent", "First contact resolution", "%", "above", 80, 0, 100, ("below", 75)),
    KpiTarget("csat", "CSAT", " / 5", "above", 4.5, 1, 5),
    KpiTarget("nps", "NPS", "", "above", 40, -100, 100),
    KpiTarget("abandonment_percent", "Abandonment", "%", "below", 5, 0, 100, ("above", 6)),
    KpiTarget("backlog_per_agent", "Backlog per agent", "", "below", 25, 0, None),
    KpiTarget("aht_minutes", "Average handle time", " min", "below", 8, 0, None),
    KpiTarget("reopen_percent", "Reopen rate", "%", "below", 5, 0, 100),
)
BY_KEY = {target.key: target for target in TARGETS}
OPTIONAL = ("aht_minutes", "reopen_percent")
# The columns every file names; the optional KPIs and the owners may be left out.
COLUMNS = (MONTH_COLUMN, *(key for key in BY_KEY if key not in OPTIONAL))


@dataclass(frozen=True)
class KpiMonth:
    """One month's figures by KPI key, and the owners named for them."""

    month: str
    values: Mapping[str, float]
    owners: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class KpiResult:
    key: str
    label: str
    value: float
    value_text: str
    target_text: str
    met: bool
    playbook_trigger: bool
    trigger_text: str | None
    owner: str | None = None  # who owns the KPI when it misses


def evaluate(values: Mapping[str, float], owners: Mapping[str, str] | None = None) -> list[KpiResult]:
    """Each stored KPI against its target, in the order of :data:`TARGETS`."""
    results = []
    for target in TARGETS:
        if target.key not in values:
            continue
        value = float(values[target.key])
        results.append(
            KpiResult(
                key=target.key,
                label=target.label,
                value=value,
                value_text=target.show(value),
                target_text=target.target_text,
                met=target.met(value),
                playbook_trigger=target.triggered(value),
                trigger_text=target.trigger_text,
                owner=(owners or {}).get(target.key),
            )
        )
    return results


# Importing -----------------------------------------------------------------------------------


class KpiFileError(UserError):
    """A malformed KPI file: ``str()`` is the one line ``FILE:LINE:COLUMN: message``."""

    def __init__(self, name: str, line: int, column: str, message: str) -> None:
        super().__init__(f"{name}:{line}:{column}: {message}", field=column)
        self.line = line
        self.column = column


def _month(text: str) -> bool:
    match = _MONTH.match(text)
    return bool(match) and 1 <= int(match.group(2)) <= 12 and int(match.group(1)) >= 1970  # type: ignore[union-attr]


def _range_text(target: KpiTarget) -> str:
    if target.high is None:
        return f"{target.label} is {target.show(target.low)} or more"
    return f"{target.label} is between {target.show(target.low)} and {target.show(target.high)}"


def _known(column: str) -> bool:
    return column == MONTH_COLUMN or column in BY_KEY or column.removesuffix(OWNER_SUFFIX) in BY_KEY


def parse_csv(text: str, name: str) -> dict[str, KpiMonth]:
    """The months of a KPI CSV by month; the first problem raises :class:`KpiFileError` with
    ``name`` as the file."""
    expected = ",".join(COLUMNS)
    reader = csv.reader(io.StringIO(text, newline=""))
    header: list[str] | None = None
    months: dict[str, KpiMonth] = {}
    first_seen: dict[str, int] = {}
    try:
        for row in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if header is None:
                header = [cell.strip() for cell in row]
                _check_header(header, name, line, expected)
                continue
            if len(row) > len(header):
                raise KpiFileError(name, line, str(len(header) + 1), f"{len(row)} cells, but the header names {len(header)} columns")
            cells = dict(zip(header, (cell.strip() for cell in row), strict=False))
            month = cells.get(MONTH_COLUMN, "")
            if not month:
                raise KpiFileError(name, line, MONTH_COLUMN, "missing value")
            if not _month(month):
                raise KpiFileError(name, line, MONTH_COLUMN, f'"{month}" is not a month; write it as YYYY-MM, e.g. 2026-10')
            if month in first_seen:
                raise KpiFileError(name, line, MONTH_COLUMN, f"{month} is already on line {first_seen[month]}")
            values = {key: _value(BY_KEY[key], cells.get(key, ""), name, line) for key in BY_KEY if key in header}
            owners = {}
            for key in BY_KEY:
                owner = _owner(cells.get(key + OWNER_SUFFIX, ""), key + OWNER_SUFFIX, name, line)
                if owner is not None:
                    owners[key] = owner
            first_seen[month] = line
            months[month] = KpiMonth(month, values, owners)
    except csv.Error as exc:
        raise KpiFileError(name, reader.line_num, "-", f"not a CSV file: {exc}") from None
    if header is None:
        raise KpiFileError(name, 1, MONTH_COLUMN, f"the file is empty; its first line must be the header {expected}")
    if not months:
        raise KpiFileError(name, 2, MONTH_COLUMN, "no months after the header")
    return months


def _check_header(header: list[str], name: str, line: int, expected: str) -> None:
    seen: set[str] = set()
    for column in header:
        if not _known(column):
            optional = ",".join(OPTIONAL)
            raise KpiFileError(
                name, line, column or "-",
                f'unknown column "{column}"; the columns are {expected}, optionally {optional}, '
                f"and an owner column per KPI such as csat{OWNER_SUFFIX}",
            )
        if column in seen:
            raise KpiFileError(name, line, column, "this column is named twice")
        seen.add(column)
    for column in COLUMNS:
        if column not in seen:
            raise KpiFileError(name, line, column, f"missing column; the header must name {expected} (in any order)")
    for column in header:
        kpi = column.removesuffix(OWNER_SUFFIX)
        if column != kpi and kpi not in seen:
            raise KpiFileError(name, line, column, f"names the owner of {kpi}, but the header has no {kpi} column")


def _value(target: KpiTarget, text: str, name: str, line: int) -> float:
    if not text:
        raise KpiFileError(name, line, target.key, "missing value")
    if not _NUMBER.match(text):
        raise KpiFileError(name, line, target.key, f'"{text}" is not a number')
    value = float(text)
    if value < target.low or (target.high is not None and value > target.high):
        raise KpiFileError(name, line, target.key, f"{text} is out of range: {_range_text(target)}")
    return value


def _owner(text: str, column: str, name: str, line: int) -> str | None:
    if not text:
        return None
    try:
        return validators.person_name(text, field=column)
    except validators.Refused as exc:
        raise KpiFileError(name, line, column, exc.problem) from None


def read_csv(path: Path, name: str | None = None) -> dict[str, KpiMonth]:
    """The months of a KPI file: a CSV, or (named ``*.json``) the file earlier versions kept."""
    label = name if name is not None else str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise UserError(f"cannot read {label}: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8-sig")  # a spreadsheet's byte-order mark is not part of the header
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise KpiFileError(label, line, "-", "not UTF-8 text") from None
    if path.suffix.lower() == ".json":
        return parse_store(text, label)
    return parse_csv(text, label)


def store_path(data_dir: Path) -> Path:
    """Where earlier versions kept the imported KPIs (now only read, by an import)."""
    return data_dir / STORE_NAME


def parse_store(text: str, name: str) -> dict[str, KpiMonth]:
    """The months of the JSON file earlier versions kept (``{"months": {"2026-10": {...}}}``),
    checked like a CSV's cells."""
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise KpiFileError(name, getattr(exc, "lineno", 1), "-", "not a KPI file (neither CSV nor the JSON of var/kpis.json)") from None
    months = document.get("months") if isinstance(document, dict) else None
    if not isinstance(months, dict) or not months:
        raise KpiFileError(name, 1, "months", "not a KPI file: it holds no months")
    found: dict[str, KpiMonth] = {}
    for month, figures in months.items():
        if not isinstance(month, str) or not _month(month) or not isinstance(figures, dict):
            raise KpiFileError(name, 1, "months", f"{json.dumps(month)} is not a month with its figures")
        values = {}
        for key, value in figures.items():
            if key in BY_KEY:
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise KpiFileError(name, 1, key, f"{month}: {json.dumps(value)} is not a number")
                values[key] = _value(BY_KEY[key], repr(float(value)), name, 1)
        found[month] = KpiMonth(month, values)
    return found


# The table -----------------------------------------------------------------------------------


@write
def import_months(*, ctx: WriteContext, months: Mapping[str, KpiMonth], source: str) -> list[str]:
    """Store ``months``, each replacing what was stored for it, with one audit event naming the
    file (``source``) and what each month held before and holds now. The months, in order."""
    session = ctx.session
    chosen = sorted(months)
    before = _rows_by_month(session, chosen)
    session.exec(delete(KpiValue).where(col(KpiValue.month).in_(chosen)))
    now = ctx.now()
    for month in chosen:
        figures = months[month]
        for key in BY_KEY:
            if key in figures.values:
                owner = figures.owners.get(key)
                session.add(KpiValue(month=month, metric=key, value=float(figures.values[key]), owner=owner, imported_at=now))
    session.flush()
    ctx.audit(
        action=AuditAction.KPI_IMPORT,
        subject_type="kpi",
        subject_id=chosen[0] if len(chosen) == 1 else f"{chosen[0]}..{chosen[-1]}",
        at=now,
        before={month: _jsonable(found) for month, found in before.items()} or None,
        after={"file": source, **{month: _jsonable(months[month]) for month in chosen}},
    )
    return chosen


def _jsonable(figures: KpiMonth) -> dict[str, object]:
    return {"values": dict(figures.values), "owners": dict(figures.owners)}


def _rows_by_month(session: Session, months: list[str]) -> dict[str, KpiMonth]:
    rows = session.exec(select(KpiValue).where(col(KpiValue.month).in_(months))).all()
    values: dict[str, dict[str, float]] = {}
    owners: dict[str, dict[str, str]] = {}
    for row in rows:
        if row.metric not in BY_KEY:
            continue  # a KPI a later version knows
        values.setdefault(row.month, {})[row.metric] = row.value
        if row.owner:
            owners.setdefault(row.month, {})[row.metric] = row.owner
    return {month: KpiMonth(month, values[month], owners.get(month, {})) for month in sorted(values)}


def month_kpis(session: Session, month: str) -> KpiMonth | None:
    """The month's stored figures and owners (``YYYY-MM``); ``None`` when none were imported."""
    return _rows_by_month(session, [month]).get(month)


def month_values(session: Session, month: str) -> dict[str, float] | None:
    """The month's stored figures by KPI key, what ``monthly_report(kpis=...)`` takes; ``None``
    when none were imported."""
    found = month_kpis(session, month)
    return dict(found.values) if found is not None else None


def kpi_trend(session: Session, month: str, months: int = TREND_MONTHS) -> list[KpiMonth]:
    """The figures of ``month`` and of the ``months - 1`` months before it, oldest first; a month
    without figures is left out."""
    found = read_month(month)
    if found is None:
        raise UserError(f"{month!r} is not a month; write it as YYYY-MM, e.g. 2026-10", field="month")
    labels = [month_label(*shift_month(*found, -back)) for back in range(months - 1, -1, -1)]
    stored = _rows_by_month(session, labels)
    return [stored[label] for label in labels if label in stored]


def stored_months(session: Session) -> list[str]:
    """Every month with figures, oldest first."""
    return sorted(set(session.exec(select(KpiValue.month)).all()))
