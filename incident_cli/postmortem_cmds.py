"""``incident action`` and ``incident postmortem``: remediation action items and the postmortem
document. The admin API has no postmortem endpoints, so these work on the database directly and
refuse --server with a one-line error."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import click
from rich.table import Table
from rich.text import Text

from incident_cli.render import console
from statuspage import validators
from statuspage.clickutil import Checked
from statuspage.postmortems import document
from statuspage.postmortems import service as postmortems

if TYPE_CHECKING:
    from incident_cli.main import State


def _state() -> State:
    from incident_cli.main import State

    return click.get_current_context().find_object(State)  # type: ignore[return-value]


@click.group(help="Remediation action items from postmortems. These work on the database directly, never through --server.")
def action() -> None:
    pass


@action.command("add", help="Add an action item to an incident's postmortem, e.g. --title 'Alert on expiry' --owner bob --due 2026-12-15.")
@click.argument("incident_id")
@click.option("--title", "-t", required=True, type=Checked(validators.title), help="What is to be done.")
@click.option("--owner", required=True, type=Checked(validators.person_name), help="Who does it.")
@click.option("--due", required=True, metavar="YYYY-MM-DD", help="By when.")
def action_add(incident_id: str, title: str, owner: str, due: str) -> None:
    state = _state()
    runtime = state.local_runtime("incident action add")
    with runtime.session() as session:
        item = postmortems.add_action(
            ctx=runtime.context(session, state.actor), incident_id=incident_id, title=title, owner=owner, due_on=due
        )
    console().print(
        Text(f"Action {item.id} for incident {item.incident_id}: ").append(Text(item.title)).append(" (").append(Text(item.owner))
        .append(f", due {item.due_on.isoformat()})")
    )


@action.command("list", help="Action items, earliest due first.")
@click.option("--open", "open_only", is_flag=True, help="Only those not done.")
@click.option("--overdue", is_flag=True, help="Only open ones whose due date has passed (in the page's time zone).")
def action_list(open_only: bool, overdue: bool) -> None:
    state = _state()
    runtime = state.local_runtime("incident action list")
    zone = ZoneInfo(runtime.settings.config.page.time_zone)
    with runtime.session() as session:
        if overdue:
            rows = postmortems.open_actions_past_due(session, runtime.clock.now().astimezone(zone))
        else:
            rows = postmortems.action_items(session=session, open_only=open_only)
    if not rows:
        click.echo("No overdue action items." if overdue else "No open action items." if open_only else "No action items.")
        return
    table = Table(show_edge=False, pad_edge=False, box=None, header_style="bold")
    for column in ("ID", "INCIDENT", "DUE", "STATUS", "OWNER", "TITLE"):
        table.add_column(column, no_wrap=column != "TITLE")
    for row in rows:
        table.add_row(str(row.id), str(row.incident_id), row.due_on.isoformat(), row.status, Text(row.owner), Text(row.title))
    console().print(table)


@action.command("done", help="Mark an action item done.")
@click.argument("action_id")
def action_done(action_id: str) -> None:
    state = _state()
    runtime = state.local_runtime("incident action done")
    with runtime.session() as session:
        item = postmortems.complete_action(ctx=runtime.context(session, state.actor), action_id=action_id)
    console().print(Text(f"Action {item.id} done: ").append(Text(item.title)))


@click.command(help="Write (or re-render) an incident's postmortem as Markdown in --out-dir, named by the declared date and "
               "the title. Text between <!-- narrative:... --> markers is kept; everything else is regenerated. "
               "--publish also shows the root cause, contributing factors and actions on the public incident page.")
@click.argument("incident_id")
@click.option("--out-dir", default="postmortems", show_default=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--publish", is_flag=True, help="Mark the postmortem published.")
def postmortem(incident_id: str, out_dir: Path, publish: bool) -> None:
    state = _state()
    runtime = state.local_runtime("incident postmortem")
    config = runtime.settings.config
    with runtime.session() as session:
        if publish:
            postmortems.publish(ctx=runtime.context(session, state.actor), incident_id=incident_id)
        facts = document.gather(session, config, incident_id, runtime.clock.now())
        path = document.write(out_dir / document.filename(facts.incident, ZoneInfo(config.page.time_zone)), facts, config)
    click.echo(str(path))
    if publish:
        click.echo(f"Postmortem published on {runtime.settings.incident_url(facts.incident.id or 0)}")
