"""``incident declare``, ``update``, ``resolve``, ``reopen``, ``plan``, ``list`` and ``show``: an
incident's public life and its resolution plan, in local or remote mode alike."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

from incident_cli.paging import say_paging, say_warnings
from incident_cli.render import console
from incident_cli.state import NAME, TEXT, TITLE, State, parse_components, pass_state
from statuspage.domain.enums import INCIDENT_IMPACTS
from statuspage.errors import InvalidInput

if TYPE_CHECKING:
    from incident_cli.backend import JSON, ComponentChange


@click.command("declare", help="Declare an incident: it is on the status page at once.")
@click.option("--severity", "-s", required=True, help="1-4 (also sev1, P1).")
@click.option("--title", "-t", required=True, type=TITLE, help="What customers see, e.g. 'Checkout failing'.")
@click.option("--component", "-c", "components", multiple=True, required=True, metavar="ID[=STATUS]", help="An affected component; repeat for more. STATUS defaults to what the severity implies.")
@click.option("--message", "-m", type=TEXT, help="The first public update (default: a standard 'investigating' text).")
@click.option("--commander", type=NAME, help="Incident commander (default: you).")
@click.option("--detected-at", help="When the problem began: '12m ago' or 2026-11-25T03:02 (default: now).")
@click.option("--impact", type=click.Choice([i.value for i in INCIDENT_IMPACTS]), help="Override the impact the severity implies.")
@click.option("--playbook", metavar="NAME", help="Run this playbook instead of the one chosen for the severity (see: incident playbook validate).")
@click.option("--page-me", is_flag=True, help="Page me too if the playbook pages my tier (by default whoever declares is the commander and is not paged for it).")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation (a Sev-1 declared on a terminal asks first).")
@click.option("--json", "as_json", is_flag=True, help="Print the incident as Statuspage v2 JSON.")
@pass_state
def declare(state: State, severity: str, title: str, components: tuple[str, ...], message: str | None, commander: str | None, detected_at: str | None, impact: str | None, playbook: str | None, page_me: bool, yes: bool, as_json: bool) -> None:
    if not yes and always_pages(severity):
        confirm_declaration(title, components)
    backend = state.backend
    declared = backend.declare(
        severity=severity,
        title=title,
        components=parse_components(components),
        message=message,
        commander=commander,
        detected_at=state.when(detected_at, "detected-at"),
        impact=impact,
        playbook=playbook,
        page_me=page_me,
    )
    say_warnings(declared.warnings)
    incident = declared.incident
    if as_json:
        print_json(backend.incident_json(incident.id))
    else:
        out = console()
        out.print(f"Declared incident {incident.id} (sev{incident.severity}, impact {incident.impact}): ", end="")
        out.print(incident.title, markup=False)
        out.print(backend.incident_url(incident.id), markup=False)
    # On stderr: stdout stays the two lines (or the JSON) scripts read.
    say_paging(state, incident.id, declared.paging, err=True, declaring=True)


class NotDeclared(click.ClickException):
    """The declaration was not confirmed: nothing was sent or written (exit status 1)."""

    exit_code = 1


def confirm_declaration(title: str, components: tuple[str, ...]) -> None:
    """On a terminal, ask before a Sev-1 is declared: before anything is read, sent or written.
    Scripts (stdin or stdout not a terminal) are never asked."""
    import sys

    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        return
    affected = ", ".join(parse_components(components))
    try:
        confirmed = click.confirm(f"Declare a public Sev-1 {json.dumps(title, ensure_ascii=False)} affecting {affected}?", default=False)
    except click.Abort:
        confirmed = False
    if not confirmed:
        raise NotDeclared("not declared")


def always_pages(severity: str) -> bool:
    """Whether ``severity`` as typed (``1``, ``sev1``, ``P1``) is Sev-1, the severity that always
    pages (see :data:`statuspage.oncall.engine.ALWAYS_PAGED`)."""
    return severity.strip().lower().removeprefix("sev").removeprefix("p").strip() == "1"


@click.command("update", help="Post an update to the public timeline; optionally change status or components.")
@click.argument("incident_id")
@click.option("--status", type=click.Choice(["investigating", "identified", "monitoring", "resolved"]), help="New incident status.")
@click.option("--message", "-m", type=TEXT, help="What customers read (required unless --status is given).")
@click.option("--component", "-c", "components", multiple=True, metavar="ID[=STATUS]", help="Mark a component; repeat for more.")
@click.option("--at", "at", help="When it happened, if not now: '5m ago' or an ISO time.")
@pass_state
def update(state: State, incident_id: str, status: str | None, message: str | None, components: tuple[str, ...], at: str | None) -> None:
    if not (status or message or components):
        raise InvalidInput("give --message, --status or --component")
    result = state.backend.post_update(
        incident_id=incident_id,
        message=message,
        status=status,
        components=parse_components(components),
        at=state.when(at, "at"),
    )
    say_update(state, result.incident_id, result.status, result.affected_components)


@click.command("resolve", help="Resolve an incident; its components return to normal unless another incident holds them.")
@click.argument("incident_id")
@click.option("--message", "-m", type=TEXT, help="The closing update (default: 'This incident has been resolved.').")
@click.option("--at", "at", help="When it was resolved, if not now.")
@pass_state
def resolve(state: State, incident_id: str, message: str | None, at: str | None) -> None:
    result = state.backend.resolve(incident_id=incident_id, message=message, at=state.when(at, "at"))
    say_update(state, result.incident_id, result.status, result.affected_components)


@click.command("reopen", help="Reopen a resolved incident.")
@click.argument("incident_id")
@click.option("--message", "-m", type=TEXT, help="Why it is open again.")
@click.option("--status", default="investigating", show_default=True, type=click.Choice(["investigating", "identified", "monitoring"]))
@pass_state
def reopen(state: State, incident_id: str, message: str | None, status: str) -> None:
    result = state.backend.reopen(incident_id=incident_id, message=message, status=status)
    say_update(state, result.incident_id, result.status, result.affected_components)


@click.command("plan", help="Record the plan to resolve an open incident (how, and by when); a Sev-1 promises one within 24 hours "
               "unless it is resolved first. Posted to the incident's Slack thread; recording it again revises the text.")
@click.argument("incident_id")
@click.option("--message", "-m", required=True, type=TEXT, help="The plan, e.g. 'Fail over to the standby by 18:00, then rebuild the primary.'")
@pass_state
def plan(state: State, incident_id: str, message: str) -> None:
    incident = state.backend.record_plan(incident_id=incident_id, plan=message)
    first = state.renderer.time(incident.resolution_plan_at)
    click.echo(f"Incident {incident.id}: resolution plan recorded (first plan at {first})")


@click.command("list", help="List incidents, newest first.")
@click.option("--open", "open_only", is_flag=True, help="Only incidents not yet resolved.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 1000))
@click.option("--json", "as_json", is_flag=True, help="Statuspage v2 JSON.")
@pass_state
def list_command(state: State, open_only: bool, limit: int, as_json: bool) -> None:
    backend = state.backend
    if as_json:
        click.echo(json.dumps({"incidents": backend.incidents_json(open_only=open_only, limit=limit)}, indent=2, ensure_ascii=False))
        return
    rows = backend.list_incidents(open_only=open_only, limit=limit)
    if not rows:
        click.echo("No open incidents." if open_only else "No incidents.")
        return
    console().print(state.renderer.incident_list(rows))


@click.command("show", help="Show an incident: facts, affected components and the full timeline.")
@click.argument("incident_id")
@click.option("--json", "as_json", is_flag=True, help="Statuspage v2 JSON.")
@pass_state
def show(state: State, incident_id: str, as_json: bool) -> None:
    backend = state.backend
    if as_json:
        print_json(backend.incident_json(incident_id))
        return
    detail = backend.incident_detail(incident_id)
    console().print(state.renderer.incident(detail, url=backend.incident_url(detail.incident.id), now=backend.now()))


def say_update(state: State, incident_id: int, status: str, changes: tuple[ComponentChange, ...]) -> None:
    out = console()
    out.print(f"Incident {incident_id} is {status}.", markup=False)
    for change in changes:
        out.print(f"  {change.name}: {change.old_status} → {change.new_status}", markup=False)
    out.print(state.backend.incident_url(incident_id), markup=False)


def print_json(data: JSON) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))
