"""``incident edit`` (correct a title or a published update's text) and ``incident retract``
(withdraw an incident declared by mistake from the public), in local or remote mode alike.
``incident publish`` shows a retracted incident again."""

from __future__ import annotations

import functools

import click
from rich.text import Text

from incident_cli.render import console
from incident_cli.state import TEXT, TITLE, State, pass_state
from statuspage import validators
from statuspage.clickutil import Checked
from statuspage.errors import InvalidInput

REASON = Checked(functools.partial(validators.free_text, limit=validators.MAX_REASON, required=True))


@click.command(
    "edit",
    help="Correct an incident's title, or the text of one of its published updates. "
    "--title TEXT sets the title; --update N --message TEXT replaces the text of update N, numbered as in "
    "the timeline of `incident show` (1 is the first update, the declaration's). The page shows the update "
    "as edited; the text before and after is kept in the audit log.",
)
@click.argument("incident_id", metavar="ID")
@click.option("--title", "-t", type=TITLE, help="The corrected title.")
@click.option("--update", "number", type=click.IntRange(min=1), metavar="N", help="The update to correct: 1 is the first, as `incident show` numbers them.")
@click.option("--message", "-m", type=TEXT, help="The corrected text of update N.")
@pass_state
def edit(state: State, incident_id: str, title: str | None, number: int | None, message: str | None) -> None:
    if title is not None and (number is not None or message is not None):
        raise InvalidInput("give --title, or --update N with --message, not both")
    backend = state.backend
    out = console()
    if title is not None:
        incident = backend.edit_title(incident_id=incident_id, title=title)
        out.print(Text(f"Incident {incident.id} is now titled: ").append(Text(incident.title)))
        out.print(backend.incident_url(incident.id), markup=False)
        return
    if number is None or message is None:
        raise InvalidInput("give --title TEXT, or --update N with --message TEXT")
    update = backend.edit_update(incident_id=incident_id, number=number, message=message)
    out.print(f"Incident {update.incident_id}: update {number} corrected; the page shows it as edited.", markup=False)
    out.print(backend.incident_url(update.incident_id), markup=False)


@click.command(
    "retract",
    help="Withdraw an incident declared by mistake from the status page, its feeds, the v2 API and webhooks. "
    "It is kept, internal, with its timeline and audit trail; its components return to their own status unless "
    "another incident holds them. It stays open (and paging) until resolved: resolve a false alarm too. "
    "`incident publish ID` shows it again.",
)
@click.argument("incident_id", metavar="ID")
@click.option("--reason", "-r", required=True, type=REASON, help="Why, for the audit log, e.g. 'declared for the wrong component'.")
@pass_state
def retract(state: State, incident_id: str, reason: str) -> None:
    backend = state.backend
    result = backend.retract(incident_id=incident_id, reason=reason)
    out = console()
    out.print(Text(f"Incident {result.incident.id} is retracted, off the status page now: ").append(Text(result.incident.title)))
    for change in result.changes:
        out.print(Text(f"  {change.name}: {change.old_status} → {change.new_status}"))
    if result.incident.resolved_at is None:
        click.echo(f"It is still open: resolve it if it was a false alarm (incident resolve {result.incident.id}).")
