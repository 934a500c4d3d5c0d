"""The one-click acknowledgement link in every emailed page: ``<page url>/ack/<token>``.

The token names the page (a :class:`PageSent` row) and is signed: ``<page id>.<signature>``,
the signature being the URL-safe base64 of HMAC-SHA256 over ``statuspage-ack-v1:<page id>``.
The key is ``STATUSPAGE_SECRET_KEY`` when set (every process that sends pages or serves the
site must then have the same one), else a random key generated once and kept in the database
(``site_state.secret_key``), which every process reads. Signatures are compared in constant time.

A link acknowledges once: using it records ``ack_link_used_at`` on the page in the same
transaction as the acknowledgement (and the ``incident.ack_link`` audit event), and a second use
is refused. It expires with the incident: once the incident is resolved it is refused too.
Opening the link only shows what it would do; the acknowledgement is a POST from that page, so
a mail scanner that fetches every link in a message acknowledges nothing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import update
from sqlmodel import Session, col

from statuspage.audit.actions import AuditAction
from statuspage.context import WriteContext, write
from statuspage.db.models import Incident, PageSent, SiteState
from statuspage.domain.enums import IncidentStatus
from statuspage.errors import NotFound, UserError
from statuspage.incidents import service as incidents
from statuspage.settings import Config

PATH = "/ack/"
DOMAIN = b"statuspage-ack-v1:"
TOKEN = re.compile(r"^([1-9][0-9]{0,17})\.([A-Za-z0-9_-]{43})$")
NOT_VALID = "This acknowledgement link is not valid: it may be incomplete, or it was not made by this status page."


class LinkExpired(UserError):
    """The link was genuine but can no longer be used (used once already, incident resolved)."""

    status_code = 410
    title = "Link no longer valid"


# The key -----------------------------------------------------------------------------------


def signing_key(session: Session, configured: str | None, *, create: bool) -> bytes | None:
    """The key links are signed with: ``configured`` (STATUSPAGE_SECRET_KEY) when given, else the
    database's, generated now if ``create`` and there is none yet (once, whoever races for it)."""
    if configured:
        return configured.encode("utf-8")
    state = session.get(SiteState, 1, populate_existing=True)
    stored = state.secret_key if state is not None else None
    if stored is None and create:
        try:
            session.exec(
                update(SiteState)
                .where(col(SiteState.id) == 1, col(SiteState.secret_key).is_(None))
                .values(secret_key=secrets.token_urlsafe(48))
                .execution_options(synchronize_session=False)
            )
            session.commit()
        except BaseException:
            session.rollback()
            raise
        state = session.get(SiteState, 1, populate_existing=True)
        stored = state.secret_key if state is not None else None
    session.rollback()  # end the read: nothing is held while the caller works
    return stored.encode("utf-8") if stored else None


class KeyOnce:
    """The signing key as a sender needs it: read (or made) on first use, then kept for the
    sender's life. ``configured`` is STATUSPAGE_SECRET_KEY, if set."""

    def __init__(self, configured: str | None) -> None:
        self.configured = configured
        self._key: bytes | None = None

    def get(self, session: Session) -> bytes:
        if self._key is None:
            self._key = signing_key(session, self.configured, create=True)
        assert self._key is not None
        return self._key


# Tokens ------------------------------------------------------------------------------------


def _signature(key: bytes, page_id: int) -> str:
    digest = hmac.new(key, DOMAIN + str(page_id).encode("ascii"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def token_for(key: bytes, page_id: int) -> str:
    return f"{page_id}.{_signature(key, page_id)}"


def ack_url(config: Config, key: bytes, page_id: int) -> str:
    return f"{config.page.url}{PATH}{token_for(key, page_id)}"


def page_id_of(key: bytes | None, token: str) -> int | None:
    """The page a genuine token names; None for anything else (malformed, forged, no key)."""
    match = TOKEN.match(token or "")
    if key is None or match is None:
        return None
    page_id = int(match.group(1))
    expected = _signature(key, page_id)
    if not hmac.compare_digest(expected.encode("ascii"), match.group(2).encode("ascii")):
        return None
    return page_id


# Using a link ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Link:
    """A genuine, usable link: the page it names and its incident."""

    page: PageSent
    incident: Incident


def check(session: Session, key: bytes | None, token: str, *, lock: bool = False, zone: str = "UTC") -> Link:
    """The page and incident of a usable link; raises :class:`NotFound` for a link that is not
    genuine (or whose page is gone) and :class:`LinkExpired` for one used already or whose
    incident is resolved."""
    page_id = page_id_of(key, token)
    if page_id is None:
        raise NotFound(NOT_VALID)
    page = session.get(PageSent, page_id)
    if page is None:
        raise NotFound(NOT_VALID)
    if lock:
        # The incident row first, then the page: the order every service takes its locks in.
        incident = incidents.get(session=session, incident_id=page.incident_id, for_update=True)
        page = session.get(PageSent, page_id, with_for_update=True, populate_existing=True)
        if page is None:
            raise NotFound(NOT_VALID)
    else:
        incident = incidents.get(session=session, incident_id=page.incident_id)
    if page.ack_link_used_at is not None:
        used = page.ack_link_used_at.astimezone(ZoneInfo(zone))
        raise LinkExpired(f"This link was already used, at {used:%Y-%m-%d %H:%M} {used.tzname()}; it works once.")
    if not IncidentStatus(incident.status).is_open:
        raise LinkExpired(f"Incident #{incident.id} is resolved; its acknowledgement links expired with it.")
    return Link(page=page, incident=incident)


@write
def acknowledge_by_link(*, ctx: WriteContext, token: str, key: bytes | None) -> tuple[Incident, bool]:
    """Acknowledge the incident of a page as the paged person, and use up the link, in one
    transaction. Returns the incident and whether this was its acknowledgement (False when
    someone had acknowledged it already: the link then records that this person saw it)."""
    link = check(ctx.session, key, token, lock=True, zone=ctx.config.page.time_zone)
    page, now = link.page, ctx.now()
    page.ack_link_used_at = now
    ctx.session.add(page)
    incident, first = incidents.acknowledge(ctx=ctx, incident_id=page.incident_id, by=page.owner)
    ctx.audit(
        action=AuditAction.INCIDENT_ACK_LINK,
        subject_type="incident",
        subject_id=page.incident_id,
        at=now,
        after={
            "page_id": page.id,
            "owner": page.owner,
            "contact_kind": page.contact_kind,
            "tier": page.tier,
            "acknowledged": first,
        },
    )
    return incident, first
