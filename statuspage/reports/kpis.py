"""Service-quality KPIs: their targets, the CSV they are imported from, and where they are kept.

The figures come from the support desk, not from this toolkit's database, so they are imported
once a month with ``incident report import-kpis FILE`` and kept in ``var/kpis.json`` beside the
configuration (there is no table for them). The CSV has a header line naming these columns, in
any order, and one line per month::

    month,fcr_percent,csat,nps,abandonment_percent,backlog_per_agent
    2026-10,78.5,4.6,42,4.1,18

- ``month``: ``YYYY-MM``, each month at most once per file;
- ``fcr_percent``: first contact resolution, 0-100;
- ``csat``: mean customer satisfaction on the 1-5 scale;
- ``nps``: net promoter score, -100 to 100;
- ``abandonment_percent``: calls or chats abandoned, 0-100;
- ``backlog_per_agent``: open tickets per agent, 0 or more.

Every cell is required and is a plain decimal number (``72``, ``4.55``, ``-10``). An import is all
or nothing: the first problem is reported as ``FILE:LINE:COLUMN: message`` and nothing is stored.
An imported month replaces what was stored for that month; other months are kept.

Targets (from the customer-service guides the defaults come from): where the guides give a range (FCR > 70-80 %, NPS > 30-40)
the report holds the figure to the top of the range, so a figure that fires a playbook trigger
(FCR < 75 %, abandonment > 6 %) can never show as "met".
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from statuspage.errors import UserError

MONTH_COLUMN = "month"
STORE_NAME = "kpis.json"
STORE_VERSION = 1
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


TARGETS: tuple[KpiTarget, ...] = (
    KpiTarget("fcr_percent", "First contact resolution", "%", "above", 80, 0, 100, ("below", 75)),
    KpiTarget("csat", "CSAT", " / 5", "above", 4.5, 1, 5),
    KpiTarget("nps", "NPS", "", "above", 40, -100, 100),
    KpiTarget("abandonment_percent", "Abandonment", "%", "below", 5, 0, 100, ("above", 6)),
    KpiTarget("backlog_per_agent", "Backlog per agent", "", "below", 25, 0, None),
)
BY_KEY = {target.key: target for target in TARGETS}
COLUMNS = (MONTH_COLUMN, *BY_KEY)


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


def evaluate(values: Mapping[str, float]) -> list[KpiResult]:
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


def parse_csv(text: str, name: str) -> dict[str, dict[str, float]]:
    """The months of a KPI CSV, ``{"2026-10": {"fcr_percent": 78.5, ...}}``; the first problem
    raises :class:`KpiFileError` with ``name`` as the file."""
    expected = ",".join(COLUMNS)
    reader = csv.reader(io.StringIO(text, newline=""))
    header: list[str] | None = None
    months: dict[str, dict[str, float]] = {}
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
            values: dict[str, float] = {}
            for column in header:
                if column == MONTH_COLUMN:
                    continue
                values[column] = _value(BY_KEY[column], cells.get(column, ""), name, line)
            first_seen[month] = line
            months[month] = values
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
        if column not in COLUMNS:
            raise KpiFileError(name, line, column or "-", f'unknown column "{column}"; the columns are {expected}')
        if column in seen:
            raise KpiFileError(name, line, column, "this column is named twice")
        seen.add(column)
    for column in COLUMNS:
        if column not in seen:
            raise KpiFileError(name, line, column, f"missing column; the header must name {expected} (in any order)")


def _value(target: KpiTarget, text: str, name: str, line: int) -> float:
    if not text:
        raise KpiFileError(name, line, target.key, "missing value")
    if not _NUMBER.match(text):
        raise KpiFileError(name, line, target.key, f'"{text}" is not a number')
    value = float(text)
    if value < target.low or (target.high is not None and value > target.high):
        raise KpiFileError(name, line, target.key, f"{text} is out of range: {_range_text(target)}")
    return value


def read_csv(path: Path, name: str | None = None) -> dict[str, dict[str, float]]:
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
    return parse_csv(text, label)


# The store -----------------------------------------------------------------------------------


def store_path(data_dir: Path) -> Path:
    return data_dir / STORE_NAME


def load(path: Path) -> dict[str, dict[str, float]]:
    """The stored months; none when nothing was imported yet."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise UserError(f"{path}: cannot read the imported KPIs ({exc}); import them again with: incident report import-kpis FILE") from None
    months = document.get("months") if isinstance(document, dict) else None
    if not isinstance(months, dict):
        raise UserError(f"{path}: not a KPI file; import the KPIs again with: incident report import-kpis FILE")
    return {
        str(month): {key: float(value) for key, value in values.items() if key in BY_KEY}
        for month, values in months.items()
        if isinstance(values, dict)
    }


def save(path: Path, imported: Mapping[str, Mapping[str, float]]) -> dict[str, dict[str, float]]:
    """Merge ``imported`` into the store by month and write it atomically (a temporary file in
    the same directory, then ``os.replace``): a reader sees the old file or the new one, whole."""
    months = load(path)
    months.update({month: dict(values) for month, values in imported.items()})
    document: dict[str, Any] = {"version": STORE_VERSION, "months": dict(sorted(months.items()))}
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile(
        "w", encoding="utf-8", dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False
    )
    try:
        with handle:
            json.dump(document, handle, indent=2, sort_keys=False)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(handle.name, path)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise
    return months
