"""Terminal output. Untrusted text is always passed as rich ``Text``, never as markup.

What is printed comes as the records of :mod:`incident_cli.backend`, whichever backend made them."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from statuspage.audit.actions import AuditAction
from statuspage.contact_urls import shown_contact
from statuspage.domain.durations import describe_clock_seconds, describe_seconds
from statuspage.domain.sla import TARGET_LABELS, Outcome, TargetEvaluation

if TYPE_CHECKING:
    from incident_cli.backend import IncidentDetail, IncidentSummary

STATUS_STYLE = {
    "investigating": "bold red",
    "identified": "bold yellow",
    "monitoring": "bold blue",
    "resolved": "bold green",
    "operational": "green",
    "degraded_performance": "yellow",
    "partial_outage": "dark_orange",
    "major_outage": "bold red",
    "under_maintenance": "blue",
}

AUDIT_WORDS: dict[str, str] = {
    AuditAction.INCIDENT_DECLARE: "declared the incident",
    AuditAction.INCIDENT_ACKNOWLEDGE: "acknowledged",
    AuditAction.INCIDENT_HAND_OVER: "handed over command",
    AuditAction.INCIDENT_REOPEN: "reopened",
    AuditAction.INCIDENT_RESOLVE: "resolved",
    AuditAction.INCIDENT_ROOT_CAUSE: "published the root cause",
    AuditAction.INCIDENT_PLAYBOOK: "playbook attached",
    AuditAction.INCIDENT_PAGE: "paged",
    AuditAction.INCIDENT_PAGE_SKIPPED: "not paged (declared it)",
    AuditAction.INCIDENT_EDIT_TITLE: "corrected the title",
    AuditAction.INCIDENT_EDIT_UPDATE: "corrected an update",
    AuditAction.INCIDENT_RETRACT: "retracted from the public",
    AuditAction.INCIDENT_PUBLISH: "published",
    AuditAction.INCIDENT_NOTIFY_CHANNEL: "notified channel",
    AuditAction.INCIDENT_ESCALATE: "escalated",
    AuditAction.INCIDENT_REMIND: "reminded to post an update",
    AuditAction.INCIDENT_ESCALATION_EXHAUSTED: "escalation exhausted",
    AuditAction.INCIDENT_PAGE_FAILED: "page failed",
    AuditAction.INCIDENT_PAGE_DELIVERED: "page delivery",
    AuditAction.INCIDENT_ACK_LINK: "acknowledged by link",
    AuditAction.INCIDENT_SLACK: "posted to Slack",
    AuditAction.INCIDENT_SEVERITY: "changed severity",
    AuditAction.INCIDENT_SLA_BREACH: "SLA breached",
    AuditAction.INCIDENT_SLA_PAUSE: "paused SLA clocks",
    AuditAction.INCIDENT_SLA_RESUME: "resumed SLA clocks",
    AuditAction.INCIDENT_RESOLUTION_PLAN: "recorded the resolution plan",
}


def _contact(after: dict[str, Any]) -> str:
    """A page's contact as shown: an apprise or webhook URL without its secrets."""
    return shown_contact(str(after.get("contact_kind")), str(after.get("contact")))


def audit_detail(action: str, before: dict[str, Any] | None, after: dict[str, Any] | None) -> str:
    """The one line that says what an audit event did; untrusted parts stay plain text."""
    a, b = after or {}, before or {}
    if action == AuditAction.INCIDENT_HAND_OVER:
        return f"{b.get('commander')} → {a.get('commander')}"
    if action == AuditAction.INCIDENT_PAGE:
        tier = f"tier {a['tier']}: " if a.get("tier") else ""
        return f"{tier}{a.get('owner')} ({a.get('contact_kind')} {_contact(a)})"
    if action == AuditAction.INCIDENT_PAGE_SKIPPED:
        return (f"tier {a['tier']}: " if a.get("tier") else "") + str(a.get("owner"))
    if action == AuditAction.INCIDENT_EDIT_TITLE:
        return f"{b.get('title')} → {a.get('title')}"
    if action == AuditAction.INCIDENT_EDIT_UPDATE:
        return f"update {a.get('update')}: {a.get('body')}"
    if action == AuditAction.INCIDENT_RETRACT:
        return str(a.get("reason") or "")
    if action == AuditAction.INCIDENT_NOTIFY_CHANNEL:
        return f"tier {a.get('tier')}: {a.get('channel')}"
    if action == AuditAction.INCIDENT_ESCALATE:
        return f"tier {a.get('from_tier')} → tier {a.get('to_tier')} ({a.get('reason')})"
    if action == AuditAction.INCIDENT_PLAYBOOK:
        return f"{a.get('playbook')} (sev{a.get('severity')})"
    if action == AuditAction.INCIDENT_SEVERITY:
        return f"sev{a.get('from')} → sev{a.get('to')}" + (f", playbook {a['playbook']}" if a.get("playbook") else "")
    if action == AuditAction.INCIDENT_REMIND:
        return f"{a.get('commander') or 'the commander'}: update due every {a.get('update_every')}"
    if action == AuditAction.INCIDENT_ESCALATION_EXHAUSTED:
        return "paged tiers " + ", ".join(str(t) for t in a.get("paged_tiers", [])) + "; nobody acknowledged"
    if action == AuditAction.INCIDENT_SLACK:
        return f"{a.get('channel') or 'incidents channel'}: {a.get('text')}"
    if action == AuditAction.INCIDENT_PAGE_DELIVERED:
        d = a.get("delivery") or {}
        outcome = f"sent (ref {d['ref']})" if d.get("state") == "sent" and d.get("ref") else str(d.get("state", "")).replace("_", " ")
        outcome += f": {d['error']}" if d.get("error") and d.get("state") != "sent" else ""
        return f"{a.get('owner')} ({a.get('contact_kind')} {_contact(a)}): {outcome}"
    if action == AuditAction.INCIDENT_ACK_LINK:
        return f"{a.get('owner')}, from the link in the {a.get('contact_kind')} page"
    if action == AuditAction.INCIDENT_PAGE_FAILED:
        return f"{a.get('owner')} ({a.get('contact_kind')} {_contact(a)}): {a.get('error')}"
    if action == AuditAction.INCIDENT_SLA_BREACH:
        return f"{str(a.get('target') or '').replace('_', ' ')} target {a.get('promised')} missed"
    if action == AuditAction.INCIDENT_SLA_PAUSE:
        return f"waiting on the customer: {a.get('reason')}"
    if action == AuditAction.INCIDENT_RESOLUTION_PLAN:
        return str(a.get("resolution_plan") or "")
    if action == AuditAction.INCIDENT_SLA_RESUME:
        return f"after {describe_seconds(int(a.get('paused_seconds') or 0))}"
    return ""


# Wide enough that no row of a table is ever folded.
PIPE_WIDTH = 100_000


def console(stderr: bool = False) -> Console:
    """Rich output. On a terminal it fits the window; piped to another program (grep, cut, awk)
    every row is one line, however long, and carries no trailing padding."""
    stream = sys.stderr if stderr else sys.stdout
    if stream.isatty():
        return Console(stderr=stderr, highlight=False, soft_wrap=False)
    return _PipeConsole(stderr=stderr, highlight=False, soft_wrap=False, width=PIPE_WIDTH)


class _PipeConsole(Console):
    def print(self, *objects: Any, **kwargs: Any) -> None:
        with self.capture() as captured:
            super().print(*objects, **kwargs)
        *lines, rest = captured.get().split("\n")
        # Padding is trimmed from finished lines; what a print with end="" leaves open is kept.
        text = "".join(line.rstrip() + "\n" for line in lines) + rest
        self.file.write(text)
        self.file.flush()


class Renderer:
    def __init__(self, zone: str) -> None:
        self.zone = ZoneInfo(zone)

    def time(self, value: datetime | None) -> str:
        if value is None:
            return "—"
        local = value.astimezone(self.zone)
        return f"{local:%Y-%m-%d %H:%M:%S} {local.tzname()}"

    def status(self, value: str) -> Text:
        return Text(value.replace("_", " "), style=STATUS_STYLE.get(value, ""))

    def incident_list(self, incidents: Sequence[IncidentSummary]) -> Table:
        table = Table(show_edge=False, pad_edge=False, box=None, header_style="bold")
        for column in ("ID", "SEV", "STATUS", "DECLARED", "COMMANDER", "TITLE"):
            table.add_column(column, no_wrap=column != "TITLE")
        for incident in incidents:
            status = self.status(incident.status)
            if incident.internal:
                status.append(" (internal)", style="dim")
            table.add_row(
                str(incident.id),
                f"sev{incident.severity}",
                status,
                self.time(incident.declared_at),
                Text(incident.commander or "—"),
                Text(incident.title),
            )
        return table

    def incident(self, detail: IncidentDetail, *, url: str, now: datetime) -> Group:
        incident = detail.incident
        facts = Table.grid(padding=(0, 2))
        facts.add_column(style="bold")
        facts.add_column()
        end = incident.resolved_at or now
        facts.add_row("Status", self.status(incident.status))
        if incident.internal:
            facts.add_row("Visibility", f"internal: not on the status page (show it with: incident publish {incident.id})")
        facts.add_row("Severity", f"sev{incident.severity} (impact {incident.impact})")
        facts.add_row("Commander", Text(incident.commander or "—"))
        if detail.cause_category:
            facts.add_row("Cause category", Text(detail.cause_category))
        facts.add_row("Detected", self.time(incident.detected_at))
        facts.add_row("Declared", Text(f"{self.time(incident.declared_at)} by ").append(Text(incident.declared_by)))
        ack = self.time(incident.acknowledged_at)
        facts.add_row("Acknowledged", Text(ack + (f" by {incident.acknowledged_by}" if incident.acknowledged_by else "")))
        facts.add_row("First response", self.time(incident.first_response_at))
        facts.add_row("Mitigated", self.time(incident.mitigated_at))
        facts.add_row("Resolved", self.time(incident.resolved_at))
        if incident.resolution_plan:
            since = f" (recorded {self.time(incident.resolution_plan_at)})"
            facts.add_row("Resolution plan", Text(incident.resolution_plan).append(since, style="dim"))
        duration = describe_seconds(int((end - incident.detected_at).total_seconds()))
        facts.add_row("Duration", duration + ("" if incident.resolved_at else " so far"))
        pauses = incident.sla_pauses
        if (pause := incident.open_pause) is not None:
            since = self.time(pause.start)
            facts.add_row("SLA clocks", Text(f"paused since {since}: ").append(Text(str(pause.reason or ""))))
        elif pauses:
            facts.add_row("SLA clocks", f"paused {len(pauses)} time{'s' if len(pauses) > 1 else ''}, now running")
        facts.add_row("Page", url)

        affected = Table(title="Affected components", title_justify="left", box=None, header_style="bold")
        affected.add_column("COMPONENT")
        affected.add_column("HELD AT")
        affected.add_column("NOW")
        for component in detail.components:
            affected.add_row(Text(component.name), self.status(component.held_at), self.status(component.status))

        timeline = Table(title="Timeline", title_justify="left", box=None, header_style="bold")
        timeline.add_column("TIME", no_wrap=True)
        timeline.add_column("WHAT", no_wrap=True)
        timeline.add_column("WHO")
        timeline.add_column("DETAIL")
        # Detection first: the problem began then, whoever noticed it and however late it was declared.
        rows: list[tuple[datetime, int, list[Text | str]]] = [
            (incident.detected_at, -1, [self.time(incident.detected_at), Text("detected", style="dim"), Text(""), Text("")])
        ]
        for number, update in enumerate(detail.updates, start=1):
            # Numbered as `incident edit --update N` counts them: 1 is the first update.
            body = Text(update.body)
            if update.edited_at is not None:
                body.append(f" (edited {self.time(update.edited_at)})", style="dim")
            for change in update.affected_components:
                body.append(f"\n{change.name}: {change.old_status} → {change.new_status}", style="dim")
            what = Text(f"{number}. ").append(self.status(update.status))
            rows.append((update.created_at, 1, [self.time(update.created_at), what, Text(update.author), body]))
        for event in detail.events:
            if event.action in (AuditAction.INCIDENT_UPDATE, AuditAction.INCIDENT_RESOLVE, AuditAction.INCIDENT_REOPEN):
                continue
            words = AUDIT_WORDS.get(event.action, event.action)
            what = Text(audit_detail(event.action, event.before, event.after))
            rows.append((event.at, 0, [self.time(event.at), Text(words, style="dim"), Text(event.actor), what]))
        for _, _, cells in sorted(rows, key=lambda r: (r[0], r[1])):
            timeline.add_row(*cells)

        title = Text(f"Incident {incident.id}: ", style="bold").append(Text(incident.title, style="bold"))
        parts: list[Any] = [Panel(facts, title=title, title_align="left", expand=False)]
        paging = self.paging(detail, now=now)
        if paging is not None:
            parts += [paging, Text("")]
        if detail.sla_targets:
            parts += [self.sla_targets(detail.sla_targets), Text("")]
        return Group(*parts, affected, Text(""), timeline)

    def paging(self, detail: IncidentDetail, *, now: datetime) -> Table | None:
        """Where the paging of an open incident stands: who holds command, who is being paged now
        through which contact and whether it reached them, and what falls due next."""
        incident, state = detail.incident, detail.escalation
        if incident.resolved_at is not None:
            return None
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold", no_wrap=True)
        table.add_column()
        if incident.acknowledged_by:
            held = Text(f"acknowledged by {incident.acknowledged_by}")
            if incident.commander and incident.commander != incident.acknowledged_by:
                held.append(f"; {incident.commander} is the commander (hand over with: incident handover "
                            f"{incident.id} --to {incident.acknowledged_by!r})")
            table.add_row("Command", held)
        for page in state.paging_now:
            tier = f"tier {page.tier}, " if page.tier is not None else ""
            style = "red" if page.delivery_state == "failed" else ("" if page.delivery_state == "sent" else "yellow")
            line = Text(f"{page.owner} ({tier}{page.contact_kind} {shown_contact(page.contact_kind, page.contact)}): ").append(page.delivery, style=style)
            table.add_row("Paging now", line)
        if state.next_escalation_at is not None:
            table.add_row("Next escalation", self._due(state.next_escalation_at, now))
        if state.next_update_due_at is not None:
            table.add_row("Next public update", self._due(state.next_update_due_at, now))
        return table if table.row_count else None

    def _due(self, at: datetime, now: datetime) -> str:
        seconds = int((at - now).total_seconds())
        if seconds < 0:
            return f"{self.time(at)} (overdue by {describe_seconds(-seconds)})"
        return f"{self.time(at)} (in {describe_seconds(seconds)})"

    def sla_targets(self, targets: Sequence[TargetEvaluation]) -> Table:
        """Each target with its deadline and where it stands: time left, met, or breached by how much."""
        table = Table(title="SLA targets", title_justify="left", box=None, header_style="bold")
        table.add_column("TARGET", no_wrap=True)
        table.add_column("WITHIN", no_wrap=True)
        table.add_column("DEADLINE", no_wrap=True)
        table.add_column("STATE")
        for target in targets:
            table.add_row(
                TARGET_LABELS.get(target.target, target.target),
                _seconds(target.target_seconds, target),
                self.time(target.deadline),
                _target_state(target),
            )
        return table


def _seconds(amount: int, target: TargetEvaluation) -> str:
    return describe_clock_seconds(amount, target.clock, target.working_day_seconds)


def _target_state(target: TargetEvaluation) -> Text:
    if target.outcome is Outcome.MET:
        return Text("met", style="green")
    if target.outcome is Outcome.BREACHED:
        still = "" if target.event_at is not None else " (still open)"
        return Text(f"breached by {_seconds(target.breached_by_seconds, target)}{still}", style="bold red")
    left = f"{_seconds(target.remaining_seconds or 0, target)} left"
    if target.paused:
        return Text(f"{left} (paused)", style="cyan")
    return Text(left, style="yellow")
