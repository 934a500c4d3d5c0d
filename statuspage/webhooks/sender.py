"""The outbox sender for webhooks: one signed JSON POST per message, and how receivers check it.

Every POST carries::

    Content-Type: application/json
    User-Agent: statuspage-webhooks
    X-Statuspage-Delivery: <delivery id: the same on every attempt; de-duplicate on it>
    X-Statuspage-Event: incident.created | incident.updated | incident.resolved | maintenance.…
    X-Statuspage-Timestamp: <Unix seconds when this attempt was signed>
    X-Statuspage-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>" keyed with the secret>

The timestamp is inside the signed text so that a captured request cannot be replayed later:
receivers refuse signatures older than a few minutes (:func:`verify_signature` does both checks).

How answers are treated: 2xx is delivered; 410 Gone disables the subscription (the receiver said
it is gone for good); 408, 429, 5xx, time-outs and connection errors are waited out, after
``Retry-After`` when the receiver sends one, else with a backoff growing to an hour, for as long
as they last (a receiver that is down loses nothing); any other answer (a 404 during a deploy, a
401 from a misconfigured proxy) is retried a few times, then the message is dead, and can be sent
again with ``statuspage outbox retry``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from statuspage.context import WriteContext
from statuspage.db.models import OutboxMessage, WebhookSubscriber
from statuspage.outbox import Outcome
from statuspage.webhooks import service

USER_AGENT = "statuspage-webhooks"
TIMEOUT_SECONDS = 10.0
# Attempts for answers that are neither success nor clearly temporary (404, 401, 3xx ...).
OTHER_ANSWER_ATTEMPTS = 3
SIGNATURE_TOLERANCE = timedelta(minutes=5)
_SNIPPET = 300


def encode_body(payload: dict[str, Any]) -> bytes:
    """The exact bytes that are sent and signed: plain JSON, UTF-8, nothing escaped beyond what
    JSON needs (an incident title with ``<script>`` arrives as typed; escaping is the job of
    whoever renders it)."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def sign(secret: str, timestamp: str, body: bytes | str) -> str:
    """The ``X-Statuspage-Signature`` value: ``sha256=`` and the hex HMAC of ``f"{timestamp}.{body}"``."""
    raw = body.encode("utf-8") if isinstance(body, str) else body
    digest = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + raw, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify_signature(
    secret: str,
    timestamp: str,
    body: bytes | str,
    header: str,
    now: datetime | float | None = None,
    tolerance: timedelta | float = SIGNATURE_TOLERANCE,
) -> bool:
    """Check a webhook on the receiving side; True only if it is authentic and fresh.

    Pass the subscription's secret, the ``X-Statuspage-Timestamp`` and ``X-Statuspage-Signature``
    headers and the request body exactly as received (bytes, before any JSON parsing: re-encoding
    changes them). ``now`` is the receiver's time (a datetime or Unix seconds; default: the system
    clock) and ``tolerance`` how far the timestamp may be from it (default five minutes), which
    refuses replays of old requests. The comparison takes constant time.

    A valid signature proves the sender knew the secret, not that the message is new: deliveries
    are at least once, so also de-duplicate on ``X-Statuspage-Delivery``. For example::

        if not verify_signature(SECRET, request.headers["X-Statuspage-Timestamp"], request.body,
                                request.headers["X-Statuspage-Signature"]):
            return 401
        if seen(request.headers["X-Statuspage-Delivery"]):
            return 200
    """
    try:
        sent_at = int(timestamp.strip())
    except (AttributeError, ValueError):
        return False
    if isinstance(now, datetime):
        current = now.timestamp()
    elif now is None:
        current = time.time()
    else:
        current = float(now)
    allowed = tolerance.total_seconds() if isinstance(tolerance, timedelta) else float(tolerance)
    if abs(current - sent_at) > allowed:
        return False
    expected = sign(secret, str(sent_at), body)
    return hmac.compare_digest(expected.encode("ascii"), (header or "").strip().encode("utf-8", "replace"))


def parse_retry_after(value: str | None, now: datetime) -> timedelta | None:
    """``Retry-After`` as seconds or as an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return timedelta(seconds=int(text))
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(moment - now, timedelta(0))


class WebhookSender:
    """Sends ``webhook`` outbox messages; one HTTP client (and its connection pool) per worker."""

    def __init__(
        self,
        *,
        timeout: float = TIMEOUT_SECONDS,
        client: httpx.Client | None = None,
        check_addresses: bool = False,
        allow_private: bool = False,
    ) -> None:
        self.timeout = timeout
        # subscriptions.check_admin_webhooks: the URL must resolve to public addresses when sent,
        # as customers' webhooks must (statuspage.public_addresses); allow_private lifts it.
        self.check_addresses = check_addresses
        self.allow_private = allow_private
        # Redirects are not followed: a signed POST should reach the URL the subscriber gave, and a
        # redirect is a misconfiguration to see in the outbox, not to paper over.
        self.client = client or httpx.Client(timeout=timeout, follow_redirects=False)

    def close(self) -> None:
        self.client.close()

    def send(self, message: OutboxMessage, ctx: WriteContext) -> Outcome:
        subscriber = ctx.session.get(WebhookSubscriber, int(message.target))
        if subscriber is None:
            ctx.session.rollback()
            return Outcome.dead(f"webhook {message.target} no longer exists")
        if subscriber.disabled_at is not None:
            ctx.session.rollback()
            return Outcome.dead(f"webhook {message.target} is disabled")
        subscriber_id, url, secret = subscriber.id, subscriber.url, subscriber.secret
        # End the read transaction: nothing is held open while waiting on the network.
        ctx.session.rollback()

        now = ctx.now()
        body = encode_body(message.payload)
        timestamp = str(int(now.timestamp()))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "X-Statuspage-Delivery": message.delivery_id,
            "X-Statuspage-Event": message.event,
            "X-Statuspage-Timestamp": timestamp,
            "X-Statuspage-Signature": sign(secret, timestamp, body),
        }
        try:
            if self.check_addresses:
                from statuspage.public_addresses import AddressRefused, post_pinned

                try:
                    answer = post_pinned(self.client, url, content=body, headers=headers, allow_private=self.allow_private)
                except AddressRefused as exc:
                    return Outcome.wait(str(exc), patient=True) if exc.temporary else Outcome.dead(str(exc))
                response, snippet = httpx.Response(answer.status_code, headers=answer.headers), answer.snippet
            else:
                with self.client.stream("POST", url, content=body, headers=headers) as response:
                    snippet = _read_some(response)
        except httpx.TimeoutException:
            return Outcome.wait(f"no answer from {host_of(url)} within {self.timeout:g}s", patient=True)
        except httpx.HTTPError as exc:
            return Outcome.wait(f"cannot reach {host_of(url)}: {type(exc).__name__}: {exc}", patient=True)

        code = response.status_code
        result: dict[str, Any] = {"status_code": code}
        if 200 <= code < 300:
            return Outcome.delivered(result)
        detail = f"HTTP {code} from {host_of(url)}" + (f": {snippet}" if snippet else "")
        if code == 410:
            service.disable(ctx=ctx, subscriber_id=subscriber_id or 0, reason="the receiver answered 410 Gone")
            return Outcome.dead(f"{detail} (webhook {subscriber_id} disabled)", result=result)
        retry_after = parse_retry_after(response.headers.get("Retry-After"), now)
        if code in (408, 429) or code >= 500:
            return Outcome.wait(detail, result=result, retry_after=retry_after, patient=True)
        return Outcome.retry(detail, result=result, retry_after=retry_after, max_attempts=OTHER_ANSWER_ATTEMPTS)


def _read_some(response: httpx.Response) -> str:
    """The start of the answer, for the outbox's last_error; the rest is not read (a receiver
    must not be able to make the worker download a large body)."""
    data = b""
    for chunk in response.iter_bytes():
        data += chunk
        if len(data) >= _SNIPPET:
            break
    return " ".join(data[:_SNIPPET].decode("utf-8", "replace").split())


def host_of(url: str) -> str:
    try:
        return httpx.URL(url).host or url
    except Exception:  # noqa: BLE001 - only for a message
        return url
