"""Whether each page reached its person: the delivery state of a :class:`PageSent` row.

A page is written by the engine (``incident.page``) and carried by its contact's channel: a
Slack direct message or channel post, an email. Its row says what became of it:

- ``queued``: its message waits in the outbox (or for the provider to answer);
- ``sent``: the provider took it; ``delivery_ref`` is its id there (a Slack ``ts``, the SMTP
  server's queue id, else the email's Message-ID) and ``delivery_at`` when;
- ``failed``: it can never be delivered; ``delivery_error`` is the provider's answer (recorded
  with ``incident.page_failed`` by :func:`statuspage.oncall.engine.report_failed_page`);
- ``not_sent``: nothing carried it, and ``delivery_error`` says why: no channel for phone
  contacts, Slack or email switched off, Slack without a token (printed on the worker's console),
  no SMTP server (the email is a file under ``var/mail/``), or the
  page became moot (acknowledged, resolved) before it could go out;
- ``unknown``: pages written before delivery was tracked, or a send that may have happened
  before a crash and was then not repeated.

So "paged" means sent: whoever reads the rows (``incident show``, the postmortem) can tell a
page that reached someone from one that did not. Each change after the page's own transaction is
audited as ``incident.page_delivered`` in the transaction that makes it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from statuspage.audit.actions import AuditAction
from statuspage.context import WriteContext, write
from statuspage.db.models import AuditEvent, PageSent
from statuspage.settings import Config

QUEUED = "queued"
SENT = "sent"
FAILED = "failed"
NOT_SENT = "not_sent"
UNKNOWN = "unknown"
STATES = (QUEUED, SENT, FAILED, NOT_SENT, UNKNOWN)
NO_PHONE_CHANNEL = "no channel for phone contacts"
SLACK_OFF = "Slack is switched off (slack.enabled: false)"
EMAIL_OFF = "email pages are switched off (email.enabled: false)"
SLACK_KINDS = frozenset({"slack_user", "slack_channel"})
# A contact's kind in words, for what people read.
CONTACT_LABELS = {
    "slack_user": "Slack",
    "slack_channel": "Slack channel",
    "phone": "phone",
    "email": "email",
    "apprise": "Apprise",
    "webhook": "webhook",
}
MAX_REF = 200


def initial_state(contact_kind: str, config: Config) -> tuple[str, str | None]:
    """The state a new page starts in, and why when nothing will carry it."""
    if contact_kind == "phone":
        return NOT_SENT, NO_PHONE_CHANNEL
    if contact_kind in SLACK_KINDS and not config.slack.enabled:
        return NOT_SENT, SLACK_OFF
    if contact_kind == "email" and not config.email.enabled:
        return NOT_SENT, EMAIL_OFF
    return QUEUED, None


def page_ids_of(session: Session, incident_id: int, events: Sequence[AuditEvent]) -> list[int | None]:
    """For each ``incident.page`` event of the current transaction, the id of the page row it
    wrote (None for other events): the row with the same step, contact and time, each row once."""
    wanted = [event for event in events if event.action == AuditAction.INCIDENT_PAGE]
    if not wanted:
        return [None] * len(events)
    moments = {event.at for event in wanted}
    rows = session.exec(
        select(PageSent)
        .where(col(PageSent.incident_id) == incident_id, col(PageSent.paged_at).in_(moments))
        .order_by(col(PageSent.id))
    ).all()
    unused = list(rows)
    found: list[int | None] = []
    for event in events:
        if event.action != AuditAction.INCIDENT_PAGE:
            found.append(None)
            continue
        after = event.after or {}
        match = next((row for row in unused if _same(row, after, event.at)), None)
        if match is not None:
            unused.remove(match)
        found.append(match.id if match is not None else None)
    return found


def _same(row: PageSent, after: dict[str, Any], at: datetime) -> bool:
    return (
        row.paged_at == at
        and row.step == after.get("step")
        and row.loop == after.get("loop", 0)
        and row.tier == after.get("tier")
        and row.owner == after.get("owner")
        and row.contact_kind == after.get("contact_kind")
        and row.contact == after.get("contact")
    )


@write
def record_delivery(
    *, ctx: WriteContext, page_id: int, state: str, ref: str | None = None, error: str | None = None
) -> PageSent | None:
    """Record what became of a page (``sent`` with the provider's id, or ``not_sent`` with the
    reason), with its ``incident.page_delivered`` audit event. A page that is gone (pruned)
    is skipped."""
    assert state in STATES
    page = ctx.session.get(PageSent, page_id, with_for_update=True, populate_existing=True)
    if page is None:
        return None
    now = ctx.now()
    page.delivery_state = state
    page.delivery_ref = ref[:MAX_REF] if ref else None
    page.delivery_error = error
    page.delivery_at = now
    ctx.session.add(page)
    delivery: dict[str, Any] = {"state": state}
    if ref:
        delivery["ref"] = page.delivery_ref
    if error:
        delivery["error"] = error
    ctx.audit(
        action=AuditAction.INCIDENT_PAGE_DELIVERED,
        subject_type="incident",
        subject_id=page.incident_id,
        at=now,
        after={
            "page_id": page.id,
            "tier": page.tier,
            "owner": page.owner,
            "contact_kind": page.contact_kind,
            "contact": page.contact,
            "delivery": delivery,
        },
    )
    return page


def mark_failed(ctx: WriteContext, page_id: int, error: str) -> PageSent | None:
    """Inside the caller's transaction (the one that records ``incident.page_failed``)."""
    page = ctx.session.get(PageSent, page_id, with_for_update=True, populate_existing=True)
    if page is None:
        return None
    page.delivery_state = FAILED
    page.delivery_error = error
    page.delivery_at = ctx.now()
    ctx.session.add(page)
    return page


def describe(state: str, ref: str | None, error: str | None) -> str:
    """One line: ``sent (ref 1712.55)``, ``failed: 550 no such user``, ``not sent: no channel for phone contacts``."""
    words = state.replace("_", " ")
    if state == SENT:
        return f"sent (ref {ref})" if ref else "sent"
    if error:
        return f"{words}: {error}"
    return words
