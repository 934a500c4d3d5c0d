"""The signed links of a subscription, and the subscribe form's cross-site token.

A link token is ``<purpose>.<subscriber id>[.<expiry>].<signature>``; the signature is the
URL-safe base64 HMAC-SHA256, keyed like the acknowledgement links (``STATUSPAGE_SECRET_KEY``, else
the database's key), over the purpose, the id, the expiry and a random nonce kept on the
subscriber. The nonce is not in the link: changing or erasing it voids every link made with it.

- ``c`` (confirm): bound to ``confirm_nonce`` and an expiry (Unix seconds). Confirming clears
  the nonce, so the link works once; a new confirmation email makes a new nonce.
- ``m`` (manage: components, unsubscribe): bound to ``manage_nonce``; erased on removal.

The form token is ``<issued>.<value>.<signature>`` over the value also set in a SameSite=Strict
cookie: a page on another site can neither read the cookie nor make the browser send it with a
cross-site POST, so it cannot forge a subscription from a visitor's browser.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

DOMAIN = "statuspage-subscriber-v1"
CONFIRM, MANAGE = "c", "m"
_LINK = re.compile(r"^([cm])\.([1-9][0-9]{0,9})(?:\.([0-9]{1,12}))?\.([A-Za-z0-9_-]{43})$")
MAX_ID = 2**31 - 1  # the database's integer ids
_FORM = re.compile(r"^([0-9]{1,12})\.([A-Za-z0-9_-]{16,64})\.([A-Za-z0-9_-]{43})$")
FORM_MAX_AGE_SECONDS = 2 * 3600
CSRF_COOKIE = "statuspage_form"


def new_nonce() -> str:
    return secrets.token_urlsafe(18)


def _sign(key: bytes, *parts: str) -> str:
    digest = hmac.new(key, ":".join((DOMAIN, *parts)).encode("utf-8"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def confirm_token(key: bytes, subscriber_id: int, nonce: str, expires: datetime) -> str:
    stamp = str(int(expires.timestamp()))
    return f"{CONFIRM}.{subscriber_id}.{stamp}.{_sign(key, CONFIRM, str(subscriber_id), stamp, nonce)}"


def manage_token(key: bytes, subscriber_id: int, nonce: str) -> str:
    return f"{MANAGE}.{subscriber_id}.{_sign(key, MANAGE, str(subscriber_id), '', nonce)}"


@dataclass(frozen=True)
class Parsed:
    purpose: str
    subscriber_id: int
    expires: int | None
    signature: str


def parse(token: str) -> Parsed | None:
    """The parts of a well-formed token; None for anything else. Genuineness needs the nonce:
    :func:`genuine`."""
    match = _LINK.match(token or "")
    if match is None:
        return None
    purpose, subscriber_id, expires, signature = match.groups()
    if (purpose == CONFIRM) != (expires is not None) or int(subscriber_id) > MAX_ID:
        return None
    return Parsed(purpose, int(subscriber_id), int(expires) if expires else None, signature)


def genuine(key: bytes, parsed: Parsed, nonce: str | None) -> bool:
    if nonce is None:
        return False
    stamp = "" if parsed.expires is None else str(parsed.expires)
    expected = _sign(key, parsed.purpose, str(parsed.subscriber_id), stamp, nonce)
    return hmac.compare_digest(expected.encode("ascii"), parsed.signature.encode("ascii"))


# The form's cross-site token ----------------------------------------------------------------


def new_form_value() -> str:
    return secrets.token_urlsafe(24)


def form_token(key: bytes, value: str, now: datetime) -> str:
    issued = str(int(now.timestamp()))
    return f"{issued}.{value}.{_sign(key, 'form', issued, value)}"


def form_token_valid(key: bytes, token: str, cookie: str | None, now: datetime) -> bool:
    """True when the token was made here, recently, for the value in the visitor's cookie."""
    match = _FORM.match(token or "")
    if match is None or not cookie:
        return False
    issued, value, signature = match.groups()
    if not hmac.compare_digest(value.encode("ascii"), cookie.encode("utf-8", "replace")):
        return False
    if not 0 <= now.timestamp() - int(issued) <= FORM_MAX_AGE_SECONDS:
        return False
    return hmac.compare_digest(_sign(key, "form", issued, value).encode("ascii"), signature.encode("ascii"))


# Where the links lead -------------------------------------------------------------------------

SUBSCRIBE_PATH = "/subscribe"
CONFIRM_PATH = "/subscribe/confirm/"
MANAGE_PATH = "/subscribe/manage/"
UNSUBSCRIBE_PATH = "/subscribe/unsubscribe/"


def confirm_url(page_url: str, key: bytes, subscriber_id: int, nonce: str, expires: datetime) -> str:
    return f"{page_url}{CONFIRM_PATH}{confirm_token(key, subscriber_id, nonce, expires)}"


def manage_url(page_url: str, key: bytes, subscriber_id: int, nonce: str) -> str:
    return f"{page_url}{MANAGE_PATH}{manage_token(key, subscriber_id, nonce)}"


def unsubscribe_url(page_url: str, key: bytes, subscriber_id: int, nonce: str) -> str:
    """The RFC 8058 one-click target: a POST to it unsubscribes, without a form or a cookie."""
    return f"{page_url}{UNSUBSCRIBE_PATH}{manage_token(key, subscriber_id, nonce)}"
