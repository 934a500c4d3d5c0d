"""Who a command paged: ``declare``, ``escalate`` and ``severity`` say so after they have run, in
local and remote mode alike (the backend returns the pages the change sent, see
:class:`incident_cli.backend.Paging`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from incident_cli.state import State

if TYPE_CHECKING:
    from incident_cli.backend import Paging


def say_warnings(warnings: tuple[str, ...]) -> None:
    """The playbook files that could not be loaded: the declaration went ahead regardless (a
    Sev-1 then pages through the built-in escalation), but somebody should fix them."""
    for line in warnings:
        click.echo(f"warning: {line}", err=True)


def say_paging(state: State, incident_id: int, paging: Paging, *, err: bool = False, declaring: bool = False) -> None:
    """Who a command paged, by tier, and when the next step runs unless someone acknowledges; and
    who was not paged because they declared the incident (``declaring``: you, who just did)."""
    for name in paging.not_paged:
        if declaring:
            click.echo(f"not paging you ({name}): you declared it; --page-me to be paged", err=err)
        else:
            click.echo(f"not paging {name}: they declared the incident", err=err)
    by_tier: dict[str, list[str]] = {}
    for page in paging.pages:
        label = f"tier {page.tier}" if page.tier is not None else "by name"
        names = by_tier.setdefault(label, [])
        if page.owner not in names:
            names.append(page.owner)
    for label, names in by_tier.items():
        click.echo(f"Paged {label}: {', '.join(names)}", err=err)
    if paging.pages and paging.next_step_at is not None:
        click.echo(
            f"Unless someone acknowledges (incident ack {incident_id}), the next step runs at {state.renderer.time(paging.next_step_at)}",
            err=err,
        )
