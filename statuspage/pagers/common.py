"""What the apprise and webhook senders share: the checks before a page goes out (already sent,
moot), its one-click acknowledgement link, recording what became of it, the page's text, and
reporting a page no retry can deliver."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from statuspage.contact_urls import shown_contact
from statuspage.context import WriteContext
from statuspage.db.models import OutboxMessage, PageSent
from statuspage.incidents import ack_links
from statuspage.mail.sender import is_uncertain
from statuspage.oncall import delivery
from statuspage.outbox import Outcome
from statuspage.settings import Config
from statuspage.slack.pages import late_by, page_moot


@dataclass(frozen=True)
class Prepared:
    """A page ready to go out: its URL, the page row's id and its acknowledgement link."""

    url: str
    page_id: int | None
    ack_url: str | None
    late: str | None


class PageSenderBase:
    """The bookkeeping of a sender of pages to URL contacts; subclasses send."""

    kind = ""
    label = ""

    def __init__(self, *, secret_key: str | None = None) -> None:
        self.secret_key = secret_key
        self._key = ack_links.KeyOnce(secret_key)

    def close(self) -> None:
        pass

    def prepare(self, message: OutboxMessage, ctx: WriteContext) -> Prepared | Outcome:
        """The page to send, or the outcome when it must not be sent (sent already, moot)."""
        session = ctx.session
        data = message.payload.get("data") or {}
        page_id = int(data["page_id"]) if data.get("page_id") is not None else None
        page = session.get(PageSent, page_id, populate_existing=True) if page_id is not None else None
        if page is not None and page.delivery_state == delivery.SENT:
            session.rollback()
            return Outcome.delivered({"op": "found", "ref": page.delivery_ref})
        moot = page_moot(session, int(message.payload["incident"]["id"]))
        if moot is not None:
            session.rollback()
            if is_uncertain(message):
                self.note(ctx, page_id, delivery.UNKNOWN, error=f"an earlier attempt may have sent it; not sent again: {moot}")
            else:
                self.note(ctx, page_id, delivery.NOT_SENT, error=moot)
            return Outcome.delivered({"skipped": moot})
        link = ack_links.ack_url(ctx.config, self.signing_key(ctx), page_id) if page_id is not None else None
        late = late_by(message, ctx)
        session.rollback()
        return Prepared(url=str(data["contact"]), page_id=page_id, ack_url=link, late=late)

    def signing_key(self, ctx: WriteContext) -> bytes:
        return self._key.get(ctx.session)

    def note(self, ctx: WriteContext, page_id: int | None, state: str, *, ref: str | None = None, error: str | None = None) -> None:
        if page_id is not None:
            delivery.record_delivery(ctx=ctx, page_id=page_id, state=state, ref=ref, error=error)

    def gave_up(self, message: OutboxMessage, outcome: Outcome, ctx: WriteContext) -> str | None:
        """A page no retry can deliver is reported (``incident.page_failed``, the page's row reads
        failed), so that someone reaches the person another way. Returns a line for the worker's
        console, which names the contact masked."""
        from statuspage.oncall import engine

        data = message.payload.get("data") or {}
        incident_id = int(message.payload["incident"]["id"])
        url = str(data.get("contact") or "")
        owner = str(data.get("owner") or shown_contact(self.kind, url))
        told = engine.report_failed_page(
            ctx=ctx,
            incident_id=incident_id,
            owner=owner,
            contact_kind=self.kind,
            contact=url,
            tier=data.get("tier"),
            error=outcome.detail,
            page_id=int(data["page_id"]) if data.get("page_id") is not None else None,
        )
        where = ", ".join(told) if told else "the incident's timeline"
        return (
            f"incident {incident_id}: could not page {owner} by {self.label} {shown_contact(self.kind, url)} "
            f"({outcome.detail}); told {where}"
        )


def page_title(incident: dict[str, Any], *, late: str | None = None) -> str:
    title = " ".join(str(incident.get("title") or "").split())
    return ("Late page: " if late else "") + f"[Sev-{incident['severity']}] You are paged: #{incident['id']} {title}"


def page_text(payload: dict[str, Any], config: Config, *, ack_url: str | None, late: str | None = None) -> str:
    """The page as plain text: who is paged, the incident, what it was declared with, how to
    acknowledge, and its link."""
    incident: dict[str, Any] = payload["incident"]
    data: dict[str, Any] = payload["data"]
    severity = config.severity(int(incident["severity"]))
    tier_level = data.get("tier")
    tier = config.escalation.tier(int(tier_level)) if tier_level is not None else None
    where = f" (tier {tier_level}, {tier.name})" if tier is not None else (f" (tier {tier_level})" if tier_level else "")
    lines = [f"{data.get('owner')}, you are paged for incident #{incident['id']}{where}."]
    if late:
        lines.append(f"This page is late: it waited {late} to go out.")
    lines += [
        "",
        f"Title:       {incident.get('title')}",
        f"Severity:    Sev-{incident['severity']}" + (f" ({severity.name})" if severity else ""),
    ]
    if incident.get("components"):
        lines.append("Components:  " + ", ".join(str(c) for c in incident["components"]))
    if incident.get("message"):
        lines += ["", str(incident["message"]).strip()]
    lines += ["", f"Acknowledge: incident ack {incident['id']}"]
    if ack_url:
        lines.append(f"One click: {ack_url}")
    lines.append(f"The incident: {incident.get('url')}")
    return "\n".join(lines)
