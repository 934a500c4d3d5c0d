"""Errors a user can cause. The CLI turns them into one line and exit status 2; the API into a
4xx problem document. Anything else is a bug."""

from __future__ import annotations


class UserError(Exception):
    status_code = 400
    title = "Bad request"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidInput(UserError):
    status_code = 422
    title = "Invalid input"


class NotFound(UserError):
    status_code = 404
    title = "Not found"


class Conflict(UserError):
    status_code = 409
    title = "Conflict"


class DatabaseNotReady(UserError):
    status_code = 503
    title = "Database not ready"
