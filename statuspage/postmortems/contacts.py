"""Who was paged for an incident, one line per person: each contact method in words with what
became of the page (``Ana Ruiz (tier 1) — Slack: delivered 03:02, Phone: not sent (no channel
for phone contacts), Email: failed (550 mailbox unknown)``), and when they acknowledged.

The lines are plain text: the document escapes them for Markdown.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from statuspage.oncall import delivery
from statuspage.oncall.queries import PageDelivery

# Contact methods as people name them.
METHOD_NAMES = {
    "slack_user": "Slack",
    "slack_channel": "Slack channel",
    "phone": "Phone",
    "email": "Email",
    "apprise": "Apprise",
    "webhook": "Webhook",
}
# Methods whose provider's acceptance is the delivery itself (the message is in Slack, the
# receiver answered the POST); for the others it only left us (a mail server, a gateway).
DELIVERED_WHEN_SENT = frozenset({"slack_user", "slack_channel", "webhook"})


def method_name(kind: str) -> str:
    return METHOD_NAMES.get(kind, kind.replace("_", " ").capitalize())


@dataclass(frozen=True)
class Person:
    name: str
    tiers: tuple[int, ...]
    pages: tuple[PageDelivery, ...]


def people(pages: Sequence[PageDelivery]) -> list[Person]:
    """The pages grouped per person, in the order each was first paged."""
    grouped: dict[str, list[PageDelivery]] = {}
    for page in sorted(pages, key=lambda p: (p.paged_at, p.id)):
        grouped.setdefault(page.owner, []).append(page)
    return [
        Person(name, tuple(sorted({p.tier for p in rows if p.tier is not None})), tuple(rows))
        for name, rows in grouped.items()
    ]


class _Short:
    """``03:02`` on the incident's day in the page's zone, ``2026-11-26 03:02`` on another."""

    def __init__(self, zone: ZoneInfo, day_of: datetime) -> None:
        self.zone = zone
        self.day = day_of.astimezone(zone).date()

    def __call__(self, value: datetime) -> str:
        local = value.astimezone(self.zone)
        return f"{local:%H:%M}" if local.date() == self.day else f"{local:%Y-%m-%d %H:%M}"


def page_state(page: PageDelivery, when: _Short) -> str:
    state = page.delivery_state
    if state == delivery.SENT:
        word = "delivered" if page.contact_kind in DELIVERED_WHEN_SENT else "sent"
        return f"{word} {when(page.delivery_at or page.paged_at)}"
    if state == delivery.QUEUED:
        return "queued (not sent yet)"
    if state == delivery.UNKNOWN:
        return "delivery not recorded"
    words = "not sent" if state == delivery.NOT_SENT else state.replace("_", " ")
    return f"{words} ({page.delivery_error})" if page.delivery_error else words


def person_lines(
    pages: Sequence[PageDelivery], zone: ZoneInfo, day_of: datetime, acknowledged_by: str | None, acknowledged_at: datetime | None
) -> list[str]:
    """One line per person paged (see the module docstring)."""
    when = _Short(zone, day_of)
    lines = []
    for person in people(pages):
        tiers = f" (tier {', '.join(str(t) for t in person.tiers)})" if person.tiers else ""
        states = ", ".join(f"{method_name(p.contact_kind)}: {page_state(p, when)}" for p in person.pages)
        line = f"{person.name}{tiers} — {states}"
        if acknowledged_by == person.name and acknowledged_at is not None:
            line += f"; acknowledged {when(acknowledged_at)}"
        lines.append(line)
    return lines
