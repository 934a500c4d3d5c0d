"""``/subscribe``: customers subscribe themselves to the page's notifications, by email or by
webhook, to every component or to those they tick; and the pages their emailed links open.

- ``/subscribe``: the form, which works without JavaScript. A POST is taken only with the form's
  cross-site token, which must match the SameSite=Strict cookie set with the form
  (:mod:`statuspage.subscribers.tokens`), and only from this site (``Origin``,
  ``Sec-Fetch-Site``). Whatever the address (new, pending, confirmed, or throttled), the answer
  is the same words, :data:`~statuspage.subscribers.service.SUBSCRIBE_ANSWER`: the page tells
  nobody who subscribed.
- ``/subscribe/confirm/<token>``: ``GET`` shows what the link confirms; only the ``POST`` its
  button sends confirms, so a mail scanner opening every link confirms nothing.
- ``/subscribe/manage/<token>``: the components followed, to change, and an Unsubscribe button.
- ``/subscribe/unsubscribe/<token>``: the RFC 8058 one-click target. A mail provider POSTs
  ``List-Unsubscribe=One-Click`` to it with no cookie and no ``Origin`` of ours; the signed token
  in the URL is all it takes.

The link pages are never cached or indexed and send no ``Referer``. With
``subscriptions.enabled: false`` the form and the confirmation links answer 404; manage and
unsubscribe links keep working, so whoever subscribed earlier can still leave.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from statuspage.context import Actor, WriteContext
from statuspage.db.engine import new_session
from statuspage.db.subscriber_models import Subscriber
from statuspage.domain.enums import Source
from statuspage.errors import InvalidInput, UserError
from statuspage.incidents import ack_links
from statuspage.read.v2 import V2Builder
from statuspage.subscribers import service, tokens
from statuspage.web.pages import layout

if TYPE_CHECKING:
    from statuspage.web.site import Site

MAX_BODY = 16 * 1024
MAX_FIELDS = 200
MAX_TOKEN = 120
FORM_HEADERS = {"cache-control": "no-store"}
LINK_HEADERS = {"cache-control": "no-store", "referrer-policy": "no-referrer", "x-robots-tag": "noindex"}
FIELDS = ("email", "url", "component")
_FORM_VALUE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
_DEFAULT_PORTS = {"http": 80, "https": 443}

GONE = "This link is not valid any more — you may already be unsubscribed."
CROSS_SITE = "This form was sent from another site, so nothing was done. Open the page on this site and send it from there."
FORM_EXPIRED = (
    "This form has expired or was not sent from this site, so nothing was done. "
    "Open the form again and send it from there."
)
TOO_LARGE = "That was more than this form can take. Open the form again and send it from there."
NOT_A_FORM = "This address only takes what its own form sends."


@dataclass
class Typed:
    """What a visitor typed, shown again (escaped) when something needs correcting."""

    email: str = ""
    url: str = ""
    components: list[str] = field(default_factory=list)


class Refusal(Exception):
    """A request answered with a short page before anything is read or written."""

    def __init__(self, status_code: int, heading: str, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.heading = heading
        self.message = message


def routes(site: Site) -> list[BaseRoute]:
    enabled = site.settings.config.subscriptions.enabled
    # base.html shows the Subscribe link on every page while the form is offered.
    site.templates.globals["subscribe_path"] = tokens.SUBSCRIBE_PATH if enabled else None

    async def form(request: Request) -> Response:
        if not enabled:
            return _not_found(site)
        secure = request.url.scheme == "https"
        cookie = request.cookies.get(tokens.CSRF_COOKIE)
        if request.method == "GET":
            value = cookie if cookie and _FORM_VALUE.match(cookie) else tokens.new_form_value()
            return await run_in_threadpool(show_form, site, value, secure)
        try:
            _refuse_cross_site(request, site)
            fields = await _read_form(request)
        except Refusal as refusal:
            return _message(site, refusal.status_code, refusal.heading, refusal.message, headers=FORM_HEADERS)
        client = request.client.host if request.client else None
        return await run_in_threadpool(submit, site, fields, cookie, client, secure)

    async def confirm(request: Request) -> Response:
        if not enabled:
            return _not_found(site)
        token = _token(request)
        if request.method == "GET":
            return await run_in_threadpool(confirm_page, site, token)
        try:
            _refuse_cross_site(request, site)
        except Refusal as refusal:
            return _message(site, refusal.status_code, refusal.heading, refusal.message)
        return await run_in_threadpool(confirm_now, site, token)

    async def manage(request: Request) -> Response:
        token = _token(request)
        if request.method == "GET":
            return await run_in_threadpool(manage_page, site, token)
        try:
            _refuse_cross_site(request, site)
            fields = await _read_form(request)
        except Refusal as refusal:
            return _message(site, refusal.status_code, refusal.heading, refusal.message)
        return await run_in_threadpool(manage_change, site, token, fields)

    async def unsubscribe(request: Request) -> Response:
        # No cross-site check and no form token: RFC 8058's POST comes from the mail provider.
        token = _token(request)
        if request.method == "GET":
            return await run_in_threadpool(unsubscribe_page, site, token)
        return await run_in_threadpool(unsubscribe_now, site, token, "one-click")

    methods = ["GET", "POST"]
    return [
        Route(tokens.SUBSCRIBE_PATH, form, methods=methods, name="subscribe"),
        Route(tokens.CONFIRM_PATH + "{token}", confirm, methods=methods, name="subscribe_confirm"),
        Route(tokens.MANAGE_PATH + "{token}", manage, methods=methods, name="subscribe_manage"),
        Route(tokens.UNSUBSCRIBE_PATH + "{token}", unsubscribe, methods=methods, name="subscribe_unsubscribe"),
    ]


# Reading the request -------------------------------------------------------------------------


def _token(request: Request) -> str:
    return str(request.path_params.get("token", ""))[:MAX_TOKEN]


def _origin(url: str) -> str | None:
    """``scheme://host[:port]`` in lower case, without a default port; None when not a URL."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if scheme not in _DEFAULT_PORTS or not host:
        return None
    if ":" in host:
        host = f"[{host}]"
    shown_port = "" if port is None or port == _DEFAULT_PORTS[scheme] else f":{port}"
    return f"{scheme}://{host}{shown_port}"


def _refuse_cross_site(request: Request, site: Site) -> None:
    """Refuse a POST a browser says came from another site, or whose ``Origin`` is not this
    page's (as the request reached us, or as configured in ``page.url``). No ``Origin`` passes,
    and neither does ``Origin: null``, which browsers send for a page's own form when the page
    sends no Referer (the link pages): the form token, or the link's own token, is the proof
    then, and ``Sec-Fetch-Site`` still tells a cross-site one."""
    refused = Refusal(403, "Not sent from this site", CROSS_SITE)
    if request.headers.get("sec-fetch-site", "").strip().lower() == "cross-site":
        raise refused
    given = request.headers.get("origin")
    if given is None or given.strip().lower() == "null":
        return
    own = {_origin(f"{request.url.scheme}://{request.url.netloc}"), _origin(site.settings.config.page.url)} - {None}
    if _origin(given) not in own:
        raise refused


async def _read_form(request: Request) -> dict[str, list[str]]:
    """The fields of an ``application/x-www-form-urlencoded`` body of at most :data:`MAX_BODY`
    bytes; anything undecodable becomes U+FFFD rather than an error."""
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type not in {"application/x-www-form-urlencoded", ""}:
        raise Refusal(415, "Not a form", NOT_A_FORM)
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.strip().isdigit() or int(declared) > MAX_BODY):
        raise Refusal(413, "Too much", TOO_LARGE)
    size = 0
    chunks: list[bytes] = []
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise Refusal(413, "Too much", TOO_LARGE)
        chunks.append(chunk)
    text = b"".join(chunks).decode("utf-8", errors="replace")
    try:
        pairs = parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="replace", max_num_fields=MAX_FIELDS)
    except ValueError:
        raise Refusal(413, "Too much", TOO_LARGE) from None
    fields: dict[str, list[str]] = {}
    for name, value in pairs:
        fields.setdefault(name, []).append(value)
    return fields


def _first(fields: dict[str, list[str]], name: str) -> str:
    values = fields.get(name)
    return values[0] if values else ""


def _chosen(fields: dict[str, list[str]]) -> list[str]:
    """The component ids ticked (the service refuses any that is not one of the page's)."""
    return list(dict.fromkeys(value.strip() for value in fields.get("component", []) if value.strip()))


# Shared pieces ---------------------------------------------------------------------------------


def _key(site: Site, session: Session, *, create: bool = False) -> bytes | None:
    return ack_links.signing_key(session, site.settings.secret_key, create=create)


def _ctx(site: Site, session: Session, who: str) -> WriteContext:
    return WriteContext(
        session=session,
        clock=site.clock,
        actor=Actor(who, Source.WEB),
        config=site.settings.config,
        wiring=site.wiring,
    )


def _builder(site: Site, session: Session) -> V2Builder:
    return V2Builder(session, site.settings.config, now=site.clock.now())


def _choices(builder: V2Builder) -> list[dict[str, Any]]:
    """The page's components as it shows them: each group with its members, and the components
    outside any group together (``group`` None)."""
    choices: list[dict[str, Any]] = []
    for section in layout(builder.components_json()):
        members = [{"id": c["id"], "name": c["name"]} for c in section["components"]]
        if section["group"] is None and choices and choices[-1]["group"] is None:
            choices[-1]["components"] += members
        else:
            choices.append({"group": section["group"]["name"] if section["group"] else None, "components": members})
    return choices


def _names(choices: list[dict[str, Any]]) -> dict[str, str]:
    return {c["id"]: c["name"] for choice in choices for c in choice["components"]}


def _render(site: Site, template: str, status_code: int, headers: dict[str, str], **context: Any) -> HTMLResponse:
    return HTMLResponse(site.render(template, context), status_code=status_code, headers=headers)


def _message(
    site: Site,
    status_code: int,
    heading: str,
    message: str,
    *,
    headers: dict[str, str] = LINK_HEADERS,
    offer_form: bool = True,
) -> HTMLResponse:
    enabled = site.settings.config.subscriptions.enabled
    return _render(
        site, "subscribe_link.html", status_code, headers, view="message", heading=heading, message=message,
        offer_form=offer_form and enabled,
    )


def _not_found(site: Site) -> HTMLResponse:
    return _render(site, "not_found.html", 404, FORM_HEADERS, message="There is no page at this address.")


def _link_refused(site: Site, exc: UserError, *, kind: bool = False) -> HTMLResponse:
    """A link that is not (or no longer) genuine: 404 or 410 with a short page saying so."""
    if exc.status_code == 410:
        return _message(site, 410, "Link no longer valid", exc.message)
    if exc.status_code == 404:
        return _message(site, 404, "Link not valid", GONE if kind else exc.message)
    status = exc.status_code if 400 <= exc.status_code < 500 else 400
    return _message(site, status, "Could not be done", exc.message)


def _facts(session: Session, subscriber: Subscriber, names: dict[str, str]) -> dict[str, Any]:
    following = service.components_of(session, subscriber)
    return {
        "kind": subscriber.kind,
        "email": subscriber.email,
        "url": subscriber.webhook_url,
        "state": subscriber.state,
        "following": [names.get(component, component) for component in following],
        "followed_ids": following,
    }


def _manage_path(key: bytes | None, subscriber: Subscriber) -> str | None:
    if key is None or subscriber.id is None or subscriber.manage_nonce is None:
        return None
    return tokens.MANAGE_PATH + tokens.manage_token(key, subscriber.id, subscriber.manage_nonce)


def _retrying(action: Callable[[], Any]) -> Any:
    """Run a write once more when a request racing it for the same address won the insert."""
    try:
        return action()
    except IntegrityError:
        return action()


# The form --------------------------------------------------------------------------------------


def show_form(
    site: Site,
    value: str,
    secure: bool,
    *,
    typed: Typed | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    with new_session(site.engine) as session:
        key = _key(site, session, create=True)
        assert key is not None
        choices = _choices(_builder(site, session))
    response = _render(
        site,
        "subscribe.html",
        status_code,
        FORM_HEADERS,
        choices=choices,
        typed=typed or Typed(),
        errors=errors or {},
        csrf=tokens.form_token(key, value, site.clock.now()),
        answer=None,
    )
    response.set_cookie(
        tokens.CSRF_COOKIE,
        value,
        max_age=tokens.FORM_MAX_AGE_SECONDS,
        path=tokens.SUBSCRIBE_PATH,
        secure=secure,
        httponly=True,
        samesite="strict",
    )
    return response


def submit(site: Site, fields: dict[str, list[str]], cookie: str | None, client: str | None, secure: bool) -> HTMLResponse:
    typed = Typed(_first(fields, "email"), _first(fields, "url"), [v for v in fields.get("component", []) if v])
    with new_session(site.engine) as session:
        key = _key(site, session, create=True)
        if key is None or cookie is None or not tokens.form_token_valid(key, _first(fields, "csrf"), cookie, site.clock.now()):
            return _message(site, 403, "Form expired", FORM_EXPIRED, headers=FORM_HEADERS)

    def attempt() -> None:
        with new_session(site.engine) as session:
            service.subscribe(
                ctx=_ctx(site, session, "visitor"),
                email=typed.email,
                components=_chosen(fields),
                webhook_url=typed.url or None,
                client=client,
                allow_private=site.settings.allow_private_webhooks,
            )

    try:
        _retrying(attempt)
    except service.TooManyRequests as exc:
        seconds = max(1, math.ceil(exc.retry_after.total_seconds()))
        response = _message(site, 429, "Too many requests", exc.message[:1].upper() + exc.message[1:] + ".", headers=FORM_HEADERS)
        response.headers["retry-after"] = str(seconds)
        return response
    except InvalidInput as exc:
        where = exc.field if exc.field in FIELDS else "form"
        return show_form(site, cookie, secure, typed=typed, errors={where: exc.message}, status_code=422)
    except UserError as exc:
        status = exc.status_code if 400 <= exc.status_code < 500 else 400
        return _message(site, status, "Could not subscribe", exc.message, headers=FORM_HEADERS)
    return _render(
        site, "subscribe.html", 200, FORM_HEADERS, answer=service.SUBSCRIBE_ANSWER, choices=[], typed=Typed(), errors={}, csrf=""
    )


# Confirming ------------------------------------------------------------------------------------


def confirm_page(site: Site, token: str) -> HTMLResponse:
    with new_session(site.engine) as session:
        try:
            subscriber = service.check_confirm(session, _key(site, session), token, site.clock.now())
        except UserError as exc:
            return _link_refused(site, exc)
        facts = _facts(session, subscriber, _names(_choices(_builder(site, session))))
    return _render(site, "subscribe_link.html", 200, LINK_HEADERS, view="confirm", heading="Confirm your subscription", **facts)


def confirm_now(site: Site, token: str) -> HTMLResponse:
    with new_session(site.engine) as session:
        key = _key(site, session)
        try:
            subscriber = service.confirm(ctx=_ctx(site, session, "subscriber"), token=token, key=key)
        except UserError as exc:
            return _link_refused(site, exc)
        facts = _facts(session, subscriber, _names(_choices(_builder(site, session))))
        manage_path = _manage_path(key, subscriber)
    return _render(
        site, "subscribe_link.html", 200, LINK_HEADERS, view="subscribed", heading="Subscribed", manage_path=manage_path, **facts
    )


# Managing --------------------------------------------------------------------------------------


def manage_page(
    site: Site,
    token: str,
    *,
    message: str | None = None,
    error: str | None = None,
    ticked: Sequence[str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    with new_session(site.engine) as session:
        try:
            subscriber = service.by_token(session, _key(site, session), token, tokens.MANAGE)
        except UserError as exc:
            return _link_refused(site, exc, kind=True)
        choices = _choices(_builder(site, session))
        facts = _facts(session, subscriber, _names(choices))
    checked = list(ticked) if ticked is not None else facts["followed_ids"]
    return _render(
        site, "subscribe_link.html", status_code, LINK_HEADERS, view="manage", heading="Your subscription",
        choices=choices, checked=checked, saved=message, error=error, **facts,
    )


def manage_change(site: Site, token: str, fields: dict[str, list[str]]) -> HTMLResponse:
    action = _first(fields, "action")
    if action == "unsubscribe":
        return unsubscribe_now(site, token, "manage page")
    if action != "save":
        return manage_page(site, token, error="Use the Save or the Unsubscribe button.", status_code=400)
    ticked = [v for v in fields.get("component", []) if v]
    with new_session(site.engine) as session:
        try:
            service.choose_components(
                ctx=_ctx(site, session, "subscriber"), token=token, key=_key(site, session), components=_chosen(fields)
            )
        except InvalidInput as exc:
            session.rollback()
            return manage_page(site, token, error=exc.message, ticked=ticked, status_code=422)
        except UserError as exc:
            return _link_refused(site, exc, kind=True)
    return manage_page(site, token, message="Saved.")


# Unsubscribing ---------------------------------------------------------------------------------


def unsubscribe_page(site: Site, token: str) -> HTMLResponse:
    with new_session(site.engine) as session:
        try:
            subscriber = service.by_token(session, _key(site, session), token, tokens.MANAGE)
        except UserError as exc:
            return _link_refused(site, exc, kind=True)
        facts = _facts(session, subscriber, _names(_choices(_builder(site, session))))
    return _render(site, "subscribe_link.html", 200, LINK_HEADERS, view="unsubscribe", heading="Unsubscribe?", **facts)


def unsubscribe_now(site: Site, token: str, how: str) -> HTMLResponse:
    with new_session(site.engine) as session:
        try:
            service.unsubscribe(ctx=_ctx(site, session, "subscriber"), token=token, key=_key(site, session), how=how)
        except UserError as exc:
            return _link_refused(site, exc, kind=True)
    return _message(
        site, 200, "Unsubscribed", "You will get no more updates from this status page, and your address has been erased."
    )
