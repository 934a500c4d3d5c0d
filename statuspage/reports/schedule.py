"""The weekly SLA report, posted on a schedule and on demand.

``slack.weekly_report_at`` (e.g. ``mon 09:00``, in the page's time zone) makes the worker of
``incident watch`` queue the summary of the last complete ISO week for the Slack incidents
channel once that moment of the week has come. Once per week, whatever the number of workers and
however often they call, as the daily digest does (:mod:`statuspage.slack.digest`): the week is
claimed by a :class:`~statuspage.db.models.Timer` row with key ``weekly-report:2026-W48``, written
in the same write transaction as the summary's outbox message and its audit event, after the
data-version lock. A worker that was down at that moment posts it when it comes back, the same
week; a restarted worker finds the row and posts nothing.

``incident report weekly --post`` queues the same summary by hand (it does not claim the week).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from statuspage import outbox
from statuspage.audit.actions import AuditAction
from statuspage.clock import FixedClock
from statuspage.context import Actor, Process, Wiring, WriteContext, write
from statuspage.domain.enums import Source
from statuspage.domain.periods import week_period, weekly_due
from statuspage.oncall import timers
from statuspage.reports.model import MonthlyReport
from statuspage.reports.render import RENDERERS
from statuspage.reports.slack import (
    SLACK_CHANNEL,
    SLACK_SUMMARY_EVENT,
    queue_slack_summary,
    require_slack,
    slack_summary,
    slack_summary_line,
)
from statuspage.reports.weekly import week_of, weekly_report
from statuspage.settings import Config

WEEKLY_ACTOR = Actor("weekly-report", Source.SYSTEM)
KIND = "weekly_report"


def weekly_key(label: str) -> str:
    return f"weekly-report:{label}"


@dataclass(frozen=True)
class WeeklyText:
    label: str
    text: str
    slack_line: str | None = None
    slack_target: str | None = None


def weekly_text(runtime: Process, week: str | None, fmt: str, post: bool, actor: Actor) -> WeeklyText:
    """``incident report weekly``: the week's report in ``fmt``; ``post`` also queues its summary."""
    config = runtime.settings.config
    now = runtime.clock.now()
    year, number = week_of(week, config, now)
    if post:
        require_slack(config)
    with runtime.session() as session:
        report = weekly_report(session, config, year, number, now)
    line = target = None
    if post:
        with runtime.session() as session:  # a write transaction of its own
            message = queue_slack_summary(ctx=runtime.context(session, actor), report=report)
            line, target = slack_summary_line(message.payload["data"]), message.target
    return WeeklyText(report.month, RENDERERS[fmt](report), line, target)


def post_weekly_if_due(session: Session, config: Config, now: datetime, *, wiring: Wiring) -> bool:
    """Queue last week's summary if its time has come this week and nobody has; True if this call
    did. Cheap when there is nothing to do (at most one read); call it with a session that has no
    transaction of its own open."""
    slack = config.slack
    schedule = slack.weekly_report_at
    if not slack.enabled or schedule is None:
        return False
    due = weekly_due(now, config.page.time_zone, schedule.weekday, schedule.time)
    if due is None:
        return False
    label = week_period(*due, config.page.time_zone).label
    try:
        already = timers.done_once(session, weekly_key(label))
    finally:
        session.rollback()  # a read transaction must not be upgraded to a write (SQLite refuses)
    if already:
        return False
    report = weekly_report(session, config, *due, now)
    session.rollback()
    ctx = WriteContext(session=session, clock=FixedClock(now), actor=WEEKLY_ACTOR, config=config, wiring=wiring)
    return _queue_weekly(ctx=ctx, report=report)


@write
def _queue_weekly(*, ctx: WriteContext, report: MonthlyReport) -> bool:
    session, now = ctx.session, ctx.now()
    if timers.done_once(session, weekly_key(report.month)):
        return False  # another worker got here first, between our look and our lock
    channel = ctx.config.slack.incidents_channel
    timers.mark_done(session, kind=KIND, key=weekly_key(report.month), due_at=now, now=now, payload={"channel": channel})
    ctx.audit(
        action=AuditAction.REPORT_POST,
        subject_type="report",
        subject_id=report.month,
        at=now,
        after={"channel": channel, "missed": len(report.breaches), "scheduled": True},
    )
    outbox.enqueue(
        session,
        channel=SLACK_CHANNEL,
        target=channel,
        ordering_key=f"{SLACK_CHANNEL}:{channel}:report",
        event=SLACK_SUMMARY_EVENT,
        payload={"kind": "post", "template": "report_summary", "data": slack_summary(report)},
        now=now,
    )
    return True

