"""Cross-origin reads of the public, read-only addresses.

A customer's own site, a dashboard or a browser extension may read the status from another
origin: the Statuspage v2 API, the JSON twins of the pages, the feeds, the badge and the embed
script. Those answer ``Access-Control-Allow-Origin: *`` on every GET and HEAD (a 304 and a 404
problem document too) and answer a preflight ``OPTIONS`` themselves. They carry no cookies and
nothing personal, so ``*`` is right and no ``Vary: Origin`` is needed.

Everything else (the pages, the admin API, the integrations, Slack, subscribing, acknowledging)
gets no CORS header at all: a browser keeps other sites from reading or calling them.

:class:`CrossOriginReads` adds them on the normal path; the cache hits that
:class:`statuspage.web.fastpath.FastPath` answers before it carry them from :func:`with_cors_headers`.
"""

from __future__ import annotations

import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from statuspage.web.security import with_security_headers

# The public read addresses, besides everything under /api/v2/ ending in .json.
EXACT = frozenset({
    "/index.json", "/history.json", "/sla.json", "/pricing.json",
    "/history.atom", "/history.rss", "/badge.svg", "/embed.js",
})
INCIDENT_JSON = re.compile(r"/incidents/[^/]+\.json")
READ_METHODS = frozenset({"GET", "HEAD"})

# Request headers a cross-origin reader may send; a preflight's other requested headers are not
# allowed (nothing here reads them), so the browser does not send the request.
SAFE_REQUEST_HEADERS = frozenset({
    "accept", "accept-language", "content-language", "cache-control", "pragma",
    "if-none-match", "if-modified-since", "range",
})
ALLOW_ORIGIN = (b"access-control-allow-origin", b"*")
EXPOSE = (b"access-control-expose-headers", b"ETag")
PREFLIGHT = [
    ALLOW_ORIGIN,
    (b"access-control-allow-methods", b"GET, HEAD, OPTIONS"),
    (b"access-control-max-age", b"86400"),
    (b"allow", b"GET, HEAD, OPTIONS"),
    (b"cache-control", b"public, max-age=86400"),
]


def is_public_read(path: str) -> bool:
    """Whether ``path`` is one of the addresses any origin may read."""
    if path.startswith("/api/v2/"):
        return path.endswith(".json")
    return path in EXACT or (path.startswith("/incidents/") and INCIDENT_JSON.fullmatch(path) is not None)


def with_cors_headers(path: str, headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """``headers`` with the cross-origin ones added when ``path`` is a public read address."""
    if not is_public_read(path):
        return headers
    names = {name.lower() for name, _ in headers}
    return headers + [h for h in (ALLOW_ORIGIN, EXPOSE) if h[0] not in names]


def allowed_request_headers(requested: str) -> str:
    """The headers of ``Access-Control-Request-Headers`` that are safe to allow, as a list."""
    names = [name.strip().lower() for name in requested.split(",")]
    return ", ".join(dict.fromkeys(name for name in names if name in SAFE_REQUEST_HEADERS))


class CrossOriginReads:
    """ASGI middleware: CORS headers on the public read addresses, and their preflights."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_public_read(scope["path"]):
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        if method == "OPTIONS":
            await self.preflight(scope, send)
            return
        if method not in READ_METHODS:
            await self.app(scope, receive, send)
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = with_cors_headers(scope["path"], list(message.get("headers", [])))
            await send(message)

        await self.app(scope, receive, send_with_cors)

    async def preflight(self, scope: Scope, send: Send) -> None:
        requested = next((v for k, v in scope["headers"] if k == b"access-control-request-headers"), b"")
        headers = list(PREFLIGHT)
        allowed = allowed_request_headers(requested.decode("latin-1"))
        if allowed:
            headers.append((b"access-control-allow-headers", allowed.encode("latin-1")))
        await send({"type": "http.response.start", "status": 204, "headers": with_security_headers(headers)})
        await send({"type": "http.response.body", "body": b""})
