"""The OpenAPI 3.1 document at ``/api/admin/v1/openapi.json``: request schemas from the pydantic
models, response shapes written by hand, paths and parameters from the table of operations it is
given, and the package docstring as its description."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from pydantic.json_schema import models_json_schema

from statuspage.domain.enums import ComponentStatus
from statuspage.reports.render import FORMATS as REPORT_FORMATS
from statuspage.web import admin as package
from statuspage.web.admin.calls import JSON, PREFIX, Operation
from statuspage.web.site import Site

_NULLABLE_STRING = {"type": ["string", "null"]}
_TIME = {"type": ["string", "null"], "format": "date-time"}


def _object(properties: dict[str, Any], required: Sequence[str] | None = None) -> JSON:
    return {"type": "object", "properties": properties, "required": list(properties if required is None else required)}


def _ref(name: str) -> JSON:
    return {"$ref": f"#/components/schemas/{name}"}


# Response shapes, written by hand: they are Statuspage v2 objects built as dicts in v2.py.
RESPONSE_SCHEMAS: dict[str, JSON] = {
    "Problem": {
        **_object(
            {
                "type": {"type": "string"},
                "title": {"type": "string"},
                "status": {"type": "integer"},
                "detail": {"type": "string", "description": "One line, naming the field when a field is wrong."},
                "message": {
                    "type": "string",
                    "description": "A refusal of the service layer in its own words, without the field name: what the command line prints.",
                },
                "errors": {
                    "type": "array",
                    "items": _object({"field": _NULLABLE_STRING, "message": {"type": "string"}}),
                },
            },
            required=["type", "title", "status", "detail"],
        ),
        "description": "An RFC 9457 problem document.",
    },
    "Page": _object(
        {"id": {"type": "string"}, "name": {"type": "string"}, "url": {"type": "string"}, "time_zone": {"type": "string"}, "updated_at": _TIME}
    ),
    "IncidentUpdate": {
        **_object({"id": {"type": "string"}, "status": {"type": "string"}, "body": {"type": "string"}, "created_at": _TIME}),
        "additionalProperties": True,
    },
    "Component": {
        **_object({"id": {"type": "string"}, "name": {"type": "string"}, "status": {"enum": [s.value for s in ComponentStatus]}}),
        "additionalProperties": True,
    },
    "Incident": {
        **_object(
            {
                "id": {"type": "string"},
                "name": {"type": "string"},
                "status": {"type": "string"},
                "impact": {"type": "string"},
                "shortlink": {"type": "string"},
                "incident_updates": {"type": "array", "items": _ref("IncidentUpdate")},
                "components": {"type": "array", "items": _ref("Component")},
                "admin": {
                    "type": "object",
                    "description": "What the public Statuspage format leaves out: exact UTC times, people, held statuses, "
                    "and whether the incident is internal (opened from an alert or retracted: on no public page).",
                },
            }
        ),
        "additionalProperties": True,
    },
    "Maintenance": {
        **_object(
            {
                "id": {"type": "string"},
                "name": {"type": "string"},
                "status": {"type": "string"},
                "scheduled_for": _TIME,
                "scheduled_until": _TIME,
                "admin": _object({"id": {"type": "integer"}}),
            }
        ),
        "additionalProperties": True,
    },
    "AuditEvent": _object(
        {
            "id": {"type": "integer"},
            "at": _TIME,
            "actor": {"type": "string"},
            "source": {"type": "string"},
            "action": {"type": "string"},
            "subject_type": {"type": "string"},
            "subject_id": {"type": "string"},
            "before": {"type": ["object", "null"]},
            "after": {"type": ["object", "null"]},
        }
    ),
    "TokenEnvelope": _object(
        {
            "page": _ref("Page"),
            "token": _object({"name": {"type": "string"}, "scope": {"enum": ["read", "write"]}, "prefix": {"type": "string"}}),
            "actor": {"type": "string"},
        }
    ),
    "IncidentList": _object({"page": _ref("Page"), "incidents": {"type": "array", "items": _ref("Incident")}}),
    "Paging": {
        **_object(
            {
                "pages": {
                    "type": "array",
                    "items": _object(
                        {
                            "tier": {"type": ["integer", "null"], "description": "Null: the step named the person."},
                            "owner": {"type": "string"},
                            "contact_kind": {"type": "string"},
                            "contact": {"type": "string"},
                            "paged_at": _TIME,
                        }
                    ),
                },
                "next_step_at": {**_TIME, "description": "When the next step runs unless someone acknowledges."},
                "not_paged": {
                    "type": "array",
                    "items": {"type": "string"},
                    "description": "Whom the change did not page: the person who declared the incident (unless page_me).",
                },
            }
        ),
        "description": "Who the change paged, in order.",
    },
    "IncidentEnvelope": _object(
        {
            "page": _ref("Page"),
            "incident": _ref("Incident"),
            "incident_update": _ref("IncidentUpdate"),
            "acknowledged": {"type": "boolean"},
            "changes": {
                "type": "array",
                "items": {"type": "object"},
                "description": "Components whose shown status a retraction or publication changed.",
            },
            "paging": _ref("Paging"),
            "warnings": {
                "type": "array",
                "items": {"type": "string"},
                "description": "Playbook files skipped as broken; the declaration went ahead regardless.",
            },
        },
        required=["page", "incident"],
    ),
    "EscalationEnvelope": _object(
        {"page": _ref("Page"), "incident": _ref("Incident"), "escalated_to_tier": {"type": "integer"}, "paging": _ref("Paging")}
    ),
    "SeverityEnvelope": _object(
        {
            "page": _ref("Page"),
            "incident": _ref("Incident"),
            "severity_change": _object(
                {"from": {"type": "integer"}, "to": {"type": "integer"}, "playbook": {**_NULLABLE_STRING, "description": "The playbook attached, if any."}}
            ),
            "paging": _ref("Paging"),
        }
    ),
    "Postmortem": _object(
        {
            "incident_id": {"type": "integer"},
            "contributing_factors": {
                "type": "array",
                "items": _object({"text": {"type": "string"}, "author": {"type": "string"}, "created_at": _TIME}),
            },
            "why_chain": {"type": "array", "items": {"type": "string"}},
            "detection_gap": _NULLABLE_STRING,
            "response_gap": _NULLABLE_STRING,
            "published_at": _TIME,
            "published_by": _NULLABLE_STRING,
            "filename": {"type": "string", "description": "The document's file name: declared date and title."},
            "markdown": {"type": "string", "description": "The document, its narrative sections as a new file starts them."},
        },
        required=["incident_id", "contributing_factors", "why_chain", "detection_gap", "response_gap", "published_at", "published_by"],
    ),
    "AnalysisEnvelope": _object({"page": _ref("Page"), "incident": _ref("Incident"), "postmortem": _ref("Postmortem")}),
    "PostmortemEnvelope": _object(
        {"page": _ref("Page"), "incident": _ref("Incident"), "postmortem": _ref("Postmortem")}, required=["page", "postmortem"]
    ),
    "ActionItem": _object(
        {
            "id": {"type": "integer"},
            "incident_id": {"type": "integer"},
            "title": {"type": "string"},
            "owner": {"type": "string"},
            "due_on": {"type": "string", "format": "date"},
            "status": {"enum": ["open", "done"]},
            "created_at": _TIME,
            "done_at": _TIME,
        }
    ),
    "ActionItemEnvelope": _object({"page": _ref("Page"), "action_item": _ref("ActionItem")}),
    "ActionItemList": _object({"page": _ref("Page"), "action_items": {"type": "array", "items": _ref("ActionItem")}}),
    "ReportEnvelope": _object(
        {
            "page": _ref("Page"),
            "report": _object({"month": {"type": "string"}, "format": {"enum": list(REPORT_FORMATS)}, "text": {"type": "string"}}),
            "slack_summary": _object(
                {"line": {"type": "string"}, "target": {"type": "string"}, "summary": {"type": "object"}},
            ),
        },
        required=["page", "report"],
    ),
    "IncidentDetail": _object(
        {
            "page": _ref("Page"),
            "incident": _ref("Incident"),
            "audit_events": {"type": "array", "items": _ref("AuditEvent")},
            "sla_targets": {
                "type": "array",
                "items": {"type": "object"},
                "description": "Each target of the incident's severity: deadline, outcome (met, breached, pending), "
                "breached_by_seconds and remaining_seconds, on the target's clock.",
            },
            "paging": {
                "type": "object",
                "description": "Who is being paged now (pages of the latest step nobody acknowledged, each with its "
                "delivery: queued, sent with the provider's id, failed with its answer, not_sent), and when the next "
                "escalation (next_escalation_at) and the next public update (next_update_due_at) are due.",
            },
        },
        required=["page", "incident", "audit_events"],
    ),
    "ComponentList": _object({"page": _ref("Page"), "components": {"type": "array", "items": _ref("Component")}}),
    "ComponentEnvelope": _object(
        {"page": _ref("Page"), "component": _ref("Component"), "changes": {"type": "array", "items": {"type": "object"}}}
    ),
    "MaintenanceEnvelope": _object({"page": _ref("Page"), "scheduled_maintenance": _ref("Maintenance")}),
    "AuditList": _object({"page": _ref("Page"), "audit_events": {"type": "array", "items": _ref("AuditEvent")}}),
    "SubscriberCounts": _object(
        {
            "page": _ref("Page"),
            "counts": _object(
                {
                    "by_state": _object({state: {"type": "integer"} for state in ("pending", "active", "suspended", "removed")}),
                    "by_kind": {**_object({"email": {"type": "integer"}, "webhook": {"type": "integer"}}), "description": "Not removed."},
                    "everything": {"type": "integer", "description": "Active subscribers following every component."},
                    "components": {
                        "type": "object",
                        "additionalProperties": {"type": "integer"},
                        "description": "Per component id, in display order: the active subscribers following it "
                        "(those following everything included).",
                    },
                }
            ),
        }
    ),
    "Subscriber": _object(
        {
            "id": {"type": "integer"},
            "kind": {"enum": ["email", "webhook"]},
            "state": {"enum": ["pending", "active", "suspended", "removed"]},
            "email": {**_NULLABLE_STRING, "description": "The address; for a webhook, the one told of its failures. Null once removed."},
            "webhook_url": {**_NULLABLE_STRING, "description": "Null for email subscribers, and once removed."},
            "all_components": {"type": "boolean"},
            "components": {"type": "array", "items": {"type": "string"}, "description": "Empty when following everything."},
            "source": {"type": "string", "description": "form, import or admin."},
            "created_at": _TIME,
            "confirmed_at": _TIME,
            "confirm_sent_at": _TIME,
            "bounces": {"type": "integer", "description": "Permanent failures since the last success."},
            "last_failure": _NULLABLE_STRING,
            "last_failure_at": _TIME,
            "suspended_at": _TIME,
            "removed_at": _TIME,
            "delivered_count": {"type": "integer", "description": "Kept after removal, with failed_count."},
            "failed_count": {"type": "integer"},
        }
    ),
    "SubscriberDelivery": _object(
        {
            "id": {"type": "integer"},
            "delivery_id": {"type": "string"},
            "channel": {"type": "string"},
            "event": {"type": "string"},
            "state": {"enum": ["pending", "delivered", "dead"]},
            "attempts": {"type": "integer"},
            "waits": {"type": "integer"},
            "created_at": _TIME,
            "next_attempt_at": {**_TIME, "description": "Only while pending."},
            "delivered_at": _TIME,
            "last_error": _NULLABLE_STRING,
        }
    ),
    "SubscriberDetail": _object(
        {
            "page": _ref("Page"),
            "subscriber": _ref("Subscriber"),
            "deliveries": {
                "type": "array",
                "items": _ref("SubscriberDelivery"),
                "description": "What was sent to the subscriber, is waiting, or went dead; newest first, at most 50.",
            },
        }
    ),
}

_PROBLEM_CONTENT = {"application/problem+json": {"schema": _ref("Problem")}}
_ERROR_RESPONSES: dict[str, JSON] = {
    "BadRequest": {"description": "Malformed JSON, or a key twice in one object.", "content": _PROBLEM_CONTENT},
    "Unauthorized": {
        "description": "No token, or an unknown or revoked one.",
        "headers": {"WWW-Authenticate": {"schema": {"type": "string"}, "description": "Bearer"}},
        "content": _PROBLEM_CONTENT,
    },
    "Forbidden": {"description": "A read token on a write.", "content": _PROBLEM_CONTENT},
    "NotFound": {"description": "No such incident, maintenance, component, action item or subscriber.", "content": _PROBLEM_CONTENT},
    "Conflict": {"description": "The change does not fit the current state.", "content": _PROBLEM_CONTENT},
    "ContentTooLarge": {"description": "The body is larger than 256 KiB.", "content": _PROBLEM_CONTENT},
    "UnsupportedMediaType": {"description": "The body is not JSON.", "content": _PROBLEM_CONTENT},
    "InvalidInput": {"description": "A field is wrong; detail names it, errors lists all.", "content": _PROBLEM_CONTENT},
    "ServiceUnavailable": {
        "description": "The database could not be reached; try again.",
        "headers": {"Retry-After": {"schema": {"type": "string"}, "description": "Seconds to wait before trying again."}},
        "content": _PROBLEM_CONTENT,
    },
}


def openapi_document(site: Site, operations: Sequence[Operation]) -> JSON:
    """OpenAPI 3.1: request schemas from the pydantic models, everything else from the table."""
    bodies = sorted({op.body for op in operations if op.body is not None}, key=lambda m: m.__name__)
    _, top = models_json_schema([(model, "validation") for model in bodies], ref_template="#/components/schemas/{model}")
    schemas: JSON = {**top.get("$defs", {}), **RESPONSE_SCHEMAS}
    levels = site.settings.config.severity_levels
    schemas["DeclareIncident"]["properties"]["severity"]["enum"] = levels

    paths: JSON = defaultdict(dict)
    for op in operations:
        parameters = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in re.findall(r"{(\w+)}", op.path)
        ]
        if op.query is not None:
            query_schema = op.query.model_json_schema()
            required = set(query_schema.get("required", []))
            for name, schema in query_schema["properties"].items():
                parameters.append({"name": name, "in": "query", "required": name in required, "schema": schema})
        responses: JSON = {
            str(op.success): {
                "description": op.summary,
                "content": {"application/json": {"schema": _ref(op.response)}},
            },
            "401": {"$ref": "#/components/responses/Unauthorized"},
            "404": {"$ref": "#/components/responses/NotFound"},
            "422": {"$ref": "#/components/responses/InvalidInput"},
            "503": {"$ref": "#/components/responses/ServiceUnavailable"},
        }
        if op.scope == "write":
            responses["403"] = {"$ref": "#/components/responses/Forbidden"}
            responses["409"] = {"$ref": "#/components/responses/Conflict"}
        if op.body is not None:
            responses["400"] = {"$ref": "#/components/responses/BadRequest"}
            responses["413"] = {"$ref": "#/components/responses/ContentTooLarge"}
            responses["415"] = {"$ref": "#/components/responses/UnsupportedMediaType"}
        operation: JSON = {
            "operationId": op.operation_id,
            "summary": op.summary,
            "parameters": parameters,
            "responses": responses,
            "x-token-scope": op.scope,
        }
        if op.body is not None:
            body_required = bool(op.body.model_json_schema().get("required"))
            operation["requestBody"] = {
                "required": body_required,
                "content": {"application/json": {"schema": _ref(op.body.__name__)}},
            }
        paths[op.full_path][op.method.lower()] = operation
    paths[f"{PREFIX}/openapi.json"]["get"] = {
        "operationId": "getOpenApi",
        "summary": "This document.",
        "security": [],
        "responses": {"200": {"description": "OpenAPI 3.1", "content": {"application/json": {"schema": {"type": "object"}}}}},
    }
    page = site.settings.config.page
    return {
        "openapi": "3.1.0",
        "info": {
            "title": f"{page.name} status page admin API",
            "version": "1",
            "description": (package.__doc__ or "").strip(),
        },
        "servers": [{"url": page.url}],
        "security": [{"bearerAuth": []}],
        "paths": dict(paths),
        "components": {
            "schemas": schemas,
            "responses": _ERROR_RESPONSES,
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A token from `incident token create`; read tokens may only GET.",
                }
            },
        },
    }
