"""The outbox sender for ``webhook`` contacts: one signed JSON POST per page.

The body::

    {"type": "page", "delivery_id": "<outbox delivery id>", "person": "Ana Ruiz", "tier": 1,
     "ack_url": "https://status.example.com/ack/…", "ack_command": "incident ack 8",
     "incident": {"id": 8, "title": …, "severity": 1, "status": …, "url": …, "message": …,
                  "components": [...], "declared_at": …, "commander": …}}

The headers are those of the public webhooks (:mod:`statuspage.webhooks.sender`), signed with the
page webhook secret (``STATUSPAGE_PAGE_WEBHOOK_SECRET``, else ``escalation.webhook_secret``)::

    X-Statuspage-Event: page
    X-Statuspage-Delivery: <delivery id>      (also Idempotency-Key: the same on every attempt)
    X-Statuspage-Timestamp: <Unix seconds>
    X-Statuspage-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>" keyed with the secret>

A receiver checks it with :func:`statuspage.webhooks.sender.verify_signature` (or the same HMAC
in any language) and de-duplicates on the idempotency key.

Answers: 2xx is sent (the page's ref is the answer's JSON ``id`` when it has one, else
``HTTP <code>``); 408, 429, 5xx, time-outs and unreachable receivers are waited out (after
``Retry-After`` when given) and never kill the page; any other answer (400, 401, 404, a
redirect) can never succeed: the page is dead, its row reads ``failed`` with the answer and
it is reported with ``incident.page_failed``.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from statuspage.contact_urls import shown_contact
from statuspage.context import WriteContext
from statuspage.db.models import OutboxMessage
from statuspage.mail.sender import mark_uncertain
from statuspage.oncall import delivery
from statuspage.outbox import Outcome
from statuspage.pagers.common import PageSenderBase, Prepared
from statuspage.webhooks.sender import encode_body, parse_retry_after, sign

USER_AGENT = "statuspage-pages"
TIMEOUT_SECONDS = 10.0
EVENT = "page"
NO_SECRET = "no page webhook secret: set STATUSPAGE_PAGE_WEBHOOK_SECRET or escalation.webhook_secret"
_SNIPPET = 300


def page_body(message: OutboxMessage, ack_url: str | None) -> dict[str, Any]:
    payload = message.payload
    data = payload.get("data") or {}
    incident = payload["incident"]
    return {
        "type": "page",
        "delivery_id": message.delivery_id,
        "person": data.get("owner"),
        "tier": data.get("tier"),
        "ack_url": ack_url,
        "ack_command": f"incident ack {incident['id']}",
        "incident": incident,
    }


class PageWebhookSender(PageSenderBase):
    """Sends ``page_webhook`` outbox messages; one HTTP client per worker."""

    kind = "webhook"
    label = "webhook"

    def __init__(
        self,
        *,
        secret: str | None,
        secret_key: str | None = None,
        timeout: float = TIMEOUT_SECONDS,
        client: httpx.Client | None = None,
    ) -> None:
        super().__init__(secret_key=secret_key)
        self.secret = secret
        self.timeout = timeout
        self.client = client or httpx.Client(timeout=timeout, follow_redirects=False)

    def close(self) -> None:
        self.client.close()

    def send(self, message: OutboxMessage, ctx: WriteContext) -> Outcome:
        if not self.secret:
            ctx.session.rollback()
            return Outcome.dead(NO_SECRET)
        prepared = self.prepare(message, ctx)
        if isinstance(prepared, Outcome):
            return prepared
        return self._post(message, ctx, prepared, self.secret)

    def _post(self, message: OutboxMessage, ctx: WriteContext, page: Prepared, secret: str) -> Outcome:
        now = ctx.now()
        body = encode_body(page_body(message, page.ack_url))
        timestamp = str(int(now.timestamp()))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "X-Statuspage-Event": EVENT,
            "X-Statuspage-Delivery": message.delivery_id,
            "Idempotency-Key": message.delivery_id,
            "X-Statuspage-Timestamp": timestamp,
            "X-Statuspage-Signature": sign(secret, timestamp, body),
        }
        shown = shown_contact(self.kind, page.url)
        mark_uncertain(ctx, message)
        try:
            with self.client.stream("POST", page.url, content=body, headers=headers) as response:
                raw = _read_some(response)
        except httpx.TimeoutException:
            return Outcome.wait(f"no answer from {shown} within {self.timeout:g}s")
        except httpx.HTTPError as exc:
            return Outcome.wait(f"cannot reach {shown}: {type(exc).__name__}")
        code = response.status_code
        snippet = " ".join(raw[:_SNIPPET].decode("utf-8", "replace").split())
        result: dict[str, Any] = {"status_code": code}
        if 200 <= code < 300:
            ref = _answer_id(raw) or f"HTTP {code}"
            self.note(ctx, page.page_id, delivery.SENT, ref=ref)
            return Outcome.delivered(result | {"ref": ref} | ({"late": page.late} if page.late else {}))
        detail = f"HTTP {code} from {shown}" + (f": {snippet}" if snippet else "")
        if code in (408, 429) or code >= 500:
            return Outcome.wait(detail, result=result, retry_after=parse_retry_after(response.headers.get("Retry-After"), now))
        return Outcome.dead(detail, result=result | {"answer": snippet})


def _read_some(response: httpx.Response) -> bytes:
    """The start of the answer; the rest is not read."""
    data = b""
    for chunk in response.iter_bytes():
        data += chunk
        if len(data) >= 4096:
            break
    return data


def _answer_id(raw: bytes) -> str | None:
    try:
        answer = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    if isinstance(answer, dict) and answer.get("id") not in (None, ""):
        return str(answer["id"])[:200]
    return None
