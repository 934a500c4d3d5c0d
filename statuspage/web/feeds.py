"""Atom and RSS feeds of the incident history, and the embeddable status badge.

All three are built with :mod:`xml.etree.ElementTree` rather than string templates: the writer
escapes every text node and attribute, so an incident title or update body can never close an
element or open a ``<script>``. What the writer does not do is drop characters XML 1.0 forbids
(``\\x00``, ``\\x0b`` ...); one pass over the finished tree removes them so that a stray control
character in the database cannot make a whole feed unreadable.

Every URL in the output is built from the configured page URL, never from the request: the page
cache keys on path and query only, so anything taken from the ``Host`` header would be served to
every later visitor.
"""

from __future__ import annotations

import html
import math
import re
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from statuspage.domain.enums import ComponentStatus
from statuspage.errors import NotFound
from statuspage.read.v2 import JSON, V2Builder
from statuspage.settings import SLUG
from statuspage.web.cache import Produced
from statuspage.web.site import problem_bytes
from statuspage.web.templating import IMPACT_LABELS, STATUS_LABELS, human_time, utc_iso

if TYPE_CHECKING:
    from statuspage.web.site import Site

ATOM_NS = "http://www.w3.org/2005/Atom"
ATOM_TYPE = "application/atom+xml"
RSS_TYPE = "application/rss+xml"
ATOM_MEDIA_TYPE = f"{ATOM_TYPE}; charset=utf-8"
RSS_MEDIA_TYPE = f"{RSS_TYPE}; charset=utf-8"
SVG_MEDIA_TYPE = "image/svg+xml; charset=utf-8"
FEED_LIMIT = 50

# A badge is meant to be shown on other sites: in an <img>, but also in an <iframe> or <object>.
# Its own CSP replaces the page-wide one (frame-ancestors 'none'); because it names
# frame-ancestors, SecurityHeaders also leaves out X-Frame-Options for it. The SVG uses
# presentation attributes only, so it needs no style-src.
BADGE_HEADERS = {
    "content-security-policy": "default-src 'none'; frame-ancestors *",
    "access-control-allow-origin": "*",
    "cross-origin-resource-policy": "cross-origin",
}
BADGE_CACHE_CONTROL = "public, max-age=60"

# What XML 1.0 allows (section 2.2); everything else is removed before writing.
XML_FORBIDDEN = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# RFC 4151: a tag URI's authority is a DNS name (no port, no brackets).
TAG_AUTHORITY = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*$")


# ---------------------------------------------------------------------------------------------
# The feed, independent of its format


@dataclass(frozen=True, slots=True)
class FeedEntry:
    id: str
    title: str
    link: str
    published: datetime
    updated: datetime
    html: str
    categories: tuple[tuple[str, str], ...]  # (component id, component name)


@dataclass(frozen=True, slots=True)
class Feed:
    title: str
    subtitle: str
    page_name: str
    page_url: str
    query: str  # "" or "?component=api": appended to every URL that points at this feed's view
    component: tuple[str, str] | None
    components: tuple[tuple[str, str], ...]  # every component, for the per-component feed links
    updated: datetime
    entries: tuple[FeedEntry, ...]

    def url(self, path: str, *, filtered: bool = True) -> str:
        return f"{self.page_url}{path}{self.query if filtered else ''}"


def component_url_query(component_id: str) -> str:
    return f"?component={quote(component_id, safe='')}"


def entry_id(page_url: str, page_id: str, incident_id: str, declared: datetime) -> str:
    """An id that lasts as long as the incident: it names the page and the incident and nothing
    that changes (not the status, not the number of updates), so readers update the entry they
    already show instead of adding a new one. A tag URI (RFC 4151) when the page's host is a DNS
    name, dated with the incident's declaration day; otherwise a name-based UUID of its permalink."""
    host = (urlsplit(page_url).hostname or "").lower()
    if TAG_AUTHORITY.match(host):
        return f"tag:{host},{declared.astimezone(UTC):%Y-%m-%d}:{page_id}/incidents/{incident_id}"
    return uuid.uuid5(uuid.NAMESPACE_URL, f"{page_url}/incidents/{incident_id}").urn


def entry_html(incident: JSON, zone: ZoneInfo) -> str:
    """The incident as HTML for a feed reader: impact and components, then its updates, newest
    first. Every piece of text is escaped here; the XML writer escapes the result once more."""
    parts = [f"<p>{html.escape(IMPACT_LABELS.get(incident['impact'], str(incident['impact']).capitalize()))}"]
    if incident["components"]:
        names = ", ".join(c["name"] for c in incident["components"])
        parts[0] += f" · Affected: {html.escape(names)}"
    parts[0] += "</p>"
    for update in incident["incident_updates"]:
        label = STATUS_LABELS.get(update["status"], str(update["status"]).capitalize())
        when = update["created_at"]
        body = html.escape(update["body"]).replace("\n", "<br>\n")
        parts.append(
            f'<p><strong>{html.escape(label)}</strong> — <time datetime="{utc_iso(when)}">'
            f"{html.escape(human_time(when, zone))}</time><br>\n{body}</p>"
        )
    return "\n".join(parts)


def build_feed(builder: V2Builder, component_id: str | None) -> Feed:
    """The 50 most recently declared incidents (affecting ``component_id`` if given)."""
    page = builder.page
    component = builder.live_component(component_id) if component_id is not None else None
    incidents = builder.incidents_json(builder.recent_incidents(FEED_LIMIT, component=component_id))
    entries = []
    for incident in incidents:
        published = datetime.fromisoformat(incident["created_at"])
        status = STATUS_LABELS.get(incident["status"], str(incident["status"]).capitalize())
        entries.append(
            FeedEntry(
                id=entry_id(page.url, page.id, incident["id"], published),
                title=f"{incident['name']} ({status})",
                link=builder.config.incident_url(incident["id"]),
                published=published,
                updated=datetime.fromisoformat(incident["updated_at"]),
                html=entry_html(incident, builder.zone),
                categories=tuple((c["id"], c["name"]) for c in incident["components"]),
            )
        )
    if entries:
        updated = max(e.updated for e in entries)
    else:
        # No entry to take the time from: the last change to the page, which is stable between
        # writes (the current time would give a new ETag on every render).
        last_change = builder.page_json()["updated_at"]
        updated = datetime.fromisoformat(last_change) if last_change else builder.now
    title = f"{page.name} status: {component.name} incidents" if component else f"{page.name} status: incidents"
    return Feed(
        title=title,
        subtitle=page.description or f"Incidents reported on the {page.name} status page.",
        page_name=page.name,
        page_url=page.url,
        query=component_url_query(component.id) if component else "",
        component=(component.id, component.name) if component else None,
        components=tuple((c.id, c.name) for c in builder.components()),
        updated=updated,
        entries=tuple(entries),
    )


# ---------------------------------------------------------------------------------------------
# XML writing


def clean_xml_text(value: str) -> str:
    return XML_FORBIDDEN.sub("", value)


def serialize(root: ET.Element, *, declaration: bool = True) -> bytes:
    """Drop forbidden characters from every text, tail and attribute, then write UTF-8."""
    for element in root.iter():
        if element.text:
            element.text = clean_xml_text(element.text)
        if element.tail:
            element.tail = clean_xml_text(element.tail)
        for key, value in element.attrib.items():
            element.attrib[key] = clean_xml_text(value)
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=declaration) + b"\n"


def text_element(parent: ET.Element, tag: str, text: str, **attributes: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attributes)
    element.text = text
    return element


def atom_time(moment: datetime) -> str:
    """RFC 3339 in UTC, to the millisecond, so two updates within a second still differ."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def rss_time(moment: datetime) -> str:
    """RFC 822 (as RFC 2822), which RSS 2.0 requires."""
    return format_datetime(moment.astimezone(UTC), usegmt=True)


def feed_links(feed: Feed, self_path: str, self_type: str) -> list[dict[str, str]]:
    """Self, the HTML history and the other format for this view; then every other view: the
    whole page's feed (from a component's feed) and one feed per component."""
    other_path, other_type = ("/history.rss", RSS_TYPE) if self_type == ATOM_TYPE else ("/history.atom", ATOM_TYPE)
    links = [
        {"rel": "self", "type": self_type, "href": feed.url(self_path)},
        {"rel": "alternate", "type": "text/html", "href": feed.url("/history")},
        {"rel": "alternate", "type": other_type, "href": feed.url(other_path)},
    ]
    if feed.component is not None:
        links.append(
            {
                "rel": "related",
                "type": self_type,
                "title": "All components",
                "href": feed.url(self_path, filtered=False),
            }
        )
    for component_id, name in feed.components:
        if feed.component is None or feed.component[0] != component_id:
            href = f"{feed.page_url}{self_path}{component_url_query(component_id)}"
            links.append({"rel": "related", "type": self_type, "title": name, "href": href})
    return links


def render_atom(feed: Feed) -> bytes:
    """Atom 1.0 (RFC 4287)."""
    root = ET.Element("feed", {"xmlns": ATOM_NS, "xml:lang": "en"})
    text_element(root, "id", feed.url("/history.atom"))
    text_element(root, "title", feed.title)
    text_element(root, "subtitle", feed.subtitle)
    text_element(root, "updated", atom_time(feed.updated))
    author = ET.SubElement(root, "author")
    text_element(author, "name", feed.page_name)
    text_element(author, "uri", feed.page_url)
    for link in feed_links(feed, "/history.atom", ATOM_TYPE):
        ET.SubElement(root, "link", link)
    for entry in feed.entries:
        element = ET.SubElement(root, "entry")
        text_element(element, "id", entry.id)
        text_element(element, "title", entry.title, type="text")
        text_element(element, "published", atom_time(entry.published))
        text_element(element, "updated", atom_time(entry.updated))
        ET.SubElement(element, "link", {"rel": "alternate", "type": "text/html", "href": entry.link})
        for component_id, name in entry.categories:
            ET.SubElement(element, "category", {"term": component_id, "label": name})
        text_element(element, "content", entry.html, type="html")
    return serialize(root)


def render_rss(feed: Feed) -> bytes:
    """RSS 2.0, with the Atom extension for self/related links and each item's last change."""
    root = ET.Element("rss", {"version": "2.0", "xmlns:atom": ATOM_NS})
    channel = ET.SubElement(root, "channel")
    text_element(channel, "title", feed.title)
    text_element(channel, "link", feed.url("/history"))
    text_element(channel, "description", feed.subtitle)
    text_element(channel, "language", "en")
    text_element(channel, "lastBuildDate", rss_time(feed.updated))
    for link in feed_links(feed, "/history.rss", RSS_TYPE):
        ET.SubElement(channel, "atom:link", link)
    for entry in feed.entries:
        item = ET.SubElement(channel, "item")
        text_element(item, "title", entry.title)
        text_element(item, "link", entry.link)
        text_element(item, "guid", entry.id, isPermaLink="false")
        text_element(item, "pubDate", rss_time(entry.published))
        text_element(item, "atom:updated", atom_time(entry.updated))
        for _, name in entry.categories:
            text_element(item, "category", name)
        text_element(item, "description", entry.html)
    return serialize(root)


# ---------------------------------------------------------------------------------------------
# The badge

# The site's own palette (static/style.css, light scheme); white text on each is at least 4.5:1.
OK, MAINT, MINOR, MAJOR = "#1a7f37", "#0969da", "#9a6700", "#bc4c00"
CRITICAL, UNKNOWN, LABEL = "#cf222e", "#57606a", "#555"

# The page's overall indicator (Statuspage's vocabulary) in badge words.
INDICATOR_BADGE = {
    "none": ("operational", OK),
    "maintenance": ("under maintenance", MAINT),
    "minor": ("minor outage", MINOR),
    "major": ("partial outage", MAJOR),
    "critical": ("major outage", CRITICAL),
}
COMPONENT_BADGE = {
    ComponentStatus.OPERATIONAL.value: OK,
    ComponentStatus.UNDER_MAINTENANCE.value: MAINT,
    ComponentStatus.DEGRADED_PERFORMANCE.value: MINOR,
    ComponentStatus.PARTIAL_OUTAGE.value: MAJOR,
    ComponentStatus.MAJOR_OUTAGE.value: CRITICAL,
}
MAX_LABEL = 40


@dataclass(frozen=True, slots=True)
class Badge:
    label: str
    message: str
    colour: str


def component_badge_state(status: str) -> tuple[str, str]:
    try:
        word = ComponentStatus(status).label.lower()
    except ValueError:
        word = status.replace("_", " ")
    return word, COMPONENT_BADGE.get(status, UNKNOWN)


def build_badge(builder: V2Builder, component_id: str | None) -> Badge:
    """The page's status, or one component's or group's (a group shows its worst member)."""
    if component_id is None:
        indicator = builder.status()["status"]["indicator"]
        message, colour = INDICATOR_BADGE.get(indicator, (indicator, UNKNOWN))
        return Badge(builder.page.name, message, colour)
    if SLUG.match(component_id):
        for item in builder.components_json():
            if item["id"] == component_id:
                return Badge(item["name"], *component_badge_state(item["status"]))
    raise NotFound(f"no component {component_id!r}", field="component")


# Approximate advance widths of Verdana at 11 px. The text is drawn with textLength, so the
# estimate only sets the box; a visitor's substitute font is stretched to fit it.
_NARROW = dict.fromkeys("fijlrtI!|.,:;'`()[]{} ", 4.0)
_WIDE = dict.fromkeys("mwMW%@", 10.5)


def text_width(text: str) -> float:
    width = 0.0
    for ch in text:
        if ch in _NARROW:
            width += _NARROW[ch]
        elif ch in _WIDE:
            width += _WIDE[ch]
        elif ch.isupper() or ch.isdigit():
            width += 7.5
        else:
            width += 6.8
    return width


def shorten(text: str, limit: int = MAX_LABEL) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def render_badge(badge: Badge) -> bytes:
    """A flat shields.io-style badge: grey label, coloured status. The words are in a <title> and
    aria-label too, so a screen reader announces them and nobody has to tell colours apart."""
    label, message = shorten(clean_xml_text(badge.label)), clean_xml_text(badge.message)
    spoken = f"{clean_xml_text(badge.label)}: {message}"
    pad = 6
    label_width = math.ceil(text_width(label)) + 2 * pad
    message_width = math.ceil(text_width(message)) + 2 * pad
    total = label_width + message_width
    svg = ET.Element(
        "svg",
        {
            "xmlns": "http://www.w3.org/2000/svg",
            "width": str(total),
            "height": "20",
            "viewBox": f"0 0 {total} 20",
            "role": "img",
            "aria-label": spoken,
        },
    )
    text_element(svg, "title", spoken)
    gradient = ET.SubElement(svg, "linearGradient", {"id": "s", "x2": "0", "y2": "100%"})
    ET.SubElement(gradient, "stop", {"offset": "0", "stop-color": "#bbb", "stop-opacity": ".1"})
    ET.SubElement(gradient, "stop", {"offset": "1", "stop-opacity": ".1"})
    clip = ET.SubElement(svg, "clipPath", {"id": "r"})
    ET.SubElement(clip, "rect", {"width": str(total), "height": "20", "rx": "3", "fill": "#fff"})
    shapes = ET.SubElement(svg, "g", {"clip-path": "url(#r)"})
    ET.SubElement(shapes, "rect", {"width": str(label_width), "height": "20", "fill": LABEL})
    ET.SubElement(
        shapes, "rect", {"x": str(label_width), "width": str(message_width), "height": "20", "fill": badge.colour}
    )
    ET.SubElement(shapes, "rect", {"width": str(total), "height": "20", "fill": "url(#s)"})
    texts = ET.SubElement(
        svg,
        "g",
        {
            "fill": "#fff",
            "text-anchor": "middle",
            "font-family": "Verdana,Geneva,DejaVu Sans,sans-serif",
            "font-size": "11",
            "aria-hidden": "true",
        },
    )
    for x, width, text in (
        (label_width / 2, label_width, label),
        (label_width + message_width / 2, message_width, message),
    ):
        length = str(width - 2 * pad)
        common = {"x": f"{x:g}", "textLength": length, "lengthAdjust": "spacingAndGlyphs"}
        text_element(texts, "text", text, y="15", fill="#010101", **{"fill-opacity": ".3"}, **common)
        text_element(texts, "text", text, y="14", **common)
    return serialize(svg, declaration=False)


# ---------------------------------------------------------------------------------------------
# Routes


def component_param(request: Request) -> str | None:
    return request.query_params.get("component") or None


def routes(site: Site) -> list[BaseRoute]:
    """``/history.atom``, ``/history.rss`` and ``/badge.svg``, each optionally ``?component=ID``.

    An unknown component is a 404: an RFC 9457 problem document for the feeds (a feed reader shows
    the error; an empty feed would look like a quiet service), and a grey "unknown component"
    badge for the badge, so that a page embedding a mistyped URL shows something readable.
    """

    def not_found_problem(exc: NotFound) -> Produced:
        return Produced(problem_bytes(404, "Not found", exc.message), "application/problem+json", 404)

    def feed_endpoint(render: Callable[[Feed], bytes], media_type: str) -> Callable[[Request], Awaitable[Response]]:
        def produce(component_id: str | None) -> Produced:
            try:
                feed: Feed = site.read(lambda builder: build_feed(builder, component_id))
            except NotFound as exc:
                return not_found_problem(exc)
            return Produced(render(feed), media_type)

        async def endpoint(request: Request) -> Response:
            component_id = component_param(request)
            return await site.respond(request, lambda: produce(component_id))

        return endpoint

    def produce_badge(component_id: str | None) -> Produced:
        try:
            badge: Badge = site.read(lambda builder: build_badge(builder, component_id))
        except NotFound:
            unknown = Badge(site.settings.config.page.name, "unknown component", UNKNOWN)
            return Produced(render_badge(unknown), SVG_MEDIA_TYPE, 404, dict(BADGE_HEADERS))
        return Produced(render_badge(badge), SVG_MEDIA_TYPE, 200, dict(BADGE_HEADERS))

    async def badge(request: Request) -> Response:
        component_id = component_param(request)
        return await site.respond(request, lambda: produce_badge(component_id), cache_control=BADGE_CACHE_CONTROL)

    return [
        Route("/history.atom", feed_endpoint(render_atom, ATOM_MEDIA_TYPE), name="history_atom"),
        Route("/history.rss", feed_endpoint(render_rss, RSS_MEDIA_TYPE), name="history_rss"),
        Route("/badge.svg", badge, name="badge"),
    ]
