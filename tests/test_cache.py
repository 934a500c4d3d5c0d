"""The page cache as a crowd and a CDN see it: validators, compression, and freshness across
processes that share one database."""

from __future__ import annotations

import gzip
import time
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from statuspage.context import WriteContext
from statuspage.incidents import service as incidents
from statuspage.runtime import Runtime
from statuspage.web.app import create_app

CACHED_PATHS = ["/", "/index.json", "/history", "/pricing", "/api/v2/summary.json", "/api/v2/status.json"]


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime.settings, runtime.engine, clock=runtime.clock, version_check_interval=0)) as c:
        yield c


@pytest.mark.parametrize("path", CACHED_PATHS)
def test_etag_and_304(client: TestClient, path: str) -> None:
    first = client.get(path)
    assert first.status_code == 200
    etag = first.headers["etag"]
    assert etag.startswith('"') and etag.endswith('"')
    assert "public" in first.headers["cache-control"] and "max-age=" in first.headers["cache-control"]
    assert "stale-while-revalidate" in first.headers["cache-control"]
    again = client.get(path, headers={"if-none-match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag


def test_a_write_changes_the_etag_and_the_body(client: TestClient, ctx: WriteContext) -> None:
    before = client.get("/api/v2/summary.json")
    incidents.declare(ctx=ctx, severity=2, title="Slow dashboards", components=["web"])
    after = client.get("/api/v2/summary.json", headers={"if-none-match": before.headers["etag"]})
    assert after.status_code == 200
    assert after.headers["etag"] != before.headers["etag"]
    assert after.json()["incidents"][0]["name"] == "Slow dashboards"


def test_gzip_when_asked_and_identity_otherwise(client: TestClient) -> None:
    zipped = client.get("/", headers={"accept-encoding": "gzip"})
    assert zipped.headers["content-encoding"] == "gzip"
    assert "Accept-Encoding" in zipped.headers["vary"]
    plain = client.get("/", headers={"accept-encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert zipped.text == plain.text  # the client decompressed it
    # Each representation has its own strong validator, and either revalidates.
    assert zipped.headers["etag"] != plain.headers["etag"]
    raw = client.get("/", headers={"accept-encoding": "gzip", "if-none-match": plain.headers["etag"]})
    assert raw.status_code == 304


def test_gzip_body_is_real_gzip(runtime: Runtime) -> None:
    app = create_app(runtime.settings, runtime.engine, clock=runtime.clock, version_check_interval=0)
    with TestClient(app) as c:
        c.get("/")
        site = app.state.site
        (entry,) = [e for k, e in site.cache._entries.items() if k == "/"]
        assert entry.gzipped is not None
        assert gzip.decompress(entry.gzipped) == entry.produced.body


def test_repeated_requests_render_once(runtime: Runtime) -> None:
    app = create_app(runtime.settings, runtime.engine, clock=runtime.clock, version_check_interval=0)
    with TestClient(app) as c:
        for _ in range(20):
            assert c.get("/").status_code == 200
        assert app.state.site.cache.renders == 1


def test_two_processes_on_one_database_see_a_write_within_a_second(runtime: Runtime, ctx: WriteContext) -> None:
    """Two app instances stand for two uvicorn workers: each caches, each notices the write."""
    apps = [create_app(runtime.settings, runtime.engine, clock=runtime.clock, version_check_interval=0.3) for _ in range(2)]
    with TestClient(apps[0]) as first, TestClient(apps[1]) as second:
        for c in (first, second):
            assert c.get("/api/v2/status.json").json()["status"]["indicator"] == "none"
        incidents.declare(ctx=ctx, severity=1, title="Checkout failing", components=["checkout"])
        deadline = time.monotonic() + 1.0
        seen = {0: False, 1: False}
        while not all(seen.values()) and time.monotonic() < deadline:
            for index, c in enumerate((first, second)):
                seen[index] = seen[index] or c.get("/api/v2/status.json").json()["status"]["indicator"] == "critical"
            time.sleep(0.05)
        assert seen == {0: True, 1: True}


def test_between_checks_the_cached_copy_is_served(runtime: Runtime, ctx: WriteContext) -> None:
    """The version is not read on every request (that would cost most of the throughput)."""
    app = create_app(runtime.settings, runtime.engine, clock=runtime.clock, version_check_interval=60)
    with TestClient(app) as c:
        assert c.get("/api/v2/status.json").json()["status"]["indicator"] == "none"
        incidents.declare(ctx=ctx, severity=1, title="Checkout failing", components=["checkout"])
        assert c.get("/api/v2/status.json").json()["status"]["indicator"] == "none"
        app.state.site.cache.watcher.invalidate()
        assert c.get("/api/v2/status.json").json()["status"]["indicator"] == "critical"


def test_query_strings_cannot_grow_the_cache_without_bound(runtime: Runtime) -> None:
    app = create_app(runtime.settings, runtime.engine, clock=runtime.clock, version_check_interval=0)
    cache = app.state.site.cache
    cache.max_entries = 5
    with TestClient(app) as c:
        for n in range(12):
            c.get(f"/api/v2/status.json?n={n}")  # a parameter the page does not read: one entry
        assert len(cache._entries) == 1
        for n in range(12):
            c.get(f"/history?page={n}")  # one the page reads: one entry per page, in the bounded LRU
    assert len(cache._entries) == 5


def test_error_pages_are_not_revalidated_as_200(client: TestClient) -> None:
    missing = client.get("/incidents/999")
    assert missing.status_code == 404
    assert client.get("/incidents/999", headers={"if-none-match": missing.headers["etag"]}).status_code == 404


def test_last_good_page_is_served_while_the_database_is_down(runtime: Runtime, ctx: WriteContext) -> None:
    from sqlalchemy import create_engine

    app = create_app(runtime.settings, runtime.engine, clock=runtime.clock, version_check_interval=0)
    site = app.state.site
    with TestClient(app) as c:
        good = c.get("/api/v2/summary.json")
        assert good.status_code == 200
        healthy_engine = site.engine
        # Every new connection now fails, as when the database server is gone.
        site.engine = create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none", pool_pre_ping=False)
        site.cache.max_age = 0  # even an expired copy is better than an error
        try:
            during = c.get("/api/v2/summary.json")
            assert during.status_code == 200
            assert during.content == good.content
        finally:
            site.engine.dispose()
            site.engine = healthy_engine
        incidents.declare(ctx=ctx, severity=1, title="Back", components=["api"])
        assert c.get("/api/v2/summary.json").json()["incidents"][0]["name"] == "Back"
