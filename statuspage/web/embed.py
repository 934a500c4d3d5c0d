"""The status on other sites: ``/embed.js``, a script a customer adds to their own pages, and
``/embed``, a small page meant for an ``<iframe>``.

The script (``static/embed.js``) reads ``/api/v2/summary.json`` from the status page's origin and
shows a small notice while something is wrong; :mod:`statuspage.web.cors` lets any origin read
both. The iframe page carries its own CSP with ``frame-ancestors *``, which replaces the page-wide
``frame-ancestors 'none'`` (and, because it names frame-ancestors, ``X-Frame-Options`` is left
out for it): any site may frame it, while every other page still refuses to be framed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from statuspage.web.cache import Produced

if TYPE_CHECKING:
    from statuspage.web.site import Site

SCRIPT_MEDIA_TYPE = "text/javascript; charset=utf-8"
# The script changes only with a release; an hour keeps host pages from asking on every view.
SCRIPT_CACHE_CONTROL = "public, max-age=3600, stale-while-revalidate=86400"
SCRIPT_HEADERS = {"cross-origin-resource-policy": "cross-origin"}
FRAME_HEADERS = {
    "content-security-policy": "default-src 'none'; style-src 'self'; img-src 'self' data:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors *",
}


def routes(site: Site) -> list[BaseRoute]:
    script_path = site.settings.static_dir / "embed.js"

    def produce_script() -> Produced:
        return Produced(script_path.read_bytes(), SCRIPT_MEDIA_TYPE, 200, dict(SCRIPT_HEADERS))

    def produce_frame() -> Produced:
        summary = site.read(lambda builder: builder.summary())
        active = [m for m in summary["scheduled_maintenances"] if m["status"] in ("in_progress", "verifying")]
        rendered = site.produce_html("embed.html", {"summary": summary, "maintenances": active})
        return Produced(rendered.body, rendered.media_type, 200, dict(FRAME_HEADERS))

    async def script(request: Request) -> Response:
        return await site.respond(request, produce_script, cache_control=SCRIPT_CACHE_CONTROL)

    async def frame(request: Request) -> Response:
        return await site.respond(request, produce_frame)

    return [Route("/embed.js", script, name="embed_script"), Route("/embed", frame, name="embed_frame")]
