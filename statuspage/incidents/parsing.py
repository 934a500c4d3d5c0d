"""What an incident's fields accept: severities, statuses, free text."""

from __future__ import annotations

from statuspage.domain.enums import INCIDENT_IMPACTS, Impact, IncidentStatus
from statuspage.errors import InvalidInput
from statuspage.settings import Config
from statuspage.validators import free_text


def parse_severity(value: int | str, config: Config) -> int:
    text = str(value).strip().lower().removeprefix("sev").removeprefix("p")
    levels = config.severity_levels
    allowed = ", ".join(str(level) for level in levels)
    # ASCII and short: str.isdigit() also takes '²' and '١', which int() then refuses or misreads.
    if not (text.isascii() and text.isdigit() and len(text) < 6) or int(text) not in levels:
        raise InvalidInput(f"{str(value)!r} is not a severity; use one of {allowed}", field="severity")
    return int(text)


def parse_impact(value: str, *, field: str = "impact") -> Impact:
    """An impact an incident may be declared with (a scheduled window's ``maintenance`` is not one)."""
    allowed = ", ".join(INCIDENT_IMPACTS)
    impact = next((i for i in INCIDENT_IMPACTS if i.value == value), None)
    if impact is None:
        raise InvalidInput(f"{value!r} is not an impact ({allowed})", field=field)
    return impact


def parse_incident_status(value: str, *, field: str = "status") -> IncidentStatus:
    try:
        status = IncidentStatus(value)
    except ValueError:
        status = None
    if status is None or status is IncidentStatus.POSTMORTEM:
        allowed = "investigating, identified, monitoring, resolved"
        raise InvalidInput(f"{value!r} is not an incident status ({allowed})", field=field) from None
    return status


def clean_text(value: str | None, *, field: str, limit: int, required: bool) -> str | None:
    """Free text (see :mod:`statuspage.validators`), for the services that import it from here."""
    return free_text(value, field=field, limit=limit, required=required)
