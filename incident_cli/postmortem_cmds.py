"""``incident rca``, ``incident action`` and ``incident postmortem``: root cause and analysis,
remediation action items and the postmortem document, in local or remote mode alike."""

from __future__ import annotations

import re
from pathlib import Path

import click
from rich.table import Table
from rich.text import Text

from incident_cli.render import console
from incident_cli.state import NAME, TEXT, TITLE, State, pass_state
from statuspage.postmortems import document


@click.command("rca", help="Publish an incident's root cause and remediation (shown on its page and on /sla), file it under a "
               "cause category, and record the postmortem analysis: contributing factors, the why-chain, detection and response gaps.")
@click.argument("incident_id")
@click.option("--root-cause", type=TEXT, help="What went wrong and why, for customers.")
@click.option("--remediation", type=TEXT, help="What is being changed so it does not happen again.")
@click.option("--category", metavar="ID", help="The cause category, an id of `causes:` in statuspage.yaml, e.g. third-party (empty text clears it).")
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
    category: str | None,
    factors: tuple[str, ...],
    whys: tuple[str, ...],
    detection_gap: str | None,
    response_gap: str | None,
) -> None:
    if factors or whys or detection_gap is not None or response_gap is not None:
        key = state.backend.record_analysis(
            incident_id=incident_id, root_cause=root_cause, remediation=remediation, category=category,
            factors=factors, whys=whys, detection_gap=detection_gap, response_gap=response_gap,
        ).id
        click.echo(f"Incident {key}: postmortem analysis recorded")
    else:
        key = state.backend.record_root_cause(incident_id=incident_id, root_cause=root_cause, remediation=remediation, category=category).id
    if category is not None:
        click.echo(f"Incident {key}: cause category " + (category.strip() or "cleared"))
    if root_cause is not None or remediation is not None:
        click.echo(f"Incident {key}: root cause and remediation published on {state.backend.incident_url(key)}")


@click.group(help="Remediation action items from postmortems.")
def action() -> None:
    pass


@action.command("add", help="Add an action item to an incident's postmortem, e.g. --title 'Alert on expiry' --owner bob --due 2026-12-15.")
@click.argument("incident_id")
@click.option("--title", "-t", required=True, type=TITLE, help="What is to be done.")
@click.option("--owner", required=True, type=NAME, help="Who does it.")
@click.option("--due", required=True, metavar="YYYY-MM-DD", help="By when.")
@pass_state
def action_add(state: State, incident_id: str, title: str, owner: str, due: str) -> None:
    item = state.backend.add_action(incident_id=incident_id, title=title, owner=owner, due=due)
    console().print(
        Text(f"Action {item.id} for incident {item.incident_id}: ").append(Text(item.title)).append(" (").append(Text(item.owner))
        .append(f", due {item.due_on.isoformat()})")
    )


@action.command("list", help="Action items, earliest due first.")
@click.option("--open", "open_only", is_flag=True, help="Only those not done.")
@click.option("--overdue", is_flag=True, help="Only open ones whose due date has passed (in the page's time zone).")
@pass_state
def action_list(state: State, open_only: bool, overdue: bool) -> None:
    rows = state.backend.list_actions(open_only=open_only, overdue=overdue)
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
    item = state.backend.complete_action(action_id=action_id)
    console().print(Text(f"Action {item.id} done: ").append(Text(item.title)))


@click.command(help="Write (or re-render) an incident's postmortem as Markdown in --out-dir, named by the declared date and "
               "the title. Text between <!-- narrative:... --> markers is kept; everything else is regenerated. "
               "--publish also shows the root cause, contributing factors and actions on the public incident page.")
@click.argument("incident_id")
@click.option("--out-dir", default="postmortems", show_default=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--publish", is_flag=True, help="Mark the postmortem published.")
@pass_state
def postmortem(state: State, incident_id: str, out_dir: Path, publish: bool) -> None:
    backend = state.backend
    rendered = backend.postmortem(incident_id=incident_id, publish=publish)
    path = write_postmortem(out_dir / rendered.filename, rendered.markdown)
    click.echo(str(path))
    if publish:
        click.echo(f"Postmortem published on {backend.incident_url(rendered.incident_id)}")


def keep_narratives(markdown: str, kept: dict[str, str]) -> str:
    """``markdown`` as rendered for a new file, with the narrative sections a person wrote in the
    file before (``kept``, by name) in place of the starting text: what
    :func:`statuspage.postmortems.document.render` gives with ``kept``, so that a document
    rendered by a server keeps the narrative of the file on this machine."""

    def section(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in kept:
            return match.group(0)
        text = kept[name].rstrip("\n")
        return f"<!-- narrative:{name} -->\n{text}\n<!-- /narrative -->"

    return document.NARRATIVE_BLOCK.sub(section, markdown)


def write_postmortem(path: Path, markdown: str) -> Path:
    """Write the document into ``path``, keeping the narrative text of the file already there;
    the old file is replaced whole (a temporary file beside it, then a rename)."""
    kept = document.narratives_of(path.read_text(encoding="utf-8")) if path.exists() else {}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(keep_narratives(markdown, kept), encoding="utf-8")
    tmp.replace(path)
    return path
