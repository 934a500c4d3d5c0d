"""``incident rca``, ``incident action`` and ``incident postmortem``: root cause and analysis,
remediation action items and the postmortem document. The admin API has no postmortem endpoints,
so these work on the database directly and refuse --server with a one-line error; only ``rca``'s
root cause and remediation also go through the admin API."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

import click
from rich.table import Table
from rich.text import Text

from incident_cli.render import console
from incident_cli.state import NAME, TEXT, TITLE, State, pass_state
from statuspage.errors import UserError
from statuspage.postmortems import document
from statuspage.postmortems import service as postmortems


@click.command("rca", help="Publish an incident's root cause and remediation (shown on its page and on /sla), and record the "
               "postmortem analysis: contributing factors, the why-chain, detection and response gaps.")
@click.argument("incident_id")
@click.option("--root-cause", type=TEXT, help="What went wrong and why, for customers.")
@click.option("--remediation", type=TEXT, help="What is being changed so it does not happen again.")
@click.option("--factor", "factors", multiple=True, type=TEXT, help="A contributing factor; repeat for several. Adds to those recorded.")
@click.option("--why", "whys", multiple=True, type=TEXT, help="One answer of the why-chain, most immediate first; repeat in order. Replaces the chain.")
@click.option("--detection-gap", type=TEXT, help="What detection missed or how late it was (empty text clears it).")
@click.option("--response-gap", type=TEXT, help="What the response missed or how late it was (empty text clears it).")
@pass_state
def rca(
    state: State,
    incident_id: str,
    root_cause: str | None,
    remediation: str | None,
    factors: tuple[str, ...],
    whys: tuple[str, ...],
    detection_gap: str | None,
    response_gap: str | None,
) -> None:
    if factors or whys or detection_gap is not None or response_gap is not None:
        if state.server is not None:
            raise UserError("--factor, --why, --detection-gap and --response-gap work on the database directly: "
                            "the admin API has no postmortem endpoints; run without --server or $STATUSPAGE_URL")
        runtime = state.runtime
        with runtime.session() as session:
            row = postmortems.record_analysis(
                ctx=runtime.context(session, state.actor), incident_id=incident_id, root_cause=root_cause, remediation=remediation,
                factors=factors, whys=whys, detection_gap=detection_gap, response_gap=response_gap,
            )
        key = row.id or 0
        click.echo(f"Incident {key}: postmortem analysis recorded")
        if root_cause is None and remediation is None:
            return
    else:
        key = state.backend.record_root_cause(incident_id=incident_id, root_cause=root_cause, remediation=remediation).id
    click.echo(f"Incident {key}: root cause and remediation published on {state.backend.incident_url(key)}")


@click.group(help="Remediation action items from postmortems. These work on the database directly, never through --server.")
def action() -> None:
    pass


@action.command("add", help="Add an action item to an incident's postmortem, e.g. --title 'Alert on expiry' --owner bob --due 2026-12-15.")
@click.argument("incident_id")
@click.option("--title", "-t", required=True, type=TITLE, help="What is to be done.")
@click.option("--owner", required=True, type=NAME, help="Who does it.")
@click.option("--due", required=True, metavar="YYYY-MM-DD", help="By when.")
@pass_state
def action_add(state: State, incident_id: str, title: str, owner: str, due: str) -> None:
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
@pass_state
def action_list(state: State, open_only: bool, overdue: bool) -> None:
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
@pass_state
def action_done(state: State, action_id: str) -> None:
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
@pass_state
def postmortem(state: State, incident_id: str, out_dir: Path, publish: bool) -> None:
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
