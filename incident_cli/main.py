"""``incident``: declare, update and resolve incidents from a terminal.

The commands work on the database directly (the default), or, given ``--server URL`` (or
``$STATUSPAGE_URL``) and a token, through the admin API of a running status page. Either way they
call one :class:`~incident_cli.backend.Backend`, so each command is written once and prints the
same thing.

Exit status: 0 done; 2 the request was refused (bad input, unknown id, a conflict, and in remote
mode any 4xx answer, a bad token included); 1 something needed is unavailable (the database, or in
remote mode the server: unreachable, timed out, or a 5xx answer).

This module only assembles the command group; the commands live in the ``*_cmds`` modules, and
what they share in :mod:`incident_cli.state`.
"""

from __future__ import annotations

import click

from incident_cli import component_cmds, incident_cmds, oncall_cmds, postmortem_cmds, token_cmds
from incident_cli.playbook_cmds import playbook
from incident_cli.report_cmds import report
from incident_cli.state import NAME, State
from statuspage.clickutil import OneLineErrors


@click.group(
    name="incident",
    cls=OneLineErrors,
    help="Declare, update and resolve incidents.\n\n"
    "With --server (or $STATUSPAGE_URL) and a token ($STATUSPAGE_TOKEN) the commands go through the admin API "
    "of a running status page instead of the database. Exit status: 2 when the request is refused (bad input, "
    "unknown id, a 4xx answer), 1 when the database or server cannot be reached.",
)
@click.option("--config", "config_path", envvar="STATUSPAGE_CONFIG", type=click.Path(dir_okay=False), help="Configuration file (default: $STATUSPAGE_CONFIG or ./statuspage.yaml).")
@click.option("--as", "actor_name", envvar="INCIDENT_USER", type=NAME, help="Who you are, for the timeline and the audit log (default: $INCIDENT_USER or your login).")
@click.option("--server", envvar="STATUSPAGE_URL", metavar="URL", help="Work through the admin API of this status page, e.g. https://status.example.com (default: $STATUSPAGE_URL).")
@click.option("--token", envvar="STATUSPAGE_TOKEN", help="Admin API token for --server (default: $STATUSPAGE_TOKEN; prefer the variable, options show in process lists).")
@click.version_option(package_name="statuspage")
@click.pass_context
def main(ctx: click.Context, config_path: str | None, actor_name: str | None, server: str | None, token: str | None) -> None:
    ctx.obj = State(config_path, actor_name, server, token)
    ctx.call_on_close(ctx.obj.close)


# An incident's public life.
main.add_command(incident_cmds.declare)
main.add_command(incident_cmds.update)
main.add_command(incident_cmds.resolve)
main.add_command(incident_cmds.reopen)
main.add_command(incident_cmds.list_command)
main.add_command(incident_cmds.show)
# Who has it, who is paged next.
main.add_command(oncall_cmds.ack)
main.add_command(oncall_cmds.escalate)
main.add_command(oncall_cmds.severity)
main.add_command(oncall_cmds.watch)
main.add_command(oncall_cmds.handover)
main.add_command(oncall_cmds.pause)
main.add_command(oncall_cmds.resume)
# Components and maintenance.
main.add_command(component_cmds.component)
main.add_command(component_cmds.maintenance)
# Afterwards: root cause, action items, the postmortem.
main.add_command(postmortem_cmds.rca)
main.add_command(postmortem_cmds.action)
main.add_command(postmortem_cmds.postmortem)
# Playbooks and reports.
main.add_command(token_cmds.token)
main.add_command(playbook)
main.add_command(report)
