"""Alerts from monitoring, received: each request stored, each alert tracked, incidents opened,
joined and (when the rule says) resolved, all in the transaction of the request.

What one request does (:func:`receive`), before it is answered:

- It is stored (``alert_request``: source, time, token, body). If a request with the same body
  came from the same source within ``alerts.dedupe_window``, it is a retry: it is stored as a
  duplicate of the first and answered with the first one's answer, and changes nothing else.
- Each alert is found by its source and fingerprint. A firing alert already firing changes
  nothing (a sender repeats its notifications); one that fires again while its incident is
  still open rejoins it; otherwise it is a new alert, which:
  1. joins the open incident of an alert with the same group key, if there is one (a storm of
     one group is one incident);
  2. else goes to the first rule whose matchers its labels satisfy (no rule: it is kept and
     opens nothing);
  3. opens an incident of the rule's severity on the rule's component, with the rule's
     playbook (else the severity's), *internal* unless the rule says ``publish: true``; unless
     the rule has opened ``max_new_incidents`` within ``window`` already: then it joins the
     rule's latest incident, and the request's audit log says so (``alert.capped``).
- A resolved alert is marked resolved and lets go of the component its rule set; its incident
  stays open for a person unless the rule says ``resolve_incident: true`` and none of the
  incident's alerts still fires.

Every alert fired or resolved is one audit event (``alert.fire``, ``alert.resolve``); opening,
resolving and raising an incident are the incident service's own changes, with theirs.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from statuspage.alerts import automation
from statuspage.alerts.payloads import Batch
from statuspage.audit.actions import AuditAction
from statuspage.components.service import list_components
from statuspage.context import WriteContext, write
from statuspage.db.models import Alert, AlertRequest, Incident
from statuspage.domain.alerts import (
    FIRING,
    RESOLVED,
    IncomingAlert,
    Routed,
    Rule,
    dedupe_key,
    detection_time,
    incident_title,
    route,
)
from statuspage.domain.enums import OPEN_INCIDENT_STATUSES
from statuspage.incidents import service as incidents
from statuspage.oncall import engine as oncall

log = logging.getLogger(__name__)

OPEN = [s.value for s in OPEN_INCIDENT_STATUSES]
RESOLVED_BY_ALERTS = "Monitoring reports the problem is over: every alert behind this incident has resolved."


@write
def receive(*, ctx: WriteContext, batch: Batch, body: dict[str, Any], token_name: str | None = None) -> dict[str, Any]:
    """Store one request and act on its alerts; returns the answer for the sender (the first
    request's answer again, for a retry)."""
    now = ctx.now()
    key = dedupe_key(batch.source, body)
    request = AlertRequest(source=batch.source, received_at=now, token_name=token_name, dedupe_key=key, body=body)
    earlier = ctx.session.exec(
        select(AlertRequest)
        .where(
            col(AlertRequest.dedupe_key) == key,
            col(AlertRequest.received_at) >= now - ctx.config.alerts.dedupe_window.timedelta,
            col(AlertRequest.duplicate_of).is_(None),
        )
        .order_by(col(AlertRequest.id))
        .limit(1)
    ).first()
    if earlier is not None:
        request.duplicate_of = earlier.id
    ctx.session.add(request)
    ctx.session.flush()
    if earlier is not None:
        log.info("alert request %s from %s is a retry of request %s; nothing done", request.id, batch.source, earlier.id)
        return {**(earlier.result or {}), "request_id": request.id, "duplicate": True, "duplicate_of": earlier.id}
    if batch.truncated:
        log.warning("%s left %d alerts out of request %s (max_alerts); they are not seen here", batch.source, batch.truncated, request.id)
    run = _Run(ctx, batch.source, now)
    outcomes = [run.one(alert) for alert in batch.alerts]
    run.record_capped()
    result = {
        "request_id": request.id,
        "duplicate": False,
        "source": batch.source,
        "alerts": outcomes,
        "incidents": sorted({o["incident_id"] for o in outcomes if o["incident_id"] is not None}),
        "truncated_alerts": batch.truncated,
    }
    request.result = result
    return result


@dataclass
class _Capped:
    rule: Rule
    incident_id: int | None
    alerts: int = 0


@dataclass
class _Run:
    """One request's alerts, in order, in its transaction."""

    ctx: WriteContext
    source: str
    now: datetime
    rules: list[Rule] = field(init=False)
    components: set[str] = field(init=False)
    capped: dict[str, _Capped] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.rules = self.ctx.config.alerts.routing_rules()
        self.components = {c.id for c in list_components(session=self.ctx.session)}

    # firing ------------------------------------------------------------------------------

    def one(self, incoming: IncomingAlert) -> dict[str, Any]:
        latest = self.ctx.session.exec(
            select(Alert)
            .where(col(Alert.source) == self.source, col(Alert.fingerprint) == incoming.fingerprint)
            .order_by(col(Alert.id).desc())
            .limit(1)
        ).first()
        if incoming.status == RESOLVED:
            return self.resolve(incoming, latest)
        if latest is not None and latest.status == FIRING:
            self.refresh(latest, incoming)
            if latest.incident_id is not None:
                return self.outcome(latest, "still_firing")
            return self.route_new(latest, incoming)  # unrouted before: a rule may match now
        if latest is not None and latest.incident_id is not None and self.is_open(latest.incident_id):
            return self.fire_again(latest, incoming)
        alert = Alert(
            source=self.source,
            fingerprint=incoming.fingerprint,
            group_key=incoming.group_key,
            status=FIRING,
            title=incident_title(incoming, None, self.source),
            labels=dict(incoming.labels),
            annotations=dict(incoming.annotations),
            starts_at=incoming.starts_at,
            generator_url=incoming.generator_url,
            first_received_at=self.now,
            last_received_at=self.now,
        )
        self.ctx.session.add(alert)
        self.ctx.session.flush()
        return self.route_new(alert, incoming)

    def route_new(self, alert: Alert, incoming: IncomingAlert) -> dict[str, Any]:
        routed = route(incoming.labels, self.rules, self.components)
        rule = routed.rule if routed else None
        alert.rule = rule.name if rule else None
        alert.title = incident_title(incoming, rule, self.source)
        note = None
        incident = self.group_incident(alert)
        if incident is not None:
            what = "joined"
            self.join(alert, incident, rule)
        elif routed is None or routed.component is None:
            what, note = "unrouted", routed.problem if routed else "no rule matches its labels"
            log.warning("alert %s from %s (%s) opens nothing: %s", alert.id, self.source, alert.title, note)
        elif self.over_cap(routed.rule):
            what = "capped"
            self.attach_capped(alert, routed.rule)
        else:
            what = "opened"
            self.open_incident(alert, incoming, routed)
        if routed is not None and routed.component is not None and routed.rule.set_component_status is not None:
            automation.hold(self.ctx, alert, routed.component, routed.rule.set_component_status)
        self.audit_fire(alert, what, note)
        return self.outcome(alert, what, note)

    def fire_again(self, alert: Alert, incoming: IncomingAlert) -> dict[str, Any]:
        alert.status = FIRING
        alert.starts_at = incoming.starts_at
        alert.ends_at = alert.resolved_at = None
        self.refresh(alert, incoming)
        rule = self.ctx.config.alerts.rule(alert.rule)
        if rule is not None and rule.set_component_status is not None:
            routed = route(incoming.labels, [rule], self.components)
            if routed is not None and routed.component is not None:
                automation.hold(self.ctx, alert, routed.component, rule.set_component_status)
        self.audit_fire(alert, "fired_again", None)
        return self.outcome(alert, "fired_again")

    def refresh(self, alert: Alert, incoming: IncomingAlert) -> None:
        # Merged, not replaced: a generic "resolved" may carry only the key.
        alert.last_received_at = self.now
        alert.labels = {**alert.labels, **incoming.labels}
        alert.annotations = {**alert.annotations, **incoming.annotations}
        alert.generator_url = incoming.generator_url or alert.generator_url

    def group_incident(self, alert: Alert) -> Incident | None:
        """The open incident of another alert of the same group, newest first."""
        if alert.group_key is None:
            return None
        return self.ctx.session.exec(
            select(Incident)
            .join(Alert, col(Alert.incident_id) == col(Incident.id))
            .where(
                col(Alert.source) == self.source,
                col(Alert.group_key) == alert.group_key,
                col(Alert.id) != alert.id,
                col(Incident.status).in_(OPEN),
            )
            .order_by(col(Incident.id).desc())
            .limit(1)
        ).first()

    def join(self, alert: Alert, incident: Incident, rule: Rule | None) -> None:
        alert.incident_id = incident.id
        self.ctx.session.flush()
        if rule is not None and rule.severity < incident.severity and incident.status in OPEN:
            # A worse alert joined: the incident takes its severity (and that severity's playbook).
            incidents.change_severity(ctx=self.ctx, incident_id=incident.id or 0, severity=rule.severity)

    def open_incident(self, alert: Alert, incoming: IncomingAlert, routed: Routed) -> None:
        rule = routed.rule
        assert routed.component is not None
        incident = incidents.declare(
            ctx=self.ctx,
            severity=rule.severity,
            title=alert.title,
            components=[routed.component],
            detected_at=detection_time(incoming.starts_at, self.now, max_lead=incidents.MAX_DETECTION_LEAD),
            playbook=self.playbook(rule),
            internal=not rule.publish,
        )
        alert.incident_id = incident.id
        alert.opened_incident = True
        self.ctx.session.flush()

    def playbook(self, rule: Rule) -> str | None:
        """The rule's playbook, if it loads; else the severity's (an alert must not be refused
        because someone renamed a playbook)."""
        if rule.playbook is None or rule.playbook == oncall.BUILTIN_NAME:
            return rule.playbook
        loaded, _ = oncall.load_lenient(self.ctx.config, self.ctx.wiring.playbooks_dir)
        if rule.playbook in loaded:
            return rule.playbook
        log.error("alert rule %s names playbook %r, which does not load; running the severity's", rule.name, rule.playbook)
        return None

    # the storm cap ---------------------------------------------------------------------------

    def opened_by(self, rule: Rule) -> Any:
        return (
            select(Incident)
            .join(Alert, col(Alert.incident_id) == col(Incident.id))
            .where(col(Alert.rule) == rule.name, col(Alert.opened_incident).is_(True))
        )

    def over_cap(self, rule: Rule) -> bool:
        since = self.now - self.ctx.config.alerts.window.timedelta
        recent = self.opened_by(rule).where(col(Incident.declared_at) >= since).subquery()
        count = self.ctx.session.exec(select(func.count()).select_from(recent)).one()
        return int(count) >= self.ctx.config.alerts.cap(rule)

    def attach_capped(self, alert: Alert, rule: Rule) -> None:
        latest = self.ctx.session.exec(
            self.opened_by(rule).order_by(col(Incident.declared_at).desc(), col(Incident.id).desc()).limit(1)
        ).first()
        if latest is not None:
            alert.incident_id = latest.id
            self.ctx.session.flush()
        capped = self.capped.setdefault(rule.name, _Capped(rule, latest.id if latest else None))
        capped.alerts += 1

    def record_capped(self) -> None:
        alerts = self.ctx.config.alerts
        for name, capped in self.capped.items():
            limit, window = alerts.cap(capped.rule), str(alerts.window)
            log.warning(
                "alert rule %s opened %d incidents within %s already; %d more alerts joined incident %s instead",
                name, limit, window, capped.alerts, capped.incident_id,
            )
            self.ctx.audit(
                action=AuditAction.ALERT_CAPPED,
                subject_type="alert_rule",
                subject_id=name,
                at=self.now,
                after={"limit": limit, "window": window, "alerts": capped.alerts, "incident_id": capped.incident_id},
            )

    # resolving -----------------------------------------------------------------------------

    def resolve(self, incoming: IncomingAlert, alert: Alert | None) -> dict[str, Any]:
        if alert is None:
            # Resolved before we ever heard it fire (it fired before the integration existed).
            routed = route(incoming.labels, self.rules, self.components)
            alert = Alert(
                source=self.source,
                fingerprint=incoming.fingerprint,
                group_key=incoming.group_key,
                status=RESOLVED,
                title=incident_title(incoming, routed.rule if routed else None, self.source),
                labels=dict(incoming.labels),
                annotations=dict(incoming.annotations),
                starts_at=incoming.starts_at,
                ends_at=incoming.ends_at or self.now,
                generator_url=incoming.generator_url,
                rule=routed.rule.name if routed else None,
                first_received_at=self.now,
                last_received_at=self.now,
                resolved_at=self.now,
            )
            self.ctx.session.add(alert)
            self.ctx.session.flush()
            self.audit_resolve(alert, incident_resolved=False)
            return self.outcome(alert, "resolved", "never seen firing")
        if alert.status == RESOLVED:
            alert.last_received_at = self.now
            return self.outcome(alert, "already_resolved")
        self.refresh(alert, incoming)
        alert.status = RESOLVED
        alert.ends_at = incoming.ends_at or self.now
        alert.resolved_at = self.now
        automation.release(self.ctx, alert)
        resolved = self.resolve_incident(alert)
        self.audit_resolve(alert, incident_resolved=resolved)
        return {**self.outcome(alert, "resolved"), "incident_resolved": resolved}

    def resolve_incident(self, alert: Alert) -> bool:
        rule = self.ctx.config.alerts.rule(alert.rule)
        if rule is None or not rule.resolve_incident or alert.incident_id is None or not self.is_open(alert.incident_id):
            return False
        self.ctx.session.flush()
        still = self.ctx.session.exec(
            select(Alert.id).where(col(Alert.incident_id) == alert.incident_id, col(Alert.status) == FIRING).limit(1)
        ).first()
        if still is not None:
            return False
        incidents.resolve(ctx=self.ctx, incident_id=alert.incident_id, message=RESOLVED_BY_ALERTS)
        return True

    # shared ----------------------------------------------------------------------------------

    def is_open(self, incident_id: int) -> bool:
        incident = self.ctx.session.get(Incident, incident_id)
        return incident is not None and incident.status in OPEN

    def audit_fire(self, alert: Alert, what: str, note: str | None) -> None:
        assert alert.id is not None
        self.ctx.audit(
            action=AuditAction.ALERT_FIRE,
            subject_type="alert",
            subject_id=alert.id,
            at=self.now,
            after={
                "source": alert.source,
                "fingerprint": alert.fingerprint,
                "title": alert.title,
                "rule": alert.rule,
                "outcome": what,
                "incident_id": alert.incident_id,
                "note": note,
                "component": alert.held_component,
                "component_status": alert.component_status,
            },
        )

    def audit_resolve(self, alert: Alert, *, incident_resolved: bool) -> None:
        assert alert.id is not None
        self.ctx.audit(
            action=AuditAction.ALERT_RESOLVE,
            subject_type="alert",
            subject_id=alert.id,
            at=self.now,
            before={"status": FIRING},
            after={"status": RESOLVED, "incident_id": alert.incident_id, "incident_resolved": incident_resolved},
        )

    def outcome(self, alert: Alert, what: str, note: str | None = None) -> dict[str, Any]:
        result: dict[str, Any] = {
            "alert_id": alert.id,
            "fingerprint": alert.fingerprint,
            "status": alert.status,
            "outcome": what,
            "rule": alert.rule,
            "incident_id": alert.incident_id,
        }
        if note:
            result["note"] = note
        return result


def list_alerts(*, session: Session, open_only: bool = False, limit: int = 100) -> Sequence[tuple[Alert, Incident | None]]:
    """Alerts, newest first, each with its incident; ``open_only``: those still firing."""
    statement = (
        select(Alert, Incident)
        .join(Incident, col(Incident.id) == col(Alert.incident_id), isouter=True)
        .order_by(col(Alert.last_received_at).desc(), col(Alert.id).desc())
        .limit(limit)
    )
    if open_only:
        statement = statement.where(col(Alert.status) == FIRING)
    return session.exec(statement).all()
