"""Contacts given as URLs (``apprise``, ``webhook``): checking them, and showing them without
their secrets.

An Apprise URL holds its credentials (``tgram://<bot token>/<chat>``, ``twilio://<sid>:<token>@…``)
and a webhook URL may hold a token in its path or query, so wherever a contact is shown to people
(the worker's console, ``incident show``, Slack, the outbox's target) it is shown by
:func:`shown_contact`: the scheme and the host only (``ntfy://ntfy.sh/…``). The full URL lives in
the configuration, the escalation run's frozen matrix and the page rows, and is read only to send.
"""

from __future__ import annotations

import hashlib
import json
import re
import warnings
from functools import lru_cache
from urllib.parse import urlsplit

URL_KINDS = frozenset({"apprise", "webhook"})


@lru_cache(maxsize=256)
def _apprise_privacy_url(url: str) -> str | None:
    try:
        with warnings.catch_warnings():
            # Some of Apprise's plugins import modules Python deprecates (imghdr).
            warnings.simplefilter("ignore", DeprecationWarning)
            import apprise

            plugin = apprise.Apprise.instantiate(url, suppress_exceptions=True)
    except Exception:  # noqa: BLE001 - any failure to parse means: not an Apprise URL
        return None
    if not plugin:
        return None
    return str(plugin.url(privacy=True))


def is_apprise_url(url: str) -> bool:
    """Whether Apprise knows the URL's scheme and can parse the rest of it."""
    return _apprise_privacy_url(url) is not None


def url_problem(kind: str, url: str) -> str | None:
    """What is wrong with a URL contact (for the configuration's one-line error), without its secrets."""
    if kind == "webhook":
        ok = bool(re.match(r"^https?://[^\s/]+\S*$", url))
        return None if ok else "a webhook contact is an http(s) URL like https://example.com/pages"
    if is_apprise_url(url):
        return None
    shown = f"{url.split('://', 1)[0]}://…" if "://" in url else "the value"
    return f"{json.dumps(shown, ensure_ascii=False)} is not an Apprise URL like ntfy://ntfy.sh/topic"


def _host_part(url: str) -> str:
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return ""
    return f"{host}{port}"


def mask_url(kind: str, url: str) -> str:
    """``scheme://host/…``: nothing of the URL's user, password, path or query. For an Apprise
    URL the host is taken from Apprise's own privacy form, since some services put a token there
    (``tgram://<token>/…``)."""
    basis = (_apprise_privacy_url(url) if kind == "apprise" else None) or url
    scheme = urlsplit(basis).scheme if "://" in basis else ""
    host = _host_part(basis)
    if not scheme:
        return "(hidden)"
    return f"{scheme}://{host}/…" if host else f"{scheme}://…"


def shown_contact(kind: str, contact: str) -> str:
    """A contact as people may see it: a URL contact masked, any other as given."""
    return mask_url(kind, contact) if kind in URL_KINDS else contact


def url_key(url: str) -> str:
    """A short stable name for a URL, for ordering keys (which are shown): not the URL itself."""
    return hashlib.sha256(url.encode("utf-8")).hexdigest()[:16]
