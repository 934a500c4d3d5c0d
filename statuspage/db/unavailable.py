"""Telling a database that went away from a statement that was wrong, and how long to wait.

A restart, a failover, a cut connection or a locked SQLite file is worth waiting out; a wrong
statement is a bug. The workers (timers, the outbox) use this to wait out an outage while a claim
they hold lasts, instead of giving the work up.
"""

from __future__ import annotations

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
