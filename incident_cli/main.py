"""``incident``: declare, update and resolve incidents from a terminal."""

from __future__ import annotations

import json
from collections.abc import Sequence

import click
from sqlmodel import col, select

from incident_cli.render import Renderer, console
from statuspage.clickutil import OneLineErrors
from statuspage.components import service as components_service
from statuspage.context import Actor
from statuspage.db.models import AuditEvent
from statuspage.domain.enums import Source
from statuspage.errors import InvalidInput
from statuspage.incidents import service as incidents
from statuspage.maintenance import service as maintenance_service
from statuspage.runtime import Runtime, default_actor_name, open_runtime, parse_when
from statuspage.web.v2 import V2Builder


class State:
    def __init__(self, config_path: str | None, actor_name: str | None) -> None:
        self.config_path = config_path
        self.actor = Actor(actor_name or default_actor_name(), Source.CLI)
        self._runtime: Runtime | None = None

    @property
    def runtime(self) -> Runtime:
        if self._runtime is None:
            self._runtime = open_runtime(self.config_path)
        return self._runtime

    def close(self) -> None:
        if self._runtime is not None:
            self._runtime.engine.dispose()

    @property
    def renderer(self) -> Renderer:
        return Renderer(self.runtime.settings.config.page.time_zone)


pass_state = click.make_pass_decorator(State)


def parse_components(values: Sequence[str]) -> dict[str, str | None]:
    """``api`` or ``api=partial_outage``, possibly comma-separated."""
    result: dict[str, str | None] = {}
    for value in values:
        for part in filter(None, (p.strip() for p in value.split(","))):
            name, _, status = part.partition("=")
            result[name.strip()] = status.strip() or None
    return result


@click.group(name="incident", cls=OneLineErrors, help="Declare, update and resolve incidents.")
@click.option("--config", "config_path", envvar="STATUSPAGE_CONFIG", type=click.Path(dir_okay=False), help="Configuration file (default: $STATUSPAGE_CONFIG or ./statuspage.yaml).")
@click.option("--as", "actor_name", envvar="INCIDENT_USER", help="Who you are, for the timeline and the audit log (default: $INCIDENT_USER or your login).")
@click.version_option(package_name="statuspage")
@click.pass_context
def main(ctx: click.Context, config_path: str | None, actor_name: str | None) -> None:
    ctx.obj = State(config_path, actor_name)
    ctx.call_on_close(ctx.obj.close)


@main.command(help="Declare an incident: it is on the status page at once.")
@click.option("--severity", "-s", required=True, help="1-4 (also sev1, P1).")
@click.option("--title", "-t", required=True, help="What customers see, e.g. 'Checkout failing'.")
@click.option("--component", "-c", "components", multiple=True, required=True, metavar="ID[=STATUS]", help="An affected component; repeat for more. STATUS defaults to what the severity implies.")
@click.option("--message", "-m", help="The first public update (default: a standard 'investigating' text).")
@click.option("--commander", help="Incident commander (default: you).")
@click.option("--detected-at", help="When the problem began: '12m ago' or 2026-11-25T03:02 (default: now).")
@click.option("--impact", type=click.Choice(["none", "minor", "major", "critical"]), help="Override the impact the severity implies.")
@click.option("--json", "as_json", is_flag=True, help="Print the incident as Statuspage v2 JSON.")
@pass_state
def declare(state: State, severity: str, title: str, components: tuple[str, ...], message: str | None, commander: str | None, detected_at: str | None, impact: str | None, as_json: bool) -> None:
    runtime = state.runtime
    with runtime.session() as session:
        ctx = runtime.context(session, state.actor)
        detected = parse_when(detected_at, now=runtime.clock.now(), zone=runtime.settings.config.page.time_zone, field="detected-at") if detected_at else None
        incident = incidents.declare(
            ctx=ctx,
            severity=severity,
            title=title,
            components=parse_components(components),
            message=message,
            commander=commander,
            detected_at=detected,
            impact=impact,
        )
        if as_json:
            _print_json(session, runtime, incident.id or 0)
            return
        url = runtime.settings.incident_url(incident.id or 0)
        out = console()
        out.print(f"Declared incident {incident.id} (sev{incident.severity}, impact {incident.impact}): ", end="")
        out.print(incident.title, markup=False)
        out.print(url, markup=False)


@main.command(help="Post an update to the public timeline; optionally change status or components.")
@click.argument("incident_id")
@click.option("--status", type=click.Choice(["investigating", "identified", "monitoring", "resolved"]), help="New incident status.")
@click.option("--message", "-m", help="What customers read (required unless --status is given).")
@click.option("--component", "-c", "components", multiple=True, metavar="ID[=STATUS]", help="Mark a component; repeat for more.")
@click.option("--at", "at", help="When it happened, if not now: '5m ago' or an ISO time.")
@pass_state
def update(state: State, incident_id: str, status: str | None, message: str | None, components: tuple[str, ...], at: str | None) -> None:
    if not (status or message or components):
        raise InvalidInput("give --message, --status or --component")
    runtime = state.runtime
    with runtime.session() as session:
        when = parse_when(at, now=runtime.clock.now(), zone=runtime.settings.config.page.time_zone, field="at") if at else None
        result = incidents.post_update(
            ctx=runtime.context(session, state.actor),
            incident_id=incident_id,
            message=message,
            status=status,
            components=parse_components(components),
            at=when,
        )
        _say_update(state, result.incident_id, result.status, result.affected_components)


@main.command(help="Resolve an incident; its components return to normal unless another incident holds them.")
@click.argument("incident_id")
@click.option("--message", "-m", help="The closing update (default: 'This incident has been resolved.').")
@click.option("--at", "at", help="When it was resolved, if not now.")
@pass_state
def resolve(state: State, incident_id: str, message: str | None, at: str | None) -> None:
    runtime = state.runtime
    with runtime.session() as session:
        when = parse_when(at, now=runtime.clock.now(), zone=runtime.settings.config.page.time_zone, field="at") if at else None
        result = incidents.resolve(ctx=runtime.context(session, state.actor), incident_id=incident_id, message=message, at=when)
        _say_update(state, result.incident_id, result.status, result.affected_components)


@main.command(help="Reopen a resolved incident.")
@click.argument("incident_id")
@click.option("--message", "-m", help="Why it is open again.")
@click.option("--status", default="investigating", show_default=True, type=click.Choice(["investigating", "identified", "monitoring"]))
@pass_state
def reopen(state: State, incident_id: str, message: str | None, status: str) -> None:
    runtime = state.runtime
    with runtime.session() as session:
        result = incidents.reopen(ctx=runtime.context(session, state.actor), incident_id=incident_id, message=message, status=status)
        _say_update(state, result.incident_id, result.status, result.affected_components)


@main.command(help="Acknowledge an incident: you have it.")
@click.argument("incident_id")
@pass_state
def ack(state: State, incident_id: str) -> None:
    runtime = state.runtime
    with runtime.session() as session:
        incident, changed = incidents.acknowledge(ctx=runtime.context(session, state.actor), incident_id=incident_id, by=state.actor.name)
        when = state.renderer.time(incident.acknowledged_at)
        if changed:
            click.echo(f"Incident {incident.id} acknowledged by {incident.acknowledged_by} at {when}")
        else:
            click.echo(f"Incident {incident.id} was already acknowledged by {incident.acknowledged_by} at {when}")


@main.command(help="Hand over command of an incident.")
@click.argument("incident_id")
@click.option("--to", "to", required=True, help="The new incident commander.")
@pass_state
def handover(state: State, incident_id: str, to: str) -> None:
    runtime = state.runtime
    with runtime.session() as session:
        incident = incidents.hand_over(ctx=runtime.context(session, state.actor), incident_id=incident_id, to=to)
        click.echo(f"Incident {incident.id} is now commanded by {incident.commander}")


@main.command("list", help="List incidents, newest first.")
@click.option("--open", "open_only", is_flag=True, help="Only incidents not yet resolved.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 1000))
@click.option("--json", "as_json", is_flag=True, help="Statuspage v2 JSON.")
@pass_state
def list_command(state: State, open_only: bool, limit: int, as_json: bool) -> None:
    runtime = state.runtime
    with runtime.session() as session:
        rows = incidents.list_incidents(session=session, open_only=open_only, limit=limit)
        if as_json:
            builder = V2Builder(session, runtime.settings)
            click.echo(json.dumps({"incidents": builder.incidents_json(rows)}, indent=2, ensure_ascii=False))
            return
        if not rows:
            click.echo("No open incidents." if open_only else "No incidents.")
            return
        console().print(state.renderer.incident_list(rows))


@main.command(help="Show an incident: facts, affected components and the full timeline.")
@click.argument("incident_id")
@click.option("--json", "as_json", is_flag=True, help="Statuspage v2 JSON.")
@pass_state
def show(state: State, incident_id: str, as_json: bool) -> None:
    runtime = state.runtime
    with runtime.session() as session:
        incident = incidents.get(session=session, incident_id=incident_id)
        if as_json:
            _print_json(session, runtime, incident.id or 0)
            return
        events = session.exec(
            select(AuditEvent)
            .where(AuditEvent.subject_type == "incident", AuditEvent.subject_id == str(incident.id))
            .order_by(col(AuditEvent.at), col(AuditEvent.id))
        ).all()
        console().print(
            state.renderer.incident(
                incident,
                url=runtime.settings.incident_url(incident.id or 0),
                updates=incidents.timeline(session=session, incident_id=incident.id or 0),
                components=incidents.affected_components(session=session, incident_id=incident.id or 0),
                events=events,
                now=runtime.clock.now(),
            )
        )


@main.group(help="Components and their status.")
def component() -> None:
    pass


@component.command("list", help="Components and their current status.")
@pass_state
def component_list(state: State) -> None:
    runtime = state.runtime
    with runtime.session() as session:
        out = console()
        for row in components_service.list_components(session=session):
            out.print(f"{row.id:<16} ", end="", markup=False)
            out.print(state.renderer.status(row.status), end="")
            out.print(f"  {row.name}", markup=False)


@component.command("set", help="Set a component's own status, outside any incident.")
@click.argument("component_id")
@click.argument("status", type=click.Choice(["operational", "degraded_performance", "partial_outage", "major_outage", "under_maintenance"]))
@pass_state
def component_set(state: State, component_id: str, status: str) -> None:
    runtime = state.runtime
    with runtime.session() as session:
        changes = components_service.set_status(ctx=runtime.context(session, state.actor), component_id=component_id, status=status)
        if changes:
            for change in changes:
                click.echo(f"{change['code']}: {change['old_status']} → {change['new_status']}")
        else:
            click.echo(f"{component_id}: status unchanged (open incidents or maintenance decide what it shows)")


@main.group(help="Scheduled maintenance.")
def maintenance() -> None:
    pass


@maintenance.command("schedule", help="Announce a maintenance window.")
@click.option("--title", "-t", required=True)
@click.option("--component", "-c", "components", multiple=True, required=True, metavar="ID")
@click.option("--start", required=True, help="ISO time, e.g. 2026-12-01T06:00 (page time zone unless an offset is given).")
@click.option("--end", required=True, help="ISO time.")
@click.option("--message", "-m")
@pass_state
def maintenance_schedule(state: State, title: str, components: tuple[str, ...], start: str, end: str, message: str | None) -> None:
    runtime = state.runtime
    zone = runtime.settings.config.page.time_zone
    now = runtime.clock.now()
    with runtime.session() as session:
        row = maintenance_service.schedule(
            ctx=runtime.context(session, state.actor),
            title=title,
            components=list(parse_components(components)),
            scheduled_for=parse_when(start, now=now, zone=zone, field="start"),
            scheduled_until=parse_when(end, now=now, zone=zone, field="end"),
            message=message,
        )
        click.echo(f"Scheduled maintenance {row.id}: {state.renderer.time(row.scheduled_for)} – {state.renderer.time(row.scheduled_until)}")


@maintenance.command("status", help="Move a maintenance to in_progress, verifying or completed.")
@click.argument("maintenance_id")
@click.argument("status", type=click.Choice(["in_progress", "verifying", "completed"]))
@click.option("--message", "-m")
@pass_state
def maintenance_status(state: State, maintenance_id: str, status: str, message: str | None) -> None:
    runtime = state.runtime
    with runtime.session() as session:
        result = maintenance_service.set_status(ctx=runtime.context(session, state.actor), maintenance_id=maintenance_id, status=status, message=message)
        click.echo(f"Maintenance {result.maintenance_id} is now {result.status.replace('_', ' ')}")


def _say_update(state: State, incident_id: int, status: str, changes: list[dict[str, str]] | None) -> None:
    out = console()
    out.print(f"Incident {incident_id} is {status}.", markup=False)
    for change in changes or []:
        out.print(f"  {change['name']}: {change['old_status']} → {change['new_status']}", markup=False)
    out.print(state.runtime.settings.incident_url(incident_id), markup=False)


def _print_json(session: object, runtime: Runtime, incident_id: int) -> None:
    from sqlmodel import Session

    assert isinstance(session, Session)
    builder = V2Builder(session, runtime.settings)
    incident = incidents.get(session=session, incident_id=incident_id)
    (data,) = builder.incidents_json([incident])
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))
