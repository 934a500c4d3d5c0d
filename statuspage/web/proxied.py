"""The app as granian serves it: behind ``X-Forwarded-For``/``-Proto`` handling, which uvicorn
builds in and granian does not, so the client address (the subscribe form's throttle, the admin
API's access record) is the visitor's when a proxy on a trusted address forwards it."""

from __future__ import annotations

import os
from typing import Any


def create_proxied_app() -> Any:
    """The app behind ``X-Forwarded-For``/``-Proto`` handling, as uvicorn's ``proxy_headers`` gives
    it: trusted from ``$FORWARDED_ALLOW_IPS`` (default ``127.0.0.1``, a proxy on the same host)."""
    from statuspage.web.app import create_app

    return create_app(trusted_proxies=os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1"))
