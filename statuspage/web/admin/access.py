"""The access audit.

Every request to the admin API with a known token, read or write, answered or refused, is one
audit event with action ``api.request``, subject the token (``api_token``, its id; ``none`` when
no known token was sent), the actor as the service layer names it (``token:ci``, ``alice via
token:ci``, ``anonymous``) and in ``after``: method, path, status, client address, token id, name
and scope, the operation, the refusal's reason and the ids of the audit events of the change it
made. Never the secret, the body or the query string.

- A write that commits records its request in the same transaction as its change (a
  before-commit hook), linked by ``changes``: one cannot exist without the other. If that
  insert fails the write fails with it, like any other audit event of a change.
- Everything else (reads, writes that changed nothing or failed) is recorded after the
  answer is known in a small transaction of its own, which does not bump the data version (that
  would re-render every cached page on each admin GET). A failure there is logged and the
  request is answered as if it had succeeded: an audit log that cannot be written must not
  take the reading API down.
- Refusals decided before any handler ran (401, 403, 405) and 503s never wait on the database:
  they are noted in memory and written by a background thread every few seconds (see
  :mod:`statuspage.web.refusals`), each of a known token as its own event, the anonymous ones
  (no token, an unknown one) as counts per client address and minute (``api.refused``). One
  row per anonymous request would let anyone fill the audit log, and each would wait out a
  held SQLite write lock on the request path.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import inspect as sa_inspect
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from statuspage.context import WriteContext
from statuspage.db.engine import new_session
from statuspage.db.models import ApiToken, AuditEvent
from statuspage.domain.enums import Source
from statuspage.retention import ACCESS_ACTION
from statuspage.web.admin.calls import JSON, Operation, site_clock
from statuspage.web.site import Site

log = logging.getLogger(__name__)

# Outcomes decided before any handler ran (no token, a bad one, a read token on a write, a method
# the path does not have) or with the database away: recorded off the request path.
DEFERRED_STATUSES = frozenset({401, 403, 405, 503})


@dataclass
class Access:
    method: str
    path: str
    client: str | None
    operation_id: str | None
    success: int = 200
    token: ApiToken | None = None
    actor: str = "anonymous"
    problem: str | None = None
    # Written with the change, in the write's transaction (see record_with_change).
    event: AuditEvent | None = None
    changes: list[int] = field(default_factory=list)

    @classmethod
    def of(cls, request: Request, operation: Operation | None) -> Access:
        return cls(
            method=request.method,
            path=request.url.path[:1000],
            client=request.client.host if request.client else None,
            operation_id=operation.operation_id if operation else None,
            success=operation.success if operation else 200,
        )

    def audit_event(self, status: int, at: datetime) -> AuditEvent:
        token = self.token
        if token is not None and self.actor == "anonymous":
            self.actor = f"token:{token.name}"
        after: JSON = {
            "method": self.method,
            "path": self.path,
            "status": status,
            "client": self.client,
            "token_id": token.id if token else None,
            "token_name": token.name if token else None,
            "token_scope": token.scope if token else None,
            "operation": self.operation_id,
        }
        if self.problem:
            after["problem"] = self.problem
        if self.changes:
            after["changes"] = list(self.changes)
        return AuditEvent(
            at=at,
            actor=self.actor[:200],
            source=Source.API.value,
            action=ACCESS_ACTION,
            subject_type="api_token",
            subject_id=str(token.id) if token and token.id is not None else "none",
            after=after,
        )

    def committed(self) -> bool:
        """Whether the record went in with a change (a rolled-back insert leaves it transient)."""
        return self.event is not None and not sa_inspect(self.event).transient


@dataclass
class AdminWriteContext(WriteContext):
    """The service context of one admin API request; ``access`` is set on write operations."""

    access: Access | None = None


def record_with_change(ctx: WriteContext) -> None:
    """The before-commit hook that :func:`statuspage.web.app.create_app` adds to the site's wiring:
    a write's access record goes in with its change."""
    access = ctx.access if isinstance(ctx, AdminWriteContext) else None
    if access is None:
        return
    ctx.session.flush()
    access.changes.extend(event.id for event in ctx.audit_events if event.id is not None)
    if access.committed():
        # A second change in the same request: link its events too.
        assert access.event is not None
        access.event.after = {**(access.event.after or {}), "changes": list(access.changes)}
        ctx.session.add(access.event)
        return
    access.event = access.audit_event(access.success, ctx.now())
    ctx.session.add(access.event)


async def record_outcome(site: Site, access: Access, status: int) -> None:
    """Record a request's outcome: a refusal in memory (see :mod:`statuspage.web.refusals`), the
    rest on the request path, as before it is answered."""
    if access.committed():
        return
    if status in DEFERRED_STATUSES:
        note_refusal(site, access, status)
        return
    await run_in_threadpool(record_access, site, access, status)


def note_refusal(site: Site, access: Access, status: int) -> None:
    now = site_clock(site).now()
    if access.token is None:
        request = f"{access.method} {access.path}"
        site.refusals.count(client=access.client, status=status, reason=access.problem or "", request=request, at=now)
    else:
        access.event = None
        access.changes.clear()  # ids of a change that was rolled back
        site.refusals.add(access.audit_event(status, now))


def record_access(site: Site, access: Access, status: int) -> None:
    """Record a request that no committed change recorded already, in its own transaction."""
    if access.committed():
        return
    access.event = None
    access.changes.clear()  # ids of a change that was rolled back
    try:
        with new_session(site.engine) as session:
            session.add(access.audit_event(status, site_clock(site).now()))
            session.commit()
    except SQLAlchemyError as exc:
        log.warning("could not record admin API access %s %s (%s): %s", access.method, access.path, status, exc)
