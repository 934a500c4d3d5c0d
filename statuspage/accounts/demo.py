"""The demo organisation's customer accounts (``statuspage/demo_accounts.csv``) and its
service-quality KPIs for the last three complete months, with their owners, so that the monthly
report shows money owed and a KPI trend. Written through the services, like real imports.

The accounts' fees follow the pricing of ``support_tiers``: seats times a price per seat within
the tier's range (Standard $49-99, Premium $199-499); Basic support is included, so its fee is 0.
"""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

from statuspage.accounts import service
from statuspage.context import WriteContext
from statuspage.domain.months import month_label, shift_month
from statuspage.reports import kpis

ACCOUNTS_FILE = Path(__file__).resolve().parent.parent / "demo_accounts.csv"

# Oldest month first: a slide from on target to two playbook triggers in the latest month.
KPI_MONTHS: tuple[dict[str, float], ...] = (
    {"fcr_percent": 81.5, "csat": 4.6, "nps": 44, "abandonment_percent": 4.2, "backlog_per_agent": 19,
     "aht_minutes": 7.4, "reopen_percent": 3.8},
    {"fcr_percent": 76.0, "csat": 4.5, "nps": 38, "abandonment_percent": 5.6, "backlog_per_agent": 23,
     "aht_minutes": 8.3, "reopen_percent": 4.9},
    {"fcr_percent": 73.5, "csat": 4.4, "nps": 35, "abandonment_percent": 6.4, "backlog_per_agent": 27,
     "aht_minutes": 8.9, "reopen_percent": 5.6},
)
KPI_OWNERS = {
    "fcr_percent": "Ben Okafor",
    "csat": "Ben Okafor",
    "nps": "Elena Petrova",
    "abandonment_percent": "Ben Okafor",
    "backlog_per_agent": "Dana Kowalski",
    "aht_minutes": "Ben Okafor",
    "reopen_percent": "Chen Wei",
}


def seed(ctx: WriteContext) -> str:
    """Import the demo accounts and KPIs; what was added, for the seeding's summary line."""
    done = service.import_accounts(ctx=ctx, name=ACCOUNTS_FILE.name, data=ACCOUNTS_FILE.read_bytes())
    local = ctx.now().astimezone(ZoneInfo(ctx.config.page.time_zone))
    count = len(KPI_MONTHS)
    labels = [month_label(*shift_month(local.year, local.month, back - count)) for back in range(count)]
    months = {label: kpis.KpiMonth(label, values, KPI_OWNERS) for label, values in zip(labels, KPI_MONTHS, strict=True)}
    kpis.import_months(ctx=ctx, months=months, source="demo")
    return f"{done.rows} customer accounts and KPIs for {labels[0]} to {labels[-1]}"
