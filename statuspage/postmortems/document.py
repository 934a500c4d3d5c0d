"""The postmortem document: one Markdown file per incident, written by ``incident postmortem``.

Most of it is generated from the database (facts, the due date, customer impact as components ×
minutes, the timeline from detection, who was paged and whether it reached them, the SLA
evaluation, and one root-cause analysis with the breached targets listed in it) and re-rendered
on every run. The narrative sections are a person's to write: their text sits between
``<!-- narrative:NAME -->`` and ``<!-- /narrative -->`` and is carried over verbatim when the
file is rendered again.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session

from statuspage.audit.actions import AuditAction
from statuspage.db.models import ActionItem, AuditEvent, ContributingFactor, Incident, IncidentUpdate, Postmortem
from statuspage.domain.durations import describe_clock_seconds, describe_seconds
from statuspage.domain.sla import TARGET_LABELS, IncidentEvaluation, Outcome, TargetEvaluation
from statuspage.incidents import service as incidents
from statuspage.incidents.sla import calendar_for, measure
from statuspage.oncall.queries import PageDelivery, pages_with_delivery
from statuspage.postmortems import due as due_dates
from statuspage.postmortems import service as postmortems
from statuspage.postmortems.contacts import method_name, person_lines
from statuspage.postmortems.impact import (
    AccountsImpact,
    ComponentImpact,
    IncidentCredits,
    accounts_impact,
    component_impact,
    impact_table,
)
from statuspage.settings import Config

# The sections a person writes, in the order they appear, with the text a new file starts with.
NARRATIVES = {
    "summary": "_What happened, in a few sentences: write it here._",
    "impact": "_What customers saw and could not do: write it here._",
    "lessons": "_What went well, what went badly, where we got lucky: write it here._",
}
NARRATIVE_BLOCK = re.compile(r"^<!-- narrative:([a-z0-9_-]+) -->\n(.*?)^<!-- /narrative -->$", re.DOTALL | re.MULTILINE)
MAX_SLUG = 60
# Accounts owed a credit listed by name; the tier table counts them all.
MAX_ACCOUNTS = 20
# Audit actions already told by an incident update of their own or in the paging section (a
# page's delivery), or not part of the story.
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
    # Every page with what became of it, so that the document says who was reached.
    pages: list[PageDelivery] = field(default_factory=list)
    impact: list[ComponentImpact] = field(default_factory=list)
    accounts: AccountsImpact | None = None


def gather(
    session: Session, config: Config, incident_id: int | str, now: datetime, credits: IncidentCredits | None = None
) -> Facts:
    """Everything the document shows; ``credits``: what the incident's missed tier commitments
    cost each account that month (without it the accounts are shown, the money is not)."""
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
        impact=component_impact(session, incident, now),
        accounts=accounts_impact(session, config, incident, credits),
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


def _spent(seconds: int, target: TargetEvaluation) -> str:
    return describe_clock_seconds(seconds, target.clock, target.working_day_seconds)


def _result(target: TargetEvaluation) -> str:
    if target.outcome is Outcome.BREACHED:
        return f"breached by {_spent(target.breached_by_seconds, target)}"
    return target.outcome.value


def _actual(target: TargetEvaluation) -> str:
    paused = f" (clock paused {_spent(target.paused_seconds, target)})" if target.paused_seconds else ""
    return _spent(target.elapsed_seconds, target) + ("" if target.event_at else " so far") + paused


def _event_text(event: AuditEvent) -> str:
    after: dict[str, Any] = event.after or {}
    who = event.actor
    match event.action:
        case AuditAction.INCIDENT_DECLARE:
            return f"Declared by {who}"
        case AuditAction.INCIDENT_ACKNOWLEDGE:
            return f"Acknowledged by {after.get('acknowledged_by') or who}"
        case AuditAction.INCIDENT_ACK_LINK:
            return f"Acknowledged by {after.get('owner') or who} with the link in the {method_name(str(after.get('contact_kind', '?')))} page"
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
        case AuditAction.INCIDENT_RESOLUTION_PLAN:
            return f"Resolution plan recorded by {who}"
        case AuditAction.INCIDENT_ESCALATION_EXHAUSTED:
            return "Escalation exhausted: nobody acknowledged"
        case AuditAction.INCIDENT_PAGE_FAILED:
            answer = (after.get("delivery") or {}).get("error") or after.get("error", "")
            return f"Page to {after.get('owner', '?')} by {method_name(str(after.get('contact_kind', '?')))} failed: {answer}"
        case AuditAction.INCIDENT_REMIND:
            return "Commander reminded to post an update"
        case _:
            return f"{event.action} by {who}"


def _detected_text(incident: Incident) -> str:
    gap = int((incident.declared_at - incident.detected_at).total_seconds())
    return f"Detected ({describe_seconds(gap)} before it was declared)" if gap > 0 else "Detected"


def _paged_text(events: Sequence[AuditEvent]) -> str:
    """One row for the pages of one moment and tier: who, and by which methods (what became of
    each page is in the paging section)."""
    tier = (events[0].after or {}).get("tier")
    methods: dict[str, list[str]] = {}
    for event in events:
        after = event.after or {}
        methods.setdefault(str(after.get("owner", "?")), []).append(method_name(str(after.get("contact_kind", "?"))))
    who = ", ".join(f"{name} ({', '.join(kinds)})" for name, kinds in methods.items())
    return (f"Paged tier {tier}: " if tier is not None else "Paged ") + who


def _timeline(facts: Facts, when: _Clock) -> list[str]:
    """From detection on: the detection first, then the declaration and everything after."""
    incident = facts.incident
    rows: list[tuple[datetime, int, int, str]] = [(incident.detected_at, -1, 0, _detected_text(incident))]
    for update in facts.updates:
        rows.append((update.created_at, 0, update.id or 0, f"**{update.status}** update by {update.author}: {update.body}"))
    paging: dict[tuple[datetime, Any], list[AuditEvent]] = {}
    for event in facts.events:
        if event.action == AuditAction.INCIDENT_PAGE:
            paging.setdefault((event.at, (event.after or {}).get("tier")), []).append(event)
        else:
            rows.append((event.at, 1, event.id or 0, _event_text(event)))
    for (at, _tier), group in paging.items():
        rows.append((at, 1, group[0].id or 0, _paged_text(group)))
    rows.sort(key=lambda row: row[:3])
    lines = [f"| Time ({when.zone.key}) | Event |", "| --- | --- |"]
    lines += [f"| {when(at)} | {_cell(text)} |" for at, _kind, _id, text in rows]
    return lines


def _paging(facts: Facts, when: _Clock) -> list[str]:
    incident = facts.incident
    lines = person_lines(facts.pages, when.zone, incident.declared_at, incident.acknowledged_by, incident.acknowledged_at)
    return [f"- {_one_line(line)}" for line in lines] or ["_Nobody was paged._"]


def _due(facts: Facts, config: Config, when: _Clock) -> str:
    incident = facts.incident
    within = config.postmortems.due_within.describe()
    if incident.resolved_at is None:
        required = incident.severity in config.postmortems.severities
        return f"{within} after resolution" + ("" if required else ", if an SLA target is breached")
    due: date | None = due_dates.due_date(incident, config)
    if due is None or not due_dates.needs_postmortem(incident, config):
        return f"not required (Sev-{incident.severity}, no SLA target breached)"
    text = f"{due.isoformat()} ({within} after resolution)"
    published = facts.postmortem.published_at if facts.postmortem else None
    late = (facts.now.astimezone(when.zone).date() - due).days
    if published is None and late > 0:
        text += f", {late} day{'s' if late != 1 else ''} late"
    return text


def _impact(facts: Facts) -> list[str]:
    out = ["### Components × minutes", "", *impact_table(facts.impact, _cell), "", "### Affected accounts and credits", ""]
    found = facts.accounts
    if found is None:
        return [*out, "_No customer accounts are recorded (`incident report import-accounts`)._"]
    money = found.money
    out += ["| Tier | Accounts affected | Owed a credit | Credits owed |", "| --- | ---: | ---: | ---: |"]
    for tier in found.tiers:
        out.append(f"| {_cell(tier.name)} | {tier.affected} | {_owed(tier.owed, money)} | {_money(tier.credit, money)} |")
    out.append(f"| **All tiers** | {found.affected} | {_owed(len(found.owed), money)} | {_money(found.total, money)} |")
    if money is None:
        return [*out, "", "_Credits are worked out with the month's other incidents: see `incident report monthly`._"]
    if found.owed:
        out += ["", "| Account | Tier | Breaches | Credit |", "| --- | --- | ---: | ---: |"]
        tier_names = {tier.id: tier.name for tier in found.tiers}
        out += [
            f"| {_cell(a.name)} | {_cell(tier_names.get(a.tier, a.tier))} | {a.breaches} | {_cell(money(a.credit))} |"
            for a in found.owed[:MAX_ACCOUNTS]
        ]
        if len(found.owed) > MAX_ACCOUNTS:
            out += ["", f"_And {len(found.owed) - MAX_ACCOUNTS} more accounts._"]
    return out


def _owed(count: int, money: Callable[[Decimal], str] | None) -> str:
    return "—" if money is None else str(count)


def _money(amount: Decimal, money: Callable[[Decimal], str] | None) -> str:
    return "—" if money is None else _cell(money(amount))


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
        f"- **Cause category:** {_one_line(_category(incident, config))}",
        f"- **Postmortem:** {'published ' + when(published) if published else 'draft, not published'}",
        f"- **Postmortem due:** {_due(facts, config, when)}",
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
        *_impact(facts),
        "",
        *narrative("impact"),
        "",
        "## Timeline",
        "",
        *_timeline(facts, when),
        "",
        "## Paging",
        "",
        *_paging(facts, when),
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
                f"| {TARGET_LABELS[target.target]} | {_spent(target.target_seconds, target)} | {_actual(target)} | {_result(target)} |"
            )
        breaches = evaluation.breaches
    out.append("")
    out += _analysis(facts, breaches, config, when)
    out += ["## Lessons learned", "", *narrative("lessons"), ""]
    return "\n".join(out)


def _category(incident: Incident, config: Config) -> str:
    if not incident.root_cause_category:
        return "not categorised yet"
    return config.causes.label(incident.root_cause_category)


def _analysis(facts: Facts, breaches: Sequence[TargetEvaluation], config: Config, when: _Clock) -> list[str]:
    """The one analysis of the incident, the SLA targets it breached listed first."""
    incident = facts.incident
    postmortem = facts.postmortem
    out = ["## Root-cause analysis", "", "### Breached targets", ""]
    out += [
        f"- **{TARGET_LABELS[target.target]}:** promised {_spent(target.target_seconds, target)}, took {_actual(target)}: "
        f"breached by {_spent(target.breached_by_seconds, target)}."
        for target in breaches
    ] or ["_No SLA target was breached._"]
    out += [
        "",
        "### Root cause",
        "",
        f"**Category:** {_one_line(_category(incident, config))}",
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
