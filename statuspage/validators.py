"""What people may type into the text that ends up on the status page, in the timeline and in the
audit log. One set of rules, used by the service layer, by the admin API's request models and by
the command lines before they send or write anything, so that every door refuses the same input
with the same words.

- A person's name (a commander, who acknowledged, ``--as``, ``X-Incident-User``, an action item's
  owner): one line, surrounding space removed, not empty, at most :data:`MAX_NAME` characters.
- A title (an incident, a maintenance window, an action item): one line, surrounding space
  removed, not empty, at most :data:`MAX_TITLE` characters.
- Free text (updates, reasons, root causes): line breaks (``\\n``) and tabs are allowed, since
  people paste log lines, lists and stack traces; no other control character (no ``\\r``, no
  escape sequences, no NUL), at most :data:`MAX_TEXT` characters unless the field says less. An
  empty text is "not given" (``None``) unless the field is required.

Control characters are Unicode's category Cc: C0, DEL and C1. One-line fields also refuse the
Unicode line and paragraph separators. Lone surrogates, which is what undecodable bytes on a
command line become, are refused everywhere: they can be neither stored nor printed.

A refusal is :class:`Refused`, an ``InvalidInput`` whose message is ``field: problem``, the form
of the admin API's 422 ``detail``; ``problem`` alone is kept for callers that name the field their
own way (pydantic, click).
"""

from __future__ import annotations

import re

from statuspage.errors import InvalidInput

MAX_NAME = 80
MAX_TITLE = 200
MAX_TEXT = 10_000
# A reason given for a pause or a change: a sentence or two, not a report.
MAX_REASON = 500

_NOT_ONE_LINE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
_NOT_TEXT = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
_NAMED = {"\n": "a line break", "\r": "a carriage return", "\t": "a tab", "\x00": "a NUL"}


class Refused(InvalidInput):
    """Text a field does not take."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}", field=field)
        self.problem = problem


def person_name(value: str, *, field: str, limit: int = MAX_NAME) -> str:
    """A person, as shown in the timeline and the audit log."""
    return _one_line(value, field=field, limit=limit)


def title(value: str, *, field: str = "title", limit: int = MAX_TITLE) -> str:
    return _one_line(value, field=field, limit=limit)


def free_text(value: str | None, *, field: str, limit: int = MAX_TEXT, required: bool = False) -> str | None:
    """Text of several lines; ``None`` when not given (or empty) and not required."""
    if value is None:
        if required:
            raise Refused(field, "is required")
        return None
    _refuse(_NOT_TEXT, value, field, "must not contain control characters other than line breaks and tabs")
    value = value.strip()
    if not value:
        if required:
            raise Refused(field, "must not be empty")
        return None
    _limit(value, field, limit)
    return value


def _one_line(value: str, *, field: str, limit: int) -> str:
    _refuse(_NOT_ONE_LINE, value, field, "must be one line without control characters")
    value = value.strip()
    if not value:
        raise Refused(field, "must not be empty")
    _limit(value, field, limit)
    return value


def _refuse(pattern: re.Pattern[str], value: str, field: str, rule: str) -> None:
    found = pattern.search(value)
    if found is None:
        return
    char = found.group()
    if "\ud800" <= char <= "\udfff":
        raise Refused(field, "must be valid UTF-8 text (it holds an undecodable byte or a lone surrogate)")
    raise Refused(field, f"{rule} (it has {_NAMED.get(char, f'U+{ord(char):04X}')})")


def _limit(value: str, field: str, limit: int) -> None:
    # The same words as the admin API's length refusals, so that both read alike.
    if len(value) > limit:
        raise Refused(field, f"must be at most {limit} characters")
