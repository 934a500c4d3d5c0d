"""What a playbook's templates (the texts of ``post_update`` and ``slack`` steps) see, and how the
escalation machine (:mod:`statuspage.domain.escalation`) asks for them to be rendered: the
template language itself stays at the edge (:mod:`statuspage.playbooks.render`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

__all__ = ["IncidentView", "TemplateRenderError", "TemplateRenderer"]


@dataclass(frozen=True, slots=True)
class IncidentView:
    """What templates can see of an incident: ``{{ incident.title }}``. Deliberately small and
    read-only, so a template cannot reach the database session through a model object."""

    id: int
    title: str
    severity: int
    status: str
    commander: str | None = None
    url: str = ""


class TemplateRenderError(Exception):
    """A playbook template that cannot be rendered for this incident; the message says why."""


class TemplateRenderer(Protocol):
    """Renders a playbook template (the text of a ``post_update`` or ``slack`` step) as plain text.

    The machine carries templates as source text and leaves the template language to its caller
    (:mod:`statuspage.playbooks.render`). A template that cannot be rendered raises
    :class:`TemplateRenderError`: the machine then posts nothing of it and tells the responders.
    """

    def __call__(self, source: str, *, incident: IncidentView, playbook: str) -> str: ...
