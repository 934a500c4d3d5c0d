"""Who a command paged, read from the database: ``declare``, ``escalate`` and ``severity`` say so
after they have run (local mode only: the admin API does not tell)."""

from __future__ import annotations

import click
from sqlalchemy import func
from sqlmodel import col, select

from incident_cli.state import State
from statuspage.db.models import PageSent, Timer
from statuspage.ids import parse_id
from statuspage.oncall import engine as oncall
from statuspage.oncall import timers as oncall_timers
from statuspage.runtime import Runtime


def incident_key(incident_id: str | int) -> int:
    return parse_id(str(incident_id).strip().lstrip("#"))


def last_page_id(runtime: Runtime) -> int:
    """The newest page so far, so that what a command paged can be told from what was paged before."""
    with runtime.session() as session:
        return session.exec(select(func.coalesce(func.max(PageSent.id), 0))).one() or 0


def warn_playbook_problems(runtime: Runtime) -> None:
    """Say so when a playbook is broken: the declaration goes ahead regardless (a Sev-1 then pages
    through the built-in escalation), but somebody should fix the file."""
    _loaded, problems = oncall.load_lenient(runtime.settings.config, runtime.wiring.playbooks_dir)
    for line in problems:
        click.echo(f"warning: {line}", err=True)


def say_paging(state: State, incident_id: int, after_page_id: int, *, err: bool = False) -> None:
    """Who a command paged, and when the next tier will be paged unless someone acknowledges."""
    runtime = state.runtime
    with runtime.session() as session:
        pages = session.exec(
            select(PageSent).where(PageSent.incident_id == incident_id, col(PageSent.id) > after_page_id).order_by(col(PageSent.id))
        ).all()
        deadline = session.exec(
            select(func.min(Timer.due_at)).where(
                Timer.incident_id == incident_id, Timer.state == oncall_timers.PENDING, Timer.kind == "ack_timeout"
            )
        ).one()
    by_tier: dict[str, list[str]] = {}
    for page in pages:
        label = f"tier {page.tier}" if page.tier is not None else "by name"
        names = by_tier.setdefault(label, [])
        if page.owner not in names:
            names.append(page.owner)
    for label, names in by_tier.items():
        click.echo(f"Paged {label}: {', '.join(names)}", err=err)
    if pages and deadline is not None:
        click.echo(
            f"Unless someone acknowledges (incident ack {incident_id}), the next step runs at {state.renderer.time(deadline)}",
            err=err,
        )
