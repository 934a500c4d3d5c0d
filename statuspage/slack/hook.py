"""Turning audit events into Slack messages, in the transaction of the change.

Why from audit events: every state change already writes one (the service layer's, and the on-call
engine's ``incident.page``, ``incident.escalate`` ...), so they are the contract between the
engine and Slack, and this hook needs to know nothing about who made a change or how. Why in the
same transaction (a before-commit hook, like the webhooks'): a page that rolls back must not be
announced, and one that commits must be, even if the process dies right after the commit.

What each transaction queues (only while ``slack.enabled``), per incident it touched:

- a declaration: the *headline*, one message in the incidents channel that is posted once and
  then edited in place to show the incident's current state;
- every other event: a *reply* in the headline's thread (an update, a page, an escalation ...);
- any change to what the headline shows: one *headline edit*, due a few seconds later so that a
  burst of changes becomes one ``chat.update`` (the sender skips an edit when a newer one waits);
- a page to a ``slack_user`` contact: a *direct message* with an Acknowledge button; a page to a
  ``slack_channel`` contact, a tier's notify channel, a playbook's ``slack`` step with a channel:
  a *post* in that channel.

Ordering keys: the headline and its replies share one key per incident and channel, so replies
follow the headline they thread under, in the order the changes happened; edits have a key of
their own (an edit waiting out its coalescing delay holds up no reply); direct messages and
posts have one key per incident and recipient.

The hook only gathers facts: nothing is rendered here, so a template mistake can never roll back
the declaration of an incident. The sender renders when it sends.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from statuspage import outbox
from statuspage.audit.actions import AuditAction
from statuspage.context import WriteContext
from statuspage.db.models import AuditEvent, Incident
from statuspage.incidents.queries import declaration_message
from statuspage.oncall import delivery
from statuspage.settings import Config, SlackConfig

CHANNEL = "slack"
HEADLINE_POST = "slack.headline.post"
HEADLINE_UPDATE = "slack.headline.update"
REPLY = "slack.reply"
DIRECT = "slack.dm"
POST = "slack.post"
# A headline edit waits this long, so that the changes of a few seconds make one chat.update.
COALESCE_WINDOW = timedelta(seconds=3)

REPLY_TEMPLATES: dict[str, str] = {
    AuditAction.INCIDENT_UPDATE: "update",
    AuditAction.INCIDENT_RESOLVE: "resolve",
    AuditAction.INCIDENT_REOPEN: "reopen",
    AuditAction.INCIDENT_ACKNOWLEDGE: "acknowledge",
    AuditAction.INCIDENT_HAND_OVER: "handover",
    AuditAction.INCIDENT_HANDOVER_EARLY: "handover",
    AuditAction.INCIDENT_ROOT_CAUSE: "root_cause",
    AuditAction.INCIDENT_PLAYBOOK: "playbook",
    AuditAction.INCIDENT_ESCALATE: "escalate",
    AuditAction.INCIDENT_REMIND: "remind",
    AuditAction.INCIDENT_ESCALATION_EXHAUSTED: "exhausted",
    AuditAction.INCIDENT_SEVERITY: "severity",
    AuditAction.INCIDENT_SLA_BREACH: "sla_breach",
    AuditAction.INCIDENT_SLA_PAUSE: "sla_pause",
    AuditAction.INCIDENT_SLA_RESUME: "sla_resume",
    AuditAction.INCIDENT_RESOLUTION_PLAN: "resolution_plan",
}
# Changes to what the headline shows (status, severity, commander, acknowledgement, who is paged),
# and the cadence reminder, so that how long the incident has been open is counted again.
HEADLINE_ACTIONS = frozenset(
    {
        AuditAction.INCIDENT_UPDATE,
        AuditAction.INCIDENT_RESOLVE,
        AuditAction.INCIDENT_REOPEN,
        AuditAction.INCIDENT_ACKNOWLEDGE,
        AuditAction.INCIDENT_HAND_OVER,
        AuditAction.INCIDENT_HANDOVER_EARLY,
        AuditAction.INCIDENT_SEVERITY,
        AuditAction.INCIDENT_ESCALATE,
        AuditAction.INCIDENT_PAGE,
        AuditAction.INCIDENT_ESCALATION_EXHAUSTED,
        AuditAction.INCIDENT_REMIND,
    }
)
HANDLED = frozenset(
    {
        *REPLY_TEMPLATES,
        AuditAction.INCIDENT_DECLARE,
        AuditAction.INCIDENT_PAGE,
        AuditAction.INCIDENT_PAGE_FAILED,
        AuditAction.INCIDENT_NOTIFY_CHANNEL,
        AuditAction.INCIDENT_SLACK,
    }
)
CONTACT_LABELS = delivery.CONTACT_LABELS
# The contact kinds a channel carries (Slack here, email by statuspage.mail, apprise and webhook by
# statuspage.pagers); a page to any other
# (a phone), or to email while it is switched off, is recorded as not sent, and the paging reply
# says so.
CARRIED = frozenset({"slack_user", "slack_channel", "email", "apprise", "webhook"})


def not_sent_reason(contact_kind: str, config: Config) -> str | None:
    """Why a page to this kind of contact goes out by no channel; None when one carries it."""
    if contact_kind not in CARRIED:
        return delivery.initial_state(contact_kind, config)[1] or f"no channel for {contact_kind} contacts"
    return delivery.initial_state(contact_kind, config)[1]


def thread_key(channel: str, incident_id: int) -> str:
    return f"{CHANNEL}:{channel}:incident:{incident_id}"


def headline_key(channel: str, incident_id: int) -> str:
    return thread_key(channel, incident_id) + ":headline"


@dataclass
class Planned:
    """One message to queue: where it goes, under which ordering key, and what it carries."""

    event: str
    target: str
    ordering_key: str
    payload: dict[str, Any]
    delay: timedelta = field(default=timedelta(0))


def slack_users(config: Config) -> set[str]:
    """The Slack user ids of the escalation matrix: the only people a message may mention or DM."""
    return {
        contact.slack_user
        for tier in config.escalation.tiers
        for owner in tier.owners
        for contact in owner.contacts
        if contact.slack_user
    }


def incident_facts(incident: Incident, config: Config) -> dict[str, Any]:
    assert incident.id is not None
    return {
        "id": incident.id,
        "title": incident.title,
        "severity": incident.severity,
        "status": incident.status,
        "url": config.incident_url(incident.id),
    }


def plan(
    incident: Incident,
    events: Sequence[AuditEvent],
    config: Config,
    *,
    declared_with: str | None = None,
    page_ids: Sequence[int | None] = (),
) -> list[Planned]:
    """The messages one transaction's events about one incident call for, in order.

    A pure function of the events, the incident as it stands at the end of the transaction, the
    configuration, what the incident was declared with (for direct messages that page) and the
    page row each ``incident.page`` event wrote (``page_ids``, aligned with ``events``; the
    sender records on it whether the page went out), so it can be read (and tested) on its own.
    """
    slack = config.slack
    assert incident.id is not None
    facts = incident_facts(incident, config)
    known_users = slack_users(config)
    channel = slack.incidents_channel
    planned: list[Planned] = []
    actions = [event.action for event in events]
    # A playbook's on_resolve steps run before the resolution is recorded (so that they may still
    # post a public update), but a note they leave in the thread follows the resolution there.
    resolution = actions.index(AuditAction.INCIDENT_RESOLVE) if AuditAction.INCIDENT_RESOLVE in actions else -1
    after_resolution: list[Planned] = []

    def reply(template: str, data: dict[str, Any], *, after_resolve: bool = False) -> None:
        (after_resolution if after_resolve else planned).append(
            Planned(
                REPLY,
                channel,
                thread_key(channel, incident.id or 0),
                {"kind": "reply", "template": template, "incident": facts, "data": data},
            )
        )

    def post(target: str, data: dict[str, Any]) -> None:
        planned.append(
            Planned(
                POST,
                target,
                thread_key(target, incident.id or 0),
                {"kind": "post", "template": "notify", "incident": facts, "data": data},
            )
        )

    if AuditAction.INCIDENT_DECLARE in actions:
        planned.append(
            Planned(
                HEADLINE_POST,
                channel,
                thread_key(channel, incident.id),
                {"kind": "headline", "op": "post", "incident": facts},
            )
        )

    paging: dict[str, Any] | None = None
    for position, event in enumerate(events):
        after = event.after or {}
        before = event.before or {}
        action = event.action
        if action != AuditAction.INCIDENT_PAGE:
            paging = None
        if action == AuditAction.INCIDENT_PAGE:
            step = (after.get("step"), after.get("loop"))
            if paging is None or paging["step"] != step:
                paging = {"step": step, "tier": after.get("tier"), "owners": []}
                reply("paging", paging)
            owners: list[dict[str, Any]] = paging["owners"]
            owner = next((o for o in owners if o["name"] == after.get("owner")), None)
            if owner is None:
                owner = {"name": after.get("owner"), "kinds": []}
                owners.append(owner)
            kind = str(after.get("contact_kind"))
            label = CONTACT_LABELS.get(kind, kind)
            # "Paging" names only what goes out: a contact no channel carries is said apart.
            why = not_sent_reason(kind, config)
            listed = owner.setdefault("not_sent", []) if why else owner["kinds"]
            if label not in listed:
                listed.append(label)
            note = f"Not sent by {label}: {why}." if why else None
            if note and note not in paging.setdefault("notes", []):
                paging["notes"].append(note)
            contact = str(after.get("contact") or "")
            page_id = page_ids[position] if position < len(page_ids) else None
            if kind == "slack_user" and contact in known_users:
                planned.append(
                    Planned(
                        DIRECT,
                        contact,
                        f"{CHANNEL}:{contact}:incident:{incident.id}",
                        {
                            "kind": "dm",
                            "template": "page_dm",
                            "incident": facts,
                            "data": {
                                "owner": after.get("owner"),
                                "user": contact,
                                "tier": after.get("tier"),
                                **({"message": declared_with} if declared_with else {}),
                                **({"page_id": page_id} if page_id is not None else {}),
                            },
                        },
                    )
                )
            elif kind == "slack_channel" and contact:
                data = {"reason": "owner", "owner": after.get("owner"), "tier": after.get("tier")}
                post(contact, data | ({"page_id": page_id} if page_id is not None else {}))
        elif action == AuditAction.INCIDENT_PAGE_FAILED:
            kind = str(after.get("contact_kind"))
            answer = (after.get("delivery") or {}).get("error") or after.get("error") or ""
            failed = {
                "owner": after.get("owner"),
                "how": CONTACT_LABELS.get(kind, kind),
                "contact": after.get("contact") if kind == "email" else None,
                "error": answer,
                "tier": after.get("tier"),
            }
            reply("page_failed", failed)
            for target in after.get("channels") or []:
                planned.append(
                    Planned(
                        POST,
                        str(target),
                        thread_key(str(target), incident.id),
                        {"kind": "post", "template": "page_failed", "incident": facts, "data": failed},
                    )
                )
        elif action == AuditAction.INCIDENT_NOTIFY_CHANNEL and after.get("channel"):
            post(str(after["channel"]), {"reason": "tier", "tier": after.get("tier")})
        elif action == AuditAction.INCIDENT_SLACK:
            text = str(after.get("text") or "")
            if after.get("channel"):
                post(str(after["channel"]), {"reason": "text", "text": text})
            else:
                reply("custom", {"text": text}, after_resolve=position < resolution)
        elif action in REPLY_TEMPLATES:
            reply(REPLY_TEMPLATES[action], _reply_data(event, before, after))
            if action == AuditAction.INCIDENT_RESOLVE:
                planned.extend(after_resolution)
                after_resolution.clear()
    planned.extend(after_resolution)

    # The "step" tuple was only for grouping; payloads are JSON.
    for message in planned:
        message.payload.get("data", {}).pop("step", None)

    if AuditAction.INCIDENT_DECLARE not in actions and HEADLINE_ACTIONS.intersection(actions):
        planned.append(
            Planned(
                HEADLINE_UPDATE,
                channel,
                headline_key(channel, incident.id),
                {"kind": "headline", "op": "update", "incident": facts},
                delay=COALESCE_WINDOW,
            )
        )
    return planned


def _reply_data(event: AuditEvent, before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    action = event.action
    author = event.actor
    if action in {AuditAction.INCIDENT_UPDATE, AuditAction.INCIDENT_REOPEN}:
        return {"status": after.get("status"), "message": after.get("message") or "", "author": author}
    if action == AuditAction.INCIDENT_RESOLVE:
        return {"message": after.get("message") or "", "author": author}
    if action == AuditAction.INCIDENT_ACKNOWLEDGE:
        return {"by": after.get("acknowledged_by") or author, "author": author, "commander": after.get("commander")}
    if action in {AuditAction.INCIDENT_HAND_OVER, AuditAction.INCIDENT_HANDOVER_EARLY}:
        return {"from": before.get("commander"), "to": after.get("commander"), "author": author}
    if action == AuditAction.INCIDENT_ROOT_CAUSE:
        return {"root_cause": after.get("root_cause"), "remediation": after.get("remediation")}
    if action == AuditAction.INCIDENT_PLAYBOOK:
        return {"playbook": after.get("playbook"), "severity": after.get("severity")}
    if action == AuditAction.INCIDENT_ESCALATE:
        return {
            "from_tier": after.get("from_tier"),
            "to_tier": after.get("to_tier"),
            "reason": after.get("reason") or "",
        }
    if action == AuditAction.INCIDENT_REMIND:
        return {"commander": after.get("commander"), "update_every": after.get("update_every")}
    if action == AuditAction.INCIDENT_ESCALATION_EXHAUSTED:
        return {"paged_tiers": list(after.get("paged_tiers") or [])}
    if action == AuditAction.INCIDENT_SEVERITY:
        return {"from": after.get("from"), "to": after.get("to"), "playbook": after.get("playbook")}
    if action == AuditAction.INCIDENT_SLA_BREACH:
        target = str(after.get("target") or "")
        return {"target": target.replace("_", " "), "promised": after.get("promised"), "deadline": after.get("deadline")}
    if action == AuditAction.INCIDENT_SLA_PAUSE:
        return {"reason": after.get("reason") or "", "author": author}
    if action == AuditAction.INCIDENT_SLA_RESUME:
        return {"paused_seconds": after.get("paused_seconds"), "author": author}
    if action == AuditAction.INCIDENT_RESOLUTION_PLAN:
        return {"resolution_plan": after.get("resolution_plan") or "", "author": author}
    return dict(after)


def enqueue_changes(ctx: WriteContext) -> None:
    """The before-commit hook: queue the Slack messages for this transaction's incident events."""
    slack: SlackConfig = ctx.config.slack
    if not slack.enabled:
        return
    by_incident: dict[int, list[AuditEvent]] = {}
    for event in ctx.audit_events:
        if event.subject_type == "incident" and event.action in HANDLED:
            by_incident.setdefault(int(event.subject_id), []).append(event)
    if not by_incident:
        return
    now = ctx.now()
    for incident_id, events in by_incident.items():
        incident = ctx.session.get(Incident, incident_id)
        if incident is None:
            continue
        pages = any(event.action == AuditAction.INCIDENT_PAGE for event in events)
        declared_with = declaration_message(session=ctx.session, incident_id=incident_id) if pages else None
        page_ids = delivery.page_ids_of(ctx.session, incident_id, events) if pages else []
        for message in plan(incident, events, ctx.config, declared_with=declared_with, page_ids=page_ids):
            row = outbox.enqueue(
                ctx.session,
                channel=CHANNEL,
                target=message.target,
                ordering_key=message.ordering_key,
                event=message.event,
                payload=message.payload,
                now=now,
            )
            row.next_attempt_at = now + message.delay
