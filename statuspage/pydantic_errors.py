"""One reading of pydantic's validation errors for every door input comes through: the
configuration and the playbooks (YAML files a person edits) and the admin API (JSON bodies a
program sends). The same kind of mistake is told the same way everywhere, in the words of the
medium: a YAML file has "a mapping of fields", a JSON body "a JSON object".

Each error becomes ``(location, message)``; the caller places it (``file:line: where: message``
for a file, ``{"field": ..., "message": ...}`` for the API).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from statuspage.yamlsource import yaml_kind

Loc = tuple[int | str, ...]

# pydantic's error types, grouped by the mistake a person made.
_GROUPS: Mapping[str, str] = {
    "missing": "missing",
    "extra_forbidden": "unknown_field",
    "literal_error": "choice",
    "enum": "choice",
    "too_short": "too_few",
    "string_too_short": "empty",
    "string_too_long": "too_long",
    "model_type": "mapping",
    "model_attributes_type": "mapping",
    "dict_type": "mapping",
    "list_type": "list",
    "tuple_type": "list",
    "int_type": "whole_number",
    "int_parsing": "whole_number",
    "int_from_float": "whole_number",
    "string_type": "text",
    "str_type": "text",
    "bool_type": "boolean",
    "bool_parsing": "boolean",
    "greater_than_equal": "minimum",
    "less_than_equal": "maximum",
    "timezone_aware": "time_zone",
}


@dataclass(frozen=True)
class Words:
    """How one medium says each mistake. A template may use ``{given}`` (the value as sent),
    ``{kind}`` (what sort of value it was: "a list", "the value 3") and pydantic's context
    (``{expected}``, ``{min_length}``, ``{ge}`` ...). A mistake without a template keeps
    pydantic's own words."""

    templates: Mapping[str, str]
    lower_first: bool = False


YAML = Words(
    {
        "missing": "is required",
        "unknown_field": "is not a known field",
        "choice": "{given} is not one of: {expected}",
        "too_few": "needs at least one entry",
        "mapping": "should be a mapping of fields, not {kind}",
        "list": "should be a list, not {kind}",
        "whole_number": "should be a whole number, not {kind}",
        "text": "should be text, not {kind}",
        "boolean": "should be true or false, not {kind}",
        "minimum": "{given} is less than the minimum, {ge}",
        "maximum": "{given} is more than the maximum, {le}",
    }
)

JSON = Words(
    {
        "missing": "is required",
        "unknown_field": "is not a field of this request",
        "choice": "must be one of {expected}",
        "too_few": "must have at least {min_length} item(s)",
        "empty": "must not be empty",
        "too_long": "must be at most {max_length} characters",
        "mapping": "must be a JSON object",
        "list": "must be a list",
        "whole_number": "must be an integer",
        "text": "must be a string",
        "boolean": "must be true or false",
        "minimum": "must be at least {ge}",
        "maximum": "must be at most {le}",
        "time_zone": "must carry a time zone offset, like 2026-11-25T08:00:00Z",
        "datetime": "must be an ISO 8601 time with an offset, like 2026-11-25T08:00:00Z",
    },
    lower_first=True,
)


def group(error: ErrorDetails) -> str | None:
    """The kind of mistake (``"missing"``, ``"choice"`` ...), or None for one of the model's own."""
    kind = error["type"]
    if kind.startswith("datetime"):
        return "datetime"
    return _GROUPS.get(kind)


def describe(error: ErrorDetails, words: Words) -> str:
    template = words.templates.get(group(error) or "")
    if template is None:
        message = str(error.get("msg") or error["type"])
        return message[:1].lower() + message[1:] if words.lower_first else message
    context: dict[str, Any] = dict(error.get("ctx") or {})
    context.setdefault("expected", str(error.get("msg", "")).removeprefix("Input should be "))
    value = error.get("input")
    return template.format_map({**context, "given": json.dumps(value, default=str), "kind": yaml_kind(value)})


def problems(
    error: ValidationError,
    words: Words,
    *,
    wrappers: Collection[str] = (),
    override: Callable[[Loc, ErrorDetails], str | None] | None = None,
) -> list[tuple[Loc, str]]:
    """Every error as ``(location, message)``. Locations lose the names pydantic adds for
    validators (``function-after[...]``) and any of ``wrappers`` (a union branch, say), which are
    not keys a person wrote. ``override`` may word an error itself (return None to decline)."""
    result = []
    items = error.errors()
    for item in items:
        if item["type"] == "too_short" and any(_inside(other["loc"], item["loc"]) for other in items):
            continue  # a list left too short only because one of its entries failed: that entry says why
        loc = tuple(part for part in item["loc"] if not _wrapper(part, wrappers))
        message = override(loc, item) if override is not None else None
        result.append((loc, message if message is not None else describe(item, words)))
    return result


def _inside(loc: tuple[int | str, ...], container: tuple[int | str, ...]) -> bool:
    return len(loc) > len(container) and loc[: len(container)] == container


def _wrapper(part: int | str, wrappers: Collection[str]) -> bool:
    return isinstance(part, str) and (part.startswith("function-") or part in wrappers)
