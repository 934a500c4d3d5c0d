"""``statuspage subscribers``: the customers subscribed to the page's notifications, as operators
see them: listed and counted, exported and imported as CSV, removed on request (their personal
data erased), and shown with what was sent to them.

The CSV files are read, checked and written by :mod:`statuspage.subscribers.csv_io`, and a
subscriber's JSON comes from :mod:`statuspage.subscribers.views`. Only what a command needs is
imported when it runs, so ``statuspage --help`` stays quick.
"""

from __future__ import annotations

import json
import os
import sys
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import click

from statuspage.actors import Actor, default_actor_name
from statuspage.clickutil import EXIT_USER_ERROR
from statuspage.domain.enums import Source
from statuspage.subscribers.csv_io import EXPORT_COLUMNS as EXPORT_COLUMNS
from statuspage.subscribers.csv_io import ImportTally, export_csv, import_rows, printable, read_import

if TYPE_CHECKING:
    from sqlmodel import Session

    from statuspage.db.subscriber_models import Subscriber
    from statuspage.runtime import Runtime

# As statuspage.subscribers.service has them (a test holds the two equal); here so that --help
# needs no database layer.
STATES = ("pending", "active", "suspended", "removed")
# Rows written per transaction: each commits quickly, and 2,000 rows take a few seconds.
IMPORT_CHUNK = 500


@click.group("subscribers", help="Customers subscribed to the page's notifications (email or webhook, double opt-in).")
def subscribers() -> None:
    pass


@contextmanager
def _opened(config_path: str | None) -> Iterator[Runtime]:
    from statuspage.runtime import open_runtime

    runtime = open_runtime(config_path)
    try:
        yield runtime
    finally:
        runtime.engine.dispose()


def _actor() -> Actor:
    return Actor(default_actor_name(), Source.CLI)


def _when(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if value is not None else "-"


def _components_of(session: Session, rows: Sequence[Subscriber]) -> dict[int, list[str]]:
    """The components each subscriber that does not follow everything follows, by subscriber id."""
    from sqlmodel import col, select

    from statuspage.db.subscriber_models import SubscriberComponent

    ids = [row.id for row in rows if row.id is not None and not row.all_components]
    found: dict[int, list[str]] = defaultdict(list)
    for start in range(0, len(ids), 500):
        links = session.exec(
            select(SubscriberComponent)
            .where(col(SubscriberComponent.subscriber_id).in_(ids[start : start + 500]))
            .order_by(col(SubscriberComponent.subscriber_id), col(SubscriberComponent.component_id))
        ).all()
        for link in links:
            found[link.subscriber_id].append(link.component_id)
    return found


def _address(subscriber: Subscriber) -> str:
    if subscriber.state == "removed":
        return "-"
    if subscriber.webhook_url:
        return f"{subscriber.webhook_url} (contact {subscriber.email})"
    return subscriber.email or "-"


def _followed(subscriber: Subscriber, components: Sequence[str]) -> str:
    if subscriber.state == "removed":
        return "-"
    return "all" if subscriber.all_components else ",".join(components)


# Listing and counting ------------------------------------------------------------------------


@subscribers.command(
    "list",
    help="One line per subscriber: id, kind, state, address (a webhook's URL with its contact address), the "
    "components followed (all, or their ids), when created and confirmed (UTC), and bounces (permanent failures "
    "in a row). Removed subscribers are left out unless asked for with --state removed; they have no address left.",
)
@click.option("--state", type=click.Choice(STATES), help="Only subscribers in this state (default: all but removed).")
@click.option("--component", metavar="ID", help="Only subscribers following this component (those following everything too).")
@click.option("--json", "as_json", is_flag=True, help="As JSON: {subscribers: [...]}, each as the admin API shows a subscriber.")
@click.pass_obj
def list_command(config_path: str | None, state: str | None, component: str | None, as_json: bool) -> None:
    from statuspage.subscribers import queries, service

    with _opened(config_path) as runtime, runtime.session() as session:
        if component is not None:
            component = service.clean_components(session, [component], field="component")[0]
        states = [state] if state else [s for s in STATES if s != service.REMOVED]
        rows = queries.list_subscribers(session, states=states, component=component)
        components = _components_of(session, rows)
    if as_json:
        from statuspage.subscribers.views import subscriber_json

        data = {"subscribers": [subscriber_json(row, components.get(row.id or 0, [])) for row in rows]}
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
        return
    if not rows:
        click.echo("No subscribers.")
        return
    table = [("ID", "KIND", "STATE", "ADDRESS", "COMPONENTS", "CREATED (UTC)", "CONFIRMED (UTC)", "BOUNCES")]
    for row in rows:
        table.append(
            (
                str(row.id),
                row.kind,
                row.state,
                printable(_address(row)),
                _followed(row, components.get(row.id or 0, [])),
                _when(row.created_at),
                _when(row.confirmed_at),
                str(row.bounces),
            )
        )
    widths = [max(len(line[i]) for line in table) for i in range(len(table[0]) - 1)]
    for line in table:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(line[:-1], widths, strict=True)) + "  " + line[-1])


@subscribers.command(
    "count",
    help="Subscribers by state and by kind, and the active ones per component (those following everything "
    "count for every component).",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="As JSON: {by_state: {pending, active, suspended, removed}, by_kind: {email, webhook} (not removed), "
    "everything: active subscribers following every component, components: {ID: active subscribers following it}}.",
)
@click.pass_obj
def count_command(config_path: str | None, as_json: bool) -> None:
    from statuspage.subscribers import queries

    with _opened(config_path) as runtime, runtime.session() as session:
        counts = queries.counts(session)
    if as_json:
        click.echo(json.dumps(counts, indent=2, ensure_ascii=False))
        return
    click.echo("Subscribers: " + ", ".join(f"{n} {state}" for state, n in counts["by_state"].items()))
    click.echo("Not removed: " + ", ".join(f"{n} {kind}" for kind, n in counts["by_kind"].items()))
    click.echo(f"Active, per component ({counts['everything']} following everything):")
    width = max((len(component) for component in counts["components"]), default=0)
    for component, n in counts["components"].items():
        click.echo(f"  {component.ljust(width)}  {n}")


# Export and import -------------------------------------------------------------------------


@subscribers.command(
    "export",
    help="Write the subscribers (all but removed ones) as CSV to FILE, or to standard output (- or nothing): "
    "email, components (ids separated by ;, empty for everything), state, kind, webhook_url, created_at and "
    "confirmed_at (UTC, ISO 8601). A cell a spreadsheet would run as a formula starts with an apostrophe, which "
    "`statuspage subscribers import` takes off. The file holds personal data: a new FILE is readable by its owner only.",
)
@click.argument("target", metavar="[FILE|-]", default="-", type=click.Path(dir_okay=False, allow_dash=True))
@click.pass_obj
def export_command(config_path: str | None, target: str) -> None:
    from statuspage.subscribers import queries

    with _opened(config_path) as runtime, runtime.session() as session:
        rows = queries.list_subscribers(session)
        components = _components_of(session, rows)
    text = export_csv(rows, components)
    what = f"{len(rows)} subscriber{'s' if len(rows) != 1 else ''}"
    if target == "-":
        click.echo(text, nl=False)
        return
    # Personal data: a new file is readable by its owner only.
    with open(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", encoding="utf-8", newline="") as file:
        file.write(text)
    click.echo(f"Exported {what} to {target}.", err=True)


@subscribers.command(
    "import",
    help="Subscribe the addresses of a CSV file (FILE.csv, or - for standard input) whose header names an email "
    "column and, optionally, components (ids separated by ;, empty for everything), confirmed (true or false) and "
    "webhook_url (the row is then a webhook, its email the address told of failures). An export imports as it is: "
    "its state column stands for confirmed (active and suspended rows are). The whole file is checked first: each "
    "problem is one line, FILE:LINE: field: what is wrong, and then nothing is imported (exit 2). Unconfirmed rows "
    "are pending and are sent a confirmation email (at most per_address per throttle_window, as for the form); "
    "confirmed ones are active at once. An address already active keeps what it follows and is sent nothing.",
)
@click.argument("source", metavar="FILE.csv", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option("--confirmed", "all_confirmed", is_flag=True, help="Every row was confirmed elsewhere: active at once, no email sent.")
@click.pass_context
def import_command(ctx: click.Context, source: str, all_confirmed: bool) -> None:
    from sqlmodel import col, select

    from statuspage.context import write
    from statuspage.db.models import Component

    name = "stdin" if source == "-" else source
    with click.open_file(source, "rb") as file:
        data: bytes = file.read()
    tally = ImportTally()
    with _opened(ctx.obj) as runtime, runtime.session() as session:
        allow_private = runtime.settings.allow_private_webhooks
        known = set(session.exec(select(Component.id).where(col(Component.archived).is_(False))).all())
        rows, problems = read_import(name, data, components=known, allow_private=allow_private, all_confirmed=all_confirmed)
        if problems:
            for problem in problems:
                click.echo(problem, err=True)
            sys.exit(EXIT_USER_ERROR)
        session.rollback()  # the check's read transaction ends here
        write_ctx = runtime.context(session, _actor())
        for start in range(0, len(rows), IMPORT_CHUNK):
            chunk = rows[start : start + IMPORT_CHUNK]
            try:
                done = write(import_rows)(ctx=write_ctx, rows=chunk, allow_private=allow_private)
            except Exception:
                if tally.rows:
                    click.echo(f"{name}: rows up to line {rows[start - 1].line} were imported; from line {chunk[0].line} on, none", err=True)
                raise
            tally.add(done)
            session.expunge_all()
    emails = "confirmation email" if tally.mailed == 1 else "confirmation emails"
    click.echo(
        f"Imported {tally.rows} subscriber{'s' if tally.rows != 1 else ''} ({tally.confirmed} confirmed, "
        f"{tally.mailed} {emails} queued, {tally.existing} already subscribed)"
    )
    if tally.held_back:
        click.echo(
            f"{tally.held_back} pending without a new email: the address was sent as many confirmation emails as "
            "it may get within the throttle window (subscriptions: per_address)"
        )


# Removing and showing ------------------------------------------------------------------------


@subscribers.command(
    "remove",
    help="Remove every subscription of EMAIL (by email, and the webhooks it is the contact address of): the "
    "address, webhook URLs and links are erased, and what was still to be sent to them is dropped; only anonymous "
    "counts remain. An address with no subscription is an error (exit 2).",
)
@click.argument("email")
@click.pass_obj
def remove_command(config_path: str | None, email: str) -> None:
    from statuspage.subscribers import service

    with _opened(config_path) as runtime, runtime.session() as session:
        removed = service.remove(ctx=runtime.context(session, _actor()), email=email)
    what = "subscription" if removed == 1 else "subscriptions"
    click.echo(f"Removed {removed} {what}: the address, webhook URLs and links are erased; only anonymous counts remain.")


@subscribers.command(
    "show",
    help="A subscriber, by id, or every subscription of an email address, with its delivery log: what was sent "
    "to it, is waiting or went dead, newest first (time in UTC, event, state, attempts, last error).",
)
@click.argument("who", metavar="ID_OR_EMAIL")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 1000), help="Deliveries to show per subscriber.")
@click.pass_obj
def show_command(config_path: str | None, who: str, limit: int) -> None:
    from statuspage import ids
    from statuspage.errors import NotFound
    from statuspage.subscribers import queries, service

    lines: list[str] = []
    with _opened(config_path) as runtime, runtime.session() as session:
        if "@" in who:
            rows = queries.find(session, who)
            if not rows:
                raise NotFound(f"no subscriber with the address {service.clean_email(who)}", field="email")
        else:
            rows = [queries.get(session, ids.parse_id(who, what="subscriber"))]
        components = _components_of(session, rows)
        for row in rows:
            assert row.id is not None
            if lines:
                lines.append("")
            lines += _described(row, components.get(row.id, []))
            log = queries.delivery_log(session, row.id, limit=limit)
            if not log:
                lines.append("No deliveries.")
                continue
            table = [("TIME (UTC)", "EVENT", "STATE", "ATTEMPTS", "LAST ERROR")]
            for message in log:
                attempts = f"{message.attempts}" + (f" (+{message.waits} waits)" if message.waits else "")
                table.append((_when(message.created_at), message.event, message.state, attempts, printable(message.last_error or "")))
            widths = [max(len(line[i]) for line in table) for i in range(4)]
            lines.append("Deliveries, newest first:")
            for entry in table:
                lines.append(("  " + "  ".join(c.ljust(w) for c, w in zip(entry[:4], widths, strict=True)) + "  " + entry[4]).rstrip())
    for line in lines:
        click.echo(line)


def _described(row: Subscriber, components: Sequence[str]) -> list[str]:
    lines = [f"Subscriber {row.id}: {row.kind}, {row.state}"]
    if row.state == "removed":
        lines.append(f"  removed:     {_when(row.removed_at)} (address erased; {row.delivered_count} delivered, {row.failed_count} failed)")
    elif row.webhook_url:
        lines += [f"  webhook:     {printable(row.webhook_url)}", f"  contact:     {printable(row.email or '-')}"]
    else:
        lines.append(f"  address:     {printable(row.email or '-')}")
    lines += [
        f"  components:  {_followed(row, components)}",
        f"  source:      {row.source}",
        f"  created:     {_when(row.created_at)} UTC",
        f"  confirmed:   {_when(row.confirmed_at)}" + (" UTC" if row.confirmed_at else ""),
        f"  bounces:     {row.bounces}",
    ]
    if row.last_failure:
        lines.append(f"  last failure: {_when(row.last_failure_at)} UTC: {printable(row.last_failure)}")
    if row.suspended_at is not None and row.state == "suspended":
        lines.append(f"  suspended:   {_when(row.suspended_at)} UTC")
    return lines
