"""The emails subscribers get: the confirmation, the manage link, a webhook's failure notice, and
the notices themselves (a new incident, an update, a resolution, maintenance).

Each has a plain-text part and an HTML alternative (``templates/email/subscriber.*.j2``; the HTML
is autoescaped, every header value is made one line), and every notice carries:

- ``List-Unsubscribe: <…/subscribe/unsubscribe/TOKEN>`` and ``List-Unsubscribe-Post:
  List-Unsubscribe=One-Click`` (RFC 8058): a mail client's unsubscribe button POSTs to the link
  and the subscription ends, no page to visit;
- ``List-Id`` (the page), ``Auto-Submitted: auto-generated`` and ``Precedence: bulk``, so
  vacation responders stay quiet;
- ``Message-ID`` from the outbox delivery id, the same on every attempt (a copy sent again after
  a crash is recognised as the same message), and ``References`` naming the incident, so a mail
  client threads one incident's messages together.
"""

from __future__ import annotations

import binascii
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any
from zoneinfo import ZoneInfo

from markupsafe import escape

from statuspage.mail.compose import body_text, environment, from_address, header_text, mail_domain
from statuspage.settings import Config, resource_dir

STATUS_WORDS = {
    "investigating": "Investigating",
    "identified": "Identified",
    "monitoring": "Monitoring",
    "resolved": "Resolved",
    "postmortem": "Postmortem",
    "scheduled": "Scheduled",
    "in_progress": "In progress",
    "verifying": "Verifying",
    "completed": "Completed",
}
HEADLINES = {
    "incident.created": "New incident",
    "incident.updated": "Incident update",
    "incident.resolved": "Resolved",
    "maintenance.scheduled": "Maintenance scheduled",
    "maintenance.started": "Maintenance started",
    "maintenance.completed": "Maintenance completed",
}


@dataclass(frozen=True)
class Links:
    manage: str | None = None
    unsubscribe: str | None = None
    confirm: str | None = None


@dataclass(frozen=True)
class Composed:
    email: EmailMessage
    sender: str
    recipient: str
    subject: str
    message_id: str


def _local(value: str | None, zone: ZoneInfo) -> str:
    if not value:
        return ""
    moment = datetime.fromisoformat(value).astimezone(zone)
    return f"{moment:%Y-%m-%d %H:%M} {moment.tzname()}"


def _span(span: timedelta) -> str:
    """``48 hours``, ``30 minutes``, ``7 days``: how long a link works, in words."""
    minutes = int(span.total_seconds() // 60)
    if minutes % (24 * 60) == 0 and minutes >= 72 * 60:
        count, unit = minutes // (24 * 60), "day"
    elif minutes % 60 == 0:
        count, unit = minutes // 60, "hour"
    else:
        count, unit = minutes, "minute"
    return f"{count} {unit}{'' if count == 1 else 's'}"


def notice_context(event: str, payload: dict[str, Any], config: Config) -> dict[str, Any]:
    """What a notice's email shows, from the Statuspage body the notice carries."""
    zone = ZoneInfo(config.page.time_zone)
    subject = payload.get("incident") or payload.get("scheduled_maintenance") or {}
    updates = subject.get("incident_updates") or []
    latest = updates[0] if updates else {}
    maintenance = "scheduled_maintenance" in payload
    return {
        "headline": HEADLINES.get(event, "Update"),
        "maintenance": maintenance,
        "title": header_text(subject.get("name"), 150),
        "status": STATUS_WORDS.get(str(subject.get("status")), str(subject.get("status") or "").replace("_", " ").capitalize()),
        "impact": str(subject.get("impact") or "none"),
        "components": [header_text(c.get("name")) for c in subject.get("components") or []],
        "message": body_text(latest.get("body")),
        "posted": _local(latest.get("created_at") or subject.get("updated_at"), zone),
        "scheduled_for": _local(subject.get("scheduled_for"), zone) if maintenance else "",
        "scheduled_until": _local(subject.get("scheduled_until"), zone) if maintenance else "",
        "url": subject.get("shortlink") or config.page.url,
        "subject_id": str(subject.get("id") or ""),
    }


def compose(
    *,
    kind: str,
    config: Config,
    recipient: str,
    delivery_id: str,
    now: datetime,
    links: Links,
    event: str = "",
    payload: dict[str, Any] | None = None,
    detail: str = "",
    webhook: str | None = None,
) -> Composed:
    """One subscriber email. ``kind``: confirm, manage, failing or notice (with ``event`` and the
    notice's ``payload``)."""
    context: dict[str, Any] = {
        "kind": kind,
        "page": config.page,
        "links": links,
        "detail": body_text(detail),
        "webhook": webhook,
        "expires_in": _span(config.subscriptions.confirm_within.timedelta),
    }
    name = header_text(config.page.name, 100)
    if kind == "notice":
        assert payload is not None
        context.update(notice_context(event, payload, config))
        subject = f"[{name}] {context['headline']}: {context['title']}"
        if not context["maintenance"] and event != "incident.created":
            subject += f" ({context['status']})"
    elif kind == "confirm":
        subject = f"Confirm your subscription to {name} status"
    elif kind == "manage":
        subject = f"Your subscription to {name} status"
    else:
        subject = f"Your webhook for {name} status has stopped"
    env = environment(str(resource_dir("templates")))
    text = env.get_template("email/subscriber.txt.j2").render(context)
    html = env.get_template("email/subscriber.html.j2").render(context)

    domain = mail_domain(config)
    sender = from_address(config)
    email = EmailMessage()
    subject = header_text(subject)
    email["Subject"] = subject
    email["From"] = sender
    email["To"] = Address(addr_spec=recipient)
    email["Date"] = format_datetime(now)
    message_id = f"<{delivery_id}@{domain}>"
    email["Message-ID"] = message_id
    email["Auto-Submitted"] = "auto-generated"
    if kind == "notice":
        email["Precedence"] = "bulk"
        email["List-Id"] = f"{name} status <{config.page.id}.{domain}>"
        if context["subject_id"]:
            email["References"] = f"<{'maintenance' if context['maintenance'] else 'incident'}-{context['subject_id']}@{domain}>"
    if links.unsubscribe:
        email["List-Unsubscribe"] = f"<{links.unsubscribe}>"
        email["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    email.set_content(text)
    email.add_alternative(html, subtype="html")
    return Composed(email=email, sender=sender.addr_spec, recipient=recipient, subject=subject, message_id=message_id)


# Notices in bulk ---------------------------------------------------------------------------------
#
# A fan-out sends one notice to thousands of addresses, and the messages differ only in the
# recipient, the date, the Message-ID and the subscriber's two links. Building each with the email
# package costs more than sending it, so a notice is composed once (:func:`prepare_notice`), with
# placeholders where those go, and each message is made from it by substitution
# (:func:`notice_bytes`): the same headers and parts, in a fraction of the time.

_TO = "recipient@placeholder.invalid"
_ID = "placeholder-delivery-id"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DATE = format_datetime(_EPOCH)
_MANAGE = "https://manage.placeholder.invalid/link"
_UNSUBSCRIBE = "https://unsubscribe.placeholder.invalid/link"
_MIME_HEADERS = {b"mime-version", b"content-type", b"content-transfer-encoding"}


@dataclass(frozen=True)
class PreparedNotice:
    head: bytes  # the header block with placeholders, CRLF-ended lines, without MIME headers
    text: str
    html: str
    subject: str
    sender: str
    boundary: str


def prepare_notice(config: Config, event: str, payload: dict[str, Any]) -> PreparedNotice:
    composed = compose(
        kind="notice",
        config=config,
        recipient=_TO,
        delivery_id=_ID,
        now=_EPOCH,
        links=Links(manage=_MANAGE, unsubscribe=_UNSUBSCRIBE),
        event=event,
        payload=payload,
    )
    raw = composed.email.as_bytes(policy=policy.SMTP)
    head_block = raw.split(b"\r\n\r\n", 1)[0]
    lines: list[bytes] = []
    keep = True
    for line in head_block.split(b"\r\n"):
        if line[:1] not in (b" ", b"\t"):
            keep = line.split(b":", 1)[0].strip().lower() not in _MIME_HEADERS
        if keep:
            lines.append(line + b"\r\n")
    text_part = composed.email.get_body(("plain",))
    html_part = composed.email.get_body(("html",))
    assert text_part is not None and html_part is not None
    return PreparedNotice(
        head=b"".join(lines),
        text=str(text_part.get_content()),  # type: ignore[attr-defined]
        html=str(html_part.get_content()),  # type: ignore[attr-defined]
        subject=composed.subject,
        sender=composed.sender,
        boundary="=_" + secrets.token_hex(12),
    )


def _qp(text: str) -> bytes:
    return binascii.b2a_qp(text.replace("\r\n", "\n").encode("utf-8"), istext=True).replace(b"\n", b"\r\n")


def notice_bytes(prepared: PreparedNotice, *, recipient: str, delivery_id: str, now: datetime, links: Links) -> bytes | None:
    """The message for one subscriber, ready for SMTP; None when the address needs the email
    package (one that is not ASCII: :func:`compose` handles it)."""
    if not recipient.isascii() or not links.manage or not links.unsubscribe:
        return None
    head = (
        prepared.head.replace(_TO.encode(), recipient.encode())
        .replace(_ID.encode(), delivery_id.encode())
        .replace(_DATE.encode(), format_datetime(now).encode())
        .replace(_UNSUBSCRIBE.encode(), links.unsubscribe.encode())
    )
    text = prepared.text.replace(_MANAGE, links.manage).replace(_UNSUBSCRIBE, links.unsubscribe)
    html = prepared.html.replace(_MANAGE, str(escape(links.manage))).replace(_UNSUBSCRIBE, str(escape(links.unsubscribe)))
    boundary = prepared.boundary.encode()
    part = b'Content-Type: text/%s; charset="utf-8"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n'
    return b"".join(
        (
            head,
            b'MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary="' + boundary + b'"\r\n\r\n',
            b"--" + boundary + b"\r\n" + part % b"plain" + _qp(text) + b"\r\n",
            b"--" + boundary + b"\r\n" + part % b"html" + _qp(html) + b"\r\n",
            b"--" + boundary + b"--\r\n",
        )
    )
