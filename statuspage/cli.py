"""``statuspage``: serve the site and manage its database and configuration."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC
from typing import Any

import click

from statuspage import server
from statuspage.clickutil import OneLineErrors
from statuspage.context import Actor
from statuspage.db import migrate
from statuspage.domain.enums import Source
from statuspage.retention import KINDS
from statuspage.runtime import Runtime, describe_url, ensure_ready, open_runtime
from statuspage.settings import load_settings
from statuspage.subscriber_cli import subscribers

CONFIG_HELP = "Configuration file (default: $STATUSPAGE_CONFIG or ./statuspage.yaml)."


@click.group(name="statuspage", cls=OneLineErrors, help="Serve the status page and manage its database.")
@click.option("--config", "config_path", envvar="STATUSPAGE_CONFIG", type=click.Path(dir_okay=False), help=CONFIG_HELP)
@click.pass_context
def main(ctx: click.Context, config_path: str | None) -> None:
    ctx.obj = config_path


@main.command(help="Serve the status page (granian by default; uvicorn with --server uvicorn).")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64), help="Worker processes: about one per core.")
@click.option("--server", "server_name", default="granian", show_default=True, type=click.Choice(server.SERVERS))
@click.option("--log-level", default="info", show_default=True, type=click.Choice(["critical", "error", "warning", "info", "debug"]))
@click.option("--access-log/--no-access-log", default=False, show_default=True, help="Log every request (the server's own logger).")
@click.option("--header-timeout", default=server.DEFAULT_HEADER_TIMEOUT, show_default=True, envvar="STATUSPAGE_HEADER_TIMEOUT",
              type=click.FloatRange(0.001, server.MAX_HEADER_TIMEOUT),
              help="Seconds a connection may take to send a complete request head, or stay idle between requests.")
@click.option("--max-connections", type=click.IntRange(1), default=None,
              help="Connections per worker (default: the open-file limit less a reserve).")
@click.pass_obj
def serve(config_path: str | None, host: str, port: int, workers: int, server_name: str, log_level: str,
          access_log: bool, header_timeout: float, max_connections: int | None) -> None:
    runtime = open_runtime(config_path)
    # Workers are separate processes: they find the configuration through the environment.
    os.environ["STATUSPAGE_CONFIG"] = str(runtime.settings.config_path)
    runtime.engine.dispose()
    click.echo(f"Serving {runtime.settings.config.page.name} status on http://{host}:{port}", err=True)
    # uvicorn handles X-Forwarded-For itself; granian serves the app behind the same handling.
    factory = "statuspage.web.proxied:create_proxied_app" if server_name == "granian" else "statuspage.web.app:create_app"
    server.run(server.ServeOptions(host=host, port=port, workers=workers, server=server_name, log_level=log_level,
                                   access_log=access_log, header_timeout=header_timeout, max_connections=max_connections,
                                   app_factory=factory))


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


class AgeParam(click.ParamType):
    name = "AGE"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from statuspage.domain.age import Age, AgeError

        try:
            return Age.parse(value)
        except AgeError as exc:
            self.fail(exc.problem, param, ctx)


@db.command("prune", help="Delete what the retention policy lets go of (retention: in the configuration), older than "
            "AGE; print what went, per kind. Incidents, their updates, maintenance and postmortems are never pruned.")
@click.option("--older-than", "older_than", required=True, type=AgeParam(), help="How old: 30d, 6w, 18mo, 7y (d, w, mo, y).")
@click.option("--kind", "kinds", multiple=True, type=click.Choice(KINDS),
              help="Only this kind (repeatable; default: all).")
@click.option("--dry-run", is_flag=True, help="Count what would be deleted; change nothing.")
@click.pass_context
def prune(ctx: click.Context, older_than: Any, kinds: tuple[str, ...], dry_run: bool) -> None:
    from statuspage.actors import default_actor_name
    from statuspage.domain.age import AgeError
    from statuspage.retention import prune as retention

    chosen = kinds or retention.KINDS
    with _opened(ctx.obj) as runtime:
        try:
            report = retention.prune(
                engine=runtime.engine,
                clock=runtime.clock,
                config=runtime.settings.config,
                wiring=runtime.wiring,
                actor=Actor(default_actor_name(), Source.CLI),
                older_than=older_than,
                kinds=chosen,
                dry_run=dry_run,
            )
        except (retention.RetentionTooShort, AgeError) as exc:
            raise click.UsageError(str(exc), ctx) from None
    verb = "Would delete" if dry_run else "Deleted"
    click.echo(f"{verb} what is older than {report.older_than} (before {report.cutoff.isoformat(timespec='seconds')}):")
    for kind in retention.KINDS:
        if kind not in report.counts:
            continue
        detail = ", ".join(f"{n} {label}" for label, n in report.counts[kind].items())
        click.echo(f"  {kind:<7} {report.total(kind):>8}  {retention.DESCRIPTIONS[kind]} ({detail})")
    click.echo(f"Never pruned: {retention.NEVER_PRUNED}.")
    if report.audit_event_id is not None:
        click.echo(f"Recorded as audit event {report.audit_event_id} (retention.pruned).")


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
    from statuspage.actors import default_actor_name
    from statuspage.webhooks import service as webhook_service

    with _opened(config_path) as runtime, runtime.session() as session:
        ctx = runtime.context(session, Actor(default_actor_name(), Source.CLI))
        subscriber, secret = webhook_service.subscribe(
            ctx=ctx,
            url=url,
            description=description,
            check_addresses=runtime.settings.config.subscriptions.check_admin_webhooks,
            allow_private=runtime.settings.allow_private_webhooks,
        )
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
    from statuspage.actors import default_actor_name
    from statuspage.webhooks import service as webhook_service

    with _opened(config_path) as runtime, runtime.session() as session:
        ctx = runtime.context(session, Actor(default_actor_name(), Source.CLI))
        removed = webhook_service.remove(ctx=ctx, subscriber_id=subscriber_id)
    click.echo(f"Removed webhook {removed.id}: {removed.url}")


main.add_command(subscribers)


@main.group(
    "outbox",
    invoke_without_command=True,
    help="Outgoing messages: counts by channel and state, and the latest dead letters. "
    "`statuspage outbox retry` sends dead letters again.",
)
@click.option("--dead-limit", default=20, show_default=True, type=click.IntRange(0, 1000), help="Dead letters to list.")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="As JSON: {counts: {CHANNEL: {pending, delivered, dead}}, oldest_pending: null or {id, delivery_id, "
    "channel, target, event, attempts, waits, created_at, next_attempt_at, last_error}, dead: [{id, delivery_id, "
    "channel, target, event, attempts, created_at, last_error}] newest first}; times in UTC.",
)
@click.pass_context
def outbox_status(ctx: click.Context, dead_limit: int, as_json: bool) -> None:
    import json

    from statuspage import outbox

    if ctx.invoked_subcommand is not None:
        return
    with _opened(ctx.obj) as runtime, runtime.session() as session:
        if as_json:
            click.echo(json.dumps(outbox.summary_json(session, dead_limit=dead_limit), indent=2, sort_keys=True, ensure_ascii=False))
            return
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


@outbox_status.command(
    "retry",
    short_help="Send dead letters again.",
    help="Send dead letters again: the messages ID..., or every dead letter with --dead. Each goes back to pending, "
    "due now, with its attempts counted from zero and the same delivery id, for the worker (statuspage deliver) to "
    "send; recorded as outbox.retry audit events. An unknown ID, or one that is not dead, changes nothing (exit 2).",
)
@click.argument("message_ids", metavar="[ID]...", nargs=-1, type=int)
@click.option("--dead", "all_dead", is_flag=True, help="Every dead letter.")
@click.pass_context
def outbox_retry(ctx: click.Context, message_ids: tuple[int, ...], all_dead: bool) -> None:
    from statuspage import outbox
    from statuspage.actors import default_actor_name

    if all_dead == bool(message_ids):
        raise click.UsageError("give the IDs of dead letters, or --dead for all of them", ctx)
    with _opened(ctx.obj) as runtime, runtime.session() as session:
        write_ctx = runtime.context(session, Actor(default_actor_name(), Source.CLI))
        queued = outbox.retry_dead(ctx=write_ctx, ids=None if all_dead else list(message_ids))
        lines = [f"{m.id:>6}  {m.channel}:{m.target}  {m.event}" for m in queued]
    if not queued:
        click.echo("No dead letters.")
        return
    for line in lines:
        click.echo(line)
    what = "dead letter" if len(queued) == 1 else "dead letters"
    click.echo(f"Queued again: {len(queued)} {what}; the worker (statuspage deliver) sends them.")


@main.command("audit", help="The audit log, newest first: every change with who made it, every admin API request "
              "of a token (action api.request: token, method, path, status, client address), and anonymous refused "
              "ones counted per client address and minute (action api.refused).")
@click.option("--since", help="Only events after this: an age (24h, 7d) or a time (2026-11-25T08:00, page time zone).")
@click.option("--actor", help="Only events whose actor contains this, e.g. token:ci or alice.")
@click.option("--action", help="Only this action (api.request, incident.declare), or a family ending in '.' (incident., api.).")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10000), help="At most this many events.")
@click.pass_obj
def audit(config_path: str | None, since: str | None, actor: str | None, action: str | None, limit: int) -> None:
    import re

    from sqlmodel import col, select

    from statuspage.db.models import AuditEvent
    from statuspage.errors import UserError
    from statuspage.typed_times import parse_when

    with _opened(config_path) as runtime, runtime.session() as session:
        statement = select(AuditEvent).order_by(col(AuditEvent.at).desc(), col(AuditEvent.id).desc()).limit(limit)
        if since:
            text = since if re.match(r"^\s*\d{4}-", since) else f"{since} ago"
            try:
                moment = parse_when(text, now=runtime.clock.now(), zone=runtime.settings.config.page.time_zone, field="since")
            except UserError:
                raise click.BadParameter(
                    f"{since!r} is not an age like 24h or 7d, or a time like 2026-11-25T08:00", param_hint="'--since'"
                ) from None
            statement = statement.where(col(AuditEvent.at) >= moment)
        if actor:
            statement = statement.where(col(AuditEvent.actor).contains(actor, autoescape=True))
        if action:
            if action.endswith("."):
                statement = statement.where(col(AuditEvent.action).startswith(action, autoescape=True))
            else:
                statement = statement.where(col(AuditEvent.action) == action)
        events = session.exec(statement).all()
    if not events:
        click.echo("No audit events.")
        return
    rows = [("TIME (UTC)", "ACTOR", "ACTION", "SUBJECT", "DETAIL")]
    for event in events:
        rows.append(
            (
                event.at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"),
                _printable(event.actor),
                event.action,
                f"{event.subject_type}:{event.subject_id}",
                _printable(_audit_detail(event.action, event.after or {}, event.before or {})),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row[:4], widths, strict=True)) + "  " + row[4])


def _audit_detail(action: str, after: dict[str, Any], before: dict[str, Any]) -> str:
    from statuspage.retention import ACCESS_ACTION, PRUNED_ACTION, REFUSED_ACTION

    if action == PRUNED_ACTION:
        counts = ", ".join(f"{kind} {n}" for kind, n in (after.get("kinds") or {}).items())
        return f"older than {after.get('older_than')} (before {after.get('cutoff')}): {counts}"
    if action == ACCESS_ACTION:
        text = f"{after.get('method')} {after.get('path')} -> {after.get('status')} from {after.get('client') or '?'}"
        if after.get("problem"):
            text += f" ({after['problem']})"
        if after.get("changes"):
            text += " changes " + ",".join(str(i) for i in after["changes"])
        return text
    if action == REFUSED_ACTION:
        # Counts of anonymous refusals: how many, from where, why, and what was asked most.
        asked = ", ".join(f"{request} x{n}" for request, n in (after.get("requests") or {}).items())
        text = f"{after.get('count')} x {after.get('status')} from {after.get('client') or '?'} in the minute {after.get('minute')}"
        if after.get("problem"):
            text += f" ({after['problem']})"
        return text + (f": {asked}" if asked else "")
    values = after or before
    text = ", ".join(f"{key}={value}" for key, value in values.items())
    return text if len(text) <= 100 else text[:99] + "…"


def _printable(text: str) -> str:
    """Names and paths come from clients: show control characters escaped, never raw."""
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)


@main.command(help="Deliver outgoing messages (webhooks) until SIGTERM or SIGINT.")
@click.option("--once", is_flag=True, help="Deliver what is due now, then exit.")
@click.option(
    "--poll-interval",
    default=1.0,
    show_default=True,
    type=click.FloatRange(0.05, 60),
    help="Seconds between polls when idle.",
)
@click.option(
    "--lease",
    default=10.0,
    show_default=True,
    type=click.FloatRange(1, 3600),
    help="Seconds a worker holds the messages it claims (renewed while it works on them); a worker that dies "
    "delays them at most this long.",
)
@click.pass_obj
def deliver(config_path: str | None, once: bool, poll_interval: float, lease: float) -> None:
    import dataclasses
    from datetime import timedelta

    from statuspage import outbox
    from statuspage.stopping import stop_on_signals
    from statuspage.subscribers.lane import running as subscribers_lane

    runtime = open_runtime(config_path)
    senders = runtime.senders()
    bulk = runtime.subscriber_senders()
    try:
        with stop_on_signals() as stop:
            if not once:
                click.echo("Delivering outgoing messages; stop with Ctrl-C or SIGTERM.", err=True)
            with subscribers_lane(runtime, senders=bulk, stop=stop, once=once, poll_interval=poll_interval,
                                  lease=timedelta(seconds=lease), say=lambda line: click.echo(line, err=True)) as lane:
                totals = outbox.run_worker(
                    runtime,
                    stop=stop,
                    once=once,
                    senders=senders,
                    poll_interval=poll_interval,
                    policy=dataclasses.replace(outbox.DEFAULT_POLICY, lease=timedelta(seconds=lease)),
                    on_pass=None if once else (lambda report: click.echo(str(report), err=True)),
                    say=lambda line: click.echo(line, err=True),
                )
            totals.add(lane.report)
    finally:
        for sender in [*senders.values(), *bulk.values()]:
            sender.close()
        runtime.engine.dispose()
    click.echo(str(totals))
