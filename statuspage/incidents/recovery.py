"""Service recovery: what is owed to customers after an incident of a severity that calls for it
(``service_recovery`` in ``statuspage.yaml``: by default, after every Sev-1, contacting the
affected Premium accounts and issuing their SLA credits).

Resolving the incident makes each step an action item, in the transaction of the resolution: an
owner (a person, or the first owner of the escalation matrix with the role the step names) and a
due date that many business days (or hours, or days) after the resolution, in the page's time
zone. Each is audited as ``action_item.add`` with ``"source": "service_recovery"`` and is listed,
tracked and completed like any other action item (``incident action list``, the postmortem, the
monthly report's overdue actions).

Once per incident: a step whose title the incident already has an action item for is not added
again, so resolving, reopening and resolving again leaves the first items as they are (done or
not). The resolution holds the incident's row lock, so two resolutions cannot both add them.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel import select

from statuspage.action_items import record_action_item
from statuspage.context import WriteContext
from statuspage.db.models import ActionItem, Incident
from statuspage.incidents.sla import calendar_for
from statuspage.settings import Config

SOURCE = "service_recovery"


def owner_for(config: Config, owner: str) -> str:
    """The person a step's ``owner`` names: the first owner of the escalation matrix whose role
    it is (any case), else the name as written."""
    wanted = owner.casefold()
    for tier in config.escalation.tiers:
        for person in tier.owners:
            if person.role and person.role.casefold() == wanted:
                return person.name
    return owner


def start_service_recovery(ctx: WriteContext, incident: Incident, at: datetime) -> list[ActionItem]:
    """Add the severity's service-recovery action items the incident does not have yet, due from
    ``at`` (the resolution); returns those added."""
    config = ctx.config
    severity = config.severity(incident.severity)
    if severity is None or not severity.service_recovery or incident.id is None:
        return []
    session = ctx.session
    have = set(session.exec(select(ActionItem.title).where(ActionItem.incident_id == incident.id)).all())
    calendar = calendar_for(config)
    zone = ZoneInfo(config.page.time_zone)
    added = []
    for step in severity.service_recovery:
        if step.title in have:
            continue
        owner = owner_for(config, step.owner)
        due = calendar.deadline(at, step.due, "24x7").astimezone(zone).date()
        item = record_action_item(
            ctx, incident_id=incident.id, title=step.title, owner=owner, due_on=due, at=at, source=SOURCE
        )
        have.add(step.title)
        added.append(item)
    return added
