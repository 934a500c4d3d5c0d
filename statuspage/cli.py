"""``statuspage``: serve the site and manage its database and configuration."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

from statuspage.clickutil import OneLineErrors
from statuspage.context import Actor
from statuspage.db import migrate
from statuspage.domain.enums import Source
from statuspage.runtime import Runtime, describe_url, ensure_ready, open_runtime
from statuspage.settings import load_settings

CONFIG_HELP = "Configuration file (default: $STATUSPAGE_CONFIG or ./statuspage.yaml)."


@click.group(name="statuspage", cls=OneLineErrors, help="Serve the status page and manage its database.")
@click.option("--config", "config_path", envvar="STATUSPAGE_CONFIG", type=click.Path(dir_okay=False), help=CONFIG_HELP)
@click.pass_context
def main(ctx: click.Context, config_path: str | None) -> None:
    ctx.obj = config_path


@main.command(help="Serve the status page with uvicorn.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64))
@click.option("--log-level", default="info", show_default=True, type=click.Choice(["critical", "error", "warning", "info", "debug"]))
@click.pass_obj
def serve(config_path: str | None, host: str, port: int, workers: int, log_level: str) -> None:
    import uvicorn

    runtime = open_runtime(config_path)
    # Workers are separate processes: they find the configuration through the environment.
    os.environ["STATUSPAGE_CONFIG"] = str(runtime.settings.config_path)
    runtime.engine.dispose()
    click.echo(f"Serving {runtime.settings.config.page.name} status on http://{host}:{port}", err=True)
    uvicorn.run(
        "statuspage.web.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        proxy_headers=True,
        server_header=False,
    )


@main.group(help="Database schema and data.")
def db() -> None:
    pass


@db.command(help="Create or migrate the schema to the latest version, then sync components from the configuration.")
@click.pass_obj
def upgrade(config_path: str | None) -> None:
    runtime = open_runtime(config_path, check_schema=False)
    before = migrate.current_revision(runtime.engine)
    migrate.upgrade(runtime.engine)
    after = migrate.current_revision(runtime.engine)
    where = describe_url(runtime.settings.database_url)
    if before == after:
        click.echo(f"{where}: already at revision {after}")
    else:
        click.echo(f"{where}: migrated from {before or 'empty'} to {after}")
    ensure_ready(runtime)


@db.command("seed-demo", help="Load demo incidents and maintenance (only into a database without incidents).")
@click.pass_obj
def seed_demo(config_path: str | None) -> None:
    from statuspage import demo

    runtime = open_runtime(config_path)
    with runtime.session() as session:
        done = demo.seed(session=session, runtime=runtime, actor=Actor("demo", Source.SYSTEM))
    click.echo(done)


@main.group(help="Configuration file.")
def config() -> None:
    pass


@config.command(help="Validate the configuration file; print one line per problem (exit status 2).")
@click.pass_obj
def check(config_path: str | None) -> None:
    settings = load_settings(config_path)
    c = settings.config
    click.echo(
        f"{settings.config_path}: ok — {c.page.name}, {len(c.severities)} severities, "
        f"{len(c.components)} components in {len(c.component_groups)} groups, "
        f"{len(c.support_tiers)} support tiers, {len(c.escalation.tiers)} escalation tiers"
    )


# Webhooks and the outbox ---------------------------------------------------------------------


@contextmanager
def _opened(config_path: str | None) -> Iterator[Runtime]:
    """A runtime whose connections are closed when the command ends (a pooled PostgreSQL
    connection left to the garbage collector is a ResourceWarning in tests)."""
    runtime = open_runtime(config_path)
    try:
        yield runtime
    finally:
        runtime.engine.dispose()


@main.group(help="Webhook subscribers: every incident and maintenance change POSTed, signed, to a URL.")
def webhooks() -> None:
    pass


@webhooks.command("add", help="Subscribe URL; prints the signing secret, which is shown only this once.")
@click.argument("url")
@click.option("--description", "-d", default="", help="What the subscriber is, for the listing.")
@click.pass_obj
def webhooks_add(config_path: str | None, url: str, description: str) -> None:
    from statuspage.runtime import default_actor_name
    from statuspage.webhooks import service as webhook_service

    with _opened(config_path) as runtime, runtime.session() as session:
        ctx = runtime.context(session, Actor(default_actor_name(), Source.CLI))
        subscriber, secret = webhook_service.subscribe(ctx=ctx, url=url, description=description)
    click.echo(f"Added webhook {subscriber.id}: {subscriber.url}")
    click.echo(f"Signing secret (shown once; keep it with the receiver): {secret}")


@webhooks.command("list", help="List webhook subscribers.")
@click.pass_obj
def webhooks_list(config_path: str | None) -> None:
    from statuspage.webhooks import service as webhook_service

    with _opened(config_path) as runtime, runtime.session() as session:
        subscribers = webhook_service.list_subscribers(session=session)
    if not subscribers:
        click.echo("No webhooks.")
        return
    for s in subscribers:
        state = "active" if s.disabled_at is None else f"disabled {s.disabled_at.isoformat(timespec='seconds')}"
        description = f"  {s.description}" if s.description else ""
        click.echo(f"{s.id:>4}  {state:<8}  {s.url}{description}")


@webhooks.command("remove", help="Delete webhook ID and its secret; its undelivered messages become dead letters.")
@click.argument("subscriber_id", metavar="ID")
@click.pass_obj
def webhooks_remove(config_path: str | None, subscriber_id: str) -> None:
    from statuspage.runtime import default_actor_name
    from statuspage.webhooks import service as webhook_service

    with _opened(config_path) as runtime, runtime.session() as session:
        ctx = runtime.context(session, Actor(default_actor_name(), Source.CLI))
        removed = webhook_service.remove(ctx=ctx, subscriber_id=subscriber_id)
    click.echo(f"Removed webhook {removed.id}: {removed.url}")


@main.command("outbox", help="Outgoing messages: counts by channel and state, and the latest dead letters.")
@click.option("--dead-limit", default=20, show_default=True, type=click.IntRange(0, 1000), help="Dead letters to list.")
@click.pass_obj
def outbox_status(config_path: str | None, dead_limit: int) -> None:
    from statuspage import outbox

    with _opened(config_path) as runtime, runtime.session() as session:
        report = outbox.summary(session, dead_limit=dead_limit)
    if not report.counts:
        click.echo("The outbox is empty.")
        return
    for channel in sorted({channel for channel, _ in report.counts}):
        counts = ", ".join(f"{report.counts.get((channel, state), 0)} {state}" for state in outbox.STATES)
        click.echo(f"{channel}: {counts}")
    if report.oldest_pending is not None:
        click.echo(f"oldest pending since {report.oldest_pending.isoformat(timespec='seconds')}")
    if report.dead:
        click.echo("dead letters (newest first):")
        for m in report.dead:
            click.echo(
                f"{m.id:>6}  {m.channel}:{m.target}  {m.event}  {m.attempts} attempts  "
                f"{m.created_at.isoformat(timespec='seconds')}  {m.last_error or ''}"
            )


@main.command(help="Deliver outgoing messages (webhooks) until SIGTERM or SIGINT.")
@click.option("--once", is_flag=True, help="Deliver what is due now, then exit.")
@click.option(
    "--poll-interval",
    default=1.0,
    show_default=True,
    type=click.FloatRange(0.05, 60),
    help="Seconds between polls when idle.",
)
@click.pass_obj
def deliver(config_path: str | None, once: bool, poll_interval: float) -> None:
    import signal
    import threading

    from statuspage import outbox

    runtime = open_runtime(config_path)
    stop = threading.Event()
    previous: dict[int, Any] = {}

    def request_stop(signum: int, _frame: object) -> None:
        # Finish the message in flight, give back the rest of the batch, then exit cleanly.
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        previous[signum] = signal.signal(signum, request_stop)
    try:
        if not once:
            click.echo("Delivering outgoing messages; stop with Ctrl-C or SIGTERM.", err=True)
        totals = outbox.run_worker(
            runtime,
            stop=stop,
            once=once,
            poll_interval=poll_interval,
            on_pass=None if once else (lambda report: click.echo(str(report), err=True)),
        )
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        runtime.engine.dispose()
    click.echo(str(totals))
