"""The public site, read as a customer's browser and a third-party client would read it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bs4 import BeautifulSoup
from jsonschema import Draft202012Validator, FormatChecker
from starlette.testclient import TestClient

from statuspage.context import WriteContext
from statuspage.incidents import service as incidents
from statuspage.runtime import Runtime
from statuspage.web.app import create_app

SCHEMA = json.loads((Path(__file__).parent / "schemas" / "statuspage_v2.schema.json").read_text())
XSS = ["<script>alert(1)</script>", '"><img src=x onerror=alert(1)>', "]]>", "{{ 7*7 }}"]


def validator(definition: str) -> Draft202012Validator:
    return Draft202012Validator({"$ref": f"#/$defs/{definition}", "$defs": SCHEMA["$defs"]}, format_checker=FormatChecker())


def assert_valid(definition: str, data: Any) -> None:
    errors = sorted(validator(definition).iter_errors(data), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:10])


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime.settings, runtime.engine, clock=runtime.clock, version_check_interval=0)) as test_client:
        yield test_client


def soup(response: Any) -> BeautifulSoup:
    assert response.headers["content-type"].startswith("text/html")
    return BeautifulSoup(response.text, "html.parser")


def test_quiet_page_is_all_operational(client: TestClient) -> None:
    data = client.get("/api/v2/summary.json").json()
    assert_valid("summary", data)
    assert data["status"] == {"indicator": "none", "description": "All Systems Operational"}
    assert data["incidents"] == []
    assert {c["status"] for c in data["components"]} == {"operational"}
    page = soup(client.get("/"))
    assert page.select_one(".banner h1").get_text(strip=True) == "All Systems Operational"
    assert page.select_one("#open-incidents") is None


def test_sev1_appears_at_once_with_indicator_and_component_status(client: TestClient, ctx: WriteContext) -> None:
    incidents.declare(ctx=ctx, severity=1, title="Checkout failing", components=["api"], message="Payments fail.")
    data = client.get("/api/v2/summary.json").json()
    assert_valid("summary", data)
    assert data["status"] == {"indicator": "critical", "description": "Major System Outage"}
    api = next(c for c in data["components"] if c["id"] == "api")
    assert api["status"] == "major_outage"
    platform = next(c for c in data["components"] if c["id"] == "platform")
    assert platform["group"] is True and "api" in platform["components"] and platform["status"] == "major_outage"
    (incident,) = data["incidents"]
    assert incident["name"] == "Checkout failing"
    assert incident["status"] == "investigating" and incident["impact"] == "critical"
    assert incident["shortlink"] == "http://127.0.0.1:8000/incidents/1"
    assert incident["incident_updates"][0]["body"] == "Payments fail."
    assert incident["incident_updates"][0]["affected_components"] == [
        {"code": "api", "name": "API", "old_status": "operational", "new_status": "major_outage"}
    ]
    status = client.get("/api/v2/status.json").json()
    assert_valid("status_endpoint", status)
    assert status["status"]["indicator"] == "critical"

    page = soup(client.get("/"))
    assert page.select_one(".banner h1").get_text(strip=True) == "Major System Outage"
    article = page.select_one("#open-incidents article")
    assert article.select_one("h3").get_text(strip=True) == "Checkout failing"
    assert article.select_one(".timeline .body").get_text(strip=True) == "Payments fail."
    api_row = page.select_one("#component-api")
    assert api_row.select_one(".status").get_text(strip=True) == "Major outage"


@pytest.mark.parametrize(("severity", "indicator", "description"), [(2, "major", "Partial System Outage"), (3, "minor", "Minor Service Outage")])
def test_indicator_follows_severity(client: TestClient, ctx: WriteContext, severity: int, indicator: str, description: str) -> None:
    incidents.declare(ctx=ctx, severity=severity, title="x", components=["web"])
    assert client.get("/api/v2/status.json").json()["status"] == {"indicator": indicator, "description": description}


def test_resolved_incident_leaves_the_front_page(client: TestClient, ctx: WriteContext) -> None:
    incident = incidents.declare(ctx=ctx, severity=1, title="Gone soon", components=["api"])
    incidents.resolve(ctx=ctx, incident_id=incident.id or 0, message="Fixed.")
    data = client.get("/api/v2/summary.json").json()
    assert data["incidents"] == [] and data["status"]["indicator"] == "none"
    permalink = soup(client.get("/incidents/1"))
    assert permalink.select_one("h1").get_text(strip=True) == "Gone soon"
    assert [li.select_one(".update-status").get_text() for li in permalink.select(".timeline li")] == [
        "Resolved", "Investigating", "Detected"
    ]


def test_times_carry_offsets_in_page_time_zone(client: TestClient, ctx: WriteContext) -> None:
    incidents.declare(ctx=ctx, severity=1, title="x", components=["api"])
    incident = client.get("/api/v2/summary.json").json()["incidents"][0]
    assert incident["created_at"] == "2026-11-25T03:00:00.000-05:00"  # 08:00 UTC in New York
    time_element = soup(client.get("/")).select_one("#open-incidents time")
    assert time_element["datetime"] == "2026-11-25T08:00:00Z"  # the machine-readable value is UTC
    assert time_element.get_text() == "Nov 25, 2026 03:00 EST"


def test_scheduled_maintenance_is_listed(client: TestClient, ctx: WriteContext) -> None:
    from datetime import timedelta

    from statuspage.maintenance import service as maintenance

    now = ctx.now()
    maintenance.schedule(ctx=ctx, title="DB upgrade", components=["api"], scheduled_for=now + timedelta(days=1), scheduled_until=now + timedelta(days=1, hours=2))
    data = client.get("/api/v2/summary.json").json()
    assert_valid("summary", data)
    (window,) = data["scheduled_maintenances"]
    assert (window["name"], window["status"], window["impact"]) == ("DB upgrade", "scheduled", "maintenance")
    assert soup(client.get("/")).select_one("#maintenance article h3").get_text() == "DB upgrade"


@pytest.mark.parametrize("payload", XSS)
def test_untrusted_text_is_escaped_everywhere(client: TestClient, ctx: WriteContext, payload: str) -> None:
    incidents.declare(ctx=ctx, severity=1, title=payload, components=["api"], message=payload)
    for path in ("/", "/incidents/1"):
        response = client.get(path)
        page = soup(response)
        assert [s.get("src") for s in page.find_all("script")] == ["/static/live.js"]  # the site's own only
        assert page.find("img") is None
        assert payload in page.get_text()
        assert "<script>alert" not in response.text
    raw = client.get("/api/v2/summary.json").text
    assert "<" not in raw and ">" not in raw
    assert json.loads(raw)["incidents"][0]["name"] == payload


def test_security_headers(client: TestClient) -> None:
    headers = client.get("/").headers
    assert "script-src 'self';" in headers["content-security-policy"]  # no inline code, no other origin
    assert "unsafe" not in headers["content-security-policy"]
    assert "default-src 'none'" in headers["content-security-policy"]
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "strict-origin-when-cross-origin"


def test_page_has_landmarks_and_status_words(client: TestClient, ctx: WriteContext) -> None:
    incidents.declare(ctx=ctx, severity=2, title="x", components=["web"])
    page = soup(client.get("/"))
    assert page.find("main") and page.find("header") and page.find("footer") and page.find("nav")
    assert page.html["lang"] == "en"
    assert len(page.find_all("h1")) == 1
    # Status is given in words, not only colour.
    assert page.select_one("#component-web .status").get_text(strip=True) == "Partial outage"
    assert page.select_one("details.group summary")  # groups collapse without JavaScript


def test_unknown_incident_is_a_404_page(client: TestClient) -> None:
    response = client.get("/incidents/999")
    assert response.status_code == 404
    assert "no incident 999" in soup(response).get_text()
    assert client.get("/incidents/999.json").json()["status"] == 404


def test_unknown_api_path_is_problem_json(client: TestClient) -> None:
    response = client.get("/api/v2/nothing.json")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["title"] == "Not found"


def test_incident_json_twin(client: TestClient, ctx: WriteContext) -> None:
    incidents.declare(ctx=ctx, severity=1, title="Twin", components=["api"])
    data = client.get("/incidents/1.json").json()
    assert_valid("incident", data["incident"])
    assert data["incident"]["name"] == "Twin"


def test_healthz(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200 and response.text == "ok\n"


def test_static_stylesheet_is_served(client: TestClient) -> None:
    response = client.get("/static/style.css")
    assert response.status_code == 200 and ".banner" in response.text


V2_LISTS = {
    "components": ("components_endpoint", "components"),
    "incidents": ("incidents_endpoint", "incidents"),
    "incidents/unresolved": ("incidents_endpoint", "incidents"),
    "scheduled-maintenances": ("maintenances_endpoint", "scheduled_maintenances"),
    "scheduled-maintenances/upcoming": ("maintenances_endpoint", "scheduled_maintenances"),
    "scheduled-maintenances/active": ("maintenances_endpoint", "scheduled_maintenances"),
}


def test_every_v2_endpoint_follows_the_format(client: TestClient, ctx: WriteContext) -> None:
    from datetime import timedelta

    from statuspage.maintenance import service as maintenance

    now = ctx.now()
    open_one = incidents.declare(ctx=ctx, severity=2, title="Slow API", components=["api"])
    closed = incidents.declare(ctx=ctx, severity=3, title="Late emails", components=["notifications"])
    incidents.resolve(ctx=ctx, incident_id=closed.id or 0, message="Done.")
    upcoming = maintenance.schedule(
        ctx=ctx, title="DB upgrade", components=["web"], scheduled_for=now + timedelta(days=2), scheduled_until=now + timedelta(days=2, hours=1)
    )
    active = maintenance.schedule(
        ctx=ctx, title="Network work", components=["auth"], scheduled_for=now + timedelta(minutes=1), scheduled_until=now + timedelta(hours=1)
    )
    maintenance.set_status(ctx=ctx, maintenance_id=active.id or 0, status="in_progress")
    seen: dict[str, list[str]] = {}
    for name, (definition, key) in V2_LISTS.items():
        data = client.get(f"/api/v2/{name}.json").json()
        assert_valid(definition, data)
        seen[name] = [item["name"] for item in data[key]]
    assert seen["incidents"] == ["Late emails", "Slow API"]
    assert seen["incidents/unresolved"] == ["Slow API"]
    assert set(seen["scheduled-maintenances"]) == {"DB upgrade", "Network work"}
    assert seen["scheduled-maintenances/upcoming"] == ["DB upgrade"]
    assert seen["scheduled-maintenances/active"] == ["Network work"]
    assert "API" in seen["components"] and "Platform" in seen["components"]
    assert open_one.id and upcoming.id
