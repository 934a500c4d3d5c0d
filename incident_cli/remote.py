"""The ``incident`` command line's remote mode: the admin API of a running status page over HTTP.

:class:`RemoteBackend` answers what :class:`incident_cli.backend.Backend` asks, building its records
from the API's JSON (Statuspage v2 objects plus their ``admin`` part) so that the commands print
exactly what they print in local mode. An answer that lacks what a record needs comes from a server
of another version: one line, exit status 1, like any answer in an unexpected shape.

Failures are one line, like every other error of the command line:

- an API refusal (any 4xx) is the problem document's ``detail``, exit status 2, as for bad input
  in local mode (a missing, unknown or revoked token included);
- a server that cannot be reached (``cannot reach http://host:port: connection refused``), a
  timeout, a 5xx answer or one that is not the admin API's JSON is exit status 1, as for a
  database that cannot be reached in local mode: the request may be fine, try again later.

Redirects are not followed: the token must only go to the address it was given for.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import NoReturn
from urllib.parse import quote

import click
import httpx

from incident_cli.backend import (
    JSON,
    AffectedComponent,
    AuditRecord,
    Backend,
    ComponentChange,
    ComponentRecord,
    IncidentDetail,
    IncidentSummary,
    MaintenanceRecord,
    MaintenanceStatus,
    SlaPause,
    UpdateRecord,
    database_only,
)
from statuspage.domain.sla import Outcome, TargetEvaluation
from statuspage.errors import Conflict, InvalidInput, NotFound, UserError

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


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _required_time(value: str) -> datetime:
    """A time a record cannot do without: ``None`` or anything but ISO text raises the
    ``TypeError`` or ``ValueError`` that :func:`_shape` reports."""
    return datetime.fromisoformat(value)


def _reason(exc: httpx.TransportError) -> str:
    """'connection refused' rather than '[Errno 111] Connection refused'."""
    if isinstance(exc, httpx.TimeoutException):
        return f"no answer within {TIMEOUT_SECONDS:g}s"
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    match = re.search(r"\[Errno -?\d+\]\s*(.+)", text)
    if match:
        text = match.group(1)
    return text[:1].lower() + text[1:]


class RemoteBackend(Backend):
    """One HTTP client per command; every call is one request (two when a time zone is needed first)."""

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
        self._page: JSON | None = None
        self._links: dict[int, str] = {}

    # HTTP ------------------------------------------------------------------------------------

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
                self._page = page
            return data
        self._refused(response)

    def _refused(self, response: httpx.Response) -> NoReturn:
        status = response.status_code
        detail = None
        if response.headers.get("content-type", "").startswith("application/problem+json"):
            try:
                detail = response.json().get("detail")
            except (ValueError, AttributeError):
                detail = None
        if 300 <= status < 400:
            raise UserError(f"{self.server} redirected to {response.headers.get('location', '?')}; give that address to --server")
        if 400 <= status < 500:
            if isinstance(detail, str) and detail:
                raise _ERRORS.get(status, UserError)(" ".join(detail.splitlines()))
            raise UserError(f"{response.request.url} answered {status} {response.reason_phrase}; is {self.server} a status page?")
        message = detail if isinstance(detail, str) and detail else response.reason_phrase
        raise ServerUnavailable(f"{self.server} failed: {status} {' '.join(str(message).splitlines())}")

    def _unexpected(self, response: httpx.Response) -> NoReturn:
        raise ServerUnavailable(f"{response.request.url} did not answer with the admin API's JSON; is {self.server} a status page?")

    def close(self) -> None:
        self._client.close()

    # What every command needs ----------------------------------------------------------------

    @property
    def page(self) -> JSON:
        if self._page is None:
            self.request("GET", "/token")
        assert self._page is not None
        return self._page

    @property
    def time_zone(self) -> str:
        return str(self.page["time_zone"])

    def now(self) -> datetime:
        return datetime.now(UTC)

    def incident_url(self, incident_id: int) -> str:
        return self._links.get(incident_id) or f"{self.page['url']}/incidents/{incident_id}"

    # Incidents -------------------------------------------------------------------------------

    def declare(
        self,
        *,
        severity: str,
        title: str,
        components: dict[str, str | None],
        message: str | None,
        commander: str | None,
        detected_at: datetime | None,
        impact: str | None,
        playbook: str | None = None,
    ) -> IncidentSummary:
        if playbook is not None:
            # The admin API runs the playbook chosen for the severity; it takes no other.
            raise database_only("incident declare --playbook")
        body = _drop_none(
            {
                "severity": _severity(severity),
                "title": title,
                "components": components,
                "message": message,
                "commander": commander,
                "detected_at": detected_at.isoformat() if detected_at else None,
                "impact": impact,
            }
        )
        data = self.request("POST", "/incidents", body=body)
        return self._incident(data)

    def post_update(
        self,
        *,
        incident_id: str,
        message: str | None,
        status: str | None,
        components: dict[str, str | None],
        at: datetime | None,
    ) -> UpdateRecord:
        body = _drop_none(
            {
                "message": message,
                "status": status,
                "components": components or None,
                "at": at.isoformat() if at else None,
            }
        )
        return self._posted(self.request("PATCH", f"/incidents/{_path(incident_id)}", body=body))

    def resolve(self, *, incident_id: str, message: str | None, at: datetime | None) -> UpdateRecord:
        body = _drop_none({"message": message, "at": at.isoformat() if at else None})
        return self._posted(self.request("POST", f"/incidents/{_path(incident_id)}/resolve", body=body))

    def reopen(self, *, incident_id: str, message: str | None, status: str) -> UpdateRecord:
        body = _drop_none({"message": message, "status": status})
        return self._posted(self.request("POST", f"/incidents/{_path(incident_id)}/reopen", body=body))

    def acknowledge(self, *, incident_id: str, by: str) -> tuple[IncidentSummary, bool]:
        data = self.request("POST", f"/incidents/{_path(incident_id)}/acknowledge", body={"by": by})
        with _shape(self):
            return self._incident(data), bool(data["acknowledged"])

    def hand_over(self, *, incident_id: str, to: str) -> IncidentSummary:
        return self._incident(self.request("POST", f"/incidents/{_path(incident_id)}/handover", body={"to": to}))

    def pause_sla(self, *, incident_id: str, reason: str) -> IncidentSummary:
        return self._incident(self.request("POST", f"/incidents/{_path(incident_id)}/sla-pause", body={"reason": reason}))

    def resume_sla(self, *, incident_id: str) -> IncidentSummary:
        return self._incident(self.request("POST", f"/incidents/{_path(incident_id)}/sla-resume"))

    def record_root_cause(self, *, incident_id: str, root_cause: str | None, remediation: str | None) -> IncidentSummary:
        body = _drop_none({"root_cause": root_cause, "remediation": remediation})
        return self._incident(self.request("POST", f"/incidents/{_path(incident_id)}/root-cause", body=body))

    def list_incidents(self, *, open_only: bool, limit: int) -> Sequence[IncidentSummary]:
        data = self._list(open_only, limit)
        with _shape(self):
            return [self._incident_from(item) for item in data["incidents"]]

    def incidents_json(self, *, open_only: bool, limit: int) -> list[JSON]:
        data = self._list(open_only, limit)
        with _shape(self):
            return [_public(item) for item in data["incidents"]]

    def _list(self, open_only: bool, limit: int) -> JSON:
        return self.request("GET", "/incidents", params={"open": "true" if open_only else "false", "limit": limit})

    def incident_json(self, incident_id: str | int) -> JSON:
        data = self.request("GET", f"/incidents/{_path(str(incident_id))}")
        with _shape(self):
            return _public(data["incident"])

    def incident_detail(self, incident_id: str) -> IncidentDetail:
        data = self.request("GET", f"/incidents/{_path(incident_id)}")
        with _shape(self):
            item = data["incident"]
            incident = self._incident_from(item)
            admin = item["admin"]
            return IncidentDetail(
                incident=incident,
                # Oldest first, as the local timeline is, so that ties sort the same way.
                updates=tuple(self._update_from(incident.id, u, admin) for u in reversed(item["incident_updates"])),
                components=tuple(
                    AffectedComponent(name=c["name"], held_at=admin["components"].get(c["id"], c["status"]), status=c["status"])
                    for c in item["components"]
                ),
                events=tuple(
                    AuditRecord(at=_required_time(e["at"]), actor=e["actor"], action=e["action"], before=e["before"], after=e["after"])
                    for e in data["audit_events"]
                ),
                # As the server measured them; none from a server that does not send them (``show``
                # then leaves the SLA table out).
                sla_targets=tuple(_target_from(t) for t in data.get("sla_targets") or ()),
            )

    # Components and maintenance --------------------------------------------------------------

    def list_components(self) -> Sequence[ComponentRecord]:
        data = self.request("GET", "/components")
        with _shape(self):
            return [ComponentRecord(id=c["id"], name=c["name"], status=c["status"]) for c in data["components"]]

    def set_component_status(self, *, component_id: str, status: str) -> Sequence[ComponentChange]:
        data = self.request("PUT", f"/components/{_path(component_id)}", body={"status": status})
        with _shape(self):
            return ComponentChange.all_from_json(data["changes"])

    def schedule_maintenance(
        self,
        *,
        title: str,
        components: list[str],
        scheduled_for: datetime,
        scheduled_until: datetime,
        message: str | None,
    ) -> MaintenanceRecord:
        body = _drop_none(
            {
                "title": title,
                "components": components,
                "scheduled_for": scheduled_for.isoformat(),
                "scheduled_until": scheduled_until.isoformat(),
                "message": message,
            }
        )
        data = self.request("POST", "/maintenances", body=body)
        with _shape(self):
            item = data["scheduled_maintenance"]
            return MaintenanceRecord(
                id=int(item["admin"]["id"]),
                scheduled_for=_required_time(item["scheduled_for"]),
                scheduled_until=_required_time(item["scheduled_until"]),
            )

    def set_maintenance_status(self, *, maintenance_id: str, status: str, message: str | None) -> MaintenanceStatus:
        body = _drop_none({"status": status, "message": message})
        data = self.request("PATCH", f"/maintenances/{_path(maintenance_id)}", body=body)
        with _shape(self):
            item = data["scheduled_maintenance"]
            return MaintenanceStatus(maintenance_id=int(item["admin"]["id"]), status=item["status"])

    # From JSON to records --------------------------------------------------------------------

    def _incident(self, data: JSON) -> IncidentSummary:
        with _shape(self):
            return self._incident_from(data["incident"])

    def _incident_from(self, item: JSON) -> IncidentSummary:
        admin = item["admin"]
        incident = IncidentSummary(
            id=int(admin["id"]),
            title=item["name"],
            severity=admin["severity"],
            impact=item["impact"],
            status=item["status"],
            commander=admin["commander"],
            declared_by=admin["declared_by"],
            detected_at=_required_time(admin["detected_at"]),
            declared_at=_required_time(admin["declared_at"]),
            acknowledged_at=_time(admin["acknowledged_at"]),
            acknowledged_by=admin["acknowledged_by"],
            first_response_at=_time(admin["first_response_at"]),
            mitigated_at=_time(admin["mitigated_at"]),
            resolved_at=_time(admin["resolved_at"]),
            sla_pauses=tuple(SlaPause.from_json(p) for p in admin.get("sla_pauses") or ()),
        )
        if isinstance(item.get("shortlink"), str):
            self._links[incident.id] = item["shortlink"]
        return incident

    def _update_from(self, incident_id: int, update: JSON, admin: JSON) -> UpdateRecord:
        exact = admin["updates"].get(update["id"], {})
        return UpdateRecord(
            incident_id=incident_id,
            status=update["status"],
            body=update["body"],
            author=exact.get("author", ""),
            created_at=_required_time(exact.get("created_at") or update["created_at"]),
            affected_components=ComponentChange.all_from_json(update["affected_components"]),
        )

    def _posted(self, data: JSON) -> UpdateRecord:
        with _shape(self):
            incident = self._incident_from(data["incident"])
            return self._update_from(incident.id, data["incident_update"], data["incident"]["admin"])


def _target_from(t: JSON) -> TargetEvaluation:
    return TargetEvaluation(
        target=t["target"],
        clock=t["clock"],
        target_seconds=int(t["target_seconds"]),
        deadline=_time(t["deadline"]) or datetime.now(UTC),
        event_at=_time(t["event_at"]),
        elapsed_seconds=int(t["elapsed_seconds"]),
        outcome=Outcome(t["outcome"]),
        breached_by_seconds=int(t["breached_by_seconds"]),
        remaining_seconds=t["remaining_seconds"],
        paused=bool(t.get("paused", False)),
        paused_seconds=int(t.get("paused_seconds") or 0),
    )


@contextmanager
def _shape(backend: RemoteBackend) -> Iterator[None]:
    """Turn a server answer that lacks what we need into one line, exit 1, instead of a traceback."""
    try:
        yield
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ServerUnavailable(
            f"{backend.server} answered in an unexpected shape ({type(exc).__name__}: {exc}); "
            "is it a status page of the same version?"
        ) from None


def _drop_none(values: JSON) -> JSON:
    return {key: value for key, value in values.items() if value is not None}


def _path(value: str) -> str:
    """A path segment: the id as typed, escaped, so that '../x' stays one segment."""
    return quote(value.strip(), safe="")


def _public(item: JSON) -> JSON:
    """The Statuspage v2 object as the local ``--json`` prints it: without the admin part."""
    return {key: value for key, value in item.items() if key != "admin"}


def _severity(value: str) -> int | str:
    """``sev1``, ``P1`` and ``1`` as the number the API takes; anything else as typed, for the server to refuse."""
    text = value.strip().lower().removeprefix("sev").removeprefix("p")
    return int(text) if text.isascii() and text.isdigit() and len(text) < 6 else value
