"""The admin API: writing to the status page from outside, with bearer tokens."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.routing import BaseRoute

if TYPE_CHECKING:
    from statuspage.web.app import Site


def routes(site: Site) -> list[BaseRoute]:
    return []
