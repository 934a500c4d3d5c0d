"""``/ack/<token>``: the one-click acknowledgement link of an emailed page.

``GET`` shows what the link is for (the incident, who was paged) and a button; only the ``POST``
that button sends acknowledges, so a mail scanner opening every link changes nothing. The POST
acknowledges through the incident service as the paged person (source ``web``) and uses the
link up (:mod:`statuspage.incidents.ack_links`). A link that is not genuine is answered 404, one
used already or whose incident is resolved 410, each with a short page saying so; neither is
cached, and the token never leaves in a Referer header.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from statuspage.context import Actor, WriteContext
from statuspage.db.engine import new_session
from statuspage.domain.enums import Source
from statuspage.errors import UserError
from statuspage.incidents import ack_links

if TYPE_CHECKING:
    from statuspage.web.site import Site

log = logging.getLogger(__name__)

MAX_TOKEN = 120
HEADERS = {"cache-control": "no-store", "referrer-policy": "no-referrer", "x-robots-tag": "noindex"}


def routes(site: Site) -> list[BaseRoute]:
    async def endpoint(request: Request) -> Response:
        token = str(request.path_params.get("token", ""))[:MAX_TOKEN]
        if request.method == "POST":
            return await run_in_threadpool(acknowledge, site, token)
        return await run_in_threadpool(confirm, site, token)

    return [Route(ack_links.PATH + "{token}", endpoint, methods=["GET", "POST"], name="ack_link")]


def _key(site: Site, session: Any) -> bytes | None:
    return ack_links.signing_key(session, site.settings.secret_key, create=False)


def _facts(site: Site, link: ack_links.Link) -> dict[str, Any]:
    config = site.settings.config
    incident, page = link.incident, link.page
    severity = config.severity(incident.severity)
    tier = config.escalation.tier(page.tier) if page.tier is not None else None
    return {
        "incident": incident,
        "severity": f"Sev-{incident.severity}" + (f" ({severity.name})" if severity else ""),
        "status": incident.status,
        "owner": page.owner,
        "tier": page.tier,
        "tier_name": tier.name if tier is not None else None,
        "paged_at": page.paged_at.isoformat(),
        "acknowledged_by": incident.acknowledged_by,
    }


def _page(site: Site, status_code: int = 200, **context: Any) -> HTMLResponse:
    context = {"incident": None, "form": False, "message": None, "owner": None, **context}
    return HTMLResponse(site.render("ack.html", context), status_code=status_code, headers=HEADERS)


def _refused(site: Site, exc: UserError) -> HTMLResponse:
    heading = "Link not valid" if exc.status_code == 404 else "Link no longer valid"
    return _page(site, exc.status_code if 400 <= exc.status_code < 500 else 400, heading=heading, message=exc.message)


def confirm(site: Site, token: str) -> HTMLResponse:
    """What the link would do, and the button that does it."""
    with new_session(site.engine) as session:
        try:
            link = ack_links.check(session, _key(site, session), token, zone=site.settings.config.page.time_zone)
        except UserError as exc:
            return _refused(site, exc)
        facts = _facts(site, link)
    return _page(site, heading="Acknowledge this page?", form=True, **facts)


def acknowledge(site: Site, token: str) -> HTMLResponse:
    with new_session(site.engine) as session:
        key = _key(site, session)
        try:
            owner = ack_links.check(session, key, token, zone=site.settings.config.page.time_zone).page.owner
        except UserError as exc:
            return _refused(site, exc)
        session.rollback()
        ctx = WriteContext(
            session=session,
            clock=site.clock,
            actor=Actor(owner, Source.WEB),
            config=site.settings.config,
            wiring=site.wiring,
        )
        try:
            incident, first = ack_links.acknowledge_by_link(ctx=ctx, token=token, key=key)
        except UserError as exc:
            return _refused(site, exc)
        if first:
            message = f"You acknowledged incident #{incident.id}, {owner}. Paging stops."
        else:
            message = f"Incident #{incident.id} was already acknowledged by {incident.acknowledged_by}; your acknowledgement is recorded too."
        log.info("incident %s acknowledged by %s with a one-click link", incident.id, owner)
        return _page(site, heading="Acknowledged", message=message, incident=incident)
