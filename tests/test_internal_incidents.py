"""Internal incidents (opened from alerts) are responders' business only: no public output shows
them, and they change no public status, until a person publishes them. Every public route of the
app is read, so a route added later is checked too."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlmodel import col, select
from starlette.applications import Starlette
from starlette.routing import Route
from starlette.testclient import TestClient

from statuspage.db.models import Incident, OutboxMessage, PageSent
from statuspage.incidents import service as incidents
from statuspage.incidents import visibility
from statuspage.runtime import Runtime
from statuspage.web.app import create_app
from statuspage.webhooks import service as webhooks

TITLE = "Zebra-Quokka-4417 replica lag"
# Not the public's: the admin API, alert intake, Slack's callbacks, the load balancer's check.
NOT_PUBLIC = ("/api/admin/", "/api/integrations/", "/slack/", "/healthz", "/static")
# Views of the same routes filtered by component.
FILTERED = ["/history?component=api", "/history.json?component=api", "/history.atom?component=api", "/history.rss?component=api", "/badge.svg?component=api"]
# Where a public incident's title is shown.
SHOWN_ON = {
    "/", "/index.json", "/history", "/history.json", "/history.atom", "/history.rss", "/sla", "/sla.json",
    "/api/v2/summary.json", "/api/v2/incidents.json", "/api/v2/incidents/unresolved.json",
    "/history?component=api", "/history.json?component=api", "/history.atom?component=api", "/history.rss?component=api",
}


@pytest.fixture
def app(runtime: Runtime) -> Starlette:
    return create_app(runtime.settings, runtime.engine, clock=runtime.clock, version_check_interval=0)


@pytest.fixture
def client(app: Starlette) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


def public_paths(app: Starlette, incident_id: int) -> list[str]:
    """Every GET route of the app but those above, the incident's id filled in (any other path
    parameter, a responder's link say, is given a value that names nothing)."""
    paths = []
    for route in app.routes:
        if not isinstance(route, Route) or route.path.startswith(NOT_PUBLIC) or "GET" not in (route.methods or ()):
            continue
        paths.append(re.sub(r"\{\w+\}", "unknown", route.path.replace("{incident_id}", str(incident_id))))
    return paths + FILTERED


def open_internal_incident(client: TestClient, make_token: Callable[..., str]) -> int:
    body = {"status": "firing", "key": "replica-lag", "title": TITLE, "labels": {"severity": "critical"}, "component": "api"}
    response = client.post("/api/integrations/generic", json=body, headers={"authorization": f"Bearer {make_token('monitoring', 'alerts')}"})
    assert response.status_code == 200, response.text
    (incident_id,) = response.json()["incidents"]
    return int(incident_id)


def v2_incident_ids(client: TestClient) -> set[str]:
    ids: set[str] = set()
    for name in ("summary", "incidents", "incidents/unresolved"):
        ids |= {i["id"] for i in client.get(f"/api/v2/{name}.json").json()["incidents"]}
    return ids


def test_an_internal_incident_is_on_no_public_output_until_published(
    app: Starlette, client: TestClient, runtime: Runtime, make_token: Callable[..., str], make_ctx: Any
) -> None:
    webhooks.subscribe(ctx=make_ctx("root"), url="https://hooks.example.com/status")
    incident_id = open_internal_incident(client, make_token)
    # Five hours on: it has missed its Sev-1 targets, which /sla would list were it public.
    runtime.clock.advance(hours=5)  # type: ignore[attr-defined]
    paths = public_paths(app, incident_id)
    assert {"/", "/api/v2/summary.json", "/history.atom", "/history.rss", "/badge.svg", "/sla", f"/incidents/{incident_id}"} <= set(paths)

    missing = client.get("/incidents/999999.json").json()
    for path in paths:
        response = client.get(path)
        assert TITLE not in response.text, path
        if path.startswith(f"/incidents/{incident_id}"):
            # Answered as an incident that does not exist is.
            assert response.status_code == 404, path
        elif "unknown" not in path:
            assert response.status_code == 200, (path, response.text)
    gone = client.get(f"/incidents/{incident_id}.json").json()
    assert gone["detail"] == missing["detail"].replace("999999", str(incident_id))
    assert str(incident_id) not in v2_incident_ids(client)
    # Nothing public moved: the page, the component, the badge.
    assert client.get("/api/v2/status.json").json()["status"]["indicator"] == "none"
    api = next(c for c in client.get("/api/v2/components.json").json()["components"] if c["id"] == "api")
    assert api["status"] == "operational"
    assert "operational" in client.get("/badge.svg").text
    with runtime.session() as session:
        assert session.exec(select(OutboxMessage).where(col(OutboxMessage.channel) == "webhook")).all() == []
        # Responders still get it: pages, Slack, the admin API.
        assert session.exec(select(PageSent).where(col(PageSent.incident_id) == incident_id)).all()
        assert session.exec(select(OutboxMessage).where(col(OutboxMessage.channel) == "slack")).all()
    admin = client.get("/api/admin/v1/incidents", headers={"authorization": f"Bearer {make_token('dashboard', 'read')}"})
    assert TITLE in admin.text

    _, changes = visibility.publish(ctx=make_ctx("alice"), incident_id=incident_id)
    assert [(c["code"], c["new_status"]) for c in changes] == [("api", "major_outage")]
    for path in paths:
        response = client.get(path)
        assert response.status_code == 200 or "unknown" in path, (path, response.text)
        if path in SHOWN_ON or path.startswith(f"/incidents/{incident_id}"):
            assert TITLE in response.text, path
    assert str(incident_id) in v2_incident_ids(client)
    assert client.get("/api/v2/status.json").json()["status"]["indicator"] == "critical"
    assert "major outage" in client.get("/badge.svg").text
    with runtime.session() as session:
        sent = session.exec(select(OutboxMessage).where(col(OutboxMessage.channel) == "webhook")).all()
    assert [(m.event, m.payload["incident"]["name"]) for m in sent] == [("incident.created", TITLE)]


def test_an_internal_incident_resolved_before_anyone_saw_it_leaves_no_public_trace(
    app: Starlette, client: TestClient, runtime: Runtime, make_token: Callable[..., str], make_ctx: Any
) -> None:
    incident_id = open_internal_incident(client, make_token)
    runtime.clock.advance(minutes=30)  # type: ignore[attr-defined]
    incidents.resolve(ctx=make_ctx("alice"), incident_id=incident_id, message="Replica caught up.")
    for path in public_paths(app, incident_id):
        assert TITLE not in client.get(path).text, path
    uptime = client.get("/index.json").json()["uptime"]["api"]["days"]
    assert all(day["incidents"] == [] and day["status"] == "operational" for day in uptime if day["status"])


def test_a_declared_incident_is_public_and_cannot_be_published_again(make_ctx: Any, runtime: Runtime) -> None:
    from statuspage.errors import Conflict

    incident = incidents.declare(ctx=make_ctx("alice"), severity=2, title="Slow dashboards", components=["web"])
    assert incident.internal is False
    with pytest.raises(Conflict, match="already public"):
        visibility.publish(ctx=make_ctx("alice"), incident_id=incident.id or 0)
    with runtime.session() as session:
        assert session.get(Incident, incident.id).internal is False  # type: ignore[union-attr]
