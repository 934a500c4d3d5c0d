"""Who is calling: the bearer token, checked against the database, and the person a client may
name in ``X-Incident-User``; together, the actor the service layer records."""

from __future__ import annotations

import logging

from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from starlette.requests import Request

from statuspage import validators
from statuspage.context import Actor
from statuspage.db.engine import new_session
from statuspage.db.models import ApiToken
from statuspage.domain.enums import Source
from statuspage.tokens import service as tokens
from statuspage.web.admin.access import Access
from statuspage.web.admin.calls import site_clock
from statuspage.web.admin.problems import ApiProblem, database_unavailable_problem, database_unreachable, invalid
from statuspage.web.site import Site

log = logging.getLogger(__name__)

MAX_HUMAN_NAME = 80
REALM = 'Bearer realm="statuspage-admin"'


def bearer_secret(request: Request) -> str:
    header = request.headers.get("authorization")
    if not header:
        raise ApiProblem(
            401,
            "Unauthorized",
            "this endpoint needs a token: send Authorization: Bearer <token> (make one with: incident token create)",
            headers={"www-authenticate": REALM},
        )
    scheme, _, secret = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise ApiProblem(
            401,
            "Unauthorized",
            "send the token as Authorization: Bearer <token>",
            headers={"www-authenticate": f'{REALM}, error="invalid_request"'},
        )
    return secret.strip()


def human_name(request: Request) -> str | None:
    """The X-Incident-User header, read as UTF-8 (Starlette hands header bytes over as Latin-1)."""
    raw = request.headers.get("x-incident-user")
    if raw is None:
        return None
    try:
        value = raw.encode("latin-1").decode("utf-8")
    except UnicodeError:
        value = raw
    try:
        return validators.person_name(value, field="X-Incident-User", limit=MAX_HUMAN_NAME)
    except validators.Refused as exc:
        raise invalid([{"field": "X-Incident-User", "message": exc.problem}]) from None


# The scopes the admin API takes; an ``alerts`` token may only post alerts (/api/integrations/).
ADMIN_SCOPES = frozenset({"read", "write"})
INTAKE_SCOPES = frozenset({"alerts"})


def authenticate(site: Site, secret: str, access: Access | None = None, *, scopes: frozenset[str] = ADMIN_SCOPES) -> ApiToken:
    """The live token whose secret this is, if its scope is one of ``scopes``; else a 401 (no such
    token) or a 403 (a token for something else) problem."""
    # Checking the token is the request's first database work: a database that cannot be reached
    # is a 503 here as much as in the handler, not an unhandled error.
    try:
        with new_session(site.engine) as session:
            token = tokens.authenticate(session, secret, site_clock(site).now())
            if token is None and access is not None:
                # Name a revoked token that is still in use in the access record (never the secret).
                access.token = tokens.find_by_secret(session, secret)
    except (DBAPIError, SQLAlchemyTimeoutError) as exc:
        if not database_unreachable(exc):
            raise
        log.warning("database unavailable checking an admin API token: %s", getattr(exc, "orig", None) or exc)
        raise database_unavailable_problem() from None
    if token is None:
        raise ApiProblem(
            401,
            "Unauthorized",
            "the token is not valid: it is unknown or has been revoked",
            headers={"www-authenticate": f'{REALM}, error="invalid_token"'},
        )
    if token.scope not in scopes:
        if access is not None:
            access.token = token
        if scopes == INTAKE_SCOPES:
            detail = f"token {token.name!r} is a {token.scope} token; alerts are taken from alerts tokens only (make one with: incident token create --scope alerts)"
        else:
            detail = f"token {token.name!r} is an {token.scope} token: it may only post alerts to /api/integrations/; this needs a read or write token"
        wanted = " ".join(sorted(scopes))
        raise ApiProblem(403, "Forbidden", detail, headers={"www-authenticate": f'{REALM}, error="insufficient_scope", scope="{wanted}"'})
    return token


def actor_for(token: ApiToken | None, human: str | None) -> Actor:
    if token is None:
        return Actor("anonymous", Source.API)
    if human:
        return Actor(f"{human} via token:{token.name}", Source.API)
    return Actor(f"token:{token.name}", Source.API)
