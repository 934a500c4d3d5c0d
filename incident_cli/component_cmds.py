"""``incident component`` and ``incident maintenance``: components' own status, and maintenance
windows, in local or remote mode alike."""

from __future__ import annotations

import click

from incident_cli.render import console
from incident_cli.state import TEXT, TITLE, State, parse_components, pass_state


@click.group("component", help="Components and their status.")
def component() -> None:
    pass


@component.command("list", help="Components and their current status.")
@pass_state
def component_list(state: State) -> None:
    rows = state.backend.list_components()
    renderer = state.renderer
    out = console()
    for row in rows:
        out.print(f"{row.id:<16} ", end="", markup=False)
        out.print(renderer.status(row.status), end="")
        out.print(f"  {row.name}", markup=False)


@component.command("set", help="Set a component's own status, outside any incident.")
@click.argument("component_id")
@click.argument("status", type=click.Choice(["operational", "degraded_performance", "partial_outage", "major_outage", "under_maintenance"]))
@pass_state
def component_set(state: State, component_id: str, status: str) -> None:
    changes = state.backend.set_component_status(component_id=component_id, status=status)
    if changes:
        for change in changes:
            click.echo(f"{change.code}: {change.old_status} → {change.new_status}")
    else:
        click.echo(f"{component_id}: status unchanged (open incidents or maintenance decide what it shows)")


@click.group("maintenance", help="Scheduled maintenance.")
def maintenance() -> None:
    pass


@maintenance.command("schedule", help="Announce a maintenance window.")
@click.option("--title", "-t", required=True, type=TITLE)
@click.option("--component", "-c", "components", multiple=True, required=True, metavar="ID")
@click.option("--start", required=True, help="ISO time, e.g. 2026-12-01T06:00 (page time zone unless an offset is given).")
@click.option("--end", required=True, help="ISO time.")
@click.option("--message", "-m", type=TEXT)
@pass_state
def maintenance_schedule(state: State, title: str, components: tuple[str, ...], start: str, end: str, message: str | None) -> None:
    scheduled_for = state.when(start, "start")
    scheduled_until = state.when(end, "end")
    assert scheduled_for is not None and scheduled_until is not None
    row = state.backend.schedule_maintenance(
        title=title,
        components=list(parse_components(components)),
        scheduled_for=scheduled_for,
        scheduled_until=scheduled_until,
        message=message,
    )
    renderer = state.renderer
    click.echo(f"Scheduled maintenance {row.id}: {renderer.time(row.scheduled_for)} – {renderer.time(row.scheduled_until)}")


@maintenance.command("status", help="Move a maintenance to in_progress, verifying or completed.")
@click.argument("maintenance_id")
@click.argument("status", type=click.Choice(["in_progress", "verifying", "completed"]))
@click.option("--message", "-m", type=TEXT)
@pass_state
def maintenance_status(state: State, maintenance_id: str, status: str, message: str | None) -> None:
    result = state.backend.set_maintenance_status(maintenance_id=maintenance_id, status=status, message=message)
    click.echo(f"Maintenance {result.maintenance_id} is now {result.status.replace('_', ' ')}")
