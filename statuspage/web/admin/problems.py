"""Refusals: :class:`ApiProblem`, raised anywhere in a request and answered as one RFC 9457 problem
document, and the problems made from what the layers below raise (a pydantic validation error, a
service-layer :class:`~statuspage.errors.UserError`, a database that cannot be reached)."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from starlette.responses import Response

from statuspage.errors import NotFound, UserError
from statuspage.outbox import database_unavailable
from statuspage.web.site import problem

# What a 503 asks a client to wait before trying again (as /healthz does).
RETRY_AFTER_SECONDS = 5


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


def validate(model: type[BaseModel], data: Any, context: dict[str, Any] | None = None) -> BaseModel:
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        raise validation_problem(exc) from None


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
