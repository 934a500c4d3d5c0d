"""What the on-call side knows about an incident now, read for the headline, ``incident show``
and the admin API alike."""

from __future__ import annotations

from sqlmodel import Session, col, select

from statuspage.db.models import PageSent


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
