"""Subscribers as CSV: the export's rows, and an import file read and checked as a whole (each
problem one line, ``FILE:LINE: field: what is wrong``) before its rows are subscribed.

A spreadsheet runs a cell starting with ``=``, ``+``, ``-`` or ``@`` as a formula: exported, such
a cell gets a leading apostrophe, which an import takes off again.

Only the standard library is imported up front (``statuspage --help`` imports this module); the
database layer and the address checks are imported when a file is read or written.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC
from typing import TYPE_CHECKING

from statuspage.csvfile import CsvFileError, rows_of, text_of

if TYPE_CHECKING:
    from statuspage.context import WriteContext
    from statuspage.db.subscriber_models import Subscriber

EXPORT_COLUMNS = ("email", "components", "state", "kind", "webhook_url", "created_at", "confirmed_at")
TRUE_WORDS = frozenset({"true", "yes", "y", "t", "1"})
FALSE_WORDS = frozenset({"false", "no", "n", "f", "0", ""})
FORMULA_STARTS = ("=", "+", "-", "@")

Bad = Callable[[int, str, str], None]


def printable(text: str) -> str:
    """Addresses and errors come from outside: control characters escaped, never raw."""
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)


# Export --------------------------------------------------------------------------------------


def escaped(text: str | None) -> str:
    """A cell as exported: a leading apostrophe before what a spreadsheet would run as a formula."""
    value = text or ""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def unescaped(text: str) -> str:
    """A cell as imported: the apostrophe :func:`escaped` put before a formula taken off."""
    return text[1:] if text.startswith("'") and text[1:].startswith(FORMULA_STARTS) else text


def export_row(subscriber: Subscriber, components: Sequence[str]) -> list[str]:
    """A subscriber's cells, in the order of :data:`EXPORT_COLUMNS`; ``components``: those it
    follows (ignored when it follows everything, whose cell is empty). Times in UTC, ISO 8601."""
    followed = "" if subscriber.all_components else ";".join(components)
    created = subscriber.created_at.astimezone(UTC).isoformat(timespec="seconds")
    confirmed = subscriber.confirmed_at.astimezone(UTC).isoformat(timespec="seconds") if subscriber.confirmed_at else ""
    return [
        escaped(subscriber.email),
        followed,
        subscriber.state,
        subscriber.kind,
        escaped(subscriber.webhook_url),
        created,
        confirmed,
    ]


def export_csv(subscribers: Sequence[Subscriber], components: Mapping[int, Sequence[str]]) -> str:
    """The export file's text: the header, then one row per subscriber. ``components``: what each
    subscriber follows, by id."""
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow(EXPORT_COLUMNS)
    for subscriber in subscribers:
        writer.writerow(export_row(subscriber, components.get(subscriber.id or 0, [])))
    return out.getvalue()


# Import --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportRow:
    """One row of an import file, checked."""

    line: int
    email: str
    components: tuple[str, ...]
    webhook_url: str | None
    confirmed: bool

    @property
    def key(self) -> tuple[str, str]:
        return ("webhook", self.webhook_url) if self.webhook_url else ("email", self.email.lower())


@dataclass
class ImportTally:
    rows: int = 0
    confirmed: int = 0
    mailed: int = 0
    existing: int = 0
    held_back: int = 0  # pending, but the address had all the confirmation emails it may get for now

    def add(self, other: ImportTally) -> None:
        self.rows += other.rows
        self.confirmed += other.confirmed
        self.mailed += other.mailed
        self.existing += other.existing
        self.held_back += other.held_back


def read_import(
    name: str, data: bytes, *, components: set[str], allow_private: bool, all_confirmed: bool
) -> tuple[list[ImportRow], list[str]]:
    """The rows of an import file, and its problems, one line each (``NAME:LINE: field: what``).

    ``components``: the ids a row may name. The export's own columns are read too, so that an
    export imports as it is: without a ``confirmed`` column, an ``active`` or ``suspended`` state
    stands for confirmed.
    """
    problems: list[str] = []

    def bad(line: int, field: str, what: str) -> None:
        problems.append(f"{name}:{line}: {field}: {what}")

    header: list[str] | None = None
    header_line = 1
    rows: list[ImportRow] = []
    seen: dict[tuple[str, str], int] = {}
    try:
        for line, cells in rows_of(text_of(data)):
            if header is None:
                header, header_line = [cell.strip().lower() for cell in cells], line
                twice = sorted({column for column in header if header.count(column) > 1})
                if twice:
                    bad(line, "header", f"the column {printable(twice[0])!r} is named twice")
                if "email" not in header:
                    named = ", ".join(printable(column) for column in header)
                    bad(line, "email", f"the header names no email column (it names: {named})")
                if problems:
                    return [], problems
                continue
            before = len(problems)
            row = _read_row(header, cells, line, bad, components=components, allow_private=allow_private)
            if row is None or len(problems) > before:
                continue
            confirmed = all_confirmed or row.confirmed
            first = seen.setdefault(row.key, line)
            if first != line:
                bad(line, "webhook_url" if row.webhook_url else "email", f"the same subscriber as on line {first}")
                continue
            rows.append(ImportRow(line, row.email, row.components, row.webhook_url, confirmed))
    except CsvFileError as exc:
        bad(exc.line, "file", exc.message)
        if header is None:
            return [], problems
    if header is None:
        bad(header_line, "email", "the file is empty: its first line must be a header naming an email column")
    return rows, problems


def _read_row(
    header: list[str],
    cells: list[str],
    line: int,
    bad: Bad,
    *,
    components: set[str],
    allow_private: bool,
) -> ImportRow | None:
    from statuspage.errors import InvalidInput
    from statuspage.subscribers import service

    def value(column: str) -> str:
        index = header.index(column) if column in header else None
        return cells[index].strip() if index is not None and index < len(cells) else ""

    if len(cells) > len(header) and any(cell.strip() for cell in cells[len(header) :]):
        bad(line, "row", f"{len(cells)} fields, but the header names {len(header)} columns")
        return None
    raw = unescaped(value("email"))
    try:
        email = service.clean_email(raw)
    except InvalidInput as exc:
        bad(line, "email", exc.message + (f": {printable(raw)!r}" if raw else ""))
        email = ""
    url = _read_webhook(value("kind"), value("webhook_url"), line, bad, allow_private=allow_private)
    listed = value("components")
    chosen = tuple(dict.fromkeys(part.strip() for part in listed.split(";") if part.strip()))
    if chosen == ("all",) and "all" not in components:
        chosen = ()
    unknown = [component for component in chosen if component not in components]
    if unknown:
        shown = ", ".join(repr(printable(component[:64])) for component in unknown[:3])
        bad(line, "components", f"no component {shown} on this page")
    confirmed = False
    if "confirmed" in header:
        word = value("confirmed")
        if word.lower() in TRUE_WORDS:
            confirmed = True
        elif word.lower() not in FALSE_WORDS:
            bad(line, "confirmed", f"{printable(word)!r} is not true or false")
    elif "state" in header:
        state = value("state")
        if state.lower() in ("active", "suspended"):
            confirmed = True
        elif state.lower() not in ("", "pending"):
            bad(line, "state", f"{printable(state)!r} is not pending, active or suspended")
    return ImportRow(line, email, chosen, url, confirmed)


def _read_webhook(kind: str, text: str, line: int, bad: Bad, *, allow_private: bool) -> str | None:
    if kind.lower() not in ("", "email", "webhook"):
        bad(line, "kind", f"{printable(kind)!r} is not email or webhook")
        return None
    if kind.lower() == "webhook" and not text:
        bad(line, "webhook_url", "a webhook subscriber needs its URL")
        return None
    if kind.lower() == "email" and text:
        bad(line, "kind", "email, but the row has a webhook_url")
        return None
    if not text:
        return None
    from statuspage.errors import InvalidInput
    from statuspage.public_addresses import AddressRefused, validate_public_url
    from statuspage.webhooks.service import validate_url

    text = unescaped(text)
    try:
        url = validate_url(text)
        validate_public_url(url, allow_private=allow_private)
    except InvalidInput as exc:
        bad(line, "webhook_url", exc.message.removeprefix("url "))
        return None
    except AddressRefused as exc:
        bad(line, "webhook_url", str(exc))
        return None
    return url


def import_rows(*, ctx: WriteContext, rows: Sequence[ImportRow], allow_private: bool) -> ImportTally:
    """Subscribe the rows, in the caller's write transaction. An address already active is left
    as it is: subscribing it as confirmed changes nothing and sends it nothing (unconfirmed, it
    would be sent its manage link)."""
    from sqlalchemy import and_, or_
    from sqlmodel import col, select

    from statuspage.db.subscriber_models import Subscriber
    from statuspage.subscribers import service

    emails = [row.email.lower() for row in rows if not row.webhook_url]
    urls = [row.webhook_url for row in rows if row.webhook_url]
    active = {
        ("webhook", url) if kind == service.WEBHOOK and url else ("email", key or "")
        for kind, key, url in ctx.session.exec(
            select(Subscriber.kind, Subscriber.address_key, Subscriber.webhook_url).where(
                col(Subscriber.state) == service.ACTIVE,
                or_(
                    and_(col(Subscriber.kind) == service.EMAIL, col(Subscriber.address_key).in_(emails)),
                    and_(col(Subscriber.kind) == service.WEBHOOK, col(Subscriber.webhook_url).in_(urls)),
                ),
            )
        ).all()
    }
    tally = ImportTally()
    for row in rows:
        already = row.key in active
        done = service.subscribe(
            ctx=ctx,
            email=row.email,
            components=row.components,
            webhook_url=row.webhook_url,
            client=None,
            allow_private=allow_private,
            source="import",
            confirmed=row.confirmed or already,
        )
        tally.rows += 1
        tally.existing += not done.created
        if done.subscriber.state == service.ACTIVE:
            tally.confirmed += not already
        elif done.mailed:
            tally.mailed += 1
        else:
            tally.held_back += 1
    return tally
