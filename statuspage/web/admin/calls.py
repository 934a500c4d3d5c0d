"""What the admin API's modules share: the path prefix, what a handler is given and answers, and
one row of the API table."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel
from sqlmodel import Session

from statuspage.clock import Clock, SystemClock
from statuspage.context import WriteContext
from statuspage.db.models import ApiToken
from statuspage.read.v2 import V2Builder
from statuspage.web.site import Site

PREFIX = "/api/admin/v1"
JSON = dict[str, Any]


@dataclass
class Call:
    """One authenticated request, as a handler sees it (in a worker thread, with its own session)."""

    site: Site
    session: Session
    ctx: WriteContext
    token: ApiToken | None
    human: str | None
    params: dict[str, str]
    body: Any = None
    query: Any = None

    @property
    def builder(self) -> V2Builder:
        return V2Builder(self.session, self.site.settings.config, now=self.ctx.now())


@dataclass
class Reply:
    data: JSON
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Operation:
    """One row of the API table: the route, who may call it, what it takes, what it answers."""

    method: str
    path: str
    operation_id: str
    summary: str
    scope: Literal["read", "write"] | None
    handler: Callable[[Call], Reply]
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    success: int = 200
    response: str = "Envelope"
    # Which service-error fields name the resource in the path (their NotFound is a 404).
    path_fields: frozenset[str] = frozenset({"id"})

    @property
    def full_path(self) -> str:
        return PREFIX + self.path


def site_clock(site: Site) -> Clock:
    """The site's clock when it has one (tests freeze it), else the system clock."""
    clock = getattr(site, "clock", None)
    return clock if clock is not None else SystemClock()
