"""``incident report``: the monthly SLA report, from the database.

``incident report monthly --month 2026-10`` prints Markdown; ``--format html|csv|json`` for the
others, ``--out FILE`` to write a file instead. Months are calendar months in the page's time
zone. ``--post`` also queues a short summary for the Slack incidents channel (through the
outbox; ``incident watch`` delivers it, or prints it when there is no Slack token).

``incident report weekly [--week 2026-W48]`` is the same report over an ISO week (by default the
last complete one), with the same formats and ``--post``; it works on the database, not through
``--server``. ``slack.weekly_report_at`` posts it every week on its own.

``incident report import-kpis FILE`` imports the service-quality KPIs the report compares with
their targets, from a CSV whose header names ``month,fcr_percent,csat,nps,abandonment_percent,
backlog_per_agent`` in any order, optionally ``aht_minutes``, ``reopen_percent`` and an owner per
KPI (``csat_owner``; see :mod:`statuspage.reports.kpis`). They are stored in the database, merged
by month; the ``var/kpis.json`` earlier versions kept imports too.

``incident report import-accounts FILE`` imports the customer accounts the report prices SLA
credits for (``name,tier,seats,monthly_fee,components``; see
:mod:`statuspage.accounts.csv_import`): every problem is printed, one line each, and nothing is
stored unless the whole file is right.

The report works in local or remote mode alike: through ``--server`` it is made by the status
page the server runs (its database) and written here. The imports write the database directly,
so they refuse ``--server``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from incident_cli.state import State, pass_state
from statuspage.clickutil import EXIT_USER_ERROR, fail
from statuspage.errors import UserError
from statuspage.reports import kpis, monthly, render


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


@report.command("weekly", help="SLA report for one ISO week (Monday to Sunday in the page's time zone): the monthly "
                "report's figures over the week, compared with the week before, with a trend over 6 weeks. Works on the "
                "database, not through --server.")
@click.option("--week", metavar="YYYY-Www", help="The ISO week, e.g. 2026-W48; by default the last complete week.")
@click.option("--format", "fmt", type=click.Choice(render.FORMATS), default="md", show_default=True, help="md, html (self-contained), csv (one row per breach) or json.")
@click.option("--out", type=click.Path(dir_okay=False, writable=True, path_type=Path), help="Write to this file instead of standard output.")
@click.option("--post", is_flag=True, help="Also queue the summary for the Slack incidents channel (slack.weekly_report_at "
              "posts it every week on its own).")
@pass_state
def weekly_command(state: State, week: str | None, fmt: str, out: Path | None, post: bool) -> None:
    from statuspage.reports import schedule, weekly

    if week:
        weekly.parse_week(week)  # refused here, before anything is opened
    result = schedule.weekly_text(state.local_runtime("incident report weekly"), week, fmt, post, state.actor)
    if out is None:
        click.echo(result.text, nl=not result.text.endswith("\n"))
    else:
        out.write_text(result.text, encoding="utf-8")
        click.echo(f"Wrote the {fmt} report for {result.label} to {out}", err=True)
    if result.slack_line is not None:
        click.echo(f"Queued for Slack: {result.slack_line} (to {result.slack_target})", err=True)


@report.command("import-kpis", help="Import service-quality KPIs for the monthly report from a CSV file into the "
                "database. Its first line names the columns, in any order: month,fcr_percent,csat,nps,abandonment_percent,"
                "backlog_per_agent, optionally aht_minutes (average handle time, minutes) and reopen_percent, and an owner "
                "column per KPI, e.g. csat_owner; then one line per month, e.g. 2026-10,78.5,4.6,42,4.1,18 (month YYYY-MM; "
                "FCR, abandonment and reopens in %, 0-100; CSAT 1-5; NPS -100 to 100; backlog per agent and handle time 0 or "
                "more). All or nothing: the first problem is reported as FILE:LINE:COLUMN: message and nothing is stored. An "
                "imported month replaces the one stored before. A var/kpis.json of earlier versions imports as it is.")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@pass_state
def import_kpis_command(state: State, file: Path) -> None:
    try:
        months = kpis.read_csv(file, str(file))
    except kpis.KpiFileError as exc:
        fail(exc.message, EXIT_USER_ERROR)  # the line as it is: FILE:LINE:COLUMN: message
        return
    runtime = state.local_runtime("incident report import-kpis")
    with runtime.session() as session:
        stored = kpis.import_months(ctx=runtime.context(session, state.actor), months=months, source=str(file))
    click.echo(f"Imported KPIs for {len(stored)} month{'s' if len(stored) != 1 else ''} ({', '.join(stored)}) into the database")


@report.command("import-accounts", help="Import customer accounts, for SLA credits in money in the monthly report, from a "
                "CSV file. Its first line names the columns, in any order: name,tier,seats,monthly_fee,components; then one "
                "line per account, e.g. Acme,premium,12,3588.00,api;web (tier: a support tier's id or name; seats: 1 or "
                "more; monthly_fee: the account's total monthly fee in billing.currency, at most 2 decimals; components: "
                "component ids separated by spaces or semicolons, empty for all). An account of the same name (any case) "
                "is replaced, others are kept. All or nothing: every problem is reported as FILE:LINE: field: problem and "
                "nothing is stored.")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@pass_state
def import_accounts_command(state: State, file: Path) -> None:
    from statuspage.accounts import service as accounts

    try:
        data = file.read_bytes()
    except OSError as exc:
        raise UserError(f"cannot read {file}: {exc.strerror or exc}") from None
    runtime = state.local_runtime("incident report import-accounts")
    with runtime.session() as session:
        try:
            done = accounts.import_accounts(ctx=runtime.context(session, state.actor), name=str(file), data=data)
        except accounts.AccountFileError as exc:
            for problem in exc.problems:
                click.echo(problem, err=True)
            sys.exit(EXIT_USER_ERROR)
    click.echo(f"Imported {done.rows} account{'s' if done.rows != 1 else ''} from {file}: {len(done.added)} added, "
               f"{len(done.updated)} updated, {done.unchanged} unchanged")
