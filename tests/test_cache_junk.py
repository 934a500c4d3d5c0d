"""Query strings a page does not read: one cache entry per canonical address, a last good copy
no flood of junk addresses can push out, and a 503 (never a 500) for an address never rendered
while the database is unreachable."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine
from starlette.applications import Starlette
from starlette.testclient import TestClient

from statuspage.context import WriteContext
from statuspage.incidents import service as incidents
from statuspage.runtime import Runtime
from statuspage.web.app import QUERY_PARAMETERS, create_app
from statuspage.web.cache import LastGood, Produced, Rendered
from statuspage.web.fastpath import CACHE_KEY, CacheKeys

Response = tuple[int, dict[str, str], bytes]
UNREACHABLE = "postgresql+psycopg://nobody@127.0.0.1:1/none"


async def asgi_get(app: Starlette, target: str, headers: dict[str, str] | None = None) -> Response:
    """One GET straight through the ASGI interface (a flood through TestClient takes seconds)."""
    path, _, query = target.partition("?")
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
        "path": path, "raw_path": path.encode(), "root_path": "", "query_string": query.encode(),
        "headers": [(b"host", b"testserver"), *((k.encode(), v.encode()) for k, v in (headers or {}).items())],
        "client": ("127.0.0.1", 50000), "server": ("testserver", 80),
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    start = sent[0]
    return start["status"], {k.decode(): v.decode() for k, v in start["headers"]}, b"".join(m.get("body", b"") for m in sent[1:])


class Site:
    """An app whose version is read once a minute (so that only the outage makes it re-read)."""

    def __init__(self, runtime: Runtime, client: TestClient, app: Starlette) -> None:
        self.runtime, self.client, self.app = runtime, client, app
        self.site = app.state.site
        self.cache = self.site.cache

    def flood(self, targets: list[str], headers: dict[str, str] | None = None) -> list[Response]:
        async def run() -> list[Response]:
            return [await asgi_get(self.app, target, headers) for target in targets]

        call: Callable[[Callable[[], Awaitable[list[Response]]]], list[Response]] = self.client.portal.call
        return call(run)

    def database_down(self) -> Any:
        healthy = self.site.engine
        self.site.engine = create_engine(UNREACHABLE, pool_pre_ping=False)
        self.cache.watcher.invalidate()
        self.cache.max_age = 0  # expired too: only the last good copy can answer
        return healthy

    def database_back(self, healthy: Any) -> None:
        self.site.engine.dispose()
        self.site.engine = healthy
        self.cache.max_age = 30.0
        self.cache.watcher.invalidate()


@pytest.fixture
def site(runtime: Runtime) -> Iterator[Site]:
    app = create_app(runtime.settings, runtime.engine, clock=runtime.clock, version_check_interval=60)
    with TestClient(app) as client:
        yield Site(runtime, client, app)


@pytest.fixture
def incident_id(ctx: WriteContext) -> int:
    incident = incidents.declare(ctx=ctx, severity=2, title="Slow dashboards", components=["web"])
    assert incident.id is not None
    return incident.id


def test_a_flood_of_junk_queries_is_served_from_the_canonical_entries(site: Site, incident_id: int) -> None:
    page = f"/incidents/{incident_id}"
    first = {path: site.client.get(path) for path in ("/", page)}
    renders = site.cache.renders
    answered = site.flood([f"/?cb={n}" for n in range(2000)] + [f"{page}?x={n}" for n in range(2000)])
    assert {status for status, _, _ in answered} == {200}
    assert answered[1999][2] == first["/"].content and answered[-1][2] == first[page].content
    assert site.cache.renders == renders  # every one a hit
    assert set(site.cache._entries) == {"/", page}
    assert len(site.cache.last_good) == 2
    # Revalidations of junk addresses are the canonical page's 304, from the fast path.
    spy: list[str] = []
    answer = site.site.answers.answer
    site.site.answers.answer = lambda scope: spy.append(scope[CACHE_KEY]) or answer(scope)
    again = site.flood([f"/?cb=r{n}" for n in range(200)], {"if-none-match": first["/"].headers["etag"]})
    assert {status for status, _, _ in again} == {304} and spy == ["/"] * 200


VARIANTS = [
    ("/", "/?utm_source=x"),
    ("/index.json", "/index.json?cb=1&cb=2"),
    ("/api/v2/summary.json", "/api/v2/summary.json?_=1700000000"),
    ("/history", "/history?page=1"),
    ("/history", "/history?page=&component=&utm_medium=mail"),
    ("/history?page=2", "/history?utm=1&page=02"),
    ("/history.json?component=api&page=2", "/history.json?page=2&component=API&x=1"),
    ("/history.atom?component=api", "/history.atom?component=web&component=api"),
    ("/badge.svg", "/badge.svg?style=flat"),
    ("/incidents/{id}", "/incidents/00{id}?ref=mail"),
    ("/incidents/{id}.json", "/incidents/{id}.json?fbclid=abc"),
]


def test_a_variant_is_the_canonical_page(site: Site, incident_id: int) -> None:
    for canonical, variant in VARIANTS:
        canonical, variant = canonical.format(id=incident_id), variant.format(id=incident_id)
        want = site.client.get(canonical)
        renders = site.cache.renders
        got = site.client.get(variant)
        assert (got.status_code, got.content, got.headers["etag"]) == (200, want.content, want.headers["etag"]), variant
        assert site.cache.renders == renders, variant
    # The parameters a page reads still make another page.
    for plain, varied in [("/history", "/history?page=2"), ("/history.json", "/history.json?component=api")]:
        assert site.client.get(plain).content != site.client.get(varied).content
    assert site.client.get("/history.rss").content != site.client.get("/history.rss?component=api").content


def test_refused_values_keep_their_errors_and_cannot_push_pages_out(site: Site) -> None:
    good = site.client.get("/history")
    site.cache.max_entries = 16
    refused = site.flood([f"/history?page=x{n}" for n in range(40)] + [f"/badge.svg?component=nope{n}" for n in range(40)])
    assert {status for status, _, _ in refused} == {400, 404}
    assert b"x39" in refused[39][2]  # the 400 still quotes what was asked
    assert len(site.cache._entries) <= 16 and "/history" not in site.cache._entries
    renders = site.cache.renders
    again = site.client.get("/history")  # current, from the last good copies
    assert again.content == good.content and site.cache.renders == renders
    assert site.client.get("/history?page=0").status_code == 400
    assert site.client.get("/history.json?component=NOPE").json()["status"] == 404


def test_after_a_flood_an_outage_serves_the_last_good_copies(site: Site, incident_id: int) -> None:
    paths = ["/", f"/incidents/{incident_id}", "/history", "/api/v2/summary.json", "/history.atom"]
    good = {path: site.client.get(path) for path in paths}
    site.cache.max_entries = 16
    site.flood([f"/?cb={n}" for n in range(500)] + [f"/incidents/{n}" for n in range(10_000, 10_040)])
    assert not set(paths) & set(site.cache._entries)  # the LRU holds only the junk now
    healthy = site.database_down()
    try:
        for path in paths:
            during = site.client.get(f"{path}?cb=outage")
            assert during.status_code == 200, path
            assert (during.content, during.headers["etag"]) == (good[path].content, good[path].headers["etag"])
            assert during.headers["cache-control"] == good[path].headers["cache-control"]
        assert site.cache.watcher.failing
    finally:
        site.database_back(healthy)
    assert site.client.get("/history").status_code == 200


def check_unavailable(client: TestClient) -> None:
    for path in ("/sla", "/incidents/1"):
        page = client.get(path)
        assert page.status_code == 503, path
        assert page.headers["content-type"].startswith("text/html") and "Temporarily unavailable" in page.text
        assert page.headers["retry-after"] == "5" and page.headers["cache-control"] == "no-store"
    for path in ("/sla.json", "/api/v2/components.json", "/history.rss"):
        problem = client.get(path)
        assert problem.status_code == 503, path
        assert problem.headers["content-type"] == "application/problem+json"
        assert problem.json()["status"] == 503 and int(problem.headers["retry-after"]) > 0


def test_never_rendered_during_an_outage_is_503(site: Site) -> None:
    site.client.get("/")
    healthy = site.database_down()
    try:
        check_unavailable(site.client)
        assert site.client.get("/").status_code == 200  # rendered before: the last good copy
    finally:
        site.database_back(healthy)
    assert site.client.get("/sla").status_code == 200


def test_a_process_starting_during_an_outage_answers_503(runtime: Runtime) -> None:
    app = create_app(runtime.settings, create_engine(UNREACHABLE), clock=runtime.clock, version_check_interval=60)
    with TestClient(app) as client:
        check_unavailable(client)
        assert client.get("/").status_code == 503
        assert client.get("/healthz").status_code == 503


def test_last_good_evicts_views_before_pages() -> None:
    store = LastGood(max_entries=3)
    entry = Rendered.make(1, Produced(b"x", "text/plain"), 0.0)
    store.put("/", entry, "page")
    for key in ("/incidents/1", "/incidents/2", "/history?page=2"):
        store.put(key, entry, "view")
    assert store.get("/") is entry and store.get("/incidents/1") is None and len(store) == 3
    store.discard("/incidents/2")
    assert len(store) == 2 and store.bytes == 2 * entry.size


def test_the_canonical_request_is_a_copy() -> None:
    keys = CacheKeys()
    keys.register("/history", QUERY_PARAMETERS["/history"])
    scope = {"type": "http", "path": "/history", "query_string": b"utm=1&page=3"}
    canonical = keys.canonical(scope)
    assert canonical["query_string"] == b"page=3" and canonical[CACHE_KEY] == "/history?page=3"
    assert scope["query_string"] == b"utm=1&page=3"  # what the server logs
    assert keys.canonical({"path": "/admin", "query_string": b"x=1"}) == {"path": "/admin", "query_string": b"x=1"}


def test_every_parameter_a_page_reads_is_part_of_its_key() -> None:
    web = Path(__file__).resolve().parent.parent / "statuspage" / "web"
    read = set()
    for module in ("pages.py", "feeds.py", "embed.py"):
        source = (web / module).read_text() if (web / module).exists() else ""
        read |= set(re.findall(r"query_params(?:\.get\(|\[)\s*[\"'](\w+)[\"']", source))
    assert read and read <= {name for params in QUERY_PARAMETERS.values() for name in params}
