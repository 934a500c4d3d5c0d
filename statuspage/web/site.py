"""What the site's route modules share: the :class:`Site` every handler is given, the cached
page response, and the small JSON and problem-document helpers.

:mod:`statuspage.web.app` builds the site and mounts the route modules; they import this module,
never app.py, so the imports point one way.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from typing import Any

from jinja2 import Environment
from sqlalchemy import text
from sqlalchemy.engine import Engine
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from statuspage.clock import Clock, SystemClock
from statuspage.context import Wiring
from statuspage.db.engine import new_session
from statuspage.read.v2 import V2Builder
from statuspage.settings import Settings
from statuspage.web.cache import Keep, PageCache, Produced, Rendered, Unavailable, VersionWatcher
from statuspage.web.cors import with_cors_headers
from statuspage.web.fastpath import (
    CACHE_KEY,
    CachedAnswers,
    CacheKeys,
    etag_matches,
    gzip_etag,
    request_key,
    wants_gzip,
)
from statuspage.web.refusals import RefusalLog
from statuspage.web.security import with_security_headers
from statuspage.web.templating import make_environment

PAGE_CACHE_CONTROL = "public, max-age=10, stale-while-revalidate=30"
# An address never rendered by this process, asked for while the database cannot be read: a 503
# that says when to try again (what /healthz says too), never stored by a cache in front.
RETRY_AFTER_SECONDS = 5
UNAVAILABLE_HEADERS = {"retry-after": str(RETRY_AFTER_SECONDS), "cache-control": "no-store"}
UNAVAILABLE_DETAIL = "the status page cannot reach its database right now; try again in a few seconds"
UNAVAILABLE_HTML = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Temporarily unavailable · {name} status</title>
  <link rel="stylesheet" href="/static/style.css">
</head>
<body>
  <main id="main" class="wrap">
    <h1>Temporarily unavailable</h1>
    <p>This page cannot be shown right now. Please try again in a few seconds.</p>
    <p><a href="/">Back to the current status</a></p>
  </main>
</body>
</html>
"""


class Site:
    """What every request handler needs: settings, the engine, the templates, the page cache."""

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        *,
        wiring: Wiring,
        clock: Clock | None = None,
        version_check_interval: float = 0.5,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.clock = clock or SystemClock()
        self.templates: Environment = make_environment(settings.templates_dir, settings.config.page.time_zone)
        self.cache = PageCache(VersionWatcher(self.data_version, check_interval=version_check_interval))
        self.keys = CacheKeys()  # the cached routes and their query parameters (create_app registers them)
        self.answers = CachedAnswers(self.cache, answer_headers, self.keys)  # for FastPath
        self._unavailable_html = UNAVAILABLE_HTML.format(name=html.escape(settings.config.page.name)).encode()
        self.refusals = RefusalLog(engine)  # refused admin API requests, written in the background
        # What every change made through the site runs before its commit (create_app chooses).
        self.wiring = wiring

    def data_version(self) -> int:
        with self.engine.connect() as connection:
            return int(connection.execute(text("SELECT data_version FROM site_state WHERE id = 1")).scalar_one())

    def read(self, build: Callable[[V2Builder], Any]) -> Any:
        with new_session(self.engine) as session:
            return build(V2Builder(session, self.settings.config, now=self.clock.now()))

    def render(self, template: str, context: dict[str, Any]) -> str:
        return self.templates.get_template(template).render(page=self.settings.config.page, **context)

    def html(self, template: str, context: dict[str, Any], status_code: int = 200) -> HTMLResponse:
        return HTMLResponse(self.render(template, context), status_code=status_code)

    def produce_html(self, template: str, context: dict[str, Any], status_code: int = 200) -> Produced:
        return Produced(self.render(template, context).encode(), "text/html; charset=utf-8", status_code)

    async def respond(
        self, request: Request, produce: Callable[[], Produced], *, cache_control: str = PAGE_CACHE_CONTROL
    ) -> Response:
        """Serve from the page cache (rendering once per data version), with ETag, 304 and gzip;
        a 503 when the database cannot be read and there is no copy to serve."""
        # From the scope: building request.url (urlunsplit) cost ~8 % of a cached 304.
        scope = request.scope
        key = request_key(scope)
        keep: Keep = None  # a request not in canonical form is not kept beyond the LRU
        if CACHE_KEY in scope:
            keep = "page" if key in self.keys.fixed else "view"
        try:
            entry = await self.cache.get(key, produce, keep=keep)
        except Unavailable:
            return self.unavailable(request)
        self.answers.remember(key, scope["path"], entry, cache_control)
        return cached_response(request, entry, cache_control)

    def unavailable(self, request: Request) -> Response:
        """503 with Retry-After: a problem document for a file-like address (``.json``, a feed,
        the badge), a small page (made without the database or the templates) for a page."""
        path: str = request.scope["path"]
        if "." in path.rsplit("/", 1)[-1]:
            response = problem(503, "Service unavailable", UNAVAILABLE_DETAIL)
        else:
            response = HTMLResponse(self._unavailable_html, status_code=503)
        response.headers.update(UNAVAILABLE_HEADERS)
        return response


def cached_response(request: Request, entry: Rendered, cache_control: str) -> Response:
    produced = entry.produced
    use_gzip = wants_gzip(entry, request.headers.get("accept-encoding", ""))
    headers = {
        "etag": gzip_etag(entry) if use_gzip else entry.etag,
        "cache-control": cache_control if produced.status_code == 200 else "public, max-age=10",
        "vary": "Accept-Encoding",
        **produced.headers,
    }
    if produced.status_code == 200 and etag_matches(request.headers.get("if-none-match"), (entry.etag, gzip_etag(entry))):
        return Response(status_code=304, headers=headers)
    if use_gzip:
        assert entry.gzipped is not None
        headers["content-encoding"] = "gzip"
        return Response(entry.gzipped, status_code=produced.status_code, headers=headers, media_type=produced.media_type)
    return Response(produced.body, status_code=produced.status_code, headers=headers, media_type=produced.media_type)


def answer_headers(path: str, entry: Rendered, use_gzip: bool, cache_control: str, not_modified: bool) -> list[tuple[bytes, bytes]]:
    """The raw headers of the 200 or 304 the normal path sends for ``entry`` at ``path``, made by
    the same code (:func:`cached_response`, then the security and cross-origin middlewares) so
    that :class:`statuspage.web.fastpath.FastPath` cannot drift from it."""
    offered = [(b"accept-encoding", b"gzip" if use_gzip else b"identity")]
    if not_modified:
        offered.append((b"if-none-match", entry.etag.encode()))
    response = cached_response(Request({"type": "http", "method": "GET", "headers": offered}), entry, cache_control)
    assert response.status_code == (304 if not_modified else 200)
    return with_cors_headers(path, with_security_headers(response.raw_headers))


def json_bytes(data: Any) -> bytes:
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    # Keep a browser from ever reading '<' in JSON as markup.
    return body.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026").encode()


def json_response(data: Any, status_code: int = 200) -> Response:
    return Response(json_bytes(data), status_code=status_code, media_type="application/json")


def produce_json(data: Any) -> Produced:
    return Produced(json_bytes(data), "application/json")


def problem_bytes(status_code: int, title: str, detail: str, **extra: Any) -> bytes:
    return json_bytes({"type": "about:blank", "title": title, "status": status_code, "detail": detail, **extra})


def problem(status_code: int, title: str, detail: str, **extra: Any) -> Response:
    """An RFC 9457 problem document."""
    return Response(
        problem_bytes(status_code, title, detail, **extra), status_code=status_code, media_type="application/problem+json"
    )
