"""The daily digest: the open critical incidents, posted once a day to ``slack.digest_channel``.

Why: an incident that has been open for days stops being news in the incidents channel; a daily
roll call at a fixed local time (``slack.digest_at`` in the page's time zone) keeps it in view.
It is posted even when nothing is open, so that silence can be told apart from a broken bot.

Once per day, whatever the number of workers and however often they call: the day is claimed by
a :class:`~statuspage.db.models.Timer` row with key ``digest:YYYY-MM-DD``, written in the same
write transaction as the digest's outbox message. The transaction takes the data-version lock
first, so two workers checking at the same moment queue, and the second sees the first's row.
A worker that was down at the digest time posts it when it comes back, the same local day.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from statuspage import outbox
from statuspage.clock import FixedClock
from statuspage.context import Actor, Wiring, WriteContext, write
from statuspage.db.models import Incident
from statuspage.domain.enums import OPEN_INCIDENT_STATUSES, Source
from statuspage.oncall import timers
from statuspage.settings import Config
from statuspage.slack.hook import CHANNEL

DIGEST = "slack.digest"
DIGEST_ACTOR = Actor("slack-digest", Source.SYSTEM)


def digest_key(day: date) -> str:
    return f"digest:{day.isoformat()}"


def due_day(config: Config, now: datetime) -> date | None:
    """The local day whose digest is due at ``now`` (None before the day's digest time)."""
    local = now.astimezone(ZoneInfo(config.page.time_zone))
    if local.time() < config.slack.digest_at:
        return None
    return local.date()


def post_digest_if_due(session: Session, config: Config, now: datetime, *, wiring: Wiring) -> bool:
    """Queue today's digest if its time has come and nobody has queued it; True if this call did.

    Cheap when there is nothing to do (one read), so the worker can call it on every loop. Call
    it with a session that has no transaction of its own open: the digest commits its own.
    """
    slack = config.slack
    if not slack.enabled or not slack.digest_channel:
        return False
    day = due_day(config, now)
    if day is None:
        return False
    try:
        already = timers.done_once(session, digest_key(day))
    finally:
        session.rollback()  # a read transaction must not be upgraded to a write (SQLite refuses)
    if already:
        return False
    ctx = WriteContext(session=session, clock=FixedClock(now), actor=DIGEST_ACTOR, config=config, wiring=wiring)
    return _queue_digest(ctx=ctx, day=day)


@write
def _queue_digest(*, ctx: WriteContext, day: date) -> bool:
    session, config, now = ctx.session, ctx.config, ctx.now()
    if timers.done_once(session, digest_key(day)):
        return False  # another worker got here first, between our look and our lock
    channel = config.slack.digest_channel
    assert channel is not None
    zone = ZoneInfo(config.page.time_zone)
    due_at = datetime.combine(day, config.slack.digest_at, tzinfo=zone)
    timers.mark_done(session, kind="digest", key=digest_key(day), due_at=due_at, now=now, payload={"channel": channel})
    outbox.enqueue(
        session,
        channel=CHANNEL,
        target=channel,
        ordering_key=f"{CHANNEL}:{channel}:digest",
        event=DIGEST,
        payload={"kind": "post", "template": "digest", "data": digest_data(session, config, day, now)},
        now=now,
    )
    return True


def digest_data(session: Session, config: Config, day: date, now: datetime) -> dict[str, Any]:
    severities = sorted(set(config.slack.digest_severities))
    rows = session.exec(
        select(Incident)
        .where(
            col(Incident.status).in_([s.value for s in OPEN_INCIDENT_STATUSES]),
            col(Incident.severity).in_(severities),
        )
        .order_by(col(Incident.severity), col(Incident.declared_at), col(Incident.id))
    ).all()
    return {
        "day": day.isoformat(),
        "severities": severities,
        "now": now.isoformat(),
        "incidents": [
            {
                "id": incident.id,
                "title": incident.title,
                "severity": incident.severity,
                "status": incident.status,
                "commander": incident.commander,
                "acknowledged_by": incident.acknowledged_by,
                "declared_at": incident.declared_at.isoformat(),
                "url": config.incident_url(incident.id or 0),
            }
            for incident in rows
        ],
    }
