"""The public site: the status page, its JSON twins and the Statuspage v2 API.

Routes are listed in one table in :func:`create_app`; so is the middleware stack.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from jinja2 import Environment
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError, ProgrammingError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from statuspage.db.engine import make_engine, new_session
from statuspage.errors import NotFound
from statuspage.incidents import service as incidents
from statuspage.settings import Settings, load_settings
from statuspage.web import admin, feeds, pages
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


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.raw = [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                present = {name.lower() for name, _ in message["headers"]}
                message["headers"] = list(message["headers"]) + [h for h in self.raw if h[0] not in present]
            await send(message)

        await self.app(scope, receive, send_with_headers)


class Site:
    """What every request handler needs: settings, the engine, the templates."""

    def __init__(self, settings: Settings, engine: Engine) -> None:
        self.settings = settings
        self.engine = engine
        self.templates: Environment = make_environment(settings.templates_dir, settings.config.page.time_zone)

    def read(self, build: Callable[[V2Builder], Any]) -> Any:
        with new_session(self.engine) as session:
            return build(V2Builder(session, self.settings))

    def html(self, template: str, context: dict[str, Any], status_code: int = 200) -> HTMLResponse:
        body = self.templates.get_template(template).render(page=self.settings.config.page, **context)
        return HTMLResponse(body, status_code=status_code)


def json_response(data: Any, status_code: int = 200) -> Response:
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    # Keep a browser from ever reading '<' in JSON as markup.
    body = body.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Response(body, status_code=status_code, media_type="application/json")


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> Starlette:
    settings = settings or load_settings()
    engine = engine or make_engine(settings.database_url)
    site = Site(settings, engine)

    def index(request: Request) -> Response:
        return site.html("index.html", site.read(pages.index_context))

    def incident_page(request: Request) -> Response:
        incident_id = request.path_params["incident_id"]
        try:
            context = site.read(lambda b: pages.incident_context(b, incident_id))
        except NotFound as exc:
            return site.html("not_found.html", {"message": exc.message}, status_code=404)
        return site.html("incident.html", context)

    def incident_json(request: Request) -> Response:
        incident_id = request.path_params["incident_id"]
        try:
            context = site.read(lambda b: pages.incident_context(b, incident_id))
        except NotFound as exc:
            return problem(404, "Not found", exc.message)
        return json_response({"page": context["summary"]["page"], "incident": context["incident"]})

    def summary(request: Request) -> Response:
        return json_response(site.read(lambda b: b.summary()))

    def status(request: Request) -> Response:
        return json_response(site.read(lambda b: b.status()))

    def healthz(request: Request) -> Response:
        try:
            site.read(lambda b: incidents.count_open(session=b.session))
        except (OperationalError, ProgrammingError):
            return PlainTextResponse("database unavailable\n", status_code=503)
        return PlainTextResponse("ok\n")

    async def not_found(request: Request, exc: Exception) -> Response:
        if request.url.path.startswith("/api/"):
            return problem(404, "Not found", f"no such endpoint: {request.url.path}")
        return site.html("not_found.html", {"message": "There is no page at this address."}, status_code=404)

    async def server_error(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s", request.url.path)
        if request.url.path.startswith("/api/"):
            return problem(500, "Internal error", "the server could not answer; it has been logged")
        return PlainTextResponse("The status page could not be shown. The error has been logged.\n", status_code=500)

    routes = [
        Route("/", index, name="index"),
        Route("/incidents/{incident_id}.json", incident_json, name="incident_json"),
        Route("/incidents/{incident_id}", incident_page, name="incident"),
        Route("/api/v2/summary.json", summary, name="v2_summary"),
        Route("/api/v2/status.json", status, name="v2_status"),
        Route("/healthz", healthz, name="healthz"),
        *feeds.routes(site),
        *admin.routes(site),
        Mount("/static", app=StaticFiles(directory=str(settings.static_dir)), name="static"),
    ]
    middleware = [Middleware(SecurityHeaders)]
    app = Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers={404: not_found, 500: server_error},
    )
    app.state.site = site
    return app


def problem(status_code: int, title: str, detail: str, **extra: Any) -> Response:
    """An RFC 9457 problem document."""
    body = {"type": "about:blank", "title": title, "status": status_code, "detail": detail, **extra}
    response = json_response(body, status_code=status_code)
    response.headers["content-type"] = "application/problem+json"
    return response
