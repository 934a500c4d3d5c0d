"""Queueing email pages, in the transaction of the change that pages.

Every ``incident.page`` event to an ``email`` contact becomes one outbox message on the ``email``
channel, written before the commit like the Slack and webhook messages (a page that rolls back
is never mailed, one that commits always is). Ordering key: one per recipient and incident, so
a person's pages for an incident arrive in the order they were sent and one unreachable mailbox
holds up nobody else.

The hook only gathers facts (the incident, the page row, what it was declared with and which
components it affects); the sender renders the message when it sends it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from typing import Any

from statuspage import outbox
from statuspage.audit.actions import AuditAction
from statuspage.context import WriteContext
from statuspage.db.models import AuditEvent, Incident
from statuspage.incidents.queries import component_names, declaration_message
from statuspage.oncall import delivery

CHANNEL = "email"
PAGE = "email.page"


def ordering_key(address: str, incident_id: int) -> str:
    return f"{CHANNEL}:{address}:incident:{incident_id}"


def enqueue_changes(ctx: WriteContext) -> None:
    """The before-commit hook: one message per email page this transaction wrote."""
    if not ctx.config.email.enabled:
        return
    for incident_id, facts, after, page_id in pages_written(ctx, {"email"}):
        address = str(after["contact"])
        outbox.enqueue(
            ctx.session,
            channel=CHANNEL,
            target=address,
            ordering_key=ordering_key(address, incident_id),
            event=PAGE,
            payload={
                "kind": "page",
                "incident": facts,
                "data": {
                    "owner": after.get("owner"),
                    "contact": address,
                    "tier": after.get("tier"),
                    **({"page_id": page_id} if page_id is not None else {}),
                },
            },
            now=ctx.now(),
        )


def pages_written(
    ctx: WriteContext, kinds: Collection[str]
) -> Iterator[tuple[int, dict[str, Any], dict[str, Any], int | None]]:
    """Each page this transaction wrote to a contact of one of ``kinds`` (its ``incident.page``
    event): the incident's id, its facts (gathered once per incident), the event's details and
    the id of the page row. What every channel that pages a person queues from."""
    by_incident: dict[int, list[AuditEvent]] = {}
    for event in ctx.audit_events:
        after = event.after or {}
        if (
            event.action == AuditAction.INCIDENT_PAGE
            and event.subject_type == "incident"
            and after.get("contact_kind") in kinds
            and after.get("contact")
        ):
            by_incident.setdefault(int(event.subject_id), []).append(event)
    for incident_id, events in by_incident.items():
        incident = ctx.session.get(Incident, incident_id)
        if incident is None:
            continue
        facts = incident_facts(ctx, incident)
        page_ids = delivery.page_ids_of(ctx.session, incident_id, events)
        for event, page_id in zip(events, page_ids, strict=True):
            yield incident_id, facts, event.after or {}, page_id


def incident_facts(ctx: WriteContext, incident: Incident) -> dict[str, Any]:
    assert incident.id is not None
    return {
        "id": incident.id,
        "title": incident.title,
        "severity": incident.severity,
        "status": incident.status,
        "url": ctx.config.incident_url(incident.id),
        "declared_at": incident.declared_at.isoformat(),
        "commander": incident.commander,
        "message": declaration_message(session=ctx.session, incident_id=incident.id) or "",
        "components": component_names(ctx.session, incident.id),
    }
