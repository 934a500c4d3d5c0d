"""The Atom and RSS history feeds and the status badge, read as a feed reader and an embedding site
would read them: with feedparser (which reports any malformation as ``bozo``) and with a strict XML
parser for the exact text."""

from __future__ import annotations

import html
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any

import feedparser
import pytest
from bs4 import BeautifulSoup
from sqlmodel import select
from starlette.testclient import TestClient

from statuspage.clock import FixedClock
from statuspage.context import WriteContext
from statuspage.db.engine import new_session
from statuspage.db.models import Component, Incident, IncidentUpdate
from statuspage.incidents import service as incidents
from statuspage.runtime import Runtime
from statuspage.web.app import create_app
from statuspage.web.feeds import (
    CRITICAL,
    OK,
    UNKNOWN,
    Badge,
    Feed,
    FeedEntry,
    entry_id,
    render_atom,
    render_badge,
    render_rss,
)

ATOM = "{http://www.w3.org/2005/Atom}"
SVG = "{http://www.w3.org/2000/svg}"
BASE = "http://127.0.0.1:8000"
XSS = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "]]>",
    "{{ 7*7 }}",
    "a & b <!-- c --> <![CDATA[x]]>",
]
FEEDS = [
    ("/history.atom", "application/atom+xml; charset=utf-8", "atom10"),
    ("/history.rss", "application/rss+xml; charset=utf-8", "rss20"),
]


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    app = create_app(runtime.settings, runtime.engine, clock=runtime.clock, version_check_interval=0)
    with TestClient(app) as test_client:
        yield test_client


def fetch(client: TestClient, path: str, media_type: str | None = None) -> tuple[Any, ET.Element, bytes]:
    """The feed through feedparser (which must find nothing wrong) and through ElementTree."""
    response = client.get(path)
    assert response.status_code == 200, response.text
    if media_type is not None:
        assert response.headers["content-type"] == media_type
    parsed = feedparser.parse(response.content, response_headers={"content-type": response.headers["content-type"]})
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    return parsed, ET.fromstring(response.content), response.content


def atom_entries(root: ET.Element) -> list[ET.Element]:
    return root.findall(f"{ATOM}entry")


def test_empty_feeds_are_valid(client: TestClient) -> None:
    for path, media_type, version in FEEDS:
        parsed, _, raw = fetch(client, path, media_type)
        assert parsed.version == version
        assert parsed.entries == []
        assert parsed.feed.title == "Sendero status: incidents"
        assert raw.startswith(b"<?xml version='1.0' encoding='utf-8'?>")


def test_atom_entry_has_id_link_title_times_and_updates_newest_first(
    client: TestClient, ctx: WriteContext, clock: FixedClock
) -> None:
    incidents.declare(ctx=ctx, severity=1, title="Checkout failing", components=["api"], message="Payments fail.")
    clock.advance(minutes=20)
    incidents.post_update(ctx=ctx, incident_id=1, status="identified", message="A bad deploy.\nRolling back.")
    parsed, root, _ = fetch(client, "/history.atom")
    (entry,) = parsed.entries
    assert entry.id == "tag:127.0.0.1,2026-11-25:sendero/incidents/1"
    assert entry.link == f"{BASE}/incidents/1"
    assert entry.title == "Checkout failing (Identified)"
    assert entry.published == "2026-11-25T08:00:00.000Z"
    assert entry.updated == "2026-11-25T08:20:00.000Z"
    assert parsed.feed.updated == entry.updated
    assert [t.term for t in entry.tags] == ["api"]
    (xml_entry,) = atom_entries(root)
    content = xml_entry.find(f"{ATOM}content")
    assert content is not None and content.get("type") == "html"
    body = BeautifulSoup(content.text or "", "html.parser")
    updates = [p.get_text(" ", strip=True) for p in body.find_all("p")]
    assert updates[0] == "Critical impact · Affected: API"
    # Newest first, each with its status and its time in the page's zone (New York).
    assert updates[1].startswith("Identified — Nov 25, 2026 03:20 EST")
    assert "A bad deploy." in updates[1] and "Rolling back." in updates[1]
    assert updates[2] == "Investigating — Nov 25, 2026 03:00 EST Payments fail."
    assert [t["datetime"] for t in body.select("time")] == ["2026-11-25T08:20:00Z", "2026-11-25T08:00:00Z"]
    assert xml_entry.findtext(f"{ATOM}title") == "Checkout failing (Identified)"
    assert root.findtext(f"{ATOM}id") == f"{BASE}/history.atom"
    author = root.find(f"{ATOM}author")
    assert author is not None and author.findtext(f"{ATOM}name") == "Sendero"


def test_rss_item_matches_the_atom_entry(client: TestClient, ctx: WriteContext) -> None:
    incidents.declare(ctx=ctx, severity=2, title="Slow dashboard", components=["web"], message="Pages load slowly.")
    atom, _, _ = fetch(client, "/history.atom")
    rss, root, _ = fetch(client, "/history.rss")
    (item,) = rss.entries
    assert item.id == atom.entries[0].id
    assert item.link == atom.entries[0].link == f"{BASE}/incidents/1"
    assert item.title == "Slow dashboard (Investigating)"
    assert item.published == "Wed, 25 Nov 2026 08:00:00 GMT"
    guid = root.find("channel/item/guid")
    assert guid is not None and guid.get("isPermaLink") == "false"
    assert root.findtext("channel/lastBuildDate") == "Wed, 25 Nov 2026 08:00:00 GMT"
    assert "Pages load slowly." in (root.findtext("channel/item/description") or "")


@pytest.mark.parametrize(("path", "_media_type", "_version"), FEEDS)
def test_entry_id_is_stable_while_updated_moves(
    client: TestClient, ctx: WriteContext, clock: FixedClock, path: str, _media_type: str, _version: str
) -> None:
    incidents.declare(ctx=ctx, severity=1, title="Outage", components=["api"])
    first, _, _ = fetch(client, path)
    clock.advance(minutes=15)
    incidents.post_update(ctx=ctx, incident_id=1, status="monitoring", message="A fix is deployed.")
    second, _, _ = fetch(client, path)
    clock.advance(minutes=15)
    incidents.resolve(ctx=ctx, incident_id=1, message="Resolved.")
    third, _, _ = fetch(client, path)
    ids = [feed.entries[0].id for feed in (first, second, third)]
    assert len(set(ids)) == 1
    assert "3" not in ids[0].rsplit("/", 1)[-1]  # not the number of updates
    updated = [feed.entries[0].updated_parsed for feed in (first, second, third)]
    assert updated[0] < updated[1] < updated[2]
    assert [feed.entries[0].title for feed in (first, second, third)] == [
        "Outage (Investigating)",
        "Outage (Monitoring)",
        "Outage (Resolved)",
    ]


def test_entry_id_falls_back_to_a_uuid_urn_when_the_host_is_not_a_dns_name() -> None:
    from datetime import UTC, datetime

    moment = datetime(2026, 11, 25, tzinfo=UTC)
    urn = entry_id("http://[::1]:8000", "status", "7", moment)
    assert urn.startswith("urn:uuid:")
    assert urn == entry_id("http://[::1]:8000", "status", "7", moment)
    assert urn != entry_id("http://[::1]:8000", "status", "8", moment)
    assert (
        entry_id("https://Status.Example.com", "status", "7", moment)
        == "tag:status.example.com,2026-11-25:status/incidents/7"
    )


def test_feed_holds_the_50_most_recent_incidents(client: TestClient, ctx: WriteContext, clock: FixedClock) -> None:
    for number in range(1, 52):
        incidents.declare(ctx=ctx, severity=4, title=f"Incident {number}", components=["help-center"])
        clock.advance(minutes=1)
    for path, _, _ in FEEDS:
        parsed, _, _ = fetch(client, path)
        titles = [e.title for e in parsed.entries]
        assert len(titles) == 50
        assert titles[0] == "Incident 51 (Investigating)" and "Incident 1 (Investigating)" not in titles


def test_component_filter(client: TestClient, ctx: WriteContext) -> None:
    incidents.declare(ctx=ctx, severity=1, title="API down", components=["api"])
    incidents.declare(ctx=ctx, severity=2, title="Web slow", components=["web"])
    incidents.declare(ctx=ctx, severity=2, title="Both", components=["api", "web"])
    for path, media_type, _ in FEEDS:
        everything, _, _ = fetch(client, path, media_type)
        assert [e.title.split(" (")[0] for e in everything.entries] == ["Both", "Web slow", "API down"]
        api, _, _ = fetch(client, f"{path}?component=api", media_type)
        assert [e.title.split(" (")[0] for e in api.entries] == ["Both", "API down"]
        assert api.feed.title == "Sendero status: API incidents"
        # The same incident is the same entry in every view of it.
        assert {e.id for e in api.entries} <= {e.id for e in everything.entries}
        links = {(link.rel, link.href) for link in api.feed.links}
        assert ("self", f"{BASE}{path}?component=api") in links
        assert ("alternate", f"{BASE}/history?component=api") in links
        assert ("related", f"{BASE}{path}") in links
        assert ("related", f"{BASE}{path}?component=web") in links
        assert ("related", f"{BASE}{path}?component=api") not in links
        # The whole page's feed points at one feed per component.
        related = {link.href for link in everything.feed.links if link.rel == "related"}
        assert {f"{BASE}{path}?component={c}" for c in ("api", "web", "help-center", "phone-support")} <= related


@pytest.mark.parametrize("component", ["nope", "platform", "%3Cscript%3E", "%00", "x" * 300])
@pytest.mark.parametrize(("path", "_media_type", "_version"), FEEDS)
def test_unknown_component_is_404_problem(
    client: TestClient, path: str, _media_type: str, _version: str, component: str
) -> None:
    response = client.get(f"{path}?component={component}")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 404
    assert "<" not in response.text


@pytest.mark.parametrize("payload", XSS)
def test_untrusted_text_is_escaped(client: TestClient, ctx: WriteContext, payload: str) -> None:
    incidents.declare(ctx=ctx, severity=1, title=payload, components=["api"], message=payload)
    for path, _, _ in FEEDS:
        parsed, root, raw = fetch(client, path)
        assert b"<script" not in raw and b"<img" not in raw
        assert parsed.entries[0].title == f"{payload} (Investigating)"
        if path.endswith(".atom"):
            title = root.findtext(f"{ATOM}entry/{ATOM}title")
            content = root.findtext(f"{ATOM}entry/{ATOM}content") or ""
        else:
            title = root.findtext("channel/item/title")
            content = root.findtext("channel/item/description") or ""
        assert title == f"{payload} (Investigating)"  # the exact text round-trips through the XML
        assert html.escape(payload) in content  # and is escaped once more inside the HTML content
        body = BeautifulSoup(content, "html.parser")
        assert body.find("script") is None and body.find("img") is None
        assert payload in body.get_text()


def test_control_characters_are_dropped_so_the_feed_stays_well_formed(
    client: TestClient, runtime: Runtime, ctx: WriteContext
) -> None:
    incidents.declare(ctx=ctx, severity=1, title="placeholder", components=["api"])
    # The service refuses control characters; older rows or direct writes may still hold them.
    # (PostgreSQL cannot store NUL at all, so that one is only tried on SQLite.)
    nul = "\x00" if runtime.engine.dialect.name == "sqlite" else ""
    with new_session(runtime.engine) as session:
        incident = session.get(Incident, 1)
        assert incident is not None
        incident.title = f"Bad{nul} ti\x0btle\x1f\x08"
        for update in session.exec(select(IncidentUpdate)).all():
            update.body = "line\x0cone\r\nline two\x1b"
        component = session.get(Component, "api")
        assert component is not None
        component.name = "A\x01PI"
        session.commit()
    for path, _, _ in FEEDS:
        parsed, root, raw = fetch(client, path)
        assert parsed.entries[0].title == "Bad title (Investigating)"
        assert not any(byte < 0x20 and byte not in b"\t\n\r" for byte in raw)
    badge = client.get("/badge.svg?component=api")
    assert ET.fromstring(badge.content).findtext(f"{SVG}title") == "API: major outage"


def test_every_text_and_attribute_is_cleaned_before_writing() -> None:
    from datetime import UTC, datetime

    moment = datetime(2026, 11, 25, tzinfo=UTC)
    dirty = "x\x00\x01\x0b\x0c\x1f\ud800\ufffe\uffffy\t\n"
    entry = FeedEntry(dirty, dirty, BASE + "/incidents/1", moment, moment, dirty, (("api", dirty),))
    feed = Feed(dirty, dirty, dirty, BASE, "", None, (("api", dirty),), moment, (entry,))
    for raw in (render_atom(feed), render_rss(feed), render_badge(Badge(dirty, dirty, OK))):
        root = ET.fromstring(raw)
        assert all("\x00" not in (element.text or "") for element in root.iter())
        assert "xy" in "".join(root.itertext())


def badge_svg(client: TestClient, path: str, status_code: int = 200) -> tuple[ET.Element, Any]:
    response = client.get(path)
    assert response.status_code == status_code
    assert response.headers["content-type"].startswith("image/svg+xml")
    return ET.fromstring(response.content), response


def colours(svg: ET.Element) -> set[str]:
    return {rect.get("fill", "") for rect in svg.iter(f"{SVG}rect")}


def test_badge_shows_page_and_component_status_in_words_and_colour(client: TestClient, ctx: WriteContext) -> None:
    svg, _ = badge_svg(client, "/badge.svg")
    assert svg.findtext(f"{SVG}title") == "Sendero: operational"
    assert svg.get("role") == "img" and svg.get("aria-label") == "Sendero: operational"
    assert OK in colours(svg)
    assert [t.text for t in svg.iter(f"{SVG}text")][-1] == "operational"

    incidents.declare(ctx=ctx, severity=1, title="Down", components=["api"])
    svg, _ = badge_svg(client, "/badge.svg")
    assert svg.findtext(f"{SVG}title") == "Sendero: major outage"
    assert CRITICAL in colours(svg) and OK not in colours(svg)
    svg, _ = badge_svg(client, "/badge.svg?component=api")
    assert svg.findtext(f"{SVG}title") == "API: major outage"
    assert CRITICAL in colours(svg)
    svg, _ = badge_svg(client, "/badge.svg?component=web")
    assert svg.findtext(f"{SVG}title") == "Web app: operational"
    assert OK in colours(svg)
    svg, _ = badge_svg(client, "/badge.svg?component=platform")  # a group shows its worst member
    assert svg.findtext(f"{SVG}title") == "Platform: major outage"


def test_badge_can_be_embedded_anywhere(client: TestClient) -> None:
    _, response = badge_svg(client, "/badge.svg")
    headers = response.headers
    csp = headers["content-security-policy"]
    assert "frame-ancestors *" in csp and "frame-ancestors 'none'" not in csp
    assert "default-src 'none'" in csp and "script-src" not in csp
    assert "x-frame-options" not in headers
    assert headers["cache-control"] == "public, max-age=60"
    assert headers["access-control-allow-origin"] == "*"
    assert headers["cross-origin-resource-policy"] == "cross-origin"
    assert headers["x-content-type-options"] == "nosniff"
    # The pages themselves keep refusing to be framed.
    page = client.get("/").headers
    assert "frame-ancestors 'none'" in page["content-security-policy"] and page["x-frame-options"] == "DENY"


def test_badge_for_unknown_component_is_a_404_badge(client: TestClient) -> None:
    for component in ("nope", "%3Cscript%3E", "%00"):
        svg, response = badge_svg(client, f"/badge.svg?component={component}", status_code=404)
        assert svg.findtext(f"{SVG}title") == "Sendero: unknown component"
        assert UNKNOWN in colours(svg)
        assert b"<script" not in response.content
        assert "frame-ancestors *" in response.headers["content-security-policy"]


@pytest.mark.parametrize("payload", XSS)
def test_badge_escapes_component_names(client: TestClient, runtime: Runtime, payload: str) -> None:
    with new_session(runtime.engine) as session:
        component = session.get(Component, "api")
        assert component is not None
        component.name = payload
        session.commit()
    svg, response = badge_svg(client, "/badge.svg?component=api")
    assert b"<script" not in response.content and b"<img" not in response.content
    assert svg.findtext(f"{SVG}title") == f"{payload}: operational"
    assert svg.get("aria-label") == f"{payload}: operational"


def test_badge_shortens_long_names_but_says_them_in_full(client: TestClient, runtime: Runtime) -> None:
    name = "A component with a very long name indeed, longer than any badge should be"
    with new_session(runtime.engine) as session:
        component = session.get(Component, "api")
        assert component is not None
        component.name = name
        session.commit()
    svg, _ = badge_svg(client, "/badge.svg?component=api")
    label = next(svg.iter(f"{SVG}text")).text or ""
    assert label.endswith("…") and len(label) <= 40
    assert svg.findtext(f"{SVG}title") == f"{name}: operational"
    assert int(svg.get("width", "0")) < 400


@pytest.mark.parametrize("path", ["/history.atom", "/history.rss?component=api", "/badge.svg"])
def test_etag_and_304(client: TestClient, ctx: WriteContext, path: str) -> None:
    first = client.get(path)
    etag = first.headers["etag"]
    again = client.get(path, headers={"if-none-match": etag})
    assert again.status_code == 304 and again.content == b""
    assert client.app.state.site.cache.renders == 1  # type: ignore[attr-defined]
    incidents.declare(ctx=ctx, severity=1, title="New", components=["api"])
    changed = client.get(path, headers={"if-none-match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag


def test_feeds_are_compressed_for_clients_that_ask(client: TestClient, ctx: WriteContext) -> None:
    incidents.declare(ctx=ctx, severity=1, title="Compressible", components=["api"], message="x " * 400)
    response = client.get("/history.atom", headers={"accept-encoding": "gzip"})
    assert response.headers["content-encoding"] == "gzip"
    assert response.headers["etag"].endswith('-gzip"')
    assert feedparser.parse(response.content).bozo == 0
