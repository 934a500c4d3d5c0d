"""The public site: the status page, its JSON twins and the Statuspage v2 API.

Routes are listed in one table in :func:`create_app`; so is the middleware stack.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from jinja2 import Environment
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Match, Mount, Route, Router, get_route_path
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from statuspage.clock import Clock, SystemClock
from statuspage.context import Wiring
from statuspage.db.engine import make_engine, new_session
from statuspage.errors import InvalidInput, NotFound
from statuspage.incidents import service as incidents
from statuspage.runtime import wiring_for
from statuspage.settings import Settings, load_settings
from statuspage.web import admin, feeds, pages, slack_actions
from statuspage.web.cache import PageCache, Produced, Rendered, VersionWatcher
from statuspage.web.fastpath import NotModifiedFastPath, Revalidations, cache_key, etag_matches, gzip_etag, wants_gzip
from statuspage.web.refusals import RefusalLog
from statuspage.web.templating import make_environment
from statuspage.web.v2 import V2Builder

log = logging.getLogger(__name__)

SECURITY_HEADERS = {
    "content-security-policy": "default-src 'none'; style-src 'self'; img-src 'self' data:; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "strict-origin-when-cross-origin",
    "x-frame-options": "DENY",
}


SECURITY_RAW = [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]


def with_security_headers(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    present = {name.lower(): value for name, value in headers}
    own_csp = present.get(b"content-security-policy", b"")
    # A response that sets its own frame-ancestors (the embeddable badge) decides framing
    # itself; X-Frame-Options has no "allow" value, so it is left out for it.
    skip = {b"x-frame-options"} if b"frame-ancestors" in own_csp else set()
    return headers + [h for h in SECURITY_RAW if h[0] not in present and h[0] not in skip]


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = with_security_headers(list(message.get("headers", [])))
            await send(message)

        await self.app(scope, receive, send_with_headers)


PAGE_CACHE_CONTROL = "public, max-age=10, stale-while-revalidate=30"
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class Site:
    """What every request handler needs: settings, the engine, the templates, the page cache."""

    def __init__(
        self, settings: Settings, engine: Engine, *, clock: Clock | None = None, version_check_interval: float = 0.5
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.clock = clock or SystemClock()
        self.templates: Environment = make_environment(settings.templates_dir, settings.config.page.time_zone)
        self.cache = PageCache(VersionWatcher(self.data_version, check_interval=version_check_interval))
        self.revalidations = Revalidations(self.cache, not_modified_headers)
        self.refusals = RefusalLog(engine)  # refused admin API requests, written in the background
        # What every change made through the site runs before its commit: the product's hooks, then
        # the admin API's access record, which goes in with the change it made.
        self.wiring: Wiring = wiring_for(settings).with_hook(admin.record_with_change)

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
        """Serve from the page cache (rendering once per data version), with ETag, 304 and gzip."""
        # From the scope: building request.url (urlunsplit) cost ~8 % of a cached 304.
        key = cache_key(request.scope)
        entry = await self.cache.get(key, produce)
        self.revalidations.remember(key, entry, cache_control)  # for NotModifiedFastPath
        return cached_response(request, entry, cache_control)


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


def not_modified_headers(entry: Rendered, use_gzip: bool, cache_control: str) -> list[tuple[bytes, bytes]]:
    """The raw headers of the 304 the normal path sends for ``entry``, made by the same code
    (:func:`cached_response`, then :class:`SecurityHeaders`) so that the fast path cannot drift."""
    offered = [(b"if-none-match", entry.etag.encode()), (b"accept-encoding", b"gzip" if use_gzip else b"identity")]
    response = cached_response(Request({"type": "http", "method": "GET", "headers": offered}), entry, cache_control)
    assert response.status_code == 304
    return with_security_headers(response.raw_headers)


class InvalidateAfterWrites:
    """After a write request in this process, the next page request re-reads the data version at
    once instead of waiting for the next periodic check (other processes see it within the check
    interval)."""

    def __init__(self, app: ASGIApp, site: Site) -> None:
        self.app = app
        self.site = site

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        finally:
            if scope["type"] == "http" and scope["method"] in WRITE_METHODS:
                self.site.cache.watcher.invalidate()


def json_bytes(data: Any) -> bytes:
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    # Keep a browser from ever reading '<' in JSON as markup.
    return body.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026").encode()


def json_response(data: Any, status_code: int = 200) -> Response:
    return Response(json_bytes(data), status_code=status_code, media_type="application/json")


def produce_json(data: Any) -> Produced:
    return Produced(json_bytes(data), "application/json")


# The public Statuspage v2 API: path → how to build it.
V2_ENDPOINTS: dict[str, Callable[[V2Builder], Any]] = {
    "summary": V2Builder.summary,
    "status": V2Builder.status,
    "components": V2Builder.components_endpoint,
    "incidents": V2Builder.incidents_endpoint,
    "incidents/unresolved": V2Builder.unresolved_endpoint,
    "scheduled-maintenances": V2Builder.maintenances_endpoint,
    "scheduled-maintenances/upcoming": V2Builder.upcoming_endpoint,
    "scheduled-maintenances/active": V2Builder.active_endpoint,
}

PageBuilder = Callable[[V2Builder, Request], dict[str, Any]]

# The HTML pages; each has a JSON twin built from the same context.
PAGES: dict[str, tuple[str, PageBuilder]] = {
    "/": ("index.html", pages.index_context),
    "/history": ("history.html", pages.history_context),
    "/pricing": ("pricing.html", pages.pricing_context),
    "/sla": ("sla.html", pages.sla_context),
    "/incidents/{incident_id}": ("incident.html", pages.incident_context),
}


def create_app(
    settings: Settings | None = None,
    engine: Engine | None = None,
    *,
    clock: Clock | None = None,
    version_check_interval: float = 0.5,
) -> Starlette:
    settings = settings or load_settings()
    engine = engine or make_engine(settings.database_url)
    site = Site(settings, engine, clock=clock, version_check_interval=version_check_interval)

    def page_routes(path: str, template: str, build: PageBuilder) -> list[Route]:
        def produce(request: Request, as_json: bool) -> Produced:
            try:
                context = site.read(lambda b: build(b, request))
            except (NotFound, InvalidInput) as exc:
                status = 404 if isinstance(exc, NotFound) else 400
                if as_json:
                    title = "Not found" if status == 404 else "Bad request"
                    return Produced(problem_bytes(status, title, exc.message), "application/problem+json", status)
                return site.produce_html("not_found.html", {"message": exc.message}, status_code=status)
            if as_json:
                return produce_json(context["json"])
            return site.produce_html(template, context)

        async def html(request: Request) -> Response:
            return await site.respond(request, lambda: produce(request, False))

        async def as_json(request: Request) -> Response:
            return await site.respond(request, lambda: produce(request, True))

        json_path = "/index.json" if path == "/" else path + ".json"
        # The JSON twin first, so /incidents/7.json is not read as incident "7.json".
        return [Route(json_path, as_json), Route(path, html)]

    def v2_route(name: str, build: Callable[[V2Builder], Any]) -> Route:
        async def endpoint(request: Request) -> Response:
            return await site.respond(request, lambda: produce_json(site.read(build)))

        return Route(f"/api/v2/{name}.json", endpoint, name=f"v2_{name.replace('/', '_')}")

    def healthz(request: Request) -> Response:
        """For the load balancer: 200 while this process can read the database, 503 when not.

        While the database is away the pages are still served, from the last good copy, so the
        process is alive but out of date: 503 lets a load balancer prefer instances that can see
        their database (another region, a replica) and lets monitoring page someone. When every
        instance answers 503, load balancers fail open and keep sending traffic, so visitors still
        get the last good page rather than the balancer's own error.
        """
        try:
            site.read(lambda b: incidents.count_open(session=b.session))
        except (DBAPIError, SQLAlchemyTimeoutError):
            return PlainTextResponse(
                "database unavailable; serving the last good pages\n",
                status_code=503,
                headers={"cache-control": "no-store", "retry-after": "5"},
            )
        return PlainTextResponse("ok\n", headers={"cache-control": "no-store"})

    async def not_found(request: Request, exc: Exception) -> Response:
        if request.url.path.startswith("/api/"):
            return problem(404, "Not found", f"no such endpoint: {request.url.path}")
        return site.html("not_found.html", {"message": "There is no page at this address."}, status_code=404)

    async def server_error(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s", request.url.path)
        if request.url.path.startswith("/api/"):
            return problem(500, "Internal error", "the server could not answer; it has been logged")
        return PlainTextResponse("The status page could not be shown. The error has been logged.\n", status_code=500)

    routes: list[BaseRoute] = []
    for path, (template, build) in PAGES.items():
        routes += page_routes(path, template, build)
    routes += [v2_route(name, build) for name, build in V2_ENDPOINTS.items()]
    routes += [
        Route("/healthz", healthz, name="healthz"),
        *feeds.routes(site),
        *admin.routes(site),
        *slack_actions.routes(site),
        Mount("/static", app=StaticFiles(directory=str(settings.static_dir)), name="static"),
    ]
    middleware = [
        Middleware(NotModifiedFastPath, revalidations=site.revalidations),  # cached 304s, before all else
        Middleware(SecurityHeaders),
        Middleware(InvalidateAfterWrites, site=site),
    ]
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        # The last seconds' refused admin API requests are only in memory until written.
        await run_in_threadpool(site.refusals.close)

    app = Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers={404: not_found, 500: server_error},
        lifespan=lifespan,
    )
    relative_slash_redirects(app.router)
    app.state.site = site
    return app


def relative_slash_redirects(router: Router) -> None:
    """Redirect ``/history/`` to ``/history`` (and ``/static`` to ``/static/``) with a relative
    ``Location``, instead of Starlette's ``redirect_slashes``, which builds an absolute URL from
    the ``Host`` header: the client's to choose, so ``Host: evil.example`` sent the visitor (and
    any cache in front, everyone) to http://evil.example/history."""
    not_found = router.default
    router.redirect_slashes = False

    async def default(scope: Scope, receive: Receive, send: Send) -> None:
        location = slash_twin(router, scope) if scope["type"] == "http" else None
        if location is None:
            await not_found(scope, receive, send)
            return
        await RedirectResponse(location)(scope, receive, send)

    router.default = default


def slash_twin(router: Router, scope: Scope) -> str | None:
    """The path with its trailing slash added or removed, when a route answers that (the rule
    Starlette's redirect_slashes follows), as a relative URL with the query string; else None."""
    route_path = get_route_path(scope)
    if route_path == "/":
        return None
    twin = dict(scope)
    twin["path"] = scope["path"].rstrip("/") if route_path.endswith("/") else scope["path"] + "/"
    if not any(route.matches(twin)[0] is not Match.NONE for route in router.routes):
        return None
    # One leading slash only: "//evil.example/x" would name another host.
    location = "/" + twin["path"].lstrip("/")
    query = scope.get("query_string", b"").decode("latin-1")
    return f"{location}?{query}" if query else location


def problem_bytes(status_code: int, title: str, detail: str, **extra: Any) -> bytes:
    return json_bytes({"type": "about:blank", "title": title, "status": status_code, "detail": detail, **extra})


def problem(status_code: int, title: str, detail: str, **extra: Any) -> Response:
    """An RFC 9457 problem document."""
    return Response(
        problem_bytes(status_code, title, detail, **extra), status_code=status_code, media_type="application/problem+json"
    )
