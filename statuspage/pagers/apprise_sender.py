"""The outbox sender for ``apprise`` contacts: one notification per page through the Apprise
library, to whatever service the contact's URL names (``ntfy://``, ``tgram://``, ``msteams://``,
``json://``, ``twilio://`` for SMS …).

Apprise answers only yes or no. Yes: the page's row reads ``sent``. No (the service refused it,
could not be reached, the credentials are wrong: Apprise does not say which): a failed attempt,
tried again with a growing backoff; after :data:`ATTEMPTS` of them the message is dead, the page's
row reads ``failed`` with what Apprise logged, and it is reported like any dead page
(``incident.page_failed``, the Slack thread, the worker's console), so that someone reaches the
person another way. ``statuspage outbox retry --dead`` sends it again.
"""

from __future__ import annotations

import logging
from typing import Any

from statuspage.contact_urls import shown_contact
from statuspage.context import WriteContext
from statuspage.db.models import OutboxMessage
from statuspage.mail.sender import mark_uncertain
from statuspage.oncall import delivery
from statuspage.outbox import Outcome
from statuspage.pagers.common import PageSenderBase, Prepared, page_text, page_title

log = logging.getLogger(__name__)

# Failed notifications before the page is dead: 10 s, 20 s, 40 s, 80 s between them.
ATTEMPTS = 5
_DETAIL = 300


def notify(url: str, title: str, body: str) -> tuple[bool, str]:
    """Send one notification; whether Apprise says it went out, and what it logged."""
    import apprise

    sender = apprise.Apprise()
    if not sender.add(url):
        return False, "Apprise cannot use this URL"
    with apprise.LogCapture(level=logging.WARNING) as captured:
        ok = bool(sender.notify(title=title, body=body))
        logged = captured.getvalue() if hasattr(captured, "getvalue") else ""
    text = " ".join(str(logged).replace(url, "<url>").split())
    return ok, text[-_DETAIL:]


class AppriseSender(PageSenderBase):
    """Sends ``apprise`` outbox messages."""

    kind = "apprise"
    label = "Apprise"

    def send(self, message: OutboxMessage, ctx: WriteContext) -> Outcome:
        prepared = self.prepare(message, ctx)
        if isinstance(prepared, Outcome):
            return prepared
        return self._send(message, ctx, prepared)

    def _send(self, message: OutboxMessage, ctx: WriteContext, page: Prepared) -> Outcome:
        payload = message.payload
        title = page_title(payload["incident"], late=page.late)
        body = page_text(payload, ctx.config, ack_url=page.ack_url, late=page.late)
        shown = shown_contact(self.kind, page.url)
        mark_uncertain(ctx, message)
        try:
            ok, logged = notify(page.url, title, body)
        except Exception as exc:  # noqa: BLE001 - a plugin's failure is a failed attempt
            ok, logged = False, f"{type(exc).__name__}"
        if not ok:
            detail = f"Apprise could not notify {shown}" + (f": {logged}" if logged else "")
            # Apprise said no: nothing went out, so a later attempt is not a second copy.
            return Outcome.retry(detail, result={"answer": logged or "refused"}, max_attempts=ATTEMPTS)
        self.note(ctx, page.page_id, delivery.SENT)
        log.info("apprise page %s to %s: sent", message.id, shown)
        result: dict[str, Any] = {"sent_to": shown}
        return Outcome.delivered(result | ({"late": page.late} if page.late else {}))
