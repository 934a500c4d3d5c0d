"""What an email page says, and its headers.

The text comes from ``templates/email/page.txt.j2`` and ``page.html.j2`` (a plain-text part and
an HTML alternative). Most of it was typed by someone (the title, the declaration, names), so the
HTML template is autoescaped, and every header value is made one line first: a title holding
CR/LF cannot add a header (``Bcc:``) or end the header block.

``Message-ID`` is made from the outbox message's delivery id, the same on every attempt: should a
worker die after the server took a message and before recording it, the copy sent again carries
the same id, so a receiver (or a person) can tell it is the same page.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from statuspage.db.models import OutboxMessage
from statuspage.settings import Config, resource_dir

MAX_HEADER = 200
_HOST_LIKE = re.compile(r"^[a-z0-9-]+(\.[a-z0-9-]+)+$")
_IP_LIKE = re.compile(r"^[0-9.]+$|:")


def header_text(value: Any, limit: int = MAX_HEADER) -> str:
    """A value fit for a header: control characters (CR and LF among them) become spaces, runs
    of spaces one, and it is cut to ``limit`` characters."""
    text = "".join(" " if unicodedata.category(ch) in ("Cc", "Zl", "Zp") else ch for ch in str(value or ""))
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def mail_domain(config: Config) -> str:
    """The page's host name, for the default From and the Message-ID; ``localhost`` when the page
    is served from an IP address or a bare host name."""
    host = (urlsplit(config.page.url).hostname or "").lower()
    return host if _HOST_LIKE.match(host) and not _IP_LIKE.search(host) else "localhost"


def from_address(config: Config) -> Address:
    """``email.from`` from the configuration, else ``<page name> status <noreply@<page host>>``."""
    given = config.email.from_address
    if given:
        name, address = parseaddr(given)
        return Address(display_name=header_text(name), addr_spec=address)
    return Address(display_name=header_text(f"{config.page.name} status"), addr_spec=f"noreply@{mail_domain(config)}")


def message_id(message: OutboxMessage, config: Config) -> str:
    return f"<page-{message.delivery_id}@{mail_domain(config)}>"


@lru_cache(maxsize=4)
def environment(templates_dir: str) -> Environment:
    env = Environment(
        loader=FileSystemLoader(templates_dir),
        autoescape=select_autoescape(enabled_extensions=("html.j2",), default_for_string=False, default=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    return env


@dataclass(frozen=True)
class Composed:
    email: EmailMessage
    sender: str
    recipient: str
    subject: str
    message_id: str


def compose(
    message: OutboxMessage, config: Config, *, ack_url: str | None, now: datetime, late: str | None = None
) -> Composed:
    """The email for one page message of the ``email`` outbox channel."""
    payload = message.payload
    incident: dict[str, Any] = payload["incident"]
    data: dict[str, Any] = payload["data"]
    severity = config.severity(int(incident["severity"]))
    tier_level = data.get("tier")
    tier = config.escalation.tier(int(tier_level)) if tier_level is not None else None
    zone = ZoneInfo(config.page.time_zone)
    declared = datetime.fromisoformat(incident["declared_at"]) if incident.get("declared_at") else None
    context = {
        "page": config.page,
        "incident": incident,
        "title": header_text(incident.get("title")),
        "owner": header_text(data.get("owner") or data.get("contact")),
        "severity": f"Sev-{incident['severity']}" + (f" ({severity.name})" if severity else ""),
        "status": str(incident.get("status") or "").replace("_", " ").capitalize(),
        "tier": tier_level,
        "tier_name": tier.name if tier is not None else None,
        "components": list(incident.get("components") or []),
        "declared": _local(declared, zone),
        "message": body_text(incident.get("message")),
        "ack_url": ack_url,
        "late": late,
    }
    env = environment(str(resource_dir("templates")))
    text = env.get_template("email/page.txt.j2").render(context)
    html = env.get_template("email/page.html.j2").render(context)

    title = header_text(incident.get("title"), 150)
    subject = header_text(
        ("Late page: " if late else "")
        + f"[Sev-{incident['severity']}] You are paged: #{incident['id']} {title}"
    )
    sender = from_address(config)
    recipient = Address(display_name=header_text(data.get("owner")), addr_spec=str(data["contact"]))
    email = EmailMessage()
    email["Subject"] = subject
    email["From"] = sender
    email["To"] = recipient
    email["Date"] = format_datetime(now)
    email["Message-ID"] = message_id(message, config)
    # An automatic message (RFC 3834): vacation responders do not answer it.
    email["Auto-Submitted"] = "auto-generated"
    email["X-Statuspage-Incident"] = str(incident["id"])
    email["X-Statuspage-Delivery"] = message.delivery_id
    email.set_content(text)
    email.add_alternative(html, subtype="html")
    return Composed(
        email=email,
        sender=sender.addr_spec,
        recipient=recipient.addr_spec,
        subject=subject,
        message_id=str(email["Message-ID"]),
    )


def _local(moment: datetime | None, zone: ZoneInfo) -> str:
    if moment is None:
        return ""
    local = moment.astimezone(zone)
    return f"{local:%Y-%m-%d %H:%M} {local.tzname()}"


def body_text(value: Any) -> str:
    """Typed text for a message body: line breaks normalised, other control characters dropped."""
    text = str(value or "").replace("\r\n", "\n").replace("\r", "\n")
    return "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch) != "Cc").strip()
