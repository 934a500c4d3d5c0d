"""The public site: the status page, its JSON twins and the Statuspage v2 API.

Routes are listed in one table in :func:`create_app`; so is the middleware stack.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Match, Mount, Route, Router, get_route_path
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from statuspage.clock import Clock
from statuspage.db.engine import make_engine
from statuspage.errors import InvalidInput, NotFound, UserError
from statuspage.ids import parse_id
from statuspage.incidents import service as incidents
from statuspage.read.v2 import V2Builder
from statuspage.runtime import wiring_for
from statuspage.settings import SLUG, Settings, load_settings
from statuspage.web import ack, embed, feeds, integrations, pages, slack_actions, subscribe
from statuspage.web.admin.access import record_with_change
from statuspage.web.admin.operations import routes as admin_routes
from statuspage.web.cache import Produced
from statuspage.web.cors import CrossOriginReads
from statuspage.web.fastpath import CacheKeys, FastPath, Normaliser
from statuspage.web.security import SecurityHeaders
from statuspage.web.site import Site, problem, problem_bytes, produce_json

log = logging.getLogger(__name__)


class StatusPageApp(Starlette):
    """The site: cache hits are sent by :class:`FastPath` before Starlette's own middleware and
    routing; everything else goes through them, in canonical form."""

    fast: FastPath

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            canonical = await self.fast(scope, send)
            if canonical is None:
                return
            scope = canonical
        await super().__call__(scope, receive, send)


WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


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


def json_twin(path: str) -> str:
    return "/index.json" if path == "/" else path + ".json"


def page_number_value(raw: str) -> str | None:
    """``?page=``: a number without leading zeros, 1 as if absent (the first page); a value the
    page refuses is kept as written, for its 400 to quote."""
    if raw.isascii() and raw.isdigit() and len(raw) <= 4 and int(raw) > 0:
        return None if int(raw) == 1 else str(int(raw))
    return raw


def component_value(raw: str) -> str | None:
    """``?component=``: ids are lower case; a value that can be no id is kept as written."""
    lowered = raw.lower()
    return lowered if SLUG.match(lowered) else raw


def as_written(raw: str) -> str | None:
    """A value with one spelling only (``?day=2026-11-25``: the page refuses any other)."""
    return raw


def incident_id_value(raw: str) -> str | None:
    """``/incidents/007`` is incident 7 (as :func:`statuspage.ids.parse_id` reads it)."""
    try:
        return str(parse_id(raw))
    except UserError:
        return None


# The query parameters each cached public address reads (``request.query_params`` in pages.py and
# feeds.py) and their canonical form. Every other parameter is left out of the request before
# routing (see statuspage.web.fastpath): a parameter a page starts reading must be added here.
HISTORY_QUERY: dict[str, Normaliser] = {"page": page_number_value, "component": component_value, "day": as_written}
COMPONENT_QUERY: dict[str, Normaliser] = {"component": component_value}
QUERY_PARAMETERS: dict[str, dict[str, Normaliser]] = {
    "/history": HISTORY_QUERY,
    "/history.json": HISTORY_QUERY,
    "/history.atom": COMPONENT_QUERY,
    "/history.rss": COMPONENT_QUERY,
    "/badge.svg": COMPONENT_QUERY,
}
# The cached addresses besides the pages and the v2 API: the feeds, the badge, the embeds.
OTHER_CACHED = ("/history.atom", "/history.rss", "/badge.svg", "/embed.js", "/embed")


def register_cache_keys(keys: CacheKeys) -> None:
    """Every address served through :meth:`Site.respond`, with the parameters it reads."""
    for path in PAGES:
        for route_path in (json_twin(path), path):  # the JSON twin's pattern is the more specific
            value = incident_id_value if "{incident_id}" in route_path else None
            keys.register(route_path, QUERY_PARAMETERS.get(route_path), value)
    for name in V2_ENDPOINTS:
        keys.register(f"/api/v2/{name}.json")
    for path in OTHER_CACHED:
        keys.register(path, QUERY_PARAMETERS.get(path))


def create_app(
    settings: Settings | None = None,
    engine: Engine | None = None,
    *,
    clock: Clock | None = None,
    version_check_interval: float = 0.5,
    trusted_proxies: str | None = None,
) -> StatusPageApp:
    """The site. ``trusted_proxies`` (addresses, as uvicorn's ``forwarded_allow_ips``): honour
    ``X-Forwarded-For``/``-Proto`` from them, for servers that do not (granian)."""
    settings = settings or load_settings()
    engine = engine or make_engine(settings.database_url)
    # What every change made through the site runs before its commit: the product's hooks, then
    # the admin API's access record, which goes in with the change it made.
    wiring = wiring_for(settings).with_hook(record_with_change)
    site = Site(settings, engine, wiring=wiring, clock=clock, version_check_interval=version_check_interval)
    register_cache_keys(site.keys)

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

        json_path = json_twin(path)
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
        *embed.routes(site),
        *admin_routes(site),
        *integrations.routes(site),
        *slack_actions.routes(site),
        *ack.routes(site),
        *subscribe.routes(site),
        Mount("/static", app=StaticFiles(directory=str(settings.static_dir)), name="static"),
    ]
    middleware = [
        Middleware(CrossOriginReads),  # CORS on the public read addresses
        Middleware(SecurityHeaders),
        Middleware(InvalidateAfterWrites, site=site),
    ]

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        # The last seconds' refused admin API requests are only in memory until written.
        await run_in_threadpool(site.refusals.close)

    if trusted_proxies is not None:
        from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

        middleware.insert(0, Middleware(ProxyHeadersMiddleware, trusted_hosts=trusted_proxies))  # type: ignore[arg-type]
    app = StatusPageApp(
        routes=routes,
        middleware=middleware,
        exception_handlers={404: not_found, 500: server_error},
        lifespan=lifespan,
    )
    relative_slash_redirects(app.router)
    app.fast = FastPath(site.answers)
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
