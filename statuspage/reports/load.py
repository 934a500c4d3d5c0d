"""What the monthly report reads from the database: one query for incidents, one for pages, and
the overdue postmortem actions when that module offers them. The rows come back detached from
the session, so building the report cannot issue another query."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from statuspage.db.models import Incident, PageSent
from statuspage.domain.months import month_bounds, shift_month
from statuspage.domain.report import HISTORY_MONTHS, LOOKAHEAD, LOOKBACK
from statuspage.settings import Config


@dataclass(frozen=True)
class MonthRows:
    """What a report reads: the incidents that can matter to the month or its trend, and the pages
    sent in the month."""

    incidents: Sequence[Incident]
    pages: Sequence[PageSent]


def load_rows(session: Session, config: Config, year: int, month: int, *, history: int = HISTORY_MONTHS) -> MonthRows:
    zone = config.page.time_zone
    start, _ = month_bounds(*shift_month(year, month, -history), zone)
    month_start, month_end = month_bounds(year, month, zone)
    incidents = session.exec(
        select(Incident)
        .where(col(Incident.declared_at) >= start - LOOKBACK, col(Incident.declared_at) < month_end + LOOKAHEAD)
        .order_by(col(Incident.declared_at), col(Incident.id))
    ).all()
    pages = session.exec(
        select(PageSent)
        .where(col(PageSent.paged_at) >= month_start, col(PageSent.paged_at) < month_end)
        .order_by(col(PageSent.paged_at), col(PageSent.id))
    ).all()
    for row in (*incidents, *pages):
        session.expunge(row)
    return MonthRows(incidents=list(incidents), pages=list(pages))


def load_overdue_actions(session: Session, now: datetime) -> list[dict[str, Any]] | None:
    """Open postmortem action items past due, if :mod:`statuspage.postmortems` offers them;
    ``None`` (and no section in the report) when it does not. ``now`` is in the page's zone."""
    try:
        import statuspage.postmortems as package
    except ImportError:
        return None
    finder = getattr(package, "open_actions_past_due", None)
    if finder is None:
        try:
            from statuspage.postmortems import service
        except ImportError:
            return None
        finder = getattr(service, "open_actions_past_due", None)
    if finder is None:
        return None
    return [_plain(item) for item in finder(session, now)]


ACTION_FIELDS = ("incident_id", "title", "owner", "due_on")


def _plain(item: Any) -> dict[str, Any]:
    found = dict(item) if isinstance(item, dict) else {k: getattr(item, k) for k in ACTION_FIELDS if hasattr(item, k)}
    return {k: found[k] for k in ACTION_FIELDS if k in found} or found
