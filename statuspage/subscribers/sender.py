"""The outbox senders of the subscribers' lane: emails (links and notices) and webhooks.

Emails go through the SMTP server of ``STATUSPAGE_SMTP_URL`` on one connection reused for the
batch (:class:`statuspage.mail.smtp.SmtpConnection`), or, without one, are written as ``.eml``
files under ``var/mail/``. A 4xx answer, a refused connection or a time-out is waited out; a 5xx
is a bounce: the message is dead and the subscriber's failures in a row go up, and at the
configured limit they are suspended (:func:`statuspage.subscribers.service.record_failure`).

Before sending, each message is checked against the subscriber as they are now: nothing goes to
an address that unsubscribed, was removed or suspended meanwhile, no notice to one that never
confirmed, no confirmation link that a newer one replaced. The ``Message-ID`` is the outbox
delivery id, the same on every attempt: should a worker die between the server's "250" and the
record of it, the copy sent again carries the same id, and mail systems that keep one copy per
id (Gmail does) show one message.

Webhooks are POSTed in Statuspage's format: ``{"meta": {"unsubscribe", "documentation"}, "page":
{"id", "status_indicator", "status_description"}, "incident": …}`` (maintenance is an incident
with ``scheduled_for``), or ``"component_update"`` and ``"component"`` for a component's status.
The host must resolve to public addresses at the moment of sending, and the request goes to the
address checked (:mod:`statuspage.public_addresses`); redirects are not followed. 2xx delivers;
408, 429, 5xx and unreachable receivers are waited out for up to a day, then the message is dead;
other answers are tried three times. Every dead webhook message counts as a failure, so a
receiver gone for good is suspended and its contact address told by email.
"""

from __future__ import annotations

import json
import logging
import sys
from collections import OrderedDict
from datetime import datetime, timedelta
from email import policy
from pathlib import Path
from typing import Any, TextIO

import httpx
from sqlmodel import col, select

from statuspage.context import WriteContext
from statuspage.db.models import OutboxMessage
from statuspage.db.subscriber_models import Subscriber, SubscriberNotice
from statuspage.incidents import ack_links
from statuspage.mail.compose import header_text, mail_domain
from statuspage.mail.sender import write_eml
from statuspage.mail.smtp import FAILURES, SmtpConnection, classify, queue_id
from statuspage.outbox import Outcome
from statuspage.smtp_url import parse_smtp_url
from statuspage.subscribers import service, tokens
from statuspage.subscribers.compose import Links, PreparedNotice, compose, notice_bytes, prepare_notice
from statuspage.subscribers.notices import DOCUMENTATION
from statuspage.webhooks.sender import host_of, parse_retry_after

log = logging.getLogger(__name__)

USER_AGENT = "statuspage-subscriptions"
TIMEOUT_SECONDS = 10.0
OTHER_ANSWER_ATTEMPTS = 3
# How long a webhook receiver may stay unreachable before its message is given up.
UNREACHABLE_FOR = timedelta(hours=24)


class _Base:
    """What both senders share: the signing key, the notices (cached: a fan-out sends one notice
    many times), and the check of the subscriber before anything is sent."""

    def __init__(self, *, secret_key: str | None) -> None:
        self.secret_key = secret_key
        self._key = ack_links.KeyOnce(secret_key)
        self._notices: OrderedDict[int, SubscriberNotice] = OrderedDict()
        self._prepared: OrderedDict[int, PreparedNotice] = OrderedDict()
        self._batch: dict[int, Subscriber] = {}

    def key(self, ctx: WriteContext) -> bytes:
        return self._key.get(ctx.session)

    def notice(self, ctx: WriteContext, notice_id: int) -> SubscriberNotice | None:
        found = self._notices.get(notice_id)
        if found is None:
            found = ctx.session.get(SubscriberNotice, notice_id)
            if found is None:
                return None
            ctx.session.expunge(found)
            self._notices[notice_id] = found
            while len(self._notices) > 32:
                self._notices.popitem(last=False)
        return found

    def prepare(self, messages: list[OutboxMessage], ctx: WriteContext) -> None:
        """Read the subscribers of a claimed batch in one query (the worker calls this before
        sending it). Each is used for its next message only; a change made to a subscriber while
        the batch is being sent (a second or so) may miss that one message."""
        ids = {int(m.target) for m in messages if m.target.isdigit()}
        rows = ctx.session.exec(select(Subscriber).where(col(Subscriber.id).in_(ids))).all() if ids else []
        for row in rows:
            ctx.session.expunge(row)
        ctx.session.rollback()
        self._batch = {row.id: row for row in rows if row.id is not None}

    def subscriber(self, ctx: WriteContext, message: OutboxMessage) -> Subscriber | None:
        found = self._batch.pop(int(message.target), None)
        return found if found is not None else ctx.session.get(Subscriber, int(message.target))

    def moot(self, message: OutboxMessage, subscriber: Subscriber | None) -> str | None:
        """Why the message must not go out any more, or None."""
        if subscriber is None or subscriber.state == service.REMOVED:
            return "the subscriber is gone"
        kind = message.payload.get("kind", "notice")
        if kind == "confirm":
            if subscriber.state == service.ACTIVE:
                return "confirmed already"
            if subscriber.confirm_nonce != message.payload.get("nonce"):
                return "a newer confirmation link replaced it"
            return None
        if kind == "failing":
            return None
        if subscriber.state != service.ACTIVE:
            return f"the subscriber is {subscriber.state}"
        return None

    def links(self, ctx: WriteContext, subscriber: Subscriber, message: OutboxMessage) -> Links:
        key, page_url = self.key(ctx), ctx.config.page.url
        assert subscriber.id is not None
        manage = unsubscribe = confirm = None
        if subscriber.manage_nonce and subscriber.state == service.ACTIVE:
            manage = tokens.manage_url(page_url, key, subscriber.id, subscriber.manage_nonce)
            unsubscribe = tokens.unsubscribe_url(page_url, key, subscriber.id, subscriber.manage_nonce)
        if message.payload.get("kind") == "confirm" and subscriber.confirm_nonce:
            expires = datetime.fromisoformat(str(message.payload["expires"]))
            confirm = tokens.confirm_url(page_url, key, subscriber.id, subscriber.confirm_nonce, expires)
        return Links(manage=manage, unsubscribe=unsubscribe, confirm=confirm)

    def gave_up(self, message: OutboxMessage, outcome: Outcome, ctx: WriteContext) -> str | None:
        """A notice that can never be delivered is a failure of its subscriber; at the limit,
        they are suspended. Returns a line for the worker's console."""
        if message.payload.get("kind", "notice") != "notice":
            return f"subscriber {message.target}: {outcome.detail}"
        suspended = service.record_failure(ctx=ctx, subscriber_id=int(message.target), detail=outcome.detail)
        if suspended:
            return f"subscriber {message.target} is suspended after {ctx.config.subscriptions.bounce_limit} failures in a row"
        return f"subscriber {message.target}: counted as a failure"

    def close(self) -> None:
        pass


class SubscriberEmailSender(_Base):
    """Sends the ``sub_email`` (links) and ``sub_notice`` (notices) channels."""

    def __init__(
        self, *, smtp_url: str | None, mail_dir: Path, secret_key: str | None = None, out: TextIO | None = None
    ) -> None:
        super().__init__(secret_key=secret_key)
        self.smtp = SmtpConnection(parse_smtp_url(smtp_url)) if smtp_url else None
        self.mail_dir = mail_dir
        self.out = out

    @property
    def connections(self) -> int:
        return self.smtp.connections if self.smtp is not None else 0

    def close(self) -> None:
        if self.smtp is not None:
            self.smtp.close()

    def send(self, message: OutboxMessage, ctx: WriteContext) -> Outcome:
        session = ctx.session
        subscriber = self.subscriber(ctx, message)
        why = self.moot(message, subscriber)
        if why is not None:
            session.rollback()
            return Outcome.delivered({"skipped": why})
        assert subscriber is not None and subscriber.email is not None
        kind = str(message.payload.get("kind", "notice"))
        notice = None
        if kind == "notice":
            notice = self.notice(ctx, int(message.payload["notice"]))
            if notice is None:
                session.rollback()
                return Outcome.delivered({"skipped": "the notice was pruned"})
        links = self.links(ctx, subscriber, message)
        if notice is not None and self.smtp is not None:
            fast = self._notice_bytes(ctx, notice, subscriber.email, message, links)
            if fast is not None:
                session.rollback()
                return self._transmit(ctx, fast[0], subscriber.email, fast[1], subscriber.id or 0, subscriber.bounces, message)
        composed = compose(
            kind=kind,
            config=ctx.config,
            recipient=subscriber.email,
            delivery_id=message.delivery_id,
            now=ctx.now(),
            links=links,
            event=message.event,
            payload=notice.payload if notice is not None else None,
            detail=str(message.payload.get("detail") or ""),
            webhook=subscriber.webhook_url,
        )
        subscriber_id, bounces = subscriber.id or 0, subscriber.bounces
        session.rollback()  # nothing is held open while the server answers
        if self.smtp is None:
            return self._write_file(message, composed.email.as_bytes(policy=policy.default), composed.recipient, composed.subject)
        body = composed.email.as_bytes(policy=policy.SMTP)
        return self._transmit(ctx, composed.sender, composed.recipient, body, subscriber_id, bounces, message)

    def _transmit(
        self, ctx: WriteContext, sender: str, recipient: str, body: bytes, subscriber_id: int, bounces: int, message: OutboxMessage
    ) -> Outcome:
        assert self.smtp is not None
        try:
            answer = self.smtp.send(sender, recipient, body)
        except FAILURES as exc:
            return classify(exc, target=self.smtp.target, recipient=recipient)
        if bounces:
            service.record_success(session=ctx.session, subscriber_id=subscriber_id)
        result: dict[str, Any] = {"message_id": f"<{message.delivery_id}@{mail_domain(ctx.config)}>"}
        found = queue_id(answer)
        if found:
            result["queue_id"] = found
        return Outcome.delivered(result)

    def _notice_bytes(
        self, ctx: WriteContext, notice: SubscriberNotice, recipient: str, message: OutboxMessage, links: Links
    ) -> tuple[str, bytes] | None:
        """The message made from the notice composed once (see :func:`prepare_notice`)."""
        assert notice.id is not None
        prepared = self._prepared.get(notice.id)
        if prepared is None:
            prepared = prepare_notice(ctx.config, notice.event, notice.payload)
            self._prepared[notice.id] = prepared
            while len(self._prepared) > 32:
                self._prepared.popitem(last=False)
        body = notice_bytes(prepared, recipient=recipient, delivery_id=message.delivery_id, now=ctx.now(), links=links)
        return None if body is None else (prepared.sender, body)

    def _write_file(self, message: OutboxMessage, data: bytes, recipient: str, subject: str) -> Outcome:
        name = f"{message.created_at:%Y%m%d-%H%M%S}-subscriber-{message.target}-{message.event.replace('.', '-')}-{message.id}.eml"
        path = self.mail_dir / name
        try:
            write_eml(path, data)
        except OSError as exc:
            return Outcome.retry(f"cannot write {path}: {exc.strerror or exc}", max_attempts=OTHER_ANSWER_ATTEMPTS)
        line = f"[email {recipient}] {header_text(subject)} (no STATUSPAGE_SMTP_URL: written to {path})"
        log.info("%s", line)
        if message.payload.get("kind", "notice") != "notice":
            try:
                print(line, file=self.out or sys.stdout, flush=True)
            except OSError:
                pass
        return Outcome.delivered({"file": str(path)})


class SubscriberWebhookSender(_Base):
    """Sends the ``sub_webhook`` channel: Statuspage-format POSTs to customers' URLs."""

    def __init__(self, *, allow_private: bool, secret_key: str | None = None, client: httpx.Client | None = None) -> None:
        super().__init__(secret_key=secret_key)
        self.allow_private = allow_private
        self.client = client or httpx.Client(timeout=TIMEOUT_SECONDS, follow_redirects=False, trust_env=False)

    def close(self) -> None:
        self.client.close()

    def send(self, message: OutboxMessage, ctx: WriteContext) -> Outcome:
        from statuspage.public_addresses import AddressRefused, post_pinned

        session = ctx.session
        subscriber = self.subscriber(ctx, message)
        why = self.moot(message, subscriber)
        if why is None and subscriber is not None and not subscriber.webhook_url:
            why = "the subscriber has no webhook"
        notice = self.notice(ctx, int(message.payload.get("notice") or 0)) if why is None else None
        if why is None and notice is None:
            why = "the notice was pruned"
        if why is not None:
            session.rollback()
            return Outcome.delivered({"skipped": why})
        assert subscriber is not None and subscriber.webhook_url is not None and notice is not None
        links = self.links(ctx, subscriber, message)
        url, subscriber_id, bounces = subscriber.webhook_url, subscriber.id or 0, subscriber.bounces
        session.rollback()
        body = json.dumps(webhook_body(notice, links.unsubscribe), ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "X-Statuspage-Delivery": message.delivery_id,
            "X-Statuspage-Event": message.event,
        }
        waited_long = ctx.now() - message.created_at >= UNREACHABLE_FOR
        try:
            answer = post_pinned(self.client, url, content=body, headers=headers, allow_private=self.allow_private)
        except AddressRefused as exc:
            if exc.temporary and not waited_long:
                return Outcome.wait(str(exc), patient=True)
            return Outcome.dead(str(exc))
        except httpx.TimeoutException:
            detail = f"no answer from {host_of(url)} within {TIMEOUT_SECONDS:g}s"
            return Outcome.dead(f"{detail} for a day") if waited_long else Outcome.wait(detail, patient=True)
        except httpx.HTTPError as exc:
            detail = f"cannot reach {host_of(url)}: {type(exc).__name__}"
            return Outcome.dead(f"{detail} for a day") if waited_long else Outcome.wait(detail, patient=True)
        code = answer.status_code
        result: dict[str, Any] = {"status_code": code}
        if 200 <= code < 300:
            if bounces:
                service.record_success(session=session, subscriber_id=subscriber_id)
            return Outcome.delivered(result)
        detail = f"HTTP {code} from {host_of(url)}" + (f": {answer.snippet}" if answer.snippet else "")
        if code in (408, 429) or code >= 500:
            if waited_long:
                return Outcome.dead(f"{detail} (for a day)", result=result)
            retry_after = parse_retry_after(answer.headers.get("Retry-After"), ctx.now())
            return Outcome.wait(detail, result=result, retry_after=retry_after, patient=True)
        if code == 410:
            return Outcome.dead(f"{detail} (the receiver is gone)", result=result)
        return Outcome.retry(detail, result=result, max_attempts=OTHER_ANSWER_ATTEMPTS)


def webhook_body(notice: SubscriberNotice, unsubscribe: str | None) -> dict[str, Any]:
    """The POST body, in Statuspage's webhook format."""
    payload = notice.payload
    page = payload.get("page") or {}
    body: dict[str, Any] = {
        "meta": {"unsubscribe": unsubscribe, "documentation": DOCUMENTATION, "generated_at": page.get("updated_at")},
        "page": {
            "id": page.get("id"),
            "status_indicator": page.get("status_indicator"),
            "status_description": page.get("status_description"),
        },
    }
    if "incident" in payload:
        body["incident"] = payload["incident"]
    elif "scheduled_maintenance" in payload:
        body["incident"] = payload["scheduled_maintenance"]  # Statuspage sends maintenance as an incident
    else:
        body["component_update"] = payload.get("component_update")
        body["component"] = payload.get("component")
    return body

