"""The postmortem document: one Markdown file per incident, written by ``incident postmortem``.

Most of it is generated from the database (facts, impact, timeline, SLA evaluation, a root-cause
analysis per breached target) and re-rendered on every run. The narrative sections are a
person's to write: their text sits between ``<!-- narrative:NAME -->`` and ``<!-- /narrative -->``
and is carried over verbatim when the file is rendered again.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session

from statuspage.audit.actions import AuditAction
from statuspage.db.models import ActionItem, AuditEvent, ContributingFactor, Incident, IncidentUpdate, Postmortem
from statuspage.domain.durations import describe_seconds
from statuspage.domain.sla import TARGET_LABELS, IncidentEvaluation, Outcome, TargetEvaluation
from statuspage.incidents import service as incidents
from statuspage.incidents.sla import calendar_for, measure
from statuspage.oncall import delivery
from statuspage.oncall.queries import PageDelivery, pages_with_delivery
from statuspage.postmortems import service as postmortems
from statuspage.settings import Config

# The sections a person writes, in the order they appear, with the text a new file starts with.
NARRATIVES = {
    "summary": "_What happened, in a few sentences: write it here._",
    "impact": "_What customers saw and could not do: write it here._",
    "lessons": "_What went well, what went badly, where we got lucky: write it here._",
}
NARRATIVE_BLOCK = re.compile(r"^<!-- narrative:([a-z0-9_-]+) -->\n(.*?)^<!-- /narrative -->$", re.DOTALL | re.MULTILINE)
MAX_SLUG = 60
# Audit actions already told by an incident update of their own or on the page's own line (its
# delivery), or not part of the story.
SKIPPED_ACTIONS = frozenset(
    {AuditAction.INCIDENT_UPDATE, AuditAction.INCIDENT_SLACK, AuditAction.INCIDENT_PAGE_DELIVERED}
)


@dataclass(frozen=True)
class Facts:
    incident: Incident
    postmortem: Postmortem | None
    components: list[str]
    updates: list[IncidentUpdate]
    events: list[AuditEvent]
    factors: list[ContributingFactor]
    actions: list[ActionItem]
    evaluation: IncidentEvaluation | None
    now: datetime
    # Every page with what became of it, so that the timeline says who was reached.
    pages: list[PageDelivery] = field(default_factory=list)


def gather(session: Session, config: Config, incident_id: int | str, now: datetime) -> Facts:
    incident = incidents.get(session=session, incident_id=incident_id)
    key = incident.id or 0
    events = incidents.audit_trail(session=session, incident_id=key)
    return Facts(
        incident=incident,
        postmortem=postmortems.get_postmortem(session=session, incident_id=key),
        components=[component.name for _held, component in incidents.affected_components(session=session, incident_id=key)],
        updates=list(incidents.timeline(session=session, incident_id=key)),
        events=[event for event in events if event.action not in SKIPPED_ACTIONS],
        factors=postmortems.factors(session=session, incident_id=key),
        actions=postmortems.action_items(session=session, incident_id=key),
        evaluation=measure(incident, config, calendar_for(config), now),
        now=now,
        pages=pages_with_delivery(session, key),
    )


def slugify(title: str, fallback: str) -> str:
    """``Checkout down: TLS`` → ``checkout-down-tls``; ASCII letters, digits and dashes only, so
    a title can never name another directory or a hidden file."""
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")
    slug = slug[:MAX_SLUG].rstrip("-")
    return slug or fallback


def filename(incident: Incident, zone: ZoneInfo) -> str:
    declared = incident.declared_at.astimezone(zone).date()
    return f"{declared.isoformat()}-{slugify(incident.title, f'incident-{incident.id}')}.md"


def narratives_of(text: str) -> dict[str, str]:
    """The narrative sections of an existing document, by name."""
    found: dict[str, str] = {}
    for match in NARRATIVE_BLOCK.finditer(text):
        found.setdefault(match.group(1), match.group(2))
    return found


def write(path: Path, facts: Facts, config: Config) -> Path:
    """Render the document into ``path``, keeping the narrative text of the file already there."""
    kept = narratives_of(path.read_text(encoding="utf-8")) if path.exists() else {}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(render(facts, config, kept), encoding="utf-8")
    tmp.replace(path)
    return path


# Rendering ---------------------------------------------------------------------------------


def _defused(text: str) -> str:
    """Recorded text as inert Markdown: ``<``, ``>`` and ``&`` become entities, so a title cannot
    carry live HTML into wherever the file is rendered, nor open or close a narrative section."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _one_line(text: str | None) -> str:
    return _defused(" ".join((text or "").split()))


def _cell(text: str | None) -> str:
    """Text safe inside a Markdown table cell."""
    return _one_line(text).replace("\\", "\\\\").replace("|", "\\|") or "—"


def _block(text: str | None, placeholder: str = "_Not recorded yet._") -> str:
    return _defused((text or "").strip()) or placeholder


class _Clock:
    def __init__(self, zone: ZoneInfo) -> None:
        self.zone = zone

    def __call__(self, value: datetime | None) -> str:
        if value is None:
            return "—"
        local = value.astimezone(self.zone)
        return f"{local:%Y-%m-%d %H:%M} {local.tzname()}"


def _spent(seconds: int, clock: str) -> str:
    text = describe_seconds(seconds)
    return f"{text} of business time" if clock == "business_hours" else text


def _result(target: TargetEvaluation) -> str:
    if target.outcome is Outcome.BREACHED:
        return f"breached by {_spent(target.breached_by_seconds, target.clock)}"
    return target.outcome.value


def _actual(target: TargetEvaluation) -> str:
    paused = f" (clock paused {_spent(target.paused_seconds, target.clock)})" if target.paused_seconds else ""
    return _spent(target.elapsed_seconds, target.clock) + ("" if target.event_at else " so far") + paused


def _page_text(after: dict[str, Any], page: PageDelivery | None, when: _Clock) -> str:
    """A page's line: "Paged" only when it went out; otherwise what became of it."""
    tier = f" (tier {after['tier']})" if after.get("tier") is not None else ""
    kind = str(after.get("contact_kind", "?"))
    how = f"{after.get('owner', '?')}{tier} by {delivery.CONTACT_LABELS.get(kind, kind)}"
    if page is None or page.delivery_state == delivery.UNKNOWN:
        return f"Paged {how} (delivery not recorded)"
    if page.delivery_state == delivery.SENT:
        ref = f", ref {page.delivery_ref}" if page.delivery_ref else ""
        return f"Paged {how} (sent {when(page.delivery_at)}{ref})"
    if page.delivery_state == delivery.QUEUED:
        return f"Page to {how} queued, not sent yet"
    words = "not sent" if page.delivery_state == delivery.NOT_SENT else page.delivery_state.replace("_", " ")
    return f"Page to {how} {words}" + (f": {page.delivery_error}" if page.delivery_error else "")


def _pages_of_events(events: Sequence[AuditEvent], pages: Sequence[PageDelivery]) -> dict[int, PageDelivery]:
    """The page row each ``incident.page`` event wrote, by event id: same person, contact and time."""
    unused = list(pages)
    found: dict[int, PageDelivery] = {}
    for event in events:
        if event.action != AuditAction.INCIDENT_PAGE:
            continue
        after = event.after or {}
        match = next(
            (
                page
                for page in unused
                if (page.owner, page.contact_kind, page.contact, page.tier, page.paged_at)
                == (after.get("owner"), after.get("contact_kind"), after.get("contact"), after.get("tier"), event.at)
            ),
            None,
        )
        if match is not None:
            unused.remove(match)
            found[event.id or 0] = match
    return found


def _event_text(event: AuditEvent, page: PageDelivery | None = None, when: _Clock | None = None) -> str:
    after: dict[str, Any] = event.after or {}
    who = event.actor
    match event.action:
        case AuditAction.INCIDENT_DECLARE:
            return f"Declared by {who}"
        case AuditAction.INCIDENT_ACKNOWLEDGE:
            return f"Acknowledged by {after.get('acknowledged_by') or who}"
        case AuditAction.INCIDENT_PAGE:
            return _page_text(after, page, when or _Clock(ZoneInfo("UTC")))
        case AuditAction.INCIDENT_ACK_LINK:
            return f"Acknowledged by {after.get('owner') or who} with the link in the {after.get('contact_kind', '?')} page"
        case AuditAction.INCIDENT_ESCALATE:
            reason = f": {after['reason']}" if after.get("reason") else ""
            return f"Escalated from tier {after.get('from_tier', '?')} to tier {after.get('to_tier', '?')}{reason}"
        case AuditAction.INCIDENT_NOTIFY_CHANNEL:
            return f"Notified channel {after.get('channel', '?')}"
        case AuditAction.INCIDENT_PLAYBOOK:
            return f"Playbook {after.get('playbook', '?')} attached"
        case AuditAction.INCIDENT_HAND_OVER:
            return f"Command handed over to {after.get('commander', '?')} by {who}"
        case AuditAction.INCIDENT_SEVERITY:
            return f"Severity changed to Sev-{after.get('to', after.get('severity', '?'))} by {who}"
        case AuditAction.INCIDENT_RESOLVE:
            return f"Resolved by {who}"
        case AuditAction.INCIDENT_REOPEN:
            return f"Reopened by {who}"
        case AuditAction.INCIDENT_ROOT_CAUSE:
            return f"Root cause recorded by {who}"
        case AuditAction.INCIDENT_SLA_PAUSE:
            return f"SLA clocks paused by {who}: {after.get('reason', '')}"
        case AuditAction.INCIDENT_SLA_RESUME:
            return f"SLA clocks resumed by {who}"
        case AuditAction.INCIDENT_ESCALATION_EXHAUSTED:
            return "Escalation exhausted: nobody acknowledged"
        case AuditAction.INCIDENT_PAGE_FAILED:
            answer = (after.get("delivery") or {}).get("error") or after.get("error", "")
            return f"Page to {after.get('owner', '?')} by {after.get('contact_kind', '?')} failed: {answer}"
        case AuditAction.INCIDENT_REMIND:
            return "Commander reminded to post an update"
        case _:
            return f"{event.action} by {who}"


def _timeline(facts: Facts, when: _Clock) -> list[str]:
    rows: list[tuple[datetime, int, int, str]] = []
    for update in facts.updates:
        rows.append((update.created_at, 0, update.id or 0, f"**{update.status}** update by {update.author}: {update.body}"))
    pages = _pages_of_events(facts.events, facts.pages)
    for event in facts.events:
        rows.append((event.at, 1, event.id or 0, _event_text(event, pages.get(event.id or 0), when)))
    rows.sort(key=lambda row: row[:3])
    lines = [f"| Time ({when.zone.key}) | Event |", "| --- | --- |"]
    lines += [f"| {when(at)} | {_cell(text)} |" for at, _kind, _id, text in rows]
    return lines


def _duration(incident: Incident, now: datetime) -> str:
    start = min(incident.detected_at, incident.declared_at)
    if incident.resolved_at is None:
        return f"{describe_seconds(int((now - start).total_seconds()))} so far (ongoing)"
    return describe_seconds(int((incident.resolved_at - start).total_seconds()))


def render(facts: Facts, config: Config, kept: dict[str, str] | None = None) -> str:
    kept = kept or {}
    incident = facts.incident
    when = _Clock(ZoneInfo(config.page.time_zone))
    severity = config.severity(incident.severity)
    published = facts.postmortem.published_at if facts.postmortem else None

    def narrative(name: str) -> list[str]:
        body = kept.get(name, NARRATIVES[name] + "\n")
        return [f"<!-- narrative:{name} -->", body.rstrip("\n"), "<!-- /narrative -->"]

    out = [
        f"# Postmortem: {_one_line(incident.title)} (incident {incident.id})",
        "",
        "<!-- Generated by `incident postmortem`; re-running it rewrites everything outside the narrative markers. -->",
        "",
        f"- **Severity:** Sev-{incident.severity}" + (f" ({_one_line(severity.name)})" if severity else ""),
        f"- **Status:** {incident.status}",
        f"- **Detected:** {when(incident.detected_at)}",
        f"- **Declared:** {when(incident.declared_at)} by {_one_line(incident.declared_by)}",
        f"- **Resolved:** {when(incident.resolved_at) if incident.resolved_at else 'not yet'}",
        f"- **Commander:** {_one_line(incident.commander) or '—'}",
        f"- **Postmortem:** {'published ' + when(published) if published else 'draft, not published'}",
        f"- **Public page:** {config.incident_url(str(incident.id))}",
        "",
        "## Summary",
        "",
        *narrative("summary"),
        "",
        "## Customer impact",
        "",
        f"- **Impact:** {incident.impact}",
        f"- **Affected components:** {', '.join(_one_line(name) for name in facts.components) or 'none recorded'}",
        f"- **Duration:** {_duration(incident, facts.now)}",
        "",
        *narrative("impact"),
        "",
        "## Timeline",
        "",
        *_timeline(facts, when),
        "",
        "## SLA evaluation",
        "",
    ]
    evaluation = facts.evaluation
    if evaluation is None:
        out.append(f"_Sev-{incident.severity} is no longer configured: there are no targets to measure against._")
        breaches: Sequence[TargetEvaluation] = ()
    else:
        out += ["| Target | Promised | Actual | Result |", "| --- | --- | --- | --- |"]
        for target in evaluation.targets:
            out.append(
                f"| {TARGET_LABELS[target.target]} | {_spent(target.target_seconds, target.clock)} | {_actual(target)} | {_result(target)} |"
            )
        breaches = evaluation.breaches
    out.append("")
    for target in breaches:
        out += _analysis(facts, target, when)
    out += ["## Lessons learned", "", *narrative("lessons"), ""]
    return "\n".join(out)


def _analysis(facts: Facts, target: TargetEvaluation, when: _Clock) -> list[str]:
    incident = facts.incident
    postmortem = facts.postmortem
    label = TARGET_LABELS[target.target]
    out = [
        f"## Root-cause analysis: {label} breached",
        "",
        f"Promised {_spent(target.target_seconds, target.clock)}, took {_actual(target)}: "
        f"breached by {_spent(target.breached_by_seconds, target.clock)}.",
        "",
        "### Root cause",
        "",
        _block(incident.root_cause),
        "",
        "### Contributing factors",
        "",
    ]
    out += [f"- {_one_line(factor.text)}" for factor in facts.factors] or ["_None recorded yet._"]
    out += ["", "### Why-chain", ""]
    whys = (postmortem.why_chain if postmortem else None) or []
    out += [f"{n}. Why? {_one_line(why)}" for n, why in enumerate(whys, 1)] or ["_Not recorded yet._"]
    out += [
        "",
        "### Detection gap",
        "",
        _block(postmortem.detection_gap if postmortem else None),
        "",
        "### Response gap",
        "",
        _block(postmortem.response_gap if postmortem else None),
        "",
        "### Remediation actions",
        "",
    ]
    if incident.remediation:
        out += [_block(incident.remediation), ""]
    if facts.actions:
        out += ["| # | Action | Owner | Due | Status |", "| --- | --- | --- | --- | --- |"]
        for item in facts.actions:
            status = f"done {when(item.done_at)}" if item.status == postmortems.DONE else item.status
            out.append(f"| {item.id} | {_cell(item.title)} | {_cell(item.owner)} | {item.due_on.isoformat()} | {status} |")
    else:
        out.append("_No action items yet: add them with `incident action add`._")
    out.append("")
    return out
