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

from statuspage import pydantic_errors
from statuspage.errors import NotFound, UserError
from statuspage.outbox import database_unavailable
from statuspage.web.site import problem

# What a 503 asks a client to wait before trying again (as /healthz does).
RETRY_AFTER_SECONDS = 5


class ApiProblem(Exception):
    """A refusal, raised anywhere in a request and answered as one problem document.

    ``message``: a service-layer refusal in its own words, without the field name ``detail``
    starts with; what the command line prints in local mode, so remote mode prints it too.
    """

    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        *,
        headers: dict[str, str] | None = None,
        errors: list[dict[str, str | None]] | None = None,
        message: str | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = " ".join(detail.split("\n"))
        self.headers = headers or {}
        self.errors = errors
        self.message = None if message is None else " ".join(message.split("\n"))

    def response(self) -> Response:
        extra: dict[str, Any] = {} if self.errors is None else {"errors": self.errors}
        if self.message is not None:
            extra["message"] = self.message
        response = problem(self.status, self.title, self.detail, **extra)
        response.headers.update(self.headers)
        return response


def invalid(errors: list[dict[str, str | None]], *, message: str | None = None) -> ApiProblem:
    first = errors[0]
    detail = f"{first['field']}: {first['message']}" if first["field"] else str(first["message"])
    if len(errors) > 1:
        detail += f" (and {len(errors) - 1} more)"
    return ApiProblem(422, "Invalid input", detail, errors=errors, message=message)


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



def validation_problem(exc: ValidationError) -> ApiProblem:
    errors: list[dict[str, str | None]] = [
        {"field": _field_name(error["loc"]), "message": pydantic_errors.describe(error, pydantic_errors.JSON)} for error in exc.errors()
    ]
    return invalid(errors)


def user_error_problem(exc: UserError, path_fields: frozenset[str]) -> ApiProblem:
    """A service-layer refusal. A NotFound about something named in the body is the body's fault: 422."""
    status = exc.status_code
    if isinstance(exc, NotFound) and exc.field not in path_fields:
        status = 422
    message = exc.message
    if status == 422:
        if exc.field and not message.startswith(exc.field + " "):
            return invalid([{"field": exc.field, "message": message}], message=message)
        return ApiProblem(422, "Invalid input", message, errors=[{"field": exc.field, "message": message}], message=message)
    return ApiProblem(status, exc.title, message, message=message)


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
