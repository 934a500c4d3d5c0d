"""``statuspage``: serve the site and manage its database and configuration."""

from __future__ import annotations

import os

import click

from statuspage.clickutil import OneLineErrors
from statuspage.context import Actor
from statuspage.db import migrate
from statuspage.domain.enums import Source
from statuspage.runtime import describe_url, ensure_ready, open_runtime
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
