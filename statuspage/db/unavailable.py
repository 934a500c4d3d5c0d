"""Telling a database that went away from a statement that was wrong, and how long to wait.

A restart, a failover, a cut connection or a locked SQLite file is worth waiting out; a wrong
statement is a bug. The workers (timers, the outbox) use this to wait out an outage while a claim
they hold lasts, instead of giving the work up.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TypeVar

from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError

# While the database is unreachable, a worker holding an outcome it could not record tries again
# after these waits (doubling up to the last), for as long as its claim lasts.
RECORD_RETRY_FIRST = 0.2
RECORD_RETRY_MAX = 5.0


def database_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` says the database went away (a restart, a failover, a cut connection, a
    locked SQLite file) rather than that a statement was wrong: worth waiting out, not a bug."""
    if isinstance(exc, OperationalError | InterfaceError | DisconnectionError):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


T = TypeVar("T")
log = logging.getLogger(__name__)


def while_claim_lasts(
    attempt: Callable[[], T],
    *,
    claim_ends: datetime | None,
    now: Callable[[], datetime],
    stop: Callable[[], bool] | None,
    what: str,
) -> T:
    """``attempt()``, again whenever it fails because the database went away, while the caller's
    claim on the work lasts (until ``claim_ends``; for ever when None) and it is not told to
    ``stop``. The transaction rolled back whole, and the work is still the caller's: done again as
    soon as the database is back instead of after the claim runs out. Past the claim, or when told
    to stop, or on any other error, the error goes up (the next claim takes the work)."""
    wait = RECORD_RETRY_FIRST
    while True:
        try:
            return attempt()
        except Exception as exc:
            out_of_time = claim_ends is not None and now() + timedelta(seconds=wait) >= claim_ends
            if not database_unavailable(exc) or out_of_time or (stop is not None and stop()):
                raise
            log.warning("%s: the database is unavailable; trying again in %gs", what, wait)
        threading.Event().wait(wait)
        wait = min(wait * 2, RECORD_RETRY_MAX)
