"""Ids as people type them (command lines, URL paths, Slack buttons): ASCII digits, within the
database's columns. Every door that takes an id reads it here.

``int()`` alone would take ``١`` (Arabic-Indic one) for incident 1 and hand numbers past 32 bits to
the driver, which overflows (SQLite) or refuses them (PostgreSQL) with a traceback instead of a
"no such incident".
"""

from __future__ import annotations

from statuspage.errors import UserError

# Ids are 32-bit integer columns on every backend.
MAX_ID = 2**31 - 1


class MalformedId(UserError):
    """Not an id at all: letters, other scripts' digits, a sign, nothing."""


class IdOutOfRange(UserError):
    """Digits, but past what the column holds: no row can have that id."""


def parse_id(raw: str, *, what: str = "incident") -> int:
    """The id ``raw`` names; a ``UserError`` (one line) when it cannot name any ``what``.

    Surrounding whitespace and a leading ``#`` (as ids are shown: "incident #7") are allowed.
    """
    text = raw.strip().removeprefix("#")
    if not (text.isascii() and text.isdigit()):
        raise MalformedId(f"no {what} {_shown(raw)!r}: {what} ids are numbers")
    # Past 20 digits it is out of range whatever it says (and int() refuses past 4300 digits).
    value = int(text) if len(text) <= 20 else MAX_ID + 1
    if value > MAX_ID:
        raise IdOutOfRange(f"no {what} {_shown(text)}: {what} ids go up to {MAX_ID}")
    return value


def _shown(text: str) -> str:
    """What was typed, cut short enough for a one-line message."""
    return text if len(text) <= 40 else text[:40] + "…"
