"""The monthly report summed up for the Slack incidents channel: what the summary says, and
queueing it through the outbox (delivered by the worker of :mod:`statuspage.slack`)."""

from __future__ import annotations

from typing import Any

from statuspage import outbox
from statuspage.audit.actions import AuditAction
from statuspage.context import WriteContext, write
from statuspage.db.models import OutboxMessage
from statuspage.domain.report import breach_causes
from statuspage.errors import Conflict
from statuspage.reports.credits import format_money
from statuspage.reports.model import MonthlyReport
from statuspage.settings import Config

SLACK_CHANNEL = "slack"  # the outbox channel of statuspage.slack
SLACK_SUMMARY_EVENT = "slack.report_summary"
TOP_CAUSES = 3


def slack_summary(report: MonthlyReport) -> dict[str, Any]:
    """What the Slack summary of a report says, without links: the written summary, the missed
    commitments, the credits owed (in money when customer accounts are known, else per tier as a
    share of the fee), the most frequent root causes (per incident) and any KPI playbook trigger."""
    causes = breach_causes(report.breaches)
    credits = report.credits
    return {
        "month": report.month,
        "period": report.period.name,
        "summary": list(report.summary),
        "credits_total": format_money(credits.total, credits.currency) if credits is not None and credits.total > 0 else None,
        "customers_owed": credits.customers_owed if credits is not None else 0,
        "incidents": report.incidents,
        "attainment_percent": None if report.attainment_percent is None else round(report.attainment_percent, 1),
        "missed": len(report.breaches),
        "credits": [
            {"tier": t.name, "percent": str(t.credit_percent)} for t in report.tiers if t.credit_percent > 0
        ],
        "causes": [{"cause": cause, "incidents": count} for cause, count in causes.ranked[:TOP_CAUSES]],
        "unexplained": causes.unexplained,
        "kpi_triggers": [k.trigger_text for k in report.service_quality or [] if k.playbook_trigger],
    }


def slack_summary_line(data: dict[str, Any]) -> str:
    """The summary as one plain line, for the command's confirmation."""
    credits = ", ".join(f"{c['tier']} {c['percent']}%" for c in data["credits"]) or "none"
    if data.get("credits_total"):
        credits = f"{data['credits_total']} to {data['customers_owed']} customer{'' if data['customers_owed'] == 1 else 's'}"
    return f"{data['month']}: {data['missed']} missed commitments; credits owed: {credits}"


def require_slack(config: Config) -> None:
    """Refuse, before any work, to post a summary where Slack is switched off."""
    if not config.slack.enabled:
        raise Conflict("posting the report's summary needs Slack: slack.enabled is false in the configuration")


@write
def queue_slack_summary(*, ctx: WriteContext, report: MonthlyReport) -> OutboxMessage:
    """Queue the report's summary for the Slack incidents channel, in the transaction of an audit
    event (``report.post``): committed, it is delivered by the worker even if this process stops."""
    channel = ctx.config.slack.incidents_channel
    data = slack_summary(report)
    now = ctx.now()
    ctx.audit(
        action=AuditAction.REPORT_POST,
        subject_type="report",
        subject_id=report.month,
        at=now,
        after={"channel": channel, "missed": data["missed"]},
    )
    return outbox.enqueue(
        ctx.session,
        channel=SLACK_CHANNEL,
        target=channel,
        ordering_key=f"{SLACK_CHANNEL}:{channel}:report",
        event=SLACK_SUMMARY_EVENT,
        payload={"kind": "post", "template": "report_summary", "data": data},
        now=now,
    )
