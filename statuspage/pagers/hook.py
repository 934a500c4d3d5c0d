"""Queueing pages to ``apprise`` and ``webhook`` contacts, in the transaction of the change that pages.

Every ``incident.page`` event to such a contact becomes one outbox message (channel ``apprise``
or ``page_webhook``), like email pages (:mod:`statuspage.mail.hook`). The outbox row's target is
the masked URL, since the outbox is listed to people; the URL itself is in the payload. Ordering
key: one per contact and incident.
"""

from __future__ import annotations

from statuspage import outbox
from statuspage.audit.actions import AuditAction
from statuspage.contact_urls import shown_contact, url_key
from statuspage.context import WriteContext
from statuspage.db.models import AuditEvent, Incident
from statuspage.mail.hook import incident_facts
from statuspage.oncall import delivery

APPRISE = "apprise"
PAGE_WEBHOOK = "page_webhook"
# The contact kind -> its outbox channel.
CHANNELS = {"apprise": APPRISE, "webhook": PAGE_WEBHOOK}
PAGE = "person.page"


def ordering_key(channel: str, url: str, incident_id: int) -> str:
    return f"{channel}:{url_key(url)}:incident:{incident_id}"


def enqueue_changes(ctx: WriteContext) -> None:
    """The before-commit hook: one message per apprise or webhook page this transaction wrote."""
    by_incident: dict[int, list[AuditEvent]] = {}
    for event in ctx.audit_events:
        after = event.after or {}
        if (
            event.action == AuditAction.INCIDENT_PAGE
            and event.subject_type == "incident"
            and after.get("contact_kind") in CHANNELS
            and after.get("contact")
        ):
            by_incident.setdefault(int(event.subject_id), []).append(event)
    if not by_incident:
        return
    now = ctx.now()
    for incident_id, events in by_incident.items():
        incident = ctx.session.get(Incident, incident_id)
        if incident is None:
            continue
        facts = incident_facts(ctx, incident)
        page_ids = delivery.page_ids_of(ctx.session, incident_id, events)
        for event, page_id in zip(events, page_ids, strict=True):
            after = event.after or {}
            kind, url = str(after["contact_kind"]), str(after["contact"])
            channel = CHANNELS[kind]
            outbox.enqueue(
                ctx.session,
                channel=channel,
                target=shown_contact(kind, url),
                ordering_key=ordering_key(channel, url, incident_id),
                event=PAGE,
                payload={
                    "kind": "page",
                    "incident": facts,
                    "data": {
                        "owner": after.get("owner"),
                        "contact_kind": kind,
                        "contact": url,
                        "tier": after.get("tier"),
                        **({"page_id": page_id} if page_id is not None else {}),
                    },
                },
                now=now,
            )
