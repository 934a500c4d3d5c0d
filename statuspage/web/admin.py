"""The admin API: writing to the status page from outside, with bearer tokens.

Everything lives under ``/api/admin/v1/`` and is described by one table, :data:`OPERATIONS`, from
which both the routes and the OpenAPI 3.1 document at ``/api/admin/v1/openapi.json`` are made, so
the two cannot drift apart.

Decisions, so that clients can rely on them:

- **Authentication.** ``Authorization: Bearer sp_...``, a token made with ``incident token create``.
  No token, an unknown one or a revoked one is 401 with ``WWW-Authenticate: Bearer``; a ``read``
  token on a write is 403. Only the OpenAPI document is public.
- **Who did it.** The service layer acts as ``token:NAME`` (source ``api``), so the audit log names
  the token. A client may add ``X-Incident-User: alice`` (UTF-8, at most 80 characters) to name the
  person at the keyboard; the actor is then ``alice via token:NAME``. The header is the token
  holder's claim, so the token's name is always kept beside it; the claimed name alone is used
  where a person is meant: the default commander of a declared incident and the default
  acknowledger.
- **Access log.** Every request of a known token, answered or refused, is one ``api.request`` audit
  event (token, method, path, status, client address; never the secret): a write's in the
  transaction of its change, linked to that change's events; a read's in a transaction of its own
  that bumps no data version; a refusal's a few seconds later. Anonymous refusals are counted,
  one ``api.refused`` event per client address, minute, status and reason. See "The access
  audit" below.
- **Requests.** Bodies are JSON objects (``application/json`` or ``application/*+json``, UTF-8, at
  most 256 KiB), validated by the pydantic models below with unknown fields refused. An empty body
  counts as ``{}``, so actions whose fields are all optional (``resolve``) need none. Times must
  carry an offset (and lie between 1970 and 9000).
- **Errors** are RFC 9457 ``application/problem+json``: 400 malformed JSON (a key twice in one
  object too: which of the two was meant?), 401, 403, 404 unknown incident/maintenance/component
  in the path (an id that cannot be one, too: past 32 bits, other scripts' digits), 405, 409 a
  state conflict (resolving a resolved incident), 413, 415 not JSON, 422 invalid input, 503 the
  database away (with ``Retry-After``). A 422's ``detail`` is one line naming the field
  (``severity: must be 1-4``) and ``errors`` lists every ``{field, message}``. An unknown
  component named in a body is 422 (the request is wrong, not the address). Bad input never
  gives a 500.
- **Responses** are envelopes of Statuspage v2 objects (the shapes of :mod:`statuspage.web.v2`), with
  the ``page`` object beside them, so one renderer serves the public API, the admin API and the
  CLI. Each incident also carries an ``admin`` object with what the public format leaves out
  (commander, acknowledgement, exact times, who wrote each update, the status each component is
  held at); public clients ignore unknown keys.

Beyond declaring, updating and reading, the table has ``GET /token`` (which token is calling, and the
page, whose time zone the CLI needs to read '2026-12-01T06:00'), ``POST /incidents/{id}/handover``,
``POST /incidents/{id}/sla-pause`` and ``/sla-resume``, and ``GET /maintenances/{id}``, so that every ``incident`` command works remotely. A database that
cannot be reached is 503.

Handlers are plain functions run in Starlette's thread pool: the service layer and its database
work are synchronous, and must not block the event loop.
"""

from __future__ import annotations

import json
import logging
import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic.json_schema import models_json_schema
from pydantic_core import PydanticCustomError
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from sqlmodel import Session, col, select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from statuspage import ids, validators
from statuspage.clock import Clock, SystemClock
from statuspage.components import service as components_service
from statuspage.context import Actor, WriteContext
from statuspage.db.engine import new_session
from statuspage.db.models import (
    ApiToken,
    AuditEvent,
    Component,
    Incident,
    IncidentComponent,
    IncidentUpdate,
    Maintenance,
)
from statuspage.domain.enums import ComponentStatus, Source
from statuspage.errors import NotFound, UserError
from statuspage.incidents import service as incidents
from statuspage.maintenance import service as maintenance_service
from statuspage.outbox import database_unavailable
from statuspage.retention import ACCESS_ACTION
from statuspage.tokens import service as tokens
from statuspage.web.v2 import V2Builder

if TYPE_CHECKING:
    from statuspage.web.app import Site

log = logging.getLogger(__name__)

PREFIX = "/api/admin/v1"
MAX_BODY_BYTES = 256 * 1024
MAX_HUMAN_NAME = 80
REALM = 'Bearer realm="statuspage-admin"'
# What a 503 asks a client to wait before trying again (as /healthz does).
RETRY_AFTER_SECONDS = 5
# Outcomes decided before any handler ran (no token, a bad one, a read token on a write, a method
# the path does not have) or with the database away: recorded off the request path.
DEFERRED_STATUSES = frozenset({401, 403, 405, 503})
JSON = dict[str, Any]
ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


# Request models ------------------------------------------------------------------------------


def _no_control(value: str) -> str:
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise PydanticCustomError("control_characters", "must not contain control characters")
    return value


def _moment(value: datetime) -> datetime:
    """Keep times where every time zone can show them: near the ends of the calendar, converting
    to the page's zone would overflow on every later read."""
    try:
        year = value.astimezone(UTC).year
    except OverflowError:
        year = 0
    if not 1970 <= year < 9000:
        raise PydanticCustomError("time_range", "must be between the years 1970 and 9000")
    return value


def _checked(check: Callable[[str], object]) -> AfterValidator:
    """A rule of :mod:`statuspage.validators`, which the service layer and the command lines apply
    too: the same input is refused with the same words (``field: problem``) through every door.
    The value goes on as sent; the service layer trims it."""

    def run(value: str) -> str:
        try:
            check(value)
        except validators.Refused as exc:
            raise PydanticCustomError("text", "{problem}", {"problem": exc.problem}) from None
        return value

    return AfterValidator(run)


def _max_length(limit: int) -> Any:
    # Documented for clients; enforced by the rule itself, so that its words are the ones used.
    return Field(json_schema_extra={"maxLength": limit})


Moment = Annotated[AwareDatetime, AfterValidator(_moment)]
ComponentId = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_no_control)]
Title = Annotated[str, _max_length(validators.MAX_TITLE), _checked(validators.title)]
Message = Annotated[str, _max_length(validators.MAX_TEXT), _checked(lambda v: validators.free_text(v, field="message"))]
Reason = Annotated[
    str,
    _max_length(incidents.MAX_REASON),
    _checked(lambda v: validators.free_text(v, field="reason", limit=incidents.MAX_REASON, required=True)),
]
Name = Annotated[str, _max_length(validators.MAX_NAME), _checked(lambda v: validators.person_name(v, field="name"))]


def _components_mapping(value: Any) -> Any:
    """A list of ids is shorthand for each at the status the severity implies."""
    if isinstance(value, list):
        if not all(isinstance(item, str) for item in value):
            raise PydanticCustomError("components_item", "each component id must be a string")
        return dict.fromkeys(value)
    if not isinstance(value, dict):
        raise PydanticCustomError(
            "components_type", "must be a list of component ids or an object mapping component ids to statuses"
        )
    return value


_COMPONENTS_SCHEMA = {
    "description": "Affected components: a list of ids, or an object mapping each id to the status to hold it at "
    "(null: what the severity implies).",
    "oneOf": [
        {"type": "array", "items": {"type": "string", "minLength": 1, "maxLength": 64}, "minItems": 1},
        {
            "type": "object",
            "minProperties": 1,
            "additionalProperties": {"anyOf": [{"enum": [s.value for s in ComponentStatus]}, {"type": "null"}]},
        },
    ],
}

ComponentChanges = Annotated[
    dict[ComponentId, ComponentStatus | None],
    BeforeValidator(_components_mapping),
    WithJsonSchema(_COMPONENTS_SCHEMA),
]


class Body(BaseModel):
    """A request body: unknown fields are refused, so a typo is an error and not a silent no-op."""

    model_config = ConfigDict(extra="forbid")


class DeclareIncident(Body):
    """Open an incident and post its first public update."""

    severity: int = Field(description="A configured severity level, e.g. 1 for sev1.")
    title: Title = Field(description="What customers see.")
    components: Annotated[ComponentChanges, Field(min_length=1)]
    message: Message | None = Field(default=None, description="The first public update (default: a standard text).")
    commander: Name | None = Field(default=None, description="Default: the X-Incident-User, else the token.")
    detected_at: Moment | None = Field(default=None, description="When the problem began (default: now).")
    impact: Literal["none", "minor", "major", "critical"] | None = Field(
        default=None, description="Override the impact the severity implies."
    )

    @field_validator("severity", mode="before")
    @classmethod
    def _severity(cls, value: Any, info: ValidationInfo) -> Any:
        levels: list[int] = (info.context or {}).get("severity_levels") or [1, 2, 3, 4]
        if isinstance(value, bool) or not isinstance(value, int) or value not in levels:
            contiguous = levels == list(range(levels[0], levels[-1] + 1))
            allowed = f"{levels[0]}-{levels[-1]}" if contiguous else "one of " + ", ".join(map(str, levels))
            raise PydanticCustomError("severity", "must be {allowed}", {"allowed": allowed})
        return value


class PostUpdate(Body):
    """Add to the public timeline; optionally change the status and component statuses."""

    message: Message | None = Field(default=None, description="Required unless status is given.")
    status: Literal["investigating", "identified", "monitoring", "resolved"] | None = None
    components: ComponentChanges | None = None
    at: Moment | None = Field(default=None, description="When it happened, if not now.")

    @model_validator(mode="after")
    def _something(self) -> PostUpdate:
        if self.message is None and self.status is None and not self.components:
            raise PydanticCustomError("empty_update", "give message, status or components")
        return self


class ResolveIncident(Body):
    message: Message | None = Field(default=None, description="Default: 'This incident has been resolved.'")
    at: Moment | None = None


class ReopenIncident(Body):
    message: Message | None = None
    status: Literal["investigating", "identified", "monitoring"] = "investigating"


class AcknowledgeIncident(Body):
    by: Name | None = Field(default=None, description="Who took the page (default: the X-Incident-User, else the token).")


class HandOverIncident(Body):
    to: Name = Field(description="The new incident commander.")


class PauseSla(Body):
    reason: Reason = Field(description="What the customer is to do, e.g. 'waiting for their load balancer logs'.")


class RecordRootCause(Body):
    root_cause: Message | None = Field(default=None, description="The public root-cause summary; empty clears it.")
    remediation: Message | None = Field(default=None, description="What is being changed, with owners and dates.")


class SetComponentStatus(Body):
    status: ComponentStatus = Field(description="The component's own status; open incidents still hold theirs.")


class ScheduleMaintenance(Body):
    title: Title
    components: list[ComponentId] = Field(min_length=1)
    scheduled_for: Moment
    scheduled_until: Moment
    message: Message | None = None


class UpdateMaintenance(Body):
    status: Literal["in_progress", "verifying", "completed"]
    message: Message | None = None


class Query(BaseModel):
    model_config = ConfigDict(extra="forbid")


class IncidentListQuery(Query):
    open: bool = Field(default=False, description="Only incidents not yet resolved.")
    limit: int = Field(default=50, ge=1, le=1000)


class AuditQuery(Query):
    limit: int = Field(default=50, ge=1, le=500)
    subject_type: Annotated[str, Field(max_length=32), AfterValidator(_no_control)] | None = None
    subject_id: Annotated[str, Field(max_length=64), AfterValidator(_no_control)] | None = None
    action: Annotated[str, Field(max_length=64), AfterValidator(_no_control)] | None = None


# Problems ------------------------------------------------------------------------------------


class ApiProblem(Exception):
    """A refusal, raised anywhere in a request and answered as one problem document."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        *,
        headers: dict[str, str] | None = None,
        errors: list[dict[str, str | None]] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = " ".join(detail.split("\n"))
        self.headers = headers or {}
        self.errors = errors

    def response(self) -> Response:
        from statuspage.web.app import problem

        extra: dict[str, Any] = {} if self.errors is None else {"errors": self.errors}
        response = problem(self.status, self.title, self.detail, **extra)
        response.headers.update(self.headers)
        return response


def invalid(errors: list[dict[str, str | None]]) -> ApiProblem:
    first = errors[0]
    detail = f"{first['field']}: {first['message']}" if first["field"] else str(first["message"])
    if len(errors) > 1:
        detail += f" (and {len(errors) - 1} more)"
    return ApiProblem(422, "Invalid input", detail, errors=errors)


def _field_name(loc: Sequence[int | str]) -> str:
    parts: list[str] = []
    for part in loc:
        if part == "[key]":
            continue
        if isinstance(part, int):
            parts.append(f"[{part}]")
        elif re.fullmatch(r"[\w.-]+", part):
            parts.append(part)
        else:
            parts.append(json.dumps(part))
    return ".".join(parts).replace(".[", "[") or "body"


def _error_message(error: Any) -> str:
    kind: str = error["type"]
    ctx: dict[str, Any] = error.get("ctx") or {}
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return "is not a field of this request"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return "must be an integer"
    if kind == "string_type":
        return "must be a string"
    if kind in ("bool_type", "bool_parsing"):
        return "must be true or false"
    if kind == "string_too_long":
        return f"must be at most {ctx.get('max_length')} characters"
    if kind == "string_too_short":
        return "must not be empty"
    if kind == "too_short":
        return f"must have at least {ctx.get('min_length')} item(s)"
    if kind in ("literal_error", "enum"):
        return f"must be one of {ctx.get('expected')}"
    if kind == "timezone_aware":
        return "must carry a time zone offset, like 2026-11-25T08:00:00Z"
    if kind.startswith("datetime"):
        return "must be an ISO 8601 time with an offset, like 2026-11-25T08:00:00Z"
    if kind == "greater_than_equal":
        return f"must be at least {ctx.get('ge')}"
    if kind == "less_than_equal":
        return f"must be at most {ctx.get('le')}"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return "must be a JSON object"
    if kind == "list_type":
        return "must be a list"
    message = str(error.get("msg") or kind)
    return message[:1].lower() + message[1:]


def validation_problem(exc: ValidationError) -> ApiProblem:
    errors: list[dict[str, str | None]] = [
        {"field": _field_name(error["loc"]), "message": _error_message(error)} for error in exc.errors()
    ]
    return invalid(errors)


def user_error_problem(exc: UserError, path_fields: frozenset[str]) -> ApiProblem:
    """A service-layer refusal. A NotFound about something named in the body is the body's fault: 422."""
    status = exc.status_code
    if isinstance(exc, NotFound) and exc.field not in path_fields:
        status = 422
    if status == 422:
        message = exc.message
        if exc.field and not message.startswith(exc.field + " "):
            return invalid([{"field": exc.field, "message": message}])
        return ApiProblem(422, "Invalid input", message, errors=[{"field": exc.field, "message": message}])
    return ApiProblem(status, exc.title, exc.message)


# Reading requests ----------------------------------------------------------------------------


async def read_json(request: Request) -> Any:
    """The body as parsed JSON; an empty body is ``{}``."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise ApiProblem(413, "Content too large", f"the body may be at most {MAX_BODY_BYTES} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise ApiProblem(413, "Content too large", f"the body may be at most {MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.strip():
        return {}
    content_type = request.headers.get("content-type", "")
    media_type, _, params = content_type.partition(";")
    media_type = media_type.strip().lower()
    if media_type != "application/json" and not (media_type.startswith("application/") and media_type.endswith("+json")):
        shown = media_type or "no content type"
        raise ApiProblem(415, "Unsupported media type", f"send the body as application/json (got {shown})")
    charset = re.search(r"charset\s*=\s*\"?([\w-]+)", params, re.IGNORECASE)
    if charset and charset.group(1).lower().replace("_", "-") not in ("utf-8", "utf8"):
        raise ApiProblem(415, "Unsupported media type", f"send the body as UTF-8 (got charset {charset.group(1)})")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiProblem(400, "Malformed JSON", "the body is not valid UTF-8") from None
    try:
        data = json.loads(text, parse_constant=_refuse_constant, object_pairs_hook=_unique_keys)
        # Lone surrogates decode from \\ud800 escapes but can be stored nowhere.
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except json.JSONDecodeError as exc:
        raise ApiProblem(400, "Malformed JSON", f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except UnicodeEncodeError:
        raise ApiProblem(400, "Malformed JSON", "malformed JSON: a string holds an unpaired surrogate escape") from None
    except (ValueError, RecursionError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise ApiProblem(400, "Malformed JSON", f"malformed JSON: {reason}") from None
    return data


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _unique_keys(pairs: list[tuple[str, Any]]) -> JSON:
    """An object whose keys are all different: json.loads would keep the last of two, so
    ``{"severity": 3, "severity": 1}`` would be a sev1 to us and a sev3 to whoever reviewed it."""
    data = dict(pairs)
    if len(data) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                shown = json.dumps(key if len(key) <= 64 else key[:64] + "…")
                raise ValueError(f"the key {shown} appears more than once in an object")
            seen.add(key)
    return data


def validate(model: type[BaseModel], data: Any, context: dict[str, Any] | None = None) -> BaseModel:
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        raise validation_problem(exc) from None


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


# Dispatch ------------------------------------------------------------------------------------


@dataclass
class Call:
    """One authenticated request, as a handler sees it (in a worker thread, with its own session)."""

    site: Site
    session: Session
    ctx: WriteContext
    token: ApiToken | None
    human: str | None
    params: dict[str, str]
    body: Any = None
    query: Any = None

    @property
    def builder(self) -> V2Builder:
        return V2Builder(self.session, self.site.settings.config)


@dataclass
class Reply:
    data: JSON
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Operation:
    """One row of the API table: the route, who may call it, what it takes, what it answers."""

    method: str
    path: str
    operation_id: str
    summary: str
    scope: Literal["read", "write"] | None
    handler: Callable[[Call], Reply]
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    success: int = 200
    response: str = "Envelope"
    # Which service-error fields name the resource in the path (their NotFound is a 404).
    path_fields: frozenset[str] = frozenset({"id"})

    @property
    def full_path(self) -> str:
        return PREFIX + self.path


def site_clock(site: Site) -> Clock:
    """The site's clock when it has one (tests freeze it), else the system clock."""
    clock = getattr(site, "clock", None)
    return clock if clock is not None else SystemClock()


def authenticate(site: Site, secret: str, access: Access | None = None) -> ApiToken:
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
    return token


def actor_for(token: ApiToken | None, human: str | None) -> Actor:
    if token is None:
        return Actor("anonymous", Source.API)
    if human:
        return Actor(f"{human} via token:{token.name}", Source.API)
    return Actor(f"token:{token.name}", Source.API)


def execute(site: Site, operation: Operation, call_args: dict[str, Any], access: Access | None = None) -> Reply:
    """Run a handler in this (worker) thread with a session of its own."""
    try:
        with new_session(site.engine) as session:
            actor = actor_for(call_args["token"], call_args["human"])
            ctx = AdminWriteContext(
                session=session,
                clock=site_clock(site),
                actor=actor,
                config=site.settings.config,
                wiring=site.wiring,
                access=access if operation.scope == "write" else None,
            )
            return operation.handler(Call(site=site, session=session, ctx=ctx, **call_args))
    except UserError as exc:
        if exc.status_code >= 500:
            raise ApiProblem(exc.status_code, exc.title, exc.message) from None
        raise user_error_problem(exc, operation.path_fields) from None
    except (DBAPIError, SQLAlchemyTimeoutError) as exc:
        if not database_unreachable(exc):
            raise
        log.warning("database unavailable on %s %s: %s", operation.method, operation.full_path, getattr(exc, "orig", None) or exc)
        raise database_unavailable_problem() from None


def database_unreachable(exc: Exception) -> bool:
    """A database that went away or is locked (worth retrying), or a connection pool that stayed
    empty; not a wrong statement, which is a bug and a 500."""
    return isinstance(exc, SQLAlchemyTimeoutError) or database_unavailable(exc)


def database_unavailable_problem() -> ApiProblem:
    return ApiProblem(
        503,
        "Database unavailable",
        "the database could not be reached; try again",
        headers={"retry-after": str(RETRY_AFTER_SECONDS)},
    )


async def handle(site: Site, operation: Operation, request: Request) -> Response:
    access = Access.of(request, operation)
    try:
        token: ApiToken | None = None
        if operation.scope is not None:
            secret = bearer_secret(request)
            token = await run_in_threadpool(authenticate, site, secret, access)
            access.token = token
            if operation.scope == "write" and token.scope != "write":
                raise ApiProblem(
                    403,
                    "Forbidden",
                    f"token {token.name!r} may only read; this needs a write token",
                    headers={"www-authenticate": f'{REALM}, error="insufficient_scope", scope="write"'},
                )
        human = human_name(request) if token is not None else None
        access.actor = actor_for(token, human).name
        query = validate(operation.query, dict(request.query_params)) if operation.query else None
        body = None
        if operation.body is not None:
            context = {"severity_levels": site.settings.config.severity_levels}
            body = validate(operation.body, await read_json(request), context)
        call_args = {
            "token": token,
            "human": human,
            "params": dict(request.path_params),
            "body": body,
            "query": query,
        }
        reply = await run_in_threadpool(execute, site, operation, call_args, access)
    except ApiProblem as exc:
        # A refusal's own words for 401 and 403 (they quote nothing the client sent); else the title.
        access.problem = exc.detail if exc.status in (401, 403) else exc.title
        await record_outcome(site, access, exc.status)
        return exc.response()
    except Exception:
        access.problem = "internal error"
        await record_outcome(site, access, 500)
        raise
    from statuspage.web.app import json_response

    response = json_response(reply.data, status_code=reply.status)
    response.headers.update({"cache-control": "no-store", **reply.headers})
    await record_outcome(site, access, reply.status)
    return response


# The access audit ----------------------------------------------------------------------------
#
# Every request to the admin API with a known token, read or write, answered or refused, is one
# audit event with action ``api.request``, subject the token (``api_token``, its id; ``none`` when
# no known token was sent), the actor as the service layer names it (``token:ci``, ``alice via
# token:ci``, ``anonymous``) and in ``after``: method, path, status, client address, token id, name
# and scope, the operation, the refusal's reason and the ids of the audit events of the change it
# made. Never the secret, the body or the query string.
#
# - A write that commits records its request in the same transaction as its change (a
#   before-commit hook), linked by ``changes``: one cannot exist without the other. If that
#   insert fails the write fails with it, like any other audit event of a change.
# - Everything else (reads, writes that changed nothing or failed) is recorded after the
#   answer is known in a small transaction of its own, which does not bump the data version (that
#   would re-render every cached page on each admin GET). A failure there is logged and the
#   request is answered as if it had succeeded: an audit log that cannot be written must not
#   take the reading API down.
# - Refusals decided before any handler ran (401, 403, 405) and 503s never wait on the database:
#   they are noted in memory and written by a background thread every few seconds (see
#   :mod:`statuspage.web.refusals`), each of a known token as its own event, the anonymous ones
#   (no token, an unknown one) as counts per client address and minute (``api.refused``). One
#   row per anonymous request would let anyone fill the audit log, and each would wait out a
#   held SQLite write lock on the request path.


@dataclass
class Access:
    method: str
    path: str
    client: str | None
    operation_id: str | None
    success: int = 200
    token: ApiToken | None = None
    actor: str = "anonymous"
    problem: str | None = None
    # Written with the change, in the write's transaction (see _record_with_change).
    event: AuditEvent | None = None
    changes: list[int] = field(default_factory=list)

    @classmethod
    def of(cls, request: Request, operation: Operation | None) -> Access:
        return cls(
            method=request.method,
            path=request.url.path[:1000],
            client=request.client.host if request.client else None,
            operation_id=operation.operation_id if operation else None,
            success=operation.success if operation else 200,
        )

    def audit_event(self, status: int, at: datetime) -> AuditEvent:
        token = self.token
        if token is not None and self.actor == "anonymous":
            self.actor = f"token:{token.name}"
        after: JSON = {
            "method": self.method,
            "path": self.path,
            "status": status,
            "client": self.client,
            "token_id": token.id if token else None,
            "token_name": token.name if token else None,
            "token_scope": token.scope if token else None,
            "operation": self.operation_id,
        }
        if self.problem:
            after["problem"] = self.problem
        if self.changes:
            after["changes"] = list(self.changes)
        return AuditEvent(
            at=at,
            actor=self.actor[:200],
            source=Source.API.value,
            action=ACCESS_ACTION,
            subject_type="api_token",
            subject_id=str(token.id) if token and token.id is not None else "none",
            after=after,
        )

    def committed(self) -> bool:
        """Whether the record went in with a change (a rolled-back insert leaves it transient)."""
        return self.event is not None and not sa_inspect(self.event).transient


@dataclass
class AdminWriteContext(WriteContext):
    """The service context of one admin API request; ``access`` is set on write operations."""

    access: Access | None = None


def record_with_change(ctx: WriteContext) -> None:
    """The before-commit hook of the site's contexts (see :class:`statuspage.web.app.Site`): a
    write's access record goes in with its change."""
    access = ctx.access if isinstance(ctx, AdminWriteContext) else None
    if access is None:
        return
    ctx.session.flush()
    access.changes.extend(event.id for event in ctx.audit_events if event.id is not None)
    if access.committed():
        # A second change in the same request: link its events too.
        assert access.event is not None
        access.event.after = {**(access.event.after or {}), "changes": list(access.changes)}
        ctx.session.add(access.event)
        return
    access.event = access.audit_event(access.success, ctx.now())
    ctx.session.add(access.event)


async def record_outcome(site: Site, access: Access, status: int) -> None:
    """Record a request's outcome: a refusal in memory (see :mod:`statuspage.web.refusals`), the
    rest on the request path, as before it is answered."""
    if access.committed():
        return
    if status in DEFERRED_STATUSES:
        note_refusal(site, access, status)
        return
    await run_in_threadpool(record_access, site, access, status)


def note_refusal(site: Site, access: Access, status: int) -> None:
    now = site_clock(site).now()
    if access.token is None:
        request = f"{access.method} {access.path}"
        site.refusals.count(client=access.client, status=status, reason=access.problem or "", request=request, at=now)
    else:
        access.event = None
        access.changes.clear()  # ids of a change that was rolled back
        site.refusals.add(access.audit_event(status, now))


def record_access(site: Site, access: Access, status: int) -> None:
    """Record a request that no committed change recorded already, in its own transaction."""
    if access.committed():
        return
    access.event = None
    access.changes.clear()  # ids of a change that was rolled back
    try:
        with new_session(site.engine) as session:
            session.add(access.audit_event(status, site_clock(site).now()))
            session.commit()
    except SQLAlchemyError as exc:
        log.warning("could not record admin API access %s %s (%s): %s", access.method, access.path, status, exc)


def routes(site: Site) -> list[BaseRoute]:
    by_path: dict[str, dict[str, Operation]] = defaultdict(dict)
    for operation in OPERATIONS:
        by_path[operation.full_path][operation.method] = operation
    result: list[BaseRoute] = []
    for path, methods in by_path.items():
        # Every method reaches the endpoint, which answers a 405 as a problem document itself.
        result.append(Route(path, _endpoint(site, methods), methods=ALL_METHODS, name=f"admin:{path}"))
    result.append(Route(f"{PREFIX}/openapi.json", _openapi_endpoint(site), methods=["GET"], name="admin:openapi"))
    return result


def _endpoint(site: Site, methods: dict[str, Operation]) -> Callable[[Request], Any]:
    allowed = ", ".join(sorted(methods))

    async def endpoint(request: Request) -> Response:
        operation = methods.get("GET" if request.method == "HEAD" else request.method)
        if operation is None:
            access = Access.of(request, None)
            access.problem = "Method not allowed"
            await record_outcome(site, access, 405)
            return ApiProblem(
                405,
                "Method not allowed",
                f"{request.method} is not allowed here; use {allowed}",
                headers={"allow": allowed},
            ).response()
        return await handle(site, operation, request)

    return endpoint


def _openapi_endpoint(site: Site) -> Callable[[Request], Any]:
    document: JSON | None = None

    async def endpoint(request: Request) -> Response:
        nonlocal document
        if document is None:
            document = openapi_document(site)
        from statuspage.web.app import json_response

        return json_response(document)

    return endpoint


# Building answers ----------------------------------------------------------------------------


def utc(value: datetime | None) -> str | None:
    """Exact times for the ``admin`` objects: the v2 ones are rounded to milliseconds."""
    return value.astimezone(UTC).isoformat() if value is not None else None


def parse_id(raw: str, kind: str) -> int:
    """The id in the path, read by :func:`statuspage.ids.parse_id`: what cannot be an id (other
    scripts' digits, past 32 bits) names nothing, a 404 before any driver sees it."""
    text = raw.strip().lstrip("#")
    if kind == "maintenance":
        text = text.removeprefix("m")
    try:
        return ids.parse_id(text, what=kind)
    except UserError as exc:
        raise NotFound(exc.message, field="id") from None


def incidents_payload(builder: V2Builder, rows: Sequence[Incident]) -> list[JSON]:
    """Statuspage v2 incidents, each with the ``admin`` object (see the module docstring)."""
    data = builder.incidents_json(rows)
    ids = [row.id for row in rows if row.id is not None]
    held: dict[int, dict[str, str]] = defaultdict(dict)
    updates: dict[int, dict[str, JSON]] = defaultdict(dict)
    if ids:
        for link in builder.session.exec(select(IncidentComponent).where(col(IncidentComponent.incident_id).in_(ids))).all():
            held[link.incident_id][link.component_id] = link.status
        for update in builder.session.exec(select(IncidentUpdate).where(col(IncidentUpdate.incident_id).in_(ids))).all():
            updates[update.incident_id][f"{update.incident_id}-{update.id}"] = {
                "author": update.author,
                "created_at": utc(update.created_at),
            }
    for item, row in zip(data, rows, strict=True):
        key = row.id or 0
        item["admin"] = {
            "id": row.id,
            "severity": row.severity,
            "commander": row.commander,
            "declared_by": row.declared_by,
            "acknowledged_by": row.acknowledged_by,
            "detected_at": utc(row.detected_at),
            "declared_at": utc(row.declared_at),
            "acknowledged_at": utc(row.acknowledged_at),
            "first_response_at": utc(row.first_response_at),
            "mitigated_at": utc(row.mitigated_at),
            "resolved_at": utc(row.resolved_at),
            "updated_at": utc(row.updated_at),
            "root_cause": row.root_cause,
            "remediation": row.remediation,
            "sla_pauses": row.sla_pauses or [],
            "components": held[key],
            "updates": updates[key],
        }
    return data


def incident_payload(call: Call, incident_id: int) -> JSON:
    incident = incidents.get(session=call.session, incident_id=incident_id)
    (data,) = incidents_payload(call.builder, [incident])
    return data


def incident_reply(call: Call, incident: Incident) -> Reply:
    """The envelope every incident change answers with: the page and the incident as it is now."""
    assert incident.id is not None
    return Reply({"page": call.builder.page_json(), "incident": incident_payload(call, incident.id)})


def update_reply(call: Call, update: IncidentUpdate) -> Reply:
    incident = incident_payload(call, update.incident_id)
    update_id = f"{update.incident_id}-{update.id}"
    posted = next(u for u in incident["incident_updates"] if u["id"] == update_id)
    return Reply({"page": call.builder.page_json(), "incident": incident, "incident_update": posted})


def audit_json(event: AuditEvent) -> JSON:
    return {
        "id": event.id,
        "at": utc(event.at),
        "actor": event.actor,
        "source": event.source,
        "action": event.action,
        "subject_type": event.subject_type,
        "subject_id": event.subject_id,
        "before": event.before,
        "after": event.after,
    }


def component_payload(builder: V2Builder, component: Component) -> JSON:
    return {**builder.component_json(component, component.position + 1), "admin": {"base_status": component.base_status}}


def maintenance_payload(call: Call, maintenance_id: int) -> JSON:
    row = maintenance_service.get(session=call.session, maintenance_id=maintenance_id)
    (data,) = call.builder.maintenances_json([row])
    return {**data, "admin": {"id": row.id}}


# Handlers ------------------------------------------------------------------------------------


def token_info(call: Call) -> Reply:
    token = call.token
    assert token is not None
    return Reply(
        {
            "page": call.builder.page_json(),
            "token": {
                "name": token.name,
                "scope": token.scope,
                "prefix": token.prefix,
                "created_at": utc(token.created_at),
                "last_used_at": utc(token.last_used_at),
            },
            "actor": call.ctx.actor.name,
        }
    )


def list_incidents(call: Call) -> Reply:
    query: IncidentListQuery = call.query
    rows = incidents.list_incidents(session=call.session, open_only=query.open, limit=query.limit)
    return Reply({"page": call.builder.page_json(), "incidents": incidents_payload(call.builder, rows)})


def declare_incident(call: Call) -> Reply:
    body: DeclareIncident = call.body
    incident = incidents.declare(
        ctx=call.ctx,
        severity=body.severity,
        title=body.title,
        components=dict(body.components),
        message=body.message,
        commander=body.commander or call.human,
        detected_at=body.detected_at,
        impact=body.impact,
    )
    assert incident.id is not None
    return Reply(
        {"page": call.builder.page_json(), "incident": incident_payload(call, incident.id)},
        status=201,
        headers={"location": f"{PREFIX}/incidents/{incident.id}"},
    )


def show_incident(call: Call) -> Reply:
    incident = incidents.get(session=call.session, incident_id=parse_id(call.params["incident_id"], "incident"))
    (data,) = incidents_payload(call.builder, [incident])
    events = call.session.exec(
        select(AuditEvent)
        .where(AuditEvent.subject_type == "incident", AuditEvent.subject_id == str(incident.id))
        .order_by(col(AuditEvent.at), col(AuditEvent.id))
    ).all()
    return Reply(
        {
            "page": call.builder.page_json(),
            "incident": data,
            "audit_events": [audit_json(e) for e in events],
            "sla_targets": sla_targets_json(call, incident),
        }
    )


def sla_targets_json(call: Call, incident: Incident) -> list[JSON]:
    """The incident against its severity's public targets, as of now (what ``incident show`` prints)."""
    from statuspage.incidents.sla import calendar_for, measure

    config = call.site.settings.config
    evaluation = measure(incident, config, calendar_for(config), call.ctx.now())
    return [
        {
            "target": t.target,
            "clock": t.clock,
            "target_seconds": t.target_seconds,
            "deadline": utc(t.deadline),
            "event_at": utc(t.event_at),
            "elapsed_seconds": t.elapsed_seconds,
            "outcome": t.outcome.value,
            "breached_by_seconds": t.breached_by_seconds,
            "remaining_seconds": t.remaining_seconds,
            "paused": t.paused,
            "paused_seconds": t.paused_seconds,
        }
        for t in (evaluation.targets if evaluation else ())
    ]


def post_update(call: Call) -> Reply:
    body: PostUpdate = call.body
    update = incidents.post_update(
        ctx=call.ctx,
        incident_id=parse_id(call.params["incident_id"], "incident"),
        message=body.message,
        status=body.status,
        components=dict(body.components or {}),
        at=body.at,
    )
    return update_reply(call, update)


def resolve_incident(call: Call) -> Reply:
    body: ResolveIncident = call.body
    update = incidents.resolve(
        ctx=call.ctx, incident_id=parse_id(call.params["incident_id"], "incident"), message=body.message, at=body.at
    )
    return update_reply(call, update)


def reopen_incident(call: Call) -> Reply:
    body: ReopenIncident = call.body
    update = incidents.reopen(
        ctx=call.ctx, incident_id=parse_id(call.params["incident_id"], "incident"), message=body.message, status=body.status
    )
    return update_reply(call, update)


def acknowledge_incident(call: Call) -> Reply:
    body: AcknowledgeIncident = call.body
    incident, changed = incidents.acknowledge(
        ctx=call.ctx, incident_id=parse_id(call.params["incident_id"], "incident"), by=body.by or call.human
    )
    assert incident.id is not None
    return Reply({"page": call.builder.page_json(), "incident": incident_payload(call, incident.id), "acknowledged": changed})


def hand_over_incident(call: Call) -> Reply:
    body: HandOverIncident = call.body
    incident = incidents.hand_over(ctx=call.ctx, incident_id=parse_id(call.params["incident_id"], "incident"), to=body.to)
    return incident_reply(call, incident)


def pause_sla(call: Call) -> Reply:
    body: PauseSla = call.body
    incident = incidents.pause_sla(ctx=call.ctx, incident_id=parse_id(call.params["incident_id"], "incident"), reason=body.reason)
    return incident_reply(call, incident)


def resume_sla(call: Call) -> Reply:
    incident = incidents.resume_sla(ctx=call.ctx, incident_id=parse_id(call.params["incident_id"], "incident"))
    return incident_reply(call, incident)


def record_root_cause(call: Call) -> Reply:
    body: RecordRootCause = call.body
    incident = incidents.record_root_cause(
        ctx=call.ctx,
        incident_id=parse_id(call.params["incident_id"], "incident"),
        root_cause=body.root_cause,
        remediation=body.remediation,
    )
    return incident_reply(call, incident)


def list_components(call: Call) -> Reply:
    builder = call.builder
    rows = components_service.list_components(session=call.session)
    return Reply({"page": builder.page_json(), "components": [component_payload(builder, c) for c in rows]})


def set_component(call: Call) -> Reply:
    body: SetComponentStatus = call.body
    component_id = call.params["component_id"]
    if any(ord(ch) < 32 for ch in component_id):
        raise NotFound(f"unknown component {component_id!r}", field="components")
    changes = components_service.set_status(ctx=call.ctx, component_id=component_id, status=body.status.value)
    component = call.session.get(Component, component_id)
    assert component is not None
    builder = call.builder
    return Reply({"page": builder.page_json(), "component": component_payload(builder, component), "changes": changes})


def schedule_maintenance(call: Call) -> Reply:
    body: ScheduleMaintenance = call.body
    row: Maintenance = maintenance_service.schedule(
        ctx=call.ctx,
        title=body.title,
        components=body.components,
        scheduled_for=body.scheduled_for,
        scheduled_until=body.scheduled_until,
        message=body.message,
    )
    assert row.id is not None
    return Reply(
        {"page": call.builder.page_json(), "scheduled_maintenance": maintenance_payload(call, row.id)},
        status=201,
        headers={"location": f"{PREFIX}/maintenances/{row.id}"},
    )


def show_maintenance(call: Call) -> Reply:
    row = maintenance_service.get(session=call.session, maintenance_id=parse_id(call.params["maintenance_id"], "maintenance"))
    assert row.id is not None
    return Reply({"page": call.builder.page_json(), "scheduled_maintenance": maintenance_payload(call, row.id)})


def update_maintenance(call: Call) -> Reply:
    body: UpdateMaintenance = call.body
    update = maintenance_service.set_status(
        ctx=call.ctx,
        maintenance_id=parse_id(call.params["maintenance_id"], "maintenance"),
        status=body.status,
        message=body.message,
    )
    return Reply({"page": call.builder.page_json(), "scheduled_maintenance": maintenance_payload(call, update.maintenance_id)})


def list_audit(call: Call) -> Reply:
    query: AuditQuery = call.query
    statement = select(AuditEvent).order_by(col(AuditEvent.at).desc(), col(AuditEvent.id).desc()).limit(query.limit)
    if query.subject_type is not None:
        statement = statement.where(AuditEvent.subject_type == query.subject_type)
    if query.subject_id is not None:
        statement = statement.where(AuditEvent.subject_id == query.subject_id)
    if query.action is not None:
        statement = statement.where(AuditEvent.action == query.action)
    events = call.session.exec(statement).all()
    return Reply({"page": call.builder.page_json(), "audit_events": [audit_json(e) for e in events]})


_INCIDENT = frozenset({"id"})
_COMPONENT = frozenset({"components"})

# The table: routes and the OpenAPI document are both made from it.
OPERATIONS: tuple[Operation, ...] = (
    Operation("GET", "/token", "getToken", "The token making the request, and the page.", "read", token_info, response="TokenEnvelope"),
    Operation("GET", "/incidents", "listIncidents", "Incidents, newest first.", "read", list_incidents, query=IncidentListQuery, response="IncidentList"),
    Operation("POST", "/incidents", "declareIncident", "Declare an incident: it is on the status page at once.", "write", declare_incident, body=DeclareIncident, success=201, response="IncidentEnvelope"),
    Operation("GET", "/incidents/{incident_id}", "getIncident", "An incident with its audit events.", "read", show_incident, response="IncidentDetail", path_fields=_INCIDENT),
    Operation("PATCH", "/incidents/{incident_id}", "postIncidentUpdate", "Post an update; optionally change the status and components.", "write", post_update, body=PostUpdate, response="IncidentEnvelope", path_fields=_INCIDENT),
    Operation("POST", "/incidents/{incident_id}/resolve", "resolveIncident", "Resolve an incident and release its components.", "write", resolve_incident, body=ResolveIncident, response="IncidentEnvelope", path_fields=_INCIDENT),
    Operation("POST", "/incidents/{incident_id}/reopen", "reopenIncident", "Reopen a resolved incident.", "write", reopen_incident, body=ReopenIncident, response="IncidentEnvelope", path_fields=_INCIDENT),
    Operation("POST", "/incidents/{incident_id}/acknowledge", "acknowledgeIncident", "Record who took the page; the first acknowledgement counts.", "write", acknowledge_incident, body=AcknowledgeIncident, response="IncidentEnvelope", path_fields=_INCIDENT),
    Operation("POST", "/incidents/{incident_id}/root-cause", "recordRootCause", "Publish the root cause and remediation.", "write", record_root_cause, body=RecordRootCause, response="IncidentEnvelope", path_fields=_INCIDENT),
    Operation("POST", "/incidents/{incident_id}/handover", "handOverIncident", "Hand over command of an incident.", "write", hand_over_incident, body=HandOverIncident, response="IncidentEnvelope", path_fields=_INCIDENT),
    Operation("POST", "/incidents/{incident_id}/sla-pause", "pauseSla", "Stop the incident's SLA clocks while waiting on the customer.", "write", pause_sla, body=PauseSla, response="IncidentEnvelope", path_fields=_INCIDENT),
    Operation("POST", "/incidents/{incident_id}/sla-resume", "resumeSla", "Start the incident's paused SLA clocks again.", "write", resume_sla, response="IncidentEnvelope", path_fields=_INCIDENT),
    Operation("GET", "/components", "listComponents", "Components in display order, with their shown and own status.", "read", list_components, response="ComponentList"),
    Operation("PUT", "/components/{component_id}", "setComponentStatus", "Set a component's own status, outside any incident.", "write", set_component, body=SetComponentStatus, response="ComponentEnvelope", path_fields=_COMPONENT),
    Operation("POST", "/maintenances", "scheduleMaintenance", "Announce a maintenance window.", "write", schedule_maintenance, body=ScheduleMaintenance, success=201, response="MaintenanceEnvelope"),
    Operation("GET", "/maintenances/{maintenance_id}", "getMaintenance", "A maintenance window.", "read", show_maintenance, response="MaintenanceEnvelope"),
    Operation("PATCH", "/maintenances/{maintenance_id}", "updateMaintenance", "Move a maintenance along: in_progress, verifying, completed.", "write", update_maintenance, body=UpdateMaintenance, response="MaintenanceEnvelope"),
    Operation("GET", "/audit", "listAuditEvents", "Recent audit events, newest first.", "read", list_audit, query=AuditQuery, response="AuditList"),
)


# OpenAPI -------------------------------------------------------------------------------------

_NULLABLE_STRING = {"type": ["string", "null"]}
_TIME = {"type": ["string", "null"], "format": "date-time"}


def _object(properties: dict[str, Any], required: Sequence[str] | None = None) -> JSON:
    return {"type": "object", "properties": properties, "required": list(properties if required is None else required)}


def _ref(name: str) -> JSON:
    return {"$ref": f"#/components/schemas/{name}"}


# Response shapes, written by hand: they are Statuspage v2 objects built as dicts in v2.py.
RESPONSE_SCHEMAS: dict[str, JSON] = {
    "Problem": {
        **_object(
            {
                "type": {"type": "string"},
                "title": {"type": "string"},
                "status": {"type": "integer"},
                "detail": {"type": "string", "description": "One line, naming the field when a field is wrong."},
                "errors": {
                    "type": "array",
                    "items": _object({"field": _NULLABLE_STRING, "message": {"type": "string"}}),
                },
            },
            required=["type", "title", "status", "detail"],
        ),
        "description": "An RFC 9457 problem document.",
    },
    "Page": _object(
        {"id": {"type": "string"}, "name": {"type": "string"}, "url": {"type": "string"}, "time_zone": {"type": "string"}, "updated_at": _TIME}
    ),
    "IncidentUpdate": {
        **_object({"id": {"type": "string"}, "status": {"type": "string"}, "body": {"type": "string"}, "created_at": _TIME}),
        "additionalProperties": True,
    },
    "Component": {
        **_object({"id": {"type": "string"}, "name": {"type": "string"}, "status": {"enum": [s.value for s in ComponentStatus]}}),
        "additionalProperties": True,
    },
    "Incident": {
        **_object(
            {
                "id": {"type": "string"},
                "name": {"type": "string"},
                "status": {"type": "string"},
                "impact": {"type": "string"},
                "shortlink": {"type": "string"},
                "incident_updates": {"type": "array", "items": _ref("IncidentUpdate")},
                "components": {"type": "array", "items": _ref("Component")},
                "admin": {
                    "type": "object",
                    "description": "What the public Statuspage format leaves out: exact UTC times, people, held statuses.",
                },
            }
        ),
        "additionalProperties": True,
    },
    "Maintenance": {
        **_object(
            {
                "id": {"type": "string"},
                "name": {"type": "string"},
                "status": {"type": "string"},
                "scheduled_for": _TIME,
                "scheduled_until": _TIME,
                "admin": _object({"id": {"type": "integer"}}),
            }
        ),
        "additionalProperties": True,
    },
    "AuditEvent": _object(
        {
            "id": {"type": "integer"},
            "at": _TIME,
            "actor": {"type": "string"},
            "source": {"type": "string"},
            "action": {"type": "string"},
            "subject_type": {"type": "string"},
            "subject_id": {"type": "string"},
            "before": {"type": ["object", "null"]},
            "after": {"type": ["object", "null"]},
        }
    ),
    "TokenEnvelope": _object(
        {
            "page": _ref("Page"),
            "token": _object({"name": {"type": "string"}, "scope": {"enum": ["read", "write"]}, "prefix": {"type": "string"}}),
            "actor": {"type": "string"},
        }
    ),
    "IncidentList": _object({"page": _ref("Page"), "incidents": {"type": "array", "items": _ref("Incident")}}),
    "IncidentEnvelope": _object(
        {
            "page": _ref("Page"),
            "incident": _ref("Incident"),
            "incident_update": _ref("IncidentUpdate"),
            "acknowledged": {"type": "boolean"},
        },
        required=["page", "incident"],
    ),
    "IncidentDetail": _object(
        {
            "page": _ref("Page"),
            "incident": _ref("Incident"),
            "audit_events": {"type": "array", "items": _ref("AuditEvent")},
            "sla_targets": {
                "type": "array",
                "items": {"type": "object"},
                "description": "Each target of the incident's severity: deadline, outcome (met, breached, pending), "
                "breached_by_seconds and remaining_seconds, on the target's clock.",
            },
        },
        required=["page", "incident", "audit_events"],
    ),
    "ComponentList": _object({"page": _ref("Page"), "components": {"type": "array", "items": _ref("Component")}}),
    "ComponentEnvelope": _object(
        {"page": _ref("Page"), "component": _ref("Component"), "changes": {"type": "array", "items": {"type": "object"}}}
    ),
    "MaintenanceEnvelope": _object({"page": _ref("Page"), "scheduled_maintenance": _ref("Maintenance")}),
    "AuditList": _object({"page": _ref("Page"), "audit_events": {"type": "array", "items": _ref("AuditEvent")}}),
}

_PROBLEM_CONTENT = {"application/problem+json": {"schema": _ref("Problem")}}
_ERROR_RESPONSES: dict[str, JSON] = {
    "BadRequest": {"description": "Malformed JSON, or a key twice in one object.", "content": _PROBLEM_CONTENT},
    "Unauthorized": {
        "description": "No token, or an unknown or revoked one.",
        "headers": {"WWW-Authenticate": {"schema": {"type": "string"}, "description": "Bearer"}},
        "content": _PROBLEM_CONTENT,
    },
    "Forbidden": {"description": "A read token on a write.", "content": _PROBLEM_CONTENT},
    "NotFound": {"description": "No such incident, maintenance or component.", "content": _PROBLEM_CONTENT},
    "Conflict": {"description": "The change does not fit the current state.", "content": _PROBLEM_CONTENT},
    "ContentTooLarge": {"description": "The body is larger than 256 KiB.", "content": _PROBLEM_CONTENT},
    "UnsupportedMediaType": {"description": "The body is not JSON.", "content": _PROBLEM_CONTENT},
    "InvalidInput": {"description": "A field is wrong; detail names it, errors lists all.", "content": _PROBLEM_CONTENT},
    "ServiceUnavailable": {
        "description": "The database could not be reached; try again.",
        "headers": {"Retry-After": {"schema": {"type": "string"}, "description": "Seconds to wait before trying again."}},
        "content": _PROBLEM_CONTENT,
    },
}


def openapi_document(site: Site) -> JSON:
    """OpenAPI 3.1: request schemas from the pydantic models, everything else from the table."""
    bodies = sorted({op.body for op in OPERATIONS if op.body is not None}, key=lambda m: m.__name__)
    _, top = models_json_schema([(model, "validation") for model in bodies], ref_template="#/components/schemas/{model}")
    schemas: JSON = {**top.get("$defs", {}), **RESPONSE_SCHEMAS}
    levels = site.settings.config.severity_levels
    schemas["DeclareIncident"]["properties"]["severity"]["enum"] = levels

    paths: JSON = defaultdict(dict)
    for op in OPERATIONS:
        parameters = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in re.findall(r"{(\w+)}", op.path)
        ]
        if op.query is not None:
            query_schema = op.query.model_json_schema()
            required = set(query_schema.get("required", []))
            for name, schema in query_schema["properties"].items():
                parameters.append({"name": name, "in": "query", "required": name in required, "schema": schema})
        responses: JSON = {
            str(op.success): {
                "description": op.summary,
                "content": {"application/json": {"schema": _ref(op.response)}},
            },
            "401": {"$ref": "#/components/responses/Unauthorized"},
            "404": {"$ref": "#/components/responses/NotFound"},
            "422": {"$ref": "#/components/responses/InvalidInput"},
            "503": {"$ref": "#/components/responses/ServiceUnavailable"},
        }
        if op.scope == "write":
            responses["403"] = {"$ref": "#/components/responses/Forbidden"}
            responses["409"] = {"$ref": "#/components/responses/Conflict"}
        if op.body is not None:
            responses["400"] = {"$ref": "#/components/responses/BadRequest"}
            responses["413"] = {"$ref": "#/components/responses/ContentTooLarge"}
            responses["415"] = {"$ref": "#/components/responses/UnsupportedMediaType"}
        operation: JSON = {
            "operationId": op.operation_id,
            "summary": op.summary,
            "parameters": parameters,
            "responses": responses,
            "x-token-scope": op.scope,
        }
        if op.body is not None:
            body_required = bool(op.body.model_json_schema().get("required"))
            operation["requestBody"] = {
                "required": body_required,
                "content": {"application/json": {"schema": _ref(op.body.__name__)}},
            }
        paths[op.full_path][op.method.lower()] = operation
    paths[f"{PREFIX}/openapi.json"]["get"] = {
        "operationId": "getOpenApi",
        "summary": "This document.",
        "security": [],
        "responses": {"200": {"description": "OpenAPI 3.1", "content": {"application/json": {"schema": {"type": "object"}}}}},
    }
    page = site.settings.config.page
    return {
        "openapi": "3.1.0",
        "info": {
            "title": f"{page.name} status page admin API",
            "version": "1",
            "description": (__doc__ or "").strip(),
        },
        "servers": [{"url": page.url}],
        "security": [{"bearerAuth": []}],
        "paths": dict(paths),
        "components": {
            "schemas": schemas,
            "responses": _ERROR_RESPONSES,
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A token from `incident token create`; read tokens may only GET.",
                }
            },
        },
    }
