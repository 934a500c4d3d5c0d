"""Cross-origin reads: the public read addresses answer any origin (304s and 404 problems too,
and preflights); the pages, the admin API, the integrations, Slack, subscribing and
acknowledging answer none. And ``/embed``, the one page any site may frame."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from statuspage.context import WriteContext
from statuspage.incidents import service as incidents
from statuspage.runtime import Runtime
from statuspage.web.admin.calls import PREFIX
from statuspage.web.app import create_app

ORIGIN = {"origin": "https://customer.example"}
PUBLIC = [
    "/api/v2/summary.json", "/api/v2/scheduled-maintenances/upcoming.json",
    "/index.json", "/history.json", "/sla.json", "/pricing.json", "/incidents/1.json",
    "/history.atom", "/history.rss", "/badge.svg", "/embed.js",
]


@pytest.fixture
def app(runtime: Runtime, ctx: WriteContext) -> Starlette:
    """An app with an open incident whose version is re-read once a minute, so that the fast path
    answers revalidations; the paths it answered are in ``app.state.fast``."""
    incidents.declare(ctx=ctx, severity=1, title="Checkout failing", components=["api"], message="Payments fail.")
    app = create_app(runtime.settings, runtime.engine, clock=runtime.clock, version_check_interval=60)
    answers = app.state.site.answers
    answer: Callable[[Any], Any] = answers.answer
    app.state.fast = []

    def spy(scope: Any) -> Any:
        headers = answer(scope)
        if headers is not None:
            app.state.fast.append(scope["path"])
        return headers

    answers.answer = spy
    return app


@pytest.fixture
def client(app: Starlette) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


def test_public_reads_answer_any_origin_including_304s(app: Starlette, client: TestClient) -> None:
    for path in PUBLIC:
        first = client.get(path, headers=ORIGIN)
        assert first.status_code == 200, path
        assert first.headers.get_list("access-control-allow-origin") == ["*"], path
        assert first.headers["access-control-expose-headers"] == "ETag", path
        again = client.get(path, headers={**ORIGIN, "if-none-match": first.headers["etag"]})
        assert again.status_code == 304, path
        assert again.headers.get_list("access-control-allow-origin") == ["*"], path
    assert app.state.fast == PUBLIC  # every 304 above came from the fast path, with the header
    head = client.head("/api/v2/status.json", headers=ORIGIN)
    assert head.status_code == 200 and head.headers["access-control-allow-origin"] == "*"


def test_a_missing_public_read_is_a_readable_404_problem(client: TestClient) -> None:
    for path in ("/api/v2/nope.json", "/incidents/999.json"):
        response = client.get(path, headers=ORIGIN)
        assert response.status_code == 404, path
        assert response.headers["content-type"] == "application/problem+json", path
        assert response.headers["access-control-allow-origin"] == "*", path


def test_preflight_allows_reads_with_safe_headers_only(client: TestClient) -> None:
    for path in ("/api/v2/summary.json", "/incidents/1.json", "/history.atom"):
        response = client.options(path, headers={
            **ORIGIN, "access-control-request-method": "GET",
            "access-control-request-headers": "If-None-Match, cache-control, X-Api-Key, authorization",
        })
        assert response.status_code == 204 and response.content == b"", path
        assert response.headers["access-control-allow-origin"] == "*"
        assert response.headers["access-control-allow-methods"] == "GET, HEAD, OPTIONS"
        assert response.headers["access-control-allow-headers"] == "if-none-match, cache-control"
        assert response.headers["access-control-max-age"] == "86400"
        assert response.headers["x-content-type-options"] == "nosniff"
    bare = client.options("/api/v2/status.json", headers={**ORIGIN, "access-control-request-method": "GET"})
    assert bare.status_code == 204 and "access-control-allow-headers" not in bare.headers


NOT_PUBLIC = [
    ("GET", "/"), ("GET", "/incidents/1"), ("GET", "/history"), ("GET", "/embed"), ("GET", "/static/style.css"),
    ("GET", f"{PREFIX}/incidents"), ("GET", f"{PREFIX}/openapi.json"), ("OPTIONS", f"{PREFIX}/incidents"),
    ("POST", "/api/integrations/generic"), ("OPTIONS", "/api/integrations/generic"),
    ("POST", "/slack/actions"), ("GET", "/subscribe"), ("OPTIONS", "/subscribe"), ("GET", "/ack/nope"),
    ("POST", "/api/v2/summary.json"),
]


def test_everything_else_is_not_readable_cross_origin(client: TestClient) -> None:
    for method, path in NOT_PUBLIC:
        response = client.request(method, path, headers={**ORIGIN, "access-control-request-method": "POST"})
        assert not any(name.startswith("access-control-") for name in response.headers), (method, path, response.headers)


def test_embed_can_be_framed_by_any_site_and_the_pages_cannot(client: TestClient) -> None:
    frame = client.get("/embed")
    csp = frame.headers["content-security-policy"]
    assert "frame-ancestors *" in csp and "script-src" not in csp and "x-frame-options" not in frame.headers
    assert "Checkout failing" in frame.text and 'href="/incidents/1" target="_blank"' in frame.text
    page = client.get("/").headers
    assert "frame-ancestors 'none'" in page["content-security-policy"] and page["x-frame-options"] == "DENY"
    script = client.get("/embed.js")
    assert script.headers["content-type"] == "text/javascript; charset=utf-8"
    assert script.headers["cache-control"].startswith("public, max-age=3600")
    assert "innerHTML" not in script.text and "api/v2/summary.json" in script.text
