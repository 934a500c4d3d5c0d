"""``incident alerts`` (what monitoring sent, and the incident each alert opened or joined) and
``incident publish`` (show an internal incident, opened from an alert or retracted, to the public).

``alerts`` works on the database directly and refuses --server with a one-line error; ``publish``
works in remote mode too."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import click
from rich.table import Table
from rich.text import Text

from incident_cli.render import STATUS_STYLE, Renderer, console
from incident_cli.state import State, pass_state

if TYPE_CHECKING:
    from statuspage.db.models import Alert, Incident

ALERT_STYLE = {"firing": "bold red", "resolved": "green"}


@click.command("publish", help="Show an internal incident (one opened from an alert, or retracted) on the status page, its feeds, "
               "the v2 API and to webhook subscribers, from now on. Recorded in the audit log.")
@click.argument("incident_id", metavar="ID")
@pass_state
def publish(state: State, incident_id: str) -> None:
    backend = state.backend
    result = backend.publish(incident_id=incident_id)
    out = console()
    out.print(Text(f"Incident {result.incident.id} is public now: ").append(Text(result.incident.title)))
    for change in result.changes:
        out.print(Text(f"  {change.name}: {change.old_status} → {change.new_status}"))
    click.echo(backend.incident_url(result.incident.id))


def alert_json(alert: Alert, incident: Incident | None) -> dict[str, Any]:
    return {
        "id": alert.id,
        "source": alert.source,
        "fingerprint": alert.fingerprint,
        "group_key": alert.group_key,
        "status": alert.status,
        "title": alert.title,
        "labels": alert.labels,
        "annotations": alert.annotations,
        "starts_at": alert.starts_at.isoformat() if alert.starts_at else None,
        "ends_at": alert.ends_at.isoformat() if alert.ends_at else None,
        "generator_url": alert.generator_url,
        "rule": alert.rule,
        "component": alert.held_component,
        "first_received_at": alert.first_received_at.isoformat(),
        "last_received_at": alert.last_received_at.isoformat(),
        "incident": None
        if incident is None
        else {"id": incident.id, "title": incident.title, "status": incident.status, "severity": incident.severity, "internal": incident.internal},
    }


@click.command("alerts", help="Alerts received from monitoring, most recent first, with the incident each opened or joined.")
@click.option("--open", "open_only", is_flag=True, help="Only alerts still firing.")
@click.option("--limit", type=click.IntRange(1, 1000), default=100, show_default=True, help="How many to show.")
@click.option("--json", "as_json", is_flag=True, help="Print them as JSON.")
@pass_state
def alerts_command(state: State, open_only: bool, limit: int, as_json: bool) -> None:
    from statuspage.alerts import service as alerts

    runtime = state.local_runtime("incident alerts")
    renderer = Renderer(runtime.settings.config.page.time_zone)
    with runtime.session() as session:
        rows = alerts.list_alerts(session=session, open_only=open_only, limit=limit)
        listed = [alert_json(alert, incident) for alert, incident in rows]
        if as_json:
            click.echo(json.dumps({"alerts": listed}, indent=2, ensure_ascii=False))
            return
        if not rows:
            click.echo("No alerts firing." if open_only else "No alerts.")
            return
        table = Table(show_edge=False, pad_edge=False, box=None, header_style="bold")
        for column in ("ID", "STATUS", "SOURCE", "TITLE", "RULE", "INCIDENT", "SINCE", "LAST SEEN"):
            table.add_column(column, no_wrap=column != "TITLE")
        for alert, incident in rows:
            table.add_row(
                str(alert.id),
                Text(alert.status, style=ALERT_STYLE.get(alert.status, "")),
                alert.source,
                Text(alert.title),
                Text(alert.rule or "-"),
                _incident_cell(incident),
                renderer.time(alert.starts_at or alert.first_received_at),
                renderer.time(alert.last_received_at),
            )
    console().print(table)


def _incident_cell(incident: Incident | None) -> Text:
    if incident is None:
        return Text("-")
    cell = Text(f"#{incident.id} sev{incident.severity} ").append(incident.status, style=STATUS_STYLE.get(incident.status, ""))
    return cell.append(" internal" if incident.internal else "")
