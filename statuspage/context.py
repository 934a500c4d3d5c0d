"""What every state change needs, and the transaction that wraps it.

A service function decorated with :func:`write` runs in one transaction that bumps the data
version first (which also takes the write lock, so concurrent writers queue instead of failing),
then does its work and writes its audit events, then commits. If anything raises, nothing is
written. Service functions called from inside another join the outer transaction.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import update
from sqlmodel import Session

from statuspage.clock import Clock
from statuspage.db.models import AuditEvent, SiteState
from statuspage.domain.enums import Source
from statuspage.settings import Config

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class Actor:
    name: str
    source: Source


@dataclass
class WriteContext:
    session: Session
    clock: Clock
    actor: Actor
    config: Config

    def now(self) -> datetime:
        return self.clock.now()

    def audit(
        self,
        *,
        action: str,
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
        return event


def _jsonable(values: dict[str, Any] | None) -> dict[str, Any] | None:
    if values is None:
        return None
    return {key: value.isoformat() if isinstance(value, datetime) else value for key, value in values.items()}


def write(fn: Callable[P, R]) -> Callable[P, R]:
    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        ctx = kwargs["ctx"]
        assert isinstance(ctx, WriteContext)
        session = ctx.session
        if session.info.get("in_write"):
            return fn(*args, **kwargs)
        session.info["in_write"] = True
        try:
            bump_data_version(session, ctx.clock.now())
            result = fn(*args, **kwargs)
            session.commit()
            return result
        except BaseException:
            session.rollback()
            raise
        finally:
            session.info.pop("in_write", None)

    return wrapper


def bump_data_version(session: Session, at: datetime) -> None:
    session.execute(
        update(SiteState).where(SiteState.id == 1).values(data_version=SiteState.data_version + 1, updated_at=at)
    )
