"""What the on-call side knows about an incident now, read for the headline, ``incident show``
and the admin API alike: who is being paged, and whether each page reached its person."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import event, func
from sqlmodel import Session, col, select

from statuspage.audit.actions import AuditAction
from statuspage.contact_urls import shown_contact
from statuspage.db.models import AuditEvent, PageSent, Timer
from statuspage.oncall import delivery, timers


def paging_now(session: Session, incident_id: int) -> list[str]:
    """Who the latest paging step reached and has not acknowledged, from the PageSent rows."""
    pages = session.exec(select(PageSent).where(PageSent.incident_id == incident_id).order_by(col(PageSent.id))).all()
    if not pages:
        return []
    last = pages[-1]
    names: list[str] = []
    for page in pages:
        if (
            (page.step, page.loop) == (last.step, last.loop)
            and page.acknowledged_at is None
            and page.owner not in names
        ):
            names.append(page.owner)
    return names


@dataclass(frozen=True)
class PageDelivery:
    """One page of an incident and what became of it (see :mod:`statuspage.oncall.delivery`)."""

    id: int
    tier: int | None
    owner: str
    contact_kind: str
    contact: str
    paged_at: datetime
    delivery_state: str
    delivery_ref: str | None
    delivery_error: str | None
    delivery_at: datetime | None
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    ack_link_used_at: datetime | None

    @property
    def sent(self) -> bool:
        return self.delivery_state == delivery.SENT

    @property
    def delivery(self) -> str:
        """One line: ``sent (ref 1712.55)``, ``failed: 550 …``, ``not sent: no channel for phone contacts``."""
        return delivery.describe(self.delivery_state, self.delivery_ref, self.delivery_error)

    def to_json(self) -> dict[str, Any]:
        def iso(value: datetime | None) -> str | None:
            return value.isoformat() if value is not None else None

        return {
            "id": self.id,
            "tier": self.tier,
            "owner": self.owner,
            "contact_kind": self.contact_kind,
            # Shown to people (incident show, the admin API): a URL contact without its secrets.
            "contact": shown_contact(self.contact_kind, self.contact),
            "paged_at": iso(self.paged_at),
            "delivery": {
                "summary": self.delivery,
                "state": self.delivery_state,
                "ref": self.delivery_ref,
                "error": self.delivery_error,
                "at": iso(self.delivery_at),
            },
            "acknowledged_at": iso(self.acknowledged_at),
            "acknowledged_by": self.acknowledged_by,
            "ack_link_used_at": iso(self.ack_link_used_at),
        }


def pages_with_delivery(session: Session, incident_id: int) -> list[PageDelivery]:
    """Every page of the incident, oldest first, with whether it reached its person."""
    pages = session.exec(
        select(PageSent).where(PageSent.incident_id == incident_id).order_by(col(PageSent.paged_at), col(PageSent.id))
    ).all()
    return [
        PageDelivery(
            id=page.id or 0,
            tier=page.tier,
            owner=page.owner,
            contact_kind=page.contact_kind,
            contact=page.contact,
            paged_at=page.paged_at,
            delivery_state=page.delivery_state,
            delivery_ref=page.delivery_ref,
            delivery_error=page.delivery_error,
            delivery_at=page.delivery_at,
            acknowledged_at=page.acknowledged_at,
            acknowledged_by=page.acknowledged_by,
            ack_link_used_at=page.ack_link_used_at,
        )
        for page in pages
    ]


@dataclass(frozen=True)
class Outlook:
    """Where the paging of an incident stands: the pages of its latest step that nobody has
    acknowledged (with what became of each), and when the next escalation and the next public
    update are due (None: nothing is waiting)."""

    paging_now: list[PageDelivery]
    next_escalation_at: datetime | None
    next_update_due_at: datetime | None

    def to_json(self) -> dict[str, Any]:
        return {
            "paging_now": [page.to_json() for page in self.paging_now],
            "next_escalation_at": self.next_escalation_at.isoformat() if self.next_escalation_at else None,
            "next_update_due_at": self.next_update_due_at.isoformat() if self.next_update_due_at else None,
        }


def outlook(session: Session, incident_id: int) -> Outlook:
    rows = session.exec(select(PageSent).where(PageSent.incident_id == incident_id).order_by(col(PageSent.id))).all()
    latest = (rows[-1].step, rows[-1].loop) if rows else None
    unacknowledged = {page.id for page in rows if (page.step, page.loop) == latest and page.acknowledged_at is None}
    now_paged = [page for page in pages_with_delivery(session, incident_id) if page.id in unacknowledged]
    due = dict(
        session.exec(
            select(Timer.kind, func.min(Timer.due_at))
            .where(Timer.incident_id == incident_id, Timer.state == timers.PENDING)
            .group_by(col(Timer.kind))
        ).all()
    )
    return Outlook(now_paged, due.get("ack_timeout"), due.get("reminder"))


# What a change paged --------------------------------------------------------------------------


@contextmanager
def added_rows(session: Session) -> Iterator[list[object]]:
    """The rows added to ``session`` while the block runs, as they are flushed: what a change
    paged and which audit events it wrote are then known exactly, whatever other writers do."""
    added: list[object] = []

    def collect(flushing: Session, _context: object, _instances: object) -> None:
        added.extend(flushing.new)

    event.listen(session, "before_flush", collect)
    try:
        yield added
    finally:
        event.remove(session, "before_flush", collect)


@dataclass(frozen=True)
class ChangePaging:
    """Who a change paged (its page rows, in order), whom it did not page because they declared
    the incident (each once, in order), and, when it paged anyone, the acknowledgement deadline
    now pending: when the next step runs unless someone acknowledges."""

    pages: list[PageSent]
    not_paged: list[str]
    next_step_at: datetime | None


def paging_of_change(session: Session, incident_id: int, added: Sequence[object]) -> ChangePaging:
    pages = sorted((row for row in added if isinstance(row, PageSent)), key=lambda row: row.id or 0)
    deadline = None
    if pages:
        deadline = session.exec(
            select(func.min(Timer.due_at)).where(
                Timer.incident_id == incident_id, Timer.state == timers.PENDING, Timer.kind == "ack_timeout"
            )
        ).one()
    skipped = (row for row in added if isinstance(row, AuditEvent) and row.action == AuditAction.INCIDENT_PAGE_SKIPPED)
    not_paged = list(dict.fromkeys(str((row.after or {}).get("owner")) for row in skipped))
    return ChangePaging(pages, not_paged, deadline)
