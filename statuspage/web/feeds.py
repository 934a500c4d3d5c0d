"""Atom and RSS feeds of the incident history, and the embeddable status badge."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.routing import BaseRoute

if TYPE_CHECKING:
    from statuspage.web.app import Site


def routes(site: Site) -> list[BaseRoute]:
    return []
