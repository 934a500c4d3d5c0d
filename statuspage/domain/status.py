"""How the page sums itself up: the overall indicator and its words."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from statuspage.domain.enums import ComponentStatus, Impact


@dataclass(frozen=True, slots=True)
class PageStatus:
    indicator: str
    description: str


_COMPONENT_INDICATOR = {
    ComponentStatus.OPERATIONAL: Impact.NONE,
    ComponentStatus.UNDER_MAINTENANCE: Impact.NONE,
    ComponentStatus.DEGRADED_PERFORMANCE: Impact.MINOR,
    ComponentStatus.PARTIAL_OUTAGE: Impact.MAJOR,
    ComponentStatus.MAJOR_OUTAGE: Impact.CRITICAL,
}

DESCRIPTIONS = {
    "none": "All Systems Operational",
    "minor": "Minor Service Outage",
    "major": "Partial System Outage",
    "critical": "Major System Outage",
    "maintenance": "Service Under Maintenance",
}


def page_status(
    *,
    component_statuses: Iterable[ComponentStatus],
    open_incident_impacts: Iterable[Impact],
    maintenance_in_progress: bool,
) -> PageStatus:
    """The worst of what the components show and what the open incidents declare.

    An open incident with no component marked down still raises the indicator: customers read the
    banner first, and an investigation in progress is news to them.
    """
    statuses = list(component_statuses)
    levels = [_COMPONENT_INDICATOR[s] for s in statuses] + list(open_incident_impacts)
    worst = max(levels, key=lambda i: i.rank, default=Impact.NONE)
    if worst.rank == 0:
        under_maintenance = maintenance_in_progress or ComponentStatus.UNDER_MAINTENANCE in statuses
        indicator = "maintenance" if under_maintenance else "none"
    else:
        indicator = worst.value
    return PageStatus(indicator=indicator, description=DESCRIPTIONS[indicator])


def effective_component_status(
    *, base: ComponentStatus, held_by_incidents: Iterable[ComponentStatus], in_maintenance: bool
) -> ComponentStatus:
    """What a component shows: the worst of its own status, every open incident holding it and
    an active maintenance. Resolving an incident therefore restores the component unless another
    open incident still holds it."""
    candidates = [base, *held_by_incidents]
    if in_maintenance:
        candidates.append(ComponentStatus.UNDER_MAINTENANCE)
    return max(candidates, key=lambda s: s.rank)
