"""What the incident pages add to an incident's JSON: when the next public update is due, the
published postmortem, and the commitments the incident missed."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import col, select

from statuspage.db.models import Incident, Postmortem
from statuspage.domain.durations import describe_clock_seconds
from statuspage.domain.enums import IncidentStatus
from statuspage.domain.sla import TARGET_LABELS, TargetEvaluation
from statuspage.incidents.sla import calendar_for, measure
from statuspage.postmortems import service as postmortems
from statuspage.read.v2 import JSON, V2Builder


def local_time_text(builder: V2Builder, moment: datetime) -> str:
    """``14:30 EST`` today, ``Nov 26, 00:15 EST`` on another day, in the page's time zone."""
    local = moment.astimezone(builder.zone)
    clock = f"{local:%H:%M} {local.tzname()}"
    if local.date() == builder.now.astimezone(builder.zone).date():
        return clock
    return f"{local:%b} {local.day}, {clock}"


def next_update(builder: V2Builder, incident: JSON) -> dict[str, Any] | None:
    """When the next public update of an open incident is due: its last public update (or its
    start) plus its severity's ``update_every``, counted on the severity's clock. ``None`` for a
    resolved incident or a severity without a cadence."""
    if incident["status"] not in {s.value for s in IncidentStatus if s.is_open}:
        return None
    severity = builder.config.severities.get(incident["severity"])
    if severity is None or severity.update_every is None:
        return None
    moments = [datetime.fromisoformat(u["display_at"]) for u in incident["incident_updates"] if u["display_at"]]
    last = max(moments, default=datetime.fromisoformat(incident["created_at"]))
    due = calendar_for(builder.config).deadline(last, severity.update_every, severity.clock)
    return {
        "due_at": builder.time(due),
        "text": local_time_text(builder, due),
        "every": severity.update_every.describe(),
        "overdue": due < builder.now,
    }


def next_updates(builder: V2Builder, incidents: list[JSON]) -> dict[str, dict[str, Any]]:
    """:func:`next_update` of each open incident that has one, by incident id."""
    found = {incident["id"]: next_update(builder, incident) for incident in incidents}
    return {key: value for key, value in found.items() if value is not None}


def published_postmortem(builder: V2Builder, incident_id: int) -> dict[str, Any] | None:
    """What a published postmortem shows the public: contributing factors and remediation actions
    (their titles, due dates and state; owners are internal and left out). ``None`` until published."""
    session = builder.session
    row = postmortems.get_postmortem(session=session, incident_id=incident_id)
    if row is None or row.published_at is None:
        return None
    return {
        "published_at": builder.time(row.published_at),
        "contributing_factors": [factor.text for factor in postmortems.factors(session=session, incident_id=incident_id)],
        "actions": [
            {"title": item.title, "due_on": item.due_on.isoformat(), "status": item.status}
            for item in postmortems.action_items(session=session, incident_id=incident_id)
        ],
    }


def postmortems_published(builder: V2Builder, incident_ids: list[int]) -> dict[int, datetime]:
    """When each of these incidents' postmortems was published, for those that were."""
    if not incident_ids:
        return {}
    rows = builder.session.exec(
        select(Postmortem).where(col(Postmortem.incident_id).in_(incident_ids), col(Postmortem.published_at).is_not(None))
    ).all()
    return {row.incident_id: row.published_at for row in rows if row.published_at is not None}




def _spent(seconds: int, target: TargetEvaluation) -> str:
    return describe_clock_seconds(seconds, target.clock, target.working_day_seconds)


def breach_json(builder: V2Builder, incident: Incident, target: TargetEvaluation) -> dict[str, Any]:
    """One missed commitment as /sla and the incident page publish it."""
    return {
        "incident": {
            "id": str(incident.id),
            "name": incident.title,
            "severity": f"sev{incident.severity}",
            "url": builder.config.incident_url(str(incident.id)),
            "started_at": builder.time(incident.detected_at),
        },
        "target": target.target,
        "target_label": TARGET_LABELS[target.target],
        "promised": _spent(target.target_seconds, target),
        "actual": _spent(target.elapsed_seconds, target) + ("" if target.event_at else " so far"),
        "breached_by": _spent(target.breached_by_seconds, target),
        "root_cause": incident.root_cause,
        "remediation": incident.remediation,
    }


def incident_breaches(builder: V2Builder, incident: Incident) -> list[dict[str, Any]]:
    """The public commitments this incident missed, as of now (an open one may miss more)."""
    evaluation = measure(incident, builder.config, calendar_for(builder.config), builder.now)
    if evaluation is None:
        return []
    return [breach_json(builder, incident, target) for target in evaluation.breaches]
