"""What the status page says when an operator gives no words of their own."""

from __future__ import annotations

from string import Template

DEFAULT_BODIES = {
    "investigating": Template("We are investigating reports of problems with $components."),
    "identified": Template("The issue has been identified and a fix is being implemented."),
    "monitoring": Template("A fix has been implemented and we are monitoring the results."),
    "resolved": Template("This incident has been resolved."),
    "reopened": Template("The issue has come back and we are investigating again."),
}


def default_body(kind: str, *, component_names: list[str]) -> str:
    names = ", ".join(component_names) if component_names else "our services"
    return DEFAULT_BODIES[kind].substitute(components=names)
