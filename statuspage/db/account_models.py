"""The tables of customer accounts (for SLA credits in money, see :mod:`statuspage.accounts`) and of
the service-quality KPIs imported each month (see :mod:`statuspage.reports.kpis`), in the same
metadata as every other table (:mod:`statuspage.db.models` imports this module)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import JSON, Index, Numeric
from sqlmodel import Field, SQLModel

from statuspage.db.types import UTCDateTime

# Fees up to 9,999,999,999.99 a month, kept exactly.
FEE_DIGITS = 12


class Account(SQLModel, table=True):
    """A customer account: its support tier (an id of ``support_tiers`` in the configuration),
    seats, total monthly fee and the components it uses (ids; empty: every component).

    Accounts are imported (``incident report import-accounts``), matched by name without regard
    to case; ``imported_at`` is when the row was last written.
    """

    __tablename__ = "account"
    __table_args__ = (Index("ix_account_name", "name", unique=True),)

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    tier: str = Field(max_length=64)
    seats: int
    monthly_fee: Decimal = Field(sa_type=Numeric(FEE_DIGITS, 2))
    components: list[str] = Field(default_factory=list, sa_type=JSON)
    imported_at: datetime = Field(sa_type=UTCDateTime)


class KpiValue(SQLModel, table=True):
    """One month's figure for one KPI (``metric``: a key of ``statuspage.reports.kpis.TARGETS``),
    with who owns it when it misses its target."""

    __tablename__ = "kpi_month"
    __table_args__ = (Index("ix_kpi_month_month_metric", "month", "metric", unique=True),)

    id: int | None = Field(default=None, primary_key=True)
    month: str = Field(max_length=7)  # YYYY-MM
    metric: str = Field(max_length=32)
    value: float
    owner: str | None = Field(default=None, max_length=80)
    imported_at: datetime = Field(sa_type=UTCDateTime)
