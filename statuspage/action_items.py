"""Writing one action item and its audit event: what ``incident action add``
(:mod:`statuspage.postmortems.service`) and the service recovery a resolution starts
(:mod:`statuspage.incidents.recovery`) both do. It stands apart from both packages, since the
postmortem service builds on the incidents'."""

from __future__ import annotations

from datetime import date, datetime

from statuspage.audit.actions import AuditAction
from statuspage.context import WriteContext
from statuspage.db.models import ActionItem

OPEN = "open"


def record_action_item(
    ctx: WriteContext, *, incident_id: int, title: str, owner: str, due_on: date, at: datetime, source: str | None = None
) -> ActionItem:
    """Add an open action item, already checked, with its ``action_item.add`` audit event at
    ``at``; ``source`` says what added it when a person did not."""
    item = ActionItem(incident_id=incident_id, title=title, owner=owner, due_on=due_on, status=OPEN, created_at=at)
    ctx.session.add(item)
    ctx.session.flush()
    after = {"incident_id": incident_id, "title": title, "owner": owner, "due_on": due_on.isoformat()}
    if source is not None:
        after["source"] = source
    ctx.audit(action=AuditAction.ACTION_ITEM_ADD, subject_type="action_item", subject_id=item.id or 0, at=at, after=after)
    return item
