"""What every state change needs, and the transaction that wraps it.

A service function decorated with :func:`write` runs in one transaction that bumps the data
version first (which also takes the write lock, so concurrent writers queue instead of failing),
then does its work and writes its audit events, then commits. If anything raises, nothing is
written. Service functions called from inside another join the outer transaction.

Just before the commit, the outermost transaction runs its *before-commit hooks* with the
context: code that must write something in the same transaction as every change, whatever the
change was, without each service function knowing about it. The webhook outbox is one: it reads
the audit events this transaction wrote (:attr:`WriteContext.audit_events`) and queues one message
per changed incident or maintenance per subscriber, so a change and its notifications commit or
roll back together. A hook that raises rolls the whole change back. The hooks come with the
context (:class:`Wiring`), put together by the composition root.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any, ParamSpec, Protocol, TypeVar

from sqlalchemy import update
from sqlmodel import Session, col

from statuspage.actors import Actor
from statuspage.audit.actions import AuditAction
from statuspage.clock import Clock
from statuspage.db.models import AuditEvent, ComponentStatusChange, SiteState, Timer
from statuspage.settings import Config, Settings

P = ParamSpec("P")
R = TypeVar("R")


@dataclass
class WriteContext:
    session: Session
    clock: Clock
    actor: Actor
    config: Config
    wiring: Wiring
    # The audit events written in the current transaction, for the before-commit hooks. Reset
    # when an outermost transaction starts and when it ends, so a context used for several
    # changes in a row only ever holds the current one's.
    audit_events: list[AuditEvent] = field(default_factory=list, repr=False)
    # The component status changes written in the current transaction (the public record of a
    # component going down or up), for the hooks that tell subscribers; reset like audit_events.
    component_changes: list[ComponentStatusChange] = field(default_factory=list, repr=False)
    # False when recording history rather than living it (the demo data, an import): nothing is
    # paged and nothing is announced to subscribers or Slack.
    announce: bool = True

    def now(self) -> datetime:
        return self.clock.now()

    def audit(
        self,
        *,
        action: AuditAction,
        subject_type: str,
        subject_id: str | int,
        at: datetime,
        before: dict[str, Any] | None = None,
        after: dict[str, Any] | None = None,
    ) -> AuditEvent:
        event = AuditEvent(
            at=at,
            actor=self.actor.name,
            source=self.actor.source.value,
            action=action,
            subject_type=subject_type,
            subject_id=str(subject_id),
            before=_jsonable(before),
            after=_jsonable(after),
        )
        self.session.add(event)
        self.audit_events.append(event)
        return event


def _jsonable(values: dict[str, Any] | None) -> dict[str, Any] | None:
    if values is None:
        return None
    return {key: value.isoformat() if isinstance(value, datetime) else value for key, value in values.items()}


BeforeCommitHook = Callable[["WriteContext"], None]


@dataclass(frozen=True)
class Wiring:
    """What every change made in a process runs besides its service function, and where it finds
    what it reads besides the database. Built once per process by the composition root
    (:class:`statuspage.runtime.Runtime`) and handed to every context, so nothing is looked up
    by name at run time.

    ``before_commit``: the hooks run, in this order, in every outermost write transaction after
    the service function returned and before the commit (the webhook and Slack outboxes, the
    admin API's access record). ``playbooks_dir``: the playbooks the on-call engine chooses from.
    """

    before_commit: tuple[BeforeCommitHook, ...]
    playbooks_dir: Path

    def with_hook(self, hook: BeforeCommitHook) -> Wiring:
        return replace(self, before_commit=(*self.before_commit, hook))


def write(fn: Callable[P, R]) -> Callable[P, R]:
    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        ctx = kwargs["ctx"]
        assert isinstance(ctx, WriteContext)
        session = ctx.session
        outer = session.info.get("in_write")
        if outer is not None:
            if outer is ctx:
                return fn(*args, **kwargs)
            # Joined with a context of its own on the same session: its audit events belong to
            # the outer transaction, whose hooks must see them.
            mark = len(ctx.audit_events)
            result = fn(*args, **kwargs)
            outer.audit_events.extend(ctx.audit_events[mark:])
            del ctx.audit_events[mark:]
            return result
        session.info["in_write"] = ctx
        ctx.audit_events.clear()
        ctx.component_changes.clear()
        try:
            bump_data_version(session, ctx.clock.now())
            result = fn(*args, **kwargs)
            if ctx.announce:
                for hook in ctx.wiring.before_commit:
                    hook(ctx)
            session.commit()
            return result
        except BaseException:
            session.rollback()
            raise
        finally:
            session.info.pop("in_write", None)
            ctx.audit_events.clear()
            ctx.component_changes.clear()

    return wrapper


def bump_data_version(session: Session, at: datetime) -> None:
    session.execute(
        update(SiteState)
        .where(col(SiteState.id) == 1)
        .values(data_version=col(SiteState.data_version) + 1, updated_at=at)
    )


TimerHandler = Callable[[WriteContext, Timer], None]


class Process(Protocol):
    """What the workers (timers, the outbox, the SLA watch) need of the process they run in: its
    settings and clock, sessions and service contexts, and the timer handlers. The composition
    root (:class:`statuspage.runtime.Runtime`) is one; workers take it as a parameter and never
    import it, so they know nothing of how the process was put together."""

    @property
    def settings(self) -> Settings: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def timer_handlers(self) -> Mapping[str, TimerHandler]: ...

    def session(self) -> AbstractContextManager[Session]: ...

    def context(self, session: Session, actor: Actor) -> WriteContext: ...
