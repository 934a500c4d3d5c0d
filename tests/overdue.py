"""Incidents whose first acknowledgement deadline has already passed, for the worker tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from statuspage.clock import FixedClock
from statuspage.context import WriteContext
from statuspage.incidents import service as incidents


def declare_overdue(ctx: WriteContext, clock: FixedClock, count: int, *, ago: timedelta = timedelta(minutes=6)) -> list[int]:
    """``count`` Sev-1 incidents declared ``ago`` by the real clock: their tier-1 deadline (5m) is due."""
    clock.at = datetime.now(UTC) - ago
    ids = []
    for n in range(count):
        incident = incidents.declare(ctx=ctx, severity=1, title=f"Outage {n}", components=["api"])
        assert incident.id is not None
        ids.append(incident.id)
    return ids
