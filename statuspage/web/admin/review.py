"""The admin API's operations on what follows an incident: the postmortem analysis and document,
remediation action items, and the monthly SLA report (and its Slack summary). Each asks the
service layer, like the handlers of :mod:`statuspage.web.admin.handlers`, and answers with the
page beside what it made."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from statuspage.domain.months import month_label
from statuspage.incidents import service as incidents
from statuspage.postmortems import document
from statuspage.postmortems import service as postmortems
from statuspage.reports import kpis, monthly, render, slack
from statuspage.reports.monthly import MonthlyReport
from statuspage.reports.postmortem_credits import incident_credits
from statuspage.web.admin.calls import JSON, PREFIX, Call, Reply
from statuspage.web.admin.payloads import action_json, incident_payload, incident_reply, parse_id, postmortem_json
from statuspage.web.admin.schemas import (
    ActionItemQuery,
    AddActionItem,
    PostReportSummary,
    RecordAnalysis,
    ReportQuery,
)

# The postmortem -------------------------------------------------------------------------------


def record_analysis(call: Call) -> Reply:
    body: RecordAnalysis = call.body
    incident = postmortems.record_analysis(
        ctx=call.ctx,
        incident_id=parse_id(call.params["incident_id"], "incident"),
        root_cause=body.root_cause,
        remediation=body.remediation,
        category=body.category,
        factors=body.factors,
        whys=body.whys,
        detection_gap=body.detection_gap,
        response_gap=body.response_gap,
    )
    reply = incident_reply(call, incident)
    reply.data["postmortem"] = postmortem_json(call.session, incident.id or 0)
    return reply


def show_postmortem(call: Call) -> Reply:
    key = parse_id(call.params["incident_id"], "incident")
    return Reply({"page": call.builder.page_json(), "postmortem": _document(call, key)})


def publish_postmortem(call: Call) -> Reply:
    key = parse_id(call.params["incident_id"], "incident")
    postmortems.publish(ctx=call.ctx, incident_id=key)
    return Reply({"page": call.builder.page_json(), "incident": incident_payload(call, key), "postmortem": _document(call, key)})


def _document(call: Call, incident_id: int) -> JSON:
    """The analysis, and the Markdown document ``incident postmortem`` writes, rendered now, with
    the narrative sections a new file starts with, and the file's name."""
    config = call.site.settings.config
    now = call.ctx.now()
    credits = incident_credits(call.session, config, incidents.get(session=call.session, incident_id=incident_id), now)
    facts = document.gather(call.session, config, incident_id, now, credits)
    return {
        **postmortem_json(call.session, incident_id),
        "filename": document.filename(facts.incident, ZoneInfo(config.page.time_zone)),
        "markdown": document.render(facts, config),
    }


# Action items ---------------------------------------------------------------------------------


def add_action_item(call: Call) -> Reply:
    body: AddActionItem = call.body
    item = postmortems.add_action(
        ctx=call.ctx,
        incident_id=parse_id(call.params["incident_id"], "incident"),
        title=body.title,
        owner=body.owner,
        due_on=body.due,
    )
    return Reply(
        {"page": call.builder.page_json(), "action_item": action_json(item)},
        status=201,
        headers={"location": f"{PREFIX}/actions/{item.id}"},
    )


def list_action_items(call: Call) -> Reply:
    query: ActionItemQuery = call.query
    if query.overdue:
        zone = ZoneInfo(call.site.settings.config.page.time_zone)
        rows = postmortems.open_actions_past_due(call.session, call.ctx.now().astimezone(zone))
    else:
        rows = postmortems.action_items(session=call.session, open_only=query.open)
    return Reply({"page": call.builder.page_json(), "action_items": [action_json(row) for row in rows]})


def show_action_item(call: Call) -> Reply:
    item = postmortems.get_action(session=call.session, action_id=call.params["action_id"])
    return Reply({"page": call.builder.page_json(), "action_item": action_json(item)})


def complete_action_item(call: Call) -> Reply:
    item = postmortems.complete_action(ctx=call.ctx, action_id=call.params["action_id"])
    return Reply({"page": call.builder.page_json(), "action_item": action_json(item)})


# The monthly report ---------------------------------------------------------------------------


def monthly_report(call: Call) -> Reply:
    query: ReportQuery = call.query
    result = _report(call, query.month)
    return Reply({"page": call.builder.page_json(), "report": _report_json(result, query.format)})


def post_report_summary(call: Call) -> Reply:
    """Queue the month's summary for the Slack incidents channel; answers with the report it sums up."""
    body: PostReportSummary = call.body
    slack.require_slack(call.site.settings.config)
    result = _report(call, body.month)
    # The report's read transaction ends here: the summary is queued in a write transaction of its own.
    call.session.commit()
    message = slack.queue_slack_summary(ctx=call.ctx, report=result)
    data = message.payload["data"]
    return Reply(
        {
            "page": call.builder.page_json(),
            "report": _report_json(result, body.format),
            "slack_summary": {"line": slack.slack_summary_line(data), "target": message.target, "summary": data},
        }
    )


def _report(call: Call, month: str) -> MonthlyReport:
    year, number = monthly.parse_month(month)
    settings = call.site.settings
    measured = kpis.month_values(call.session, month_label(year, number))
    return monthly.monthly_report(call.session, settings.config, year, number, call.ctx.now(), kpis=measured)


def _report_json(result: MonthlyReport, fmt: str) -> JSON:
    return {"month": result.month, "format": fmt, "text": render.RENDERERS[fmt](result)}
