"""Rendering playbook templates (``post_update`` and ``slack`` texts).

Templates are Jinja2 run in a sandbox with undefined names refused: playbooks are configuration,
not code, and a template must not reach Python internals (``{{ ''.__class__ }}``) or silently
print nothing for a misspelt field. They render plain text; escaping for Slack or HTML is the job
of whatever sends the text.

The escalation machine carries templates as source text and is handed :func:`render_text` to
render them (:class:`statuspage.domain.escalation.TemplateRenderer`).
"""

from __future__ import annotations

import dataclasses
import operator
import re
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError, meta
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

from statuspage.domain.escalation import IncidentView, TemplateRenderError

__all__ = ["MAX_TEMPLATE_OUTPUT", "TEMPLATE_NAMES", "render_template", "render_text", "template_problem"]

# The names a template may use. Anything else is refused at validation time.
TEMPLATE_NAMES = frozenset({"incident", "playbook"})
MAX_TEMPLATE_OUTPUT = 20_000  # characters; a status update is a paragraph, not a book


class _Sandbox(SandboxedEnvironment):
    """The stock sandbox plus limits on ``*`` and ``**``, which it lets through unchecked
    (``{{ 'x' * 10**10 }}`` would otherwise exhaust memory while paging)."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Any, operator_name: str, left: Any, right: Any) -> Any:
        if operator_name == "**":
            if isinstance(right, int) and abs(right) > 100:
                raise SecurityError("exponent too large in a template")
            return operator.pow(left, right)
        for sized, count in ((left, right), (right, left)):
            if isinstance(sized, (str, list, tuple)) and isinstance(count, int):
                if len(sized) * count > MAX_TEMPLATE_OUTPUT:
                    raise SecurityError("a repeated string or list in a template would be too long")
        return operator.mul(left, right)


def _finalize(value: Any) -> Any:
    # ``{{ incident.commander }}`` with no commander prints nothing rather than "None".
    return "" if value is None else value


@lru_cache(maxsize=1)
def _environment() -> SandboxedEnvironment:
    return _Sandbox(undefined=StrictUndefined, autoescape=False, finalize=_finalize, keep_trailing_newline=False)


@lru_cache(maxsize=256)
def _compile(source: str) -> Any:
    return _environment().from_string(source)


def render_template(source: str, *, incident: Any, playbook: str) -> str:
    """Render a playbook template as plain text.

    Raises :class:`jinja2.TemplateError` (a :class:`jinja2.exceptions.SecurityError` for unsafe
    attribute access, an ``UndefinedError`` for an unknown field); validation renders every
    template once with a sample incident so that these surface before a playbook is used.
    """
    text: str = _compile(source).render(incident=incident, playbook=playbook)
    if len(text) > MAX_TEMPLATE_OUTPUT:
        raise SecurityError(f"the template renders {len(text)} characters, more than {MAX_TEMPLATE_OUTPUT}")
    return text


def render_text(source: str, *, incident: IncidentView, playbook: str) -> str:
    """:func:`render_template` as the escalation machine asks for it: a template that cannot be
    rendered raises :class:`~statuspage.domain.escalation.TemplateRenderError` saying why."""
    try:
        return render_template(source, incident=incident, playbook=playbook)
    except TemplateError as exc:
        raise TemplateRenderError(exc.message or type(exc).__name__) from exc


def template_problem(source: str, sample: Any, playbook: str) -> str | None:
    """Why ``source`` cannot be used, or None."""
    try:
        parsed = _environment().parse(source)
    except TemplateSyntaxError as exc:
        return f"template syntax error on its line {exc.lineno}: {exc.message}"
    unknown = sorted(meta.find_undeclared_variables(parsed) - TEMPLATE_NAMES)
    if unknown:
        names = ", ".join(sorted(TEMPLATE_NAMES))
        return f"the template uses {', '.join(unknown)}; templates can use only: {names}"
    try:
        render_template(source, incident=sample, playbook=playbook)
    except TemplateError as exc:
        return f"the template cannot be rendered: {_readable(exc, sample)}"
    return None


def _readable(exc: TemplateError, sample: Any) -> str:
    """Jinja's words without Python's: "'IncidentView object' has no attribute 'x'" names a class
    the person writing the playbook has never seen."""
    message = exc.message or type(exc).__name__
    missing = re.fullmatch(r"'[\w.]+ object' has no attribute '(\w+)'", message)
    if missing and dataclasses.is_dataclass(sample):
        known = ", ".join(f"incident.{f.name}" for f in dataclasses.fields(sample))
        return f"incident has no field {missing.group(1)!r} (known: {known})"
    return message
