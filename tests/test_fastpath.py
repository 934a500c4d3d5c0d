"""Cache hits answered in front of routing (``FastPath``): the same 200 or 304 as the normal
path, and only when the normal path would have sent it at once."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import create_engine
from starlette.testclient import TestClient

from statuspage.context import WriteContext
from statuspage.incidents import service as incidents
from statuspage.runtime import Runtime
from statuspage.tokens import service as tokens
from statuspage.web.admin.calls import PREFIX
from statuspage.web.app import create_app

PATHS = ["/", "/index.json", "/history", "/api/v2/summary.json", "/api/v2/status.json", "/history.atom", "/badge.svg"]


class Fast:
    """An app whose version is re-read once a minute (so the fast path can answer), with a switch
    to send everything through the normal path and a record of what the fast path answered."""

    def __init__(self, runtime: Runtime, version_check_interval: float = 60) -> None:
        self.app = create_app(runtime.settings, runtime.engine, clock=runtime.clock, version_check_interval=version_check_interval)
        self.site = self.app.state.site
        self.enabled = True
        self.answered: list[str] = []
        answers = self.site.answers
        answer = answers.answer

        def spy(scope: dict[str, Any]) -> Any:
            headers = answer(scope) if self.enabled else None
            if headers is not None:
                self.answered.append(scope["path"])
            return headers

        answers.answer = spy

    def normal(self, send: Callable[[], Any]) -> Any:
        self.enabled = False
        try:
            return send()
        finally:
            self.enabled = True

    def fast(self, send: Callable[[], Any]) -> Any:
        before = len(self.answered)
        response = send()
        assert len(self.answered) == before + 1, "the fast path did not answer"
        return response


@pytest.fixture
def fast(runtime: Runtime) -> Iterator[tuple[Fast, TestClient]]:
    f = Fast(runtime)
    with TestClient(f.app) as client:
        yield f, client


def same(a: Any, b: Any) -> None:
    """Same status, same headers in the same order, same body."""
    assert (a.status_code, a.headers.multi_items(), a.content) == (b.status_code, b.headers.multi_items(), b.content)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("accept", [None, "gzip", "gzip, deflate, br"])
def test_fast_304_has_the_headers_of_the_normal_304(fast: tuple[Fast, TestClient], path: str, accept: str | None) -> None:
    f, client = fast
    encoding = {"accept-encoding": accept or "identity"}
    etag = client.get(path, headers=encoding).headers["etag"]
    ask = {**encoding, "if-none-match": etag}
    normal = f.normal(lambda: client.get(path, headers=ask))
    quick = f.fast(lambda: client.get(path, headers=ask))
    assert quick.status_code == 304 and quick.content == b""
    same(quick, normal)
    names = {name for name, _ in quick.headers.multi_items()}
    assert {"etag", "cache-control", "vary", "content-security-policy", "x-content-type-options", "referrer-policy"} <= names
    assert "content-length" not in names and "content-type" not in names


@pytest.mark.parametrize("path", PATHS)
def test_fast_200_is_the_normal_200(fast: tuple[Fast, TestClient], path: str) -> None:
    f, client = fast
    for accept in (None, "gzip"):
        for method in ("GET", "HEAD"):
            encoding = {"accept-encoding": accept or "identity"}
            first = client.request(method, path, headers=encoding)  # rendered and remembered by the normal path
            normal = f.normal(lambda: client.request(method, path, headers=encoding))  # noqa: B023
            quick = f.fast(lambda: client.request(method, path, headers=encoding))  # noqa: B023
            assert quick.status_code == 200
            same(quick, normal)
            same(quick, first)
            if method == "GET" and len(quick.content) >= 512:  # httpx has undone the gzip
                assert quick.headers.get("content-encoding") == ("gzip" if accept else None)


def test_badge_keeps_its_own_framing_and_cache_control(fast: tuple[Fast, TestClient]) -> None:
    f, client = fast
    etag = client.get("/badge.svg").headers["etag"]
    quick = f.fast(lambda: client.get("/badge.svg", headers={"if-none-match": etag}))
    assert quick.headers["content-security-policy"] == "default-src 'none'; frame-ancestors *"
    assert "x-frame-options" not in quick.headers
    assert quick.headers["cache-control"] == "public, max-age=60"  # the badge's, not the pages'


IF_NONE_MATCH = [
    "{plain}",
    "{gzip}",
    "W/{plain}",
    "W/{gzip}",
    '"other", {plain}',
    '"a",W/{gzip} , "b"',
    "*",
    " * ",
    '"other"',
    "",
    "{plain}x",
]


@pytest.mark.parametrize("accept", [None, "identity", "gzip", "GZIP;q=1", "br"])
@pytest.mark.parametrize("template", IF_NONE_MATCH)
def test_every_if_none_match_and_encoding_is_answered_as_the_normal_path_does(
    fast: tuple[Fast, TestClient], accept: str | None, template: str
) -> None:
    f, client = fast
    plain = client.get("/", headers={"accept-encoding": "identity"}).headers["etag"]
    gzipped = client.get("/", headers={"accept-encoding": "gzip"}).headers["etag"]
    assert plain != gzipped
    headers = {"accept-encoding": accept or "identity", "if-none-match": template.format(plain=plain, gzip=gzipped)}
    normal = f.normal(lambda: client.get("/", headers=headers))
    answered = len(f.answered)
    quick = client.get("/", headers=headers)
    same(quick, normal)
    assert len(f.answered) == answered + 1  # the 304 and the 200 alike



def test_variants_are_not_confused(fast: tuple[Fast, TestClient]) -> None:
    f, client = fast
    plain = client.get("/", headers={"accept-encoding": "identity"}).headers["etag"]
    gzipped = client.get("/", headers={"accept-encoding": "gzip"}).headers["etag"]
    # Each answer carries the validator of the variant the request would get.
    for offered in (plain, gzipped):
        assert f.fast(lambda offered=offered: client.get("/", headers={"accept-encoding": "gzip", "if-none-match": offered})).headers["etag"] == gzipped
        assert f.fast(lambda offered=offered: client.get("/", headers={"accept-encoding": "identity", "if-none-match": offered})).headers["etag"] == plain
    # Another path's validator is not this one's. A query parameter the page does not read is not
    # part of its cache key: the same entry, answered at once.
    summary = client.get("/api/v2/summary.json").headers["etag"]
    assert client.get("/", headers={"if-none-match": summary}).status_code == 200
    assert f.fast(lambda: client.get("/api/v2/summary.json?x=1", headers={"if-none-match": summary})).status_code == 304
    # One it reads makes another cache entry, which the normal path fills first.
    history = client.get("/history").headers["etag"]
    answered = len(f.answered)
    second = client.get("/history?page=2", headers={"if-none-match": history})
    assert second.status_code == 200 and second.headers["etag"] != history
    assert len(f.answered) == answered
    second_etag = second.headers["etag"]
    assert f.fast(lambda: client.get("/history?x=1&page=2", headers={"if-none-match": second_etag})).status_code == 304


def test_head(fast: tuple[Fast, TestClient]) -> None:
    f, client = fast
    etag = client.get("/api/v2/summary.json").headers["etag"]
    normal = f.normal(lambda: client.head("/api/v2/summary.json", headers={"if-none-match": etag}))
    quick = f.fast(lambda: client.head("/api/v2/summary.json", headers={"if-none-match": etag}))
    assert quick.status_code == 304
    same(quick, normal)
    # HEAD fills the cache for GET as the normal path does.
    assert client.head("/history", headers={"if-none-match": '"x"'}).status_code == 200
    etag = client.head("/history").headers["etag"]
    assert f.fast(lambda: client.get("/history", headers={"if-none-match": etag})).status_code == 304


def test_a_write_through_the_admin_api_ends_the_304s(fast: tuple[Fast, TestClient], make_ctx: Callable[..., WriteContext]) -> None:
    f, client = fast
    _, secret = tokens.create_token(ctx=make_ctx("root"), name="ci", scope="write")
    writer = {"authorization": f"Bearer {secret}"}
    before = client.get("/api/v2/summary.json")
    etag = before.headers["etag"]
    f.fast(lambda: client.get("/api/v2/summary.json", headers={"if-none-match": etag}))
    # Admin reads and writes carry no cached validators: they go to the app as before.
    listed = client.get(f"{PREFIX}/incidents", headers={**writer, "if-none-match": "*"})
    assert listed.status_code == 200 and listed.json()["incidents"] == []
    assert client.get(f"{PREFIX}/incidents", headers={"if-none-match": "*"}).status_code == 401
    body = {"severity": 1, "title": "Checkout failing", "components": ["api"]}
    declared = client.post(f"{PREFIX}/incidents", json=body, headers={**writer, "if-none-match": etag})
    assert declared.status_code == 201, declared.text
    answered = len(f.answered)
    after = client.get("/api/v2/summary.json", headers={"if-none-match": etag})
    assert after.status_code == 200
    assert after.headers["etag"] != etag
    assert after.json()["incidents"][0]["name"] == "Checkout failing"
    assert len(f.answered) == answered
    f.fast(lambda: client.get("/api/v2/summary.json", headers={"if-none-match": after.headers["etag"]}))


def test_a_write_by_another_process_ends_the_304s_within_the_check(runtime: Runtime, ctx: WriteContext) -> None:
    f = Fast(runtime, version_check_interval=0.2)
    with TestClient(f.app) as client:
        etag = client.get("/api/v2/status.json").headers["etag"]
        f.fast(lambda: client.get("/api/v2/status.json", headers={"if-none-match": etag}))
        incidents.declare(ctx=ctx, severity=1, title="Checkout failing", components=["checkout"])
        time.sleep(0.45)  # two check intervals: the next request waits for the version read
        answered = len(f.answered)
        after = client.get("/api/v2/status.json", headers={"if-none-match": etag})
        assert after.status_code == 200 and after.json()["status"]["indicator"] == "critical"
        assert len(f.answered) == answered


def test_the_version_the_watcher_knows_is_what_counts(fast: tuple[Fast, TestClient], ctx: WriteContext) -> None:
    f, client = fast
    etag = client.get("/api/v2/status.json").headers["etag"]
    incidents.declare(ctx=ctx, severity=1, title="Checkout failing", components=["checkout"])
    # Not read yet (the check is once a minute here): both paths still see the old version.
    f.fast(lambda: client.get("/api/v2/status.json", headers={"if-none-match": etag}))
    f.site.cache.watcher.invalidate()
    answered = len(f.answered)
    assert client.get("/api/v2/status.json", headers={"if-none-match": etag}).status_code == 200
    assert len(f.answered) == answered


def test_an_expired_entry_goes_through_the_normal_path(fast: tuple[Fast, TestClient]) -> None:
    f, client = fast
    etag = client.get("/").headers["etag"]
    f.site.cache.max_age = 0
    answered = len(f.answered)
    renders = f.site.cache.renders
    assert client.get("/", headers={"if-none-match": etag}).status_code == 304  # re-rendered, same bytes
    assert f.site.cache.renders == renders + 1
    assert len(f.answered) == answered


def test_error_pages_are_not_revalidated(fast: tuple[Fast, TestClient]) -> None:
    f, client = fast
    missing = client.get("/incidents/999")
    assert missing.status_code == 404
    assert client.get("/incidents/999", headers={"if-none-match": missing.headers["etag"]}).status_code == 404
    assert client.get("/incidents/999", headers={"if-none-match": "*"}).status_code == 404
    assert f.answered == []


def test_other_requests_go_to_the_app(fast: tuple[Fast, TestClient]) -> None:
    f, client = fast
    etag = client.get("/").headers["etag"]
    assert client.post("/", headers={"if-none-match": etag}).status_code == 405
    assert client.get("/healthz", headers={"if-none-match": "*"}).text == "ok\n"
    assert client.post("/slack/actions", headers={"if-none-match": "*"}).status_code in (400, 401, 403, 404, 503)
    assert client.get("/static/style.css", headers={"if-none-match": etag}).status_code in (200, 404)
    assert client.get("/nowhere", headers={"if-none-match": "*"}).status_code == 404
    assert f.answered == []


def test_while_the_database_is_down_the_normal_path_answers(fast: tuple[Fast, TestClient], ctx: WriteContext) -> None:
    """During an outage every request takes the normal path: a revalidation still gets the same
    304 (the cached copy is the last good one), a plain request the last good page."""
    f, client = fast
    site = f.site
    good = client.get("/api/v2/summary.json")
    etag = good.headers["etag"]
    quick = f.fast(lambda: client.get("/api/v2/summary.json", headers={"if-none-match": etag}))
    healthy_engine = site.engine
    site.engine = create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none", pool_pre_ping=False)
    site.cache.watcher.invalidate()
    try:
        answered = len(f.answered)
        during = client.get("/api/v2/summary.json", headers={"if-none-match": etag})
        assert site.cache.watcher.failing
        same(during, quick)
        site.cache.max_age = 0  # stale-if-error: the expired copy is served, never an error
        same(client.get("/api/v2/summary.json", headers={"if-none-match": etag}), quick)
        stale = client.get("/api/v2/summary.json")
        assert stale.status_code == 200 and stale.content == good.content and stale.headers["etag"] == etag
        assert len(f.answered) == answered
    finally:
        site.engine.dispose()
        site.engine = healthy_engine
        site.cache.max_age = 30.0
    incidents.declare(ctx=ctx, severity=1, title="Back", components=["api"])
    site.cache.watcher.invalidate()
    back = client.get("/api/v2/summary.json", headers={"if-none-match": etag})
    assert back.status_code == 200 and back.json()["incidents"][0]["name"] == "Back"
    assert not site.cache.watcher.failing
    f.fast(lambda: client.get("/api/v2/summary.json", headers={"if-none-match": back.headers["etag"]}))
