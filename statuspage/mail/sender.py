"""The outbox sender for email pages: SMTP with the standard library, or ``.eml`` files.

One SMTP connection per worker (:class:`statuspage.mail.smtp.SmtpConnection`), opened on the
first message and reused for the messages that follow it (a burst of pages in one pass); one
idle for longer than :data:`IDLE_SECONDS`, or that failed, is closed and the next message opens
a new one. A reused connection the server closed meanwhile is opened again once, before anything
of the message was sent.

What the server's answers mean for a page (read by :func:`statuspage.mail.smtp.classify`):

- ``250`` to the message: sent. The page's row reads ``sent`` with the server's queue id (from
  ``250 … queued as ABC123``), else the Message-ID.
- A 4xx answer (``421`` closing, ``451`` try later, a full mailbox), a refused connection, a
  time-out, a dropped connection: waited out, never a failed attempt, however long it lasts.
- A 5xx answer (``550`` no such user, a refused login, a message refused): it can never succeed.
  The message is dead, the page's row reads ``failed`` with the server's answer, and it is
  reported like Slack's dead pages: ``incident.page_failed`` on the timeline, the incident's
  Slack thread, the tier's channel and the worker's console, so that someone reaches the person
  another way. Fix the cause, then ``statuspage outbox retry --dead``.

Exactly once: before a message is handed to the server its outbox row is marked ``uncertain``,
and once the server took it the page's row says ``sent`` before the outbox records it. A retry
of a message whose page reads ``sent`` sends nothing; one whose worker died in the instant
between the server's answer and that record is sent again with the same Message-ID, so the two
copies can be told to be one page. A page that became moot meanwhile (acknowledged, resolved)
is not sent.

Without an SMTP server, each email is written to ``var/mail/`` as an ``.eml`` file (named after
the message, so a retry writes the same file) and the worker prints a line naming it; the page's
row reads ``not_sent``, since nobody was reached.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from email import policy
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import update
from sqlmodel import col

from statuspage.context import WriteContext
from statuspage.db.models import OutboxMessage, PageSent
from statuspage.incidents import ack_links
from statuspage.mail.compose import Composed, compose, header_text
from statuspage.mail.smtp import FAILURES, IDLE_SECONDS, OTHER_ANSWER_ATTEMPTS, SmtpConnection, classify, queue_id
from statuspage.oncall import delivery
from statuspage.outbox import PENDING, Outcome
from statuspage.slack.pages import late_by, page_moot
from statuspage.smtp_url import SmtpTarget, parse_smtp_url

log = logging.getLogger(__name__)

_FILE_PART = re.compile(r"[^A-Za-z0-9._@-]+")


class EmailSender:
    """Sends ``email`` outbox messages. ``smtp_url`` None: writes them to ``mail_dir`` instead.
    ``secret_key`` is STATUSPAGE_SECRET_KEY (else the database's key signs the ack links);
    ``out`` is where the file lines are printed (default: stdout)."""

    def __init__(
        self,
        *,
        smtp_url: str | None,
        mail_dir: Path,
        secret_key: str | None = None,
        out: TextIO | None = None,
        idle_seconds: float = IDLE_SECONDS,
    ) -> None:
        self.target: SmtpTarget | None = parse_smtp_url(smtp_url) if smtp_url else None
        self.mail_dir = mail_dir
        self.secret_key = secret_key
        self.out = out
        self.idle_seconds = idle_seconds
        self.smtp: SmtpConnection | None = (
            SmtpConnection(self.target, idle_seconds=idle_seconds) if self.target is not None else None
        )
        self._key = ack_links.KeyOnce(secret_key)

    @property
    def connections(self) -> int:
        """How many SMTP connections were opened, for the worker's log and for tests."""
        return self.smtp.connections if self.smtp is not None else 0

    def close(self) -> None:
        if self.smtp is not None:
            self.smtp.close()

    # One message -------------------------------------------------------------------------------

    def send(self, message: OutboxMessage, ctx: WriteContext) -> Outcome:
        session = ctx.session
        data = message.payload.get("data") or {}
        page_id = int(data["page_id"]) if data.get("page_id") is not None else None
        page = session.get(PageSent, page_id, populate_existing=True) if page_id is not None else None
        if page is not None and page.delivery_state == delivery.SENT:
            # The server took it before a worker died: recorded on the page, not yet in the outbox.
            session.rollback()
            return Outcome.delivered({"op": "found", "ref": page.delivery_ref})
        moot = page_moot(session, int(message.payload["incident"]["id"]))
        if moot is not None:
            session.rollback()
            if is_uncertain(message):
                why = f"an earlier attempt may have sent it; not sent again: {moot}"
                self._note(ctx, page_id, delivery.UNKNOWN, error=why)
            else:
                self._note(ctx, page_id, delivery.NOT_SENT, error=moot)
            return Outcome.delivered({"skipped": moot})
        key = self._signing_key(ctx)
        url = ack_links.ack_url(ctx.config, key, page_id) if page_id is not None else None
        composed = compose(message, ctx.config, ack_url=url, now=ctx.now(), late=late_by(message, ctx))
        session.rollback()
        if self.smtp is None:
            return self._write_file(message, ctx, composed, page_id)
        return self._send(message, ctx, composed, page_id, self.smtp)

    def _send(
        self, message: OutboxMessage, ctx: WriteContext, composed: Composed, page_id: int | None, smtp: SmtpConnection
    ) -> Outcome:
        mark_uncertain(ctx, message)
        body = composed.email.as_bytes(policy=policy.SMTP)
        try:
            answer = smtp.send(composed.sender, composed.recipient, body)
        except FAILURES as exc:
            return classify(exc, target=smtp.target, recipient=composed.recipient)
        found = queue_id(answer)
        ref = found or composed.message_id
        self._note(ctx, page_id, delivery.SENT, ref=ref)
        log.info("email page %s to %s: %s", message.id, composed.recipient, answer)
        result: dict[str, Any] = {"message_id": composed.message_id, "answer": answer[:300]}
        if found:
            result["queue_id"] = found
        late = late_by(message, ctx)
        return Outcome.delivered(result | ({"late": late} if late else {}))

    # Without a server --------------------------------------------------------------------------

    def _write_file(self, message: OutboxMessage, ctx: WriteContext, composed: Composed, page_id: int | None) -> Outcome:
        incident_id = message.payload["incident"]["id"]
        name = f"{message.created_at:%Y%m%d-%H%M%S}-incident-{incident_id}-{_FILE_PART.sub('_', message.target)[:80]}-{message.id}.eml"
        path = self.mail_dir / name
        try:
            write_eml(path, composed.email.as_bytes(policy=policy.default))
        except OSError as exc:
            return Outcome.retry(f"cannot write {path}: {exc.strerror or exc}", max_attempts=OTHER_ANSWER_ATTEMPTS)
        shown = _shown(path)
        line = f"[email {composed.recipient}] {header_text(composed.subject)} (no STATUSPAGE_SMTP_URL: written to {shown})"
        log.info("%s", line)
        try:
            print(line, file=self.out or sys.stdout, flush=True)
        except OSError:
            pass  # a closed terminal: the log line is the record
        self._note(ctx, page_id, delivery.NOT_SENT, error=f"no SMTP server (STATUSPAGE_SMTP_URL); written to {shown}")
        return Outcome.delivered({"file": str(path), "message_id": composed.message_id})

    # Bookkeeping -------------------------------------------------------------------------------

    def _signing_key(self, ctx: WriteContext) -> bytes:
        return self._key.get(ctx.session)

    def _note(self, ctx: WriteContext, page_id: int | None, state: str, *, ref: str | None = None, error: str | None = None) -> None:
        if page_id is not None:
            delivery.record_delivery(ctx=ctx, page_id=page_id, state=state, ref=ref, error=error)

    def gave_up(self, message: OutboxMessage, outcome: Outcome, ctx: WriteContext) -> str | None:
        """A page no retry can deliver is reported, so that someone reaches the person another
        way. Returns a line for the worker's console."""
        from statuspage.oncall import engine

        data = message.payload.get("data") or {}
        incident_id = int(message.payload["incident"]["id"])
        owner = str(data.get("owner") or message.target)
        told = engine.report_failed_page(
            ctx=ctx,
            incident_id=incident_id,
            owner=owner,
            contact_kind="email",
            contact=message.target,
            tier=data.get("tier"),
            error=outcome.detail,
            page_id=int(data["page_id"]) if data.get("page_id") is not None else None,
        )
        where = ", ".join(told) if told else "the incident's timeline"
        return f"incident {incident_id}: could not page {owner} by email ({outcome.detail}); told {where}"


def is_uncertain(message: OutboxMessage) -> bool:
    return bool((message.result or {}).get("uncertain"))


def mark_uncertain(ctx: WriteContext, message: OutboxMessage) -> None:
    """Note in the outbox row, before the message is handed over, that it may be on its way."""
    if is_uncertain(message):
        return
    session = ctx.session
    try:
        session.exec(
            update(OutboxMessage)
            .where(col(OutboxMessage.id) == message.id, col(OutboxMessage.state) == PENDING)
            .values(result={"uncertain": True})
            .execution_options(synchronize_session=False)
        )
        session.commit()
    except BaseException:
        session.rollback()
        raise
    message.result = {"uncertain": True}


def write_eml(path: Path, data: bytes) -> None:
    """Write a message file whole or not at all (a reader never sees half a message): to a
    ``.partial`` beside it, then renamed. Raises OSError."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(data)
    partial.replace(path)


def _shown(path: Path) -> str:
    """The path relative to the working directory when it is below it."""
    try:
        return os.path.relpath(path) if path.is_relative_to(Path.cwd()) else str(path)
    except (OSError, ValueError):
        return str(path)
