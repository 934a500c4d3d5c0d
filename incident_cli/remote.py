"""The ``incident`` command line's remote mode: the admin API of a running status page over HTTP.

:class:`RemoteBackend` answers what :class:`incident_cli.backend.Backend` asks, building its records
from the API's JSON (Statuspage v2 objects plus their ``admin`` part) so that the commands print
exactly what they print in local mode. How requests are sent, and how refusals and failures become
one line and an exit status, is :mod:`incident_cli.api_client`'s.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

import httpx

from incident_cli.api_client import (
    JSON,
    AdminClient,
    ServerUnavailable,
    drop_none,
    normalise_server,
    required_time,
    segment,
    shape,
    time,
)
from incident_cli.backend import (
    ActionRecord,
    AffectedComponent,
    AuditRecord,
    Backend,
    ComponentChange,
    ComponentRecord,
    Declared,
    Escalated,
    EscalationState,
    IncidentDetail,
    IncidentSummary,
    MaintenanceRecord,
    MaintenanceStatus,
    Paging,
    PostmortemDocument,
    ReportText,
    SeverityChanged,
    SlackSummaryQueued,
    SlaPause,
    UpdateRecord,
    VisibilityChanged,
)
from statuspage.domain.sla import Outcome, TargetEvaluation

__all__ = ["RemoteBackend", "ServerUnavailable", "normalise_server"]

# What a postmortem's file may be called: the declared date and a slug of the title, nothing that
# could name another directory or a hidden file, whatever a server answers.
POSTMORTEM_FILE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}-[a-z0-9-]+\.md")


class RemoteBackend(Backend):
    """One HTTP client per command; every call is one request (two when a time zone is needed first)."""

    def __init__(self, server: str, token: str, *, user: str, transport: httpx.BaseTransport | None = None) -> None:
        self._http = AdminClient(server, token, user=user, transport=transport)
        self.server = self._http.server
        self._links: dict[int, str] = {}

    def request(self, method: str, path: str, *, body: JSON | None = None, params: JSON | None = None) -> JSON:
        return self._http.request(method, path, body=body, params=params)

    def close(self) -> None:
        self._http.close()

    # What every command needs ----------------------------------------------------------------

    @property
    def page(self) -> JSON:
        if self._http.page is None:
            self.request("GET", "/token")
        assert self._http.page is not None
        return self._http.page

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
        page_me: bool = False,
    ) -> Declared:
        body = drop_none(
            {
                "severity": _severity(severity),
                "title": title,
                "components": components,
                "message": message,
                "commander": commander,
                "detected_at": detected_at.isoformat() if detected_at else None,
                "impact": impact,
                "playbook": playbook,
                "page_me": page_me or None,
            }
        )
        data = self.request("POST", "/incidents", body=body)
        with shape(self.server):
            warnings = tuple(str(line) for line in data.get("warnings") or ())
            return Declared(self._incident_from(data["incident"]), Paging.from_json(data["paging"]), warnings)

    def post_update(
        self,
        *,
        incident_id: str,
        message: str | None,
        status: str | None,
        components: dict[str, str | None],
        at: datetime | None,
    ) -> UpdateRecord:
        body = drop_none(
            {
                "message": message,
                "status": status,
                "components": components or None,
                "at": at.isoformat() if at else None,
            }
        )
        return self._posted(self.request("PATCH", f"/incidents/{segment(incident_id)}", body=body))

    def resolve(self, *, incident_id: str, message: str | None, at: datetime | None) -> UpdateRecord:
        body = drop_none({"message": message, "at": at.isoformat() if at else None})
        return self._posted(self.request("POST", f"/incidents/{segment(incident_id)}/resolve", body=body))

    def reopen(self, *, incident_id: str, message: str | None, status: str) -> UpdateRecord:
        body = drop_none({"message": message, "status": status})
        return self._posted(self.request("POST", f"/incidents/{segment(incident_id)}/reopen", body=body))

    def edit_title(self, *, incident_id: str, title: str) -> IncidentSummary:
        return self._incident(self.request("POST", f"/incidents/{segment(incident_id)}/title", body={"title": title}))

    def edit_update(self, *, incident_id: str, number: int, message: str) -> UpdateRecord:
        path = f"/incidents/{segment(incident_id)}/updates/{number}"
        return self._posted(self.request("PUT", path, body={"message": message}))

    def retract(self, *, incident_id: str, reason: str) -> VisibilityChanged:
        return self._visibility(self.request("POST", f"/incidents/{segment(incident_id)}/retract", body={"reason": reason}))

    def publish(self, *, incident_id: str) -> VisibilityChanged:
        return self._visibility(self.request("POST", f"/incidents/{segment(incident_id)}/publish"))

    def _visibility(self, data: JSON) -> VisibilityChanged:
        with shape(self.server):
            return VisibilityChanged(self._incident_from(data["incident"]), ComponentChange.all_from_json(data["changes"]))

    def acknowledge(self, *, incident_id: str, by: str) -> tuple[IncidentSummary, bool]:
        data = self.request("POST", f"/incidents/{segment(incident_id)}/acknowledge", body={"by": by})
        with shape(self.server):
            return self._incident(data), bool(data["acknowledged"])

    def hand_over(self, *, incident_id: str, to: str) -> IncidentSummary:
        return self._incident(self.request("POST", f"/incidents/{segment(incident_id)}/handover", body={"to": to}))

    def pause_sla(self, *, incident_id: str, reason: str) -> IncidentSummary:
        return self._incident(self.request("POST", f"/incidents/{segment(incident_id)}/sla-pause", body={"reason": reason}))

    def resume_sla(self, *, incident_id: str) -> IncidentSummary:
        return self._incident(self.request("POST", f"/incidents/{segment(incident_id)}/sla-resume"))

    def record_plan(self, *, incident_id: str, plan: str) -> IncidentSummary:
        return self._incident(self.request("POST", f"/incidents/{segment(incident_id)}/plan", body={"plan": plan}))

    def record_root_cause(
        self, *, incident_id: str, root_cause: str | None, remediation: str | None, category: str | None = None
    ) -> IncidentSummary:
        body = drop_none({"root_cause": root_cause, "remediation": remediation, "category": category})
        return self._incident(self.request("POST", f"/incidents/{segment(incident_id)}/root-cause", body=body))

    def escalate(self, *, incident_id: str, to_tier: int | None) -> Escalated:
        data = self.request("POST", f"/incidents/{segment(incident_id)}/escalate", body=drop_none({"to_tier": to_tier}))
        with shape(self.server):
            incident = self._incident_from(data["incident"])
            return Escalated(incident_id=incident.id, tier=int(data["escalated_to_tier"]), paging=Paging.from_json(data["paging"]))

    def change_severity(self, *, incident_id: str, severity: str, components: dict[str, str | None] | None = None) -> SeverityChanged:
        # As typed: the server's service layer reads 'sev1' and 'P1', and refuses in its own words.
        body: dict[str, Any] = {"severity": severity}
        if components:
            body["components"] = components
        data = self.request("POST", f"/incidents/{segment(incident_id)}/severity", body=body)
        with shape(self.server):
            change = data["severity_change"]
            return SeverityChanged(
                incident=self._incident_from(data["incident"]),
                previous=int(change["from"]),
                playbook=change["playbook"],
                paging=Paging.from_json(data["paging"]),
            )

    def record_analysis(
        self,
        *,
        incident_id: str,
        root_cause: str | None,
        remediation: str | None,
        factors: Sequence[str],
        whys: Sequence[str],
        detection_gap: str | None,
        response_gap: str | None,
        category: str | None = None,
    ) -> IncidentSummary:
        body = drop_none(
            {
                "root_cause": root_cause,
                "remediation": remediation,
                "category": category,
                "factors": list(factors) or None,
                "whys": list(whys) or None,
                "detection_gap": detection_gap,
                "response_gap": response_gap,
            }
        )
        return self._incident(self.request("POST", f"/incidents/{segment(incident_id)}/analysis", body=body))

    def list_incidents(self, *, open_only: bool, limit: int) -> Sequence[IncidentSummary]:
        data = self._list(open_only, limit)
        with shape(self.server):
            return [self._incident_from(item) for item in data["incidents"]]

    def incidents_json(self, *, open_only: bool, limit: int) -> list[JSON]:
        data = self._list(open_only, limit)
        with shape(self.server):
            return [_public(item) for item in data["incidents"]]

    def _list(self, open_only: bool, limit: int) -> JSON:
        return self.request("GET", "/incidents", params={"open": "true" if open_only else "false", "limit": limit})

    def incident_json(self, incident_id: str | int) -> JSON:
        data = self.request("GET", f"/incidents/{segment(str(incident_id))}")
        with shape(self.server):
            return _public(data["incident"])

    def incident_detail(self, incident_id: str) -> IncidentDetail:
        data = self.request("GET", f"/incidents/{segment(incident_id)}")
        with shape(self.server):
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
                    AuditRecord(at=required_time(e["at"]), actor=e["actor"], action=e["action"], before=e["before"], after=e["after"])
                    for e in data["audit_events"]
                ),
                # As the server measured them; none from a server that does not send them (``show``
                # then leaves the SLA table out).
                sla_targets=tuple(_target_from(t) for t in data.get("sla_targets") or ()),
                escalation=EscalationState.from_json(data.get("paging")),
                cause_category=admin.get("root_cause_category_label"),
            )

    # Components and maintenance --------------------------------------------------------------

    def list_components(self) -> Sequence[ComponentRecord]:
        data = self.request("GET", "/components")
        with shape(self.server):
            return [ComponentRecord(id=c["id"], name=c["name"], status=c["status"]) for c in data["components"]]

    def set_component_status(self, *, component_id: str, status: str) -> Sequence[ComponentChange]:
        data = self.request("PUT", f"/components/{segment(component_id)}", body={"status": status})
        with shape(self.server):
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
        body = drop_none(
            {
                "title": title,
                "components": components,
                "scheduled_for": scheduled_for.isoformat(),
                "scheduled_until": scheduled_until.isoformat(),
                "message": message,
            }
        )
        data = self.request("POST", "/maintenances", body=body)
        with shape(self.server):
            item = data["scheduled_maintenance"]
            return MaintenanceRecord(
                id=int(item["admin"]["id"]),
                scheduled_for=required_time(item["scheduled_for"]),
                scheduled_until=required_time(item["scheduled_until"]),
            )

    def set_maintenance_status(self, *, maintenance_id: str, status: str, message: str | None) -> MaintenanceStatus:
        body = drop_none({"status": status, "message": message})
        data = self.request("PATCH", f"/maintenances/{segment(maintenance_id)}", body=body)
        with shape(self.server):
            item = data["scheduled_maintenance"]
            return MaintenanceStatus(maintenance_id=int(item["admin"]["id"]), status=item["status"])

    # Afterwards: action items, the postmortem, the report -------------------------------------

    def add_action(self, *, incident_id: str, title: str, owner: str, due: str) -> ActionRecord:
        body = {"title": title, "owner": owner, "due": due}
        data = self.request("POST", f"/incidents/{segment(incident_id)}/actions", body=body)
        with shape(self.server):
            return _action_from(data["action_item"])

    def list_actions(self, *, open_only: bool, overdue: bool) -> Sequence[ActionRecord]:
        params = {"open": "true" if open_only else "false", "overdue": "true" if overdue else "false"}
        data = self.request("GET", "/actions", params=params)
        with shape(self.server):
            return [_action_from(item) for item in data["action_items"]]

    def complete_action(self, *, action_id: str) -> ActionRecord:
        data = self.request("POST", f"/actions/{segment(action_id)}/done")
        with shape(self.server):
            return _action_from(data["action_item"])

    def postmortem(self, *, incident_id: str, publish: bool) -> PostmortemDocument:
        if publish:
            data = self.request("POST", f"/incidents/{segment(incident_id)}/postmortem/publish")
        else:
            data = self.request("GET", f"/incidents/{segment(incident_id)}/postmortem")
        with shape(self.server):
            if "incident" in data:
                self._incident_from(data["incident"])  # for its address
            item = data["postmortem"]
            name = str(item["filename"])
            if not POSTMORTEM_FILE.fullmatch(name):
                raise ValueError(f"{name!r} is not a postmortem's file name")
            return PostmortemDocument(incident_id=int(item["incident_id"]), filename=name, markdown=str(item["markdown"]))

    def monthly_report(self, *, month: str, fmt: str, post: bool) -> ReportText:
        if post:
            data = self.request("POST", "/reports/monthly/slack-summary", body={"month": month, "format": fmt})
        else:
            data = self.request("GET", "/reports/monthly", params={"month": month, "format": fmt})
        with shape(self.server):
            report = data["report"]
            queued = None
            if post:
                summary = data["slack_summary"]
                queued = SlackSummaryQueued(line=str(summary["line"]), target=str(summary["target"]))
            return ReportText(month=str(report["month"]), text=str(report["text"]), slack=queued)

    # From JSON to records --------------------------------------------------------------------

    def _incident(self, data: JSON) -> IncidentSummary:
        with shape(self.server):
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
            detected_at=required_time(admin["detected_at"]),
            declared_at=required_time(admin["declared_at"]),
            acknowledged_at=time(admin["acknowledged_at"]),
            acknowledged_by=admin["acknowledged_by"],
            first_response_at=time(admin["first_response_at"]),
            mitigated_at=time(admin["mitigated_at"]),
            resolved_at=time(admin["resolved_at"]),
            sla_pauses=tuple(SlaPause.from_json(p) for p in admin.get("sla_pauses") or ()),
            internal=bool(admin.get("internal", False)),
            resolution_plan=admin.get("resolution_plan"),
            resolution_plan_at=time(admin.get("resolution_plan_at")),
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
            created_at=required_time(exact.get("created_at") or update["created_at"]),
            affected_components=ComponentChange.all_from_json(update["affected_components"]),
            edited_at=time(exact.get("edited_at")),
        )

    def _posted(self, data: JSON) -> UpdateRecord:
        with shape(self.server):
            incident = self._incident_from(data["incident"])
            return self._update_from(incident.id, data["incident_update"], data["incident"]["admin"])


def _action_from(item: JSON) -> ActionRecord:
    return ActionRecord(
        id=int(item["id"]),
        incident_id=int(item["incident_id"]),
        title=str(item["title"]),
        owner=str(item["owner"]),
        due_on=date.fromisoformat(item["due_on"]),
        status=str(item["status"]),
    )


def _target_from(t: JSON) -> TargetEvaluation:
    return TargetEvaluation(
        target=t["target"],
        clock=t["clock"],
        target_seconds=int(t["target_seconds"]),
        deadline=time(t["deadline"]) or datetime.now(UTC),
        event_at=time(t["event_at"]),
        elapsed_seconds=int(t["elapsed_seconds"]),
        outcome=Outcome(t["outcome"]),
        breached_by_seconds=int(t["breached_by_seconds"]),
        remaining_seconds=t["remaining_seconds"],
        paused=bool(t.get("paused", False)),
        paused_seconds=int(t.get("paused_seconds") or 0),
        working_day_seconds=int(t.get("working_day_seconds") or 0),
    )


def _public(item: JSON) -> JSON:
    """The Statuspage v2 object as the local ``--json`` prints it: without the admin part."""
    return {key: value for key, value in item.items() if key != "admin"}


def _severity(value: str) -> int | str:
    """``sev1``, ``P1`` and ``1`` as the number the API takes; anything else as typed, for the server to refuse."""
    text = value.strip().lower().removeprefix("sev").removeprefix("p")
    return int(text) if text.isascii() and text.isdigit() and len(text) < 6 else value
