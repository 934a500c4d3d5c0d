"""``incident``: declare, update and resolve incidents from a terminal.

The commands work on the database directly (the default), or, given ``--server URL`` (or
``$STATUSPAGE_URL``) and a token, through the admin API of a running status page. Either way they
call one :class:`~incident_cli.backend.Backend`, so each command is written once and prints the
same thing.

Exit status: 0 done; 2 the request was refused (bad input, unknown id, a conflict, and in remote
mode any 4xx answer, a bad token included); 1 something needed is unavailable (the database, or in
remote mode the server: unreachable, timed out, or a 5xx answer).

This module only assembles the command group; the commands live in the ``*_cmds`` modules,
imported when they run, and what they share in :mod:`incident_cli.state`.
"""

from __future__ import annotations

import click

from statuspage import validators
from statuspage.clickutil import Checked, LazyGroup

# Each command, the module it lives in, and the line ``incident --help`` shows for it: the modules
# are imported only when their command runs, so that ``--help`` and every command start without
# loading the others (the database layer, the HTTP client, the report maths).
COMMANDS: dict[str, tuple[str, str, str]] = {
    "ack": ("incident_cli.oncall_cmds", "ack", "Acknowledge an incident: you have it."),
    "action": ("incident_cli.postmortem_cmds", "action", "Remediation action items from postmortems."),
    "alerts": ("incident_cli.alert_cmds", "alerts_command", "Alerts received from monitoring, most recent first, with the incident each opened or joined."),
    "component": ("incident_cli.component_cmds", "component", "Components and their status."),
    "declare": ("incident_cli.incident_cmds", "declare", "Declare an incident: it is on the status page at once."),
    "edit": ("incident_cli.correction_cmds", "edit", "Correct an incident's title, or the text of one of its published updates."),
    "escalate": ("incident_cli.oncall_cmds", "escalate", "Page the next tier now instead of waiting for the acknowledgement deadline (or --to-tier N)."),
    "handover": ("incident_cli.oncall_cmds", "handover", "Hand over command of an incident."),
    "list": ("incident_cli.incident_cmds", "list_command", "List incidents, newest first."),
    "maintenance": ("incident_cli.component_cmds", "maintenance", "Scheduled maintenance."),
    "pause": ("incident_cli.oncall_cmds", "pause", "Pause the incident's SLA clocks while waiting on the customer (their logs, their confirmation)."),
    "plan": ("incident_cli.incident_cmds", "plan", "Record the plan to resolve an open incident (how, and by when); a Sev-1 promises one within 24 hours unless it is resolved first."),
    "playbook": ("incident_cli.playbook_cmds", "playbook", "Check playbooks, and simulate what one would do."),
    "postmortem": ("incident_cli.postmortem_cmds", "postmortem", "Write (or re-render) an incident's postmortem as Markdown in --out-dir, named by the declared date and the title."),
    "publish": ("incident_cli.alert_cmds", "publish", "Show an internal incident (one opened from an alert, or retracted) on the status page, its feeds, the v2 API and to webhook subscribers, from now on."),
    "rca": ("incident_cli.postmortem_cmds", "rca", "Publish an incident's root cause and remediation (shown on its page and on /sla), file it under a cause category, and record the postmortem analysis: contributing factors, the why-chain, detection and response gaps."),
    "reopen": ("incident_cli.incident_cmds", "reopen", "Reopen a resolved incident."),
    "report": ("incident_cli.report_cmds", "report", "Reports on SLA performance."),
    "resolve": ("incident_cli.incident_cmds", "resolve", "Resolve an incident; its components return to normal unless another incident holds them."),
    "resume": ("incident_cli.oncall_cmds", "resume", "Start a paused incident's SLA clocks again; resolving the incident also ends the pause."),
    "retract": ("incident_cli.correction_cmds", "retract", "Withdraw an incident declared by mistake from the status page, its feeds, the v2 API and webhooks."),
    "severity": ("incident_cli.oncall_cmds", "severity", "Change an incident's severity, e.g."),
    "show": ("incident_cli.incident_cmds", "show", "Show an incident: facts, affected components and the full timeline."),
    "token": ("incident_cli.token_cmds", "token", "Admin API tokens."),
    "update": ("incident_cli.incident_cmds", "update", "Post an update to the public timeline; optionally change status or components."),
    "watch": ("incident_cli.oncall_cmds", "watch", "Fire escalation deadlines and reminders when they fall due, and deliver outgoing messages (Slack, webhooks), until SIGTERM or Ctrl-C."),
}


@click.group(
    name="incident",
    cls=LazyGroup,
    lazy=COMMANDS,
    help="Declare, update and resolve incidents.\n\n"
    "With --server (or $STATUSPAGE_URL) and a token ($STATUSPAGE_TOKEN) the commands go through the admin API "
    "of a running status page instead of the database. Exit status: 2 when the request is refused (bad input, "
    "unknown id, a 4xx answer), 1 when the database or server cannot be reached.",
)
@click.option("--config", "config_path", envvar="STATUSPAGE_CONFIG", type=click.Path(dir_okay=False), help="Configuration file (default: $STATUSPAGE_CONFIG or ./statuspage.yaml).")
@click.option("--as", "actor_name", envvar="INCIDENT_USER", type=Checked(validators.person_name), help="Who you are, for the timeline and the audit log (default: $INCIDENT_USER or your login).")
@click.option("--server", envvar="STATUSPAGE_URL", metavar="URL", help="Work through the admin API of this status page, e.g. https://status.example.com (default: $STATUSPAGE_URL).")
@click.option("--token", envvar="STATUSPAGE_TOKEN", help="Admin API token for --server (default: $STATUSPAGE_TOKEN; prefer the variable, options show in process lists).")
@click.version_option(package_name="statuspage")
@click.pass_context
def main(ctx: click.Context, config_path: str | None, actor_name: str | None, server: str | None, token: str | None) -> None:
    from incident_cli.state import State

    ctx.obj = State(config_path, actor_name, server, token)
    ctx.call_on_close(ctx.obj.close)
