"""Slack without a token (or with ``slack.enabled: false``): every message is one line on the
worker's console and counts as delivered, so the toolkit works offline. A page printed there did
not reach its person: its row reads ``not_sent``."""

from __future__ import annotations

import logging
import sys
from typing import TextIO

from statuspage.context import WriteContext
from statuspage.db.models import OutboxMessage
from statuspage.oncall import delivery
from statuspage.outbox import Outcome
from statuspage.settings import Config
from statuspage.slack.headline import edit_to_skip, headline_message
from statuspage.slack.messages import Helpers, console_line, render
from statuspage.slack.pages import note_delivery, page_moot, render_page_dm

log = logging.getLogger(__name__)


def offline_reason(config: Config) -> str:
    if not config.slack.enabled:
        return "slack.enabled is false"
    return f"{config.slack.token_env} is not set"


def print_message(message: OutboxMessage, ctx: WriteContext, out: TextIO | None = None) -> Outcome:
    """Print one message as a line (default: stdout) and report it delivered."""
    session, now, config = ctx.session, ctx.now(), ctx.config
    payload = message.payload
    kind = payload["kind"]
    incident = payload.get("incident") or {}
    label = message.target
    prefix = ""
    if kind == "headline":
        if payload.get("op") == "update":
            skip = edit_to_skip(session, message, now)
            if skip is not None:
                session.rollback()
                return skip
            prefix = "headline now: "
        content = headline_message(session, config, int(incident["id"]), now, op=payload.get("op", "post"))
    elif kind == "dm":
        moot = page_moot(session, int(incident["id"]))
        if moot is not None:
            session.rollback()
            note_delivery(ctx, message, delivery.NOT_SENT, error=moot)
            return Outcome.delivered({"skipped": moot, "console": True})
        content = render_page_dm(message, ctx)
        label = "@" + (Helpers(config).user_names.get(message.target) or payload["data"].get("owner") or message.target)
    else:
        content = render(payload["template"], config, incident=payload.get("incident"), data=payload["data"])
    session.rollback()
    line = f"[slack {label}] {prefix}{console_line(content, config)}"
    log.info("%s", line)
    try:
        print(line, file=out or sys.stdout, flush=True)
    except OSError:
        pass  # a closed terminal or pipe: the log line above is the record
    # Printed is not sent: a page shown only on the worker's console did not reach its person.
    note_delivery(ctx, message, delivery.NOT_SENT, error=f"printed on the worker's console ({offline_reason(config)})")
    return Outcome.delivered({"console": True})
