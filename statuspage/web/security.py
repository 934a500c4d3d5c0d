"""The security headers every response of the site carries, and the middleware that adds them."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

SECURITY_HEADERS = {
    # Scripts and fetches from the site itself only (static/live.js keeps a page current).
    "content-security-policy": "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; "
    "img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "strict-origin-when-cross-origin",
    "x-frame-options": "DENY",
}


SECURITY_RAW = [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]


def with_security_headers(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    present = {name.lower(): value for name, value in headers}
    own_csp = present.get(b"content-security-policy", b"")
    # A response that sets its own frame-ancestors (the embeddable badge) decides framing
    # itself; X-Frame-Options has no "allow" value, so it is left out for it.
    skip = {b"x-frame-options"} if b"frame-ancestors" in own_csp else set()
    return headers + [h for h in SECURITY_RAW if h[0] not in present and h[0] not in skip]


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = with_security_headers(list(message.get("headers", [])))
            await send(message)

        await self.app(scope, receive, send_with_headers)
