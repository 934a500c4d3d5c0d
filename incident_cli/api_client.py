"""Remote mode's HTTP: one client of a status page's admin API, and how its answers become JSON
and its refusals one-line errors (see :mod:`incident_cli.remote` for what is asked of it).

Failures are one line, like every other error of the command line:

- an API refusal (any 4xx) is the problem document's words, exit status 2, as for bad input in
  local mode (a missing, unknown or revoked token included): a refusal of the service layer in
  its own words (the problem's ``message``), as local mode prints it, else its ``detail``;
- a server that cannot be reached (``cannot reach http://host:port: connection refused``), a
  timeout, a 5xx answer or one that is not the admin API's JSON is exit status 1, as for a
  database that cannot be reached in local mode: the request may be fine, try again later;
- an answer that lacks what a record needs comes from a server of another version: one line,
  exit status 1 (see :func:`shape`).

Redirects are not followed: the token must only go to the address it was given for.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, NoReturn
from urllib.parse import quote

import click
import httpx

from statuspage.errors import Conflict, InvalidInput, NotFound, UserError

JSON = dict[str, Any]
API_PREFIX = "/api/admin/v1"
TIMEOUT_SECONDS = 15.0
_ERRORS: dict[int, type[UserError]] = {404: NotFound, 409: Conflict, 422: InvalidInput}


class ServerUnavailable(click.ClickException):
    """The server could not answer: exit status 1, like an unreachable database."""

    exit_code = 1


def normalise_server(url: str) -> str:
    value = url.strip().rstrip("/")
    if not re.match(r"^https?://[^\s/]+", value):
        raise UserError(f"--server {url!r} is not an http(s) URL, like https://status.example.com")
    return value.removesuffix(API_PREFIX)


def _printable(value: str, what: str) -> str:
    if not value or any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise UserError(f"{what} must not be empty or contain control characters")
    return value


def _reason(exc: httpx.TransportError) -> str:
    """'connection refused' rather than '[Errno 111] Connection refused'."""
    if isinstance(exc, httpx.TimeoutException):
        return f"no answer within {TIMEOUT_SECONDS:g}s"
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    match = re.search(r"\[Errno -?\d+\]\s*(.+)", text)
    if match:
        text = match.group(1)
    return text[:1].lower() + text[1:]


class AdminClient:
    """One HTTP client per command, sending the token and the person at the keyboard with every
    request. ``page`` is the page object of the last answer that had one."""

    def __init__(self, server: str, token: str, *, user: str, transport: httpx.BaseTransport | None = None) -> None:
        self.server = normalise_server(server)
        _printable(token, "the token")
        if not token.isascii() or " " in token:
            raise UserError("the token must be printable ASCII without spaces; check $STATUSPAGE_TOKEN")
        _printable(user, "--as")
        self._client = httpx.Client(
            base_url=self.server + API_PREFIX,
            headers={
                b"authorization": f"Bearer {token}".encode("ascii"),
                # UTF-8 bytes: httpx would refuse a non-ASCII str, and the server reads it as UTF-8.
                b"x-incident-user": user.encode("utf-8"),
                b"accept": b"application/json",
                b"user-agent": b"incident-cli",
            },
            timeout=TIMEOUT_SECONDS,
            follow_redirects=False,
            transport=transport,
        )
        self.page: JSON | None = None

    def request(self, method: str, path: str, *, body: JSON | None = None, params: JSON | None = None) -> JSON:
        try:
            response = self._client.request(method, path, json=body, params=params)
        except httpx.TransportError as exc:
            raise ServerUnavailable(f"cannot reach {self.server}: {_reason(exc)}") from None
        if response.is_success:
            try:
                data = response.json()
            except ValueError:
                data = None
            if not isinstance(data, dict):
                self._unexpected(response)
            page = data.get("page")
            if isinstance(page, dict):
                self.page = page
            return data
        self._refused(response)

    def _refused(self, response: httpx.Response) -> NoReturn:
        status = response.status_code
        words = None
        if response.headers.get("content-type", "").startswith("application/problem+json"):
            try:
                problem = response.json()
                # The service layer's own words when it refused, as local mode prints them.
                words = problem.get("message") if isinstance(problem.get("message"), str) else problem.get("detail")
            except (ValueError, AttributeError):
                words = None
        if 300 <= status < 400:
            raise UserError(f"{self.server} redirected to {response.headers.get('location', '?')}; give that address to --server")
        if 400 <= status < 500:
            if isinstance(words, str) and words:
                raise _ERRORS.get(status, UserError)(" ".join(words.splitlines()))
            raise UserError(f"{response.request.url} answered {status} {response.reason_phrase}; is {self.server} a status page?")
        message = words if isinstance(words, str) and words else response.reason_phrase
        raise ServerUnavailable(f"{self.server} failed: {status} {' '.join(str(message).splitlines())}")

    def _unexpected(self, response: httpx.Response) -> NoReturn:
        raise ServerUnavailable(f"{response.request.url} did not answer with the admin API's JSON; is {self.server} a status page?")

    def close(self) -> None:
        self._client.close()


@contextmanager
def shape(server: str) -> Iterator[None]:
    """Turn a server answer that lacks what we need into one line, exit 1, instead of a traceback."""
    try:
        yield
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ServerUnavailable(
            f"{server} answered in an unexpected shape ({type(exc).__name__}: {exc}); is it a status page of the same version?"
        ) from None


def drop_none(values: JSON) -> JSON:
    return {key: value for key, value in values.items() if value is not None}


def segment(value: str) -> str:
    """A path segment: the id as typed, escaped, so that '../x' stays one segment."""
    return quote(value.strip(), safe="")


def time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def required_time(value: str) -> datetime:
    """A time a record cannot do without: ``None`` or anything but ISO text raises the
    ``TypeError`` or ``ValueError`` that :func:`shape` reports."""
    return datetime.fromisoformat(value)
