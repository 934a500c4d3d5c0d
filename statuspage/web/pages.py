"""Page contexts. Each HTML page is its JSON twin plus layout; templates only format."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from statuspage.incidents import service as incidents
from statuspage.web.v2 import JSON, V2Builder


def layout(components: list[JSON]) -> list[JSON]:
    """Components arranged for display: groups with their members, then loose components."""
    by_id = {c["id"]: c for c in components}
    sections: list[JSON] = []
    for item in components:
        if item["group"]:
            sections.append({"group": item, "components": [by_id[i] for i in item["components"]]})
        elif item["group_id"] is None:
            sections.append({"group": None, "components": [item]})
    return sections


def index_context(builder: V2Builder, request: Request | None = None) -> dict[str, Any]:
    summary = builder.summary()
    return {"summary": summary, "sections": layout(summary["components"]), "json": summary}


def incident_context(builder: V2Builder, request: Request) -> dict[str, Any]:
    incident = incidents.get(session=builder.session, incident_id=request.path_params["incident_id"])
    (data,) = builder.incidents_json([incident])
    page = builder.page_json()
    return {"summary": {"page": page}, "incident": data, "json": {"page": page, "incident": data}}


def history_context(builder: V2Builder, request: Request) -> dict[str, Any]:
    raise NotImplementedError


def pricing_context(builder: V2Builder, request: Request) -> dict[str, Any]:
    raise NotImplementedError


def sla_context(builder: V2Builder, request: Request) -> dict[str, Any]:
    raise NotImplementedError
