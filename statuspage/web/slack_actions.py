"""``POST /slack/actions``: where Slack sends the clicks on our buttons (the Acknowledge of a page).

Slack signs every request: ``X-Slack-Signature: v0=<hex HMAC-SHA256>`` of ``v0:{timestamp}:{body}``
keyed with the app's signing secret, and ``X-Slack-Request-Timestamp``. A request is refused with
401 unless the signature matches the exact body received and the timestamp is within five
minutes of our clock (so a captured request cannot be replayed later). The secret is read from
the environment variable named by ``slack.signing_secret_env`` at each request; without it the
endpoint answers 503, since nothing could be verified.

The body is form-encoded ``payload=<json>``. A ``block_actions`` payload whose action is
``incident_ack`` acknowledges the incident named by the button's value through the service layer,
as ``slack:<user name or id>`` (source ``api``), in the name of the person of the escalation
matrix with that Slack user id when there is one. Whatever the outcome (acknowledged now, already
acknowledged, resolved, unknown incident), the answer is 200 with a short ephemeral text: Slack
shows errors for anything else, and the outcome is for the person who clicked.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from statuspage.context import Actor, WriteContext
from statuspage.db.engine import new_session
from statuspage.domain.enums import Source
from statuspage.errors import UserError
from statuspage.incidents import service as incidents
from statuspage.slack.messages import Helpers

if TYPE_CHECKING:
    from statuspage.web.site import Site

log = logging.getLogger(__name__)

PATH = "/slack/actions"
ACK_ACTION = "incident_ack"
SIGNATURE_TOLERANCE = timedelta(minutes=5)
MAX_BODY_BYTES = 64 * 1024
MAX_NAME = 80


def slack_signature(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-Slack-Signature`` Slack computes: ``v0=`` and the hex HMAC-SHA256 of ``v0:ts:body``."""
    base = b"v0:" + timestamp.encode("ascii") + b":" + body
    return "v0=" + hmac.new(secret.encode("utf-8"), base, hashlib.sha256).hexdigest()


def verify_slack_signature(
    secret: str,
    timestamp: str | None,
    body: bytes,
    signature: str | None,
    now: datetime | float | None = None,
    tolerance: timedelta = SIGNATURE_TOLERANCE,
) -> bool:
    """True only for a fresh request signed with ``secret``; compares in constant time."""
    if not secret or not timestamp or not signature:
        return False
    try:
        sent_at = int(timestamp.strip())
    except ValueError:
        return False
    current = now.timestamp() if isinstance(now, datetime) else (time.time() if now is None else float(now))
    if abs(current - sent_at) > tolerance.total_seconds():
        return False
    expected = slack_signature(secret, str(sent_at), body)
    return hmac.compare_digest(expected.encode("ascii"), signature.strip().encode("utf-8", "replace"))


def _json(data: dict[str, Any], status_code: int = 200) -> Response:
    return Response(json.dumps(data, ensure_ascii=False), status_code=status_code, media_type="application/json")


def _ephemeral(text: str) -> Response:
    return _json({"response_type": "ephemeral", "replace_original": False, "text": text})


def routes(site: Site) -> list[BaseRoute]:
    return [Route(PATH, _endpoint(site), methods=["POST"], name="slack_actions")]


def _endpoint(site: Site) -> Callable[[Request], Any]:
    async def endpoint(request: Request) -> Response:
        slack = site.settings.config.slack
        secret = os.environ.get(slack.signing_secret_env, "").strip()
        if not secret:
            log.warning("a Slack action arrived but %s is not set; refusing it", slack.signing_secret_env)
            return _json({"ok": False, "error": f"{slack.signing_secret_env} is not set on the server"}, 503)
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            return _json({"ok": False, "error": "request too large"}, 413)
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            return _json({"ok": False, "error": "request too large"}, 413)
        if not verify_slack_signature(
            secret,
            request.headers.get("x-slack-request-timestamp"),
            body,
            request.headers.get("x-slack-signature"),
            now=site.clock.now(),
        ):
            return _json({"ok": False, "error": "invalid or stale signature"}, 401)
        try:
            fields = parse_qs(body.decode("utf-8"), strict_parsing=False)
            payload = json.loads(fields["payload"][0])
            if not isinstance(payload, dict):
                raise ValueError("the payload is not an object")
        except (KeyError, IndexError, UnicodeDecodeError, ValueError):
            return _json({"ok": False, "error": "expected a form field payload holding a JSON object"}, 400)
        text = await run_in_threadpool(handle_payload, site, payload)
        return _ephemeral(text)

    return endpoint


def handle_payload(site: Site, payload: dict[str, Any]) -> str:
    """Carry out an interactive payload; the text to show the person who clicked."""
    if payload.get("type") != "block_actions":
        return "Nothing to do for this kind of interaction."
    actions = [a for a in payload.get("actions") or [] if isinstance(a, dict) and a.get("action_id") == ACK_ACTION]
    if not actions:
        return "Nothing to do for this button."
    given = payload.get("user")
    user: dict[str, Any] = given if isinstance(given, dict) else {}
    user_id = str(user.get("id") or "")[:MAX_NAME]
    # "slack:" + the handle must still be a name the service accepts (one line, at most MAX_NAME).
    handle = " ".join(str(user.get("username") or user.get("name") or user_id or "unknown").split())
    handle = handle[: MAX_NAME - len("slack:")] or "unknown"
    config = site.settings.config
    # The name the escalation matrix knows them by, when their Slack id is in it: pages are
    # matched to owners by name.
    by = Helpers(config).user_names.get(user_id) or f"slack:{handle}"
    incident_id = str(actions[0].get("value") or "")
    with new_session(site.engine) as session:
        ctx = WriteContext(
            session=session,
            clock=site.clock,
            actor=Actor(f"slack:{handle}", Source.API),
            config=config,
            wiring=site.wiring,
        )
        try:
            incident, acknowledged = incidents.acknowledge(ctx=ctx, incident_id=incident_id, by=by)
        except UserError as exc:
            return f"Could not acknowledge: {exc.message}."
    if acknowledged:
        return f"You acknowledged incident #{incident.id} ({incident.title}). Paging stops."
    return f"Incident #{incident.id} was already acknowledged by {incident.acknowledged_by}."
