"""The admin API's table of operations, the routes made from it, and the way each request goes
through them: authenticate, validate, run the handler in a worker thread, answer, record."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from statuspage.db.engine import new_session
from statuspage.db.models import ApiToken
from statuspage.errors import UserError
from statuspage.web.admin.access import Access, AdminWriteContext, record_outcome
from statuspage.web.admin.auth import REALM, actor_for, authenticate, bearer_secret, human_name
from statuspage.web.admin.body import read_json
from statuspage.web.admin.calls import JSON, PREFIX, Call, Operation, Reply, site_clock
from statuspage.web.admin.handlers import (
    acknowledge_incident,
    change_severity,
    declare_incident,
    edit_title,
    edit_update,
    escalate_incident,
    hand_over_incident,
    list_audit,
    list_components,
    list_incidents,
    pause_sla,
    post_update,
    publish_incident,
    record_plan,
    record_root_cause,
    reopen_incident,
    resolve_incident,
    resume_sla,
    retract_incident,
    schedule_maintenance,
    set_component,
    show_incident,
    show_maintenance,
    token_info,
    update_maintenance,
)
from statuspage.web.admin.openapi import openapi_document
from statuspage.web.admin.problems import (
    ApiProblem,
    database_unavailable_problem,
    database_unreachable,
    user_error_problem,
    validate,
)
from statuspage.web.admin.review import (
    add_action_item,
    complete_action_item,
    list_action_items,
    monthly_report,
    post_report_summary,
    publish_postmortem,
    record_analysis,
    show_action_item,
    show_postmortem,
)
from statuspage.web.admin.schemas import (
    AcknowledgeIncident,
    ActionItemQuery,
    AddActionItem,
    AuditQuery,
    ChangeSeverity,
    DeclareIncident,
    EditTitle,
    EditUpdate,
    EscalateIncident,
    HandOverIncident,
    IncidentListQuery,
    PauseSla,
    PostReportSummary,
    PostUpdate,
    RecordAnalysis,
    RecordPlan,
    RecordRootCause,
    ReopenIncident,
    ReportQuery,
    ResolveIncident,
    RetractIncident,
    ScheduleMaintenance,
    SetComponentStatus,
    UpdateMaintenance,
)
from statuspage.web.admin.subscribers import show_subscriber, subscriber_counts
from statuspage.web.site import Site, json_response

log = logging.getLogger(__name__)

ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

_INCIDENT = frozenset({"id"})
_COMPONENT = frozenset({"components"})

# The table: routes and the OpenAPI document are both made from it.
OPERATIONS: tuple[Operation, ...] = (
    Operation("GET", "/token", "getToken", "The token making the request, and the page.", "read", token_info, response="TokenEnvelope"),
    Operation("GET", "/incidents", "listIncidents", "Incidents, newest first.", "read", list_incidents, query=IncidentListQuery, response="IncidentList"),
    Operation("POST", "/incidents", "declareIncident", "Declare an incident: it is on the status page at once.", "write", declare_incident, body=DeclareIncident, success=201, response="IncidentEnvelope"),
    Operation("GET", "/incidents/{incident_id}", "getIncident", "An incident with its audit events.", "read", show_incident, response="IncidentDetail", path_fields=_INCIDENT),
    Operation("PATCH", "/incidents/{incident_id}", "postIncidentUpdate", "Post an update; optionally change the status and components.", "write", post_update, body=PostUpdate, response="IncidentEnvelope", path_fields=_INCIDENT),
    Operation("POST", "/incidents/{incident_id}/resolve", "resolveIncident", "Resolve an incident and release its components.", "write", resolve_incident, body=ResolveIncident, response="IncidentEnvelope", path_fields=_INCIDENT),
    Operation("POST", "/incidents/{incident_id}/reopen", "reopenIncident", "Reopen a resolved incident.", "write", reopen_incident, body=ReopenIncident, response="IncidentEnvelope", path_fields=_INCIDENT),
    Operation("POST", "/incidents/{incident_id}/acknowledge", "acknowledgeIncident", "Record who took the page; the first acknowledgement counts.", "write", acknowledge_incident, body=AcknowledgeIncident, response="IncidentEnvelope", path_fields=_INCIDENT),
    Operation("POST", "/incidents/{incident_id}/root-cause", "recordRootCause", "Publish the root cause and remediation.", "write", record_root_cause, body=RecordRootCause, response="IncidentEnvelope", path_fields=_INCIDENT),
    Operation("POST", "/incidents/{incident_id}/plan", "recordResolutionPlan", "Record (or revise) the plan to resolve an open incident; the first one stops its resolution_plan clock.", "write", record_plan, body=RecordPlan, response="IncidentEnvelope", path_fields=_INCIDENT),
    Operation("POST", "/incidents/{incident_id}/handover", "handOverIncident", "Hand over command of an incident.", "write", hand_over_incident, body=HandOverIncident, response="IncidentEnvelope", path_fields=_INCIDENT),
    Operation("POST", "/incidents/{incident_id}/sla-pause", "pauseSla", "Stop the incident's SLA clocks while waiting on the customer.", "write", pause_sla, body=PauseSla, response="IncidentEnvelope", path_fields=_INCIDENT),
    Operation("POST", "/incidents/{incident_id}/sla-resume", "resumeSla", "Start the incident's paused SLA clocks again.", "write", resume_sla, response="IncidentEnvelope", path_fields=_INCIDENT),
    Operation("POST", "/incidents/{incident_id}/escalate", "escalateIncident", "Page a tier now instead of waiting for the acknowledgement deadline; says whom it paged.", "write", escalate_incident, body=EscalateIncident, response="EscalationEnvelope", path_fields=_INCIDENT),
    Operation("POST", "/incidents/{incident_id}/severity", "changeSeverity", "Change the severity; raising it starts the new severity's playbook, and says whom it paged.", "write", change_severity, body=ChangeSeverity, response="SeverityEnvelope", path_fields=_INCIDENT),
    Operation("POST", "/incidents/{incident_id}/analysis", "recordAnalysis", "Record the postmortem analysis: contributing factors, why-chain, detection and response gaps, and optionally the root cause and remediation.", "write", record_analysis, body=RecordAnalysis, response="AnalysisEnvelope", path_fields=_INCIDENT),
    Operation("POST", "/incidents/{incident_id}/title", "editIncidentTitle", "Correct the incident's title.", "write", edit_title, body=EditTitle, response="IncidentEnvelope", path_fields=_INCIDENT),
    Operation("PUT", "/incidents/{incident_id}/updates/{number}", "editIncidentUpdate", "Correct the text of the incident's N-th update (1 = the first, as the timeline lists them); the page shows it as edited.", "write", edit_update, body=EditUpdate, response="IncidentEnvelope", path_fields=_INCIDENT),
    Operation("POST", "/incidents/{incident_id}/retract", "retractIncident", "Withdraw an incident declared by mistake from every public output; it is kept, internal, and publish shows it again.", "write", retract_incident, body=RetractIncident, response="IncidentEnvelope", path_fields=_INCIDENT),
    Operation("POST", "/incidents/{incident_id}/publish", "publishIncident", "Show an internal incident (opened from an alert, or retracted) on every public output from now on.", "write", publish_incident, response="IncidentEnvelope", path_fields=_INCIDENT),
    Operation("GET", "/incidents/{incident_id}/postmortem", "getPostmortem", "The postmortem analysis and the Markdown document, rendered now.", "read", show_postmortem, response="PostmortemEnvelope", path_fields=_INCIDENT),
    Operation("POST", "/incidents/{incident_id}/postmortem/publish", "publishPostmortem", "Show the postmortem on the public incident page; publishing again keeps the first time.", "write", publish_postmortem, response="PostmortemEnvelope", path_fields=_INCIDENT),
    Operation("POST", "/incidents/{incident_id}/actions", "addActionItem", "Add a remediation action item to the incident's postmortem.", "write", add_action_item, body=AddActionItem, success=201, response="ActionItemEnvelope", path_fields=_INCIDENT),
    Operation("GET", "/actions", "listActionItems", "Action items, earliest due first.", "read", list_action_items, query=ActionItemQuery, response="ActionItemList"),
    Operation("GET", "/actions/{action_id}", "getActionItem", "An action item.", "read", show_action_item, response="ActionItemEnvelope"),
    Operation("POST", "/actions/{action_id}/done", "completeActionItem", "Mark an action item done.", "write", complete_action_item, response="ActionItemEnvelope"),
    Operation("GET", "/reports/monthly", "getMonthlyReport", "The SLA report of a calendar month, in md, html, csv or json.", "read", monthly_report, query=ReportQuery, response="ReportEnvelope"),
    Operation("POST", "/reports/monthly/slack-summary", "postReportSummary", "Queue the month's summary for the Slack incidents channel; answers with the report too.", "write", post_report_summary, body=PostReportSummary, response="ReportEnvelope"),
    Operation("GET", "/components", "listComponents", "Components in display order, with their shown and own status.", "read", list_components, response="ComponentList"),
    Operation("PUT", "/components/{component_id}", "setComponentStatus", "Set a component's own status, outside any incident.", "write", set_component, body=SetComponentStatus, response="ComponentEnvelope", path_fields=_COMPONENT),
    Operation("POST", "/maintenances", "scheduleMaintenance", "Announce a maintenance window.", "write", schedule_maintenance, body=ScheduleMaintenance, success=201, response="MaintenanceEnvelope"),
    Operation("GET", "/maintenances/{maintenance_id}", "getMaintenance", "A maintenance window.", "read", show_maintenance, response="MaintenanceEnvelope"),
    Operation("PATCH", "/maintenances/{maintenance_id}", "updateMaintenance", "Move a maintenance along: in_progress, verifying, completed.", "write", update_maintenance, body=UpdateMaintenance, response="MaintenanceEnvelope"),
    Operation("GET", "/audit", "listAuditEvents", "Recent audit events, newest first.", "read", list_audit, query=AuditQuery, response="AuditList"),
    # Before /subscribers/{subscriber_id}: routes are matched in this order.
    Operation("GET", "/subscribers/counts", "getSubscriberCounts", "Subscribers by state and kind, and the active ones per component.", "read", subscriber_counts, response="SubscriberCounts"),
    Operation("GET", "/subscribers/{subscriber_id}", "getSubscriber", "A subscriber (its address gone once removed) and its delivery log, newest first.", "read", show_subscriber, response="SubscriberDetail"),
)


def execute(site: Site, operation: Operation, call_args: dict[str, Any], access: Access | None = None) -> Reply:
    """Run a handler in this (worker) thread with a session of its own."""
    try:
        with new_session(site.engine) as session:
            actor = actor_for(call_args["token"], call_args["human"])
            ctx = AdminWriteContext(
                session=session,
                clock=site_clock(site),
                actor=actor,
                config=site.settings.config,
                wiring=site.wiring,
                access=access if operation.scope == "write" else None,
            )
            return operation.handler(Call(site=site, session=session, ctx=ctx, **call_args))
    except UserError as exc:
        if exc.status_code >= 500:
            raise ApiProblem(exc.status_code, exc.title, exc.message) from None
        raise user_error_problem(exc, operation.path_fields) from None
    except (DBAPIError, SQLAlchemyTimeoutError) as exc:
        if not database_unreachable(exc):
            raise
        log.warning("database unavailable on %s %s: %s", operation.method, operation.full_path, getattr(exc, "orig", None) or exc)
        raise database_unavailable_problem() from None


async def handle(site: Site, operation: Operation, request: Request) -> Response:
    access = Access.of(request, operation)
    try:
        token: ApiToken | None = None
        if operation.scope is not None:
            secret = bearer_secret(request)
            token = await run_in_threadpool(authenticate, site, secret, access)
            access.token = token
            if operation.scope == "write" and token.scope != "write":
                raise ApiProblem(
                    403,
                    "Forbidden",
                    f"token {token.name!r} may only read; this needs a write token",
                    headers={"www-authenticate": f'{REALM}, error="insufficient_scope", scope="write"'},
                )
        human = human_name(request) if token is not None else None
        access.actor = actor_for(token, human).name
        query = validate(operation.query, dict(request.query_params)) if operation.query else None
        body = None
        if operation.body is not None:
            context = {"severity_levels": site.settings.config.severity_levels}
            body = validate(operation.body, await read_json(request), context)
        call_args = {
            "token": token,
            "human": human,
            "params": dict(request.path_params),
            "body": body,
            "query": query,
        }
        reply = await run_in_threadpool(execute, site, operation, call_args, access)
    except ApiProblem as exc:
        # A refusal's own words for 401 and 403 (they quote nothing the client sent); else the title.
        access.problem = exc.detail if exc.status in (401, 403) else exc.title
        await record_outcome(site, access, exc.status)
        return exc.response()
    except Exception:
        access.problem = "internal error"
        await record_outcome(site, access, 500)
        raise

    response = json_response(reply.data, status_code=reply.status)
    response.headers.update({"cache-control": "no-store", **reply.headers})
    await record_outcome(site, access, reply.status)
    return response


def routes(site: Site) -> list[BaseRoute]:
    by_path: dict[str, dict[str, Operation]] = defaultdict(dict)
    for operation in OPERATIONS:
        by_path[operation.full_path][operation.method] = operation
    result: list[BaseRoute] = []
    for path, methods in by_path.items():
        # Every method reaches the endpoint, which answers a 405 as a problem document itself.
        result.append(Route(path, _endpoint(site, methods), methods=ALL_METHODS, name=f"admin:{path}"))
    result.append(Route(f"{PREFIX}/openapi.json", _openapi_endpoint(site), methods=["GET"], name="admin:openapi"))
    return result


def _endpoint(site: Site, methods: dict[str, Operation]) -> Callable[[Request], Any]:
    allowed = ", ".join(sorted(methods))

    async def endpoint(request: Request) -> Response:
        operation = methods.get("GET" if request.method == "HEAD" else request.method)
        if operation is None:
            access = Access.of(request, None)
            access.problem = "Method not allowed"
            await record_outcome(site, access, 405)
            return ApiProblem(
                405,
                "Method not allowed",
                f"{request.method} is not allowed here; use {allowed}",
                headers={"allow": allowed},
            ).response()
        return await handle(site, operation, request)

    return endpoint


def _openapi_endpoint(site: Site) -> Callable[[Request], Any]:
    document: JSON | None = None

    async def endpoint(request: Request) -> Response:
        nonlocal document
        if document is None:
            document = openapi_document(site, OPERATIONS)
        return json_response(document)

    return endpoint
