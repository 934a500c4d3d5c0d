"""Alert intake: ``POST /api/integrations/alertmanager``, ``/grafana`` and ``/generic``.

- **Authentication.** ``Authorization: Bearer sp_...`` with an ``alerts`` token (``incident token
  create --scope alerts``); Alertmanager's ``http_config.authorization`` and Grafana's webhook
  contact point send it. No token or an unknown one is 401; a ``read`` or ``write`` token is 403:
  a secret written into a monitoring configuration can post alerts and do nothing else, and an
  admin token is not spread into monitoring configurations.
- **Answers.** 200 with what was done with each alert (``opened``, ``joined``, ``still_firing``,
  ``fired_again``, ``capped``, ``unrouted``, ``resolved``, ``already_resolved``) and the incidents
  concerned, once the request and its changes are committed; a retry of the same body gets the
  first answer again, with ``duplicate: true``. Refusals are RFC 9457 problem documents naming
  the field (400 malformed JSON, 413 over :data:`MAX_BODY_BYTES`, 415 not JSON, 422 a field
  that is wrong or missing), never a 500. Alertmanager and Grafana do not retry a 4xx and do
  retry a 5xx, so a database that cannot be reached is a 503: the alert comes again.
- **Audit.** Each request is an ``api.request`` event of the token, like an admin API request
  (a request that changed something is linked to its changes), besides the ``alert_request``
  row that keeps its body.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from statuspage.alerts import payloads
from statuspage.alerts import service as alerts
from statuspage.db.engine import new_session
from statuspage.db.models import ApiToken
from statuspage.errors import UserError
from statuspage.web.admin.access import Access, AdminWriteContext, record_outcome
from statuspage.web.admin.auth import INTAKE_SCOPES, actor_for, authenticate, bearer_secret
from statuspage.web.admin.body import read_json
from statuspage.web.admin.calls import site_clock
from statuspage.web.admin.problems import (
    ApiProblem,
    database_unavailable_problem,
    database_unreachable,
    user_error_problem,
    validation_problem,
)
from statuspage.web.site import Site, json_response

log = logging.getLogger(__name__)

PREFIX = "/api/integrations"
# A storm is one request per group: Alertmanager sends every alert of a group in one body.
MAX_BODY_BYTES = 4 * 1024 * 1024
OPERATION_IDS = {"alertmanager": "alertmanagerIntake", "grafana": "grafanaIntake", "generic": "genericIntake"}


def receive(site: Site, source: str, body: dict[str, Any], batch: payloads.Batch, token: ApiToken, access: Access) -> dict[str, Any]:
    """Store and act on one request, in this (worker) thread, with a session of its own."""
    try:
        with new_session(site.engine) as session:
            ctx = AdminWriteContext(
                session=session,
                clock=site_clock(site),
                actor=actor_for(token, None),
                config=site.settings.config,
                wiring=site.wiring,
                access=access,
            )
            return alerts.receive(ctx=ctx, batch=batch, body=body, token_name=token.name)
    except UserError as exc:
        if exc.status_code >= 500:
            raise ApiProblem(exc.status_code, exc.title, exc.message) from None
        raise user_error_problem(exc, frozenset()) from None
    except (DBAPIError, SQLAlchemyTimeoutError) as exc:
        if not database_unreachable(exc):
            raise
        log.warning("database unavailable receiving alerts from %s: %s", source, getattr(exc, "orig", None) or exc)
        raise database_unavailable_problem() from None


async def intake(site: Site, source: str, request: Request) -> Response:
    access = Access.of(request, None)
    access.operation_id = OPERATION_IDS[source]
    try:
        if request.method != "POST":
            raise ApiProblem(405, "Method not allowed", f"{request.method} is not allowed here; use POST", headers={"allow": "POST"})
        secret = bearer_secret(request)
        token = await run_in_threadpool(authenticate, site, secret, access, scopes=INTAKE_SCOPES)
        access.token = token
        access.actor = actor_for(token, None).name
        body = await read_json(request, limit=MAX_BODY_BYTES)
        try:
            batch = payloads.parse(source, body)
        except ValidationError as exc:
            raise validation_problem(exc) from None
        result = await run_in_threadpool(receive, site, source, body, batch, token, access)
    except ApiProblem as exc:
        access.problem = exc.detail if exc.status in (401, 403) else exc.title
        await record_outcome(site, access, exc.status)
        return exc.response()
    except Exception:
        access.problem = "internal error"
        await record_outcome(site, access, 500)
        raise
    response = json_response(result)
    response.headers["cache-control"] = "no-store"
    await record_outcome(site, access, 200)
    return response


def routes(site: Site) -> list[BaseRoute]:
    def endpoint(source: str) -> Callable[[Request], Awaitable[Response]]:
        async def handle(request: Request) -> Response:
            return await intake(site, source, request)

        return handle

    # Every method reaches the endpoint, which answers a 405 as a problem document itself.
    methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
    return [Route(f"{PREFIX}/{source}", endpoint(source), methods=methods, name=f"integrations:{source}") for source in payloads.SOURCES]
