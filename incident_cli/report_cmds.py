"""``incident report``: the monthly SLA report, from the database.

``incident report monthly --month 2026-10`` prints Markdown; ``--format html|csv|json`` for the
others, ``--out FILE`` to write a file instead. Months are calendar months in the page's time
zone. The report reads the database directly, so it refuses ``--server``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from statuspage.reports import monthly


@click.group("report", help="Reports on SLA performance.")
def report() -> None:
    pass


@report.command("monthly", help="SLA report for one month: breaches with root cause and remediation, attainment and "
                "response times per severity, support-tier credits, escalation MTTA and the trend over 6 months.")
@click.option("--month", required=True, metavar="YYYY-MM", help="The calendar month, in the page's time zone, e.g. 2026-10.")
@click.option("--format", "fmt", type=click.Choice(monthly.FORMATS), default="md", show_default=True, help="md, html (self-contained), csv (one row per breach) or json.")
@click.option("--out", type=click.Path(dir_okay=False, writable=True, path_type=Path), help="Write to this file instead of standard output.")
@click.pass_obj
def monthly_command(state: Any, month: str, fmt: str, out: Path | None) -> None:
    year, number = monthly.parse_month(month)
    runtime = state.local_runtime("incident report")
    config = runtime.settings.config
    with runtime.session() as session:
        result = monthly.monthly_report(session, config, year, number, runtime.clock.now())
    text = monthly.RENDERERS[fmt](result)
    if out is None:
        click.echo(text, nl=not text.endswith("\n"))
        return
    out.write_text(text, encoding="utf-8")
    click.echo(f"Wrote the {fmt} report for {result.month} to {out}", err=True)
