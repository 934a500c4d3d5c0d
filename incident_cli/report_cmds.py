"""``incident report``: the monthly SLA report, from the database.

``incident report monthly --month 2026-10`` prints Markdown; ``--format html|csv|json`` for the
others, ``--out FILE`` to write a file instead. Months are calendar months in the page's time
zone. ``--post`` also queues a short summary for the Slack incidents channel (through the
outbox; ``incident watch`` delivers it, or prints it when there is no Slack token).

``incident report import-kpis FILE`` imports the service-quality KPIs the report compares with
their targets, from a CSV whose header names ``month,fcr_percent,csat,nps,abandonment_percent,
backlog_per_agent`` in any order (see :mod:`statuspage.reports.kpis`). They are kept in
``var/kpis.json`` beside the configuration, merged by month.

The report works in local or remote mode alike: through ``--server`` it is made by the status
page the server runs (its database, and the KPIs kept beside its configuration) and written
here. ``import-kpis`` stores a file beside the configuration, not in the database, so it works
where the configuration is and refuses ``--server``.
"""

from __future__ import annotations

from pathlib import Path

import click

from incident_cli.state import State, pass_state
from statuspage.clickutil import EXIT_USER_ERROR, fail
from statuspage.errors import UserError
from statuspage.reports import kpis, monthly, render
from statuspage.settings import load_settings


@click.group("report", help="Reports on SLA performance.")
def report() -> None:
    pass


@report.command("monthly", help="SLA report for one month: breaches with root cause and remediation, attainment and "
                "response times per severity, support-tier credits, escalation MTTA and the trend over 6 months.")
@click.option("--month", required=True, metavar="YYYY-MM", help="The calendar month, in the page's time zone, e.g. 2026-10.")
@click.option("--format", "fmt", type=click.Choice(render.FORMATS), default="md", show_default=True, help="md, html (self-contained), csv (one row per breach) or json.")
@click.option("--out", type=click.Path(dir_okay=False, writable=True, path_type=Path), help="Write to this file instead of standard output.")
@click.option("--post", is_flag=True, help="Also queue a short summary (missed commitments, credits owed, top causes) for the "
              "Slack incidents channel; `incident watch` delivers it, or prints it without a Slack token.")
@pass_state
def monthly_command(state: State, month: str, fmt: str, out: Path | None, post: bool) -> None:
    monthly.parse_month(month)  # refused here, before anything is opened or asked
    result = state.backend.monthly_report(month=month, fmt=fmt, post=post)
    text = result.text
    if out is None:
        click.echo(text, nl=not text.endswith("\n"))
    else:
        out.write_text(text, encoding="utf-8")
        click.echo(f"Wrote the {fmt} report for {result.month} to {out}", err=True)
    if result.slack is not None:
        click.echo(f"Queued for Slack: {result.slack.line} (to {result.slack.target})", err=True)


@report.command("import-kpis", help="Import service-quality KPIs for the monthly report from a CSV file. Its first line names "
                "the columns, in any order: month,fcr_percent,csat,nps,abandonment_percent,backlog_per_agent; then one line "
                "per month, e.g. 2026-10,78.5,4.6,42,4.1,18 (month YYYY-MM; FCR and abandonment in %, 0-100; CSAT 1-5; NPS "
                "-100 to 100; backlog per agent 0 or more). All or nothing: the first problem is reported as "
                "FILE:LINE:COLUMN: message and nothing is stored. An imported month replaces the one stored before.")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@pass_state
def import_kpis_command(state: State, file: Path) -> None:
    try:
        months = kpis.read_csv(file, str(file))
    except kpis.KpiFileError as exc:
        fail(exc.message, EXIT_USER_ERROR)  # the line as it is: FILE:LINE:COLUMN: message
        return
    if state.server is not None:
        raise UserError("incident report import-kpis stores the KPIs beside the configuration, not through --server; "
                        "run it without --server or $STATUSPAGE_URL")
    settings = load_settings(state.config_path)  # the database is not needed
    target = kpis.store_path(settings.data_dir)
    kpis.save(target, months)
    names = ", ".join(sorted(months))
    click.echo(f"Imported KPIs for {len(months)} month{'s' if len(months) != 1 else ''} ({names}) into {target}")
