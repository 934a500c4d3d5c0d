"""The vocabularies shared by the status page, the API and the CLI.

Values are the ones Statuspage's public v2 API uses, so they can be written to JSON unchanged.
"""

from __future__ import annotations

from enum import StrEnum


class ComponentStatus(StrEnum):
    OPERATIONAL = "operational"
    UNDER_MAINTENANCE = "under_maintenance"
    DEGRADED_PERFORMANCE = "degraded_performance"
    PARTIAL_OUTAGE = "partial_outage"
    MAJOR_OUTAGE = "major_outage"

    @property
    def rank(self) -> int:
        """Higher is worse; an outage during maintenance shows as the outage."""
        return _COMPONENT_RANK[self]

    @property
    def label(self) -> str:
        return _COMPONENT_LABEL[self]


_COMPONENT_RANK = {
    ComponentStatus.OPERATIONAL: 0,
    ComponentStatus.UNDER_MAINTENANCE: 1,
    ComponentStatus.DEGRADED_PERFORMANCE: 2,
    ComponentStatus.PARTIAL_OUTAGE: 3,
    ComponentStatus.MAJOR_OUTAGE: 4,
}

_COMPONENT_LABEL = {
    ComponentStatus.OPERATIONAL: "Operational",
    ComponentStatus.UNDER_MAINTENANCE: "Under maintenance",
    ComponentStatus.DEGRADED_PERFORMANCE: "Degraded performance",
    ComponentStatus.PARTIAL_OUTAGE: "Partial outage",
    ComponentStatus.MAJOR_OUTAGE: "Major outage",
}


def worst_component_status(statuses: list[ComponentStatus] | tuple[ComponentStatus, ...]) -> ComponentStatus:
    return max(statuses, key=lambda s: s.rank, default=ComponentStatus.OPERATIONAL)


class IncidentStatus(StrEnum):
    INVESTIGATING = "investigating"
    IDENTIFIED = "identified"
    MONITORING = "monitoring"
    RESOLVED = "resolved"
    POSTMORTEM = "postmortem"

    @property
    def is_open(self) -> bool:
        return self in OPEN_INCIDENT_STATUSES

    @property
    def label(self) -> str:
        return self.value.capitalize()


OPEN_INCIDENT_STATUSES = frozenset(
    {IncidentStatus.INVESTIGATING, IncidentStatus.IDENTIFIED, IncidentStatus.MONITORING}
)


class Impact(StrEnum):
    NONE = "none"
    MINOR = "minor"
    MAJOR = "major"
    CRITICAL = "critical"
    MAINTENANCE = "maintenance"

    @property
    def rank(self) -> int:
        return _IMPACT_RANK[self]


# What an incident may be declared with: maintenance is the impact of a scheduled window only.
INCIDENT_IMPACTS: tuple[Impact, ...] = (Impact.NONE, Impact.MINOR, Impact.MAJOR, Impact.CRITICAL)

_IMPACT_RANK = {
    Impact.NONE: 0,
    Impact.MAINTENANCE: 0,
    Impact.MINOR: 1,
    Impact.MAJOR: 2,
    Impact.CRITICAL: 3,
}


class MaintenanceStatus(StrEnum):
    SCHEDULED = "scheduled"
    IN_PROGRESS = "in_progress"
    VERIFYING = "verifying"
    COMPLETED = "completed"

    @property
    def is_active(self) -> bool:
        return self in (MaintenanceStatus.IN_PROGRESS, MaintenanceStatus.VERIFYING)

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").capitalize()


class Source(StrEnum):
    """Where a change came from, for the audit log."""

    CLI = "cli"
    API = "api"
    SYSTEM = "system"
    WEB = "web"  # a page of the site itself (a one-click acknowledgement link)
