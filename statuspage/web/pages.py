"""Page contexts. Each HTML page is its JSON twin plus layout; templates only format."""

from __future__ import annotations

from typing import Any

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


def index_context(builder: V2Builder) -> dict[str, Any]:
    summary = builder.summary()
    return {"summary": summary, "sections": layout(summary["components"])}


def incident_context(builder: V2Builder, incident_id: str) -> dict[str, Any]:
    incident = incidents.get(session=builder.session, incident_id=incident_id)
    (data,) = builder.incidents_json([incident])
    return {"summary": {"page": builder.page_json()}, "incident": data}
