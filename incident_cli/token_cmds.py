"""``incident token``: admin API tokens. They are made where the data is, so these work on the
database directly and refuse --server with a one-line error."""

from __future__ import annotations

import click
from rich.table import Table
from rich.text import Text

from incident_cli.render import Renderer, console
from incident_cli.state import State, pass_state
from statuspage.tokens import service as tokens


@click.group("token", help="Admin API tokens. These work on the database directly, never through --server.")
def token() -> None:
    pass


@token.command("create", help="Make a token. The secret is printed once, alone on standard output, and cannot be shown again.")
@click.option("--name", required=True, help="What the token is for, e.g. ci or grafana; audit events name it.")
@click.option("--scope", required=True, type=click.Choice(tokens.SCOPES), help="read: GET only; write: also change incidents, components and maintenance; alerts: only post alerts from monitoring to /api/integrations/.")
@pass_state
def token_create(state: State, name: str, scope: str) -> None:
    runtime = state.local_runtime("incident token create")
    with runtime.session() as session:
        row, secret = tokens.create_token(ctx=runtime.context(session, state.actor), name=name, scope=scope)
    err = console(stderr=True)
    err.print(Text(f"Created {row.scope} token ").append(Text(row.name)).append(f" ({row.prefix}…):"))
    # Alone on stdout, so that TOKEN=$(incident token create ...) captures exactly the secret.
    click.echo(secret)
    err.print("Store it now: it will not be shown again, and only its hash is kept.", markup=False)


@token.command("list", help="Tokens, oldest first (never their secrets).")
@pass_state
def token_list(state: State) -> None:
    runtime = state.local_runtime("incident token list")
    with runtime.session() as session:
        rows = tokens.list_tokens(session=session)
    if not rows:
        click.echo("No tokens.")
        return
    renderer = Renderer(runtime.settings.config.page.time_zone)
    table = Table(show_edge=False, pad_edge=False, box=None, header_style="bold")
    for column in ("NAME", "SCOPE", "PREFIX", "CREATED", "BY", "LAST USED", "REVOKED"):
        table.add_column(column, no_wrap=True)
    for row in rows:
        table.add_row(
            Text(row.name),
            row.scope,
            Text(row.prefix),
            renderer.time(row.created_at),
            Text(row.created_by),
            renderer.time(row.last_used_at),
            renderer.time(row.revoked_at) if row.revoked_at else "",
        )
    console().print(table)


@token.command("revoke", help="Refuse a token from now on. Its name stays taken, for the audit log.")
@click.argument("name")
@pass_state
def token_revoke(state: State, name: str) -> None:
    runtime = state.local_runtime("incident token revoke")
    with runtime.session() as session:
        row = tokens.revoke_token(ctx=runtime.context(session, state.actor), name=name)
    console().print(Text("Revoked token ").append(Text(row.name)).append(": requests with it are refused from now on."))
