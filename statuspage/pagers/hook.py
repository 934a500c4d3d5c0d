"""Queueing pages to ``apprise`` and ``webhook`` contacts, in the transaction of the change that pages.

Every ``incident.page`` event to such a contact becomes one outbox message (channel ``apprise``
or ``page_webhook``), like email pages (:mod:`statuspage.mail.hook`). The outbox row's target is
the masked URL, since the outbox is listed to people; the URL itself is in the payload. Ordering
key: one per contact and incident.
"""

from __future__ import annotations

from statuspage import outbox
from statuspage.contact_urls import shown_contact, url_key
from statuspage.context import WriteContext
from statuspage.mail.hook import pages_written

APPRISE = "apprise"
PAGE_WEBHOOK = "page_webhook"
# The contact kind -> its outbox channel.
CHANNELS = {"apprise": APPRISE, "webhook": PAGE_WEBHOOK}
PAGE = "person.page"


def ordering_key(channel: str, url: str, incident_id: int) -> str:
    return f"{channel}:{url_key(url)}:incident:{incident_id}"


def enqueue_changes(ctx: WriteContext) -> None:
    """The before-commit hook: one message per apprise or webhook page this transaction wrote."""
    for incident_id, facts, after, page_id in pages_written(ctx, CHANNELS):
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
            now=ctx.now(),
        )
